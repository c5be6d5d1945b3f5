//! The operations, one concern per file. Each returns `Result<T, Errno>` and never
//! sees a reply object; [`super::adapter`] decodes requests and replies.
//!
//! Every op gets its host objects from [`super::resolve::Resolver`] (the chokepoint
//! that asks the policy), and every creating op ends in [`Resolver::register`] like a
//! lookup.
//!
//! [`Resolver::register`]: super::resolve::Resolver::register

pub mod create;
pub mod data;
pub mod dir;
pub mod entry;
pub mod xattr;

use std::ffi::CString;
use std::ops::Deref;
use std::os::fd::{AsRawFd, BorrowedFd};

use super::Mirror;
use super::resolve::Caller;

/// One request being served: the mirror, and who asked (for the policy's reports).
pub(crate) struct Call<'a> {
    mirror: &'a Mirror,
    pub caller: Caller,
}

impl Mirror {
    /// The ops of one request made by `req`'s caller.
    pub(crate) fn call(&self, req: &fuser::Request) -> Call<'_> {
        Call {
            mirror: self,
            caller: Caller { pid: req.pid() },
        }
    }
}

impl Call<'_> {
    /// `op` by this request's caller, for the policy to judge.
    pub(crate) fn check(&self, op: crate::audit::Op) -> super::resolve::Check {
        super::resolve::Check::Op {
            op,
            caller: self.caller,
        }
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
