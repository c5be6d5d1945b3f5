//! Gentoo `sandbox`'s text formats, byte for byte (sandbox v2.46, gentoo/sandbox commit
//! 5ac4b15), so that Portage and people used to it read fusebox's output unchanged:
//!
//! - the violation log (`libsandbox/libsandbox.c`: the `LOG_*` defines at the top and
//!   `write_logfile`): a header written when the file is first created, then one block
//!   per violation, each starting with a newline so blocks are blank-line separated;
//! - the `C:` line (`libsbutil/sb_write_fd.c`, `sb_copy_file_to_fd`): the raw
//!   `/proc/PID/cmdline` with every NUL turned into a space — hence a trailing space;
//! - the summary printed at exit (`src/sandbox.c`, `print_sandbox_log`) through
//!   `sb_eerror`, which prefixes each call with ` * ` (`libsbutil/sb_efuncs.c`);
//! - the verbose line (`check_syscall` in `libsandbox.c`), padded to the longest wrapped
//!   symbol name (`SB_MAX_STRING_LEN`, computed by `scripts/gen_symbol_header.awk` over
//!   `libsandbox/symbols.h.in`: 18, `__utimensat_time64`, since 2023).
//!
//! Colours are left out: Gentoo drops them too under `NOCOLOR`, and the log itself
//! never has them.
//!
//! Portage only ever asks whether the log is non-empty (`[[ -s ${SANDBOX_LOG} ]]` in
//! `bin/ebuild.sh` and `bin/phase-functions.sh`, `st_size > 0` in
//! `lib/_emerge/EbuildMetadataPhase.py`); the content is for people.

use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::Violation;
use crate::policy::Verdict;

/// Gentoo's `SB_MAX_STRING_LEN`: the verbose line pads `name:` to one more than this.
const SB_MAX_STRING_LEN: usize = 18;

/// The first lines of a new log file.
pub fn log_header() -> String {
    concat!(
        "VERSION 1.0\n",
        "FORMAT: F - Function called\n",
        "FORMAT: S - Access Status\n",
        "FORMAT: P - Path as passed to function\n",
        "FORMAT: A - Absolute Path (not canonical)\n",
        "FORMAT: R - Canonical Path\n",
        "FORMAT: C - Command Line\n",
    )
    .to_owned()
}

/// One violation's block, exactly as written to the log: paths as their raw bytes, as
/// Gentoo writes them (a path need not be UTF-8).
pub fn log_entry_bytes(v: &Violation) -> Vec<u8> {
    // The main log holds only denials.
    block_bytes(v, Status::Deny)
}

/// The `S:` of a block: whether the access went ahead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Allow,
    Deny,
}

/// One block of the debug log (`SANDBOX_DEBUG_LOG`), which holds every checked access
/// in the violation log's format. A predicted write is `allow` there, as in Gentoo's
/// (`check_syscall` marks an access denied only when it is to be shown).
pub fn debug_entry_bytes(v: &Violation, status: Status) -> Vec<u8> {
    block_bytes(v, status)
}

fn block_bytes(v: &Violation, status: Status) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + v.cmdline.len() + 3 * v.abs.as_os_str().len());
    // The leading newline is Gentoo's separator: it follows the header or the previous
    // block's final newline, leaving a blank line.
    out.extend_from_slice(b"\nF: ");
    out.extend_from_slice(v.op.as_bytes());
    out.extend_from_slice(match status {
        Status::Allow => b"\nS: allow\nP: ",
        Status::Deny => b"\nS: deny\nP: ",
    });
    push_field(&mut out, v.path.as_os_str().as_bytes());
    out.extend_from_slice(b"\nA: ");
    push_field(&mut out, v.abs.as_os_str().as_bytes());
    out.extend_from_slice(b"\nR: ");
    push_field(&mut out, v.canonical.as_os_str().as_bytes());
    out.extend_from_slice(b"\nC: ");
    push_field(&mut out, v.cmdline.as_bytes());
    out.push(b'\n');
    out
}

