//! What the notifier asks, and what it is answered: the seam between this module and
//! whoever knows the read-only trees and the policy.

use std::path::PathBuf;

use crate::policy::Op;

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

    /// One syscall's targets together (a rename's or a link's two names), with how many
    /// of its names could not be read or resolved (a link from `/proc/self/fd/N`, say).
    /// By default each target is decided (and so reported), and the first refusal
    /// answers.
    fn decide_all(&self, pid: u32, targets: &[WriteTarget], _unresolved: usize) -> Answer {
        targets.iter().map(|target| self.decide(pid, target)).fold(
            Answer::Continue,
            |first, next| match first {
                Answer::Continue => next,
                refused => refused,
            },
        )
    }
}
