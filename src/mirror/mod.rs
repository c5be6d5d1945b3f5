//! The FUSE mirror of the host root: the sandbox's `/`.
//!
//! Every request is served relative to an O_PATH fd of the host root taken before any
//! namespace change, so the daemon can never reach its own mountpoint through a path.
//! Attributes pass through verbatim; the node id is synthesised from the host
//! identity and is the `st_ino` the build sees.
//!
//! - [`adapter`]: `impl fuser::Filesystem`, decoding requests into ops and replying.
//! - `ops/`: one function per operation, returning `Result<T, Errno>`.
//! - [`resolve`]: the chokepoint: node/name → verified host fd, judged by the policy.
//! - [`inode`]: the store of nodes (host identity, path links, lookup counts).
//! - [`handle`]: open files and directory streams.
//! - [`cache`]: what the kernel may cache (TTLs, init capabilities, open flags).
//! - [`sys`]: the only `unsafe` (syscalls nix does not wrap).

mod adapter;
mod attr;
pub mod cache;
pub mod control;
mod errno;
mod fdcache;
mod handle;
mod inode;
mod mounts;
mod ops;
mod resolve;
pub mod stats;
mod sys;

use std::path::PathBuf;
use std::sync::Arc;

pub use attr::Ownership;
pub use inode::HostId;

use handle::Handles;
use resolve::Resolver;

/// What the mirror serves and how it judges writes.
pub struct MirrorOptions {
    /// O_PATH | O_DIRECTORY fd of the host root, opened before any namespace was entered.
    pub root: std::os::fd::OwnedFd,
    /// Directories whose contents the mirror hides (lookup → ENOENT, readdir → only . and ..):
    /// the staging directory that holds the mirror's own mountpoint.
    pub hidden: Vec<HostId>,
    /// Paths the build may read but never change, rename or move by renaming an
    /// ancestor, whatever the policy and `--audit` say: the staging directories that
    /// hold fusebox mirrors' mountpoints.
    pub guarded: Vec<PathBuf>,
    /// `/proc/self/mountinfo` opened before any namespace was entered: it keeps showing
    /// the mount table of the host root the mirror serves (see `mounts.rs`).
    pub mountinfo: Option<std::fs::File>,
    /// Decides every operation (and can change while the build runs).
    pub policy: Arc<crate::policy::SharedPolicy>,
    /// Receives the violations the policy reports.
    pub auditor: Arc<crate::audit::Auditor>,
    /// Receives every judged operation (`--trace`).
    pub tracer: Option<Arc<crate::audit::Tracer>>,
    /// Counts every request served (`--stats`).
    pub requests: Arc<stats::RequestCounts>,
    /// Gentoo mode: receives what processes with `SANDBOX_DEBUG` on had judged.
    pub debug_log: Option<Arc<crate::audit::Tracer>>,
    /// How host owners are shown (verbatim, or squashed for a mount inside a user namespace).
    pub ownership: Ownership,
    /// How long the kernel may cache answers (`--cache-ttl`), and the paths never cached.
    pub freshness: cache::Freshness,
    /// Gentoo mode: each process is also judged by its own `SANDBOX_*` variables.
    pub live: Option<crate::gentoo::live::LiveOptions>,
}

/// The mirror filesystem; serve it with [`fuser::Session`] and [`session_config`].
#[derive(Debug)]
pub struct Mirror {
    res: Resolver,
    handles: Handles,
    control: control::Control,
    requests: Arc<stats::RequestCounts>,
}

impl Mirror {
    /// A mirror of the tree below `opts.root`, which the build sees as `/`.
    pub fn new(opts: MirrorOptions) -> std::io::Result<Mirror> {
        Self::with_prefix(opts, PathBuf::from("/"))
    }

    /// Like [`Mirror::new`], but the policy sees paths as `prefix` + the path below the
    /// root fd (for mirroring a subdirectory in tests and examples).
    pub fn with_prefix(opts: MirrorOptions, prefix: PathBuf) -> std::io::Result<Mirror> {
        // Gentoo mode serves the startup file by which shells declare their changes.
        let bashrc = opts
            .live
            .is_some()
            .then_some(crate::gentoo::live::bashrc::BASHRC);
        let requests = opts.requests.clone();
        Ok(Mirror {
            requests,
            res: Resolver::new(opts, prefix)?,
            handles: Handles::default(),
            control: control::Control::new(
                nix::unistd::getuid().as_raw(),
                nix::unistd::getgid().as_raw(),
                bashrc,
            ),
        })
    }
}

/// Reader threads serving the mirror: one per CPU, at least 2, at most 4. Each blocking
/// host syscall holds one reader, so more than one keeps a slow disk or a blocking open
/// from stalling the whole build; more readers than CPUs only cost (measurements:
/// docs/decisions.md, "The daemon's threads").
fn reader_threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 4))
}

/// The fuser session config to serve the mirror with (threads, clone_fd).
pub fn session_config() -> fuser::Config {
    let mut config = fuser::Config::default();
    config.n_threads = Some(reader_threads());
    // One /dev/fuse fd per reader (FUSE_DEV_IOC_CLONE): requests spread across them.
    config.clone_fd = true;
    config
}
