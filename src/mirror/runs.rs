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
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::sync::{Arc, RwLock};

use fuser::Errno;
use nix::fcntl::AtFlags;
use nix::sys::stat::fstatat;

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

/// Names a caller's run by its PID namespace: the inode of `/proc/PID/ns/pid`, looked
/// up through `proc` (an O_PATH fd of a procfs whose PID namespace is the one the FUSE
/// connection reports pids in: the mounting daemon's). A pid no process has any more,
/// or one in a namespace no run has, names none.
pub fn pid_namespace_key(proc: OwnedFd) -> KeyOf {
    Box::new(move |caller: Caller| pid_namespace(proc.as_fd(), caller.pid))
}

/// The inode of the PID namespace of the process `pid`, as `proc` shows it.
pub fn pid_namespace(proc: BorrowedFd, pid: u32) -> Option<u64> {
    // Pid 0: a request the kernel made for no process of the connection's namespace.
    if pid == 0 {
        return None;
    }
    let path = format!("{pid}/ns/pid");
    let stat = fstatat(proc, path.as_str(), AtFlags::empty()).ok()?;
    Some(stat.st_ino)
}

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

#[cfg(test)]
mod tests {
    use std::os::fd::AsFd;
    use std::process::{Child, Command, Stdio};

    use nix::fcntl::{OFlag, open};
    use nix::sys::stat::Mode;

    use super::*;

    fn proc_fd() -> OwnedFd {
        let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
        open("/proc", flags, Mode::empty()).unwrap()
    }

    fn sleeper(args: &[&str]) -> Child {
        Command::new(args[0])
            .args(&args[1..])
            .stdin(Stdio::null())
            .spawn()
            .unwrap()
    }

    /// The pids of `parent`'s children, once it has one.
    fn first_child(parent: u32) -> u32 {
        let path = format!("/proc/{parent}/task/{parent}/children");
        for _ in 0..500 {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            if let Some(pid) = text.split_whitespace().next() {
                return pid.parse().unwrap();
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("{parent} started no child");
    }

    #[test]
    fn a_pid_is_named_by_its_namespace_only_while_the_process_lives() {
        let proc = proc_fd();
        let me = pid_namespace(proc.as_fd(), std::process::id()).unwrap();
        let mut child = sleeper(&["sleep", "30"]);
        assert_eq!(pid_namespace(proc.as_fd(), child.id()), Some(me));
        child.kill().unwrap();
        child.wait().unwrap();
        // Reaped: the pid is free for any process, of any run, to get next.
        assert_eq!(pid_namespace(proc.as_fd(), child.id()), None);
        assert_eq!(pid_namespace(proc.as_fd(), 0), None);
    }

    #[test]
    fn a_process_in_another_pid_namespace_has_another_key() {
        let proc = proc_fd();
        let me = pid_namespace(proc.as_fd(), std::process::id()).unwrap();
        // As a run's processes are: in a PID namespace of their own (made here in a
        // user namespace, as an unprivileged user can).
        let mut unshare = sleeper(&[
            "unshare",
            "--user",
            "--map-root-user",
            "--pid",
            "--fork",
            "sleep",
            "30",
        ]);
        let inside = first_child(unshare.id());
        let theirs = pid_namespace(proc.as_fd(), inside);
        unshare.kill().unwrap();
        unshare.wait().unwrap();
        assert!(theirs.is_some_and(|key| key != me), "{theirs:?} vs {me}");
    }

    #[test]
    fn the_runs_of_a_keyed_mirror_are_told_apart_by_key() {
        let runs = Runs::keyed(Box::new(|caller: Caller| Some(u64::from(caller.pid % 10))));
        assert!(runs.of(Caller { pid: 11 }).is_none());
        assert!(runs.join(1, run()));
        assert!(!runs.join(1, run()));
        let one = runs.of(Caller { pid: 11 }).unwrap();
        assert!(Arc::ptr_eq(&one, &runs.of(Caller { pid: 21 }).unwrap()));
        assert!(runs.of(Caller { pid: 12 }).is_none());
        assert!(runs.leave(1).is_some_and(|left| Arc::ptr_eq(&left, &one)));
        assert!(runs.of(Caller { pid: 11 }).is_none());
        assert!(runs.join(1, run()));
    }

    fn run() -> Run {
        use crate::audit::{Enforcement, Record, ViolationLog};
        use crate::policy::{Policy, SharedPolicy};
        let log =
            std::env::temp_dir().join(format!("fusebox-runs-test-{}.log", std::process::id()));
        Run {
            judge: Arc::new(SharedPolicy::new(Policy::new(Vec::new()))),
            auditor: Arc::new(Auditor::new(
                Arc::new(Record::new()),
                ViolationLog::create(log).unwrap(),
                false,
                Enforcement::Deny,
            )),
            tracer: None,
            requests: Default::default(),
        }
    }
}
