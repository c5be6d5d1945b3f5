//! THE chokepoint: every op reaches the host only through [`Resolver::resolve_for`]
//! (or, for ops on an open handle, [`Resolver::judge_handle`]), which finds the host
//! object and asks the policy. A new op cannot forget the policy check.
//!
//! Resolution never follows a symlink the build could have swapped in: a node's path is
//! rebuilt from the store's (parent, name) links and opened one component at a time
//! with `openat(O_PATH | O_NOFOLLOW)` from the nearest cached ancestor fd, and every
//! component opened is checked to be the host object the store recorded (else
//! ESTALE, which makes the kernel look the path up afresh). So the object the policy
//! judged is the object that gets touched. Mount points are crossed: the whole host
//! tree (/proc, /dev, /home on another fs) is visible.
//!
//! The store's links follow the mirror's own renames and unlinks, which change the host
//! first and the store just after; [`Resolver::changing_names`] keeps every path rebuilt
//! from the store out of that gap.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use fuser::{Errno, FileAttr, FileType};
use nix::fcntl::{OFlag, openat};
use nix::sys::resource::{Resource, getrlimit};
use nix::sys::stat::{FileStat, Mode, fstat, fstatat};

use super::MirrorOptions;
use super::attr::{Ownership, file_attr, kind_of_stat};
use super::cache::{Freshness, Ttls};
use super::errno::{HostResult, OpResult};
use super::fdcache::{DirCache, capacity_for_fd_limit};
use super::handle::Handle;
use super::inode::{Chain, HostId, Link, Store};
use crate::audit::{Auditor, Breach, Op, Traced, Tracer};
use crate::gentoo::live::{LiveTable, Request, Vars};
use crate::policy::{Access, List, PolicyError, SharedPolicy, Verdict, entries_moved_by};

/// The policy's answer for one path, as [`Resolver::enforce`] acts on it.
struct Decision {
    verdict: Verdict,
    /// The caller wants it in the debug log (Gentoo mode's `SANDBOX_DEBUG`).
    debug: bool,
    /// Whose rule it breaks: `--audit` lets only the policy's through.
    breach: Breach,
}

/// The process a request came from: its thread id in fusebox-run's (the host's) PID
/// namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caller {
    pub pid: u32,
}

/// How an op is judged.
#[derive(Clone, Copy, Debug)]
pub enum Check<'a> {
    /// A step of another op (the names of a listing, a probe before mkdir): neither
    /// judged nor traced.
    Internal,
    /// `op` (lookup, stat…: see [`Op::is_judged`]) looks without being judged; noted
    /// in `journal` when tracing.
    Seen {
        op: Op,
        journal: Option<&'a Journal>,
    },
    /// `op` by `caller`, decided by the policy and reported when refused; noted in
    /// `journal` when tracing.
    Op {
        op: Op,
        caller: Caller,
        journal: Option<&'a Journal>,
    },
}

/// The judgments of one request, kept until its outcome is known (for the trace).
#[derive(Debug, Default)]
pub struct Journal(RefCell<Vec<Judged>>);

#[derive(Debug)]
struct Judged {
    op: Op,
    path: PathBuf,
    verdict: Verdict,
}

/// What an op names: a node itself, or a name in a directory node.
#[derive(Clone, Copy, Debug)]
pub enum Target<'a> {
    Node(u64),
    Entry { parent: u64, name: &'a OsStr },
}

/// A node's host object, open as O_PATH and verified to be the node's.
#[derive(Clone, Debug)]
pub struct NodeFd {
    pub fd: Arc<OwnedFd>,
    /// The stat taken when the identity was verified.
    pub stat: FileStat,
    /// The directory it was opened from and its name there, when the walk opened it
    /// (not when it came straight from the directory cache, nor for the root).
    pub parent: Option<(Arc<OwnedFd>, OsString)>,
}

/// A node, with the mirror path the policy judged.
#[derive(Debug)]
pub struct NodeAt {
    pub node: NodeFd,
    pub path: PathBuf,
}

/// A directory's host fd, to reach names in it.
#[derive(Clone, Debug)]
pub struct DirFd {
    pub fd: Arc<OwnedFd>,
}

/// A name in a directory node, with the mirror path the policy judged.
#[derive(Debug)]
pub struct EntryAt {
    pub dir: DirFd,
    pub name: OsString,
    pub path: PathBuf,
}

/// A node's regular file, opened for I/O, with the mirror path the policy judged.
#[derive(Debug)]
pub struct FileAt {
    pub fd: OwnedFd,
    /// Its stat, taken through `fd` when its identity was verified.
    pub stat: FileStat,
    pub path: PathBuf,
}

/// A node to resolve names in, with the mirror path the policy judged.
pub struct DirAt {
    fd: DirFd,
    host: HostId,
    /// Whether the node is a directory at all (names in anything else are ENOTDIR).
    is_dir: bool,
    pub path: PathBuf,
}

