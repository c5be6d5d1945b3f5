//! The record (issue 12): a hostile build can neither silence, erase, stall nor forge
//! what fusebox reports. Each test is one of the cases, tried the way a hostile
//! build or a careless user would; in each the refused operations are in the summary,
//! the exit status is 1 (or the build's own failure), and fusebox-run ends within
//! seconds. The cases are grouped in the files below (the log, fusebox's outputs, signals,
//! fusebox's own files); here, the helpers they share.
//!
//! A "full disk" is a file size limit here (`ulimit -f`, SIGXFSZ ignored): writes past
//! it fail (EFBIG) after a partial write, exactly as on a full disk, and an
//! unprivileged test can set it.

mod files;
mod log;
mod outputs;
mod signals;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::common::*;

/// "Within seconds": what every run here must take at most (they take about one).
const PROMPT: Duration = Duration::from_secs(20);

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// A directory under the test user's home: in no write list of fusebox's defaults.
fn outside() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("fusebox-e2e-record.")
        .tempdir_in(home())
        .unwrap()
}

/// The log's blocks (each its lines), checking that the log is whole: the header,
/// then blocks of exactly F, S, P, A, R, C.
fn whole_blocks(log: &str) -> Vec<Vec<&str>> {
    assert!(log.starts_with(LOG_HEADER), "no header:\n{log}");
    assert!(log.ends_with('\n'), "the log ends mid-line:\n{log}");
    let blocks: Vec<Vec<&str>> = log[LOG_HEADER.len()..]
        .split("\n\n")
        .map(|b| b.trim_start_matches('\n').lines().collect())
        .filter(|b: &Vec<&str>| !b.is_empty())
        .collect();
    for b in &blocks {
        let keys: Vec<&str> = b.iter().map(|l| l.split(": ").next().unwrap()).collect();
        assert_eq!(
            keys,
            ["F", "S", "P", "A", "R", "C"],
            "a broken block: {b:?}\n{log}"
        );
        assert_eq!(b[1], "S: deny", "{log}");
    }
    blocks
}

/// Whether the summary on stderr lists a denied `op` on `path`.
fn summary_has(stderr: &str, op: &str, path: &str) -> bool {
    stderr.contains(" * ----------------------- SANDBOX ACCESS VIOLATION SUMMARY")
        && stderr.contains(&format!("F: {op}\nS: deny\nP: {path}\n"))
}

#[track_caller]
fn prompt(out: &Out) {
    assert!(out.elapsed < PROMPT, "took {:?}\n{out}", out.elapsed);
}

/// `fusebox-run --mount-helper H ARGS…` started by bash after `setup` (shell code: a
/// signal disposition, a limit, a redirection), in `cwd`, without TMPDIR. A `setup` that
/// puts a process substitution in front of stderr sets `p=$!`: bash then waits for it
/// to pass everything on before it exits.
fn through_bash(h: Helper, setup: &str, args: &[&OsStr], cwd: &Path) -> Command {
    let mut c = Command::new("bash");
    c.arg("-c")
        .arg(format!(
            "{setup}\n\"$@\"; rc=$?; exec 2>&-; [ -z \"${{p-}}\" ] || wait \"$p\"; exit $rc"
        ))
        .arg("bash")
        .arg(bin())
        .arg("--mount-helper")
        .arg(h.name())
        .args(args)
        .current_dir(cwd)
        .env_remove("TMPDIR");
    c
}

/// The log path the summary names.
fn log_file_named_in(stderr: &str) -> PathBuf {
    let line = stderr
        .lines()
        .find_map(|l| l.strip_prefix(" * LOG FILE: \""))
        .unwrap_or_else(|| panic!("no LOG FILE line:\n{stderr}"));
    PathBuf::from(line.trim_end_matches('"'))
}

fn os<'a>(args: &[&'a str]) -> Vec<&'a OsStr> {
    args.iter().map(|a| OsStr::new(*a)).collect()
}
