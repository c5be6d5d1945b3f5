//! The inode store: which host object each FUSE node id stands for, and the
//! (parent, name) link that lets its path be rebuilt.
//!
//! Identity is the host's `(st_dev, st_ino)`: two hard links to one host file are one
//! node. The node id is also the `st_ino` the build sees, so it is *derived* from the
//! host identity (see [`IdMap`]) and therefore stays the same for the whole session,
//! even after the kernel forgets a node and looks it up again (git and make cache
//! `st_ino`).
//!
//! Memory stays bounded because nodes are dropped once the kernel has forgotten them
//! (`lookups == 0`) and no live node names them as parent (`children == 0`): a node's
//! ancestors must outlive it, since its path is rebuilt through them. Every change that
//! can drop nodes returns their ids, so that what is kept for them elsewhere (cached
//! directory fds, pinned deleted objects) goes with them.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::sync::{Mutex, MutexGuard};

use fuser::{Errno, FileType};

mod ids;

use ids::IdMap;
pub use ids::{HostId, RESERVED_IDS, ROOT_ID};

/// What the store knows about one node.
#[derive(Debug)]
struct Node {
    host: HostId,
    kind: FileType,
    generation: u64,
    /// The directory this node was last seen in (the root's parent is itself).
    parent: u64,
    /// Its name there; `None` once that name was unlinked or overwritten, after which
    /// the node is reachable only through open handles until a lookup names it again.
    name: Option<OsString>,
    /// Other names a hard-linked file was seen under (up to [`MAX_ALIASES`]): when its
    /// recorded name goes, the node is reached through one of these. Their parents hold
    /// no reference; a name whose parent left the store is skipped.
    aliases: Vec<(u64, OsString)>,
    /// References the kernel holds (one per successful lookup-like reply).
    lookups: u64,
    /// Live nodes whose `parent` is this node.
    children: u64,
    /// The contents' version when the file was last opened: the kernel's page cache of
    /// the node holds that version.
    opened: Option<ContentVersion>,
}

/// What tells one version of a file's contents from another: any change through any
/// name, here or on the host, moves the ctime (nanoseconds) or the size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ContentVersion {
    ctime: (i64, i64),
    mtime: (i64, i64),
    size: i64,
}

impl ContentVersion {
    pub fn of(st: &nix::sys::stat::FileStat) -> ContentVersion {
        ContentVersion {
            ctime: (st.st_ctime, st.st_ctime_nsec),
            mtime: (st.st_mtime, st.st_mtime_nsec),
            size: st.st_size,
        }
    }
}

/// How many other names of a hard-linked file are kept.
const MAX_ALIASES: usize = 8;

impl Node {
    /// About to be renamed `name` in `parent`: keeps the name it had as an alias.
    fn remember_alias(&mut self, parent: u64, name: &OsStr) {
        self.aliases.retain(|(p, n)| !(*p == parent && n == name));
        let Some(old) = self.name.clone() else {
            return;
        };
        if (self.parent, old.as_os_str()) != (parent, name) && self.aliases.len() < MAX_ALIASES {
            self.aliases.push((self.parent, old));
        }
    }
}

/// One step of a node's path: the node and its name in its parent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    pub id: u64,
    pub host: HostId,
    pub name: OsString,
}

/// A node's path from the root: `links[0]` is the node itself, the last entry a child
/// of the root. Empty for the root.
pub type Chain = Vec<Link>;

/// The longest path the store rebuilds; beyond it the links must form a cycle (which
/// only host-side renames behind the mirror's back could produce).
const MAX_DEPTH: usize = 4096;

#[derive(Debug)]
struct Inner {
    nodes: HashMap<u64, Node>,
    ids: IdMap,
    root_host: HostId,
}

/// The inode store. All methods take `&self`; one mutex guards the maps (every
/// critical section is a few hash operations, never a syscall).
#[derive(Debug)]
pub struct Store {
    inner: Mutex<Inner>,
}