impl DirAt {
    /// The host identity of the directory.
    pub fn host(&self) -> HostId {
        self.host
    }
}

#[derive(Debug)]
pub enum Resolved {
    Node(NodeAt),
    Entry(EntryAt),
}

/// A lookup-like reply: the attributes (ino = node id) and the generation.
#[derive(Clone, Copy, Debug)]
pub struct EntryOut {
    pub attr: FileAttr,
    pub generation: u64,
    /// How long the kernel may trust the entry and its attributes.
    pub ttls: Ttls,
}

impl EntryOut {
    /// "No such name", for the kernel to remember for `ttl` (node id 0).
    pub fn negative(ttl: Duration) -> EntryOut {
        let ttls = Ttls {
            entry: ttl,
            attr: ttl,
        };
        let never = std::time::UNIX_EPOCH;
        EntryOut {
            attr: FileAttr {
                ino: fuser::INodeNo(0),
                size: 0,
                blocks: 0,
                atime: never,
                mtime: never,
                ctime: never,
                crtime: never,
                kind: FileType::RegularFile,
                perm: 0,
                nlink: 0,
                uid: 0,
                gid: 0,
                rdev: 0,
                blksize: 0,
                flags: 0,
            },
            generation: 0,
            ttls,
        }
    }
}

/// A node's attributes, and how long the kernel may trust them.
pub struct AttrOut {
    pub attr: FileAttr,
    pub ttl: Duration,
}

#[derive(Debug)]
pub struct Resolver {
    root: Arc<OwnedFd>,
    root_host: HostId,
    store: Store,
    /// Shared while a node's path is rebuilt from the store and opened on the host;
    /// exclusive while a name changes on the host and then in the store.
    names: RwLock<()>,
    dirs: DirCache,
    /// O_PATH fds of objects deleted through the mirror while the kernel still holds
    /// their nodes: see [`Resolver::pin_until_forgotten`].
    pinned: Mutex<HashMap<u64, OwnedFd>>,
    hidden: HashSet<HostId>,
    /// fusebox's own paths, which the build may never change or move.
    guarded: Vec<PathBuf>,
    /// Which host devices are fusebox mirrors, never to be entered.
    mirrors: super::mounts::Mirrors,
    policy: Arc<SharedPolicy>,
    auditor: Arc<Auditor>,
    tracer: Option<Arc<Tracer>>,
    /// Gentoo mode's debug log: what processes with `SANDBOX_DEBUG` on had judged.
    debug_log: Option<Arc<Tracer>>,
    /// The mirror path of the root fd: policy paths are `prefix` + the path below it.
    prefix: PathBuf,
    ownership: Ownership,
    freshness: Freshness,
    /// Gentoo mode: each process's own state, which adds its lists to the policy or
    /// turns checking off for it.
    live: Option<LiveTable>,
}

impl Resolver {
    /// Serves `opts.root`, whose paths the policy sees below `prefix`.
    pub fn new(opts: MirrorOptions, prefix: PathBuf) -> std::io::Result<Resolver> {
        let root_host = HostId::of(opts.root.as_fd())?;
        let (soft, _) = getrlimit(Resource::RLIMIT_NOFILE)?;
        let root = Arc::new(opts.root);
        let live = opts.live.map(|live| {
            let root = root.clone();
            live.table(Box::new(move |path: &Path| host_realpath(&root, path)))
        });
        Ok(Resolver {
            root,
            root_host,
            store: Store::new(root_host),
            names: RwLock::new(()),
            dirs: DirCache::new(capacity_for_fd_limit(soft)),
            pinned: Mutex::new(HashMap::new()),
            hidden: opts.hidden.into_iter().collect(),
            guarded: opts.guarded,
            mirrors: super::mounts::Mirrors::new(opts.mountinfo),
            policy: opts.policy,
            auditor: opts.auditor,
            tracer: opts.tracer,
            debug_log: opts.debug_log,
            prefix,
            ownership: opts.ownership,
            freshness: opts.freshness,
            live,
        })
    }

