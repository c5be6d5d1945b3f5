//! File-system integrity through the mirror: the syscalls whose subtle semantics a FUSE
//! pass-through easily gets wrong (UTIME_OMIT, hard links and cached attributes, ownership,
//! fallocate modes, O_TMPFILE, unlinked-but-open files, rename over an open file, large sparse
//! files, concurrent O_APPEND, inode numbers the host reuses, fstat during renames, hard links
//! renamed away).
//!
//! `E2E_ARGS=integrity` runs just these. Each runs the operations inside the sandbox with
//! python3 (precise syscalls), and checks the result natively on the host afterwards; where a
//! behaviour is compared with the host's, the same script also runs natively in a temp dir on
//! the same host file system (/tmp).

use std::os::unix::fs::MetadataExt;
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

// =============================================================================================
// 1. UTIME_OMIT

const UTIME_SCRIPT: &str = r#"
import ctypes, os, subprocess, sys
libc = ctypes.CDLL(None, use_errno=True)
class TS(ctypes.Structure):
    _fields_ = [("s", ctypes.c_long), ("ns", ctypes.c_long)]
OMIT = (1 << 30) - 2
AT_FDCWD = -100
def check(r, what):
    if r != 0:
        e = ctypes.get_errno()
        print(f"ERROR {what}: {os.strerror(e)}")
        sys.exit(3)
def utimensat(p, a, m):
    t = (TS * 2)(TS(*a), TS(*m))
    check(libc.utimensat(AT_FDCWD, p.encode(), t, 0), "utimensat")
def futimens(fd, a, m):
    t = (TS * 2)(TS(*a), TS(*m))
    check(libc.futimens(fd, t), "futimens")
def show(tag, p):
    st = os.stat(p)
    print(f"{tag} atime={st.st_atime_ns} mtime={st.st_mtime_ns}")
p = "f"
with open(p, "w") as f:
    f.write("x")
os.utime(p, ns=(1000000000111111111, 1100000000222222222))
show("init", p)
utimensat(p, (1200000000, 333333333), (0, OMIT))
show("atime-only", p)
utimensat(p, (0, OMIT), (1300000000, 444444444))
show("mtime-only", p)
subprocess.run(["touch", "-a", "-d", "@1400000000.555555555", p], check=True)
show("touch-a", p)
subprocess.run(["touch", "-m", "-d", "@1500000000.666666666", p], check=True)
show("touch-m", p)
fd = os.open(p, os.O_WRONLY)
futimens(fd, (1600000000, 777777777), (0, OMIT))
show("futimens-atime", p)
futimens(fd, (0, OMIT), (1700000000, 888888888))
show("futimens-mtime", p)
os.close(fd)
"#;

e2e!(shared, integrity_utime_omit_leaves_the_other_time_alone);
fn integrity_utime_omit_leaves_the_other_time_alone(h: Helper) {
    let sb = Sandbox::new(h);
    let out = py_inside(&sb, UTIME_SCRIPT, &[]);
    out.ok();
    let expected: [(&str, u128, u128); 7] = [
        ("init", 1000000000111111111, 1100000000222222222),
        ("atime-only", 1200000000333333333, 1100000000222222222),
        ("mtime-only", 1200000000333333333, 1300000000444444444),
        ("touch-a", 1400000000555555555, 1300000000444444444),
        ("touch-m", 1400000000555555555, 1500000000666666666),
        ("futimens-atime", 1600000000777777777, 1500000000666666666),
        ("futimens-mtime", 1600000000777777777, 1700000000888888888),
    ];
    for (tag, a, m) in expected {
        assert_eq!(
            (kv(&out, tag, "atime"), kv(&out, tag, "mtime")),
            (Some(a.to_string().as_str()), Some(m.to_string().as_str())),
            "after `{tag}` (atime, mtime) inside: an omitted time must stay as it was\n{out}"
        );
    }
    let m = std::fs::metadata(sb.dir().join("f")).unwrap();
    let ns = |s: i64, n: i64| s as i128 * 1_000_000_000 + n as i128;
    assert_eq!(
        (ns(m.atime(), m.atime_nsec()), ns(m.mtime(), m.mtime_nsec())),
        (1600000000777777777, 1700000000888888888),
        "the times natively on the host afterwards\n{out}"
    );
}

// =============================================================================================
// 2. Hard links: attributes seen through every name, at once

const HARDLINK_SCRIPT: &str = r#"
import os, time
step = "start"
class Missing:  # what st() gives for a name it cannot stat
    st_ino = st_nlink = st_mode = st_size = st_ctime_ns = -1