/// One field of a block, so that a block is always exactly one block: Gentoo writes
/// fields raw, so a newline in a file name or an argument could append a complete fake
/// block, and an escape sequence would reach whoever `cat`s the log. Here a backslash
/// becomes `\\`, newline, tab and carriage return `\n`, `\t`, `\r`, every other ASCII
/// control byte (and DEL) `\xHH`, and a C1 control character (UTF-8 `C2 80`..`C2 9F`)
/// `\xc2\xHH`; everything else, bytes that are not UTF-8 included, is written raw as
/// Gentoo does. A field without backslashes or control characters is exactly Gentoo's.
fn push_field(out: &mut Vec<u8>, bytes: &[u8]) {
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\r' => out.extend_from_slice(b"\\r"),
            0..=0x1f | 0x7f => out.extend_from_slice(format!("\\x{b:02x}").as_bytes()),
            0xc2 if matches!(bytes.get(i + 1), Some(0x80..=0x9f)) => {
                out.extend_from_slice(format!("\\xc2\\x{:02x}", bytes[i + 1]).as_bytes());
                i += 1;
            }
            _ => out.push(b),
        }
        i += 1;
    }
}

/// One block as the terminal shows it (the summary): the log's block with every field
/// escaped by [`super::terminal::escape`], so that nothing in it reaches the terminal
/// raw.
pub fn terminal_entry(v: &Violation) -> String {
    use super::terminal::{escape, escape_os};
    format!(
        "\nF: {}\nS: deny\nP: {}\nA: {}\nR: {}\nC: {}\n",
        v.op,
        escape_os(v.path.as_os_str()),
        escape_os(v.abs.as_os_str()),
        escape_os(v.canonical.as_os_str()),
        escape(v.cmdline.as_bytes())
    )
}

/// [`log_entry_bytes`] as text (bytes that are not UTF-8 become U+FFFD): for display.
pub fn log_entry(v: &Violation) -> String {
    String::from_utf8_lossy(&log_entry_bytes(v)).into_owned()
}

/// The `C:` text for the raw content of `/proc/PID/cmdline`: NULs become spaces, so the
/// usual trailing NUL leaves a trailing space, as in Gentoo's log.
pub fn cmdline_from_proc(raw: &[u8]) -> String {
    let spaced: Vec<u8> = raw.iter().map(|&b| if b == 0 { b' ' } else { b }).collect();
    String::from_utf8_lossy(&spaced).into_owned()
}

/// The `C:` text when the process's command line cannot be read (it has exited).
pub fn unreadable_cmdline(pid: u32) -> String {
    format!("unable to read /proc/{pid}/cmdline")
}

/// The summary printed on stderr when the build ends with violations: a rule with the
/// title, the log's path, the log's header and one block per violation, a closing
/// rule, all 80 columns wide.
///
/// Rendered from fusebox's own record (`shown`: the violations kept in full; `more`:
/// how many followed them), never from the log file, which the build may have reached:
/// for a log written without trouble, the text is the log's own, each field escaped for
/// the terminal ([`terminal_entry`]).
///
/// Gentoo prints the log in 8 KiB reads, each behind a ` * ` line; for a log over 8 KiB
/// it repeats that line mid-text. That is an artefact of its buffer, not a format, so
/// the whole log follows a single ` * ` line here.
pub fn summary(log_path: &Path, shown: &[Violation], more: u64) -> String {
    let mut text = log_header();
    for v in shown {
        text.push_str(&terminal_entry(v));
    }
    if more > 0 {
        text.push_str(&format!(
            "\n(and {more} more violation{} not kept in memory)\n",
            if more == 1 { "" } else { "s" }
        ));
    }
    format!(
        " * ----------------------- SANDBOX ACCESS VIOLATION SUMMARY -----------------------\n\
         \x20* LOG FILE: \"{}\"\n\
         \x20* \n\
         {text}\
         \x20* --------------------------------------------------------------------------------\n",
        super::terminal::escape_os(log_path.as_os_str())
    )
}

/// The line printed for each violation in verbose mode (Gentoo's `SANDBOX_VERBOSE`, its
/// default), newline included. `path` is the absolute (not canonical) path.
pub fn denied_line(op: &str, path: &Path) -> String {
    access_line("DENIED", op, path)
}

/// The line printed in verbose mode for each access that went ahead (`ALLOWED`) or
/// was predicted (`PREDICTED`) while `SANDBOX_DEBUG` is on.
pub fn debug_line(verdict: Verdict, op: &str, path: &Path) -> String {
    let word = match verdict {
        Verdict::Allow => "ALLOWED",
        Verdict::Predict => "PREDICTED",
        Verdict::Deny => "DENIED",
    };
    access_line(word, op, path)
}

