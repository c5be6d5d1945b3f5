//! The module's only `unsafe`: seccomp(2) with a listener, the listener's ioctls, and
//! fd passing over a Unix socket.
//!
//! SAFETY (whole file): every `unsafe` block passes the kernel pointers to live,
//! properly sized and aligned Rust values (on the stack) for the duration of the call,
//! and keeps no pointer past it; fds are borrowed for the call or, when the kernel
//! returns a new one, owned at once.
#![allow(unsafe_code)]

use std::io;
use std::mem::{size_of, zeroed};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// Installs `program` with a listener (seccomp(2), `SECCOMP_FILTER_FLAG_NEW_LISTENER`)
/// and returns the listener, close-on-exec. Asks for `WAIT_KILLABLE_RECV` (Linux 5.19)
/// where the kernel has it: once the daemon has read a notification, the caller waits
/// for the answer without being interrupted by a non-fatal signal, so a program
/// signalled all the time (Go's preemption) cannot make its syscall restart forever.
///
/// Neither allocates nor takes a lock: it may run in a freshly forked child.
pub fn install_listener(program: &[libc::sock_filter]) -> io::Result<OwnedFd> {
    let len =
        u16::try_from(program.len()).map_err(|_| io::Error::from_raw_os_error(libc::E2BIG))?;
    let prog = libc::sock_fprog {
        len,
        filter: program.as_ptr() as *mut libc::sock_filter,
    };
    let listener = libc::SECCOMP_FILTER_FLAG_NEW_LISTENER;
    let killable = listener | libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV;
    let mut result = seccomp_set_filter(&prog, killable);
    if matches!(&result, Err(e) if e.raw_os_error() == Some(libc::EINVAL)) {
        result = seccomp_set_filter(&prog, listener);
    }
    result
}