def st(n):
    try:
        s = os.stat(n)
    except OSError as e:
        print(f"FAIL {step}: stat {n}: {e}")
        return Missing()
    print(f"{step}: {n} ino={s.st_ino} nlink={s.st_nlink} mode={oct(s.st_mode & 0o7777)} "
          f"size={s.st_size} ctime={s.st_ctime_ns}")
    return s
def read(n):
    try:
        with open(n) as f:
            return f.read()
    except OSError as e:
        return f"<{e}>"
def gone(n):
    try:
        os.stat(n)
        return False
    except FileNotFoundError:
        return True
def check(cond, what):
    if not cond:
        print(f"FAIL {step}: {what}")
def nlinks(names, want):
    for n in names:
        s = st(n)
        check(s.st_nlink == want, f"nlink via {n} is {s.st_nlink}, want {want}")

with open("a", "w") as f:
    f.write("hello\n")
os.chmod("a", 0o644)
os.link("a", "b")
step = "linked"
sa, sb = st("a"), st("b")
check(sa.st_ino == sb.st_ino, "a and b share an inode")
nlinks(["a", "b"], 2)
# Only so that ctime (a coarse clock) can move; b's attributes are cached by now, and
# everything after the chmod is stat'ed at once.
time.sleep(0.05)

step = "chmod-via-a"
os.chmod("a", 0o640)
s = st("b")
check(s.st_mode & 0o7777 == 0o640, f"mode via b is {oct(s.st_mode & 0o7777)}, want 0o640")
check(s.st_ctime_ns > sb.st_ctime_ns, "ctime via b advanced")
check(s.st_ctime_ns == st("a").st_ctime_ns, "same ctime via a and b")

step = "append-via-a"
with open("a", "a") as f:
    f.write("more\n")
s = st("b")
check(s.st_size == 11, f"size via b is {s.st_size}, want 11")
data = read("b")
check(data == "hello\nmore\n", f"content via b is {data!r}")

step = "ln-b-c"
os.link("b", "c")
nlinks(["a", "b", "c"], 3)

step = "unlink-c"
os.unlink("c")
check(gone("c"), "c is gone")
nlinks(["a", "b"], 2)

step = "rename-a-over-b"  # two names of one file: POSIX says do nothing
try:
    os.rename("a", "b")
except OSError as e:
    print(f"FAIL {step}: {e}")
check(not gone("a") and not gone("b"), "both a and b still exist")
nlinks(["a", "b"], 2)

step = "rename-b-over-x"
with open("x", "w") as f:
    f.write("x was here\n")
try:
    os.rename("b", "x")
except OSError as e:
    print(f"FAIL {step}: {e}")
check(gone("b"), "b is gone")
nlinks(["a", "x"], 2)
data = read("x")
check(data == "hello\nmore\n", f"x now has a's content, has {data!r}")

step = "rename-y-over-x"  # the file a/x loses its name x
with open("y", "w") as f:
    f.write("y\n")
os.rename("y", "x")
nlinks(["a", "x"], 1)
check(st("a").st_ino != st("x").st_ino, "a and x are different files now")

step = "chmod-via-x"
try:
    os.chmod("x", 0o600)
except OSError as e:
    print(f"FAIL {step}: {e}")
check(st("a").st_mode & 0o7777 == 0o640, "a's mode unchanged by chmod of the other file")
print("done")
"#;

e2e!(shared, integrity_hard_link_attributes_are_never_stale);
fn integrity_hard_link_attributes_are_never_stale(h: Helper) {
    let sb = Sandbox::new(h);
    let out = py_inside(&sb, HARDLINK_SCRIPT, &[]);
    assert_no_fail_lines("hard links inside", &out);
    assert!(out.stdout.ends_with("done\n"), "{out}");
    let d = sb.dir();
    let a = std::fs::metadata(d.join("a")).unwrap();
    let x = std::fs::metadata(d.join("x")).unwrap();
    assert_eq!(
        (a.nlink(), a.mode() & 0o7777, a.len()),
        (1, 0o640, 11),
        "a natively (nlink, mode, size)\n{out}"
    );
    assert_eq!(
        (x.nlink(), x.mode() & 0o7777),
        (1, 0o600),
        "x natively (nlink, mode)\n{out}"
    );
    assert_ne!(a.ino(), x.ino(), "a and x natively");
    assert_eq!(
        std::fs::read_to_string(d.join("a")).unwrap(),
        "hello\nmore\n"
    );
    assert_eq!(std::fs::read_to_string(d.join("x")).unwrap(), "y\n");
    for n in ["b", "c", "y"] {
        assert!(!d.join(n).exists(), "{n} should not exist natively\n{out}");
    }
}

// =============================================================================================
// 3. Ownership of what the build creates

const OWNERSHIP_SCRIPT: &str = r#"set -e
echo f > file
mkdir dir
echo g > dir/inner
ln -s file link
mkfifo fifo
python3 -c 'import os; fd = os.open("excl", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600); os.close(fd)'
cp file copy
stat -c '%n %u %g' file dir dir/inner link fifo excl copy"#;

