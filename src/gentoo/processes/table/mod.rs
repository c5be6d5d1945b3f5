//! Which state each process of the build is in: a table of the tasks the mirror has
//! heard from, keyed by pid, each entry tied to its task so a reused pid is never
//! mistaken for the process that had it.
//!
//! A process's state comes from (see [`Table::state_for`]):
//!
//! - its exec: the first request a program makes after an `execve` the mirror saw
//!   (the kernel opens the program, and its ELF interpreter, with `FMODE_EXEC`) reads
//!   its environment (`/proc/PID/environ`, the environment of its last execve),
//!   merged with the state it had before as Gentoo's libsandbox merges it
//!   ([`Settings::after_exec`]);
//! - its parent, for a process first heard from without an exec (a forked shell, a
//!   `make` before its exec): the parent's state at that moment;
//! - its own declaration through the control file ([`Table::declare`]): a shell whose
//!   variables changed after it started;
//! - the launch, for the sandbox's init and whatever cannot be traced further.
//!
//! The table's lock is held for map operations only, never across a /proc read.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::settings::{Settings, Vars};
use super::state::{ProcessState, StateCompiler};

/// What the mirror can learn about a task (a thread, in the kernel's terms) of the
/// build. [`super::procfs::ProcFs`] reads /proc; tests fake it.
pub trait Procs: Send + Sync {
    /// A hold on one task: valid while that task lives, never for a later task that
    /// gets the same pid.
    type Task: Send + Sync;

    /// The task with this pid, its parent and its thread group; `None` when it is gone.
    fn open(&self, pid: u32) -> Option<(Self::Task, Lineage)>;

    /// Whether the task still lives (its pid has not been reused since [`Self::open`]).
    fn alive(&self, task: &Self::Task) -> bool;

    /// Its environment as of its last execve (`NAME=VALUE\0…`); `None` when gone.
    fn environ(&self, task: &Self::Task) -> Option<Vec<u8>>;

    /// Something that changes when the task's program changes and nowhere else (where
    /// its environment starts in memory: a new program has a new stack). An exec
    /// that failed after opening its program leaves it as it was.
    fn image(&self, task: &Self::Task) -> Option<u64>;
}

/// Where a task sits among the others.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lineage {
    /// The parent process (`PPid`).
    pub ppid: u32,
    /// The process the task is a thread of (`Tgid`); its own pid for a process.
    pub tgid: u32,
}

/// What a request asks, as far as the state is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestKind {
    /// The kernel opening a program (or its interpreter) for `execve`: made on behalf
    /// of the old program, judged by its state.
    Exec,
    Other,
}

/// Tasks are looked up this far up their ancestry before the launch state is taken.
const MAX_ANCESTRY: usize = 64;

/// Past this many entries the table drops those of tasks that are gone.
const PRUNE_FROM: usize = 1024;

struct Entry<T> {
    task: Arc<T>,
    kind: Kind,
}

#[derive(Clone, Debug)]
enum Kind {
    /// A thread: its process's state is its own.
    Thread { tgid: u32 },
    Process {
        state: Arc<ProcessState>,
        /// Set when the process was seen exec'ing: its next request reads its new
        /// environment, if its program did change from `image`.
        exec: Option<Exec>,
    },
}

/// An exec in progress.
#[derive(Clone, Copy, Debug)]
struct Exec {
    /// [`Procs::image`] before it.
    image_before: Option<u64>,
}

/// The per-process states of one sandbox.
pub struct Table<P: Procs> {
    procs: P,
    compiler: StateCompiler,
    launch: Arc<ProcessState>,
    /// The sandbox's init (its pid as the mirror sees it): its state is the launch's,
    /// and so is that of everything traced back to it.
    init: u32,
    entries: Mutex<HashMap<u32, Entry<P::Task>>>,
    prune_at: AtomicUsize,
}

impl<P: Procs> std::fmt::Debug for Table<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Table")
            .field("init", &self.init)
            .field("entries", &self.lock().len())
            .finish_non_exhaustive()
    }
}

impl<P: Procs> Table<P> {
    pub fn new(procs: P, compiler: StateCompiler, launch: Vars, init: u32) -> Table<P> {
        let launch = Settings::default().after_exec(&launch);
        Table {
            launch: compiler.state(launch),
            procs,
            compiler,
            init,
            entries: Mutex::new(HashMap::new()),
            prune_at: AtomicUsize::new(PRUNE_FROM),
        }
    }

    /// The state the task `pid` is in for `request`.
    pub fn state_for(&self, pid: u32, request: RequestKind) -> Arc<ProcessState> {
        self.state_at(pid, request, 0)
    }

    /// The task `pid` declares that its variables are now `vars` (a shell that
    /// exported something); it stays in that state until it execs.
    pub fn declare(&self, pid: u32, vars: &Vars) {
        let current = self.state_for(pid, RequestKind::Other);
        let declared = self
            .compiler
            .state(current.settings.after_declaration(vars));
        let pid = self.process_of(pid);
        let mut entries = self.lock();
        if let Some(Entry { kind, .. }) = entries.get_mut(&pid) {
            *kind = Kind::Process {
                state: declared,
                exec: None,
            };
        }
    }

