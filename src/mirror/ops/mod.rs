//! The operations, one concern per file. Each returns `Result<T, Errno>` and never
//! sees a reply object; [`super::adapter`] decodes requests and replies.
//!
//! Every op gets its host objects from [`super::resolve::Resolver`] (the chokepoint
//! that asks the policy), and every creating op ends in [`Resolver::register`] like a
//! lookup (tmpfile, whose file has no name, in [`Resolver::register_unnamed`]).
//!
//! [`Resolver::register`]: super::resolve::Resolver::register
//! [`Resolver::register_unnamed`]: super::resolve::Resolver::register_unnamed

pub mod control;
pub mod create;
pub mod data;
pub mod dir;
pub mod entry;
pub mod xattr;

use std::ffi::CString;
use std::ops::Deref;
use std::os::fd::{AsRawFd, BorrowedFd};

use super::Mirror;
use super::errno::OpResult;
use super::resolve::{Caller, Check, Journal};
use super::stats::Opcode;
use crate::audit::Op;

/// One request being served: the mirror, who asked (for the policy's reports), and,
/// when tracing, what was judged.
pub(crate) struct Call<'a> {
    mirror: &'a Mirror,
    pub caller: Caller,
    journal: Option<Journal>,
}

impl Mirror {
    /// The ops of one request made by `caller`: the adapter's entry point, and the
    /// in-process tests'.
    pub(crate) fn call(&self, caller: Caller, opcode: Opcode) -> Call<'_> {
        self.requests.add(opcode);
        Call {
            mirror: self,
            caller,
            journal: self.res.tracing().then(Journal::default),
        }
    }
}

impl Call<'_> {
    /// `op` by this request's caller, for the policy to judge.
    pub(crate) fn check(&self, op: Op) -> Check<'_> {
        Check::Op {
            op,
            caller: self.caller,
            journal: self.journal.as_ref(),
        }
    }

    /// `op`, which looks without being judged, by this request's caller (for the trace).
    pub(crate) fn seen(&self, op: Op) -> Check<'_> {
        Check::Seen {
            op,
            journal: self.journal.as_ref(),
        }
    }

    /// Serves the request with `op`, then traces what it judged with its outcome.
    pub(crate) fn run<T>(self, op: impl FnOnce(&Self) -> OpResult<T>) -> OpResult<T> {
        let result = op(&self);
        if let Some(journal) = self.journal {
            let errno = result.as_ref().err().map_or(0, |e| e.code());
            self.mirror.res.trace(journal, self.caller, errno);
        }
        result
    }
}

impl Deref for Call<'_> {
    type Target = Mirror;

    fn deref(&self) -> &Mirror {
        self.mirror
    }
}

/// `/proc/self/fd/N`: reaches the object behind fd N (an O_PATH fd included) for the
/// calls that have no fd-based form. The daemon stays in the host PID namespace, so
/// /proc/self is its own.
pub(crate) fn proc_fd_path(fd: BorrowedFd<'_>) -> CString {
    // A decimal number never contains NUL.
    CString::new(format!("/proc/self/fd/{}", fd.as_raw_fd())).unwrap_or_default()
}