const OWNED: [&str; 7] = ["file", "dir", "dir/inner", "link", "fifo", "excl", "copy"];

fn check_host_ownership(d: &Path, map: &str, out: &Out) {
    for n in OWNED {
        let m = std::fs::symlink_metadata(d.join(n))
            .unwrap_or_else(|e| panic!("{n} natively: {e}\n{out}"));
        assert_eq!(
            (m.uid(), m.gid()),
            (my_uid(), my_gid()),
            "--uid-map {map}: {n} natively should belong to the test user\n{out}"
        );
    }
}

e2e!(shared, integrity_created_files_belong_to_the_user);
fn integrity_created_files_belong_to_the_user(h: Helper) {
    // --uid-map self: the same ids inside and out.
    let sb = Sandbox::new(h).opts(&["--uid-map", "self"]);
    let out = sb.run_sh(OWNERSHIP_SCRIPT);
    out.ok();
    let want: String = OWNED
        .iter()
        .map(|n| format!("{n} {} {}\n", my_uid(), my_gid()))
        .collect();
    assert_eq!(out.stdout, want, "--uid-map self: ownership inside\n{out}");
    check_host_ownership(sb.dir(), "self", &out);

    // --uid-map root: 0 inside, the user outside; chown to root (= the user) works.
    let sb = Sandbox::new(h).opts(&["--uid-map", "root"]);
    let script = format!(
        "{OWNERSHIP_SCRIPT}\nchown 0:0 file && chown -h 0:0 link && chown -R 0:0 dir && echo chown-ok"
    );
    let out = sb.run_sh(&script);
    out.ok();
    let mut want: String = OWNED.iter().map(|n| format!("{n} 0 0\n")).collect();
    want += "chown-ok\n";
    assert_eq!(out.stdout, want, "--uid-map root: ownership inside\n{out}");
    check_host_ownership(sb.dir(), "root", &out);
}

// =============================================================================================
// 4. fallocate

const FALLOCATE_SCRIPT: &str = r#"
import ctypes, errno, os
libc = ctypes.CDLL(None, use_errno=True)
libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_long, ctypes.c_long]
KEEP, PUNCH, ZERO, UNSHARE = 0x01, 0x02, 0x10, 0x40
MiB = 1 << 20
def fa(fd, mode, off, n):
    if libc.fallocate(fd, mode, off, n) == 0:
        return "ok"
    return errno.errorcode.get(ctypes.get_errno(), str(ctypes.get_errno()))
fd = os.open("fa", os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, b"\xab" * 65536)
os.fsync(fd)
def blocks():
    return os.fstat(fd).st_blocks
def size():
    return os.fstat(fd).st_size
def zeros(off, n):
    return os.pread(fd, n, off) == bytes(n)
def ab(off, n):
    return os.pread(fd, n, off) == b"\xab" * n

b0 = blocks()
rc = fa(fd, 0, 0, MiB)
print(f"plain rc={rc} size={size()} allocated={blocks() >= 2048} data_kept={ab(0, 65536)} "
      f"tail_zeros={zeros(65536, MiB - 65536)}")

b1 = blocks()
rc = fa(fd, KEEP, MiB, MiB)
print(f"keep_size rc={rc} size={size()} blocks_grew_by_1MiB={blocks() - b1 >= 2048} "
      f"read_past_eof={len(os.pread(fd, 10, MiB))}")

b2 = blocks()
rc = fa(fd, PUNCH | KEEP, 4096, 8192)
print(f"punch rc={rc} size={size()} hole_zeros={zeros(4096, 8192)} before={ab(0, 4096)} "
      f"after={ab(12288, 4096)} blocks_shrank={blocks() < b2}")

rc = fa(fd, PUNCH, 4096, 8192)
print(f"punch_without_keep rc={rc} size={size()}")

rc = fa(fd, ZERO, 16384, 8192)
print(f"zero_range rc={rc} size={size()} zeros={zeros(16384, 8192)} before={ab(12288, 4096)} "
      f"after={ab(24576, 4096)}")

rc = fa(fd, ZERO | KEEP, 3 * MiB, 4096)
print(f"zero_range_keep_past_eof rc={rc} size={size()}")

rc = fa(fd, ZERO, 3 * MiB, 4096)
print(f"zero_range_past_eof rc={rc} size={size()} zeros={zeros(3 * MiB, 4096)}")

