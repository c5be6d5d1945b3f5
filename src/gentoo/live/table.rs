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
use super::state::{Compiler, LiveState};

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
pub enum Request {
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
        state: Arc<LiveState>,
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
    compiler: Compiler,
    launch: Arc<LiveState>,
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
    pub fn new(procs: P, compiler: Compiler, launch: Vars, init: u32) -> Table<P> {
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
    pub fn state_for(&self, pid: u32, request: Request) -> Arc<LiveState> {
        self.state_at(pid, request, 0)
    }

    /// The task `pid` declares that its variables are now `vars` (a shell that
    /// exported something); it stays in that state until it execs.
    pub fn declare(&self, pid: u32, vars: &Vars) {
        let current = self.state_for(pid, Request::Other);
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

    fn state_at(&self, pid: u32, request: Request, depth: usize) -> Arc<LiveState> {
        if pid == 0 || pid == self.init || depth > MAX_ANCESTRY {
            return self.launch.clone();
        }
        match self.known(pid) {
            None => self.first_sight(pid, request, depth),
            Some((_, Kind::Thread { tgid })) => self.state_at(tgid, request, depth + 1),
            Some((task, Kind::Process { state, exec })) => match (request, exec) {
                (Request::Exec, None) => {
                    let exec = Exec {
                        image_before: self.procs.image(&task),
                    };
                    self.update(pid, &task, state.clone(), Some(exec));
                    state
                }
                (Request::Exec, Some(_)) => state,
                (Request::Other, Some(exec)) => self.after_exec(pid, &task, state, exec),
                (Request::Other, None) => state,
            },
        }
    }

    /// A task heard from for the first time: a thread takes its process's state; a
    /// process its parent's (and when this is its exec, its environment comes next).
    fn first_sight(&self, pid: u32, request: Request, depth: usize) -> Arc<LiveState> {
        let Some((task, lineage)) = self.procs.open(pid) else {
            return self.launch.clone();
        };
        if lineage.tgid != pid {
            self.insert(pid, task, Kind::Thread { tgid: lineage.tgid });
            return self.state_at(lineage.tgid, request, depth + 1);
        }
        let inherited = self.state_at(lineage.ppid, Request::Other, depth + 1);
        let exec = (request == Request::Exec).then(|| Exec {
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
        before: Arc<LiveState>,
        exec: Exec,
    ) -> Arc<LiveState> {
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
    fn update(&self, pid: u32, task: &Arc<P::Task>, state: Arc<LiveState>, exec: Option<Exec>) {
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
mod tests {
    use super::*;
    use crate::policy::{Access, List, Verdict};
    use std::ffi::OsStr;
    use std::path::{Path, PathBuf};
    use std::sync::atomic::AtomicU64;

    /// A fake process tree: tasks by pid, each with a generation that changes when the
    /// pid is reused, its lineage, environment and program image.
    #[derive(Default)]
    struct FakeProcs {
        tasks: Mutex<HashMap<u32, FakeTask>>,
        generations: AtomicU64,
        environ_reads: AtomicUsize,
    }

    #[derive(Clone)]
    struct FakeTask {
        generation: u64,
        lineage: Lineage,
        environ: Vec<u8>,
        image: u64,
    }

    impl Procs for FakeProcs {
        type Task = (u32, u64);

        fn open(&self, pid: u32) -> Option<(Self::Task, Lineage)> {
            let tasks = self.tasks.lock().unwrap();
            let t = tasks.get(&pid)?;
            Some(((pid, t.generation), t.lineage))
        }

        fn alive(&self, &(pid, generation): &Self::Task) -> bool {
            self.get(pid, generation).is_some()
        }

        fn environ(&self, &(pid, generation): &Self::Task) -> Option<Vec<u8>> {
            self.environ_reads.fetch_add(1, Ordering::Relaxed);
            self.get(pid, generation).map(|t| t.environ)
        }

        fn image(&self, &(pid, generation): &Self::Task) -> Option<u64> {
            self.get(pid, generation).map(|t| t.image)
        }
    }

    impl FakeProcs {
        fn get(&self, pid: u32, generation: u64) -> Option<FakeTask> {
            let tasks = self.tasks.lock().unwrap();
            tasks
                .get(&pid)
                .filter(|t| t.generation == generation)
                .cloned()
        }

        /// A new process `pid`, child of `ppid`, running with `env`.
        fn spawn(&self, pid: u32, ppid: u32, env: &[(&str, &str)]) {
            let generation = self.generations.fetch_add(1, Ordering::Relaxed);
            self.tasks.lock().unwrap().insert(
                pid,
                FakeTask {
                    generation,
                    lineage: Lineage { ppid, tgid: pid },
                    environ: environ(env),
                    image: 1,
                },
            );
        }

        /// `pid` forks `child`, which shares its environment memory.
        fn fork(&self, pid: u32, child: u32) {
            let parent = self.tasks.lock().unwrap()[&pid].clone();
            let generation = self.generations.fetch_add(1, Ordering::Relaxed);
            self.tasks.lock().unwrap().insert(
                child,
                FakeTask {
                    generation,
                    lineage: Lineage {
                        ppid: pid,
                        tgid: child,
                    },
                    ..parent
                },
            );
        }

        fn thread(&self, pid: u32, tid: u32) {
            let leader = self.tasks.lock().unwrap()[&pid].clone();
            self.tasks.lock().unwrap().insert(
                tid,
                FakeTask {
                    lineage: Lineage {
                        ppid: leader.lineage.ppid,
                        tgid: pid,
                    },
                    ..leader
                },
            );
        }

        /// `pid` replaces its program, with environment `env`.
        fn exec(&self, pid: u32, env: &[(&str, &str)]) {
            let mut tasks = self.tasks.lock().unwrap();
            let t = tasks.get_mut(&pid).unwrap();
            t.environ = environ(env);
            t.image += 1;
        }

        fn exit(&self, pid: u32) {
            self.tasks.lock().unwrap().remove(&pid);
        }
    }

    fn environ(pairs: &[(&str, &str)]) -> Vec<u8> {
        let mut out = Vec::new();
        for (k, v) in pairs {
            out.extend_from_slice(format!("{k}={v}\0").as_bytes());
        }
        out
    }

    fn vars(pairs: &[(&str, &str)]) -> Vars {
        Vars::from_pairs(pairs.iter().map(|(k, v)| (OsStr::new(k), OsStr::new(v))))
    }

    const INIT: u32 = 100;
    const BASH: u32 = 101;

    const LAUNCH: [(&str, &str); 4] = [
        ("SANDBOX_ON", "1"),
        ("SANDBOX_ACTIVE", "armedandready"),
        ("SANDBOX_READ", "/"),
        ("SANDBOX_WRITE", "/tmp"),
    ];

    /// The launch: init (100) has started the command, bash (101), with the launch's
    /// environment; bash has exec'd and made its first requests.
    fn table() -> Table<FakeProcs> {
        let procs = FakeProcs::default();
        procs.spawn(INIT, 1, &[]);
        procs.spawn(BASH, INIT, &LAUNCH);
        let compiler = Compiler::new(PathBuf::from("/"), Box::new(|_: &Path| None));
        let table = Table::new(procs, compiler, vars(&LAUNCH), INIT);
        table.state_for(BASH, Request::Exec);
        table.state_for(BASH, Request::Other);
        table
    }

    fn may_write(state: &LiveState, path: &str) -> bool {
        !state.on || state.policy.check(Access::Write, Path::new(path)) == Verdict::Allow
    }

    fn with(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
        let mut env: Vec<_> = LAUNCH
            .iter()
            .filter(|(k, _)| !extra.iter().any(|(e, _)| e == k))
            .copied()
            .collect();
        env.extend_from_slice(extra);
        env
    }

    #[test]
    fn the_command_gets_the_launch_state() {
        let t = table();
        let s = t.state_for(BASH, Request::Other);
        assert!(s.on);
        assert!(may_write(&s, "/tmp/x"));
        assert!(!may_write(&s, "/build/x"));
        assert!(Arc::ptr_eq(&s, &t.launch));
        assert!(Arc::ptr_eq(&t.state_for(INIT, Request::Other), &t.launch));
    }

    #[test]
    fn a_program_s_environment_counts_from_its_exec() {
        let t = table();
        // bash forks 102, which execs touch with SANDBOX_WRITE widened.
        t.procs.fork(BASH, 102);
        // The exec is judged by the old program's state...
        let s = t.state_for(102, Request::Exec);
        assert!(!may_write(&s, "/build/x"));
        t.procs
            .exec(102, &with(&[("SANDBOX_WRITE", "/tmp:/build")]));
        // ...its interpreter's open too, then the new program's own requests by its
        // environment, read once.
        t.state_for(102, Request::Exec);
        let reads = t.procs.environ_reads.load(Ordering::Relaxed);
        assert!(may_write(&t.state_for(102, Request::Other), "/build/x"));
        assert!(may_write(&t.state_for(102, Request::Other), "/build/x"));
        assert_eq!(t.procs.environ_reads.load(Ordering::Relaxed), reads + 1);
        // bash itself is unchanged.
        assert!(!may_write(&t.state_for(BASH, Request::Other), "/build/x"));
    }

    #[test]
    fn env_i_does_not_escape() {
        let t = table();
        t.procs.fork(BASH, 102);
        t.state_for(102, Request::Exec);
        t.procs.exec(102, &[]);
        let s = t.state_for(102, Request::Other);
        assert!(s.on);
        assert!(!may_write(&s, "/build/x"));
        // Its own children too.
        t.procs.fork(102, 103);
        assert!(t.state_for(103, Request::Other).on);
    }

    #[test]
    fn sandbox_on_0_in_the_environment_turns_checking_off() {
        let t = table();
        t.procs.fork(BASH, 102);
        t.state_for(102, Request::Exec);
        t.procs.exec(102, &with(&[("SANDBOX_ON", "0")]));
        assert!(!t.state_for(102, Request::Other).on);
    }

    #[test]
    fn forked_processes_take_their_parent_s_state() {
        let t = table();
        t.declare(BASH, &vars(&[("SANDBOX_WRITE", "/tmp:/build")]));
        // A subshell forked after the declaration; its own child, first heard from at
        // its exec, before its parent ever made a request.
        t.procs.fork(BASH, 102);
        t.procs.fork(102, 103);
        assert!(may_write(&t.state_for(103, Request::Exec), "/build/x"));
        assert!(may_write(&t.state_for(102, Request::Other), "/build/x"));
    }

    #[test]
    fn a_declaration_is_the_declaring_process_s_alone() {
        let t = table();
        t.procs.fork(BASH, 102);
        t.state_for(102, Request::Other);
        t.declare(102, &vars(&[("SANDBOX_WRITE", "/tmp:/sub")]));
        assert!(may_write(&t.state_for(102, Request::Other), "/sub/x"));
        assert!(!may_write(&t.state_for(BASH, Request::Other), "/sub/x"));
        t.declare(BASH, &vars(&[("SANDBOX_ON", "0")]));
        assert!(!t.state_for(BASH, Request::Other).on);
        assert!(t.state_for(102, Request::Other).on);
    }

    /// The declared state lasts until the process execs; then its new environment
    /// counts, over the declared state.
    #[test]
    fn a_declared_shell_that_execs_takes_its_new_environment() {
        let t = table();
        t.declare(BASH, &vars(&[("SANDBOX_WRITE", "/tmp:/build")]));
        assert!(may_write(&t.state_for(BASH, Request::Exec), "/build/x"));
        t.procs.exec(
            BASH,
            &[
                ("SANDBOX_ACTIVE", "armedandready"),
                ("SANDBOX_WRITE", "/tmp:/other"),
            ],
        );
        let s = t.state_for(BASH, Request::Other);
        assert!(may_write(&s, "/other/x"));
        assert!(!may_write(&s, "/build/x"));
        // SANDBOX_ON, not in the new environment, was put back on.
        assert!(s.on);
    }

    /// An exec that failed after opening the program (bash running a script without
    /// `#!` itself) leaves the process in its state: its environment is the old one.
    #[test]
    fn a_failed_exec_keeps_the_state() {
        let t = table();
        t.procs.fork(BASH, 102);
        t.declare(102, &vars(&[("SANDBOX_WRITE", "/tmp:/build")]));
        t.state_for(102, Request::Exec);
        let s = t.state_for(102, Request::Other);
        assert!(may_write(&s, "/build/x"));
    }

    #[test]
    fn threads_share_their_process_s_state() {
        let t = table();
        t.procs.fork(BASH, 102);
        t.state_for(102, Request::Exec);
        t.procs
            .exec(102, &with(&[("SANDBOX_WRITE", "/tmp:/build")]));
        t.procs.thread(102, 150);
        // The thread's parent is bash, but its process's environment counts.
        assert!(may_write(&t.state_for(150, Request::Other), "/build/x"));
        t.declare(150, &vars(&[("SANDBOX_ON", "0")]));
        assert!(!t.state_for(102, Request::Other).on);
    }

    #[test]
    fn a_reused_pid_is_a_new_process() {
        let t = table();
        t.procs.fork(BASH, 102);
        t.state_for(102, Request::Other);
        t.declare(102, &vars(&[("SANDBOX_ON", "0")]));
        assert!(!t.state_for(102, Request::Other).on);
        t.procs.exit(102);
        t.procs.fork(BASH, 102);
        assert!(t.state_for(102, Request::Other).on);
    }

    #[test]
    fn gone_processes_fall_back_to_what_is_known() {
        let t = table();
        // Never seen, and gone: the launch state.
        assert!(Arc::ptr_eq(&t.state_for(999, Request::Other), &t.launch));
        // Seen exec'ing, gone before its next request: the state it exec'd from.
        t.procs.fork(BASH, 102);
        t.declare(BASH, &vars(&[("SANDBOX_ON", "0")]));
        t.state_for(102, Request::Exec);
        t.procs.exit(102);
        assert!(t.state_for(102, Request::Other).on);
        // An orphan whose parent is gone: reparented to init, the launch state.
        t.procs.spawn(104, 999, &[]);
        assert!(Arc::ptr_eq(&t.state_for(104, Request::Other), &t.launch));
    }

    #[test]
    fn long_ancestries_end_at_the_launch_state() {
        let t = table();
        let mut parent = BASH;
        for pid in 200..(200 + MAX_ANCESTRY as u32 * 2) {
            t.procs.fork(parent, pid);
            parent = pid;
        }
        assert!(t.state_for(parent, Request::Other).on);
    }

    #[test]
    fn the_table_drops_gone_processes_as_it_grows() {
        let t = table();
        for pid in 1000..(1000 + PRUNE_FROM as u32 + 50) {
            t.procs.fork(BASH, pid);
            t.state_for(pid, Request::Other);
            t.procs.exit(pid);
        }
        assert!(t.len() < 100, "{}", t.len());
        // A cycle of pids keeps it small without losing the live ones.
        assert!(t.state_for(BASH, Request::Other).on);
    }

    #[test]
    fn lists_from_the_launch_are_policy_entries() {
        let t = table();
        let s = t.state_for(BASH, Request::Other);
        assert!(
            s.policy
                .entries()
                .contains(&(List::Write, PathBuf::from("/tmp")))
        );
    }
}
