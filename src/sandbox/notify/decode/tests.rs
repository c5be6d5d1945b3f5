use super::*;

const P: u64 = 0x7fff_0000_1000; // a path's address
const Q: u64 = 0x7fff_0000_2000; // a second one
const FDCWD: u64 = AT_FDCWD as u32 as u64;

fn native(sys: Sys, args: [u64; 6]) -> Decoded {
    decode(Abi::Native, sys, &args)
}

/// The single path a syscall decodes to.
fn one(d: Decoded) -> PathArg {
    match d {
        Decoded::Paths(arg, None) => arg,
        other => panic!("not one path: {other:?}"),
    }
}

fn two(d: Decoded) -> (PathArg, PathArg) {
    match d {
        Decoded::Paths(a, Some(b)) => (a, b),
        other => panic!("not two paths: {other:?}"),
    }
}

fn open_flags(flags: i32) -> Decoded {
    native(Sys::Openat, [FDCWD, P, flags as u32 as u64, 0, 0, 0])
}

#[test]
fn open_flags_name_the_op_and_whether_the_final_symlink_is_followed() {
    use libc::*;
    let cases = [
        (O_WRONLY, Op::OpenWr, true, ACTS_ON_EXISTING),
        (O_RDWR | O_NOFOLLOW, Op::OpenWr, false, ACTS_ON_EXISTING),
        (O_RDONLY | O_TRUNC, Op::OpenWr, true, ACTS_ON_EXISTING),
        (O_WRONLY | O_CREAT, Op::OpenWrCreat, true, CREATES_OR_WRITES),
        (
            O_WRONLY | O_CREAT | O_NOFOLLOW,
            Op::OpenWrCreat,
            false,
            CREATES_OR_WRITES,
        ),
        (O_WRONLY | O_CREAT | O_EXCL, Op::OpenWrCreat, false, CREATES),
        (O_RDONLY | O_CREAT, Op::OpenRdCreat, true, CREATES),
        (O_RDONLY | O_CREAT | O_EXCL, Op::OpenRdCreat, false, CREATES),
        (
            O_WRONLY | O_TMPFILE,
            Op::OpenTmpfile,
            true,
            ACTS_ON_EXISTING,
        ),
    ];
    for (flags, op, follow, existence) in cases {
        let arg = one(open_flags(flags));
        assert_eq!(
            (arg.op, arg.follow, arg.existence),
            (op, follow, existence),
            "{flags:#o}"
        );
        assert_eq!((arg.dirfd, arg.addr), (AT_FDCWD, P));
    }
    for flags in [
        O_RDONLY,
        O_RDONLY | O_DIRECTORY,
        O_PATH | O_WRONLY,
        O_PATH | O_CREAT,
    ] {
        assert_eq!(open_flags(flags), Decoded::Nothing, "{flags:#o}");
    }
    // creat(path, mode) is open(path, O_CREAT|O_WRONLY|O_TRUNC, mode).
    let arg = one(native(Sys::Creat, [P, 0o644, 0, 0, 0, 0]));
    assert_eq!((arg.op, arg.follow), (Op::OpenWrCreat, true));
}

#[test]
fn the_kernel_reads_int_flags_and_fds() {
    // High halves of `int` arguments are ignored, in both ABIs.
    let noise = 0xABCD_0000_0000_0000u64;
    let d = native(Sys::Openat, [noise | FDCWD, P, noise, 0, 0, 0]);
    assert_eq!(d, Decoded::Nothing);
    let d = native(
        Sys::Openat,
        [noise | 7, P, noise | libc::O_WRONLY as u64, 0, 0, 0],
    );
    assert_eq!(one(d).dirfd, 7);
    // A sign-extended AT_FDCWD is AT_FDCWD too.
    assert_eq!(
        one(native(Sys::Mkdirat, [u64::MAX - 99, P, 0, 0, 0, 0])).dirfd,
        AT_FDCWD
    );
}

#[test]
fn i386_pointers_are_32_bits() {
    let high = 0xFFFF_FFFF_0000_0000u64;
    let d = decode(
        Abi::Compat,
        Sys::Open,
        &[high | 0x0804_9000, libc::O_WRONLY as u64, 0, 0, 0, 0],
    );
    assert_eq!(one(d).addr, 0x0804_9000);
    let d = decode(
        Abi::Compat,
        Sys::Renameat,
        &[FDCWD, high | 0x1000, 5, high | 0x2000, 0, 0],
    );
    let (old, new) = two(d);
    assert_eq!((old.addr, new.addr, new.dirfd), (0x1000, 0x2000, 5));
    // Native pointers are whole.
    assert_eq!(one(native(Sys::Unlink, [P, 0, 0, 0, 0, 0])).addr, P);
}