rc = fa(fd, PUNCH | ZERO | KEEP, 0, 4096)
print(f"punch_and_zero rc={rc}")
rc = fa(fd, UNSHARE, 0, 4096)
print(f"unshare rc={rc} size={size()}")
rc = fa(fd, 0, 0, 0)
print(f"zero_length rc={rc}")
rc = fa(fd, 0, -1, 4096)
print(f"negative_offset rc={rc}")
os.close(fd)
rfd = os.open("fa", os.O_RDONLY)
print(f"read_only_fd rc={fa(rfd, 0, 0, 4096)}")
os.close(rfd)
st = os.stat("fa")
print(f"final size={st.st_size}")
"#;

e2e!(shared, integrity_fallocate_modes_match_the_host);
fn integrity_fallocate_modes_match_the_host(h: Helper) {
    let sb = Sandbox::new(h);
    let host_dir = tmpdir();
    let host = py_native(host_dir.path(), FALLOCATE_SCRIPT, &[]);
    host.ok();
    // Sanity of the oracle: ext4/xfs/btrfs/tmpfs all do these.
    for (tag, key, want) in [
        ("plain", "rc", "ok"),
        ("plain", "size", "1048576"),
        ("keep_size", "size", "1048576"),
        // Python names errno 95 ENOTSUP (= EOPNOTSUPP on Linux).
        ("punch_without_keep", "rc", "ENOTSUP"),
    ] {
        assert_eq!(
            kv(&host, tag, key),
            Some(want),
            "native {tag} {key}\n{host}"
        );
    }
    let inside = py_inside(&sb, FALLOCATE_SCRIPT, &[]);
    assert_same_as_native("fallocate", &host, &inside);
    // And the result natively: the two files are alike.
    let (a, b) = (
        std::fs::read(host_dir.path().join("fa")).unwrap(),
        std::fs::read(sb.dir().join("fa")).unwrap(),
    );
    assert!(
        a == b,
        "the file made inside differs natively from the native one\n{inside}"
    );
}

// =============================================================================================
// 5. O_TMPFILE

/// O_TMPFILE in the cwd and in a subdirectory: used, then given a name each way linkat(2)
/// offers (`/proc/self/fd/N` with AT_SYMLINK_FOLLOW; the fd itself with AT_EMPTY_PATH,
/// unprivileged for the file's opener since Linux 6.10); an O_EXCL one that must refuse both;
/// one closed without a name. linkat is called directly: Python's os.link calls link(2),
/// which never follows the /proc magic link and so fails with EXDEV everywhere.
const TMPFILE_SCRIPT: &str = r#"
import ctypes, errno, os
libc = ctypes.CDLL(None, use_errno=True)
AT_FDCWD, AT_SYMLINK_FOLLOW, AT_EMPTY_PATH = -100, 0x400, 0x1000
def linkat(olddirfd, old, new, flags):
    if libc.linkat(olddirfd, old.encode(), AT_FDCWD, new.encode(), flags) == 0:
        return "ok"
    e = ctypes.get_errno()
    return errno.errorcode.get(e, str(e))
def tmpfile(d, flags):
    return os.open(d, os.O_TMPFILE | flags, 0o600)
def names():
    return ",".join(sorted(os.listdir(".")))
def content(n):
    with open(n, "rb") as f:
        return repr(f.read())

fd = tmpfile(".", os.O_RDWR)
print(f"write n={os.write(fd, b'tmpdata')}")
print(f"read data={os.pread(fd, 100, 0)!r}")
s = os.fstat(fd)
print(f"fstat nlink={s.st_nlink} size={s.st_size} mode={oct(s.st_mode & 0o7777)}")
os.fchmod(fd, 0o640)
os.ftruncate(fd, 8)
s = os.fstat(fd)
print(f"fchmod+ftruncate mode={oct(s.st_mode & 0o7777)} size={s.st_size}")
print(f"unlinked names={names()}")
print(f"link-proc rc={linkat(AT_FDCWD, '/proc/self/fd/%d' % fd, 'linked', AT_SYMLINK_FOLLOW)}")
os.pwrite(fd, b"more", 8)
s = os.fstat(fd)
print(f"after-link-proc nlink={s.st_nlink} size={s.st_size} content={content('linked')}")
os.close(fd)

fd = tmpfile(".", os.O_WRONLY)
os.write(fd, b"second")
print(f"link-empty-path rc={linkat(fd, '', 'linked2', AT_EMPTY_PATH)}")
print(f"after-link-empty-path nlink={os.fstat(fd).st_nlink}")
os.close(fd)

os.mkdir("sub")
fd = tmpfile("sub", os.O_RDWR)
os.write(fd, b"from sub")
print(f"link-from-sub rc={linkat(AT_FDCWD, '/proc/self/fd/%d' % fd, 'from-sub', AT_SYMLINK_FOLLOW)}")
print(f"sub names={','.join(os.listdir('sub'))}")
os.close(fd)

