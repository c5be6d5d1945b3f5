//! How much the kernel may cache, decided in one place.
//!
//! Everything the build changes goes through the mirror, and the kernel's FUSE client
//! keeps its own caches coherent with what it sends (a create replaces a negative
//! entry, an unlink drops the link count and the attributes of the inode, a write
//! updates size and mtime). So entries, attributes and negative entries may be trusted
//! for long ([`Freshness`], `--cache-ttl`). What the kernel cannot know of are changes
//! made on the host behind its back: by other host processes (seen within the TTL), and
//! by this daemon itself — the violation log and the trace — whose paths are never
//! cached ([`Freshness::volatile`]), so a build that checks its log (Portage does)
//! always sees it as it is.

use std::path::{Path, PathBuf};
use std::time::Duration;

use fuser::{FopenFlags, InitFlags, KernelConfig};
use nix::sys::stat::FileStat;
use nix::sys::statfs::{self, FsType, Statfs};

/// The default of `--cache-ttl`.
pub const DEFAULT_TTL: Duration = Duration::from_secs(60);

/// The longest the kernel may trust attributes and "no such file" answers, whatever
/// `--cache-ttl` says: a file the host changes or creates while the build runs is seen
/// within a second. Names can be trusted longer, because every operation that reaches
/// a node checks it on the host again (a file the host replaced is answered ESTALE,
/// which makes the kernel look the name up afresh; one it removed, ENOENT). Attributes
/// cannot yet: the kernel bounds cached reads by the size it holds (see
/// docs/decisions.md, "Caching").
pub const SHORT_TTL: Duration = Duration::from_secs(1);

/// How long the kernel may trust the answers about one path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ttls {
    /// The name → node answer.
    pub entry: Duration,
    /// The node's attributes.
    pub attr: Duration,
}

/// How long the kernel may trust what the mirror answers about a path.
#[derive(Clone, Debug)]
pub struct Freshness {
    ttl: Duration,
    volatile: Vec<PathBuf>,
}

impl Freshness {
    /// Names are trusted for `ttl`, attributes and absences for at most [`SHORT_TTL`];
    /// nothing about the `volatile` paths (mirror paths of the files this daemon writes
    /// on the host while the build runs) is trusted at all.
    pub fn new(ttl: Duration, volatile: Vec<PathBuf>) -> Freshness {
        Freshness { ttl, volatile }
    }

    /// For an entry (and its attributes) at `path`.
    pub fn for_path(&self, path: &Path) -> Ttls {
        if self.is_volatile(path) {
            Ttls {
                entry: Duration::ZERO,
                attr: Duration::ZERO,
            }
        } else {
            self.ttls()
        }
    }

    /// For the attributes of the node at `path`.
    pub fn attr_for(&self, path: &Path) -> Duration {
        self.for_path(path).attr
    }

    /// For the answer that nothing is at `path`.
    pub fn absence_for(&self, path: &Path) -> Duration {
        self.for_path(path).attr
    }

    /// For answers about no path in particular (the control file, "." and "..").
    pub fn ttls(&self) -> Ttls {
        Ttls {
            entry: self.ttl,
            attr: self.ttl.min(SHORT_TTL),
        }
    }

    fn is_volatile(&self, path: &Path) -> bool {
        // A handful of paths at most: a scan is cheaper than hashing the path.
        self.volatile.iter().any(|v| v == path)
    }
}

/// How the kernel should do I/O on an open file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileIo {
    /// Through the page cache, bounded by the file's size (ordinary files); `keep`: the
    /// pages cached from the last open are still the file's contents.
    Cached { keep: bool },
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

/// The I/O mode for a regular file with stat `st`; `fs_type` asks for its
/// filesystem's `statfs`, which only a filesystem without a block device needs.
///
/// Every pseudo filesystem is mounted without a device: its device number is an
/// anonymous one (major 0), as tmpfs's, overlayfs's or btrfs's are. A filesystem on a
/// block device is never one of them, so the files most builds read (on a disk) cost
/// no fstatfs at open.
pub fn file_io_for<E>(
    st: &FileStat,
    fs_type: impl FnOnce() -> Result<Statfs, E>,
) -> Result<FileIo, E> {
    if nix::sys::stat::major(st.st_dev) != 0 {
        return Ok(FileIo::Cached { keep: false });
    }
    Ok(file_io_on(fs_type()?.filesystem_type()))
}

/// The I/O mode for a file on a filesystem of type `fs` (its `statfs` magic).
fn file_io_on(fs: FsType) -> FileIo {
    if PSEUDO_FILESYSTEMS.contains(&fs) {
        FileIo::Direct
    } else {
        FileIo::Cached { keep: false }
    }
}

/// Flags for the reply to open/create of a regular file.
pub fn file_open_flags(io: FileIo) -> FopenFlags {
    match io {
        FileIo::Cached { keep: false } => FopenFlags::empty(),
        FileIo::Cached { keep: true } => FopenFlags::FOPEN_KEEP_CACHE,
        FileIo::Direct => FopenFlags::FOPEN_DIRECT_IO,
    }
}

/// Flags for the reply to opendir: the kernel caches the listing (CACHE_DIR), and keeps
/// the one from the last opendir when the directory is `unchanged` since (its mtime,
/// ctime and size, read at this opendir, are the same). Changes the build makes through
/// the mirror drop the cached listing at once; the host's are seen at the next opendir.
pub fn dir_open_flags(unchanged: bool) -> FopenFlags {
    if unchanged {
        FopenFlags::FOPEN_CACHE_DIR | FopenFlags::FOPEN_KEEP_CACHE
    } else {
        FopenFlags::FOPEN_CACHE_DIR
    }
}

/// Capabilities asked of the kernel at init (each only if the kernel offers it).
///
/// - READDIRPLUS, always: `ls -l`, `find` and the path walks of compilers get the
///   attributes and the names' entries with the listing (not READDIRPLUS_AUTO, whose
///   bare names each cost a lookup later). The price: a listing nobody stats costs an
///   fstatat per name on the host.
/// - PARALLEL_DIROPS: lookups/readdirs in one directory may run concurrently; the
///   store and resolver are thread-safe.
/// - ATOMIC_O_TRUNC: O_TRUNC arrives with the open (one `open_wr` judgment and one
///   host open) instead of as a separate setattr(size=0), which a refused
///   `> file` would otherwise report twice, as open_wr and truncate.
/// - CACHE_SYMLINKS: a symlink's target is read once per TTL of its node, not at every
///   path walk through it (on merged-/usr systems every `/lib64/ld-linux…` of every
///   exec). A symlink never changes; it can only be replaced, which makes a new node.
///   The price: an `adddeny` made while the build runs does not hide the target of a
///   symlink the build has already read.
/// - NOT requested: WRITEBACK_CACHE (stale size/mtime when the host changes files),
///   SETXATTR_EXT (panics fuser 0.18.0), POSIX_ACL, HANDLE_KILLPRIV(_V2) (a stale
///   setuid bit after a write on Linux 6.18).
///
/// What was tried for speed and dropped, with the numbers: docs/decisions.md.
pub fn init_capabilities(config: &mut KernelConfig) {
    let wanted = InitFlags::FUSE_DO_READDIRPLUS
        | InitFlags::FUSE_PARALLEL_DIROPS
        | InitFlags::FUSE_ATOMIC_O_TRUNC
        | InitFlags::FUSE_CACHE_SYMLINKS;
    let offered = config.capabilities() & wanted;
    // Cannot fail: only offered bits are asked for.
    let _ = config.add_capabilities(offered);
}