    /// How long the kernel may trust answers.
    pub fn freshness(&self) -> &Freshness {
        &self.freshness
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Held by an op while it changes names on the host (rename, unlink, rmdir) and then
    /// records the change in the store. The kernel does not serialise those with ops on
    /// the nodes involved (fstat of an open file, a lookup inside a directory being
    /// moved), and a path rebuilt from the store in between names what the host has
    /// there now: the object renamed over the node (ESTALE for the fstat) or nothing
    /// (ENOENT for the lookup, of a file that exists).
    pub fn changing_names(&self) -> RwLockWriteGuard<'_, ()> {
        self.names.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Held while a path is rebuilt from the store and opened: see [`Self::changing_names`].
    fn rebuilding_path(&self) -> RwLockReadGuard<'_, ()> {
        self.names.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Finds `target` on the host and judges `access` to it. The single place where
    /// ops get host objects and where the policy is asked.
    ///
    /// Existence is checked before the policy (a write below a missing directory is
    /// ENOENT, as natively); a denial is EACCES and nothing has been changed.
    pub fn resolve_for(&self, target: Target<'_>, check: Check) -> OpResult<Resolved> {
        match target {
            Target::Node(id) => {
                let (chain, node) = self.open_node(id)?;
                let path = self.mirror_path(&chain, None);
                self.judge(&path, check)?;
                Ok(Resolved::Node(NodeAt { node, path }))
            }
            Target::Entry { parent, name } => {
                let dir = self.open_dir_node(parent)?;
                self.child_of(&dir, name, check).map(Resolved::Entry)
            }
        }
    }

    /// Node `id` as a directory to resolve names in, judged for `check`: for
    /// readdirplus, which resolves every name of a listing in it. A cached directory
    /// costs no syscall (see [`Self::open_dir_node`]).
    pub fn dir(&self, id: u64, check: Check) -> OpResult<DirAt> {
        let dir = self.open_dir_node(id)?;
        self.judge(&dir.path, check)?;
        Ok(dir)
    }

    /// Resolves `name` in the already resolved directory `dir` and judges `access` to
    /// it: [`Self::resolve_for`] of an entry, without re-opening the directory.
    pub fn child_of(&self, dir: &DirAt, name: &OsStr, check: Check) -> OpResult<EntryAt> {
        let dir_path = &dir.path;
        check_name(name)?;
        if !dir.is_dir {
            return Err(Errno::ENOTDIR);
        }
        if self.hidden.contains(&dir.host) {
            return Err(Errno::ENOENT);
        }
        let path = dir_path.join(name);
        self.judge(&path, check)?;
        Ok(EntryAt {
            dir: dir.fd.clone(),
            name: name.to_owned(),
            path,
        })
    }

    /// Whether the directory `host` has its contents hidden.
    pub fn is_hidden(&self, host: HostId) -> bool {
        self.hidden.contains(&host)
    }

    /// Node `id`'s current host stat and its mirror path, judged for `check`: what
    /// [`Self::node`] finds, for an op that needs nothing but the attributes. One
    /// fstatat of the name in its parent, no fd opened.
    pub fn stat_node(&self, id: u64, check: Check) -> OpResult<(FileStat, PathBuf)> {
        let (chain, stat) = {
            let _path = self.rebuilding_path();
            let chain = self.store.chain(id)?;
            let stat = self.stat_chain(id, &chain)?;
            (chain, stat)
        };
        let path = self.mirror_path(&chain, None);
        self.judge(&path, check)?;
        Ok((stat, path))
    }

    /// Node `id`'s regular file opened with `flags` (judged for `check`), for I/O: by
    /// its name in its verified parent directory, never following a symlink, and
    /// verified to be the node's object before it is used. Errors as [`Self::node`]
    /// gives them, and EISDIR for a directory, ENXIO for any other non-regular file.
    ///
    /// An open by name saves the O_PATH open, the reopen through /proc/self/fd and two
    /// closes of the other way (about 12 µs of 20 on the benchmark VM, for every open
    /// of a build). It is used where opening the name before its identity is verified
    /// can change nothing: never with O_TRUNC, and always with O_NONBLOCK, so that a
    /// FIFO the host put in the file's place cannot block a reader thread. What the
    /// open by name cannot tell apart (a symlink there, a lease to break, a device)
    /// takes the other way, which decides those on the verified object.
    pub fn open_file(&self, id: u64, check: Check, flags: OFlag) -> OpResult<FileAt> {
        if flags.contains(OFlag::O_TRUNC) {
            return self.reopen_file(id, check, flags);
        }
        let (chain, parent) = {
            let _path = self.rebuilding_path();
            let chain = self.store.chain(id)?;
            if chain.is_empty() {
                // The root is a directory.
                return Err(Errno::EISDIR);
            }
            let parent = self.open_dirs(&chain[1..])?;
            (chain, parent)
        };
        let path = self.mirror_path(&chain, None);
        self.judge(&path, check)?;
        let by_name = flags | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK;
        let fd = match openat(
            parent.as_fd(),
            chain[0].name.as_os_str(),
            by_name,
            Mode::empty(),
        ) {
            Ok(fd) => fd,
            Err(
                nix::errno::Errno::ELOOP
                | nix::errno::Errno::EISDIR
                | nix::errno::Errno::ENXIO
                | nix::errno::Errno::ENODEV
                | nix::errno::Errno::EAGAIN,
            ) => {
                return self
                    .reopen_file(id, Check::Internal, flags)
                    .map(|f| FileAt { path, ..f });
            }
            Err(e) => return Err(stale_if_not_dir(e)),
        };
        let stat = fstat(fd.as_fd()).host()?;
        if HostId::from_stat(&stat) != chain[0].host {
            return Err(Errno::ESTALE);
        }
        regular_file(&stat)?;
        if !flags.contains(OFlag::O_NONBLOCK) {
            // F_SETFL sets only the status flags (O_APPEND, O_NOATIME, O_NONBLOCK…):
            // those the build asked for, O_NONBLOCK no longer among them.
            let status = flags - OFlag::O_ASYNC;
            nix::fcntl::fcntl(fd.as_fd(), nix::fcntl::FcntlArg::F_SETFL(status)).host()?;
        }
        Ok(FileAt { fd, stat, path })
    }

    /// [`Self::open_file`] the other way: the node's object opened O_PATH and
    /// verified, then reopened itself through /proc/self/fd.
    fn reopen_file(&self, id: u64, check: Check, flags: OFlag) -> OpResult<FileAt> {
        let at = self.node(id, check)?;
        regular_file(&at.node.stat)?;
        let fd = openat(
            nix::fcntl::AT_FDCWD,
            super::ops::proc_fd_path(at.node.fd.as_fd()).as_c_str(),
            flags,
            Mode::empty(),
        )
        .host()?;
        Ok(FileAt {
            fd,
            stat: at.node.stat,
            path: at.path,
        })
    }

    /// [`Self::resolve_for`] a node.
    pub fn node(&self, id: u64, check: Check) -> OpResult<NodeAt> {
        match self.resolve_for(Target::Node(id), check)? {
            Resolved::Node(n) => Ok(n),
            Resolved::Entry(_) => Err(super::errno::impossible("entry for a node target")),
        }
    }

    /// [`Self::resolve_for`] a name in a directory.
    pub fn entry(&self, parent: u64, name: &OsStr, check: Check) -> OpResult<EntryAt> {
        match self.resolve_for(Target::Entry { parent, name }, check)? {
            Resolved::Entry(e) => Ok(e),
            Resolved::Node(_) => Err(super::errno::impossible("node for an entry target")),
        }
    }

    /// Judges `access` through an open handle: by the path it was opened under (the
    /// file may have been unlinked or renamed since; the open was judged then).
    pub fn judge_handle(&self, handle: &Handle, check: Check) -> OpResult<()> {
        self.judge(handle.path(), check)
    }

    /// THE decision: the policy's verdict on `check` at `path`, reported when it is a
    /// violation. Predicted writes fail quietly; `--audit` lets violations through.
    /// A write to one of fusebox's own paths (see [`MirrorOptions::guarded`]) is
    /// refused and reported whatever the policy and `--audit` say.
    fn judge(&self, path: &Path, check: Check) -> OpResult<()> {
        let (op, caller, journal) = match check {
            Check::Internal => return Ok(()),
            Check::Seen { op, journal } => {
                note(journal, op, path, Verdict::Allow);
                return Ok(());
            }
            Check::Op {
                op,
                caller,
                journal,
            } => (op, caller, journal),
        };
        if op.access() == Access::Write && self.guarded.iter().any(|g| path.starts_with(g)) {
            return self.refuse_guarded(op, path, caller, journal);
        }
        let decision = self.decide(op, path, caller);
        self.enforce(op, path, caller, journal, decision)
    }

    /// A rename of `name` (either of its names) moves everything below it: each guarded
    /// entry there (DENY and PREDICT, fusebox's and in Gentoo mode the caller's own,
    /// fusebox's reports, and fusebox's own paths) is judged as a write by `check`'s
    /// caller, and the first refusal refuses the rename. A predicted entry is reported
    /// too: moving it is no configure probe. See [`crate::policy::entries_moved_by`],
    /// where a new list of guarded paths plugs in.
    pub fn judge_moved(&self, name: &Path, check: Check) -> OpResult<()> {
        let Check::Op {
            op,
            caller,
            journal,
        } = check
        else {
            return Ok(());
        };
        if let Some(own) = entries_moved_by(name, &self.guarded).next() {
            return self.refuse_guarded(op, own, caller, journal);
        }
        let mut entries = self.policy.guarded_entries_moved_by(name);
        if let Some(live) = &self.live {
            let state = live.state_for(caller.pid, Request::Other);
            entries.extend(
                state
                    .policy
                    .guarded_entries_moved_by(name)
                    .map(Path::to_path_buf),
            );
        }
        for entry in entries {
            let mut decision = self.decide(op, &entry, caller);
            if decision.verdict == Verdict::Predict {
                decision.verdict = Verdict::Deny;
            }
            self.enforce(op, &entry, caller, journal, decision)?;
        }
        Ok(())
    }

    /// Refuses and reports a write to one of fusebox's own paths, even under `--audit`:
    /// letting it through would leave a mount behind on the host.
    fn refuse_guarded(
        &self,
        op: Op,
        path: &Path,
        caller: Caller,
        journal: Option<&Journal>,
    ) -> OpResult<()> {
        note(journal, op, path, Verdict::Deny);
        self.auditor.report(op, path, caller.pid, Breach::Report);
        Err(Errno::EACCES)
    }

    /// What to do about `op` at `path`. fusebox's own reports first: whatever the
    /// lists, `--audit` or a process's `SANDBOX_ON=0` say, the build never changes them.
    fn decide(&self, op: Op, path: &Path, caller: Caller) -> Decision {
        if self.policy.refuses_as_protected(op.access(), path) {
            return Decision {
                verdict: Verdict::Deny,
                debug: false,
                breach: Breach::Report,
            };
        }
        let (verdict, debug) = self.verdict(op, path, caller);
        Decision {
            verdict,
            debug,
            breach: Breach::Policy,
        }
    }

    /// Acts on `decision`: notes it, logs it for debugging, refuses or reports it.
    fn enforce(
        &self,
        op: Op,
        path: &Path,
        caller: Caller,
        journal: Option<&Journal>,
        decision: Decision,
    ) -> OpResult<()> {
        let Decision {
            verdict,
            debug,
            breach,
        } = decision;
        note(journal, op, path, verdict);
        if debug {
            self.debug_log(op, path, caller, verdict);
        }
        match verdict {
            Verdict::Allow => Ok(()),
            Verdict::Predict => Err(Errno::EACCES),
            Verdict::Deny if self.auditor.report(op, path, caller.pid, breach) => Ok(()),
            Verdict::Deny => Err(Errno::EACCES),
        }
    }

    /// The policy's verdict on `op` at `path`, and whether the caller wants it in the
    /// debug log. In Gentoo mode, by the caller's own lists together with fusebox's,
    /// and nothing is refused while the caller has checking off (`SANDBOX_ON=0`), as
    /// in Gentoo's sandbox. An exec is judged by the state of the program that makes it.
    fn verdict(&self, op: Op, path: &Path, caller: Caller) -> (Verdict, bool) {
        let Some(live) = &self.live else {
            return (self.policy.check(op.access(), path), false);
        };
        let request = match op {
            Op::Execve => Request::Exec,
            _ => Request::Other,
        };
        let state = live.state_for(caller.pid, request);
        if !state.on {
            return (Verdict::Allow, false);
        }
        let verdict = self.policy.check_with(&state.policy, op.access(), path);
        (verdict, state.debug)
    }

    /// Queues one judged path for the debug log, with the caller's command line read
    /// now, as Gentoo's library reads it at each entry.
    fn debug_log(&self, op: Op, path: &Path, caller: Caller, verdict: Verdict) {
        if let Some(log) = &self.debug_log {
            log.send(Traced {
                time: std::time::SystemTime::now(),
                pid: caller.pid,
                op,
                path: path.to_owned(),
                path2: None,
                verdict,
                errno: 0,
                cmdline: Some(crate::audit::command_line(caller.pid)),
            });
        }
    }

    /// The policy as `caller` is judged by, as policy-file text (what the control
    /// file reads): fusebox's, and in Gentoo mode the caller's own lists after it.
    pub fn policy_text(&self, caller: Caller) -> String {
        let mut text = self.policy.render();
        if let Some(live) = &self.live {
            let state = live.state_for(caller.pid, Request::Other);
            if state.on {
                text.push_str("# this process's own lists (its SANDBOX_* variables):\n");
                for (list, path) in state.policy.entries() {
                    text.push_str(&format!("{list} {}\n", path.display()));
                }
            } else {
                text.push_str("# SANDBOX_ON is off for this process: nothing is checked\n");
            }
        }
        text
    }

    /// The process `caller` declares its `SANDBOX_*` variables (Gentoo mode): EINVAL
    /// outside Gentoo mode, EPERM once the policy is locked, like other changes.
    pub fn declare(&self, caller: Caller, vars: &Vars) -> OpResult<()> {
        let live = self.live.as_ref().ok_or(Errno::EINVAL)?;
        if self.policy.is_locked() {
            return Err(Errno::EPERM);
        }
        live.declare(caller.pid, vars);
        Ok(())
    }

    /// Refuses every later change to the policy.
    pub fn lock_policy(&self) {
        self.policy.lock();
    }

    /// Adds `path` to `list` at run time, its realpath resolved through the host root
    /// (fusebox-run's own mount namespace may show another tree).
    pub fn add_to_policy(&self, list: List, path: &Path) -> Result<(), PolicyError> {
        self.policy
            .add_resolving(list, path, |p| host_realpath(&self.root, p))
    }

    /// Whether operations are traced (`--trace`).
    pub fn tracing(&self) -> bool {
        self.tracer.is_some()
    }

    /// Sends what one request judged to the trace, with the errno the build got. The
    /// two names of a rename or link are one event.
    pub fn trace(&self, journal: Journal, caller: Caller, errno: i32) {
        let Some(tracer) = &self.tracer else { return };
        let time = std::time::SystemTime::now();
        let mut judged = journal.0.into_inner().into_iter().peekable();
        while let Some(first) = judged.next() {
            let pair = matches!(first.op, Op::Rename | Op::Link);
            let second = judged.next_if(|next| pair && next.op == first.op);
            let verdict = match &second {
                // Reported as the stricter of the two verdicts.
                Some(s) if !s.verdict.is_allowed() => s.verdict,
                _ => first.verdict,
            };
            tracer.send(Traced {
                time,
                pid: caller.pid,
                op: first.op,
                path: first.path,
                path2: second.map(|s| s.path),
                verdict,
                errno,
                // A refusal's command line is read now, as the log's is: the process
                // may be gone by the time the writer thread gets to it.
                cmdline: (!verdict.is_allowed()).then(|| crate::audit::command_line(caller.pid)),
            });
        }
    }

    /// The attributes the kernel is given for node `id` with host stat `st`.
    pub fn attr(&self, id: u64, st: &FileStat, kind: FileType) -> FileAttr {
        file_attr(id, st, kind, self.ownership)
    }

    /// Records the object now named `name` in `parent` as one more kernel reference
    /// (lookup and every creating op end here).
    ///
    /// A fusebox mirror mounted there (another sandbox's, or this one's) is refused
    /// (EACCES): writing through it would be judged by that sandbox's policy, on its
    /// build's behalf. Nothing below it can be reached without registering it first.
    pub fn register(&self, parent: u64, entry: &EntryAt, st: &FileStat) -> OpResult<EntryOut> {
        if st.st_dev != self.root_host.dev && self.mirrors.is_mirror(st.st_dev) {
            return Err(Errno::EACCES);
        }
        let kind = kind_of_stat(st)?;
        let info = self
            .store
            .register(parent, &entry.name, HostId::from_stat(st), kind)?;
        self.release(info.released);
        Ok(EntryOut {
            attr: self.attr(info.id, st, kind),
            generation: info.generation,
            ttls: self.freshness.for_path(&entry.path),
        })
    }

    /// Records a new object made without a name (`open(O_TMPFILE)`) in the directory
    /// `dir`, node `parent`, as one more kernel reference.
    pub fn register_unnamed(&self, parent: u64, dir: &NodeAt, st: &FileStat) -> OpResult<EntryOut> {
        let kind = kind_of_stat(st)?;
        let info = self
            .store
            .register_unnamed(parent, HostId::from_stat(st), kind)?;
        self.release(info.released);
        Ok(EntryOut {
            attr: self.attr(info.id, st, kind),
            generation: info.generation,
            ttls: self.freshness.for_path(&dir.path),
        })
    }

    /// Looks `entry` up on the host (without following a final symlink) and registers
    /// it.
    pub fn lookup_at(&self, parent: u64, entry: &EntryAt) -> OpResult<EntryOut> {
        let st = fstatat(
            entry.dir.fd.as_fd(),
            entry.name.as_os_str(),
            nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .host()?;
        self.register(parent, entry, &st)
    }

    /// The kernel dropped `n` references to `id`.
    pub fn forget(&self, id: u64, n: u64) {
        self.release(self.store.forget(id, n));
    }

    /// The mirror renamed `id` from `from` to `to` (each a parent and a name).
    pub fn moved(&self, id: u64, from: (u64, &OsStr), to: (u64, &OsStr)) {
        self.release(self.store.moved(id, from, to));
    }

    /// `name` in `parent` no longer names `id`.
    pub fn unnamed(&self, id: u64, parent: u64, name: &OsStr) {
        self.release(self.store.unnamed(id, parent, name));
    }

    /// Keeps `fd`, an O_PATH fd of node `id`'s host object, which the mirror has just
    /// deleted (its last name went), until the kernel forgets the node. Natively an
    /// inode's number is not reused while anything still refers to the inode; here the
    /// kernel may still hold the node (a process's cwd, a lookup in flight) while the
    /// host, which sees no reference, hands the number to the next object made — which
    /// then gets this node's id. The kernel would take the new object for the deleted
    /// one (a dead directory: ENOENT inside; ESTALE), and an open racing with it would
    /// get the new object under the old inode.
    pub fn pin_until_forgotten(&self, id: u64, fd: OwnedFd) {
        let mut pinned = self.pinned.lock().unwrap_or_else(|e| e.into_inner());
        // Checked under the pin lock: `release` takes it after the store dropped a node.
        if self.store.holds(id) {
            pinned.insert(id, fd);
        }
    }

    /// Nodes left the store: their cached directory fds and pins go.
    fn release(&self, gone: Vec<u64>) {
        if gone.is_empty() {
            return;
        }
        let unpinned: Vec<OwnedFd> = {
            let mut pinned = self.pinned.lock().unwrap_or_else(|e| e.into_inner());
            gone.iter().filter_map(|id| pinned.remove(id)).collect()
        };
        for id in gone {
            self.dirs.remove(id);
        }
        // Closed outside the lock: the last close of a deleted file frees its blocks.
        drop(unpinned);
    }

    /// A directory was removed or replaced: its cached fd must not serve lookups.
    pub fn drop_cached(&self, id: u64) {
        self.dirs.remove(id);
    }

    /// The id the object `host` has this session (for readdir's d_ino).
    pub fn id_of(&self, host: HostId) -> u64 {
        self.store.id_of(host)
    }

    fn mirror_path(&self, chain: &Chain, name: Option<&OsStr>) -> PathBuf {
        let mut path = self.prefix.clone();
        for link in chain.iter().rev() {
            path.push(&link.name);
        }
        if let Some(name) = name {
            path.push(name);
        }
        path
    }

    /// Node `id`'s path and its host object, opened along that path.
    fn open_node(&self, id: u64) -> OpResult<(Chain, NodeFd)> {
        let _path = self.rebuilding_path();
        let chain = self.store.chain(id)?;
        let node = self.open_chain(id, &chain)?;
        Ok((chain, node))
    }

    /// Node `id`'s path and its host fd, to resolve names in it. A directory whose fd
    /// is cached costs no syscall: the fd was verified when it was opened and stays
    /// that object, and only directories are cached.
    fn open_dir_node(&self, id: u64) -> OpResult<DirAt> {
        let (chain, dir) = {
            let _path = self.rebuilding_path();
            let chain = self.store.chain(id)?;
            let dir = self.open_dir_chain(id, &chain)?;
            (chain, dir)
        };
        let path = self.mirror_path(&chain, None);
        Ok(DirAt {
            fd: DirFd { fd: dir.0 },
            host: dir.1,
            is_dir: dir.2,
            path,
        })
    }

    /// [`Self::open_dir_node`]'s fd, identity and whether it is a directory.
    fn open_dir_chain(&self, id: u64, chain: &Chain) -> OpResult<(Arc<OwnedFd>, HostId, bool)> {
        let cached = match chain.first() {
            None => Some((self.root.clone(), self.root_host)),
            Some(link) => self.dirs.get(id).map(|fd| (fd, link.host)),
        };
        Ok(match cached {
            Some((fd, host)) => (fd, host, true),
            None => {
                let node = self.open_chain(id, chain)?;
                (node.fd, HostId::from_stat(&node.stat), is_dir(&node.stat))
            }
        })
    }

    /// Opens node `id` (whose path is `chain`) from the nearest cached ancestor.
    fn open_chain(&self, id: u64, chain: &Chain) -> OpResult<NodeFd> {
        let Some(link) = chain.first() else {
            let stat = fstat(self.root.as_fd()).host()?;
            return Ok(NodeFd {
                fd: self.root.clone(),
                stat,
                parent: None,
            });
        };
        if let Some(fd) = self.dirs.get(id) {
            return self.cached_node(id, chain, fd);
        }
        let dir = self.open_dirs(&chain[1..])?;
        let flags = OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let fd = self
            .open_component(&dir, &link.name, flags)
            .map_err(stale_if_not_dir)?;
        let stat = fstat(fd.as_fd()).host()?;
        if HostId::from_stat(&stat) != link.host {
            return Err(Errno::ESTALE);
        }
        let fd = Arc::new(fd);
        if is_dir(&stat) {
            self.dirs.insert(link.id, fd.clone());
        }
        Ok(NodeFd {
            fd,
            stat,
            parent: Some((dir, link.name.clone())),
        })
    }

    /// The current stat of node `id` (whose path is `chain`), verified to be the
    /// node's object.
    fn stat_chain(&self, id: u64, chain: &Chain) -> OpResult<FileStat> {
        let Some(link) = chain.first() else {
            return fstat(self.root.as_fd()).host();
        };
        if let Some(fd) = self.dirs.get(id) {
            return self.cached_node(id, chain, fd).map(|n| n.stat);
        }
        let dir = self.open_dirs(&chain[1..])?;
        let stat = fstatat(
            dir.as_fd(),
            link.name.as_os_str(),
            nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .map_err(stale_if_not_dir)?;
        if HostId::from_stat(&stat) != link.host {
            return Err(Errno::ESTALE);
        }
        Ok(stat)
    }

    /// Opens the directory whose path is `dirs` (every link a directory; empty for the
    /// root) from the nearest cached ancestor, verifying and caching each directory
    /// it opens.
    fn open_dirs(&self, dirs: &[Link]) -> OpResult<Arc<OwnedFd>> {
        let (start, mut cur) = self.nearest_cached(dirs);
        for link in dirs[..start].iter().rev() {
            let flags = OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_DIRECTORY;
            let fd = self
                .open_component(&cur, &link.name, flags)
                .map_err(stale_if_not_dir)?;
            let stat = fstat(fd.as_fd()).host()?;
            if HostId::from_stat(&stat) != link.host {
                return Err(Errno::ESTALE);
            }
            let fd = Arc::new(fd);
            self.dirs.insert(link.id, fd.clone());
            cur = fd;
        }
        Ok(cur)
    }

    /// Opens one path component. Out of fds (the build holds many open files), the
    /// directory cache gives its fds back and the open is tried once more.
    fn open_component(&self, dir: &OwnedFd, name: &OsStr, flags: OFlag) -> nix::Result<OwnedFd> {
        match openat(dir.as_fd(), name, flags, Mode::empty()) {
            Err(nix::errno::Errno::EMFILE | nix::errno::Errno::ENFILE) => {
                self.dirs.clear();
                openat(dir.as_fd(), name, flags, Mode::empty())
            }
            r => r,
        }
    }

    /// The index in `chain` of the nearest ancestor-or-self with a cached fd, and that
    /// fd; `(chain.len(), root)` when none is cached.
    fn nearest_cached(&self, chain: &[Link]) -> (usize, Arc<OwnedFd>) {
        for (i, link) in chain.iter().enumerate() {
            if let Some(fd) = self.dirs.get(link.id) {
                return (i, fd);
            }
        }
        (chain.len(), self.root.clone())
    }

    /// The node itself is a cached directory.
    fn cached_node(&self, id: u64, chain: &[Link], fd: Arc<OwnedFd>) -> OpResult<NodeFd> {
        let stat = fstat(fd.as_fd()).host()?;
        if HostId::from_stat(&stat) != chain[0].host {
            // Should not happen (ids derive from host identity); never serve it.
            self.dirs.remove(id);
            return Err(Errno::ESTALE);
        }
        Ok(NodeFd {
            fd,
            stat,
            parent: None,
        })
    }
}

/// `path` with every symlink resolved, walked from the host root fd `root` (absolute
/// links restart there, as they would for the build); None when it does not exist.
fn host_realpath(root: &OwnedFd, path: &Path) -> Option<PathBuf> {
    const MAX_LINKS: usize = 40;
    // A stack of the names still to walk, the next on top.
    let mut todo: Vec<OsString> = walk_names(path).collect();
    let mut resolved = PathBuf::from("/");
    let mut links = 0;
    while let Some(name) = todo.pop() {
        if name == ".." {
            resolved.pop();
            continue;
        }
        let dir = open_resolved(root, &resolved)?;
        let st = fstatat(
            dir.as_fd(),
            name.as_os_str(),
            nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .ok()?;
        if st.st_mode & libc::S_IFMT != libc::S_IFLNK {
            resolved.push(&name);
            continue;
        }
        links += 1;
        if links > MAX_LINKS {
            return None;
        }
        let target = nix::fcntl::readlinkat(dir.as_fd(), name.as_os_str()).ok()?;
        let target = Path::new(&target);
        if target.is_absolute() {
            resolved = PathBuf::from("/");
        }
        todo.extend(walk_names(target));
    }
    Some(resolved)
}

/// Opens an already symlink-free absolute path from the host root fd `root`.
fn open_resolved(root: &OwnedFd, path: &Path) -> Option<OwnedFd> {
    let relative = path.strip_prefix("/").ok()?;
    let relative = if relative.as_os_str().is_empty() {
        Path::new(".")
    } else {
        relative
    };
    openat(
        root.as_fd(),
        relative,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .ok()
}

/// Notes a judgment in the request's journal, when it has one (tracing).
fn note(journal: Option<&Journal>, op: Op, path: &Path, verdict: Verdict) {
    if let Some(journal) = journal {
        journal.0.borrow_mut().push(Judged {
            op,
            path: path.to_owned(),
            verdict,
        });
    }
}

/// The names to walk for `path`, last first (`..` kept, `.` and `/` dropped).
fn walk_names(path: &Path) -> impl Iterator<Item = OsString> + '_ {
    path.components().rev().filter_map(|c| match c {
        std::path::Component::Normal(n) => Some(n.to_owned()),
        std::path::Component::ParentDir => Some(OsString::from("..")),
        _ => None,
    })
}

/// A path component that is missing is ENOENT; one that is no longer a directory
/// (replaced behind the mirror's back) is stale.
fn stale_if_not_dir(e: nix::errno::Errno) -> Errno {
    match e {
        nix::errno::Errno::ENOTDIR | nix::errno::Errno::ELOOP => Errno::ESTALE,
        e => super::errno::from_nix(e),
    }
}

/// EISDIR for a directory, ENXIO for a special file: only regular files are opened
/// for I/O here (the kernel opens special files itself).
fn regular_file(st: &FileStat) -> OpResult<()> {
    match st.st_mode & libc::S_IFMT {
        libc::S_IFREG => Ok(()),
        libc::S_IFDIR => Err(Errno::EISDIR),
        libc::S_IFLNK => Err(Errno::ELOOP),
        _ => Err(Errno::ENXIO),
    }
}

pub fn is_dir(st: &FileStat) -> bool {
    st.st_mode & libc::S_IFMT == libc::S_IFDIR
}

/// The kernel only sends single components, but a name with a slash would let an op
/// escape the checked directory: refuse it outright.
fn check_name(name: &OsStr) -> OpResult<()> {
    let b = name.as_bytes();
    if b.is_empty() || b == b"." || b == b".." || b.contains(&b'/') || b.contains(&0) {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_could_escape_are_refused() {
        for bad in ["", ".", "..", "a/b", "/x"] {
            assert_eq!(check_name(OsStr::new(bad)), Err(Errno::EINVAL), "{bad:?}");
        }
        assert!(check_name(OsStr::new("..a")).is_ok());
    }
}
