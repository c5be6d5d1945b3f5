//! The access policy (read/write/predict/deny lists, Gentoo sandbox semantics), its violation
//! log, summary, `-v`, `--audit`, `--policy` files, and the escapes it must close: each in its
//! own file below; here, the helpers they share (the Gentoo log read back, a host tree's
//! snapshot, the `try` shell function).
//!
//! `E2E_ARGS=policy` runs just these. Host state is always checked natively after a run.

mod escape;
mod file;
mod lists;
mod log;
mod ops;
mod trees;

use std::collections::BTreeMap;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::common::*;

// =============================================================================================
// Helpers

const SUMMARY_FIRST: &str =
    " * ----------------------- SANDBOX ACCESS VIOLATION SUMMARY -----------------------";

fn summary_last() -> String {
    format!(" * {}", "-".repeat(80))
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// One violation of a Gentoo log: `F:`, `S:`, `P:`, `A:`, `R:`, `C:` (key without the colon).
type Block = BTreeMap<String, String>;

/// The violation blocks of a Gentoo log (after the header; blocks separated by blank lines).
#[track_caller]
fn log_blocks(log: &str) -> Vec<Block> {
    assert!(
        log.starts_with(LOG_HEADER),
        "the log should start with the header:\n{log}"
    );
    log[LOG_HEADER.len()..]
        .split("\n\n")
        .filter(|b| !b.trim().is_empty())
        .map(|b| {
            b.lines()
                .filter_map(|l| {
                    let (k, v) = l.split_once(": ")?;
                    Some((k.to_string(), v.to_string()))
                })
                .collect()
        })
        .collect()
}

fn read_log(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("log {}: {e}", p.display()))
}

/// Whether the log has a denied violation `f` on `path`.
fn has_block(blocks: &[Block], f: &str, path: &Path) -> bool {
    blocks.iter().any(|b| {
        b.get("F").map(String::as_str) == Some(f)
            && b.get("S").map(String::as_str) == Some("deny")
            && b.get("P").map(String::as_str) == Some(s(path))
    })
}

fn has_summary(out: &Out) -> bool {
    out.stderr.contains("SANDBOX ACCESS VIOLATION SUMMARY")
}

/// The value of the user xattr `name` of `p` (not following symlinks), if any.
fn xattr(p: &Path, name: &str) -> Option<Vec<u8>> {
    let cp = CString::new(p.as_os_str().as_bytes()).unwrap();
    let cn = CString::new(name).unwrap();
    let mut buf = vec![0u8; 256];
    // SAFETY: valid C strings and a buffer of the size given.
    let n =
        unsafe { libc::lgetxattr(cp.as_ptr(), cn.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    (n >= 0).then(|| {
        buf.truncate(n as usize);
        buf
    })
}

#[track_caller]
fn set_xattr(p: &Path, name: &str, value: &[u8]) {
    let cp = CString::new(p.as_os_str().as_bytes()).unwrap();
    let cn = CString::new(name).unwrap();
    // SAFETY: valid C strings and a value buffer of the size given.
    let r = unsafe {
        libc::setxattr(
            cp.as_ptr(),
            cn.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    assert_eq!(
        r,
        0,
        "setxattr {} {name}: {} (the test needs user xattrs on /tmp)",
        p.display(),
        std::io::Error::last_os_error()
    );
}

/// Everything observable about a host tree: per relative path, type, mode, owner, size,
/// mtime, link count, inode, content or link target, and the `user.fusebox` xattr.
fn snapshot(dir: &Path) -> BTreeMap<String, String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for p in entries {
            let m = std::fs::symlink_metadata(&p).unwrap();
            let ft = m.file_type();
            let what = if ft.is_symlink() {
                format!("link->{}", std::fs::read_link(&p).unwrap().display())
            } else if ft.is_file() {
                format!(
                    "file:{:?}",
                    String::from_utf8_lossy(&std::fs::read(&p).unwrap())
                )
            } else if ft.is_dir() {
                "dir".to_string()
            } else {
                format!("other:{:?}", ft)
            };
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            out.insert(
                rel,
                format!(
                    "{what} mode={:o} uid={} size={} mtime={}.{} nlink={} ino={} xattr={:?}",
                    m.mode(),
                    m.uid(),
                    m.size(),
                    m.mtime(),
                    m.mtime_nsec(),
                    m.nlink(),
                    m.ino(),
                    xattr(&p, "user.fusebox")
                ),
            );
            if ft.is_dir() {
                walk(root, &p, out);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// Rows `name|status|last line of output` printed by the `try` shell function below.
struct Tried {
    rows: BTreeMap<String, (String, String)>,
}

/// `try NAME CMD...`: runs CMD, prints `NAME|$?|last line of its output`.
const TRY_FN: &str = r#"try() { name=$1; shift; msg=$("$@" 2>&1 </dev/null); rc=$?; echo "$name|$rc|$(printf '%s\n' "$msg" | tail -n 1)"; }
"#;

impl Tried {
    #[track_caller]
    fn parse(out: &Out) -> Tried {
        let rows = out
            .stdout
            .lines()
            .filter_map(|l| {
                let mut it = l.splitn(3, '|');
                Some((
                    it.next()?.to_string(),
                    (it.next()?.to_string(), it.next()?.to_string()),
                ))
            })
            .collect();
        Tried { rows }
    }

    #[track_caller]
    fn get(&self, name: &str, out: &Out) -> &(String, String) {
        self.rows
            .get(name)
            .unwrap_or_else(|| panic!("no result for `{name}`\n{out}"))
    }

    #[track_caller]
    fn expect_ok(&self, name: &str, out: &Out) {
        let (rc, msg) = self.get(name, out);
        assert_eq!(rc, "0", "`{name}` should succeed: {msg}\n{out}");
    }

    #[track_caller]
    fn expect_err(&self, name: &str, err: &str, out: &Out) {
        let (rc, msg) = self.get(name, out);
        assert_ne!(rc, "0", "`{name}` should fail\n{out}");
        assert!(
            msg.contains(err),
            "`{name}` should fail with {err:?}, got {msg:?}\n{out}"
        );
    }
}

const EACCES: &str = "Permission denied";
