//! The kernel-served trees: /usr bound read-only and the build directory read-write by
//! default; what the build can and cannot do to them; writes the kernel refuses, judged
//! and reported as the mirror would (through symlinks, from a 32-bit process); and an
//! entry added at run time, handed back to the mirror.

use std::path::{Path, PathBuf};

use super::*;
use crate::common::*;

/// The mountinfo lines of the run's /proc/self/mountinfo whose mount point is `at`.
fn mounts_at<'a>(mountinfo: &'a str, at: &Path) -> Vec<&'a str> {
    mountinfo
        .lines()
        .filter(|l| mountinfo_mountpoint(l) == Some(s(at)))
        .collect()
}

fn read_only(line: &str) -> bool {
    mountinfo_options(line).is_some_and(|o| o.split(',').any(|x| x == "ro"))
}

e2e!(shared, trees_usr_and_the_build_directory_are_kernel_served);
/// By default /usr is a read-only bind and the build directory a read-write one; with
/// `--full-mirror` or `--trace` (which needs every access), neither.
fn trees_usr_and_the_build_directory_are_kernel_served(h: Helper) {
    let sb = Sandbox::new(h);
    let bd = sb.dir().to_path_buf();
    let out = sb.run(&["cat", "/proc/self/mountinfo"]);
    out.ok();
    let usr = mounts_at(&out.stdout, Path::new("/usr"));
    assert!(usr.len() == 1 && read_only(usr[0]), "/usr: {usr:?}\n{out}");
    assert!(
        !mountinfo_fstype(usr[0]).unwrap_or("").starts_with("fuse"),
        "{out}"
    );
    let build = mounts_at(&out.stdout, &bd);
    assert!(
        build.len() == 1 && !read_only(build[0]),
        "build dir: {build:?}\n{out}"
    );
    let trace = tmpdir();
    for opts in [
        vec!["--full-mirror".to_string()],
        vec!["--trace".into(), s(&trace.path().join("t")).into()],
    ] {
        let opts: Vec<&str> = opts.iter().map(String::as_str).collect();
        let out = Sandbox::new(h)
            .opts(&opts)
            .run(&["cat", "/proc/self/mountinfo"]);
        out.ok();
        for line in out.stdout.lines() {
            let at = mountinfo_mountpoint(line).unwrap_or("");
            assert!(
                at != "/usr" && !at.starts_with("/tmp/"),
                "{opts:?}: {line}\n{out}"
            );
        }
    }
}

e2e!(shared, trees_cannot_be_unmounted_or_remounted);
/// Root inside (`--uid-map root`) holds no capability over the sandbox's mount namespace:
/// the binds cannot be unmounted or made writable, not even from a namespace of its own;
/// `..` from the build directory's bind leads into the mirror, not the host.
fn trees_cannot_be_unmounted_or_remounted(h: Helper) {
    let out = Sandbox::new(h).opts(&["--uid-map", "root"]).run_sh(
        r#"t() { if "$@" 2>/dev/null; then echo ok; else echo failed; fi; }
echo "umount-usr=$(t umount /usr)"
echo "umount-build=$(t umount "$PWD")"
echo "remount-usr=$(t mount -o remount,bind,rw /usr)"
echo "ns-remount-usr=$(t unshare -m sh -c 'mount -o remount,bind,rw /usr && touch /usr/fusebox-escape')"
echo "ns-umount-build=$(t unshare -m umount "$PWD")"
echo "up=$(stat -c %d "$PWD/..")"
echo "root=$(stat -c %d /)"
exit 0"#,
    );
    let field = |k: &str| {
        out.stdout
            .lines()
            .find_map(|l| l.strip_prefix(k)?.strip_prefix('='))
            .unwrap_or_else(|| panic!("no {k}\n{out}"))
            .to_string()
    };
    for k in [
        "umount-usr",
        "umount-build",
        "remount-usr",
        "ns-remount-usr",
        "ns-umount-build",
    ] {
        assert_eq!(
            field(k),
            "failed",
            "{k} must fail: the binds are locked\n{out}"
        );
    }
    assert!(!Path::new("/usr/fusebox-escape").exists());
    assert_eq!(
        field("up"),
        field("root"),
        "the build directory's parent is the mirror's\n{out}"
    );
}

