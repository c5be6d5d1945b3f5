//! Node ids: the root's, the reserved ones, and those synthesised from host identities.

use std::collections::HashMap;
use std::io;
use std::os::fd::BorrowedFd;

use nix::sys::stat::FileStat;

/// The node id of the mirror root (FUSE's `FUSE_ROOT_ID`).
pub const ROOT_ID: u64 = 1;

/// A host object's identity: `(st_dev, st_ino)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct HostId {
    pub dev: u64,
    pub ino: u64,
}

impl HostId {
    /// The identity of the object `fd` refers to (any fd, O_PATH included).
    pub fn of(fd: BorrowedFd<'_>) -> io::Result<HostId> {
        let st = nix::sys::stat::fstat(fd)?;
        Ok(HostId::from_stat(&st))
    }

    pub(crate) fn from_stat(st: &FileStat) -> HostId {
        HostId {
            dev: st.st_dev,
            ino: st.st_ino,
        }
    }
}

/// Host inode numbers below this fit under the device index.
const INO_BITS: u32 = 48;
const INO_LIMIT: u64 = 1 << INO_BITS;
/// Device indices live in the 16 bits above the inode number.
const MAX_DEV_INDEX: u64 = (1 << (64 - INO_BITS)) - 1;
/// Node ids no host object gets: the mirror's virtual files (`virtual_files.rs`).
pub const RESERVED_IDS: std::ops::Range<u64> = 2..1 << 16;

/// The first id handed out by the side table (ids below 2^48, high bits 0: never
/// produced by the device-index scheme, whose indices start at 1), above the root's
/// and the reserved ones.
const FIRST_SIDE_ID: u64 = RESERVED_IDS.end;

/// Synthesises node ids unique across host filesystems: `(device index << 48) | ino`.
///
/// Device indices start at 1 and are never reused within the session, so an id never
/// changes meaning. Host inode numbers that do not fit (≥ 2^48, e.g. some network or
/// overlay filesystems), and devices beyond the 65535th, get ids from a side table that
/// only grows: stable for the session.
#[derive(Debug, Default)]
pub(super) struct IdMap {
    dev_index: HashMap<u64, u64>,
    side: HashMap<HostId, u64>,
    next_side: u64,
}

impl IdMap {
    pub(super) fn id_for(&mut self, host: HostId) -> u64 {
        if host.ino < INO_LIMIT {
            if let Some(idx) = self.device_index(host.dev) {
                return (idx << INO_BITS) | host.ino;
            }
        }
        self.side_id(host)
    }

    fn device_index(&mut self, dev: u64) -> Option<u64> {
        if let Some(&idx) = self.dev_index.get(&dev) {
            return Some(idx);
        }
        let next = self.dev_index.len() as u64 + 1;
        if next > MAX_DEV_INDEX {
            return None;
        }
        self.dev_index.insert(dev, next);
        Some(next)
    }

    fn side_id(&mut self, host: HostId) -> u64 {
        if let Some(&id) = self.side.get(&host) {
            return id;
        }
        let id = self.next_side.max(FIRST_SIDE_ID);
        self.next_side = id + 1;
        self.side.insert(host, id);
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(dev: u64, ino: u64) -> HostId {
        HostId { dev, ino }
    }

    #[test]
    fn ids_put_a_device_index_above_the_inode() {
        let mut m = IdMap::default();
        assert_eq!(m.id_for(h(100, 5)), (1 << 48) | 5);
        assert_eq!(m.id_for(h(200, 5)), (2 << 48) | 5);
        assert_eq!(m.id_for(h(100, 7)), (1 << 48) | 7);
        // Stable: asking again gives the same answer.
        assert_eq!(m.id_for(h(200, 5)), (2 << 48) | 5);
    }

    #[test]
    fn huge_inodes_get_stable_side_ids() {
        let mut m = IdMap::default();
        let a = m.id_for(h(9, 1 << 50));
        let b = m.id_for(h(9, (1 << 50) + 1));
        assert_eq!(a, FIRST_SIDE_ID);
        assert_eq!(b, FIRST_SIDE_ID + 1);
        assert_eq!(m.id_for(h(9, 1 << 50)), a);
        assert!(a < 1 << 48 && a != ROOT_ID && !RESERVED_IDS.contains(&a));
    }

    #[test]
    fn devices_beyond_the_index_space_fall_back_to_the_side_table() {
        let mut m = IdMap::default();
        for dev in 0..MAX_DEV_INDEX {
            m.id_for(h(dev, 3));
        }
        let id = m.id_for(h(u64::MAX, 3));
        assert_eq!(id >> 48, 0);
        assert_eq!(m.id_for(h(u64::MAX, 3)), id);
    }
}
