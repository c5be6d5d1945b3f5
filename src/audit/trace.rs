//! The trace: one JSON object per line for every operation the mirror serves on a path,
//! for scripts and for learning a policy.
//!
//! ```text
//! {"time":"2024-03-01T12:00:00.250000Z","pid":42,"cmdline":"make -j4","op":"rename","path":"/w/a","path2":"/w/b","verdict":"allow","errno":0}
//! ```
//!
//! - `time`: RFC 3339, UTC, microseconds.
//! - `path2`: only for the two-path ops (rename, link, symlink's link name…).
//! - `verdict`: `allow`, `deny` or `predict`; `errno`: what the build got (0: success).
//! - Paths are bytes, JSON strings are Unicode. A path that is valid UTF-8 is written
//!   as is (JSON-escaped). One that is not is written lossily (U+FFFD for each bad
//!   sequence), so every JSON parser still reads the line, *and* its exact bytes follow
//!   in `path_hex` / `path2_hex` (lowercase hex). Lone-surrogate escapes
//!   (`\udcXX`, Python's surrogateescape) were the alternative; strict parsers such as
//!   serde_json and jq reject or mangle them.
//!
//! Hand-written rather than serde_json: the escaping is a dozen lines, the field order
//! is fixed for golden tests, and the non-UTF-8 rule above is ours anyway.

use std::fmt::Write as _;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use super::Op;
use crate::policy::Verdict;

/// One operation. Borrows everything: building one costs nothing.
#[derive(Clone, Copy, Debug)]
pub struct TraceEvent<'a> {
    pub time: SystemTime,
    pub pid: u32,
    pub cmdline: &'a str,
    pub op: Op,
    pub path: &'a Path,
    /// The second path of rename and link (the new name).
    pub path2: Option<&'a Path>,
    pub verdict: Verdict,
    /// The errno the build got; 0 when the operation succeeded.
    pub errno: i32,
}

/// The event as one line of JSON, newline included.
pub fn trace_line(e: &TraceEvent<'_>) -> String {
    let mut out = String::with_capacity(160 + e.cmdline.len() + 2 * e.path.as_os_str().len());
    out.push_str("{\"time\":\"");
    push_time(&mut out, e.time);
    let _ = write!(out, "\",\"pid\":{},\"cmdline\":", e.pid);
    push_str(&mut out, e.cmdline);
    out.push_str(",\"op\":");
    push_str(&mut out, e.op.gentoo_name());
    push_path(&mut out, "path", e.path);
    if let Some(p2) = e.path2 {
        push_path(&mut out, "path2", p2);
    }
    let _ = writeln!(
        out,
        ",\"verdict\":\"{}\",\"errno\":{}}}",
        e.verdict.name(),
        e.errno
    );
    out
}

/// `,"key":"…"`, plus `,"key_hex":"…"` when the path is not UTF-8.
fn push_path(out: &mut String, key: &str, path: &Path) {
    let bytes = path.as_os_str().as_bytes();
    let _ = write!(out, ",\"{key}\":");
    match std::str::from_utf8(bytes) {
        Ok(s) => push_str(out, s),
        Err(_) => {
            push_str(out, &String::from_utf8_lossy(bytes));
            let _ = write!(out, ",\"{key}_hex\":\"");
            for b in bytes {
                let _ = write!(out, "{b:02x}");
            }
            out.push('"');
        }
    }
}

/// `s` as a JSON string literal (RFC 8259 §7): quote, backslash and control characters
/// escaped, everything else as is.
fn push_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if c < ' ' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `t` as `YYYY-MM-DDTHH:MM:SS.uuuuuuZ`. Times before 1970 (a clock set wrong) are
/// written as the epoch rather than failing the trace.
fn push_time(out: &mut String, t: SystemTime) {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (y, m, d) = civil_from_days(secs / 86_400);
    let rem = secs % 86_400;
    let _ = write!(
        out,
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:06}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        since.subsec_micros()
    );
}

