//! Each write-class op, from Python (one process runs the lot), with and without a
//! real read-only bind under `ro/`: the answers must be the same either way (the
//! build never sees EROFS), and the gate must have seen exactly the expected targets.

use std::path::PathBuf;
use std::process::Command;

use super::{Isolation, Op, Scene, stderr};

/// Runs each op given as "name\x1farg\x1farg" and prints one answer per line: "ok",
/// "true"/"false" (access), or the errno's name.
const RUNNER: &str = r#"
import ctypes, errno, os, stat, sys
libc = ctypes.CDLL(None, use_errno=True)

def openat2(path, flags):
    how = (ctypes.c_uint64 * 3)(flags, 0o644, 0)
    fd = libc.syscall(437, -100, path.encode(), ctypes.byref(how), 24)
    if fd < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    os.close(fd)

def create_at(d, name):
    dfd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    os.close(os.open(name, os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=dfd))

OPS = {
    "create": lambda p: os.close(os.open(p, os.O_WRONLY | os.O_CREAT, 0o644)),
    "create_excl": lambda p: os.close(os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL)),
    "create_rdonly": lambda p: os.close(os.open(p, os.O_RDONLY | os.O_CREAT, 0o644)),
    "write": lambda p: os.close(os.open(p, os.O_WRONLY)),
    "read": lambda p: os.close(os.open(p, os.O_RDONLY)),
    "tmpfile": lambda d: os.close(os.open(d, os.O_WRONLY | os.O_TMPFILE, 0o600)),
    "openat2": lambda p: openat2(p, os.O_WRONLY | os.O_CREAT),
    "create_at": create_at,
    "mkdir": os.mkdir,
    "rmdir": os.rmdir,
    "unlink": os.unlink,
    "rename": os.rename,
    "link": os.link,
    "symlink": os.symlink,
    "mkfifo": os.mkfifo,
    "mknod": lambda p: os.mknod(p, 0o600 | stat.S_IFREG),
    "chmod": lambda p: os.chmod(p, 0o600),
    "chown": lambda p: os.chown(p, os.getuid(), os.getgid()),
    "lchown": lambda p: os.lchown(p, os.getuid(), os.getgid()),
    "truncate": lambda p: os.truncate(p, 0),
    "utime": os.utime,
    "setxattr": lambda p: os.setxattr(p, "user.fusebox", b"1"),
    "removexattr": lambda p: os.removexattr(p, "user.fusebox"),
    "access_w": lambda p: os.access(p, os.W_OK),
    "access_r": lambda p: os.access(p, os.R_OK),
}

for spec in sys.argv[1:]:
    name, *args = spec.split("\x1f")
    try:
        r = OPS[name](*args)
        print({True: "true", False: "false"}.get(r, "ok"))
    except OSError as e:
        print(errno.errorcode.get(e.errno, str(e.errno)))
    sys.stdout.flush()
"#;

/// (op and its arguments, the answer, the targets the gate sees).
type Case = (
    &'static [&'static str],
    &'static str,
    &'static [(Op, &'static str)],
);