impl Store {
    pub fn new(root_host: HostId) -> Store {
        let root = Node {
            host: root_host,
            kind: FileType::Directory,
            generation: 0,
            parent: ROOT_ID,
            name: None,
            aliases: Vec::new(),
            lookups: 1,
            children: 0,
            opened: None,
        };
        Store {
            inner: Mutex::new(Inner {
                nodes: HashMap::from([(ROOT_ID, root)]),
                ids: IdMap::default(),
                root_host,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere while holding the lock cannot leave the maps half-updated
        // in a way that matters more than stopping the build: keep serving.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The node id `host` has (or will have) this session, without registering it:
    /// what readdir reports as `d_ino`.
    pub fn id_of(&self, host: HostId) -> u64 {
        self.lock().id_of(host)
    }

    /// The directory `id` was last seen in (the root for the root).
    pub fn parent_of(&self, id: u64) -> Option<u64> {
        self.lock().nodes.get(&id).map(|n| n.parent)
    }

    /// Records that the kernel now holds one more reference to the object `host`,
    /// found as `name` in `parent`. Returns its id and generation (and the nodes that
    /// left the store because it moved away from its old parent).
    pub fn register(
        &self,
        parent: u64,
        name: &OsStr,
        host: HostId,
        kind: FileType,
    ) -> Result<Registered, Errno> {
        let mut inner = self.lock();
        if !inner.nodes.contains_key(&parent) {
            crate::audit::terminal::eprint(&format!(
                "fusebox mirror: lookup in unknown directory node {parent}\n"
            ));
            return Err(Errno::EIO);
        }
        let id = inner.id_of(host);
        if id == ROOT_ID {
            // The root reached again (a bind mount of it below itself): the kernel
            // never forgets the root, so do not count.
            return Ok(Registered {
                id,
                generation: 0,
                released: Vec::new(),
            });
        }
        let mut released = Vec::new();
        let generation = match inner.nodes.get_mut(&id) {
            Some(node) => {
                node.lookups += 1;
                if node.kind != kind {
                    // The host reused the inode number for an object of another type:
                    // a new generation tells the kernel its cached inode is stale.
                    node.kind = kind;
                    node.generation += 1;
                    node.opened = None;
                }
                let generation = node.generation;
                if kind != FileType::Directory {
                    node.remember_alias(parent, name);
                }
                released = inner.relink(id, parent, name);
                generation
            }
            None => {
                inner.insert_new(id, host, kind, parent, Some(name.to_owned()));
                0
            }
        };
        Ok(Registered {
            id,
            generation,
            released,
        })
    }

    /// Records a new object made in `parent` without a name (`open(O_TMPFILE)`): one
    /// kernel reference; it is reachable only through its open handles until a link
    /// names it ([`Store::register`] then does). Returns its id and generation.
    pub fn register_unnamed(
        &self,
        parent: u64,
        host: HostId,
        kind: FileType,
    ) -> Result<Registered, Errno> {
        let mut inner = self.lock();
        if !inner.nodes.contains_key(&parent) {
            crate::audit::terminal::eprint(&format!(
                "fusebox mirror: new file in unknown directory node {parent}\n"
            ));
            return Err(Errno::EIO);
        }
        let id = inner.id_of(host);
        if id == ROOT_ID {
            crate::audit::terminal::eprint("fusebox mirror: a new file has the root's identity\n");
            return Err(Errno::EIO);
        }
        let mut released = Vec::new();
        let generation = match inner.nodes.get_mut(&id) {
            Some(node) => {
                // The object is new, so a node still known under its id stood for an
                // older one whose inode number the host has reused: a new generation
                // tells the kernel its cached inode is stale.
                node.lookups += 1;
                node.kind = kind;
                node.generation += 1;
                node.opened = None;
                node.name = None;
                node.aliases.clear();
                let generation = node.generation;
                released = inner.reparent(id, parent);
                generation
            }
            None => {
                inner.insert_new(id, host, kind, parent, None);
                0
            }
        };
        Ok(Registered {
            id,
            generation,
            released,
        })
    }

    /// `id` is being opened with its contents at `version`. Whether the kernel's page
    /// cache of it still holds exactly these contents (it was last opened at the same
    /// version), so it may be kept.
    pub fn opened_unchanged(&self, id: u64, version: ContentVersion) -> bool {
        let mut inner = self.lock();
        let Some(node) = inner.nodes.get_mut(&id) else {
            return false;
        };
        node.opened.replace(version) == Some(version)
    }

    /// The kernel dropped `n` references to `id`. Returns the ids that left the store
    /// (so cached fds for them can be closed).
    pub fn forget(&self, id: u64, n: u64) -> Vec<u64> {
        let mut inner = self.lock();
        match inner.nodes.get_mut(&id) {
            Some(node) if id != ROOT_ID => node.lookups = node.lookups.saturating_sub(n),
            _ => return Vec::new(),
        }
        inner.collect(id)
    }

    /// Whether the kernel may still hold node `id` (it is in the store).
    pub fn holds(&self, id: u64) -> bool {
        self.lock().nodes.contains_key(&id)
    }

    /// `id` was renamed (or exchanged) by the mirror from `from` to `to`, each a
    /// (parent, name). Returns the ids that left the store (its old parent, when nothing
    /// else kept it).
    pub fn moved(&self, id: u64, from: (u64, &OsStr), to: (u64, &OsStr)) -> Vec<u64> {
        let mut inner = self.lock();
        if !inner.nodes.contains_key(&to.0) {
            return Vec::new();
        }
        let Some(node) = inner.nodes.get_mut(&id) else {
            return Vec::new();
        };
        // The old name is gone, whichever of the node's names it was: kept as an alias,
        // it would later give the node a path to whatever is made under it.
        node.aliases.retain(|(p, n)| !(*p == from.0 && n == from.1));
        let recorded = node.parent == from.0 && node.name.as_deref() == Some(from.1);
        if !recorded {
            // Another name of a hard-linked file moved: the recorded one still holds.
            node.remember_alias(to.0, to.1);
        }
        inner.relink(id, to.0, to.1)
    }

    /// The name `name` in `parent` no longer refers to `id` (unlinked, or overwritten by
    /// a rename). If it was the node's recorded name, the node has no path any more.
    /// Returns the ids that left the store (its old parent, when it moved to an alias).
    pub fn unnamed(&self, id: u64, parent: u64, name: &OsStr) -> Vec<u64> {
        let mut inner = self.lock();
        let Some(node) = inner.nodes.get_mut(&id) else {
            return Vec::new();
        };
        node.aliases.retain(|(p, n)| !(*p == parent && n == name));
        if node.parent != parent || node.name.as_deref() != Some(name) {
            return Vec::new();
        }
        node.name = None;
        // A hard-linked file keeps a path through another name it was seen under.
        let aliases = std::mem::take(&mut node.aliases);
        let mut rest = aliases.into_iter();
        let mut released = Vec::new();
        for (p, n) in rest.by_ref() {
            if inner.nodes.contains_key(&p) {
                released = inner.relink(id, p, &n);
                break;
            }
        }
        if let Some(node) = inner.nodes.get_mut(&id) {
            node.aliases = rest.collect();
        }
        released
    }

    /// The path of `id` as links up to the root. ENOENT if a node on it lost its name
    /// or left the store, ELOOP if the links form a cycle.
    pub fn chain(&self, id: u64) -> Result<Chain, Errno> {
        let inner = self.lock();
        let mut chain = Vec::new();
        let mut cur = id;
        while cur != ROOT_ID {
            let node = inner.nodes.get(&cur).ok_or(Errno::ENOENT)?;
            let name = node.name.clone().ok_or(Errno::ENOENT)?;
            chain.push(Link {
                id: cur,
                host: node.host,
                name,
            });
            if chain.len() > MAX_DEPTH {
                return Err(Errno::ELOOP);
            }
            cur = node.parent;
        }
        Ok(chain)
    }

    #[cfg(test)]
    fn name_of(&self, id: u64) -> Option<(u64, OsString)> {
        let inner = self.lock();
        let node = inner.nodes.get(&id)?;
        Some((node.parent, node.name.clone()?))
    }

    #[cfg(test)]
    fn contains(&self, id: u64) -> bool {
        self.lock().nodes.contains_key(&id)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().nodes.len()
    }
}

/// The id and generation a lookup-like reply carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registered {
    pub id: u64,
    pub generation: u64,
    /// Nodes that left the store meanwhile (see [`Store::moved`]).
    pub released: Vec<u64>,
}

impl Inner {
    fn id_of(&mut self, host: HostId) -> u64 {
        if host == self.root_host {
            ROOT_ID
        } else {
            self.ids.id_for(host)
        }
    }

    /// A node seen for the first time: one kernel reference, a child of `parent`.
    fn insert_new(
        &mut self,
        id: u64,
        host: HostId,
        kind: FileType,
        parent: u64,
        name: Option<OsString>,
    ) {
        let node = Node {
            host,
            kind,
            generation: 0,
            parent,
            name,
            aliases: Vec::new(),
            lookups: 1,
            children: 0,
            opened: None,
        };
        self.nodes.insert(id, node);
        self.add_child(parent);
    }

    fn add_child(&mut self, parent: u64) {
        if let Some(p) = self.nodes.get_mut(&parent) {
            p.children += 1;
        }
    }

    /// Points `id` at `name` in `parent`, moving its reference on its old parent.
    /// Returns the ids that left the store (the old parent, if that was its last
    /// reference, and so on up).
    fn relink(&mut self, id: u64, parent: u64, name: &OsStr) -> Vec<u64> {
        if self.is_ancestor_or_self(id, parent) {
            // Only a host-side rename behind our back could get here; a link that
            // made a node its own ancestor would make its path endless.
            return Vec::new();
        }
        let Some(node) = self.nodes.get_mut(&id) else {
            return Vec::new();
        };
        node.name = Some(name.to_owned());
        self.reparent(id, parent)
    }

    /// Makes `parent` the directory `id` was last seen in, moving its reference on its
    /// old parent. Returns the ids that left the store (see [`Inner::relink`]).
    fn reparent(&mut self, id: u64, parent: u64) -> Vec<u64> {
        let Some(node) = self.nodes.get_mut(&id) else {
            return Vec::new();
        };
        let old = node.parent;
        if old == parent {
            return Vec::new();
        }
        node.parent = parent;
        self.add_child(parent);
        if let Some(p) = self.nodes.get_mut(&old) {
            p.children = p.children.saturating_sub(1);
        }
        self.collect(old)
    }

    fn is_ancestor_or_self(&self, id: u64, mut cur: u64) -> bool {
        for _ in 0..=MAX_DEPTH {
            if cur == id {
                return true;
            }
            if cur == ROOT_ID {
                return false;
            }
            match self.nodes.get(&cur) {
                Some(n) => cur = n.parent,
                None => return false,
            }
        }
        true
    }

    /// Drops `id` if nothing references it any more, then its parent likewise, and so
    /// on up. Returns the dropped ids.
    fn collect(&mut self, mut id: u64) -> Vec<u64> {
        let mut dropped = Vec::new();
        while id != ROOT_ID {
            let parent = match self.nodes.get(&id) {
                Some(n) if n.lookups == 0 && n.children == 0 => n.parent,
                _ => break,
            };
            self.nodes.remove(&id);
            dropped.push(id);
            if let Some(p) = self.nodes.get_mut(&parent) {
                p.children = p.children.saturating_sub(1);
            }
            id = parent;
        }
        dropped
    }
}

#[cfg(test)]
mod tests;
