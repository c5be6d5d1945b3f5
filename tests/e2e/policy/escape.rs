//! The escapes the policy must close: hard links, renames and symlinks into the build dir, a
//! directory swapped for a symlink, /proc's links, and root inside unmounting the mirror.

use std::time::Duration;

use super::*;
use crate::common::*;

// =============================================================================================
// Escapes

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
    let out = Sandbox::new(h).opt("--full-mirror").run_sh_args(
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
    let out = Sandbox::new(h)
        .opts(&["--uid-map", "root", "--full-mirror"])
        .run_sh_args(
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