const CASES: &[Case] = &[
    (&["create", "ro/f"], "EACCES", &[(Op::OpenWrCreat, "ro/f")]),
    (&["create", "w/f"], "ok", &[(Op::OpenWrCreat, "w/f")]),
    (
        &["write", "ro/existing"],
        "EACCES",
        &[(Op::OpenWr, "ro/existing")],
    ),
    (&["read", "ro/existing"], "ok", &[]),
    // The kernel answers these before any write check: the gate is not asked.
    (&["write", "ro/missing"], "ENOENT", &[]),
    (&["create", "ro/nodir/f"], "ENOENT", &[]),
    (&["create_excl", "ro/existing"], "EEXIST", &[]),
    (&["create_rdonly", "ro/existing"], "ok", &[]),
    (
        &["create_rdonly", "ro/new"],
        "EACCES",
        &[(Op::OpenRdCreat, "ro/new")],
    ),
    (&["tmpfile", "ro"], "EACCES", &[(Op::OpenTmpfile, "ro")]),
    (
        &["openat2", "ro/f2"],
        "EACCES",
        &[(Op::OpenWrCreat, "ro/f2")],
    ),
    (
        &["create_at", "ro/sub", "f"],
        "EACCES",
        &[(Op::OpenWrCreat, "ro/sub/f")],
    ),
    (&["mkdir", "ro/m"], "EACCES", &[(Op::Mkdir, "ro/m")]),
    (&["mkdir", "w/m"], "ok", &[(Op::Mkdir, "w/m")]),
    (&["mkdir", "ro/sub"], "EEXIST", &[]),
    (&["rmdir", "ro/sub"], "EACCES", &[(Op::Rmdir, "ro/sub")]),
    (&["rmdir", "w/m"], "ok", &[(Op::Rmdir, "w/m")]),
    (
        &["unlink", "ro/existing"],
        "EACCES",
        &[(Op::Unlink, "ro/existing")],
    ),
    // A read-only mount says EROFS before ENOENT; the build gets ENOENT, as on a
    // writable tree, and no violation.
    (&["unlink", "ro/missing"], "ENOENT", &[]),
    (
        &["rename", "w/f", "ro/g"],
        "EACCES",
        &[(Op::Rename, "w/f"), (Op::Rename, "ro/g")],
    ),
    (
        &["rename", "w/f", "w/g"],
        "ok",
        &[(Op::Rename, "w/f"), (Op::Rename, "w/g")],
    ),
    (
        &["link", "w/g", "ro/l"],
        "EACCES",
        &[(Op::Link, "w/g"), (Op::Link, "ro/l")],
    ),
    // symlink's target is data, not a path it writes.
    (
        &["symlink", "../ro/existing", "w/s"],
        "ok",
        &[(Op::Symlink, "w/s")],
    ),
    (
        &["symlink", "w/g", "ro/s"],
        "EACCES",
        &[(Op::Symlink, "ro/s")],
    ),
    (&["mkfifo", "ro/fifo"], "EACCES", &[(Op::Mkfifo, "ro/fifo")]),
    (&["mknod", "ro/node"], "EACCES", &[(Op::Mknod, "ro/node")]),
    (
        &["chmod", "ro/existing"],
        "EACCES",
        &[(Op::Chmod, "ro/existing")],
    ),
    (&["chmod", "ro/missing"], "ENOENT", &[]),
    (
        &["chown", "ro/existing"],
        "EACCES",
        &[(Op::Chown, "ro/existing")],
    ),
    // Through w/s (→ ro/existing): chown follows it, lchown does not.
    (&["chown", "w/s"], "EACCES", &[(Op::Chown, "ro/existing")]),
    (&["lchown", "w/s"], "ok", &[(Op::Chown, "w/s")]),
    (
        &["truncate", "ro/existing"],
        "EACCES",
        &[(Op::Truncate, "ro/existing")],
    ),
    (
        &["utime", "ro/existing"],
        "EACCES",
        &[(Op::Utimensat, "ro/existing")],
    ),
    (&["utime", "w/g"], "ok", &[(Op::Utimensat, "w/g")]),
    (
        &["setxattr", "ro/existing"],
        "EACCES",
        &[(Op::Setxattr, "ro/existing")],
    ),
    (
        &["removexattr", "ro/existing"],
        "EACCES",
        &[(Op::Removexattr, "ro/existing")],
    ),
    (
        &["access_w", "ro/existing"],
        "false",
        &[(Op::AccessWr, "ro/existing")],
    ),
    (&["access_r", "ro/existing"], "true", &[]),
];

fn run_cases(isolation: Isolation) {
    let s = Scene::new();
    let mut cmd = Command::new("python3");
    cmd.arg("-c").arg(RUNNER);
    cmd.args(CASES.iter().map(|(op, _, _)| op.join("\x1f")));
    let out = s.run(cmd, isolation);
    assert!(out.status.success(), "{}", stderr(&out));
    let answers = String::from_utf8(out.stdout.clone()).unwrap();
    let answers: Vec<&str> = answers.lines().collect();
    assert_eq!(answers.len(), CASES.len(), "{}", stderr(&out));
    let mut expected_seen = Vec::new();
    for ((op, want, seen), got) in CASES.iter().zip(&answers) {
        assert_eq!(got, want, "{op:?}");
        expected_seen.extend(seen.iter().map(|&(o, p)| (o, PathBuf::from(p))));
    }
    assert_eq!(s.seen(), expected_seen);
    // Nothing refused was done.
    assert_eq!(
        std::fs::read_to_string(s.p("ro/existing")).unwrap(),
        "old\n"
    );
    assert!(s.p("ro/sub").is_dir());
    let made: Vec<_> = std::fs::read_dir(s.p("ro")).unwrap().collect();
    assert_eq!(made.len(), 2, "{made:?}");
}

#[test]
fn every_op_is_seen_with_its_path_and_refused_under_ro() {
    run_cases(Isolation::None);
}

#[test]
fn on_a_real_read_only_bind_the_build_gets_the_same_answers() {
    run_cases(Isolation::ReadOnlyBind);
}

/// Lets everything through: what the kernel then does is what the bind does.
struct Continuing;

impl super::WriteGate for Continuing {
    fn decide(&self, _: u32, _: &super::WriteTarget) -> super::Answer {
        super::Answer::Continue
    }
}

#[test]
fn the_read_only_bind_is_enforced_by_the_kernel_whatever_the_gate_says() {
    let s = Scene::new();
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg("echo x > ro/f; echo x > w/f");
    let gate = std::sync::Arc::new(Continuing);
    let out = super::run_filtered(cmd, &s.at, gate, Isolation::ReadOnlyBind);
    assert!(
        stderr(&out).contains("Read-only file system"),
        "{}",
        stderr(&out)
    );
    assert!(!s.p("ro/f").exists());
    assert!(s.p("w/f").exists());
}