fd = tmpfile(".", os.O_RDWR | os.O_EXCL)
os.write(fd, b"excl")
print(f"excl-link-proc rc={linkat(AT_FDCWD, '/proc/self/fd/%d' % fd, 'excl1', AT_SYMLINK_FOLLOW)}")
print(f"excl-link-empty-path rc={linkat(fd, '', 'excl2', AT_EMPTY_PATH)}")
print(f"excl nlink={os.fstat(fd).st_nlink} data={os.pread(fd, 100, 0)!r}")
os.close(fd)

fd = tmpfile(".", os.O_RDWR)
os.write(fd, b"never named")
os.close(fd)
print(f"final names={names()}")
"#;

e2e!(shared, integrity_o_tmpfile_in_the_build_dir);
fn integrity_o_tmpfile_in_the_build_dir(h: Helper) {
    let sb = Sandbox::new(h);
    let host_dir = tmpdir();
    let host = py_native(host_dir.path(), TMPFILE_SCRIPT, &[]);
    host.ok();
    // Sanity of the oracle: this is what the host does.
    for (tag, key, want) in [
        ("fstat", "nlink", "0"),
        ("fstat", "size", "7"),
        ("link-proc", "rc", "ok"),
        ("after-link-proc", "nlink", "1"),
        ("link-from-sub", "rc", "ok"),
        ("excl-link-proc", "rc", "ENOENT"),
        ("excl-link-empty-path", "rc", "ENOENT"),
    ] {
        assert_eq!(
            kv(&host, tag, key),
            Some(want),
            "native {tag} {key}\n{host}"
        );
    }
    let inside = py_inside(&sb, TMPFILE_SCRIPT, &[]);
    assert_same_as_native("O_TMPFILE", &host, &inside);
    // And natively afterwards: the linked files with what was written through the fd, and
    // nothing else.
    let dir = sb.dir();
    let linked = std::fs::metadata(dir.join("linked")).unwrap();
    assert_eq!(
        linked.mode() & 0o7777,
        0o640,
        "fchmod of the tmpfile\n{inside}"
    );
    assert_eq!(linked.nlink(), 1);
    assert_eq!(std::fs::read(dir.join("linked")).unwrap(), b"tmpdata\0more");
    assert_eq!(std::fs::read(dir.join("from-sub")).unwrap(), b"from sub");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut want = vec!["from-sub", "linked", "sub"];
    if kv(&host, "link-empty-path", "rc") == Some("ok") {
        assert_eq!(std::fs::read(dir.join("linked2")).unwrap(), b"second");
        want.insert(2, "linked2");
    }
    assert_eq!(names, want, "natively: only the linked names\n{inside}");
    assert_eq!(
        std::fs::read_dir(dir.join("sub")).unwrap().count(),
        0,
        "sub stays empty\n{inside}"
    );
}

// =============================================================================================
// 6. Unlinked but open

const UNLINKED_SCRIPT: &str = r#"
import os
fd = os.open("u", os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, b"0123456789")
os.unlink("u")
print(f"exists-after-unlink={os.path.exists('u')}")
print(f"write={os.write(fd, b'abcdef')}")
print(f"read={os.pread(fd, 100, 0)!r}")
s = os.fstat(fd)
print(f"fstat size={s.st_size} nlink={s.st_nlink}")
os.ftruncate(fd, 4)
s = os.fstat(fd)
print(f"ftruncate-4 size={s.st_size} read={os.pread(fd, 100, 0)!r}")
os.ftruncate(fd, 8192)
s = os.fstat(fd)
print(f"ftruncate-8192 size={s.st_size} zeros={os.pread(fd, 8188, 4) == bytes(8188)}")
os.fchmod(fd, 0o600)
s = os.fstat(fd)
print(f"fchmod mode={oct(s.st_mode & 0o7777)}")
print(f"seek-end={os.lseek(fd, 0, os.SEEK_END)}")
with open("u", "w") as f:
    f.write("a new file\n")
print(f"old-fd-still={os.pread(fd, 4, 0)!r} size={os.fstat(fd).st_size}")
os.close(fd)
with open("u") as f:
    print(f"new-file={f.read()!r}")
print("names=" + ",".join(sorted(os.listdir("."))))
"#;

e2e!(shared, integrity_unlinked_but_open_file_still_works);
fn integrity_unlinked_but_open_file_still_works(h: Helper) {
    let sb = Sandbox::new(h);
    let host_dir = tmpdir();
    let host = py_native(host_dir.path(), UNLINKED_SCRIPT, &[]);
    assert_eq!(kv(&host, "fstat", "nlink"), Some("0"), "sanity\n{host}");
    let inside = py_inside(&sb, UNLINKED_SCRIPT, &[]);
    assert_same_as_native("unlinked but open", &host, &inside);
    for (tag, key, want) in [
        ("fstat", "size", "16"),
        ("fstat", "nlink", "0"),
        ("ftruncate-4", "size", "4"),
        ("ftruncate-8192", "size", "8192"),
        ("ftruncate-8192", "zeros", "True"),
    ] {
        assert_eq!(kv(&inside, tag, key), Some(want), "{tag} {key}\n{inside}");
    }
    assert_eq!(
        std::fs::read_to_string(sb.dir().join("u")).unwrap(),
        "a new file\n"
    );
}

