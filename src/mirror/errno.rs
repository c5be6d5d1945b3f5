//! Host errors → the errno the build sees.
//!
//! Every host error is passed through as it is: the build must see what a native run
//! would. `Errno::EIO` with a log line is reserved for states the mirror considers
//! impossible.

use fuser::Errno;

/// The result every op returns.
pub type OpResult<T> = Result<T, Errno>;

/// Converts host-call errors (nix or std) into the FUSE errno.
pub trait HostResult<T> {
    fn host(self) -> OpResult<T>;
}

impl<T> HostResult<T> for nix::Result<T> {
    fn host(self) -> OpResult<T> {
        self.map_err(from_nix)
    }
}

impl<T> HostResult<T> for std::io::Result<T> {
    fn host(self) -> OpResult<T> {
        self.map_err(Errno::from)
    }
}

pub fn from_nix(e: nix::errno::Errno) -> Errno {
    Errno::from_i32(e as i32)
}

/// For states the mirror's own bookkeeping should rule out.
pub fn impossible(what: &str) -> Errno {
    crate::audit::terminal::eprint(&format!("fusebox mirror: internal error: {what}\n"));
    Errno::EIO
}
