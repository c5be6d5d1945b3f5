//! How much the kernel may cache, decided in one place.
//!
//! For now: short entry/attr timeouts, no writeback cache, no keep-cache — simple and
//! correct while other processes may change the host tree. Longer timeouts with
//! explicit invalidation (notify_inval_*) replace these constants later without
//! touching the ops.

use std::time::Duration;

use fuser::{FopenFlags, InitFlags, KernelConfig};
use nix::sys::statfs::{self, FsType};

/// How long the kernel may trust a name → node answer.
pub const ENTRY_TTL: Duration = Duration::from_secs(1);
/// How long the kernel may trust a node's attributes.
pub const ATTR_TTL: Duration = Duration::from_secs(1);

/// How the kernel should do I/O on an open file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileIo {
    /// Through the page cache, bounded by the file's size (ordinary files).
    Cached,
    /// Straight to the daemon, whatever the size says: files of pseudo filesystems
    /// (/proc, /sys, …) report size 0 yet have contents.
    Direct,
}

/// Filesystems whose files' sizes say nothing about their contents.
const PSEUDO_FILESYSTEMS: [FsType; 8] = [
    statfs::PROC_SUPER_MAGIC,
    statfs::SYSFS_MAGIC,
    statfs::DEBUGFS_MAGIC,
    statfs::TRACEFS_MAGIC,
    statfs::CGROUP_SUPER_MAGIC,
    statfs::CGROUP2_SUPER_MAGIC,
    statfs::SECURITYFS_MAGIC,
    statfs::BPF_FS_MAGIC,
];

/// The I/O mode for a file on a filesystem of type `fs` (its `statfs` magic).
pub fn file_io_for(fs: FsType) -> FileIo {
    if PSEUDO_FILESYSTEMS.contains(&fs) {
        FileIo::Direct
    } else {
        FileIo::Cached
    }
}

/// Flags for the reply to open/create of a regular file.
pub fn file_open_flags(io: FileIo) -> FopenFlags {
    match io {
        FileIo::Cached => FopenFlags::empty(),
        FileIo::Direct => FopenFlags::FOPEN_DIRECT_IO,
    }
}

/// Flags for the reply to opendir.
pub fn dir_open_flags() -> FopenFlags {
    FopenFlags::empty()
}

/// Capabilities asked of the kernel at init (each only if the kernel offers it).
///
/// - READDIRPLUS (+AUTO): `ls -l` and `find` get attributes with the listing.
/// - PARALLEL_DIROPS: lookups/readdirs in one directory may run concurrently; the
///   store and resolver are thread-safe.
/// - ATOMIC_O_TRUNC: O_TRUNC arrives with the open (one `open_wr` judgment and one
///   host open) instead of as a separate setattr(size=0), which a refused
///   `> file` would otherwise report twice, as open_wr and truncate.
/// - NOT requested: WRITEBACK_CACHE (stale size/mtime when the host changes files),
///   SETXATTR_EXT (panics fuser 0.18.0), POSIX_ACL, HANDLE_KILLPRIV.
pub fn init_capabilities(config: &mut KernelConfig) {
    let wanted = InitFlags::FUSE_DO_READDIRPLUS
        | InitFlags::FUSE_READDIRPLUS_AUTO
        | InitFlags::FUSE_PARALLEL_DIROPS
        | InitFlags::FUSE_ATOMIC_O_TRUNC;
    let offered = config.capabilities() & wanted;
    // Cannot fail: only offered bits are asked for.
    let _ = config.add_capabilities(offered);
}
