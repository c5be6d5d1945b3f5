//! Gentoo mode's [`Judge`]: each process judged by its own `SANDBOX_*` lists together
//! with fusebox's, nothing refused while it has checking off (`SANDBOX_ON=0`), an exec
//! judged by the state of the program that makes it, and the judged operations of a
//! process with `SANDBOX_DEBUG` on written to the debug log, as Gentoo's sandbox does.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::declaration;
use super::{ProcFsTable, Realpath, RequestKind, TableOptions};
use crate::audit::{Traced, Tracer, command_line};
use crate::policy::{
    Caller, DeclarationError, Declarations, Judge, Judgment, Op, SharedPolicy, Verdict,
};

/// The per-process judge of one Gentoo-mode sandbox.
#[derive(Debug)]
pub struct ProcessJudge {
    shared: Arc<SharedPolicy>,
    table: ProcFsTable,
    /// Gentoo's debug log (`SANDBOX_DEBUG_LOG`).
    debug_log: Option<Arc<Tracer>>,
}

impl ProcessJudge {
    /// Judges by `shared` and each process's own lists, whose entries' realpaths
    /// `realpath` finds.
    pub fn new(
        shared: Arc<SharedPolicy>,
        options: TableOptions,
        realpath: Realpath,
        debug_log: Option<Arc<Tracer>>,
    ) -> ProcessJudge {
        ProcessJudge {
            shared,
            table: options.table(realpath),
            debug_log,
        }
    }
}

impl Judge for ProcessJudge {
    fn shared(&self) -> &SharedPolicy {
        &self.shared
    }

    fn judge(&self, op: Op, path: &Path, caller: Caller) -> Judgment {
        let request = match op {
            Op::Execve => RequestKind::Exec,
            _ => RequestKind::Other,
        };
        let state = self.table.state_for(caller.pid, request);
        if !state.on {
            return Judgment {
                verdict: Verdict::Allow,
                debug: false,
            };
        }
        Judgment {
            verdict: self.shared.check_with(&state.policy, op.access(), path),
            debug: state.debug,
        }
    }

    /// Queues one judged path for the debug log, with the caller's command line read
    /// now, as Gentoo's library reads it at each entry.
    fn debug(&self, op: Op, path: &Path, caller: Caller, verdict: Verdict) {
        if let Some(log) = &self.debug_log {
            log.send(Traced {
                time: std::time::SystemTime::now(),
                pid: caller.pid,
                op,
                path: path.to_owned(),
                path2: None,
                verdict,
                errno: 0,
                cmdline: Some(command_line(caller.pid)),
            });
        }
    }

    fn guarded_entries_moved_by(&self, name: &Path, caller: Caller) -> Vec<PathBuf> {
        let mut entries = self.shared.guarded_entries_moved_by(name);
        let state = self.table.state_for(caller.pid, RequestKind::Other);
        entries.extend(
            state
                .policy
                .guarded_entries_moved_by(name)
                .map(Path::to_path_buf),
        );
        entries
    }

    /// fusebox's policy, then the caller's own lists.
    fn render(&self, caller: Caller) -> String {
        let mut text = self.shared.render();
        let state = self.table.state_for(caller.pid, RequestKind::Other);
        if state.on {
            text.push_str("# this process's own lists (its SANDBOX_* variables):\n");
            for (list, path) in state.policy.entries() {
                text.push_str(&format!("{list} {}\n", path.display()));
            }
        } else {
            text.push_str("# SANDBOX_ON is off for this process: nothing is checked\n");
        }
        text
    }

    fn declarations(&self) -> Option<&dyn Declarations> {
        Some(self)
    }
}

/// A shell declares its variables (see [`declaration`]); it is then in that state
/// until it execs.
impl Declarations for ProcessJudge {
    fn starts(&self, data: &[u8]) -> bool {
        declaration::starts(data)
    }

    fn complete(&self, bytes: &[u8]) -> Option<usize> {
        declaration::complete(bytes)
    }

    fn declare(&self, caller: Caller, whole: &[u8]) -> Result<(), DeclarationError> {
        let vars = declaration::parse(whole).map_err(|_| DeclarationError::Malformed)?;
        self.table.declare(caller.pid, &vars);
        Ok(())
    }
}
