//! The write-class seccomp user notification: every process of the sandbox runs under a
//! filter that sends the syscalls which write to the filesystem (only those) to the
//! daemon, which resolves the path as the calling process sees it, asks a [`WriteGate`]
//! and answers "continue" (the kernel runs the syscall as usual; enforcement stays in
//! the kernel) or "fail with this errno".
//!
//! Why: a tree served from a read-only bind mount fails a write with EROFS, in the
//! kernel, unjudged and unreported; Gentoo's semantics want EACCES and a violation in the
//! log. The gate knows the read-only trees and the policy.

pub(crate) mod bpf;
mod decode;
mod filter;
mod gate;
mod sys;
mod syscalls;
mod target;

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;
use std::thread::JoinHandle;

pub use crate::policy::Op;
use bpf::audit_arch;
use decode::Decoded;
pub use filter::write_filter;
pub use gate::{Answer, WriteGate, WriteTarget};
pub use sys::{install_listener, recv_fd, send_fd};
use syscalls::Abi;
use target::{Caller, Resolved};

/// Starts `threads` threads (at least one) answering the notifications of `listener`
/// with `gate`'s verdicts, until no process is left under the filter. They never panic:
/// a notification that cannot be decoded or resolved is answered [`Answer::Continue`].
pub fn spawn_notifier(
    listener: OwnedFd,
    gate: Arc<dyn WriteGate>,
    threads: usize,
) -> io::Result<Vec<JoinHandle<()>>> {
    let listener = Arc::new(listener);
    (0..threads.max(1))
        .map(|i| {
            let (listener, gate) = (Arc::clone(&listener), Arc::clone(&gate));
            std::thread::Builder::new()
                .name(format!("fusebox-notify-{i}"))
                .spawn(move || serve(listener.as_fd(), gate.as_ref()))
        })
        .collect()
}

/// One notifier thread: receive, decide, answer, until the listener hangs up.
fn serve(listener: BorrowedFd, gate: &dyn WriteGate) {
    let mut notif = sys::empty_notif();
    loop {
        match sys::recv(listener, &mut notif) {
            Ok(()) => {}
            Err(e) => match e.raw_os_error() {
                Some(libc::EINTR) => continue,
                // The caller was killed before we got it, or no process is left.
                Some(libc::ENOENT) if !sys::hung_up(listener) => continue,
                _ => return,
            },
        }
        let errno = match answer(listener, &notif, gate) {
            Answer::Continue => None,
            Answer::Refuse(errno) => Some(errno),
        };
        // ENOENT: the caller died or was interrupted by a signal meanwhile (its
        // syscall restarts, with a new notification).
        let _ = sys::send(listener, notif.id, errno);
    }
}

/// The answer to one notification.
fn answer(listener: BorrowedFd, notif: &libc::seccomp_notif, gate: &dyn WriteGate) -> Answer {
    let abi = match notif.data.arch {
        audit_arch::NATIVE => Abi::Native,
        audit_arch::COMPAT => Abi::Compat,
        _ => return Answer::Continue,
    };
    let Some(sys) = abi.identify(notif.data.nr as u32) else {
        return Answer::Continue;
    };
    let Ok(caller) = Caller::open(notif.pid) else {
        return Answer::Continue;
    };
    let (first, second) = match decode::decode(abi, sys, &notif.data.args) {
        Decoded::Nothing => return Answer::Continue,
        Decoded::Paths(first, second) => (first, second),
        Decoded::Openat2 {
            dirfd,
            path,
            how,
            size,
        } => match openat2_arg(&caller, dirfd, path, how, size) {
            Some(arg) => (arg, None),
            None => return Answer::Continue,
        },
    };
    let named = 1 + usize::from(second.is_some());
    let prepared = [Some(first), second].map(|arg| arg.and_then(|a| caller.prepare(&a)));
    // Everything read from the caller's memory and /proc/PID is its own only if it is
    // still waiting in this syscall (its pid not reused).
    if !sys::id_valid(listener, notif.id) {
        return Answer::Continue;
    }
    let mut targets = Vec::with_capacity(2);
    for prepared in prepared.into_iter().flatten() {
        match caller.resolve(prepared) {
            Resolved::Unjudged => {}
            // The kernel would fail here: nothing further is asked.
            Resolved::Fail(errno) if targets.is_empty() => return Answer::Refuse(errno),
            Resolved::Fail(_) => break,
            Resolved::Target(target) => targets.push(target),
        }
    }
    // A name not read or not resolved (an unnamed file's `/proc/self/fd/N`) is unjudged.
    gate.decide_all(notif.pid, &targets, named - targets.len())
}

/// openat2's path, once its `struct open_how` is read from the caller.
fn openat2_arg(
    caller: &Caller,
    dirfd: i32,
    path: u64,
    how: u64,
    size: u64,
) -> Option<decode::PathArg> {
    // open_how: u64 flags, u64 mode, u64 resolve. A smaller size is EINVAL.
    if size < 24 {
        return None;
    }
    let mut raw = [0u8; 24];
    caller.read_exact(how, &mut raw).ok()?;
    let word = |i: usize| u64::from_ne_bytes(raw[8 * i..8 * i + 8].try_into().unwrap_or([0; 8]));
    match decode::openat2(dirfd, path, word(0), word(2)) {
        Decoded::Paths(arg, None) => Some(arg),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
