//! What a write-class syscall's arguments mean: which op, which arguments are the
//! dirfd and the path (two for rename and link; for symlink only the new name, its
//! target is data), whether the final component is followed, and what the kernel
//! answers by itself when the file is there or not.
//!
//! Pure: the registers in, [`PathArg`]s out. Reading the strings is `target.rs`'s job.

use libc::{AT_EMPTY_PATH, AT_FDCWD, AT_REMOVEDIR, AT_SYMLINK_FOLLOW, AT_SYMLINK_NOFOLLOW};

use super::syscalls::{Abi, Sys};
use crate::policy::Op;

/// What to answer, before asking the gate, when the named file is there or not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Then {
    Ask,
    /// The kernel fails the syscall by itself, before it checks the mount for writes
    /// (ENOENT, EEXIST): no write is attempted, the gate is not asked.
    Continue,
    /// Fail with this errno without asking: the answer the kernel gives on a writable
    /// tree, which on a read-only mount would be EROFS (the write check comes first).
    Fail(i32),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Existence {
    pub missing: Then,
    pub present: Then,
}

/// chmod, chown, truncate, utimes, xattrs, access, open without O_CREAT: ENOENT comes
/// from the lookup, before the write check.
pub const ACTS_ON_EXISTING: Existence = Existence {
    missing: Then::Continue,
    present: Then::Ask,
};
/// mkdir, mknod, symlink, link's new name, O_CREAT|O_EXCL: EEXIST comes before EROFS.
/// open(O_RDONLY|O_CREAT) of an existing file too: it opens it for reading.
pub const CREATES: Existence = Existence {
    missing: Then::Ask,
    present: Then::Continue,
};
/// open(O_WRONLY|O_CREAT), rename's new name.
pub const CREATES_OR_WRITES: Existence = Existence {
    missing: Then::Ask,
    present: Then::Ask,
};
/// unlink, rmdir, rename's old name: the kernel checks the mount before the lookup.
pub const REMOVES: Existence = Existence {
    missing: Then::Fail(libc::ENOENT),
    present: Then::Ask,
};

/// One path a syscall names, still in the caller's memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PathArg {
    pub op: Op,
    /// Where a relative path starts (`AT_FDCWD`: the caller's cwd).
    pub dirfd: i32,
    /// The address of the NUL-terminated path in the caller's memory.
    pub addr: u64,
    /// Whether the final component is followed when it is a symlink.
    pub follow: bool,
    pub existence: Existence,
    /// `AT_EMPTY_PATH`: an empty path names the dirfd's file itself.
    pub empty_is_dirfd: bool,
    /// openat2's `RESOLVE_IN_ROOT` or `RESOLVE_BENEATH`: the path is resolved with the
    /// dirfd as its root.
    pub dirfd_is_root: bool,
}

/// A notification's syscall, decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decoded {
    /// Writes nothing through a path (a read-only open, an fd op): continue.
    Nothing,
    /// One or two paths (rename, link: old then new).
    Paths(PathArg, Option<PathArg>),
    /// openat2: its flags are in memory, a `struct open_how` of `size` bytes at `how`.
    Openat2 {
        dirfd: i32,
        path: u64,
        how: u64,
        size: u64,
    },
}

impl PathArg {
    fn new(op: Op, dirfd: i32, addr: u64, follow: bool, existence: Existence) -> Self {
        PathArg {
            op,
            dirfd,
            addr,
            follow,
            existence,
            empty_is_dirfd: false,
            dirfd_is_root: false,
        }
    }

    fn one(self) -> Decoded {
        Decoded::Paths(self, None)
    }
}

