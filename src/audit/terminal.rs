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

/// Set while stderr is known not to drain: the next message does not wait for it.
static STALLED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// `bytes` as text that a terminal (or a report) shows as it is: printable UTF-8
/// unchanged; C0 and C1 control characters, DEL and backslash as C-style escapes;
/// characters that change how other text is shown (bidi overrides, zero-width
/// characters: "Trojan Source") as `\u{…}`; bytes that are not UTF-8 as `\xHH`. The
/// result holds no control character at all, and two different inputs never look
/// the same (a backslash is doubled).
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
        c if is_invisible_format(c) => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
        c => out.push(c),
    }
}

/// Characters that change how *other* text is shown (bidi overrides and isolates,
/// zero-width characters, line and paragraph separators).
fn is_invisible_format(c: char) -> bool {
    matches!(u32::from(c),
        0x061c | 0x200b..=0x200f | 0x2028..=0x202e | 0x2060..=0x2069 | 0xfeff)
}

/// How long a message may wait for a stderr that does not drain (a pipe nobody reads,
/// a terminal stopped with Ctrl-S) before it is dropped: the mirror's threads print
/// the `-v` lines, and the build waits for them meanwhile.
const STALL_MS: u16 = 2000;

/// Writes `text` to stderr; on failure (closed pipe, full disk, closed fd) or when
/// stderr stays full for [`STALL_MS`], drops the rest and counts it. Once stderr has
/// stalled, later messages wait for it no more until one gets through. Never panics.
///
/// Written in pieces of at most a page, each after poll(2) said there is room: a pipe
/// that polls writable has a free page, so a piece does not block (unless the build,
/// which shares the pipe, fills it in between).
pub fn eprint(text: &str) {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    use std::os::fd::AsFd;
    let stderr = std::io::stderr();
    let mut out = stderr.lock();
    let mut rest = text.as_bytes();
    while !rest.is_empty() {
        let mut fds = [PollFd::new(out.as_fd(), PollFlags::POLLOUT)];
        let wait = if STALLED.load(Ordering::Relaxed) {
            0
        } else {
            STALL_MS
        };
        let ready = matches!(poll(&mut fds, PollTimeout::from(wait)), Ok(n) if n > 0);
        STALLED.store(!ready, Ordering::Relaxed);
        let piece = &rest[..rest.len().min(4096)];
        match ready.then(|| out.write(piece)) {
            Some(Ok(n)) if n > 0 => rest = &rest[n..],
            Some(Err(e)) if e.kind() == std::io::ErrorKind::Interrupted => {}
            _ => {
                DROPPED.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
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
    fn text_that_reorders_other_text_is_visible() {
        // A right-to-left override and a zero-width space ("Trojan Source").
        assert_eq!(
            escape("evil\u{202e}txt.sh\u{200b}".as_bytes()),
            "evil\\u{202e}txt.sh\\u{200b}"
        );
    }
}