fn access_line(word: &str, op: &str, path: &Path) -> String {
    // Gentoo's `%*s` with a width of `SB_MAX_STRING_LEN + 1 - strlen(func)`; a negative
    // width in printf pads by its magnitude.
    let width = (SB_MAX_STRING_LEN + 1).abs_diff(op.len());
    format!(
        " * ACCESS {word}:  {op}:{:width$}{}\n",
        "",
        super::terminal::escape_os(path.as_os_str())
    )
}

#[cfg(test)]
mod tests {
    use super::super::Op;
    use super::*;
    use std::ffi::OsStr;
    use std::path::PathBuf;

    const HEADER: &str = "VERSION 1.0
FORMAT: F - Function called
FORMAT: S - Access Status
FORMAT: P - Path as passed to function
FORMAT: A - Absolute Path (not canonical)
FORMAT: R - Canonical Path
FORMAT: C - Command Line
";

    fn mkdir_usr() -> Violation {
        Violation {
            op: Op::Mkdir.gentoo_name(),
            path: "usr/foo".into(),
            abs: "/usr/foo".into(),
            canonical: "/usr/foo".into(),
            cmdline: cmdline_from_proc(b"mkdir\0usr/foo\0"),
        }
    }

    #[test]
    fn header_is_gentoos() {
        assert_eq!(log_header(), HEADER);
    }

    #[test]
    fn entry_is_gentoos() {
        assert_eq!(
            log_entry(&mkdir_usr()),
            "\nF: mkdir\nS: deny\nP: usr/foo\nA: /usr/foo\nR: /usr/foo\nC: mkdir usr/foo \n"
        );
    }

    #[test]
    fn log_with_two_entries_is_blank_line_separated() {
        let second = Violation {
            op: Op::OpenWrCreat.gentoo_name(),
            path: "/etc/x y".into(),
            abs: "/etc/x y".into(),
            canonical: "/etc/x y".into(),
            cmdline: cmdline_from_proc(b"sh\0-c\0echo > '/etc/x y'\0"),
        };
        let log = log_header() + &log_entry(&mkdir_usr()) + &log_entry(&second);
        assert_eq!(
            log,
            "VERSION 1.0
FORMAT: F - Function called
FORMAT: S - Access Status
FORMAT: P - Path as passed to function
FORMAT: A - Absolute Path (not canonical)
FORMAT: R - Canonical Path
FORMAT: C - Command Line

F: mkdir
S: deny
P: usr/foo
A: /usr/foo
R: /usr/foo
C: mkdir usr/foo 

F: open_wr_creat
S: deny
P: /etc/x y
A: /etc/x y
R: /etc/x y
C: sh -c echo > '/etc/x y' 
"
        );
    }

    #[test]
    fn entry_bytes_keep_non_utf8_paths() {
        let raw = PathBuf::from(OsStr::from_bytes(b"/tmp/\xff"));
        let v = Violation::new(Op::Unlink, raw, "rm ".into());
        let bytes = log_entry_bytes(&v);
        assert_eq!(
            bytes,
            b"\nF: unlink\nS: deny\nP: /tmp/\xff\nA: /tmp/\xff\nR: /tmp/\xff\nC: rm \n".to_vec()
        );
        assert!(log_entry(&v).contains("P: /tmp/\u{fffd}\n"));
    }

    #[test]
    fn debug_entries_say_allow_or_deny() {
        let v = Violation::new(Op::OpenRd, "/etc/passwd".into(), "cat /etc/passwd ".into());
        assert_eq!(
            String::from_utf8(debug_entry_bytes(&v, Status::Allow)).unwrap(),
            "\nF: open_rd\nS: allow\nP: /etc/passwd\nA: /etc/passwd\nR: /etc/passwd\n\
             C: cat /etc/passwd \n"
        );
        assert_eq!(debug_entry_bytes(&v, Status::Deny), log_entry_bytes(&v));
    }

    #[test]
    fn debug_lines_are_padded_like_denied_ones() {
        assert_eq!(
            debug_line(Verdict::Allow, "open_rd", Path::new("/etc/passwd")),
            " * ACCESS ALLOWED:  open_rd:            /etc/passwd\n"
        );
        assert_eq!(
            debug_line(Verdict::Predict, "mkdir", Path::new("/home/me/.cache")),
            " * ACCESS PREDICTED:  mkdir:              /home/me/.cache\n"
        );
        assert_eq!(
            debug_line(Verdict::Deny, "mkdir", Path::new("/usr/foo")),
            denied_line("mkdir", Path::new("/usr/foo"))
        );
    }