// =============================================================================================
// 7. Rename over an open file

const RENAME_OVER_OPEN_SCRIPT: &str = r#"
import os
with open("A", "w") as f:
    f.write("the old contents of A\n")
with open("B", "w") as f:
    f.write("B!\n")
fd = os.open("A", os.O_RDONLY)
first = os.read(fd, 4)
os.rename("B", "A")
rest = os.read(fd, 100)
print(f"old-fd-read={(first + rest)!r}")
print(f"old-fd-pread={os.pread(fd, 100, 0)!r}")
s = os.fstat(fd)
print(f"old-fd-fstat size={s.st_size} nlink={s.st_nlink}")
with open("A", "rb") as f:
    print(f"new-open={f.read()!r}")
print(f"B-exists={os.path.exists('B')}")
print(f"old-fd-again={os.pread(fd, 100, 0)!r}")
os.close(fd)
"#;

e2e!(shared, integrity_rename_over_an_open_file);
fn integrity_rename_over_an_open_file(h: Helper) {
    let sb = Sandbox::new(h);
    let host_dir = tmpdir();
    let host = py_native(host_dir.path(), RENAME_OVER_OPEN_SCRIPT, &[]);
    let inside = py_inside(&sb, RENAME_OVER_OPEN_SCRIPT, &[]);
    assert_same_as_native("rename over an open file", &host, &inside);
    for want in [
        r#"old-fd-read=b'the old contents of A\n'"#,
        r#"old-fd-pread=b'the old contents of A\n'"#,
        r#"new-open=b'B!\n'"#,
        "B-exists=False",
    ] {
        assert!(
            inside.stdout_lines().contains(&want),
            "inside: no line {want:?}\n{inside}"
        );
    }
    assert_eq!(std::fs::read_to_string(sb.dir().join("A")).unwrap(), "B!\n");
    assert!(!sb.dir().join("B").exists());
}

// =============================================================================================
// 8. A large sparse file

