//! Host `stat` → the attributes the build sees: passed through, except `ino` (the node
//! id) and, for mounts made inside a user namespace, owners (see [`Ownership`]).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fuser::{FileAttr, FileType, INodeNo};
use nix::sys::stat::FileStat;

/// The file type encoded in a `st_mode`.
pub fn kind_of(mode: u32) -> Option<FileType> {
    Some(match mode & libc::S_IFMT {
        libc::S_IFREG => FileType::RegularFile,
        libc::S_IFDIR => FileType::Directory,
        libc::S_IFLNK => FileType::Symlink,
        libc::S_IFIFO => FileType::NamedPipe,
        libc::S_IFSOCK => FileType::Socket,
        libc::S_IFCHR => FileType::CharDevice,
        libc::S_IFBLK => FileType::BlockDevice,
        _ => return None,
    })
}

/// The FUSE file type of a stat, EIO for a mode no Linux filesystem produces.
pub fn kind_of_stat(st: &FileStat) -> Result<FileType, fuser::Errno> {
    kind_of(st.st_mode).ok_or_else(|| crate::mirror::errno::impossible("unknown file type"))
}

/// A time from the seconds and nanoseconds of a stat field (before 1970 included).
pub fn system_time(sec: i64, nsec: i64) -> SystemTime {
    let nsec = nsec.clamp(0, 999_999_999) as u32;
    if sec >= 0 {
        UNIX_EPOCH + Duration::new(sec as u64, nsec)
    } else {
        UNIX_EPOCH - Duration::new(sec.unsigned_abs(), 0) + Duration::new(0, nsec)
    }
}

/// How host owners are shown to the kernel.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Ownership {
    /// Verbatim: the kernel translates ids into the build's namespace itself. Right when
    /// the mount belongs to the initial user namespace (fusermount3).
    #[default]
    AsHost,
    /// Ids other than `uid`/`gid` are shown as `uid`/`gid`. A mount made inside a user
    /// namespace (direct) can only express the ids mapped there — one uid, one gid — and
    /// the kernel refuses every write to a FUSE inode whose owner it cannot express
    /// (`HAS_UNMAPPED_ID` in inode_permission), /tmp included. Access is still decided
    /// by the host on the daemon's own syscalls, so this changes what stat shows, not
    /// what the build may do.
    SquashForeign { uid: u32, gid: u32 },
}

impl Ownership {
    /// The (uid, gid) the kernel is told for a host owner.
    pub fn present(self, uid: u32, gid: u32) -> (u32, u32) {
        match self {
            Ownership::AsHost => (uid, gid),
            Ownership::SquashForeign { uid: u, gid: g } => (u, g),
        }
    }
}

/// The attributes of node `id`, whose host object has the stat `st`.
pub fn file_attr(id: u64, st: &FileStat, kind: FileType, owners: Ownership) -> FileAttr {
    let (uid, gid) = owners.present(st.st_uid, st.st_gid);
    FileAttr {
        ino: INodeNo(id),
        size: st.st_size as u64,
        blocks: st.st_blocks as u64,
        atime: system_time(st.st_atime, st.st_atime_nsec),
        mtime: system_time(st.st_mtime, st.st_mtime_nsec),
        ctime: system_time(st.st_ctime, st.st_ctime_nsec),
        crtime: UNIX_EPOCH,
        kind,
        perm: (st.st_mode & 0o7777) as u16,
        nlink: st.st_nlink as u32,
        uid,
        gid,
        // The FUSE protocol carries a 32-bit (new-style encoded) rdev.
        rdev: st.st_rdev as u32,
        blksize: st.st_blksize as u32,
        flags: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ownership_is_verbatim_or_squashed() {
        assert_eq!(Ownership::AsHost.present(0, 5), (0, 5));
        let squash = Ownership::SquashForeign {
            uid: 1000,
            gid: 100,
        };
        assert_eq!(squash.present(0, 0), (1000, 100));
        assert_eq!(squash.present(1000, 100), (1000, 100));
    }

    #[test]
    fn kinds_from_modes() {
        assert_eq!(kind_of(libc::S_IFDIR | 0o755), Some(FileType::Directory));
        assert_eq!(kind_of(libc::S_IFLNK | 0o777), Some(FileType::Symlink));
        assert_eq!(kind_of(0o644), None);
    }

    #[test]
    fn times_before_the_epoch() {
        let t = system_time(-1, 500_000_000);
        assert_eq!(
            UNIX_EPOCH.duration_since(t).unwrap(),
            Duration::from_millis(500)
        );
        let t = system_time(5, 7);
        assert_eq!(t.duration_since(UNIX_EPOCH).unwrap(), Duration::new(5, 7));
    }
}
