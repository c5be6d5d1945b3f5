//! Every write-class operation, allowed under the write list, denied (refused and logged) or
//! predicted (failing quietly) elsewhere; and O_TMPFILE, judged on its directory.

use std::collections::BTreeMap;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use tempfile::TempDir;

use super::*;
use crate::common::*;

// =============================================================================================
// Every write-class operation: allowed / denied / predicted

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
// The same operations in a tree the kernel serves read-only (`--system-tree`, as /usr is):
// refused by the kernel, judged and reported through the seccomp notifier as the mirror
// would, even across the bind's boundary (a rename or hard link out of it or into it).

e2e!(
    shared,
    policy_write_ops_in_a_read_only_tree_are_refused_and_logged
);
fn policy_write_ops_in_a_read_only_tree_are_refused_and_logged(h: Helper) {
    let x = OpsDirs::new();
    let before = x.snapshot();
    let sb = Sandbox::new(h).opts(&["--no-default-write", "--system-tree", s(&x.d())]);
    let bound = sb.run(&[
        "grep",
        "-c",
        &format!(" {} ", s(&x.d())),
        "/proc/self/mountinfo",
    ]);
    assert_eq!(bound.stdout.trim(), "1", "D is a bind of its own\n{bound}");
    let (out, tried) = x.run(Sandbox::new(h).opt("--system-tree").opt(x.d()));
    out.expect_code(1);
    for (name, _, _) in WRITE_OP_VIOLATIONS {
        tried.expect_err(name, EACCES, &out);
    }
    assert_eq!(x.snapshot(), before, "the host is unchanged\n{out}");
    let log = read_log(&x.log());
    let blocks = log_blocks(&log);
    for (name, f, rel) in WRITE_OP_VIOLATIONS {
        assert!(
            has_block(&blocks, f, &x.path(rel)),
            "`{name}`: the log should have `F: {f}` on {rel}\n{log}"
        );
    }
}

e2e!(
    shared,
    policy_write_ops_in_a_read_only_tree_predicted_fail_quietly
);
fn policy_write_ops_in_a_read_only_tree_predicted_fail_quietly(h: Helper) {
    let x = OpsDirs::new();
    let before = x.snapshot();
    let sb = Sandbox::new(h).opt("-v").opt("--predict").opt(x.d());
    let (out, tried) = x.run(sb.opt("--system-tree").opt(x.d()));
    out.expect_code(0);
    for (name, _, _) in WRITE_OP_VIOLATIONS {
        tried.expect_err(name, EACCES, &out);
    }
    assert_eq!(x.snapshot(), before, "the host is unchanged\n{out}");
    assert!(
        !out.stderr.contains("ACCESS DENIED"),
        "predicted: no -v line\n{out}"
    );
    assert!(!x.log().exists(), "predicted: no log\n{out}");
}
