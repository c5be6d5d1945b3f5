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
mod filter;
mod syscalls;

use std::path::PathBuf;

pub use crate::policy::Op;
pub use filter::write_filter;

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
