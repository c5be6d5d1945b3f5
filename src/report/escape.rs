//! Paths and command lines as a report shows them: any bytes in, printable text out.
//!
//! A path may hold any byte but NUL and `/`-separated names: newlines, escape
//! sequences, bidi overrides, invalid UTF-8. Shown raw, they would forge lines in a
//! terminal or CI log, or reorder text in a page. Every renderer goes through
//! [`display`], which keeps printable UTF-8 and writes everything else as a C-style
//! escape (`\n`, `\x1b`, `\u{202e}`, `\\`); the HTML renderer then escapes markup.

/// `bytes` as printable text: see the module comment. The same escaping as fusebox's
/// terminal lines ([`crate::audit::terminal::escape`]).
pub fn display(bytes: &[u8]) -> String {
    crate::audit::terminal::escape(bytes)
}

/// `text` safe as HTML element content or a double-quoted attribute value.
pub fn html(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_text_is_kept() {
        assert_eq!(display(b"/usr/include/stdio.h"), "/usr/include/stdio.h");
        assert_eq!(display("/t/é☃ x".as_bytes()), "/t/é☃ x");
    }

    #[test]
    fn controls_invalid_bytes_and_backslashes_are_escaped() {
        assert_eq!(display(b"/t/a\nb"), "/t/a\\nb");
        assert_eq!(display(b"/t/\x1b[31mred"), "/t/\\x1b[31mred");
        assert_eq!(display(b"/t/\xff\xc3"), "/t/\\xff\\xc3");
        assert_eq!(display(b"/t/a\\nb"), "/t/a\\\\nb");
        assert_eq!(
            display("/t/\u{202e}txt.exe".as_bytes()),
            "/t/\\u{202e}txt.exe"
        );
        assert_eq!(display("/t/\u{85}".as_bytes()), "/t/\\x85");
        assert_eq!(display(b"/t/\x7f"), "/t/\\x7f");
    }

    #[test]
    fn escaped_text_has_no_control_characters() {
        let all: Vec<u8> = (1..=255u8).collect();
        let shown = display(&all);
        assert!(!shown.chars().any(|c| c.is_control()), "{shown:?}");
    }

    #[test]
    fn html_escapes_markup() {
        assert_eq!(
            html("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
    }
}
