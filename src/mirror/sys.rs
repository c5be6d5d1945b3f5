//! The mirror's only `unsafe`: thin wrappers over syscalls nix does not cover
//! (getdents64, fchmodat2, utimensat with AT_EMPTY_PATH, the xattr family).
//!
//! Every wrapper passes only pointers to live Rust buffers together with their
//! lengths, and NUL-terminated strings, and converts the result with
//! `Errno::result`; none keeps a pointer past the call.
#![allow(unsafe_code)]

use std::cell::Cell;
use std::ffi::CStr;
use std::os::fd::{AsRawFd, BorrowedFd};

use nix::errno::Errno;

/// Reads raw `linux_dirent64` records from the directory fd's current position.
pub fn getdents64(fd: BorrowedFd<'_>, buf: &mut [u8]) -> nix::Result<usize> {
    // SAFETY: the kernel writes at most `buf.len()` bytes into `buf`, which is a live,
    // exclusively borrowed slice; `fd` is a valid borrowed descriptor.
    let n = unsafe {
        libc::syscall(
            libc::SYS_getdents64,
            fd.as_raw_fd(),
            buf.as_mut_ptr(),
            buf.len(),
        )
    };
    Errno::result(n).map(|n| n as usize)
}

/// copy_file_range between explicit offsets (nix wraps it only behind a feature the
/// crate does not enable).
pub fn copy_file_range(
    fd_in: BorrowedFd<'_>,
    off_in: &mut i64,
    fd_out: BorrowedFd<'_>,
    off_out: &mut i64,
    len: usize,
) -> nix::Result<usize> {
    // SAFETY: both offsets point to live, exclusively borrowed i64s (loff_t) the kernel
    // updates; both fds are valid; flags must be 0.
    let n = unsafe {
        libc::copy_file_range(
            fd_in.as_raw_fd(),
            off_in,
            fd_out.as_raw_fd(),
            off_out,
            len,
            0,
        )
    };
    Errno::result(n).map(|n| n as usize)
}

/// `fchmodat2(fd, "", mode, AT_EMPTY_PATH)` (Linux ≥ 6.6): chmod through an O_PATH fd.
pub fn fchmod_empty_path(fd: BorrowedFd<'_>, mode: u32) -> nix::Result<()> {
    // SAFETY: the path is a static NUL-terminated empty string; `fd` is valid.
    let r = unsafe {
        libc::syscall(
            libc::SYS_fchmodat2,
            fd.as_raw_fd(),
            c"".as_ptr(),
            mode,
            libc::AT_EMPTY_PATH,
        )
    };
    Errno::result(r).map(drop)
}

/// A timestamp for [`utimens`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetTime {
    /// Leave it as it is (UTIME_OMIT).
    Omit,
    /// The current time (UTIME_NOW).
    Now,
    At {
        sec: i64,
        nsec: i64,
    },
}

impl SetTime {
    fn timespec(self) -> libc::timespec {
        let (tv_sec, tv_nsec) = match self {
            SetTime::Omit => (0, libc::UTIME_OMIT),
            SetTime::Now => (0, libc::UTIME_NOW),
            SetTime::At { sec, nsec } => (sec, nsec),
        };
        libc::timespec { tv_sec, tv_nsec }
    }
}

/// `utimensat(dirfd, path, times, flags)`; nix's wrapper cannot pass AT_EMPTY_PATH.
pub fn utimensat(
    dirfd: BorrowedFd<'_>,
    path: &CStr,
    atime: SetTime,
    mtime: SetTime,
    flags: libc::c_int,
) -> nix::Result<()> {
    let times = [atime.timespec(), mtime.timespec()];
    // SAFETY: `path` is NUL-terminated, `times` is a live array of two timespecs as the
    // syscall requires; `dirfd` is valid.
    let r = unsafe { libc::utimensat(dirfd.as_raw_fd(), path.as_ptr(), times.as_ptr(), flags) };
    Errno::result(r).map(drop)
}

/// Whether an xattr call follows a final symlink (the `l*` variants do not).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Follow {
    Yes,
    No,
}

/// getxattr / lgetxattr. With an empty `buf`, returns the value's size.
pub fn getxattr(path: &CStr, name: &CStr, buf: &mut [u8], follow: Follow) -> nix::Result<usize> {
    let f = match follow {
        Follow::Yes => libc::getxattr,
        Follow::No => libc::lgetxattr,
    };
    // SAFETY: strings are NUL-terminated; the kernel writes at most `buf.len()` bytes
    // into the live, exclusively borrowed `buf` (a null-sized query writes nothing).
    let n = unsafe {
        f(
            path.as_ptr(),
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    Errno::result(n).map(|n| n as usize)
}

/// listxattr / llistxattr. With an empty `buf`, returns the list's size.
pub fn listxattr(path: &CStr, buf: &mut [u8], follow: Follow) -> nix::Result<usize> {
    let f = match follow {
        Follow::Yes => libc::listxattr,
        Follow::No => libc::llistxattr,
    };
    // SAFETY: as in `getxattr`.
    let n = unsafe { f(path.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    Errno::result(n).map(|n| n as usize)
}

/// setxattr / lsetxattr.
pub fn setxattr(
    path: &CStr,
    name: &CStr,
    value: &[u8],
    flags: libc::c_int,
    follow: Follow,
) -> nix::Result<()> {
    let f = match follow {
        Follow::Yes => libc::setxattr,
        Follow::No => libc::lsetxattr,
    };
    // SAFETY: strings are NUL-terminated; the kernel reads `value.len()` bytes from the
    // live `value` slice.
    let r = unsafe {
        f(
            path.as_ptr(),
            name.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            flags,
        )
    };
    Errno::result(r).map(drop)
}

/// removexattr / lremovexattr.
pub fn removexattr(path: &CStr, name: &CStr, follow: Follow) -> nix::Result<()> {
    let f = match follow {
        Follow::Yes => libc::removexattr,
        Follow::No => libc::lremovexattr,
    };
    // SAFETY: both strings are NUL-terminated.
    let r = unsafe { f(path.as_ptr(), name.as_ptr()) };
    Errno::result(r).map(drop)
}

thread_local! {
    static OWN_UMASK: Cell<bool> = const { Cell::new(false) };
}

/// Gives the calling thread its own umask of 0 (once per thread).
///
/// The kernel has already applied the build's umask to the mode of every create,
/// mkdir and mknod it sends; the daemon's own umask must not be applied a second time.
/// umask is per-process unless a thread unshares its fs_struct (CLONE_FS), and the
/// daemon shares its process with the supervisor, whose children must keep the
/// caller's umask — so only the FUSE reader threads get the zero umask.
pub fn zero_umask_for_this_thread() -> nix::Result<()> {
    if OWN_UMASK.with(Cell::get) {
        return Ok(());
    }
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_FS)?;
    nix::sys::stat::umask(nix::sys::stat::Mode::empty());
    OWN_UMASK.with(|c| c.set(true));
    Ok(())
}