/// The proleptic Gregorian date `days` after 1970-01-01: Howard Hinnant's
/// `civil_from_days` (<https://howardhinnant.github.io/date_algorithms.html>), for
/// non-negative days. Counting from 0000-03-01 puts the leap day at the end of the
/// year, so a month's length depends only on its position.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468; // days from 0000-03-01 to 1970-01-01
    let era = z / 146_097; // 400-year cycles
    let doe = z % 146_097; // day of era, [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // day of March-based year
    let mp = (5 * doy + 2) / 153; // March = 0
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;
    use std::time::Duration;

    fn at(secs: u64, micros: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_micros(micros)
    }

    fn event<'a>(path: &'a Path) -> TraceEvent<'a> {
        TraceEvent {
            time: at(1_709_294_400, 250_000), // 2024-03-01T12:00:00.25Z
            pid: 42,
            cmdline: "make -j4",
            op: Op::Mkdir,
            path,
            path2: None,
            verdict: Verdict::Deny,
            errno: 13,
        }
    }

    #[test]
    fn golden_line() {
        assert_eq!(
            trace_line(&event(Path::new("/usr/share/x"))),
            "{\"time\":\"2024-03-01T12:00:00.250000Z\",\"pid\":42,\"cmdline\":\"make -j4\",\
             \"op\":\"mkdir\",\"path\":\"/usr/share/x\",\"verdict\":\"deny\",\"errno\":13}\n"
        );
    }

    #[test]
    fn golden_rename_with_path2() {
        let e = TraceEvent {
            op: Op::Rename,
            path2: Some(Path::new("/w/b")),
            verdict: Verdict::Allow,
            errno: 0,
            ..event(Path::new("/w/a"))
        };
        assert_eq!(
            trace_line(&e),
            "{\"time\":\"2024-03-01T12:00:00.250000Z\",\"pid\":42,\"cmdline\":\"make -j4\",\
             \"op\":\"rename\",\"path\":\"/w/a\",\"path2\":\"/w/b\",\"verdict\":\"allow\",\"errno\":0}\n"
        );
    }

    #[test]
    fn predict_verdict() {
        let e = TraceEvent {
            verdict: Verdict::Predict,
            ..event(Path::new("/var/cache/x"))
        };
        assert!(trace_line(&e).ends_with(",\"verdict\":\"predict\",\"errno\":13}\n"));
    }

    #[test]
    fn escapes_quotes_backslashes_and_controls() {
        let path = Path::new("/t/a\"b\\c\nd\te\u{1}f\u{7f}é☃");
        let e = TraceEvent {
            cmdline: "sh -c \"x\"",
            ..event(path)
        };
        let line = trace_line(&e);
        assert!(line.contains(r#""cmdline":"sh -c \"x\"""#), "{line}");
        assert!(
            line.contains("\"path\":\"/t/a\\\"b\\\\c\\nd\\te\\u0001f\u{7f}é☃\""),
            "{line}"
        );
        // Exactly one line.
        assert_eq!(line.matches('\n').count(), 1);
        assert!(line.ends_with("}\n"));
    }

    #[test]
    fn non_utf8_paths_are_lossy_plus_hex() {
        let p1 = Path::new(OsStr::from_bytes(b"/t/\xffx"));
        let p2 = Path::new(OsStr::from_bytes(b"/t/\xc3"));
        let e = TraceEvent {
            op: Op::Link,
            path2: Some(p2),
            ..event(p1)
        };
        assert_eq!(
            trace_line(&e),
            "{\"time\":\"2024-03-01T12:00:00.250000Z\",\"pid\":42,\"cmdline\":\"make -j4\",\
             \"op\":\"link\",\"path\":\"/t/\u{fffd}x\",\"path_hex\":\"2f742fff78\",\
             \"path2\":\"/t/\u{fffd}\",\"path2_hex\":\"2f742fc3\",\"verdict\":\"deny\",\"errno\":13}\n"
        );
    }

    #[test]
    fn times() {
        let fmt = |t| {
            let mut s = String::new();
            push_time(&mut s, t);
            s
        };
        assert_eq!(fmt(UNIX_EPOCH), "1970-01-01T00:00:00.000000Z");
        assert_eq!(fmt(at(951_782_400, 1)), "2000-02-29T00:00:00.000001Z");
        assert_eq!(fmt(at(951_868_799, 999_999)), "2000-02-29T23:59:59.999999Z");
        assert_eq!(fmt(at(1_735_689_599, 0)), "2024-12-31T23:59:59.000000Z");
        assert_eq!(fmt(at(4_107_542_400, 0)), "2100-03-01T00:00:00.000000Z");
        assert_eq!(
            fmt(UNIX_EPOCH - Duration::from_secs(5)),
            "1970-01-01T00:00:00.000000Z"
        );
    }

    #[test]
    fn civil_dates_match_a_day_by_day_count() {
        // Walk 1970..2400 a day at a time and compare.
        let mut date = (1970u64, 1u64, 1u64);
        for days in 0..(430 * 366) {
            assert_eq!(civil_from_days(days), date, "day {days}");
            let (y, m, d) = date;
            let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
            let len = match m {
                2 if leap => 29,
                2 => 28,
                4 | 6 | 9 | 11 => 30,
                _ => 31,
            };
            date = if d < len {
                (y, m, d + 1)
            } else if m < 12 {
                (y, m + 1, 1)
            } else {
                (y + 1, 1, 1)
            };
        }
    }
}
