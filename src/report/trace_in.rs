//! A saved `--trace` read back into a [`Footprint`]: reports made after the fact, in
//! CI, and Gentoo mode's one report over all of a package's phases.
//!
//! Streaming, line by line: memory is the aggregate's, whatever the trace's length.

use std::io::BufRead;

use serde_json::Value;

use super::event::Event;
use super::model::Footprint;
use crate::audit::Op;
use crate::policy::Verdict;

/// Why a trace could not be read.
#[derive(Debug)]
pub enum TraceError {
    Io(std::io::Error),
    /// Line `line` (from 1) is not a trace event; `why` says what is wrong.
    Bad {
        line: u64,
        why: String,
    },
}

impl std::fmt::Display for TraceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TraceError::Io(e) => write!(f, "{e}"),
            TraceError::Bad { line, why } => write!(f, "line {line}: {why}"),
        }
    }
}

impl std::error::Error for TraceError {}

/// Adds every event of the trace `input` to `footprint`; returns how many. A last
/// line cut short (a trace whose writer was killed) is skipped; any other bad line
/// is an error naming it.
pub fn read_trace(input: impl BufRead, footprint: &mut Footprint) -> Result<u64, TraceError> {
    let mut count = 0;
    let mut lines = input.split(b'\n').peekable();
    let mut number = 0;
    while let Some(line) = lines.next() {
        number += 1;
        let line = line.map_err(TraceError::Io)?;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match add_line(&line, footprint) {
            Ok(()) => count += 1,
            Err(_) if lines.peek().is_none() && !line.ends_with(b"}") => {}
            Err(why) => return Err(TraceError::Bad { line: number, why }),
        }
    }
    Ok(count)
}

fn add_line(line: &[u8], footprint: &mut Footprint) -> Result<(), String> {
    let v: Value = serde_json::from_slice(line).map_err(|e| format!("not JSON: {e}"))?;
    let text = |key: &str| v.get(key).and_then(Value::as_str);
    let op_name = text("op").ok_or("no \"op\"")?;
    let op = op_named(op_name).ok_or_else(|| format!("unknown op {op_name:?}"))?;
    let verdict = match text("verdict").ok_or("no \"verdict\"")? {
        "allow" => Verdict::Allow,
        "deny" => Verdict::Deny,
        "predict" => Verdict::Predict,
        other => return Err(format!("unknown verdict {other:?}")),
    };
    let path = path_of(&v, "path")?.ok_or("no \"path\"")?;
    let path2 = path_of(&v, "path2")?;
    let number = |key: &str| v.get(key).and_then(Value::as_i64);
    footprint.add(&Event {
        pid: number("pid")
            .and_then(|p| u32::try_from(p).ok())
            .ok_or("no \"pid\"")?,
        cmdline: text("cmdline").unwrap_or(""),
        op,
        path: &path,
        path2: path2.as_deref(),
        verdict,
        errno: number("errno")
            .and_then(|e| i32::try_from(e).ok())
            .unwrap_or(0),
    });
    Ok(())
}

/// The op the trace names `name` (`open_wr` is both an open for writing and an
/// O_TMPFILE; they count alike).
pub fn op_named(name: &str) -> Option<Op> {
    Op::ALL.into_iter().find(|op| op.gentoo_name() == name)
}

/// `key`'s path: the exact bytes of `key_hex` when there are some, else the string.
fn path_of(v: &Value, key: &str) -> Result<Option<Vec<u8>>, String> {
    if let Some(hex) = v.get(format!("{key}_hex")).and_then(Value::as_str) {
        return unhex(hex).map(Some).ok_or(format!("bad \"{key}_hex\""));
    }
    Ok(v.get(key)
        .and_then(Value::as_str)
        .map(|s| s.as_bytes().to_vec()))
}

fn unhex(hex: &str) -> Option<Vec<u8>> {
    if hex.len() % 2 != 0 {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{TraceEvent, trace_line};
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    use std::path::Path;

    #[test]
    fn what_the_trace_writes_reads_back() {
        let hostile = Path::new(OsStr::from_bytes(b"/w/a\n\xff"));
        let mut text = String::new();
        for (op, path, verdict, errno) in [
            (
                Op::OpenRd,
                Path::new("/usr/include/stdio.h"),
                Verdict::Allow,
                0,
            ),
            (Op::OpenWrCreat, hostile, Verdict::Allow, 0),
            (Op::Mkdir, Path::new("/etc/x"), Verdict::Deny, 13),
        ] {
            text.push_str(&trace_line(&TraceEvent {
                time: std::time::SystemTime::now(),
                pid: 4,
                cmdline: "cc a.c",
                op,
                path,
                path2: None,
                verdict,
                errno,
            }));
        }
        let mut fp = Footprint::new(b"/w");
        assert_eq!(read_trace(text.as_bytes(), &mut fp).unwrap(), 3);
        assert!(fp.files.contains_key(&b"/w/a\n\xff"[..]));
        assert_eq!(fp.refused[0].op, "mkdir");
        assert_eq!(fp.refused[0].cmdline, "cc a.c");
    }

    #[test]
    fn bad_lines_are_named_but_a_cut_last_line_is_not() {
        let good =
            r#"{"pid":1,"cmdline":"x","op":"open_rd","path":"/a","verdict":"allow","errno":0}"#;
        let mut fp = Footprint::new(b"/w");
        let cut = format!("{good}\n{}", &good[..30]);
        assert_eq!(read_trace(cut.as_bytes(), &mut fp).unwrap(), 1);
        let bad = format!("{good}\nnot json\n{good}\n");
        let err = read_trace(bad.as_bytes(), &mut fp).unwrap_err();
        assert!(err.to_string().starts_with("line 2: not JSON"), "{err}");
        let unknown = good.replace("open_rd", "teleport");
        let err = read_trace(unknown.as_bytes(), &mut fp).unwrap_err();
        assert!(err.to_string().contains("unknown op"), "{err}");
        assert_eq!(unhex("2f61ff"), Some(b"/a\xff".to_vec()));
        assert_eq!(unhex("2f6"), None);
    }
}
