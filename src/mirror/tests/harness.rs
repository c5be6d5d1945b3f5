//! A [`Mirror`] of a fresh temporary directory, driven request by request through the
//! same `route_*` functions the adapter calls for the kernel, by the test process
//! itself as the caller. The host tree is changed between two requests with plain
//! `std::fs` calls: what a race with another host process would do, made deterministic.

use std::ffi::OsStr;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

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
use crate::mirror::{Mirror, MirrorOptions};
use crate::policy::{Caller, List, Policy, SharedPolicy};

pub use crate::mirror::inode::ROOT_ID;

/// The one directory below the root the build may write to.
pub const WRITABLE: &str = "w";

/// A mirror of `root/` in a temporary directory, judged by the plain policy: the
/// default (`READ = /`) and writes below `root/w` only. Violations go to a log beside
/// `root/`, out of the build's reach, and to the record the tests read.
pub struct Harness {
    mirror: Mirror,
    policy: Arc<SharedPolicy>,
    record: Arc<Record>,
    caller: Caller,
    root: PathBuf,
    _dir: TempDir,
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
        let policy = Arc::new(SharedPolicy::new(Policy::new(vec![root.join(WRITABLE)])));
        let record = Arc::new(Record::new());
        let log = ViolationLog::create(dir.path().join("violations.log")).unwrap();
        let opts = MirrorOptions {
            root: open_dir(&root),
            hidden,
            guarded: guarded.iter().map(|rel| root.join(rel)).collect(),
            mountinfo: None,
            judge: policy.clone(),
            auditor: Arc::new(Auditor::new(record.clone(), log, false, Enforcement::Deny)),
            tracer: None,
            requests: Default::default(),
            ownership: Default::default(),
            freshness: Freshness::new(cache::DEFAULT_TTL, Vec::new()),
            static_files: Vec::new(),
        };
        // The policy sees host paths, as if the whole host were mirrored.
        let mirror = Mirror::with_prefix(opts, root.clone()).expect("a mirror");
        Harness {
            mirror,
            policy,
            record,
            caller: Caller {
                pid: std::process::id(),
            },
            root,
            _dir: dir,
        }
    }

    /// The host path of `rel`, a path below the mirror's root: also the path the
    /// policy judges (the mirror's prefix is the root's host path).
    pub fn host(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// Refuses reads and writes below `rel` from now on.
    pub fn deny(&self, rel: &str) {
        self.policy.add(List::Deny, &self.host(rel)).unwrap();
    }

    /// Every violation reported so far, as (Gentoo op name, path).
    pub fn violations(&self) -> Vec<(&'static str, PathBuf)> {
        let (shown, _) = self.record.shown();
        shown.into_iter().map(|v| (v.op, v.path)).collect()
    }

    pub fn lookup(&self, parent: u64, name: &str) -> OpResult<EntryOut> {
        self.mirror
            .route_lookup(self.caller, parent, OsStr::new(name))
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
        self.mirror.route_forget(self.caller, id, n);
    }

    /// getattr without a handle: what `stat` and `fstat` send.
    pub fn getattr(&self, id: u64) -> OpResult<AttrOut> {
        self.mirror.route_getattr(self.caller, id, None)
    }

    /// getattr with a handle: what a read through `fh` sends.
    pub fn getattr_fh(&self, id: u64, fh: u64) -> OpResult<AttrOut> {
        self.mirror.route_getattr(self.caller, id, Some(fh))
    }

    /// Opens node `id` with `flags` (`libc::O_*`); returns the handle.
    pub fn open(&self, id: u64, flags: i32) -> OpResult<u64> {
        self.open_io(id, flags).map(|(fh, _)| fh)
    }

    /// [`Self::open`], with how the kernel is told to do I/O on the file.
    pub fn open_io(&self, id: u64, flags: i32) -> OpResult<(u64, FileIo)> {
        self.mirror.route_open(self.caller, id, flags)
    }

    /// Up to 4 KiB from the start of the file open as `fh`.
    pub fn read(&self, id: u64, fh: u64) -> OpResult<Vec<u8>> {
        self.mirror.route_read(self.caller, id, fh, 0, 4096)
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
            .route_write(self.caller, id, fh, offset, data.as_bytes())
    }

    pub fn release(&self, fh: u64) {
        self.mirror.route_release(self.caller, fh);
    }

    /// open(O_CREAT | `flags`, 0644) of `name` in `parent`: its entry and a handle.
    pub fn create(&self, parent: u64, name: &str, flags: i32) -> OpResult<(EntryOut, u64)> {
        let name = OsStr::new(name);
        self.mirror
            .route_create(self.caller, parent, name, 0o100644, flags)
    }

    pub fn mkdir(&self, parent: u64, name: &str) -> OpResult<EntryOut> {
        self.mirror
            .route_mkdir(self.caller, parent, OsStr::new(name), 0o755)
    }

    pub fn unlink(&self, parent: u64, name: &str) -> OpResult<()> {
        let name = OsStr::new(name);
        self.mirror
            .route_remove(self.caller, parent, name, Remove::File)
    }

    pub fn rename(&self, from: (u64, &str), to: (u64, &str)) -> OpResult<()> {
        let from = (from.0, OsStr::new(from.1));
        let to = (to.0, OsStr::new(to.1));
        self.mirror
            .route_rename(self.caller, from, to, RenameFlags::empty())
    }

    /// The names directory node `id` lists (opendir, readdir, releasedir), sorted,
    /// without "." and "..".
    pub fn readdir(&self, id: u64) -> OpResult<Vec<String>> {
        let (fh, _) = self.mirror.route_opendir(self.caller, id)?;
        let mut names = Vec::new();
        let listed = self.mirror.route_readdir(self.caller, id, fh, 0, |e| {
            names.push(e.name.to_string_lossy().into_owned());
            Fill::Added
        });
        self.mirror.route_releasedir(self.caller, fh);
        listed?;
        names.retain(|n| n != "." && n != "..");
        names.sort();
        Ok(names)
    }
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
