//! The table's unit tests, over a fake /proc.

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
    let compiler = StateCompiler::new(PathBuf::from("/"), Box::new(|_: &Path| None));
    let table = Table::new(procs, compiler, vars(&LAUNCH), INIT);
    table.state_for(BASH, RequestKind::Exec);
    table.state_for(BASH, RequestKind::Other);
    table
}

fn may_write(state: &ProcessState, path: &str) -> bool {
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
    let s = t.state_for(BASH, RequestKind::Other);
    assert!(s.on);
    assert!(may_write(&s, "/tmp/x"));
    assert!(!may_write(&s, "/build/x"));
    assert!(Arc::ptr_eq(&s, &t.launch));
    assert!(Arc::ptr_eq(
        &t.state_for(INIT, RequestKind::Other),
        &t.launch
    ));
}

#[test]
fn a_program_s_environment_counts_from_its_exec() {
    let t = table();
    // bash forks 102, which execs touch with SANDBOX_WRITE widened.
    t.procs.fork(BASH, 102);
    // The exec is judged by the old program's state...
    let s = t.state_for(102, RequestKind::Exec);
    assert!(!may_write(&s, "/build/x"));
    t.procs
        .exec(102, &with(&[("SANDBOX_WRITE", "/tmp:/build")]));
    // ...its interpreter's open too, then the new program's own requests by its
    // environment, read once.
    t.state_for(102, RequestKind::Exec);
    let reads = t.procs.environ_reads.load(Ordering::Relaxed);
    assert!(may_write(&t.state_for(102, RequestKind::Other), "/build/x"));
    assert!(may_write(&t.state_for(102, RequestKind::Other), "/build/x"));
    assert_eq!(t.procs.environ_reads.load(Ordering::Relaxed), reads + 1);
    // bash itself is unchanged.
    assert!(!may_write(
        &t.state_for(BASH, RequestKind::Other),
        "/build/x"
    ));
}

#[test]
fn env_i_does_not_escape() {
    let t = table();
    t.procs.fork(BASH, 102);
    t.state_for(102, RequestKind::Exec);
    t.procs.exec(102, &[]);
    let s = t.state_for(102, RequestKind::Other);
    assert!(s.on);
    assert!(!may_write(&s, "/build/x"));
    // Its own children too.
    t.procs.fork(102, 103);
    assert!(t.state_for(103, RequestKind::Other).on);
}

#[test]
fn sandbox_on_0_in_the_environment_turns_checking_off() {
    let t = table();
    t.procs.fork(BASH, 102);
    t.state_for(102, RequestKind::Exec);
    t.procs.exec(102, &with(&[("SANDBOX_ON", "0")]));
    assert!(!t.state_for(102, RequestKind::Other).on);
}

#[test]
fn forked_processes_take_their_parent_s_state() {
    let t = table();
    t.declare(BASH, &vars(&[("SANDBOX_WRITE", "/tmp:/build")]));
    // A subshell forked after the declaration; its own child, first heard from at
    // its exec, before its parent ever made a request.
    t.procs.fork(BASH, 102);
    t.procs.fork(102, 103);
    assert!(may_write(&t.state_for(103, RequestKind::Exec), "/build/x"));
    assert!(may_write(&t.state_for(102, RequestKind::Other), "/build/x"));
}

#[test]
fn a_declaration_is_the_declaring_process_s_alone() {
    let t = table();
    t.procs.fork(BASH, 102);
    t.state_for(102, RequestKind::Other);
    t.declare(102, &vars(&[("SANDBOX_WRITE", "/tmp:/sub")]));
    assert!(may_write(&t.state_for(102, RequestKind::Other), "/sub/x"));
    assert!(!may_write(&t.state_for(BASH, RequestKind::Other), "/sub/x"));
    t.declare(BASH, &vars(&[("SANDBOX_ON", "0")]));
    assert!(!t.state_for(BASH, RequestKind::Other).on);
    assert!(t.state_for(102, RequestKind::Other).on);
}

