//! File-system integrity through the mirror: the syscalls whose subtle semantics a FUSE
//! pass-through easily gets wrong, in three files: attributes (UTIME_OMIT, hard links and
//! cached attributes, ownership), data (fallocate modes, large sparse files, concurrent
//! O_APPEND) and names (O_TMPFILE, unlinked-but-open files, rename over an open file, inode
//! numbers the host reuses, fstat during renames, hard links renamed away). Here, the helpers
//! they share.
//!
//! `E2E_ARGS=integrity` runs just these. Each runs the operations inside the sandbox with
//! python3 (precise syscalls), and checks the result natively on the host afterwards; where a
//! behaviour is compared with the host's, the same script also runs natively in a temp dir on
//! the same host file system (/tmp).

mod attributes;
mod data;
mod names;

use std::path::Path;

use crate::common::*;

// =============================================================================================
// Helpers

/// `python3 -c SCRIPT ARGS...` inside the sandbox, in its build dir.
fn py_inside(sb: &Sandbox, script: &str, args: &[&str]) -> Out {
    let mut v = vec!["python3", "-c", script];
    v.extend_from_slice(args);
    sb.run(&v)
}

/// `python3 -c SCRIPT ARGS...` natively on the host, in `dir`.
fn py_native(dir: &Path, script: &str, args: &[&str]) -> Out {
    let mut v = vec!["python3", "-c", script];
    v.extend_from_slice(args);
    native(&v, dir)
}

/// Requires both runs to succeed and to print the same lines; shows a line diff otherwise.
#[track_caller]
fn assert_same_as_native(what: &str, host: &Out, inside: &Out) {
    assert_eq!(
        host.code(),
        Some(0),
        "{what}: the native run failed\n{host}"
    );
    assert_eq!(
        inside.code(),
        Some(0),
        "{what}: the run inside failed\n{inside}"
    );
    if host.stdout != inside.stdout {
        let (h, i): (Vec<&str>, Vec<&str>) = (host.stdout_lines(), inside.stdout_lines());
        let mut diff = String::new();
        for k in 0..h.len().max(i.len()) {
            let (a, b) = (h.get(k).copied(), i.get(k).copied());
            if a != b {
                diff += &format!(
                    "  native: {}\n  inside: {}\n",
                    a.unwrap_or("<none>"),
                    b.unwrap_or("<none>")
                );
            }
        }
        panic!(
            "{what}: inside the sandbox differs from the host\n{diff}\n=== native ===\n{host}\n\
             === inside ===\n{inside}"
        );
    }
}

/// The value of `key=` on the line starting with `tag ` (or the first `key=` if tag is "").
fn kv<'a>(out: &'a Out, tag: &str, key: &str) -> Option<&'a str> {
    out.stdout
        .lines()
        .filter(|l| tag.is_empty() || l.split(' ').next() == Some(tag))
        .flat_map(|l| l.split(' '))
        .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
}

/// The lines of a python script's self-checks that failed (it prints `FAIL ...`).
#[track_caller]
fn assert_no_fail_lines(what: &str, out: &Out) {
    let fails: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.starts_with("FAIL"))
        .collect();
    assert!(fails.is_empty(), "{what}: {fails:#?}\n{out}");
    out.ok();
}
