//! The operations, one concern per file. Each returns `Result<T, Errno>` and never
//! sees a reply object; [`super::adapter`] decodes requests and replies.
//!
//! Every op gets its host objects from [`super::resolve::Resolver`] (the chokepoint
//! that asks the policy), and every creating op ends in [`Resolver::register`] like a
//! lookup (tmpfile, whose file has no name, in [`Resolver::register_unnamed`]).
//!
//! [`Resolver::register`]: super::resolve::Resolver::register
//! [`Resolver::register_unnamed`]: super::resolve::Resolver::register_unnamed

pub mod create;
pub mod data;
pub mod dir;
pub mod entry;
pub mod virtual_file;
pub mod xattr;

use std::sync::Arc;

use fuser::Errno;

use super::Mirror;
use super::errno::OpResult;
use super::handle::Handles;
use super::resolve::{Check, Journal, OpBy, Resolver};
use super::runs::Run;
use super::stats::Opcode;
use super::virtual_files::VirtualFiles;
use crate::audit::Op;
use crate::policy::Caller;

/// One request being served: what serves it, who asked and for which run (for the
/// judge and its reports), and, when tracing, what was judged.
pub(crate) struct Call<'a> {
    pub resolver: &'a Resolver,
    pub handles: &'a Handles,
    pub virtual_files: &'a VirtualFiles,
    pub caller: Caller,
    pub run: Arc<Run>,
    journal: Option<Journal>,
}

impl Mirror {
    /// The ops of one request made by `caller`, as every `route_*` serves it, for the
    /// caller's run. A caller in no run is refused: no run's policy is its own.
    pub(crate) fn call(&self, caller: Caller, opcode: Opcode) -> OpResult<Call<'_>> {
        let run = self.runs.of(caller).ok_or(Errno::EACCES)?;
        run.requests.add(opcode);
        Ok(Call {
            resolver: &self.resolver,
            handles: &self.handles,
            virtual_files: &self.virtual_files,
            caller,
            journal: run.tracing().then(Journal::default),
            run,
        })
    }

    /// Counts a request that only lets go of what the kernel held (forget, release),
    /// which is served whatever run the caller is in, or none: the kernel sends them
    /// for evictions and for closes by processes already gone.
    pub(crate) fn count_letting_go(&self, caller: Caller, opcode: Opcode) {
        if let Some(run) = self.runs.of(caller) {
            run.requests.add(opcode);
        }
    }
}

impl Call<'_> {
    /// `op` by this request's caller, for the policy to judge.
    pub(crate) fn check(&self, op: Op) -> Check<'_> {
        Check::Op(OpBy {
            op,
            caller: self.caller,
            run: &self.run,
            journal: self.journal.as_ref(),
        })
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
        if let (Some(journal), Some(tracer)) = (self.journal, &self.run.tracer) {
            let errno = result.as_ref().err().map_or(0, |e| e.code());
            journal.send_to(tracer, self.caller, errno);
        }
        result
    }
}