    fn state_at(&self, pid: u32, request: RequestKind, depth: usize) -> Arc<ProcessState> {
        if pid == 0 || pid == self.init || depth > MAX_ANCESTRY {
            return self.launch.clone();
        }
        match self.known(pid) {
            None => self.first_sight(pid, request, depth),
            Some((_, Kind::Thread { tgid })) => self.state_at(tgid, request, depth + 1),
            Some((task, Kind::Process { state, exec })) => match (request, exec) {
                (RequestKind::Exec, None) => {
                    let exec = Exec {
                        image_before: self.procs.image(&task),
                    };
                    self.update(pid, &task, state.clone(), Some(exec));
                    state
                }
                (RequestKind::Exec, Some(_)) => state,
                (RequestKind::Other, Some(exec)) => self.after_exec(pid, &task, state, exec),
                (RequestKind::Other, None) => state,
            },
        }
    }

    /// A task heard from for the first time: a thread takes its process's state; a
    /// process its parent's (and when this is its exec, its environment comes next).
    fn first_sight(&self, pid: u32, request: RequestKind, depth: usize) -> Arc<ProcessState> {
        let Some((task, lineage)) = self.procs.open(pid) else {
            return self.launch.clone();
        };
        if lineage.tgid != pid {
            self.insert(pid, task, Kind::Thread { tgid: lineage.tgid });
            return self.state_at(lineage.tgid, request, depth + 1);
        }
        let inherited = self.state_at(lineage.ppid, RequestKind::Other, depth + 1);
        let exec = (request == RequestKind::Exec).then(|| Exec {
            image_before: self.procs.image(&task),
        });
        self.insert(
            pid,
            task,
            Kind::Process {
                state: inherited.clone(),
                exec,
            },
        );
        inherited
    }

    /// The first request of a program the process exec'd: its environment, over the
    /// state it exec'd from. When its program did not change (the exec failed after
    /// opening it), it keeps its state.
    fn after_exec(
        &self,
        pid: u32,
        task: &Arc<P::Task>,
        before: Arc<ProcessState>,
        exec: Exec,
    ) -> Arc<ProcessState> {
        let image = self.procs.image(task);
        let state = match self.procs.environ(task) {
            Some(env) if image.is_none() || image != exec.image_before => self
                .compiler
                .state(before.settings.after_exec(&Vars::from_environ(&env))),
            _ => before,
        };
        self.update(pid, task, state.clone(), None);
        state
    }

    /// The entry of `pid` when its task still lives (a dead one is dropped).
    fn known(&self, pid: u32) -> Option<(Arc<P::Task>, Kind)> {
        let (task, kind) = {
            let entries = self.lock();
            let entry = entries.get(&pid)?;
            (entry.task.clone(), entry.kind.clone())
        };
        if self.procs.alive(&task) {
            return Some((task, kind));
        }
        let mut entries = self.lock();
        if entries
            .get(&pid)
            .is_some_and(|e| Arc::ptr_eq(&e.task, &task))
        {
            entries.remove(&pid);
        }
        None
    }

    /// The process `pid` belongs to (itself unless it is a known thread).
    fn process_of(&self, pid: u32) -> u32 {
        match self.lock().get(&pid).map(|e| &e.kind) {
            Some(Kind::Thread { tgid }) => *tgid,
            _ => pid,
        }
    }

    fn insert(&self, pid: u32, task: P::Task, kind: Kind) {
        let len = {
            let mut entries = self.lock();
            entries.insert(
                pid,
                Entry {
                    task: Arc::new(task),
                    kind,
                },
            );
            entries.len()
        };
        if len > self.prune_at.load(Ordering::Relaxed) {
            self.prune();
        }
    }

    /// Sets the process state of `pid`, if its entry is still `task`'s.
    fn update(&self, pid: u32, task: &Arc<P::Task>, state: Arc<ProcessState>, exec: Option<Exec>) {
        let mut entries = self.lock();
        if let Some(entry) = entries.get_mut(&pid) {
            if Arc::ptr_eq(&entry.task, task) {
                entry.kind = Kind::Process { state, exec };
            }
        }
    }

    /// Drops the entries of tasks that are gone; checked without the lock. The next
    /// pruning comes when the table has doubled from what is left.
    fn prune(&self) {
        let tasks: Vec<(u32, Arc<P::Task>)> = self
            .lock()
            .iter()
            .map(|(&pid, e)| (pid, e.task.clone()))
            .collect();
        let dead: Vec<(u32, Arc<P::Task>)> = tasks
            .into_iter()
            .filter(|(_, task)| !self.procs.alive(task))
            .collect();
        let mut entries = self.lock();
        for (pid, task) in dead {
            if entries
                .get(&pid)
                .is_some_and(|e| Arc::ptr_eq(&e.task, &task))
            {
                entries.remove(&pid);
            }
        }
        self.prune_at
            .store((entries.len() * 2).max(PRUNE_FROM), Ordering::Relaxed);
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<u32, Entry<P::Task>>> {
        // Entries are replaced whole: a panic elsewhere cannot leave one half made.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests;
