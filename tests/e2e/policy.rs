//! The access policy (read/write/predict/deny lists, Gentoo sandbox semantics), its violation
//! log, summary, `-v`, `--audit`, `--policy` files, and the escapes it must close.
//!
//! `E2E_ARGS=policy` runs just these. Host state is always checked natively after a run.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use tempfile::TempDir;

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

// =============================================================================================
// 1. Every write-class operation: allowed / denied / predicted

/// The operations, each on its own path under $D (the dir under test); $A is always writable.
const WRITE_OPS: &str = r#"D=$1 A=$2
try create sh -c 'echo new > "$1"' sh "$D/new-file"
try overwrite sh -c 'echo new > "$1"' sh "$D/f-overwrite"
try truncate python3 -c 'import os, sys; os.truncate(sys.argv[1], 3)' "$D/f-truncate"
try mkdir mkdir "$D/new-dir"
try rmdir rmdir "$D/d-rmdir"
try unlink rm "$D/f-unlink"
try rename-src mv "$D/f-rename" "$A/renamed"
try rename-dst mv "$A/own-rename" "$D/renamed-in"
try link-src ln "$D/f-link" "$A/hardlink"
try link-dst ln "$A/own-link" "$D/new-hardlink"
try symlink ln -s target "$D/new-symlink"
try chmod chmod 0600 "$D/f-chmod"
try chown chown "$(id -u)" "$D/f-chown"
try utimes touch -d @1000000000 "$D/f-utimes"
try setxattr python3 -c 'import os, sys; os.setxattr(sys.argv[1], "user.fusebox", b"set")' "$D/f-setxattr"
try removexattr python3 -c 'import os, sys; os.removexattr(sys.argv[1], "user.fusebox")' "$D/f-removexattr"
try mkfifo mkfifo "$D/new-fifo"
try mknod python3 -c 'import os, stat, sys; os.mknod(sys.argv[1], 0o644 | stat.S_IFREG)' "$D/new-node"
try tmpfile python3 -c 'import os, sys; os.write(os.open(sys.argv[1], os.O_TMPFILE | os.O_WRONLY, 0o600), b"x")' "$D"
try tmpfile-link python3 -c 'import ctypes, os, sys
fd = os.open(sys.argv[1], os.O_TMPFILE | os.O_WRONLY, 0o644)
os.write(fd, b"tmp\n")
if ctypes.CDLL(None, use_errno=True).linkat(-100, b"/proc/self/fd/%d" % fd, -100, sys.argv[2].encode(), 0x400):
    sys.exit(os.strerror(ctypes.get_errno()))' "$A" "$D/new-tmpfile-link"
exit 0"#;

/// (name in WRITE_OPS, Gentoo name of the violation, path under $D or $A it is reported on).
const WRITE_OP_VIOLATIONS: &[(&str, &str, &str)] = &[
    ("create", "open_wr_creat", "D/new-file"),
    ("overwrite", "open_wr", "D/f-overwrite"),
    ("truncate", "truncate", "D/f-truncate"),
    ("mkdir", "mkdir", "D/new-dir"),
    ("rmdir", "rmdir", "D/d-rmdir"),
    ("unlink", "unlink", "D/f-unlink"),
    ("rename-src", "rename", "D/f-rename"),
    ("rename-dst", "rename", "D/renamed-in"),
    ("link-src", "link", "D/f-link"),
    ("link-dst", "link", "D/new-hardlink"),
    ("symlink", "symlink", "D/new-symlink"),
    ("chmod", "chmod", "D/f-chmod"),
    ("chown", "chown", "D/f-chown"),
    ("utimes", "utimensat", "D/f-utimes"),
    ("setxattr", "setxattr", "D/f-setxattr"),
    ("removexattr", "removexattr", "D/f-removexattr"),
    ("mkfifo", "mkfifo", "D/new-fifo"),
    ("mknod", "mknod", "D/new-node"),
    // open(dir, O_TMPFILE) names only the directory: Gentoo judges it as open_wr of it.
    ("tmpfile", "open_wr", "D"),
    ("tmpfile-link", "link", "D/new-tmpfile-link"),
];

/// A temp dir with D (the dir under test), A (always writable) and L (for the log), filled in
/// for WRITE_OPS.
struct OpsDirs {
    t: TempDir,
}