#[test]
fn names_that_are_made_or_removed_are_not_followed() {
    for (sys, args, op) in [
        (Sys::Mkdir, [P, 0o755, 0, 0, 0, 0], Op::Mkdir),
        (Sys::Mkdirat, [3, P, 0o755, 0, 0, 0], Op::Mkdir),
        (Sys::Mknod, [P, libc::S_IFREG as u64, 0, 0, 0, 0], Op::Mknod),
        (
            Sys::Mknodat,
            [3, P, libc::S_IFIFO as u64 | 0o644, 0, 0, 0],
            Op::Mkfifo,
        ),
        (Sys::Symlink, [Q, P, 0, 0, 0, 0], Op::Symlink),
        (Sys::Symlinkat, [Q, 3, P, 0, 0, 0], Op::Symlink),
    ] {
        let arg = one(native(sys, args));
        assert_eq!((arg.op, arg.addr, arg.follow), (op, P, false), "{sys:?}");
        assert_eq!(arg.existence, CREATES, "{sys:?}");
    }
    for (sys, args, op) in [
        (Sys::Unlink, [P, 0, 0, 0, 0, 0], Op::Unlink),
        (Sys::Rmdir, [P, 0, 0, 0, 0, 0], Op::Rmdir),
        (Sys::Unlinkat, [3, P, 0, 0, 0, 0], Op::Unlink),
        (
            Sys::Unlinkat,
            [3, P, libc::AT_REMOVEDIR as u64, 0, 0, 0],
            Op::Rmdir,
        ),
    ] {
        let arg = one(native(sys, args));
        assert_eq!((arg.op, arg.addr, arg.follow), (op, P, false), "{sys:?}");
        assert_eq!(arg.existence, REMOVES, "{sys:?}");
    }
}

#[test]
fn rename_and_link_name_both_paths() {
    let (old, new) = two(native(Sys::Rename, [P, Q, 0, 0, 0, 0]));
    assert_eq!((old.op, old.addr, old.existence), (Op::Rename, P, REMOVES));
    assert_eq!(
        (new.op, new.addr, new.existence),
        (Op::Rename, Q, CREATES_OR_WRITES)
    );
    assert!(!old.follow && !new.follow);
    let noreplace = libc::RENAME_NOREPLACE as u64;
    let (_, new) = two(native(Sys::Renameat2, [3, P, 4, Q, noreplace, 0]));
    assert_eq!(
        (new.dirfd, new.existence.present),
        (4, Then::Fail(libc::EEXIST))
    );
    let exchange = libc::RENAME_EXCHANGE as u64;
    let (_, new) = two(native(Sys::Renameat2, [3, P, 4, Q, exchange, 0]));
    assert_eq!(new.existence, REMOVES);

    let (old, new) = two(native(Sys::Link, [P, Q, 0, 0, 0, 0]));
    assert_eq!(
        (old.op, old.follow, old.existence),
        (Op::Link, false, ACTS_ON_EXISTING)
    );
    assert_eq!((new.op, new.addr, new.existence), (Op::Link, Q, CREATES));
    let flags = (libc::AT_SYMLINK_FOLLOW | libc::AT_EMPTY_PATH) as u64;
    let (old, _) = two(native(Sys::Linkat, [3, P, 4, Q, flags, 0]));
    assert!(old.follow && old.empty_is_dirfd);
}

