//! A [`Mirror`] of a fresh temporary directory, driven request by request through the
//! same `route_*` functions the adapter calls for the kernel, by the test process
//! itself as the caller. The host tree is changed between two requests with plain
//! `std::fs` calls: what a race with another host process would do, made deterministic.

use std::ffi::OsStr;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

use fuser::RenameFlags;
use nix::fcntl::{OFlag, open};
use nix::sys::stat::Mode;
use tempfile::TempDir;

use crate::audit::{Auditor, Enforcement, Record, ViolationLog};
use crate::mirror::cache::{self, FileIo, Freshness};
use crate::mirror::errno::OpResult;
use crate::mirror::ops::create::Remove;
use crate::mirror::ops::dir::Fill;
use crate::mirror::resolve::{AttrOut, EntryOut};
use crate::mirror::stats::RequestCounts;
use crate::mirror::{Mirror, MirrorOptions, Run, Runs};
use crate::policy::{Caller, List, Policy, SharedPolicy};

pub use crate::mirror::inode::ROOT_ID;

/// The one directory below the root the build may write to.
pub const WRITABLE: &str = "w";

/// The directory below the root only run B of [`Harness::two_runs`] may write to.
pub const B_ONLY: &str = "b";

/// The pids of callers in run A and run B of [`Harness::two_runs`], and of one in none.
pub const IN_A: u32 = 1_001;
pub const IN_B: u32 = 2_001;
pub const IN_NO_RUN: u32 = 3_001;

/// A mirror of `root/` in a temporary directory, judged by the plain policy: the
/// default (`READ = /`) and writes below `root/w` only. Violations go to a log beside
/// `root/`, out of the build's reach, and to the record the tests read.
pub struct Harness {
    mirror: Mirror,
    /// Each run's policy and record: one, or A and B (see [`Harness::two_runs`]).
    runs: Vec<TestRun>,
    /// The pid the next requests are made as.
    caller: AtomicU32,
    root: PathBuf,
    dir: TempDir,
}

struct TestRun {
    policy: Arc<SharedPolicy>,
    record: Arc<Record>,
    requests: Arc<RequestCounts>,
}

impl Harness {
    pub fn new() -> Harness {
        Self::hiding(&[])
    }

    /// A harness whose mirror hides the contents of the directories `rels` (made
    /// here), as a sandbox hides the staging directories of mountpoints.
    pub fn hiding(rels: &[&str]) -> Harness {
        Self::with_places(rels, &[])
    }

    /// A harness whose mirror guards the paths `rels` (not made here), as a sandbox
    /// guards the staging places: another run may make one while this one runs.
    pub fn guarding(rels: &[&str]) -> Harness {
        Self::with_places(&[], rels)
    }

    /// Made directories `hidden` hidden by identity, paths `guarded` by path.
    fn with_places(hidden: &[&str], guarded: &[&str]) -> Harness {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let root = std::fs::canonicalize(dir.path()).unwrap().join("root");
        std::fs::create_dir_all(root.join(WRITABLE)).unwrap();
        let hidden = hidden
            .iter()
            .map(|rel| {
                std::fs::create_dir_all(root.join(rel)).unwrap();
                open_dir(&root.join(rel))
            })
            .collect();
        let (test_run, run) = test_run(&dir, "violations.log", vec![root.join(WRITABLE)]);
        let opts = MirrorOptions {
            root: open_dir(&root),
            hidden,
            guarded: guarded.iter().map(|rel| root.join(rel)).collect(),
            mountinfo: None,
            runs: Runs::one(run),
            ownership: Default::default(),
            freshness: Freshness::new(cache::DEFAULT_TTL, Vec::new()),
            static_files: Vec::new(),
        };
        // The policy sees host paths, as if the whole host were mirrored.
        let mirror = Mirror::with_prefix(opts, root.clone()).expect("a mirror");
        Harness {
            mirror,
            runs: vec![test_run],
            caller: AtomicU32::new(std::process::id()),
            root,
            dir,
        }
    }

