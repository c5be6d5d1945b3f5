//! What fusebox prints on stderr: escaped so that the build cannot forge it, written so
//! that a broken stderr cannot stop fusebox.
//!
//! - [`escape`]: paths and command lines come from the build. A newline in a name would
//!   start a fake line, an escape sequence would move the cursor, erase a line or set the
//!   window title. Control characters, backslashes and bytes that are not UTF-8 are
//!   shown visibly, the way `ls -b` and systemd do (`\n`, `\t`, `\\`, `\x1b`, `\xff`).
//! - [`eprint`]: a write to stderr that never panics (`eprint!` panics on EPIPE, ENOSPC…)
//!   and never changes the exit status; what cannot be written is dropped and counted
//!   ([`dropped`]).

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// Messages that could not be written to stderr.
static DROPPED: AtomicU64 = AtomicU64::new(0);

/// `bytes` as text that a terminal shows as it is: printable UTF-8 unchanged; C0 and
/// C1 control characters, DEL and backslash as C-style escapes; bytes that are not
/// UTF-8 as `\xHH`. The result holds no control character at all.
pub fn escape(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            push_char(&mut out, c);
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// [`escape`] of a path or other OS string.
pub fn escape_os(s: &std::ffi::OsStr) -> String {
    use std::os::unix::ffi::OsStrExt;
    escape(s.as_bytes())
}

fn push_char(out: &mut String, c: char) {
    match c {
        '\\' => out.push_str("\\\\"),
        '\n' => out.push_str("\\n"),
        '\t' => out.push_str("\\t"),
        '\r' => out.push_str("\\r"),
        // C0, DEL, and C1 (U+0080..U+009F: U+009B is CSI for many terminals).
        c if c.is_control() => {
            let n = u32::from(c);
            if n < 0x100 {
                out.push_str(&format!("\\x{n:02x}"));
            } else {
                out.push_str(&format!("\\u{{{n:x}}}"));
            }
        }
        c => out.push(c),
    }
}

/// Writes `text` to stderr in one call; on failure (closed pipe, full disk, closed fd)
/// drops it and counts it. Never panics, never blocks longer than the write(2) itself.
pub fn eprint(text: &str) {
    let mut stderr = std::io::stderr().lock();
    if stderr
        .write_all(text.as_bytes())
        .and_then(|()| stderr.flush())
        .is_err()
    {
        DROPPED.fetch_add(1, Ordering::Relaxed);
    }
}

/// `fusebox-run: {message}\n` on stderr, the message escaped (it may name paths of the
/// build's).
pub fn error_line(message: &str) {
    eprint(&format!("fusebox-run: {}\n", escape(message.as_bytes())));
}

/// How many messages [`eprint`] could not write.
pub fn dropped() -> u64 {
    DROPPED.load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_text_is_unchanged() {
        assert_eq!(escape("/usr/lib/é☃ x".as_bytes()), "/usr/lib/é☃ x");
    }

    #[test]
    fn controls_backslashes_and_bad_bytes_are_visible() {
        assert_eq!(
            escape(b"a\nb\tc\rd\\e\x1b[2Kf\x7fg\xffh\x00"),
            "a\\nb\\tc\\rd\\\\e\\x1b[2Kf\\x7fg\\xffh\\x00"
        );
        // C1 CSI, encoded in UTF-8.
        assert_eq!(escape("x\u{9b}31m".as_bytes()), "x\\x9b31m");
        let out = escape(b"\x1b]0;title\x07\n");
        assert!(!out.chars().any(char::is_control), "{out}");
    }

    #[test]
    fn eprint_to_a_broken_stderr_is_counted_not_fatal() {
        // The test harness captures stderr; a write there succeeds.
        let before = dropped();
        eprint("");
        assert_eq!(dropped(), before);
    }
}