/// Decodes syscall `sys` of `abi` from its six argument registers.
pub fn decode(abi: Abi, sys: Sys, args: &[u64; 6]) -> Decoded {
    use Sys::*;
    // i386 arguments are 32-bit: the kernel truncates each register (a 64-bit process
    // using `int 0x80` can leave garbage in the high halves).
    let ptr = |i: usize| match abi {
        Abi::Compat => args[i] & 0xFFFF_FFFF,
        Abi::Native => args[i],
    };
    let int = |i: usize| args[i] as u32;
    let fd = |i: usize| args[i] as u32 as i32;
    let cwd = AT_FDCWD;
    let on_existing = |op, dirfd, addr, at_flags| at_op(op, dirfd, addr, at_flags);
    match sys {
        Open => open(cwd, ptr(0), int(1)),
        Openat => open(fd(0), ptr(1), int(2)),
        Creat => open(
            cwd,
            ptr(0),
            (libc::O_CREAT | libc::O_WRONLY | libc::O_TRUNC) as u32,
        ),
        Openat2 => Decoded::Openat2 {
            dirfd: fd(0),
            path: ptr(1),
            how: ptr(2),
            size: ptr(3),
        },
        Mkdir => PathArg::new(Op::Mkdir, cwd, ptr(0), false, CREATES).one(),
        Mkdirat => PathArg::new(Op::Mkdir, fd(0), ptr(1), false, CREATES).one(),
        Mknod => mknod(cwd, ptr(0), int(1)),
        Mknodat => mknod(fd(0), ptr(1), int(2)),
        Unlink => PathArg::new(Op::Unlink, cwd, ptr(0), false, REMOVES).one(),
        Rmdir => PathArg::new(Op::Rmdir, cwd, ptr(0), false, REMOVES).one(),
        Unlinkat => {
            let op = if int(2) & AT_REMOVEDIR as u32 != 0 {
                Op::Rmdir
            } else {
                Op::Unlink
            };
            PathArg::new(op, fd(0), ptr(1), false, REMOVES).one()
        }
        Rename => rename((cwd, ptr(0)), (cwd, ptr(1)), 0),
        Renameat => rename((fd(0), ptr(1)), (fd(2), ptr(3)), 0),
        Renameat2 => rename((fd(0), ptr(1)), (fd(2), ptr(3)), int(4)),
        Link => link((cwd, ptr(0)), (cwd, ptr(1)), 0),
        Linkat => link((fd(0), ptr(1)), (fd(2), ptr(3)), int(4)),
        Symlink => PathArg::new(Op::Symlink, cwd, ptr(1), false, CREATES).one(),
        Symlinkat => PathArg::new(Op::Symlink, fd(1), ptr(2), false, CREATES).one(),
        Chmod => on_existing(Op::Chmod, cwd, ptr(0), 0),
        Fchmodat => on_existing(Op::Chmod, fd(0), ptr(1), 0), // no flags argument
        Fchmodat2 => on_existing(Op::Chmod, fd(0), ptr(1), int(3)),
        Chown => on_existing(Op::Chown, cwd, ptr(0), 0),
        Lchown => on_existing(Op::Chown, cwd, ptr(0), AT_SYMLINK_NOFOLLOW as u32),
        Fchownat => on_existing(Op::Chown, fd(0), ptr(1), int(4)),
        Truncate => on_existing(Op::Truncate, cwd, ptr(0), 0),
        Utime | Utimes => on_existing(Op::Utimensat, cwd, ptr(0), 0),
        // A NULL path is futimens(2): an fd op.
        Futimesat | Utimensat if ptr(1) == 0 => Decoded::Nothing,
        Futimesat => on_existing(Op::Utimensat, fd(0), ptr(1), 0),
        Utimensat => on_existing(Op::Utimensat, fd(0), ptr(1), int(3)),
        Setxattr => on_existing(Op::Setxattr, cwd, ptr(0), 0),
        Lsetxattr => on_existing(Op::Setxattr, cwd, ptr(0), AT_SYMLINK_NOFOLLOW as u32),
        Setxattrat => on_existing(Op::Setxattr, fd(0), ptr(1), int(2)),
        Removexattr => on_existing(Op::Removexattr, cwd, ptr(0), 0),
        Lremovexattr => on_existing(Op::Removexattr, cwd, ptr(0), AT_SYMLINK_NOFOLLOW as u32),
        Removexattrat => on_existing(Op::Removexattr, fd(0), ptr(1), int(2)),
        Access | Faccessat | Faccessat2 => {
            let (dirfd, addr, mode, at_flags) = match sys {
                Access => (cwd, ptr(0), int(1), 0),
                Faccessat => (fd(0), ptr(1), int(2), 0),
                _ => (fd(0), ptr(1), int(2), int(3)),
            };
            if mode & libc::W_OK as u32 == 0 {
                return Decoded::Nothing;
            }
            at_op(Op::AccessWr, dirfd, addr, at_flags)
        }
    }
}

