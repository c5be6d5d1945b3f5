//! What the sandbox tells the user about the build: Gentoo `sandbox`'s violation log,
//! exit summary and verbose line ([`gentoo_format`]), the synchronous log writer
//! ([`ViolationLog`]), and the JSON-lines trace ([`trace`]).
//!
//! Those external formats are rendered by pure functions with golden tests: Portage and
//! people read the log, scripts read the trace.

mod auditor;
pub mod gentoo_format;
mod host_file;
mod log;
pub mod output;
pub mod record;
pub mod terminal;
pub mod trace;
mod tracer;

use std::path::PathBuf;

pub use crate::policy::Op;

pub use auditor::{Auditor, Breach, Enforcement, command_line};
pub use gentoo_format::{
    cmdline_from_proc, denied_line, log_entry, log_entry_bytes, log_header, summary,
    terminal_entry, unreadable_cmdline,
};
pub use host_file::HostFile;
pub use log::ViolationLog;
pub use output::Output;
pub use record::{OutputFailure, Record};
pub use trace::{TraceEvent, trace_line};
pub use tracer::{Observer, SharedObserver, Traced, Tracer};

/// One refused, reported operation: a block of the violation log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The `F:` name: [`Op::gentoo_name`].
    pub op: &'static str,
    /// `P:` the path as the build passed it (the mirror only knows the absolute one, so
    /// usually the same as `abs`).
    pub path: PathBuf,
    /// `A:` absolute, not canonical.
    pub abs: PathBuf,
    /// `R:` canonical.
    pub canonical: PathBuf,
    /// `C:` the command line, arguments separated by spaces as Gentoo writes them (see
    /// [`cmdline_from_proc`]).
    pub cmdline: String,
}

impl Violation {
    /// A violation whose three paths are the same (what the mirror sees: a resolved
    /// absolute path).
    pub fn new(op: Op, path: PathBuf, cmdline: String) -> Self {
        Violation {
            op: op.gentoo_name(),
            abs: path.clone(),
            canonical: path.clone(),
            path,
            cmdline,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn violation_new_fills_all_paths() {
        let v = Violation::new(Op::Mkdir, "/usr/x".into(), "mkdir /usr/x ".into());
        assert_eq!(v.op, "mkdir");
        assert_eq!(v.path, v.abs);
        assert_eq!(v.abs, v.canonical);
    }
}
