//! Open files and their names: O_TMPFILE, a file unlinked but open, a rename over an open file,
//! an inode number the host reuses, fstat during renames, and a hard link renamed away.

use std::os::unix::fs::MetadataExt;

use super::*;
use crate::common::*;

// =============================================================================================
// O_TMPFILE

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
    let sb = Sandbox::full_mirror(h);
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
// Unlinked but open

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
    let sb = Sandbox::full_mirror(h);
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
// Rename over an open file

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
    let sb = Sandbox::full_mirror(h);
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
// A directory removed while a process is in it, and a new one made at once

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
    let sb = Sandbox::full_mirror(h);
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
// fstat of an open file while its name is renamed over

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
    except OSError as e:
        # A rename over "a" is atomic: natively this open never fails.
        name = "open:" + errno.errorcode.get(e.errno, str(e.errno))
        errors[name] = errors.get(name, 0) + 1
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
/// record of it, that path named the file renamed over it (ESTALE). Likewise an open racing
/// with the rename must get the old file or the new one, never ESTALE or ENOENT.
fn integrity_fstat_of_an_open_file_during_renames(h: Helper) {
    let sb = Sandbox::full_mirror(h);
    let out = py_inside(&sb, FSTAT_DURING_RENAMES_SCRIPT, &["2"]);
    out.ok();
    assert_eq!(
        kv(&out, "", "errors"),
        Some("[]"),
        "open, fstat and close of a file must not fail, whatever its name does\n{out}"
    );
}

// =============================================================================================
// One name of a hard-linked file renamed away, then reused

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
    let sb = Sandbox::full_mirror(h);
    let host_dir = tmpdir();
    let host = py_native(host_dir.path(), LINK_RENAMED_AWAY_SCRIPT, &[]);
    let inside = py_inside(&sb, LINK_RENAMED_AWAY_SCRIPT, &[]);
    assert_same_as_native("a hard link renamed away", &host, &inside);
    assert_eq!(kv(&inside, "", "fstat"), Some("ok"), "{inside}");
}