impl OpsDirs {
    fn new() -> OpsDirs {
        let t = tmpdir();
        let (d, a) = (t.path().join("D"), t.path().join("A"));
        for x in [&d, &a, &t.path().join("L")] {
            std::fs::create_dir(x).unwrap();
        }
        for f in [
            "f-overwrite",
            "f-truncate",
            "f-unlink",
            "f-rename",
            "f-link",
            "f-chmod",
            "f-chown",
            "f-utimes",
            "f-setxattr",
            "f-removexattr",
        ] {
            std::fs::write(d.join(f), "original\n").unwrap();
            std::fs::set_permissions(d.join(f), std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        set_xattr(&d.join("f-removexattr"), "user.fusebox", b"old");
        std::fs::create_dir(d.join("d-rmdir")).unwrap();
        std::fs::write(a.join("own-rename"), "mine\n").unwrap();
        std::fs::write(a.join("own-link"), "mine\n").unwrap();
        OpsDirs { t }
    }
    fn d(&self) -> PathBuf {
        self.t.path().join("D")
    }
    fn a(&self) -> PathBuf {
        self.t.path().join("A")
    }
    fn log(&self) -> PathBuf {
        self.t.path().join("L/log")
    }
    /// D and A as they are on the host.
    fn snapshot(&self) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
        (snapshot(&self.d()), snapshot(&self.a()))
    }
    fn path(&self, rel: &str) -> PathBuf {
        self.t.path().join(rel)
    }
    fn run(&self, sb: Sandbox) -> (Out, Tried) {
        let out = sb
            .opt("--log")
            .opt(self.log())
            .opt("--no-default-write")
            .opt("-w")
            .opt(self.a())
            .run_sh_args(&format!("{TRY_FN}{WRITE_OPS}"), &[self.d(), self.a()]);
        let tried = Tried::parse(&out);
        (out, tried)
    }
}

e2e!(shared, policy_write_ops_allowed_under_write);
fn policy_write_ops_allowed_under_write(h: Helper) {
    let x = OpsDirs::new();
    let (out, tried) = x.run(
        Sandbox::new(h)
            .opt("--no-default-write")
            .opt("-w")
            .opt(x.d()),
    );
    out.ok();
    for (name, _, _) in WRITE_OP_VIOLATIONS {
        tried.expect_ok(name, &out);
    }
    assert!(!has_summary(&out), "no violation, no summary\n{out}");
    assert!(!x.log().exists(), "no violation, no log\n{out}");
    let read = |rel: &str| {
        std::fs::read_to_string(x.path(rel)).unwrap_or_else(|e| panic!("{rel}: {e}\n{out}"))
    };
    let meta = |rel: &str| {
        std::fs::symlink_metadata(x.path(rel)).unwrap_or_else(|e| panic!("{rel}: {e}\n{out}"))
    };
    let gone = |rel: &str| std::fs::symlink_metadata(x.path(rel)).is_err();
    assert_eq!(read("D/new-file"), "new\n");
    assert_eq!(read("D/f-overwrite"), "new\n");
    assert_eq!(read("D/f-truncate"), "ori");
    assert!(meta("D/new-dir").is_dir());
    assert!(gone("D/d-rmdir"), "rmdir on the host");
    assert!(gone("D/f-unlink"), "unlink on the host");
    assert!(
        gone("D/f-rename") && read("A/renamed") == "original\n",
        "rename out of D"
    );
    assert!(
        gone("A/own-rename") && read("D/renamed-in") == "mine\n",
        "rename into D"
    );
    assert_eq!(
        meta("A/hardlink").ino(),
        meta("D/f-link").ino(),
        "link from D"
    );
    assert_eq!(
        meta("D/new-hardlink").ino(),
        meta("A/own-link").ino(),
        "link into D"
    );
    assert_eq!(
        std::fs::read_link(x.path("D/new-symlink")).unwrap(),
        Path::new("target")
    );
    assert_eq!(meta("D/f-chmod").mode() & 0o7777, 0o600);
    assert_eq!(meta("D/f-chown").uid(), my_uid());
    assert_eq!(meta("D/f-utimes").mtime(), 1_000_000_000);
    assert_eq!(
        xattr(&x.path("D/f-setxattr"), "user.fusebox").as_deref(),
        Some(&b"set"[..])
    );
    assert_eq!(xattr(&x.path("D/f-removexattr"), "user.fusebox"), None);
    assert!(
        meta("D/new-fifo").file_type().is_fifo(),
        "mkfifo on the host"
    );
    assert!(meta("D/new-node").is_file(), "mknod S_IFREG on the host");
    assert_eq!(
        read("D/new-tmpfile-link"),
        "tmp\n",
        "a tmpfile linked into D"
    );
}

e2e!(shared, policy_write_ops_denied_are_refused_and_logged);
fn policy_write_ops_denied_are_refused_and_logged(h: Helper) {
    let x = OpsDirs::new();
    let before = x.snapshot();
    // -w A only: the defaults (cwd, /tmp) are gone, so D (under /tmp) is protected.
    let (out, tried) = x.run(Sandbox::new(h));
    out.expect_code(1); // sh exited 0, but there were violations
    for (name, _, _) in WRITE_OP_VIOLATIONS {
        tried.expect_err(name, EACCES, &out);
    }
    assert_eq!(x.snapshot(), before, "the host is unchanged\n{out}");
    assert!(has_summary(&out), "{out}");
    let log = read_log(&x.log());
    let blocks = log_blocks(&log);
    for (name, f, rel) in WRITE_OP_VIOLATIONS {
        assert!(
            has_block(&blocks, f, &x.path(rel)),
            "`{name}`: the log should have `F: {f}` on {rel}\n{log}"
        );
    }
}

e2e!(shared, policy_write_ops_predicted_fail_quietly);
fn policy_write_ops_predicted_fail_quietly(h: Helper) {
    let x = OpsDirs::new();
    let before = x.snapshot();
    let (out, tried) = x.run(Sandbox::new(h).opt("-v").opt("--predict").opt(x.d()));
    out.expect_code(0); // the build's own status: no violation
    for (name, _, _) in WRITE_OP_VIOLATIONS {
        tried.expect_err(name, EACCES, &out);
    }
    assert_eq!(x.snapshot(), before, "the host is unchanged\n{out}");
    assert!(!has_summary(&out), "predicted: no summary\n{out}");
    assert!(
        !out.stderr.contains("ACCESS DENIED"),
        "predicted: no -v line\n{out}"
    );
    assert!(!x.log().exists(), "predicted: no log\n{out}");
}

/// O_TMPFILE made in and linked from the build dir, into a protected dir each way linkat(2)
/// offers.
const TMPFILE_POLICY_SCRIPT: &str = r#"
import ctypes, errno, os, sys
libc = ctypes.CDLL(None, use_errno=True)
def linkat(fd, new, how):
    if how == "proc":
        r = libc.linkat(-100, b"/proc/self/fd/%d" % fd, -100, new.encode(), 0x400)
    else:
        r = libc.linkat(fd, b"", -100, new.encode(), 0x1000)
    return "ok" if r == 0 else errno.errorcode[ctypes.get_errno()]
P = sys.argv[1]
try:
    os.open(P, os.O_TMPFILE | os.O_RDWR, 0o600)
    print("tmpfile-in-protected=ok")
except OSError as e:
    print(f"tmpfile-in-protected={errno.errorcode[e.errno]}")
fd = os.open(".", os.O_TMPFILE | os.O_RDWR, 0o600)
os.write(fd, b"made here\n")
print(f"link-proc-into-protected={linkat(fd, P + '/stolen', 'proc')}")
print(f"link-empty-path-into-protected={linkat(fd, P + '/stolen2', 'empty')}")
print(f"link-here={linkat(fd, 'kept', 'proc')}")
"#;

e2e!(shared, policy_o_tmpfile_is_judged_on_its_directory);
/// O_TMPFILE is judged as a write of its directory, and giving one a name as a link: in a
/// directory outside the write set it is refused with EACCES and logged; a tmpfile made in
/// the build dir cannot be linked into such a directory, but can be into the build dir.
fn policy_o_tmpfile_is_judged_on_its_directory(h: Helper) {
    let protected = tmpdir();
    std::fs::write(protected.path().join("file"), "original\n").unwrap();
    let before = snapshot(protected.path());
    let sb = Sandbox::new(h);
    let bd = sb.dir().to_path_buf();
    let logdir = tmpdir();
    let log = logdir.path().join("log");
    // -w the build dir only: `protected` (under /tmp) is outside the write set.
    let sb = sb
        .opt("--no-default-write")
        .opt("-w")
        .opt(&bd)
        .opt("--log")
        .opt(&log);
    let p = protected.path();
    let out = sb.run(&["python3", "-c", TMPFILE_POLICY_SCRIPT, s(p)]);
    out.expect_code(1); // python exited 0, but there were violations
    let got = |k: &str| {
        out.stdout
            .lines()
            .find_map(|l| l.strip_prefix(k)?.strip_prefix('='))
            .unwrap_or_else(|| panic!("no {k}\n{out}"))
    };
    assert_eq!(got("tmpfile-in-protected"), "EACCES", "{out}");
    assert_eq!(got("link-proc-into-protected"), "EACCES", "{out}");
    assert_eq!(got("link-empty-path-into-protected"), "EACCES", "{out}");
    assert_eq!(got("link-here"), "ok", "{out}");
    assert_eq!(snapshot(p), before, "the protected dir is unchanged\n{out}");
    assert_eq!(
        std::fs::read_to_string(bd.join("kept")).unwrap(),
        "made here\n"
    );
    let blocks = log_blocks(&read_log(&log));
    assert!(has_block(&blocks, "open_wr", p), "{blocks:#?}");
    assert!(has_block(&blocks, "link", &p.join("stolen")), "{blocks:#?}");
    assert!(
        has_block(&blocks, "link", &p.join("stolen2")),
        "{blocks:#?}"
    );
    assert_eq!(
        blocks.len(),
        3,
        "nothing else is a violation (the tmpfile's own side of a link is its directory, \
         the build dir)\n{blocks:#?}"
    );
}

// =============================================================================================
// 2. DENY

e2e!(shared, policy_deny_refuses_reads_and_writes_under_it);
fn policy_deny_refuses_reads_and_writes_under_it(h: Helper) {
    let sb = Sandbox::new(h);
    let d = sb.dir().to_path_buf();
    let logdir = tmpdir();
    let log = logdir.path().join("log");
    native_sh(
        r#"set -e
mkdir secret pub
echo secret > secret/file
echo public > pub/file
ln -s file secret/link
cp /bin/true secret/prog"#,
        &[] as &[&str],
        &d,
    );
    let before = snapshot(&d);
    // The cwd (in the default write set) with a denied dir inside.
    let sb = sb
        .opt("--log")
        .opt(&log)
        .opt("--deny")
        .opt(d.join("secret"));
    let out = sb.run_sh(&format!(
        r#"{TRY_FN}try cat cat secret/file
try write sh -c 'echo evil > secret/file'
try create sh -c 'echo evil > secret/new'
try mkdir mkdir secret/dir
try ls-secret ls secret
try readlink readlink -v secret/link
try exec ./secret/prog
try ls-parent sh -c 'ls | tr "\n" " "'
try stat stat -c %s secret/file
try test-e test -e secret/file
try cat-pub cat pub/file
try write-pub sh -c 'echo more >> pub/file && cat pub/file | tr "\n" " "'
exit 0"#
    ));
    out.expect_code(1);
    let t = Tried::parse(&out);
    for name in [
        "cat",
        "write",
        "create",
        "mkdir",
        "ls-secret",
        "readlink",
        "exec",
    ] {
        t.expect_err(name, EACCES, &out);
    }
    for name in ["ls-parent", "stat", "test-e", "cat-pub", "write-pub"] {
        t.expect_ok(name, &out);
    }
    assert_eq!(t.get("ls-parent", &out).1, "pub secret ", "{out}");
    assert_eq!(t.get("stat", &out).1, "7", "{out}");
    assert_eq!(t.get("cat-pub", &out).1, "public", "{out}");
    assert_eq!(t.get("write-pub", &out).1, "public more ", "{out}");
    let mut after = snapshot(&d);
    after.remove("pub/file");
    let mut before = before;
    before.remove("pub/file");
    assert_eq!(after, before, "nothing under secret changed\n{out}");
    let blocks = log_blocks(&read_log(&log));
    for (f, rel) in [
        ("open_rd", "secret/file"),
        ("open_wr", "secret/file"),
        ("open_wr_creat", "secret/new"),
        ("mkdir", "secret/dir"),
        ("opendir", "secret"),
        ("readlink", "secret/link"),
    ] {
        assert!(
            has_block(&blocks, f, &d.join(rel)),
            "the log should have `F: {f}` on {rel}: {blocks:#?}\n{out}"
        );
    }
    assert!(
        blocks
            .iter()
            .all(|b| b["P"].starts_with(s(&d.join("secret")))),
        "only paths under the denied dir are reported: {blocks:#?}"
    );
}

// =============================================================================================
// 3. READ

e2e!(shared, policy_read_list_limits_reads);
fn policy_read_list_limits_reads(h: Helper) {
    let sb = Sandbox::new(h);
    let t = tmpdir();
    let d = t.path();
    let log = d.join("log");
    native_sh(
        "mkdir in out && echo inside > in/f && echo outside > out/f",
        &[] as &[&str],
        d,
    );
    // What sh, cat and the dynamic loader need, the build's cwd, and the readable dir.
    let cwd = sb.dir().to_path_buf();
    // --read adds to the default (all of /): --no-default-read starts from nothing.
    let mut sb = sb
        .opt("--no-default-read")
        .opt("--log")
        .opt(&log)
        .opt("--read")
        .opt(cwd);
    for p in [
        "/usr", "/bin", "/lib", "/lib64", "/lib32", "/libx32", "/etc",
    ] {
        if Path::new(p).exists() {
            sb = sb.opt("--read").opt(p);
        }
    }
    let out = sb.opt("--read").opt(d.join("in")).run_sh_args(
        &format!("{TRY_FN}try in cat \"$1/in/f\"\ntry out cat \"$1/out/f\"\nexit 0"),
        &[d],
    );
    out.expect_code(1);
    let tr = Tried::parse(&out);
    tr.expect_ok("in", &out);
    assert_eq!(tr.get("in", &out).1, "inside", "{out}");
    tr.expect_err("out", EACCES, &out);
    let blocks = log_blocks(&read_log(&log));
    assert!(
        has_block(&blocks, "open_rd", &d.join("out/f")),
        "the log should have `F: open_rd` on out/f: {blocks:#?}\n{out}"
    );
    assert_eq!(
        blocks.len(),
        1,
        "only that read is a violation: {blocks:#?}\n{out}"
    );
}

// =============================================================================================
// 4. Gentoo quirks

e2e!(shared, policy_gentoo_quirks);
fn policy_gentoo_quirks(h: Helper) {
    // EEXIST and ENOENT are answered before the policy: no violation.
    let logdir = tmpdir();
    let log = logdir.path().join("log");
    let out = Sandbox::new(h).opt("--log").opt(&log).run_sh(&format!(
        r#"{TRY_FN}try mkdir-existing mkdir /etc
try no-parent sh -c 'echo x > /nonexistent-fusebox-e2e/dir/file'
try no-parent-touch touch /nonexistent-fusebox-e2e/dir/file
try mkdir-p mkdir -p /etc /usr/bin
exit 0"#
    ));
    out.expect_code(0);
    let t = Tried::parse(&out);
    t.expect_err("mkdir-existing", "File exists", &out);
    t.expect_err("no-parent", "", &out);
    t.expect_err("no-parent-touch", "No such file or directory", &out);
    t.expect_ok("mkdir-p", &out);
    assert!(!has_summary(&out), "{out}");
    assert!(!log.exists(), "EEXIST/ENOENT are no violations\n{out}");

    // access(W_OK) of a protected file is refused: `test -w` is false.
    let out = Sandbox::new(h)
        .opt("--log")
        .opt(&log)
        .run_sh("if test -w /etc/passwd; then echo writable; else echo not-writable; fi; test -r /etc/passwd && echo readable");
    assert_eq!(out.stdout, "not-writable\nreadable\n", "{out}");

    // Whole path components: -w T/foo covers T/foo/x, never T/foobar/x.
    let t = tmpdir();
    let (dir_foo, foobar) = (t.path().join("foo"), t.path().join("foobar"));
    std::fs::create_dir(&dir_foo).unwrap();
    std::fs::create_dir(&foobar).unwrap();
    let log2 = logdir.path().join("log2");
    let out = Sandbox::new(h)
        .opt("--log")
        .opt(&log2)
        .opt("--no-default-write").opt("-w")
        .opt(&dir_foo)
        .run_sh_args(
            &format!("{TRY_FN}try foo sh -c 'echo x > \"$1/x\"' sh \"$1\"\ntry foobar sh -c 'echo x > \"$1/x\"' sh \"$2\"\nexit 0"),
            &[&dir_foo, &foobar],
        );
    out.expect_code(1);
    let tr = Tried::parse(&out);
    tr.expect_ok("foo", &out);
    tr.expect_err("foobar", EACCES, &out);
    assert!(dir_foo.join("x").exists());
    assert!(
        !foobar.join("x").exists(),
        "-w .../foo must not cover .../foobar"
    );
    let blocks = log_blocks(&read_log(&log2));
    assert!(
        has_block(&blocks, "open_wr_creat", &foobar.join("x")),
        "{blocks:#?}"
    );
}

// =============================================================================================
// 5. The log file

e2e!(shared, policy_log_format_is_gentoos);
fn policy_log_format_is_gentoos(h: Helper) {
    let logdir = tmpdir();
    let log = logdir.path().join("sandbox.log");
    let target = format!("/etc/{}", unique("fusebox-e2e-"));
    let out = Sandbox::new(h)
        .opt("--log")
        .opt(&log)
        .run(&["mkdir", &target]);
    out.expect_code(1);
    let expected = format!(
        "{LOG_HEADER}\nF: mkdir\nS: deny\nP: {target}\nA: {target}\nR: {target}\nC: mkdir {target} \n"
    );
    assert_eq!(read_log(&log), expected, "the whole log\n{out}");
    assert!(!Path::new(&target).exists());

    // A relative path: P as passed is the absolute one the mirror saw; A and R agree.
    let sb = Sandbox::new(h);
    let hd = tmpdir();
    let out = sb
        .opt("--log")
        .opt(&log)
        .opt("--no-default-write")
        .opt("-w")
        .opt(logdir.path())
        .cwd(hd.path())
        .run(&["touch", "rel-file"]);
    out.expect_code(1);
    let blocks = log_blocks(&read_log(&log));
    assert_eq!(
        blocks.len(),
        1,
        "a stale log is replaced, not appended to: {blocks:#?}"
    );
    let b = &blocks[0];
    let abs = hd.path().join("rel-file");
    assert_eq!(b["F"], "open_wr_creat");
    assert_eq!(b["A"], s(&abs));
    assert_eq!(b["R"], s(&abs));
    assert_eq!(b["C"], "touch rel-file ");
}

e2e!(shared, policy_log_only_on_violation_and_stale_log_removed);
fn policy_log_only_on_violation_and_stale_log_removed(h: Helper) {
    let logdir = tmpdir();
    let log = logdir.path().join("sandbox.log");
    let out = Sandbox::new(h).opt("--log").opt(&log).run(&["true"]);
    out.ok();
    assert!(!log.exists(), "no violation: no log\n{out}");
    // A stale log from an earlier run is removed at start (any other file is refused:
    // tests/e2e/record.rs).
    let stale = format!("{LOG_HEADER}\nF: mkdir\nS: deny\nP: /STALE\nA: /STALE\nR: /STALE\nC: x\n");
    std::fs::write(&log, &stale).unwrap();
    let out = Sandbox::new(h).opt("--log").opt(&log).run_sh("echo ok");
    out.ok();
    assert!(!log.exists(), "the stale log should be removed\n{out}");
    std::fs::write(&log, &stale).unwrap();
    let out = Sandbox::new(h)
        .opt("--log")
        .opt(&log)
        .run_sh("mkdir /etc/fusebox-e2e-stale 2>/dev/null; exit 0");
    out.expect_code(1);
    let text = read_log(&log);
    assert!(!text.contains("STALE"), "{text}");
    assert_eq!(log_blocks(&text).len(), 1, "{text}");
}

e2e!(shared, policy_log_is_seen_at_once_inside);
/// Portage tests `[[ -s ${SANDBOX_LOG} ]]` inside the sandbox after each phase: the log
/// fusebox writes on the host must be seen at once, however long the kernel caches other
/// answers — also through a symlinked directory, and after an earlier "no such file".
fn policy_log_is_seen_at_once_inside(h: Helper) {
    let sb = Sandbox::new(h);
    let dir = sb.dir().to_path_buf();
    std::fs::create_dir(dir.join("real")).unwrap();
    std::os::unix::fs::symlink("real", dir.join("via-link")).unwrap();
    for log_dir in ["real", "via-link"] {
        let log = dir.join(log_dir).join("sandbox.log");
        let out = Sandbox::new(h)
            .cwd(&dir)
            .opt("--log")
            .opt(&log)
            .run_sh_args(
                r#"log=$1
[ -e "$log" ] || echo absent-before
mkdir /etc/fusebox-e2e-seen-1 2>/dev/null
[ -s "$log" ] && echo present-after-1
echo "blocks-1 $(grep -c '^F:' "$log")"
mkdir /etc/fusebox-e2e-seen-2 2>/dev/null
echo "blocks-2 $(grep -c '^F:' "$log")"
echo "size $(stat -c %s "$log")"
exit 0"#,
                &[&log],
            );
        out.expect_code(1);
        let on_host = std::fs::metadata(&log).unwrap().len();
        for line in [
            "absent-before".to_string(),
            "present-after-1".to_string(),
            "blocks-1 1".to_string(),
            "blocks-2 2".to_string(),
            format!("size {on_host}"),
        ] {
            assert!(
                out.stdout_lines().contains(&line.as_str()),
                "log in {log_dir}/: the build should see {line:?}\n{out}"
            );
        }
    }
}

e2e!(shared, policy_default_log_path);
fn policy_default_log_path(h: Helper) {
    // violations.log in a new 0700 directory: under $XDG_RUNTIME_DIR when that is
    // private, else under $TMPDIR (fusebox-UID-XXXXXX), else /tmp.
    let runtime = tmpdir();
    std::fs::set_permissions(runtime.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let td = tmpdir();
    let cases: [(Option<&Path>, Option<&Path>, PathBuf, String); 3] = [
        (
            Some(runtime.path()),
            Some(td.path()),
            runtime.path().to_path_buf(),
            "fusebox-".into(),
        ),
        (
            None,
            Some(td.path()),
            td.path().to_path_buf(),
            format!("fusebox-{}-", my_uid()),
        ),
        (
            None,
            None,
            PathBuf::from("/tmp"),
            format!("fusebox-{}-", my_uid()),
        ),
    ];
    for (xdg, tmp, parent, prefix) in cases {
        let mut sb = Sandbox::new(h).env_remove("XDG_RUNTIME_DIR");
        if let Some(x) = xdg {
            sb = sb.env("XDG_RUNTIME_DIR", x);
        }
        if let Some(t) = tmp {
            sb = sb.env("TMPDIR", t);
        }
        let out = sb.run(&["mkdir", "/etc/fusebox-e2e-default-log"]);
        out.expect_code(1);
        let line = out
            .stderr
            .lines()
            .find_map(|l| l.strip_prefix(" * LOG FILE: \""))
            .unwrap_or_else(|| panic!("no LOG FILE line\n{out}"));
        let log = PathBuf::from(line.trim_end_matches('"'));
        let dir = log.parent().unwrap().to_path_buf();
        let text = std::fs::read_to_string(&log);
        let mode = std::fs::metadata(&dir).map(|m| m.permissions().mode() & 0o777);
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(dir.parent(), Some(parent.as_path()), "{out}");
        let name = dir.file_name().unwrap().to_str().unwrap();
        assert!(
            name.starts_with(&prefix) && name.len() == prefix.len() + 6,
            "{out}"
        );
        assert_eq!(log.file_name().unwrap(), "violations.log");
        assert_eq!(mode.ok(), Some(0o700), "{out}");
        assert!(log_blocks(&text.unwrap()).len() == 1, "{out}");
    }
    // A $XDG_RUNTIME_DIR others can enter is not used.
    let open_dir = tmpdir();
    std::fs::set_permissions(open_dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = Sandbox::new(h)
        .env("XDG_RUNTIME_DIR", open_dir.path())
        .env("TMPDIR", td.path())
        .run(&["mkdir", "/etc/fusebox-e2e-default-log"]);
    out.expect_code(1);
    assert!(
        out.stderr
            .contains(&format!(" * LOG FILE: \"{}/", s(td.path()))),
        "{out}"
    );
}

// =============================================================================================
// 6. Summary and exit status

e2e!(shared, policy_summary_and_exit_status);
fn policy_summary_and_exit_status(h: Helper) {
    let logdir = tmpdir();
    let log = logdir.path().join("log");
    let out = Sandbox::new(h)
        .opt("--log")
        .opt(&log)
        .run_sh("mkdir /etc/fusebox-e2e-summary 2>/dev/null; exit 0");
    out.expect_code(1);
    let content = read_log(&log);
    let expected = format!(
        "{SUMMARY_FIRST}\n * LOG FILE: \"{}\"\n * \n{content}{}\n",
        log.display(),
        summary_last()
    );
    assert_eq!(out.stderr, expected, "the whole summary on stderr\n{out}");
    assert!(
        content.contains("P: /etc/fusebox-e2e-summary\n"),
        "{content}"
    );

    // The build's own failure status wins.
    let out = Sandbox::new(h)
        .opt("--log")
        .opt(&log)
        .run_sh("mkdir /etc/fusebox-e2e-summary 2>/dev/null; exit 3");
    out.expect_code(3);
    assert!(out.stderr.starts_with(SUMMARY_FIRST), "{out}");

    // No violation: the build's status, no summary.
    let out = Sandbox::new(h).opt("--log").opt(&log).run_sh("exit 5");
    out.expect_code(5);
    assert_eq!(out.stderr, "", "{out}");
    let out = Sandbox::new(h).opt("--log").opt(&log).run_sh("echo fine");
    out.ok();
    assert_eq!(out.stderr, "", "{out}");
}

// =============================================================================================
// 7. -v

e2e!(shared, policy_verbose_prints_each_denial_as_it_happens);
fn policy_verbose_prints_each_denial_as_it_happens(h: Helper) {
    let logdir = tmpdir();
    let target = format!("/etc/{}", unique("fusebox-e2e-v-"));
    let out = Sandbox::new(h)
        .opt("-v")
        .opt("--log")
        .opt(logdir.path().join("log"))
        .run_sh_args(
            r#"mkdir "$1" 2>/dev/null; echo after-mkdir >&2; echo x 2>/dev/null > /etc/passwd; echo after-write >&2"#,
            &[&target],
        );
    out.expect_code(1);
    let lines: Vec<&str> = out.stderr.lines().collect();
    let pos = |l: &str| {
        lines
            .iter()
            .position(|x| *x == l)
            .unwrap_or_else(|| panic!("no stderr line {l:?}\n{out}"))
    };
    let mkdir_line = format!(" * ACCESS DENIED:  mkdir:              {target}");
    let write_line = " * ACCESS DENIED:  open_wr:            /etc/passwd";
    let (m, a1, w, a2, sum) = (
        pos(&mkdir_line),
        pos("after-mkdir"),
        pos(write_line),
        pos("after-write"),
        pos(SUMMARY_FIRST),
    );
    assert!(
        m < a1 && a1 < w && w < a2 && a2 < sum,
        "each ACCESS DENIED line should come as it happens, before the summary\n{out}"
    );
    // Without -v: no such line.
    let out = Sandbox::new(h)
        .opt("--log")
        .opt(logdir.path().join("log"))
        .run_sh("mkdir /etc/fusebox-e2e-quiet 2>/dev/null; exit 0");
    out.expect_code(1);
    assert!(!out.stderr.contains("ACCESS DENIED"), "{out}");
}

// =============================================================================================
// 8. --audit

e2e!(shared, policy_audit_lets_operations_succeed);
fn policy_audit_lets_operations_succeed(h: Helper) {
    let t = tmpdir();
    let (a, d) = (t.path().join("A"), t.path().join("D"));
    std::fs::create_dir(&a).unwrap();
    std::fs::create_dir(&d).unwrap();
    std::fs::write(d.join("f"), "original\n").unwrap();
    let log = t.path().join("log");
    let out = Sandbox::new(h)
        .opt("--audit")
        .opt("--log")
        .opt(&log)
        .opt("--no-default-write")
        .opt("-w")
        .opt(&a)
        .run_sh_args(
            r#"set -e; echo audited > "$1/f"; mkdir "$1/newdir"; echo made > "$2/ok"; echo done"#,
            &[&d, &a],
        );
    out.expect_code(1);
    assert_eq!(out.stdout, "done\n", "{out}");
    assert_eq!(
        std::fs::read_to_string(d.join("f")).unwrap(),
        "audited\n",
        "the write happened"
    );
    assert!(d.join("newdir").is_dir(), "the mkdir happened");
    assert_eq!(std::fs::read_to_string(a.join("ok")).unwrap(), "made\n");
    assert!(has_summary(&out), "{out}");
    let blocks = log_blocks(&read_log(&log));
    assert!(has_block(&blocks, "open_wr", &d.join("f")), "{blocks:#?}");
    assert!(
        has_block(&blocks, "mkdir", &d.join("newdir")),
        "{blocks:#?}"
    );
    // Only the writes outside A (an O_TRUNC open that succeeds may also show as truncate).
    for b in &blocks {
        let f = d.join("f");
        let f = s(&f);
        let ok = (b["F"] == "open_wr" || b["F"] == "truncate") && b["P"] == f
            || b["F"] == "mkdir" && b["P"] == s(&d.join("newdir"));
        assert!(ok, "unexpected violation {b:?}: {blocks:#?}");
    }
}

// =============================================================================================
// 9. --policy FILE

e2e!(shared, policy_file_entries_work_like_options);
fn policy_file_entries_work_like_options(h: Helper) {
    let t = tmpdir();
    let p = t.path();
    native_sh(
        "mkdir -p a/secret p other && echo s > a/secret/file && echo o > other/file",
        &[] as &[&str],
        p,
    );
    let policy = p.join("policy");
    std::fs::write(
        &policy,
        format!(
            "# fusebox e2e policy\n\nwrite {0}/a\n  # indented comment\ndeny {0}/a/secret\npredict {0}/p\n",
            p.display()
        ),
    )
    .unwrap();
    let log = p.join("log");
    // Policy files add to the defaults (which hold /tmp, where P is): start empty.
    let out = Sandbox::new(h)
        .opt("--no-default-write")
        .opt("--policy")
        .opt(&policy)
        .opt("--log")
        .opt(&log)
        .run_sh_args(
            &format!(
                r#"{TRY_FN}T=$1
try write sh -c 'echo x > "$1/a/new"' sh "$T"
try deny-write sh -c 'echo x > "$1/a/secret/new"' sh "$T"
try deny-read cat "$T/a/secret/file"
try predict sh -c 'echo x > "$1/p/new"' sh "$T"
try other sh -c 'echo x > "$1/other/new"' sh "$T"
try read cat "$T/other/file"
exit 0"#
            ),
            &[p],
        );
    out.expect_code(1);
    let tr = Tried::parse(&out);
    tr.expect_ok("write", &out);
    tr.expect_ok("read", &out);
    for n in ["deny-write", "deny-read", "predict", "other"] {
        tr.expect_err(n, EACCES, &out);
    }
    assert!(p.join("a/new").exists());
    for rel in ["a/secret/new", "p/new", "other/new"] {
        assert!(!p.join(rel).exists(), "{rel} should not exist");
    }
    let blocks = log_blocks(&read_log(&log));
    let got: Vec<(String, String)> = blocks
        .iter()
        .map(|b| (b["F"].clone(), b["P"].clone()))
        .collect();
    let want: Vec<(String, String)> = [
        ("open_wr_creat", "a/secret/new"),
        ("open_rd", "a/secret/file"),
        ("open_wr_creat", "other/new"),
    ]
    .iter()
    .map(|(f, rel)| (f.to_string(), s(&p.join(rel)).to_string()))
    .collect();
    assert_eq!(
        got, want,
        "the violations (the predicted one not among them)\n{out}"
    );
}

e2e!(shared, policy_file_errors_are_usage_errors);
fn policy_file_errors_are_usage_errors(h: Helper) {
    let t = tmpdir();
    let expect = |content: &str, want: &[&str]| {
        let f = t.path().join("policy");
        std::fs::write(&f, content).unwrap();
        let out = Sandbox::new(h).opt("--policy").opt(&f).run(&["true"]);
        out.expect_code(2);
        let err = out.stderr.trim();
        assert!(
            err.starts_with("fusebox-run:") && err.lines().count() == 1,
            "one line\n{out}"
        );
        for w in want {
            assert!(err.contains(w), "the error should contain {w:?}\n{out}");
        }
    };
    expect(
        &format!("# ok\nwrite {}\nfrobnicate /x\n", t.path().display()),
        &["line 3"],
    );
    expect("\n\nread relative/path\n", &["line 3", "relative/path"]);
    expect("deny\n", &["line 1"]);
    // A missing file.
    let out = Sandbox::new(h)
        .opt("--policy")
        .opt(t.path().join("no-such-policy"))
        .run(&["true"]);
    out.expect_code(2);
}

// =============================================================================================
// 10. Escapes

e2e!(shared, policy_escape_hard_link_and_rename_into_build_dir);
fn policy_escape_hard_link_and_rename_into_build_dir(h: Helper) {
    let outside = tmpdir();
    let f = outside.path().join("file");
    std::fs::write(&f, "original\n").unwrap();
    let before = snapshot(outside.path());
    // -w the build dir only: `outside` (under /tmp) is protected.
    let sb = Sandbox::new(h);
    let bd = sb.dir().to_path_buf();
    let logdir = tmpdir();
    let log = logdir.path().join("log");
    let sb = sb
        .opt("--no-default-write")
        .opt("-w")
        .opt(&bd)
        .opt("--log")
        .opt(&log);
    let out = sb.run_sh_args(
        &format!(
            r#"{TRY_FN}try link ln "$1" hl
try rename python3 -c 'import os, sys; os.rename(sys.argv[1], "stolen")' "$1"
exit 0"#
        ),
        &[&f],
    );
    out.expect_code(1);
    let tr = Tried::parse(&out);
    tr.expect_err("link", EACCES, &out);
    tr.expect_err("rename", EACCES, &out);
    assert!(
        !bd.join("hl").exists() && !bd.join("stolen").exists(),
        "{out}"
    );
    assert_eq!(
        snapshot(outside.path()),
        before,
        "the protected file is untouched\n{out}"
    );
    let blocks = log_blocks(&read_log(&log));
    assert!(has_block(&blocks, "link", &f), "{blocks:#?}");
    assert!(has_block(&blocks, "rename", &f), "{blocks:#?}");
}

e2e!(shared, policy_escape_symlink_in_build_dir);
fn policy_escape_symlink_in_build_dir(h: Helper) {
    let outside = tmpdir();
    let f = outside.path().join("file");
    std::fs::write(&f, "original\n").unwrap();
    let before = snapshot(outside.path());
    let sb = Sandbox::new(h);
    let bd = sb.dir().to_path_buf();
    let logdir = tmpdir();
    let log = logdir.path().join("log");
    let sb = sb
        .opt("--no-default-write")
        .opt("-w")
        .opt(&bd)
        .opt("--log")
        .opt(&log);
    let out = sb.run_sh_args(
        &format!(
            r#"{TRY_FN}ln -s "$1/file" flink; ln -s "$1" dlink
try write-link sh -c 'echo evil > flink'
try create-via-dirlink sh -c 'echo evil > dlink/new'
try chmod-link chmod 0777 flink
try read-link cat flink
exit 0"#
        ),
        &[outside.path()],
    );
    out.expect_code(1);
    let tr = Tried::parse(&out);
    tr.expect_err("write-link", EACCES, &out);
    tr.expect_err("create-via-dirlink", EACCES, &out);
    tr.expect_err("chmod-link", EACCES, &out);
    tr.expect_ok("read-link", &out);
    assert_eq!(
        snapshot(outside.path()),
        before,
        "the target is untouched\n{out}"
    );
    let blocks = log_blocks(&read_log(&log));
    assert!(
        has_block(&blocks, "open_wr", &f),
        "judged on the target: {blocks:#?}"
    );
    assert!(
        has_block(&blocks, "open_wr_creat", &outside.path().join("new")),
        "{blocks:#?}"
    );
}

e2e!(shared, policy_escape_dir_swapped_for_symlink);
fn policy_escape_dir_swapped_for_symlink(h: Helper) {
    let hd = home_fixture();
    let before = snapshot(hd.path());
    // Inside: between two operations, build/dir becomes a symlink to a protected dir.
    let sb = Sandbox::new(h);
    let out = sb.run_sh_args(
        &format!(
            r#"{TRY_FN}mkdir dir
try first sh -c 'echo one > dir/file'
mv dir dir.old && ln -s "$1" dir
try second sh -c 'echo evil > dir/file'
try third sh -c 'echo evil > dir/new'
exit 0"#
        ),
        &[hd.path()],
    );
    out.expect_code(1);
    let tr = Tried::parse(&out);
    tr.expect_ok("first", &out);
    tr.expect_err("second", EACCES, &out);
    tr.expect_err("third", EACCES, &out);
    assert_eq!(
        std::fs::read_to_string(sb.dir().join("dir.old/file")).unwrap(),
        "one\n"
    );
    assert_eq!(snapshot(hd.path()), before, "$HOME untouched\n{out}");

    // From the host, while the build sits in build/dir (its cwd and the mirror's inode):
    // writes relative to it must not follow the new symlink out of the write set.
    let sb = Sandbox::new(h);
    let bd = sb.dir().to_path_buf();
    std::fs::create_dir(bd.join("dir")).unwrap();
    let script = format!(
        r#"{TRY_FN}cd dir || exit 9
echo before > a && : > ../ready
read -r go
try overwrite sh -c 'echo evil > file'
try create sh -c 'echo evil > new'
try mkdir mkdir sub-new
exit 0"#
    );
    let cmd = sb.command(&["--", "sh", "-c", &script]);
    let mut run = spawn_command(cmd, true, DEFAULT_TIMEOUT);
    let ready = bd.join("ready");
    if !run.wait_for("the build in dir", Duration::from_secs(30), |_| {
        ready.exists()
    }) {
        panic!("the build never got ready\n{}", run.wait());
    }
    std::fs::rename(bd.join("dir"), bd.join("dir.old")).unwrap();
    std::os::unix::fs::symlink(hd.path(), bd.join("dir")).unwrap();
    run.write_stdin(b"go\n");
    let out = run.wait();
    assert_eq!(
        snapshot(hd.path()),
        before,
        "$HOME untouched after the host-side swap\n{out}"
    );
    // Where the writes went (the old dir, or nowhere) is the mirror's business; $HOME is not.
    assert_eq!(
        std::fs::read_to_string(bd.join("dir.old/a")).unwrap(),
        "before\n"
    );
}

e2e!(shared, policy_escape_through_proc_links);
/// /proc/self/root, /proc/1/root and /proc/*/cwd: the mirror or nothing.
fn policy_escape_through_proc_links(h: Helper) {
    let hd = home_fixture();
    let before = snapshot(hd.path());
    let out = Sandbox::new(h).run_sh_args(
        &format!(
            r#"{TRY_FN}H=$1
echo "mirror-dev=$(stat -c %d /)"
echo "root-listing=$(ls -a / | tr '\n' ' ')"
if l=$(ls -a /proc/1/root/ 2>/dev/null); then echo "pid1-root-listing=$(printf '%s\n' "$l" | tr '\n' ' ')"; fi
for p in /proc/[0-9]* /proc/self; do
    for l in root cwd; do
        d=$(stat -L -c %d "$p/$l/" 2>/dev/null) && echo "dev $p/$l $d"
    done
done
try self-root sh -c 'echo evil > "/proc/self/root$1/file"' sh "$H"
try self-root-new sh -c 'echo evil > "/proc/self/root$1/new"' sh "$H"
try pid1-root sh -c 'echo evil > "/proc/1/root$1/file"' sh "$H"
try self-cwd sh -c 'echo evil > "/proc/self/cwd/../../..$1/file"' sh "$H"
exit 0"#
        ),
        &[hd.path()],
    );
    out.expect_code(1);
    let field = |k: &str| {
        out.stdout
            .lines()
            .find_map(|l| l.strip_prefix(k).map(str::to_string))
            .unwrap_or_else(|| panic!("no {k}\n{out}"))
    };
    let mirror_dev = field("mirror-dev=");
    if let Some(l) = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("pid1-root-listing="))
    {
        assert_eq!(
            l,
            field("root-listing="),
            "/proc/1/root/ is the mirror's /\n{out}"
        );
    }
    let devs: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.starts_with("dev "))
        .collect();
    assert!(
        devs.iter().any(|l| l.starts_with("dev /proc/self/root ")),
        "{out}"
    );
    for l in &devs {
        assert!(
            l.ends_with(&format!(" {mirror_dev}")),
            "every /proc/*/root and cwd leads into the mirror (dev {mirror_dev}): {l}\n{out}"
        );
    }
    let tr = Tried::parse(&out);
    for n in ["self-root", "self-root-new", "self-cwd"] {
        tr.expect_err(n, EACCES, &out);
    }
    tr.expect_err("pid1-root", "", &out);
    assert_eq!(snapshot(hd.path()), before, "$HOME untouched\n{out}");
}

e2e!(shared, policy_escape_root_cannot_unmount_the_mirror);
/// Root inside (capabilities in its own user namespace): the mounts are locked, and a new
/// mount namespace still shows only the sandbox's mounts, never the host's root.
fn policy_escape_root_cannot_unmount_the_mirror(h: Helper) {
    let hd = home_fixture();
    let before = snapshot(hd.path());
    // The host's own root file system's device (major:minor in mountinfo), never seen inside.
    let host_root_dev = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .find(|l| mountinfo_mountpoint(l) == Some("/"))
        .and_then(|l| l.split(' ').nth(2).map(str::to_string))
        .unwrap();
    // Raw syscalls (util-linux's mount and umount second-guess root inside a user namespace).
    let py = r#"import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
def r(name, rc):
    print(name + "=" + ("ok" if rc == 0 else os.strerror(ctypes.get_errno())))
for a in sys.argv[1:]:
    if a == "umount-proc": r(a, libc.umount2(b"/proc", 0))
    if a == "umount-proc-lazy": r(a, libc.umount2(b"/proc", 2))
    if a == "umount-root": r(a, libc.umount2(b"/", 2))
    if a == "mount-tmpfs": r(a, libc.mount(b"none", b"/mnt", b"tmpfs", 0, None))
"#;
    let out = Sandbox::new(h).opts(&["--uid-map", "root"]).run_sh_args(
        r#"H=$1 PY=$2
python3 -c "$PY" umount-proc umount-root mount-tmpfs
echo "mirror-dev=$(stat -c %d /)"
unshare -m sh -c '
python3 -c "$2" umount-proc-lazy umount-root mount-tmpfs | sed "s/^/ns-/"
echo "ns-devs=$(stat -c %d / /etc "$1" | tr "\n" " ")"
if echo evil > "$1/file"; then echo ns-write=ok; else echo ns-write=failed; fi
echo mountinfo:; cat /proc/self/mountinfo' sh "$H" "$PY"
exit 0"#,
        &[s(hd.path()), py],
    );
    out.expect_code(1); // the refused write is a violation
    let field = |k: &str| {
        out.stdout
            .lines()
            .find_map(|l| l.strip_prefix(k).map(str::to_string))
            .unwrap_or_else(|| panic!("no {k}\n{out}"))
    };
    for k in ["umount-proc=", "umount-root=", "mount-tmpfs="] {
        assert_ne!(
            field(k),
            "ok",
            "{k} must fail: the sandbox's mounts are locked\n{out}"
        );
    }
    let mirror_dev = field("mirror-dev=");
    for d in field("ns-devs=").split_whitespace() {
        assert_eq!(
            d, mirror_dev,
            "in a new mount namespace, / and $HOME are still the mirror\n{out}"
        );
    }
    assert_eq!(field("ns-write="), "failed", "{out}");
    let mountinfo = out.stdout.split("mountinfo:\n").nth(1).unwrap_or("");
    let root = mountinfo
        .lines()
        .rfind(|l| mountinfo_mountpoint(l) == Some("/"))
        .unwrap_or_else(|| panic!("no / in the new namespace\n{out}"));
    assert!(
        mountinfo_fstype(root).unwrap_or("").starts_with("fuse"),
        "/ is still the mirror in a new mount namespace: {root}\n{out}"
    );
    assert!(
        !mountinfo
            .lines()
            .any(|l| l.split(' ').nth(2) == Some(host_root_dev.as_str())),
        "the host's root file system ({host_root_dev}) must not be mounted anywhere inside\n{out}"
    );
    assert_eq!(snapshot(hd.path()), before, "$HOME untouched\n{out}");
}