/// A static i386 program, without libc: `open(PATH, O_WRONLY|O_CREAT, 0644)` through
/// `int 0x80`, exiting with the errno (0 on success). Built with binutils alone.
fn i386_creat(dir: &Path, path: &Path) -> PathBuf {
    let src = dir.join("creat32.s");
    std::fs::write(
        &src,
        format!(
            ".globl _start\n.text\n_start:\n mov $5, %eax\n mov $path, %ebx\n mov $0x41, %ecx\n \
             mov $0644, %edx\n int $0x80\n neg %eax\n mov %eax, %ebx\n mov $1, %eax\n int $0x80\n\
             .data\npath: .asciz \"{}\"\n",
            s(path)
        ),
    )
    .unwrap();
    let (obj, bin) = (dir.join("creat32.o"), dir.join("creat32"));
    native(&["as", "--32", "-o", s(&obj), s(&src)], dir).ok();
    native(&["ld", "-m", "elf_i386", "-o", s(&bin), s(&obj)], dir).ok();
    bin
}

e2e!(
    shared,
    trees_writes_into_usr_are_judged_however_they_get_there
);
/// Writes into /usr reached through a symlink in the build directory, a dangling one
/// created through, and by a 32-bit process (another syscall table): EACCES, and
/// reported on the /usr path, as the mirror would.
fn trees_writes_into_usr_are_judged_however_they_get_there(h: Helper) {
    let sb = Sandbox::new(h);
    let tools = tmpdir();
    let probe = PathBuf::from(format!("/usr/{}", unique("fusebox-e2e-32-")));
    let creat32 = i386_creat(tools.path(), &probe);
    let logdir = tmpdir();
    let log = logdir.path().join("log");
    let out = sb.opt("--log").opt(&log).run_sh_args(
        r#"ln -s /usr/bin/env to-env
ln -s /usr/fusebox-e2e-dangling to-nothing
echo "through=$(echo x 2>/dev/null > to-env; echo $?)"
echo "dangling=$(echo x 2>/dev/null > to-nothing; echo $?)"
"$1"; echo "creat32=$?"
exit 0"#,
        &[&creat32],
    );
    out.expect_code(1);
    for k in ["through=0", "dangling=0"] {
        assert!(!out.stdout.contains(k), "must fail: {k}\n{out}");
    }
    assert!(
        out.stdout.contains("creat32=13"),
        "EACCES, not EROFS (30)\n{out}"
    );
    assert!(!probe.exists() && !Path::new("/usr/fusebox-e2e-dangling").exists());
    let blocks = log_blocks(&read_log(&log));
    assert!(
        has_block(&blocks, "open_wr", Path::new("/usr/bin/env")),
        "{blocks:#?}"
    );
    let dangling = Path::new("/usr/fusebox-e2e-dangling");
    assert!(has_block(&blocks, "open_wr_creat", dangling), "{blocks:#?}");
    assert!(has_block(&blocks, "open_wr_creat", &probe), "{blocks:#?}");
}

e2e!(
    shared,
    trees_an_entry_added_at_run_time_is_handed_back_to_the_mirror
);
/// `adddeny` of a file and of a name not yet made in the build directory, and `addwrite`
/// of a directory in /usr: each path is the mirror's from then on (a mount of its own),
/// so the entry holds, relative names from the build directory included.
fn trees_an_entry_added_at_run_time_is_handed_back_to_the_mirror(h: Helper) {
    let sb = Sandbox::new(h);
    let bd = sb.dir().to_path_buf();
    std::fs::write(bd.join("secret"), "s3cret\n").unwrap();
    let logdir = tmpdir();
    let log = logdir.path().join("log");
    let out = sb.opt("--log").opt(&log).run_sh(
        r#"echo "adddeny $PWD/secret" > /dev/fusebox
echo "adddeny $PWD/later" > /dev/fusebox
echo "addwrite /usr/share/doc" > /dev/fusebox
echo "read=$(cat secret 2>/dev/null || echo refused)"
echo "mkdir=$(mkdir "$PWD/later" 2>/dev/null && echo made || echo refused)"
grep -c " /usr/share/doc .* - fuse" /proc/self/mountinfo | sed 's/^/doc-mounts=/'
touch /usr/share/doc/fusebox-e2e 2>/dev/null
exit 0"#,
    );
    out.expect_code(1);
    assert!(out.stdout.contains("read=refused"), "{out}");
    assert!(out.stdout.contains("mkdir=refused"), "{out}");
    assert!(out.stdout.contains("doc-mounts=1"), "{out}");
    assert!(!bd.join("later").exists());
    let blocks = log_blocks(&read_log(&log));
    assert!(
        has_block(&blocks, "open_rd", &bd.join("secret")),
        "{blocks:#?}"
    );
    assert!(
        has_block(&blocks, "mkdir", &bd.join("later")),
        "{blocks:#?}"
    );
    let doc = Path::new("/usr/share/doc/fusebox-e2e");
    assert!(
        !blocks
            .iter()
            .any(|b| b.get("P").is_some_and(|p| Path::new(p) == doc)),
        "allowed by addwrite: {blocks:#?}"
    );
}