    /// A mirror kept for two runs, told apart by the caller's pid: callers with pid
    /// [`IN_A`] are run A's, which writes below `root/w` only, [`IN_B`] run B's, which
    /// writes below `root/w` and `root/b` ([`B_ONLY`]). The caller is [`IN_A`] until
    /// [`Harness::act_as`] says otherwise.
    pub fn two_runs() -> Harness {
        let mut h = Harness::new();
        std::fs::create_dir(h.host(B_ONLY)).unwrap();
        let key_of = |caller: Caller| match caller.pid {
            IN_A => Some(1),
            IN_B => Some(2),
            _ => None,
        };
        let opts = MirrorOptions {
            root: open_dir(&h.root),
            hidden: Vec::new(),
            guarded: Vec::new(),
            mountinfo: None,
            runs: Runs::keyed(Box::new(key_of)),
            ownership: Default::default(),
            freshness: Freshness::new(cache::DEFAULT_TTL, Vec::new()),
            static_files: Vec::new(),
        };
        h.mirror = Mirror::with_prefix(opts, h.root.clone()).expect("a mirror");
        h.runs.clear();
        let writable = [
            vec![h.host(WRITABLE)],
            vec![h.host(WRITABLE), h.host(B_ONLY)],
        ];
        for (key, (log, write)) in (1..).zip(["a.log", "b.log"].into_iter().zip(writable)) {
            let (test_run, run) = test_run(&h.dir, log, write);
            assert!(h.mirror.runs().join(key, run));
            h.runs.push(test_run);
        }
        h.act_as(IN_A);
        h
    }

    /// The mirror itself (to let runs join and leave).
    pub fn mirror(&self) -> &Mirror {
        &self.mirror
    }

    /// Makes the next requests as the process `pid`.
    pub fn act_as(&self, pid: u32) {
        self.caller.store(pid, Ordering::Relaxed);
    }

    /// Every violation run `index` (0 for A) reported so far, as (op name, path).
    pub fn violations_of(&self, index: usize) -> Vec<(&'static str, PathBuf)> {
        let (shown, _) = self.runs[index].record.shown();
        shown.into_iter().map(|v| (v.op, v.path)).collect()
    }

    /// How many requests run `index` (0 for A) counted.
    pub fn requests_of(&self, index: usize) -> u64 {
        self.runs[index].requests.total()
    }

    /// Refuses reads and writes below `rel` to run `index` (0 for A) from now on.
    pub fn deny_for(&self, index: usize, rel: &str) {
        (self.runs[index].policy)
            .add(List::Deny, &self.host(rel))
            .unwrap();
    }

