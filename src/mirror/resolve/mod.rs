//! THE chokepoint between the ops and the host: an op can reach a host object only
//! through the [`Resolver`], and every way it offers to one takes a [`Check`]: judged by
//! the [`Judge`] (an op that opens, changes or runs something) or seen (an op that
//! looks: lookup, stat; traced, never refused). The one way without a check is
//! [`Resolver::probe`], whose [`Probe`] can stat a name and hold its object O_PATH but
//! never open it for I/O nor change a name.
//!
//! Resolution never follows a symlink the build could have swapped in: a node's path is
//! rebuilt from the store's (parent, name) links and opened one component at a time
//! with `openat(O_PATH | O_NOFOLLOW)` from the nearest cached ancestor fd, and every
//! component opened is checked to be the host object the store recorded (else
//! ESTALE, which makes the kernel look the path up afresh). So the object the judge
//! judged is the object that gets touched. Mount points are crossed: the whole host
//! tree (/proc, /dev, /home on another fs) is visible.
//!
//! - [`walk`]: paths rebuilt from the store and opened on the host, identities verified;
//! - [`open`]: a node's file opened for I/O;
//! - [`judging`]: the judge asked, its answer enforced, reported and traced;
//! - [`nodes`]: what the kernel is told (attributes, entries) and the store's upkeep.
//!
//! The store's links follow the mirror's own renames and unlinks, which change the host
//! first and the store just after; [`Resolver::changing_names`] keeps every path rebuilt
//! from the store out of that gap.

mod judging;
mod nodes;
mod open;
mod pin;
mod walk;

use std::collections::{HashMap, HashSet};
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use nix::sys::resource::{Resource, getrlimit};

pub use judging::{Check, Journal, OpBy};
pub use nodes::{AttrOut, EntryOut};
pub use walk::{DirAt, EntryAt, NodeAt, NodeFd, is_dir};

use super::attr::Ownership;
use super::cache::Freshness;
use super::fdcache::{DirCache, capacity_for_fd_limit};
use super::inode::{HostId, Store};
use super::options::MirrorOptions;
use super::runs::Runs;

#[derive(Debug)]
pub struct Resolver {
    root: Arc<OwnedFd>,
    root_host: HostId,
    store: Store,
    /// Shared while a node's path is rebuilt from the store and opened on the host;
    /// exclusive while a name changes on the host and then in the store.
    names: RwLock<()>,
    dirs: DirCache,
    /// Objects deleted through the mirror while the kernel still holds their nodes:
    /// see [`Resolver::pin_until_forgotten`].
    pinned: Mutex<HashMap<u64, pin::Pin>>,
    hidden: HashSet<HostId>,
    /// What keeps each hidden directory's identity its own (see `MirrorOptions::hidden`).
    _hidden_held: Vec<OwnedFd>,
    /// fusebox's own paths, which the build may never change or move.
    guarded: Vec<PathBuf>,
    /// Which host devices are fusebox mirrors, never to be entered.
    mirrors: super::mounts::Mirrors,
    /// The mirror path of the root fd: policy paths are `prefix` + the path below it.
    prefix: PathBuf,
    ownership: Ownership,
    freshness: Freshness,
}

impl Resolver {
    /// Serves `opts.root`, whose paths the policy sees below `prefix`; hands back the
    /// runs, which are the mirror's.
    pub fn new(opts: MirrorOptions, prefix: PathBuf) -> std::io::Result<(Resolver, Runs)> {
        let root_host = HostId::of(opts.root.as_fd())?;
        let (soft, _) = getrlimit(Resource::RLIMIT_NOFILE)?;
        let root = Arc::new(opts.root);
        let hidden = (opts.hidden.iter())
            .map(|fd| HostId::of(fd.as_fd()))
            .collect::<std::io::Result<_>>()?;
        let resolver = Resolver {
            root,
            root_host,
            store: Store::new(root_host),
            names: RwLock::new(()),
            dirs: DirCache::new(capacity_for_fd_limit(soft)),
            pinned: Mutex::new(HashMap::new()),
            hidden,
            _hidden_held: opts.hidden,
            guarded: opts.guarded,
            mirrors: super::mounts::Mirrors::new(opts.mountinfo),
            prefix,
            ownership: opts.ownership,
            freshness: opts.freshness,
        };
        Ok((resolver, opts.runs))
    }

    /// How long the kernel may trust answers.
    pub fn freshness(&self) -> &Freshness {
        &self.freshness
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The host root every path is resolved from.
    pub fn root(&self) -> &OwnedFd {
        &self.root
    }
}
