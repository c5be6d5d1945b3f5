//! The write-class seccomp user notification: every process of the sandbox runs under a
//! filter that sends the syscalls which write to the filesystem (only those) to the
//! daemon, which resolves the path as the calling process sees it, asks a [`WriteGate`]
//! and answers "continue" (the kernel runs the syscall as usual; enforcement stays in
//! the kernel) or "fail with this errno".
//!
//! Why: a tree served from a read-only bind mount fails a write with EROFS, in the
//! kernel, unjudged and unreported; Gentoo's semantics want EACCES and a violation in the
//! log. The gate knows the read-only trees and the policy.
//!
//! How it is wired: build [`write_filter`] before forking; in the sandbox's PID 1, last
//! in setup, [`install_listener`] (no_new_privs or CAP_SYS_ADMIN in its user
//! namespace), [`send_fd`] the listener to the daemon over a socketpair and close it
//! (a process of the build holding it could answer its own notifications); in the
//! daemon, [`recv_fd`] and [`spawn_notifier`]. The daemon reads the callers' memory and
//! `/proc/PID`, so it must be allowed to ptrace-read them (same uid, an ancestor) and
//! its `/proc` must show their PID namespace's parent (where the notification's pid is
//! counted). A process can have one listener in its filter chain: installing this one
//! fails with EBUSY under another (a sandbox inside a sandbox using user notification).
//!
//! The files: `filter.rs` the BPF program (from `syscalls.rs`'s tables, assembled by
//! `bpf.rs`), `decode.rs` what each syscall's arguments mean, `target.rs` from them to
//! the file as the caller sees it, `notifier.rs` the loop, `sys.rs` the `unsafe`.

pub(crate) mod bpf;
mod decode;
mod filter;
mod notifier;
mod sys;
mod syscalls;
mod target;

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;

pub use crate::policy::Op;
pub use filter::write_filter;
pub use sys::{install_listener, recv_fd, send_fd};

/// One path a write-class syscall names, as the calling process sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WriteTarget {
    pub op: Op,
    /// Absolute and canonical in the caller's mount namespace: no symlink, `.` or `..`
    /// in it. The final component is the file the syscall acts on: the symlink's
    /// target when the syscall follows it, the name itself when it does not.
    pub path: PathBuf,
}

/// What the daemon tells the kernel about one syscall.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// Run it as usual.
    Continue,
    /// Fail it with this errno, without running it.
    Refuse(i32),
}

/// Decides the write-class syscalls of the sandbox's processes.
pub trait WriteGate: Send + Sync {
    /// `pid` is the caller's thread id in the daemon's PID namespace.
    fn decide(&self, pid: u32, target: &WriteTarget) -> Answer;
}

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
                .spawn(move || notifier::serve(listener.as_fd(), gate.as_ref()))
        })
        .collect()
}

#[cfg(test)]
mod tests;
