//! What the kernel is told about the host objects it reaches (attributes, entries and
//! their lifetimes), and the store kept in step with it: registration at lookup and
//! creation, forgetting, renames and unlinks, pins of deleted objects.

use std::ffi::OsStr;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use fuser::{Errno, FileAttr, FileType};
use nix::sys::stat::{FileStat, fstat, fstatat};

use super::pin::Pin;
use super::{DirAt, EntryAt, NodeAt, NodeFd, Resolver};
use crate::mirror::attr::{file_attr, kind_of_stat};
use crate::mirror::cache::Ttls;
use crate::mirror::errno::{HostResult, OpResult};
use crate::mirror::inode::HostId;

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

impl Resolver {
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

    /// Looks up and registers `name`, which a listing of `dir` (node `parent`) just
    /// returned: what the kernel's lookup would do, seen in the listing already.
    pub fn lookup_listed(&self, parent: u64, dir: &DirAt, name: &OsStr) -> OpResult<EntryOut> {
        let entry = self.child(dir, name)?;
        self.lookup_at(parent, &entry)
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
    /// deleted (its last name, `path`, went), until the kernel forgets the node.
    /// Natively an inode's number is not reused while anything still refers to the
    /// inode; here the kernel may still hold the node (a process's cwd, a lookup in
    /// flight) while the host, which sees no reference, hands the number to the next
    /// object made — which then gets this node's id. The kernel would take the new
    /// object for the deleted one (a dead directory: ENOENT inside; ESTALE), and an
    /// open racing with it would get the new object under the old inode. Kept, the
    /// object is also what an open of the node gets ([`Self::pinned`]).
    pub fn pin_until_forgotten(&self, id: u64, fd: OwnedFd, path: &Path) {
        let mut pinned = self.pinned.lock().unwrap_or_else(|e| e.into_inner());
        // Checked under the pin lock: `release` takes it after the store dropped a node.
        if self.store.holds(id) {
            let pin = Pin {
                fd: Arc::new(fd),
                path: path.to_owned(),
            };
            pinned.insert(id, pin);
        }
    }

    /// Node `id`'s object, if the mirror deleted it while the kernel held the node,
    /// with the path it was deleted from (to be judged by).
    pub(super) fn pinned(&self, id: u64) -> OpResult<Option<NodeAt>> {
        let pin = {
            let pinned = self.pinned.lock().unwrap_or_else(|e| e.into_inner());
            pinned.get(&id).map(|p| (p.fd.clone(), p.path.clone()))
        };
        let Some((fd, path)) = pin else {
            return Ok(None);
        };
        let stat = fstat(fd.as_fd()).host()?;
        let node = NodeFd {
            fd,
            stat,
            parent: None,
        };
        Ok(Some(NodeAt { node, path }))
    }

    /// Nodes left the store: their cached directory fds and pins go.
    fn release(&self, gone: Vec<u64>) {
        if gone.is_empty() {
            return;
        }
        let unpinned: Vec<Pin> = {
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
}
