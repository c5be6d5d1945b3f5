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
//! The files: `gate.rs` the seam (what is asked, what is answered), `filter.rs` the BPF
//! program (from `syscalls.rs`'s tables, assembled by `bpf.rs`), `decode.rs` what each
//! syscall's arguments mean, `target.rs` from them to the file as the caller sees it,
//! `notifier.rs` the threads and their loop, `sys.rs` the `unsafe`.

pub(crate) mod bpf;
mod decode;
mod filter;
mod gate;
mod notifier;
mod sys;
mod syscalls;
mod target;

pub use crate::policy::Op;
pub use filter::write_filter;
pub use gate::{Answer, WriteGate, WriteTarget};
pub use notifier::spawn_notifier;
pub use sys::{install_listener, recv_fd, send_fd};

#[cfg(test)]
mod tests;