    /// The host path of `rel`, a path below the mirror's root: also the path the
    /// policy judges (the mirror's prefix is the root's host path).
    pub fn host(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// Refuses reads and writes below `rel` from now on.
    pub fn deny(&self, rel: &str) {
        self.deny_for(0, rel);
    }

    /// Every violation reported so far, as (Gentoo op name, path).
    pub fn violations(&self) -> Vec<(&'static str, PathBuf)> {
        self.violations_of(0)
    }

    pub fn lookup(&self, parent: u64, name: &str) -> OpResult<EntryOut> {
        self.mirror
            .route_lookup(self.caller(), parent, OsStr::new(name))
    }

    /// The node of `rel`, looked up one component at a time from the root as the
    /// kernel does; panics if a component is missing.
    pub fn walk(&self, rel: &str) -> u64 {
        rel.split('/').fold(ROOT_ID, |parent, name| {
            let entry = self.lookup(parent, name).expect("lookup");
            assert_ne!(entry.attr.ino.0, 0, "{rel}: {name} is missing");
            entry.attr.ino.0
        })
    }

    /// The kernel drops `n` references to `id`.
    pub fn forget(&self, id: u64, n: u64) {
        self.mirror.route_forget(self.caller(), id, n);
    }

    /// getattr without a handle: what `stat` and `fstat` send.
    pub fn getattr(&self, id: u64) -> OpResult<AttrOut> {
        self.mirror.route_getattr(self.caller(), id, None)
    }

    /// getattr with a handle: what a read through `fh` sends.
    pub fn getattr_fh(&self, id: u64, fh: u64) -> OpResult<AttrOut> {
        self.mirror.route_getattr(self.caller(), id, Some(fh))
    }

    /// Opens node `id` with `flags` (`libc::O_*`); returns the handle.
    pub fn open(&self, id: u64, flags: i32) -> OpResult<u64> {
        self.open_io(id, flags).map(|(fh, _)| fh)
    }

    /// [`Self::open`], with how the kernel is told to do I/O on the file.
    pub fn open_io(&self, id: u64, flags: i32) -> OpResult<(u64, FileIo)> {
        self.mirror.route_open(self.caller(), id, flags)
    }

    /// Up to 4 KiB from the start of the file open as `fh`.
    pub fn read(&self, id: u64, fh: u64) -> OpResult<Vec<u8>> {
        self.mirror.route_read(self.caller(), id, fh, 0, 4096)
    }

    /// The whole of node `id`'s file, opened, read and released.
    pub fn contents(&self, id: u64) -> OpResult<String> {
        let fh = self.open(id, libc::O_RDONLY)?;
        let data = self.read(id, fh);
        self.release(fh);
        Ok(String::from_utf8(data?).unwrap())
    }

    pub fn write(&self, id: u64, fh: u64, offset: u64, data: &str) -> OpResult<u32> {
        self.mirror
            .route_write(self.caller(), id, fh, offset, data.as_bytes())
    }

    pub fn release(&self, fh: u64) {
        self.mirror.route_release(self.caller(), fh);
    }

    /// open(O_CREAT | `flags`, 0644) of `name` in `parent`: its entry and a handle.
    pub fn create(&self, parent: u64, name: &str, flags: i32) -> OpResult<(EntryOut, u64)> {
        let name = OsStr::new(name);
        self.mirror
            .route_create(self.caller(), parent, name, 0o100644, flags)
    }

    pub fn mkdir(&self, parent: u64, name: &str) -> OpResult<EntryOut> {
        self.mirror
            .route_mkdir(self.caller(), parent, OsStr::new(name), 0o755)
    }

    pub fn unlink(&self, parent: u64, name: &str) -> OpResult<()> {
        let name = OsStr::new(name);
        self.mirror
            .route_remove(self.caller(), parent, name, Remove::File)
    }

    pub fn rename(&self, from: (u64, &str), to: (u64, &str)) -> OpResult<()> {
        let from = (from.0, OsStr::new(from.1));
        let to = (to.0, OsStr::new(to.1));
        self.mirror
            .route_rename(self.caller(), from, to, RenameFlags::empty())
    }

    /// The names directory node `id` lists (opendir, readdir, releasedir), sorted,
    /// without "." and "..".
    pub fn readdir(&self, id: u64) -> OpResult<Vec<String>> {
        let (fh, _) = self.mirror.route_opendir(self.caller(), id)?;
        let mut names = Vec::new();
        let listed = self.mirror.route_readdir(self.caller(), id, fh, 0, |e| {
            names.push(e.name.to_string_lossy().into_owned());
            Fill::Added
        });
        self.mirror.route_releasedir(self.caller(), fh);
        listed?;
        names.retain(|n| n != "." && n != "..");
        names.sort();
        Ok(names)
    }
}

impl Harness {
    fn caller(&self) -> Caller {
        Caller {
            pid: self.caller.load(Ordering::Relaxed),
        }
    }
}

/// Another run for `h`'s mirror (writes below `root/w`, reports to `log`), to join it.
pub fn test_run_for(h: &Harness, log: &str) -> Run {
    test_run(&h.dir, log, vec![h.host(WRITABLE)]).1
}

/// A run that writes below `write` only and reports to `log` in `dir`: the test's
/// handles on it, and the run for the mirror.
fn test_run(dir: &TempDir, log: &str, write: Vec<PathBuf>) -> (TestRun, Run) {
    let policy = Arc::new(SharedPolicy::new(Policy::new(write)));
    let record = Arc::new(Record::new());
    let requests = Arc::new(RequestCounts::default());
    let log = ViolationLog::create(dir.path().join(log)).unwrap();
    let run = Run {
        judge: policy.clone(),
        auditor: Arc::new(Auditor::new(record.clone(), log, false, Enforcement::Deny)),
        tracer: None,
        requests: requests.clone(),
    };
    let test_run = TestRun {
        policy,
        record,
        requests,
    };
    (test_run, run)
}

fn open_dir(path: &Path) -> OwnedFd {
    let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    open(path, flags, Mode::empty()).expect("the root")
}

/// The host inode number of `path` (not followed).
pub fn ino(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(path).unwrap().ino()
}

/// Makes objects with `make` (given a fresh path in `dir` each time) until the host
/// gives one the inode number `wanted`, which a removed object had; returns its path.
/// `None` if `tries` objects did not get it: some filesystems never reuse a number
/// soon (tmpfs, btrfs), and on the others another process may have taken it.
pub fn reuse_ino(dir: &Path, wanted: u64, tries: usize, make: impl Fn(&Path)) -> Option<PathBuf> {
    static MADE: AtomicUsize = AtomicUsize::new(0);
    (0..tries).find_map(|_| {
        let path = dir.join(format!("reuse-{}", MADE.fetch_add(1, Ordering::Relaxed)));
        make(&path);
        (ino(&path) == wanted).then_some(path)
    })
}

/// Whether this process holds an fd of the object last named `path` (removed or not):
/// what keeps the host from freeing it and reusing its inode number.
pub fn holds_open(path: &Path) -> bool {
    let deleted = format!("{} (deleted)", path.display());
    std::fs::read_dir("/proc/self/fd").unwrap().any(|fd| {
        let target = std::fs::read_link(fd.unwrap().path()).unwrap_or_default();
        target == path || target.as_os_str() == deleted.as_str()
    })
}