/// The declared state lasts until the process execs; then its new environment
/// counts, over the declared state.
#[test]
fn a_declared_shell_that_execs_takes_its_new_environment() {
    let t = table();
    t.declare(BASH, &vars(&[("SANDBOX_WRITE", "/tmp:/build")]));
    assert!(may_write(&t.state_for(BASH, RequestKind::Exec), "/build/x"));
    t.procs.exec(
        BASH,
        &[
            ("SANDBOX_ACTIVE", "armedandready"),
            ("SANDBOX_WRITE", "/tmp:/other"),
        ],
    );
    let s = t.state_for(BASH, RequestKind::Other);
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
    t.state_for(102, RequestKind::Exec);
    let s = t.state_for(102, RequestKind::Other);
    assert!(may_write(&s, "/build/x"));
}

#[test]
fn threads_share_their_process_s_state() {
    let t = table();
    t.procs.fork(BASH, 102);
    t.state_for(102, RequestKind::Exec);
    t.procs
        .exec(102, &with(&[("SANDBOX_WRITE", "/tmp:/build")]));
    t.procs.thread(102, 150);
    // The thread's parent is bash, but its process's environment counts.
    assert!(may_write(&t.state_for(150, RequestKind::Other), "/build/x"));
    t.declare(150, &vars(&[("SANDBOX_ON", "0")]));
    assert!(!t.state_for(102, RequestKind::Other).on);
}

#[test]
fn a_reused_pid_is_a_new_process() {
    let t = table();
    t.procs.fork(BASH, 102);
    t.state_for(102, RequestKind::Other);
    t.declare(102, &vars(&[("SANDBOX_ON", "0")]));
    assert!(!t.state_for(102, RequestKind::Other).on);
    t.procs.exit(102);
    t.procs.fork(BASH, 102);
    assert!(t.state_for(102, RequestKind::Other).on);
}

#[test]
fn gone_processes_fall_back_to_what_is_known() {
    let t = table();
    // Never seen, and gone: the launch state.
    assert!(Arc::ptr_eq(
        &t.state_for(999, RequestKind::Other),
        &t.launch
    ));
    // Seen exec'ing, gone before its next request: the state it exec'd from.
    t.procs.fork(BASH, 102);
    t.declare(BASH, &vars(&[("SANDBOX_ON", "0")]));
    t.state_for(102, RequestKind::Exec);
    t.procs.exit(102);
    assert!(t.state_for(102, RequestKind::Other).on);
    // An orphan whose parent is gone: reparented to init, the launch state.
    t.procs.spawn(104, 999, &[]);
    assert!(Arc::ptr_eq(
        &t.state_for(104, RequestKind::Other),
        &t.launch
    ));
}

#[test]
fn long_ancestries_end_at_the_launch_state() {
    let t = table();
    let mut parent = BASH;
    for pid in 200..(200 + MAX_ANCESTRY as u32 * 2) {
        t.procs.fork(parent, pid);
        parent = pid;
    }
    assert!(t.state_for(parent, RequestKind::Other).on);
}

#[test]
fn the_table_drops_gone_processes_as_it_grows() {
    let t = table();
    for pid in 1000..(1000 + PRUNE_FROM as u32 + 50) {
        t.procs.fork(BASH, pid);
        t.state_for(pid, RequestKind::Other);
        t.procs.exit(pid);
    }
    assert!(t.len() < 100, "{}", t.len());
    // A cycle of pids keeps it small without losing the live ones.
    assert!(t.state_for(BASH, RequestKind::Other).on);
}

#[test]
fn lists_from_the_launch_are_policy_entries() {
    let t = table();
    let s = t.state_for(BASH, RequestKind::Other);
    assert!(
        s.policy
            .entries()
            .contains(&(List::Write, PathBuf::from("/tmp")))
    );
}