#[test]
fn at_flags_choose_the_symlink_or_the_dirfd() {
    let nofollow = libc::AT_SYMLINK_NOFOLLOW as u64;
    let empty = libc::AT_EMPTY_PATH as u64;
    let cases = [
        (Sys::Chmod, [P, 0, 0, 0, 0, 0], Op::Chmod, true),
        (Sys::Fchmodat, [3, P, 0, nofollow, 0, 0], Op::Chmod, true), // no flags argument
        (Sys::Fchmodat2, [3, P, 0, nofollow, 0, 0], Op::Chmod, false),
        (Sys::Chown, [P, 0, 0, 0, 0, 0], Op::Chown, true),
        (Sys::Lchown, [P, 0, 0, 0, 0, 0], Op::Chown, false),
        (Sys::Fchownat, [3, P, 0, 0, nofollow, 0], Op::Chown, false),
        (Sys::Truncate, [P, 0, 0, 0, 0, 0], Op::Truncate, true),
        (Sys::Utime, [P, 0, 0, 0, 0, 0], Op::Utimensat, true),
        (Sys::Utimes, [P, 0, 0, 0, 0, 0], Op::Utimensat, true),
        (Sys::Futimesat, [3, P, 0, 0, 0, 0], Op::Utimensat, true),
        (
            Sys::Utimensat,
            [3, P, 0, nofollow, 0, 0],
            Op::Utimensat,
            false,
        ),
        (Sys::Setxattr, [P, Q, 0, 0, 0, 0], Op::Setxattr, true),
        (Sys::Lsetxattr, [P, Q, 0, 0, 0, 0], Op::Setxattr, false),
        (
            Sys::Setxattrat,
            [3, P, nofollow, Q, 0, 0],
            Op::Setxattr,
            false,
        ),
        (Sys::Removexattr, [P, Q, 0, 0, 0, 0], Op::Removexattr, true),
        (
            Sys::Lremovexattr,
            [P, Q, 0, 0, 0, 0],
            Op::Removexattr,
            false,
        ),
        (
            Sys::Removexattrat,
            [3, P, 0, Q, 0, 0],
            Op::Removexattr,
            true,
        ),
        (
            Sys::Access,
            [P, libc::W_OK as u64, 0, 0, 0, 0],
            Op::AccessWr,
            true,
        ),
        (
            Sys::Faccessat,
            [3, P, libc::W_OK as u64, 0, 0, 0],
            Op::AccessWr,
            true,
        ),
        (
            Sys::Faccessat2,
            [3, P, libc::W_OK as u64, nofollow, 0, 0],
            Op::AccessWr,
            false,
        ),
    ];
    for (sys, args, op, follow) in cases {
        let arg = one(native(sys, args));
        assert_eq!((arg.op, arg.addr, arg.follow), (op, P, follow), "{sys:?}");
        assert_eq!(arg.existence, ACTS_ON_EXISTING, "{sys:?}");
        assert!(!arg.empty_is_dirfd, "{sys:?}");
    }
    let arg = one(native(Sys::Fchownat, [3, P, 0, 0, empty, 0]));
    assert!(arg.empty_is_dirfd && arg.follow);
    let arg = one(native(Sys::Utimensat, [3, P, 0, empty | nofollow, 0, 0]));
    assert!(arg.empty_is_dirfd && !arg.follow);
}

#[test]
fn fd_ops_and_reads_are_nothing() {
    // utimensat(fd, NULL, …) is futimens: the fd was judged when it was opened.
    assert_eq!(native(Sys::Utimensat, [3, 0, 0, 0, 0, 0]), Decoded::Nothing);
    assert_eq!(native(Sys::Futimesat, [3, 0, 0, 0, 0, 0]), Decoded::Nothing);
    let high = 0xFFFF_FFFF_0000_0000u64;
    let d = decode(Abi::Compat, Sys::Utimensat, &[3, high, 0, 0, 0, 0]);
    assert_eq!(d, Decoded::Nothing);
    let r_ok = libc::R_OK as u64;
    assert_eq!(native(Sys::Access, [P, r_ok, 0, 0, 0, 0]), Decoded::Nothing);
    assert_eq!(
        native(Sys::Faccessat2, [3, P, r_ok, 0, 0, 0]),
        Decoded::Nothing
    );
}

#[test]
fn openat2_reads_its_flags_from_memory() {
    let how = 0x7fff_0000_3000;
    let d = native(Sys::Openat2, [3, P, how, 24, 0, 0]);
    assert_eq!(
        d,
        Decoded::Openat2 {
            dirfd: 3,
            path: P,
            how,
            size: 24
        }
    );
    let wr = libc::O_WRONLY as u64;
    let arg = one(openat2(3, P, wr | libc::O_CREAT as u64, 0));
    assert_eq!((arg.op, arg.dirfd_is_root), (Op::OpenWrCreat, false));
    let arg = one(openat2(3, P, wr, libc::RESOLVE_IN_ROOT));
    assert!(arg.dirfd_is_root);
    assert_eq!(openat2(3, P, libc::O_RDONLY as u64, 0), Decoded::Nothing);
    // Flags over 32 bits: EINVAL from the kernel.
    assert_eq!(openat2(3, P, wr | 1 << 40, 0), Decoded::Nothing);
}
