//! The runs a mirror serves, and which run each request is for.
//!
//! What is the host's (the node store, the directory fds, the open files, the hidden
//! places, the virtual files) belongs to the mirror; what is one run's — who judges its
//! requests, where its violations and trace go, what counts them — is a [`Run`]. A
//! mirror mounted for one run serves every caller as that run ([`Runs::One`]). A mirror
//! kept for several tells their callers apart by a key, the caller's PID namespace
//! ([`Runs::Keyed`]); a caller in no run is refused, so nothing the mirror judges is
//! ever judged by a run the caller does not belong to.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::{Arc, RwLock};

use fuser::Errno;

use super::errno::OpResult;
use super::stats::RequestCounts;
use crate::audit::{Auditor, Tracer};
use crate::policy::{Caller, DeclarationError, Declarations, Judge, List, PolicyError};

/// One run's part of a mirror.
pub struct Run {
    /// Decides every judged operation, for the process that made it.
    pub judge: Arc<dyn Judge>,
    /// Receives the violations the policy reports.
    pub auditor: Arc<Auditor>,
    /// Receives every judged operation (`--trace`).
    pub tracer: Option<Arc<Tracer>>,
    /// Counts every request served (`--stats`).
    pub requests: Arc<RequestCounts>,
}

impl fmt::Debug for Run {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Run")
            .field("tracing", &self.tracer.is_some())
            .finish_non_exhaustive()
    }
}

impl Run {
    /// Whether operations are traced (`--trace`).
    pub fn tracing(&self) -> bool {
        self.tracer.is_some()
    }

    /// The policy `caller` is judged by, as policy-file text (what the control file
    /// reads).
    pub fn policy_text(&self, caller: Caller) -> String {
        self.judge.render(caller)
    }

    /// The judge's form for declarations, if it takes any.
    pub fn declarations(&self) -> Option<&dyn Declarations> {
        self.judge.declarations()
    }

    /// `caller` declares its own policy (`declaration`, in the judge's form): EINVAL
    /// when the judge takes no declarations or this one is malformed, EPERM once the
    /// policy is locked, like other changes.
    pub fn declare(&self, caller: Caller, declaration: &[u8]) -> OpResult<()> {
        let form = self.judge.declarations().ok_or(Errno::EINVAL)?;
        if self.judge.shared().is_locked() {
            return Err(Errno::EPERM);
        }
        form.declare(caller, declaration).map_err(|e| match e {
            DeclarationError::Malformed => Errno::EINVAL,
        })
    }

    /// Refuses every later change to the policy.
    pub fn lock_policy(&self) {
        self.judge.shared().lock();
    }

    /// Adds `path` to `list` at run time, its realpath found by `realpath` (through the
    /// host root: fusebox-run's own mount namespace may show another tree).
    pub fn add_to_policy(
        &self,
        list: List,
        path: &Path,
        realpath: impl Fn(&Path) -> Option<std::path::PathBuf>,
    ) -> Result<(), PolicyError> {
        self.judge.shared().add_resolving(list, path, realpath)
    }
}

/// Names the run a caller belongs to, `None` for a caller in none. It is asked on every
/// request: a cache by pid would outlive the pid, which another run's process may get.
pub type KeyOf = Box<dyn Fn(Caller) -> Option<u64> + Send + Sync>;

/// The runs a mirror serves.
pub enum Runs {
    /// A mirror mounted for one run: every caller is that run's (the sandbox's
    /// processes are the only ones that can reach the mount).
    One(Arc<Run>),
    /// A mirror kept for several runs, each under the key `key_of` gives its callers.
    Keyed {
        key_of: KeyOf,
        table: RwLock<HashMap<u64, Arc<Run>>>,
    },
}

impl fmt::Debug for Runs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Runs::One(run) => f.debug_tuple("One").field(run).finish(),
            Runs::Keyed { table, .. } => {
                let keys: Vec<u64> = table
                    .read()
                    .map_or_else(|_| Vec::new(), |table| table.keys().copied().collect());
                f.debug_struct("Keyed").field("keys", &keys).finish()
            }
        }
    }
}

impl Runs {
    /// Serves every caller as `run`.
    pub fn one(run: Run) -> Runs {
        Runs::One(Arc::new(run))
    }

    /// Serves no run until one [`joins`](Runs::join); callers told apart by `key_of`.
    pub fn keyed(key_of: KeyOf) -> Runs {
        Runs::Keyed {
            key_of,
            table: RwLock::new(HashMap::new()),
        }
    }

    /// The run `caller` belongs to, if any.
    pub fn of(&self, caller: Caller) -> Option<Arc<Run>> {
        match self {
            Runs::One(run) => Some(run.clone()),
            Runs::Keyed { key_of, table } => {
                let key = key_of(caller)?;
                table.read().ok()?.get(&key).cloned()
            }
        }
    }

    /// Serves the callers under `key` as `run` from now on. Refused (`false`) when the
    /// key is taken, or this mirror serves one run only.
    pub fn join(&self, key: u64, run: Run) -> bool {
        let Runs::Keyed { table, .. } = self else {
            return false;
        };
        let Ok(mut table) = table.write() else {
            return false;
        };
        match table.entry(key) {
            std::collections::hash_map::Entry::Occupied(_) => false,
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(Arc::new(run));
                true
            }
        }
    }

    /// The run under `key` leaves: its callers are refused from now on. Returns it, for
    /// its reports to be finished.
    pub fn leave(&self, key: u64) -> Option<Arc<Run>> {
        let Runs::Keyed { table, .. } = self else {
            return None;
        };
        table.write().ok()?.remove(&key)
    }
}
