//! The FUSE mirror of the host root: the sandbox's `/`.
//!
//! Every request is served relative to an O_PATH fd of the host root taken before any
//! namespace change, so the daemon can never reach its own mountpoint through a path.
//! Attributes pass through verbatim; the node id is synthesised from the host
//! identity and is the `st_ino` the build sees.
//!
//! - [`adapter`]: `impl fuser::Filesystem`, decoding requests into ops and replying.
//! - `ops/`: one function per operation, returning `Result<T, Errno>`.
//! - [`route`]: each request to the host ops or to a [`virtual_files`] file.
//! - [`runs`]: the runs served, each with its judge, reports and counts, and which
//!   run a request is for.
//! - [`resolve`]: the chokepoint: node/name → verified host fd, judged by the [`Judge`].
//! - [`inode`]: the store of nodes (host identity, path links, lookup counts).
//! - [`handle`]: open files and directory streams.
//! - [`cache`]: what the kernel may cache (TTLs, init capabilities, open flags).
//! - [`sys`]: the only `unsafe` (syscalls nix does not wrap).

mod adapter;
mod attr;
pub mod cache;
mod errno;
mod fdcache;
mod handle;
pub mod host_path;
mod inode;
mod mounts;
mod ops;
mod options;
mod resolve;
mod route;
pub mod runs;
pub mod stats;
mod sys;
pub mod virtual_files;

#[cfg(test)]
mod tests;

use std::path::PathBuf;

pub use attr::Ownership;
pub use inode::HostId;
pub use options::MirrorOptions;
pub use runs::{Run, Runs};
pub use virtual_files::StaticFile;

use handle::Handles;
use resolve::Resolver;
use virtual_files::VirtualFiles;

/// The mirror filesystem; serve it with [`fuser::Session`] and [`session_config`].
#[derive(Debug)]
pub struct Mirror {
    resolver: Resolver,
    handles: Handles,
    virtual_files: VirtualFiles,
    runs: Runs,
}

impl Mirror {
    /// A mirror of the tree below `opts.root`, which the build sees as `/`.
    pub fn new(opts: MirrorOptions) -> std::io::Result<Mirror> {
        Self::with_prefix(opts, PathBuf::from("/"))
    }

    /// Like [`Mirror::new`], but the policy sees paths as `prefix` + the path below the
    /// root fd (for mirroring a subdirectory in tests and examples).
    pub fn with_prefix(opts: MirrorOptions, prefix: PathBuf) -> std::io::Result<Mirror> {
        let virtual_files = VirtualFiles::new(
            nix::unistd::getuid().as_raw(),
            nix::unistd::getgid().as_raw(),
            opts.static_files.clone(),
        );
        let (resolver, runs) = Resolver::new(opts, prefix)?;
        Ok(Mirror {
            resolver,
            handles: Handles::default(),
            virtual_files,
            runs,
        })
    }
}

impl Mirror {
    /// The runs this mirror serves (to let runs join and leave a kept mirror).
    pub fn runs(&self) -> &Runs {
        &self.runs
    }
}

/// Reader threads serving the mirror: one per CPU of the affinity mask (a cgroup's CPU
/// quota is not read: that is several file reads per start), at least 2, at most 4. Each blocking
/// host syscall holds one reader, so more than one keeps a slow disk or a blocking open
/// from stalling the whole build; more readers than CPUs only cost (measurements:
/// docs/decisions.md, "The daemon's threads").
fn reader_threads() -> usize {
    crate::sys::cpus().clamp(2, 4)
}

/// The fuser session config to serve the mirror with (threads, clone_fd).
pub fn session_config() -> fuser::Config {
    let mut config = fuser::Config::default();
    config.n_threads = Some(reader_threads());
    // One /dev/fuse fd per reader (FUSE_DEV_IOC_CLONE): requests spread across them.
    config.clone_fd = true;
    // The second reader starts at the first request that may block (an open, a read):
    // a run that only looks names up, as a start does, never pays for it.
    config.lazy_threads = true;
    config
}