    #[test]
    fn cmdline_helpers() {
        assert_eq!(cmdline_from_proc(b"make\0-j4\0"), "make -j4 ");
        assert_eq!(cmdline_from_proc(b""), "");
        assert_eq!(unreadable_cmdline(42), "unable to read /proc/42/cmdline");
    }

    #[test]
    fn summary_is_gentoos() {
        let s = summary(
            Path::new("/var/tmp/portage/x/temp/sandbox.log"),
            &[mkdir_usr()],
            0,
        );
        assert_eq!(
            s,
            " * ----------------------- SANDBOX ACCESS VIOLATION SUMMARY -----------------------
 * LOG FILE: \"/var/tmp/portage/x/temp/sandbox.log\"
 * 
VERSION 1.0
FORMAT: F - Function called
FORMAT: S - Access Status
FORMAT: P - Path as passed to function
FORMAT: A - Absolute Path (not canonical)
FORMAT: R - Canonical Path
FORMAT: C - Command Line

F: mkdir
S: deny
P: usr/foo
A: /usr/foo
R: /usr/foo
C: mkdir usr/foo 
 * --------------------------------------------------------------------------------
"
        );
        // Both rules are 80 columns after the ` * ` prefix.
        let lines: Vec<&str> = s.lines().collect();
        assert_eq!(lines[0].len(), 3 + 80);
        assert_eq!(lines.last().unwrap().len(), 3 + 80);
    }

    #[test]
    fn a_newline_in_a_field_cannot_forge_a_block() {
        let v = Violation::new(
            Op::OpenWrCreat,
            "/t/x\n\nF: open_wr\nS: allow\nP: /etc/shadow".into(),
            "sh -c echo\\ \x1b[2K \n".into(),
        );
        let block = log_entry(&v);
        assert_eq!(block.matches('\n').count(), 7, "{block}");
        let c1 = Violation::new(Op::Mkdir, "/t/\u{9b}31m".into(), "x".into());
        assert!(log_entry(&c1).contains("P: /t/\\xc2\\x9b31m\n"));
        assert!(
            block.contains("P: /t/x\\n\\nF: open_wr\\nS: allow\\nP: /etc/shadow\n"),
            "{block}"
        );
        assert!(
            block.ends_with("C: sh -c echo\\\\ \\x1b[2K \\n\n"),
            "{block}"
        );
        // The terminal's copy holds no control character but its line ends.
        let shown = terminal_entry(&v);
        assert_eq!(shown.matches('\n').count(), 7, "{shown}");
        assert!(!shown.replace('\n', "").chars().any(char::is_control));
    }

    #[test]
    fn summary_counts_what_it_does_not_show() {
        let s = summary(Path::new("/l"), &[mkdir_usr()], 3);
        assert!(
            s.contains("\n(and 3 more violations not kept in memory)\n"),
            "{s}"
        );
        let s = summary(Path::new("/l\x1b]0;x\x07"), &[], 1);
        assert!(s.contains("LOG FILE: \"/l\\x1b]0;x\\x07\""), "{s}");
    }

    #[test]
    fn denied_line_is_padded_like_gentoos() {
        // "mkdir:" then 19 - 5 = 14 spaces.
        assert_eq!(
            denied_line("mkdir", Path::new("/usr/foo")),
            " * ACCESS DENIED:  mkdir:              /usr/foo\n"
        );
        assert_eq!(
            denied_line("open_wr_creat", Path::new("/etc/x")),
            " * ACCESS DENIED:  open_wr_creat:      /etc/x\n"
        );
        // Every name lines its path up in the same column.
        for op in Op::ALL {
            let line = denied_line(op.gentoo_name(), Path::new("/p"));
            assert_eq!(
                line.find("/p"),
                Some(" * ACCESS DENIED:  ".len() + 20),
                "{line}"
            );
        }
        // Longer than Gentoo's longest symbol: printf's negative width pads by its size.
        assert_eq!(
            denied_line("a_name_of_twenty_chr", Path::new("/p")),
            " * ACCESS DENIED:  a_name_of_twenty_chr: /p\n"
        );
        assert_eq!(
            denied_line("nineteen_characters", Path::new("/p")),
            " * ACCESS DENIED:  nineteen_characters:/p\n"
        );
    }
}
