//! Whose policy applies: in Gentoo mode each process of the build is judged by its own
//! `SANDBOX_ON` and lists, as Gentoo's LD_PRELOAD sandbox judges it, although the
//! mirror only knows the pid of each request.
//!
//! - [`settings`]: the variables and Gentoo's rules for merging them (pure);
//! - [`state`]: settings compiled into a [`ProcessState`], each distinct one once;
//! - [`table`]: which process is in which state (from its exec, its parent, or its
//!   own declaration), with /proc behind the [`Procs`] trait;
//! - [`procfs`]: that trait over the real /proc;
//! - [`bashrc`]: the startup file by which a running shell declares its changes, in
//!   the form of [`declaration`];
//! - [`ProcessJudge`]: the [`crate::policy::Judge`] the mirror asks, built on the table.
//!
//! What is checked for an operation is the process's own lists together with the
//! entries fusebox adds itself (FUSEBOX_OPTS, `/dev/fusebox` commands); when the
//! process has checking off, the operation is allowed and not logged.

pub mod bashrc;
pub mod declaration;
mod judge;
pub mod procfs;
pub mod settings;
pub mod state;
pub mod table;

use std::path::PathBuf;

pub use judge::ProcessJudge;
pub use procfs::ProcFs;
pub use settings::{Settings, Vars};
pub use state::{ProcessState, Realpath, StateCompiler};
pub use table::{Lineage, Procs, RequestKind, Table};

/// What Gentoo mode hands the runner: the variables the command is launched with, the
/// directory relative list entries are taken from, and the debug log
/// (`SANDBOX_DEBUG_LOG`), written for processes that turn `SANDBOX_DEBUG` on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GentooLaunch {
    pub vars: Vars,
    pub cwd: PathBuf,
    pub debug_log: PathBuf,
}

/// What the process table starts from: the launch, and where every ancestry ends.
#[derive(Clone, Debug)]
pub struct TableOptions {
    pub launch: GentooLaunch,
    /// The sandbox's init, as the mirror sees its pid: where every ancestry ends.
    pub init_pid: u32,
}

/// The table of the build's processes, reading the host's /proc.
pub type ProcFsTable = Table<ProcFs>;

impl TableOptions {
    /// The table, whose list entries' realpaths `realpath` finds.
    pub fn table(self, realpath: Realpath) -> ProcFsTable {
        let compiler = StateCompiler::new(self.launch.cwd, realpath);
        Table::new(ProcFs, compiler, self.launch.vars, self.init_pid)
    }
}
