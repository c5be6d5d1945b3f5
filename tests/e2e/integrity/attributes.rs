//! Attributes through the mirror: UTIME_OMIT, a hard-linked file's attributes seen at once
//! through every name, and the ownership of what the build creates.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::*;
use crate::common::*;

// =============================================================================================
// UTIME_OMIT

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
    let sb = Sandbox::full_mirror(h);
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
// Hard links: attributes seen through every name, at once

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
    let sb = Sandbox::full_mirror(h);
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
// Ownership of what the build creates

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
    let sb = Sandbox::full_mirror(h).opts(&["--uid-map", "self"]);
    let out = sb.run_sh(OWNERSHIP_SCRIPT);
    out.ok();
    let want: String = OWNED
        .iter()
        .map(|n| format!("{n} {} {}\n", my_uid(), my_gid()))
        .collect();
    assert_eq!(out.stdout, want, "--uid-map self: ownership inside\n{out}");
    check_host_ownership(sb.dir(), "self", &out);

    // --uid-map root: 0 inside, the user outside; chown to root (= the user) works.
    let sb = Sandbox::full_mirror(h).opts(&["--uid-map", "root"]);
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