fn seccomp_set_filter(prog: &libc::sock_fprog, flags: libc::c_ulong) -> io::Result<OwnedFd> {
    // SAFETY: `prog` points at the caller's instructions, which outlive the call; the
    // kernel copies them. On success the return value is a new fd nobody else owns.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            flags,
            prog as *const libc::sock_fprog,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: see above.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// A notification to receive into.
pub fn empty_notif() -> libc::seccomp_notif {
    // SAFETY: seccomp_notif is plain old data; all zeroes is a valid value.
    unsafe { zeroed() }
}

/// The next notification (blocks). The kernel wants the struct zeroed.
pub fn recv(listener: BorrowedFd, notif: &mut libc::seccomp_notif) -> io::Result<()> {
    // SAFETY: seccomp_notif is plain old data; all zeroes is a valid value.
    *notif = unsafe { zeroed() };
    // SAFETY: the kernel writes one `seccomp_notif` into `notif`.
    let ret = unsafe {
        libc::ioctl(
            listener.as_raw_fd(),
            libc::SECCOMP_IOCTL_NOTIF_RECV,
            notif as *mut libc::seccomp_notif,
        )
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Answers notification `id`: `errno` None lets the syscall run, Some fails it.
pub fn send(listener: BorrowedFd, id: u64, errno: Option<i32>) -> io::Result<()> {
    let mut resp = libc::seccomp_notif_resp {
        id,
        val: 0,
        error: 0,
        flags: 0,
    };
    match errno {
        None => resp.flags = libc::SECCOMP_USER_NOTIF_FLAG_CONTINUE as u32,
        Some(e) => resp.error = -e,
    }
    // SAFETY: the kernel reads one `seccomp_notif_resp` from `resp`.
    let ret = unsafe {
        libc::ioctl(
            listener.as_raw_fd(),
            libc::SECCOMP_IOCTL_NOTIF_SEND,
            &mut resp as *mut libc::seccomp_notif_resp,
        )
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Whether notification `id` is still pending: its caller is alive and still in the
/// syscall, so the pid it named has not been reused.
pub fn id_valid(listener: BorrowedFd, id: u64) -> bool {
    let mut id = id;
    // SAFETY: the kernel reads one u64 from `id`.
    let ret = unsafe {
        libc::ioctl(
            listener.as_raw_fd(),
            libc::SECCOMP_IOCTL_NOTIF_ID_VALID,
            &mut id as *mut u64,
        )
    };
    ret == 0
}

/// Asks the kernel to wake the caller and the notifier on the same CPU, as one
/// synchronous call (`SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP`, Linux 6.6): a round trip then
/// costs no cross-CPU wake-up. Older kernels say EINVAL, and the answers are the same.
pub fn ask_sync_wake_up(listener: BorrowedFd) -> io::Result<()> {
    // <linux/seccomp.h>: not in libc yet.
    const SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP: u64 = 1;
    // SAFETY: the ioctl takes the flags by value; no memory is passed.
    let ret = unsafe {
        libc::ioctl(
            listener.as_raw_fd(),
            libc::SECCOMP_IOCTL_NOTIF_SET_FLAGS,
            SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP,
        )
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// What the listener has for us.
#[derive(Debug, PartialEq, Eq)]
pub enum Ready {
    /// A notification to receive.
    Notification,
    /// No process is left under the filter (POLLHUP, Linux 5.8).
    HungUp,
}

/// Waits until the listener has a notification or no process is left under its filter.
pub fn wait(listener: BorrowedFd) -> io::Result<Ready> {
    let mut pfd = libc::pollfd {
        fd: listener.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one live pollfd.
    let ret = unsafe { libc::poll(&mut pfd, 1, -1) };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    if pfd.revents & libc::POLLIN != 0 {
        Ok(Ready::Notification)
    } else {
        Ok(Ready::HungUp)
    }
}

/// Room for one `SCM_RIGHTS` control message with one fd, aligned for `cmsghdr`.
#[repr(C)]
union OneFdCmsg {
    buf: [u8; 24], // CMSG_SPACE(sizeof(int)) on 64-bit (16 + 8) and 32-bit (12 + 4)
    _align: libc::cmsghdr,
}

/// Sends `fd` over the Unix socket `sock` (`SCM_RIGHTS`, one byte of data). Does not
/// allocate: it may run in a freshly forked child.
pub fn send_fd(sock: BorrowedFd, fd: BorrowedFd) -> io::Result<()> {
    // SAFETY: a union of plain old data; zeroes are valid.
    let mut cmsg: OneFdCmsg = unsafe { zeroed() };
    let mut byte = [0u8; 1];
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: 1,
    };
    // SAFETY: msghdr is plain old data; the fields that matter are set below.
    let mut msg: libc::msghdr = unsafe { zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    // SAFETY: CMSG_SPACE is a pure computation.
    let space = unsafe { libc::CMSG_SPACE(size_of::<libc::c_int>() as u32) } as usize;
    debug_assert!(space <= size_of::<OneFdCmsg>());
    msg.msg_control = (&raw mut cmsg).cast();
    msg.msg_controllen = space as _;
    // SAFETY: msg_control points at `cmsg`, big enough and aligned for one header with
    // one int (checked above); CMSG_FIRSTHDR and CMSG_DATA stay inside it.
    unsafe {
        let hdr = libc::CMSG_FIRSTHDR(&msg);
        (*hdr).cmsg_level = libc::SOL_SOCKET;
        (*hdr).cmsg_type = libc::SCM_RIGHTS;
        (*hdr).cmsg_len = libc::CMSG_LEN(size_of::<libc::c_int>() as u32) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(hdr).cast::<libc::c_int>(), fd.as_raw_fd());
    }
    loop {
        // SAFETY: `msg` and everything it points at are live for the call.
        let ret = unsafe { libc::sendmsg(sock.as_raw_fd(), &msg, libc::MSG_NOSIGNAL) };
        if ret >= 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINTR) {
            return Err(e);
        }
    }
}

/// Receives one fd sent with [`send_fd`], close-on-exec. EOF without one is an error.
pub fn recv_fd(sock: BorrowedFd) -> io::Result<OwnedFd> {
    // SAFETY: as in `send_fd`.
    let mut cmsg: OneFdCmsg = unsafe { zeroed() };
    let mut byte = [0u8; 1];
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: 1,
    };
    // SAFETY: as in `send_fd`.
    let mut msg: libc::msghdr = unsafe { zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = (&raw mut cmsg).cast();
    msg.msg_controllen = size_of::<OneFdCmsg>() as _;
    let n = loop {
        // SAFETY: `msg` and everything it points at are live for the call.
        let ret = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
        if ret >= 0 {
            break ret;
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINTR) {
            return Err(e);
        }
    };
    // SAFETY: the kernel filled `msg_control` with `msg_controllen` bytes of control
    // messages inside `cmsg`; CMSG_FIRSTHDR checks the length before returning a header.
    unsafe {
        let hdr = libc::CMSG_FIRSTHDR(&msg);
        if n == 0
            || hdr.is_null()
            || (*hdr).cmsg_level != libc::SOL_SOCKET
            || (*hdr).cmsg_type != libc::SCM_RIGHTS
        {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "no fd received",
            ));
        }
        let fd = std::ptr::read_unaligned(libc::CMSG_DATA(hdr).cast::<libc::c_int>());
        Ok(OwnedFd::from_raw_fd(fd))
    }
}

/// For tests of reads that end where a mapping does: a page of zeroes followed by an
/// inaccessible page, leaked.
#[cfg(test)]
pub fn page_before_a_hole() -> &'static mut [u8] {
    // SAFETY: sysconf only reads a constant.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize;
    // SAFETY: a fresh anonymous private mapping of two pages, owned by nobody else;
    // the second is made inaccessible and never handed out; the mapping is never
    // unmapped, so the slice lives for the rest of the process.
    unsafe {
        let at = libc::mmap(
            std::ptr::null_mut(),
            2 * page,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        assert_ne!(at, libc::MAP_FAILED);
        assert_eq!(
            libc::mprotect(at.cast::<u8>().add(page).cast(), page, libc::PROT_NONE),
            0
        );
        std::slice::from_raw_parts_mut(at.cast::<u8>(), page)
    }
}

/// For tests: makes `cmd` run under `program`, the listener sent over `sock`. In the
/// child, after fork: `setup` (which must not allocate or take a lock: the parent has
/// other threads), no_new_privs, the filter.
#[cfg(test)]
pub fn run_under_filter(
    cmd: &mut std::process::Command,
    program: Vec<libc::sock_filter>,
    sock: OwnedFd,
    mut setup: impl FnMut() -> io::Result<()> + Send + Sync + 'static,
) {
    use std::os::fd::AsFd;
    use std::os::unix::process::CommandExt;
    let hook = move || {
        setup()?;
        nix::sys::prctl::set_no_new_privs()?;
        let listener = install_listener(&program)?;
        send_fd(sock.as_fd(), listener.as_fd())
    };
    // SAFETY: the hook only makes syscalls (prctl, seccomp, sendmsg, and `setup`'s,
    // which the caller keeps to syscalls); the program was built before the fork.
    unsafe { cmd.pre_exec(hook) };
}