/// A syscall on an existing file, with the `*at` flags that say which: its final
/// symlink itself (`AT_SYMLINK_NOFOLLOW`), the dirfd's file (`AT_EMPTY_PATH`).
fn at_op(op: Op, dirfd: i32, addr: u64, at_flags: u32) -> Decoded {
    let follow = at_flags & AT_SYMLINK_NOFOLLOW as u32 == 0;
    let mut arg = PathArg::new(op, dirfd, addr, follow, ACTS_ON_EXISTING);
    arg.empty_is_dirfd = at_flags & AT_EMPTY_PATH as u32 != 0;
    arg.one()
}

/// open, openat, creat (and openat2 once its flags are read): the op the flags make
/// it, if they make it a write (an `int`: the low 32 bits).
pub fn open(dirfd: i32, addr: u64, flags: u32) -> Decoded {
    let flags = flags as i32;
    let has = |bits: i32| flags & bits != 0;
    let writes = flags & libc::O_ACCMODE != libc::O_RDONLY || has(libc::O_TRUNC);
    if has(libc::O_PATH) {
        // O_PATH ignores the access mode: nothing is opened for writing.
        return Decoded::Nothing;
    }
    let nofollow = has(libc::O_NOFOLLOW);
    let (op, follow, existence) = if flags & libc::O_TMPFILE == libc::O_TMPFILE {
        // The path is the directory the unnamed file is made in.
        (Op::OpenTmpfile, true, ACTS_ON_EXISTING)
    } else if has(libc::O_CREAT) && has(libc::O_EXCL) {
        // O_EXCL never follows a final symlink: it fails with EEXIST.
        let op = if writes {
            Op::OpenWrCreat
        } else {
            Op::OpenRdCreat
        };
        (op, false, CREATES)
    } else if has(libc::O_CREAT) {
        if writes {
            (Op::OpenWrCreat, !nofollow, CREATES_OR_WRITES)
        } else {
            (Op::OpenRdCreat, !nofollow, CREATES)
        }
    } else if writes {
        (Op::OpenWr, !nofollow, ACTS_ON_EXISTING)
    } else {
        return Decoded::Nothing;
    };
    PathArg::new(op, dirfd, addr, follow, existence).one()
}

/// openat2 once its `struct open_how` is read.
pub fn openat2(dirfd: i32, addr: u64, flags: u64, resolve: u64) -> Decoded {
    if flags >> 32 != 0 {
        return Decoded::Nothing; // EINVAL from the kernel
    }
    match open(dirfd, addr, flags as u32) {
        Decoded::Paths(mut arg, None) => {
            let rooted = libc::RESOLVE_IN_ROOT | libc::RESOLVE_BENEATH;
            arg.dirfd_is_root = resolve & rooted != 0;
            Decoded::Paths(arg, None)
        }
        other => other,
    }
}

fn mknod(dirfd: i32, addr: u64, mode: u32) -> Decoded {
    let op = if mode & libc::S_IFMT == libc::S_IFIFO {
        Op::Mkfifo
    } else {
        Op::Mknod
    };
    PathArg::new(op, dirfd, addr, false, CREATES).one()
}

fn rename(old: (i32, u64), new: (i32, u64), flags: u32) -> Decoded {
    let new_existence = if flags & libc::RENAME_EXCHANGE != 0 {
        REMOVES // both must exist
    } else if flags & libc::RENAME_NOREPLACE != 0 {
        Existence {
            missing: Then::Ask,
            present: Then::Fail(libc::EEXIST),
        }
    } else {
        CREATES_OR_WRITES
    };
    Decoded::Paths(
        PathArg::new(Op::Rename, old.0, old.1, false, REMOVES),
        Some(PathArg::new(Op::Rename, new.0, new.1, false, new_existence)),
    )
}

fn link(old: (i32, u64), new: (i32, u64), flags: u32) -> Decoded {
    let follow = flags & AT_SYMLINK_FOLLOW as u32 != 0;
    let mut from = PathArg::new(Op::Link, old.0, old.1, follow, ACTS_ON_EXISTING);
    from.empty_is_dirfd = flags & AT_EMPTY_PATH as u32 != 0;
    Decoded::Paths(
        from,
        Some(PathArg::new(Op::Link, new.0, new.1, false, CREATES)),
    )
}

#[cfg(test)]
mod tests;