const SPARSE_SCRIPT: &str = r#"
import os
OFF = 5 << 30
fd = os.open("sparse", os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
print(f"pwrite={os.pwrite(fd, b'Z', OFF)}")
s = os.fstat(fd)
print(f"fstat size={s.st_size} blocks_small={s.st_blocks <= 64}")
s = os.stat("sparse")
print(f"stat size={s.st_size} blocks_small={s.st_blocks <= 64}")
print(f"byte={os.pread(fd, 1, OFF)!r} at_eof={os.pread(fd, 10, OFF)!r} past_eof={os.pread(fd, 10, OFF + 1)!r}")
print(f"zeros_before={os.pread(fd, 1 << 20, OFF - (1 << 20)) == bytes(1 << 20)}")
print(f"zeros_start={os.pread(fd, 65536, 0) == bytes(65536)}")
print(f"zeros_at_4GiB={os.pread(fd, 65536, (4 << 30) - 32768) == bytes(65536)}")
print(f"last_two={os.pread(fd, 2, OFF - 1)!r}")
print(f"seek_data={os.lseek(fd, 0, os.SEEK_DATA)} seek_hole={os.lseek(fd, 0, os.SEEK_HOLE)}")
os.close(fd)
"#;

e2e!(shared, integrity_large_sparse_file);
fn integrity_large_sparse_file(h: Helper) {
    let sb = Sandbox::new(h);
    let host_dir = tmpdir();
    let host = py_native(host_dir.path(), SPARSE_SCRIPT, &[]);
    let inside = py_inside(&sb, SPARSE_SCRIPT, &[]);
    assert_same_as_native("a 5 GiB sparse file", &host, &inside);
    let want_size = (5u64 << 30) + 1;
    assert_eq!(
        kv(&inside, "fstat", "size"),
        Some(want_size.to_string().as_str()),
        "{inside}"
    );
    assert_eq!(
        kv(&inside, "stat", "size"),
        Some(want_size.to_string().as_str()),
        "{inside}"
    );
    assert_eq!(kv(&inside, "", "byte"), Some("b'Z'"), "{inside}");
    assert_eq!(kv(&inside, "", "zeros_before"), Some("True"), "{inside}");
    let m = std::fs::metadata(sb.dir().join("sparse")).unwrap();
    assert_eq!(m.len(), want_size, "size natively\n{inside}");
    assert!(
        m.blocks() <= 64,
        "natively the file should stay sparse, has {} blocks of 512 bytes\n{inside}",
        m.blocks()
    );
    use std::os::unix::fs::FileExt;
    let f = std::fs::File::open(sb.dir().join("sparse")).unwrap();
    let mut b = [0u8; 2];
    f.read_exact_at(&mut b, (5u64 << 30) - 1).unwrap();
    assert_eq!(&b, b"\0Z", "the last two bytes natively");
}

// =============================================================================================
// 9. O_APPEND from two processes at once

const LINE_WIDTH: usize = 64;
const LINES_EACH: usize = 2000;

const APPEND_SCRIPT: &str = r#"
import os, sys
W, N = int(sys.argv[1]), int(sys.argv[2])
r, w = os.pipe()
pids = []
for tag in "AB":
    pid = os.fork()
    if pid == 0:
        os.close(w)
        fd = os.open("log", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.read(r, 1)  # both start together
        for i in range(N):
            line = f"{tag} {i:06d} ".ljust(W - 1, tag).encode() + b"\n"
            n = os.write(fd, line)
            if n != W:
                print(f"FAIL {tag}: short write {n} at line {i}", flush=True)
                os._exit(1)
        os._exit(0)
    pids.append(pid)
os.close(r)
os.write(w, b"go")
os.close(w)
codes = [os.waitstatus_to_exitcode(os.waitpid(p, 0)[1]) for p in pids]
print("codes=" + ",".join(map(str, codes)))
s = os.stat("log")
with open("log", "rb") as f:
    data = f.read()
lines = data.split(b"\n")[:-1]
switches = sum(1 for a, b in zip(lines, lines[1:]) if a[:1] != b[:1])
print(f"inside size={s.st_size} read={len(data)} lines={len(lines)} switches={switches}")
"#;

e2e!(shared, integrity_concurrent_o_append_loses_nothing);
fn integrity_concurrent_o_append_loses_nothing(h: Helper) {
    let sb = Sandbox::new(h);
    let (w, n) = (LINE_WIDTH.to_string(), LINES_EACH.to_string());
    let out = py_inside(&sb, APPEND_SCRIPT, &[&w, &n]);
    assert_no_fail_lines("O_APPEND inside", &out);
    assert_eq!(
        kv(&out, "", "codes"),
        Some("0,0"),
        "both writers exit 0\n{out}"
    );
    let want_size = (2 * LINES_EACH * LINE_WIDTH).to_string();
    assert_eq!(
        kv(&out, "inside", "size"),
        Some(want_size.as_str()),
        "stat inside\n{out}"
    );
    assert_eq!(
        kv(&out, "inside", "read"),
        Some(want_size.as_str()),
        "read inside\n{out}"
    );

    let data = std::fs::read(sb.dir().join("log")).unwrap();
    assert_eq!(
        data.len(),
        2 * LINES_EACH * LINE_WIDTH,
        "natively the log should hold exactly {} lines of {LINE_WIDTH} bytes\n{out}",
        2 * LINES_EACH
    );
    let mut next = [0usize; 2];
    for (k, line) in data.chunks(LINE_WIDTH).enumerate() {
        let text = String::from_utf8_lossy(line);
        let tag = line[0];
        let who = match tag {
            b'A' => 0,
            b'B' => 1,
            _ => panic!("natively: line {k} is torn: {text:?}\n{out}"),
        };
        let want = format!("{} {:06} ", tag as char, next[who]);
        let want = format!(
            "{want}{}\n",
            (tag as char)
                .to_string()
                .repeat(LINE_WIDTH - 1 - want.len())
        );
        assert_eq!(
            text, want,
            "natively: line {k} should be the next whole line of process {}\n{out}",
            tag as char
        );
        next[who] += 1;
    }
    assert_eq!(next, [LINES_EACH; 2], "{out}");
}

// =============================================================================================
// 10. A directory removed while a process is in it, and a new one made at once

const REUSED_INODE_SCRIPT: &str = r#"
import errno, os, subprocess, sys
reused = 0
for i in range(5):
    os.mkdir("a")
    ino = os.stat("a").st_ino
    # A process still in the directory keeps the kernel's inode of it alive.
    inside = subprocess.Popen(["sleep", "60"], cwd="a")
    os.rmdir("a")
    os.mkdir("b")
    reused += os.stat("b").st_ino == ino
    try:
        with open("b/f", "w") as f:
            f.write("x")
        created = "ok"
    except OSError as e:
        created = errno.errorcode.get(e.errno, str(e.errno))
    print(f"round {i}: create-inside={created} listing={sorted(os.listdir('b'))}")
    inside.kill()
    inside.wait()
    if created == "ok":
        os.unlink("b/f")
    os.rmdir("b")
# ext4 hands a freed inode number out again at once; other file systems may not.
print(f"inode number reused in {reused} of 5 rounds", file=sys.stderr)
"#;

e2e!(shared, integrity_reused_inode_number_is_a_new_directory);
/// The host reuses the inode number of a removed directory for the next one made (ext4 does at
/// once), so the mirror gives the new directory the old one's node id: the kernel, which still
/// holds the old inode for the process inside it, must be told it is another object, or it takes
/// the new directory for the removed one (dead: ENOENT for everything inside it).
fn integrity_reused_inode_number_is_a_new_directory(h: Helper) {
    let sb = Sandbox::new(h);
    let host_dir = tmpdir();
    let host = py_native(host_dir.path(), REUSED_INODE_SCRIPT, &[]);
    let inside = py_inside(&sb, REUSED_INODE_SCRIPT, &[]);
    assert_same_as_native("a new directory with a reused inode number", &host, &inside);
    assert!(
        inside.stdout.contains("create-inside=ok listing=['f']"),
        "{inside}"
    );
}

// =============================================================================================
// 11. fstat of an open file while its name is renamed over

const FSTAT_DURING_RENAMES_SCRIPT: &str = r#"
import errno, os, sys, time
# A writer keeps replacing "a" by renaming a new file over it; the reader opens "a" and
# fstats the open file, which is the object it opened whatever its name does meanwhile.
secs = float(sys.argv[1])
with open("a", "w") as f:
    f.write("0")
pid = os.fork()
if pid == 0:
    end = time.time() + secs
    i = 0
    while time.time() < end:
        i += 1
        with open("t", "w") as f:
            f.write(str(i))
        os.rename("t", "a")
    os._exit(0)
errors = {}
opened = 0
while os.waitpid(pid, os.WNOHANG)[0] == 0:
    try:
        fd = os.open("a", os.O_RDONLY)
    except FileNotFoundError:
        continue
    opened += 1
    for _ in range(20):
        try:
            os.fstat(fd)
        except OSError as e:
            name = errno.errorcode.get(e.errno, str(e.errno))
            errors[name] = errors.get(name, 0) + 1
    try:
        os.close(fd)
    except OSError as e:
        name = "close:" + errno.errorcode.get(e.errno, str(e.errno))
        errors[name] = errors.get(name, 0) + 1
print(f"opened={opened}", file=sys.stderr)
print(f"errors={sorted(errors.items())}")
"#;

e2e!(shared, integrity_fstat_of_an_open_file_during_renames);
/// The kernel does not serialise an fstat (a getattr by node) with a rename of the node's name,
/// and the mirror rebuilds the node's path from its records: between the host rename and the
/// record of it, that path named the file renamed over it (ESTALE).
fn integrity_fstat_of_an_open_file_during_renames(h: Helper) {
    let sb = Sandbox::new(h);
    let out = py_inside(&sb, FSTAT_DURING_RENAMES_SCRIPT, &["2"]);
    out.ok();
    assert_eq!(
        kv(&out, "", "errors"),
        Some("[]"),
        "fstat and close of an open file must not fail, whatever its name does\n{out}"
    );
}

// =============================================================================================
// 12. One name of a hard-linked file renamed away, then reused

const LINK_RENAMED_AWAY_SCRIPT: &str = r#"
import os
with open("a", "w") as f:
    f.write("x")
os.link("a", "b")
os.stat("a")
os.stat("b")
fd = os.open("b", os.O_RDONLY)
os.rename("a", "c")
with open("a", "w") as f:
    f.write("another file")
os.unlink("c")
for what, call in [("fstat", lambda: os.fstat(fd)), ("stat-b", lambda: os.stat("b"))]:
    try:
        s = call()
        print(f"{what}=ok nlink={s.st_nlink} size={s.st_size}")
    except OSError as e:
        print(f"{what}=error {e}")
os.close(fd)
"#;

e2e!(
    shared,
    integrity_hard_link_renamed_away_leaves_no_stale_path
);
/// The mirror keeps other names a hard-linked file was seen under, to reach it when the one
/// it recorded goes. A name renamed away must leave that list: kept, it later led to whatever
/// was made under it (ESTALE for an fstat of the file still open through its other name).
fn integrity_hard_link_renamed_away_leaves_no_stale_path(h: Helper) {
    let sb = Sandbox::new(h);
    let host_dir = tmpdir();
    let host = py_native(host_dir.path(), LINK_RENAMED_AWAY_SCRIPT, &[]);
    let inside = py_inside(&sb, LINK_RENAMED_AWAY_SCRIPT, &[]);
    assert_same_as_native("a hard link renamed away", &host, &inside);
    assert_eq!(kv(&inside, "", "fstat"), Some("ok"), "{inside}");
}
