//! Paths rebuilt from the store's links and opened on the host one component at a
//! time, from the nearest cached ancestor, each component verified to be the object the
//! store recorded; the judged ways to a node or an entry built on them.

use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLockReadGuard, RwLockWriteGuard};

use fuser::Errno;
use nix::fcntl::{AtFlags, OFlag, openat};
use nix::sys::stat::{FileStat, Mode, fstat, fstatat};

use super::{Check, Resolver};
use crate::mirror::errno::{HostResult, OpResult, from_nix};
use crate::mirror::inode::{Chain, HostId, Link};

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

impl EntryAt {
    /// The stat of the name, `None` if it does not exist.
    pub fn stat(&self) -> OpResult<Option<FileStat>> {
        let flags = AtFlags::AT_SYMLINK_NOFOLLOW;
        match fstatat(self.dir.fd.as_fd(), self.name.as_os_str(), flags) {
            Ok(st) => Ok(Some(st)),
            Err(nix::errno::Errno::ENOENT) => Ok(None),
            Err(e) => Err(from_nix(e)),
        }
    }

    /// The object the name holds, opened O_PATH (never followed), with its stat; `None`
    /// if there is none. An op takes it before it removes or replaces the name.
    pub fn hold(&self) -> OpResult<Option<(OwnedFd, FileStat)>> {
        let flags = OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        match openat(
            self.dir.fd.as_fd(),
            self.name.as_os_str(),
            flags,
            Mode::empty(),
        ) {
            Ok(fd) => {
                let st = fstat(fd.as_fd()).host()?;
                Ok(Some((fd, st)))
            }
            Err(nix::errno::Errno::ENOENT) => Ok(None),
            Err(e) => Err(from_nix(e)),
        }
    }
}

/// A name looked at without being judged ([`Resolver::probe`]): it can be stat'ed and
/// its object held O_PATH, nothing more.
#[derive(Debug)]
pub struct Probe(EntryAt);

impl Probe {
    /// See [`EntryAt::stat`].
    pub fn stat(&self) -> OpResult<Option<FileStat>> {
        self.0.stat()
    }

    /// See [`EntryAt::hold`].
    pub fn hold(&self) -> OpResult<Option<(OwnedFd, FileStat)>> {
        self.0.hold()
    }
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

impl Resolver {
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
    pub(super) fn rebuilding_path(&self) -> RwLockReadGuard<'_, ()> {
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
        let entry = self.child(dir, name)?;
        self.judge(&entry.path, check)?;
        Ok(entry)
    }

    /// `name` in `dir`, not judged: for [`Self::child_of`] and the unjudged steps
    /// ([`Self::probe`], a listing's names).
    pub(super) fn child(&self, dir: &DirAt, name: &OsStr) -> OpResult<EntryAt> {
        check_name(name)?;
        if !dir.is_dir {
            return Err(Errno::ENOTDIR);
        }
        if self.is_hidden(dir.host, &dir.path) {
            return Err(Errno::ENOENT);
        }
        Ok(EntryAt {
            dir: dir.fd.clone(),
            name: name.to_owned(),
            path: dir.path.join(name),
        })
    }

    /// `name` in directory node `parent`, looked at without being judged, as a step of
    /// another op: whether it exists, what it holds before the op replaces it.
    pub fn probe(&self, parent: u64, name: &OsStr) -> OpResult<Probe> {
        let dir = self.open_dir_node(parent)?;
        self.child(&dir, name).map(Probe)
    }

    /// Whether the directory `host`, at mirror path `path`, has its contents hidden:
    /// a staging place that was there at start, wherever it is now, or one made at its
    /// path since (by another run's fusermount3 mount).
    pub fn is_hidden(&self, host: HostId, path: &Path) -> bool {
        // As bytes: `Path`'s own equality parses components, on every lookup.
        let path = path.as_os_str();
        self.hidden.contains(&host) || self.guarded.iter().any(|g| g.as_os_str() == path)
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

    /// [`Self::resolve_for`] a node.
    pub fn node(&self, id: u64, check: Check) -> OpResult<NodeAt> {
        match self.resolve_for(Target::Node(id), check)? {
            Resolved::Node(n) => Ok(n),
            Resolved::Entry(_) => Err(crate::mirror::errno::impossible("entry for a node target")),
        }
    }

    /// [`Self::resolve_for`] a name in a directory.
    pub fn entry(&self, parent: u64, name: &OsStr, check: Check) -> OpResult<EntryAt> {
        match self.resolve_for(Target::Entry { parent, name }, check)? {
            Resolved::Entry(e) => Ok(e),
            Resolved::Node(_) => Err(crate::mirror::errno::impossible("node for an entry target")),
        }
    }

    pub(super) fn mirror_path(&self, chain: &Chain, name: Option<&OsStr>) -> PathBuf {
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
    pub(super) fn open_node(&self, id: u64) -> OpResult<(Chain, NodeFd)> {
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
    pub(super) fn open_dirs(&self, dirs: &[Link]) -> OpResult<Arc<OwnedFd>> {
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

/// A path component that is missing is ENOENT; one that is no longer a directory
/// (replaced behind the mirror's back) is stale.
pub(super) fn stale_if_not_dir(e: nix::errno::Errno) -> Errno {
    match e {
        nix::errno::Errno::ENOTDIR | nix::errno::Errno::ELOOP => Errno::ESTALE,
        e => crate::mirror::errno::from_nix(e),
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
