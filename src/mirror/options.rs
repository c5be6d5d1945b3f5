//! What a mirror is built from: the host root it serves and the runs it serves it to.

use std::path::PathBuf;

use super::attr::Ownership;
use super::cache;
use super::runs::Runs;
use super::virtual_files::StaticFile;

/// What the mirror serves and how it judges writes.
pub struct MirrorOptions {
    /// O_PATH | O_DIRECTORY fd of the host root, opened before any namespace was entered.
    pub root: std::os::fd::OwnedFd,
    /// O_PATH fds of the directories whose contents the mirror hides (lookup → ENOENT,
    /// readdir → only . and ..): the staging directories that hold mirrors' mountpoints.
    /// Hidden by identity, and held open for the mirror's life: one removed on the host
    /// meanwhile (another run's staging parent) keeps its inode, whose number would
    /// otherwise pass to the next directory made, such as one the build makes.
    pub hidden: Vec<std::os::fd::OwnedFd>,
    /// Paths the build may read but never change, rename or move by renaming an
    /// ancestor, whatever the policy and `--audit` say: the staging directories that
    /// hold fusebox mirrors' mountpoints.
    pub guarded: Vec<PathBuf>,
    /// `/proc/self/mountinfo` opened before any namespace was entered: it keeps showing
    /// the mount table of the host root the mirror serves (see `mounts.rs`).
    pub mountinfo: Option<std::fs::File>,
    /// The runs it serves, and how a request's run is found.
    pub runs: Runs,
    /// How host owners are shown (verbatim, or squashed for a mount inside a user namespace).
    pub ownership: Ownership,
    /// How long the kernel may cache answers (`--cache-ttl`), and the paths never cached.
    pub freshness: cache::Freshness,
    /// Read-only files served in the root beside the control file (a front end's).
    pub static_files: Vec<StaticFile>,
}
