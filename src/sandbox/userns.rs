//! User namespaces: the identity maps written after `unshare(CLONE_NEWUSER)`.
//!
//! An unprivileged process may map exactly one uid and one gid: its own, as seen from the
//! parent namespace, and for the gid only after writing "deny" to setgroups
//! (user_namespaces(7), since Linux 3.19).

use std::fs;
use std::io;

use nix::sched::{CloneFlags, unshare};
use nix::unistd::{getgid, getuid};

use crate::cli::UidMap;

/// A uid and gid pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ids {
    pub uid: u32,
    pub gid: u32,
}

impl Ids {
    /// The calling process's real uid and gid, in its current user namespace.
    pub fn current() -> Ids {
        Ids {
            uid: getuid().as_raw(),
            gid: getgid().as_raw(),
        }
    }
}

/// The `/proc/self/{uid,gid}_map` line that maps `outer` to `inner`.
pub fn map_line(inner: u32, outer: u32) -> String {
    format!("{inner} {outer} 1\n")
}

/// The ids the build gets inside for a given `--uid-map`.
pub fn inner_ids(map: UidMap, outer: Ids) -> Ids {
    match map {
        UidMap::SelfId => outer,
        UidMap::Root => Ids { uid: 0, gid: 0 },
    }
}

/// Writes the maps of the user namespace the caller has just created, mapping the ids
/// it had in the parent namespace (`outer`) to `inner`.
pub fn write_maps(inner: Ids, outer: Ids) -> io::Result<()> {
    // "deny" first: without it the kernel refuses an unprivileged gid_map.
    fs::write("/proc/self/setgroups", "deny")?;
    fs::write("/proc/self/uid_map", map_line(inner.uid, outer.uid))?;
    fs::write("/proc/self/gid_map", map_line(inner.gid, outer.gid))?;
    Ok(())
}

/// Moves the caller into a new user namespace where it has `map`'s ids. Done last in
/// setup: every mount made so far becomes locked for the build (mount_namespaces(7)), so
/// even a build that is root inside cannot unmount /proc or /dev to see what lies below.
pub fn enter_build_namespace(map: UidMap) -> io::Result<()> {
    let outer = Ids::current();
    unshare(CloneFlags::CLONE_NEWUSER)?;
    write_maps(inner_ids(map, outer), outer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_lines_map_one_id() {
        assert_eq!(map_line(0, 1000), "0 1000 1\n");
        assert_eq!(map_line(1000, 1000), "1000 1000 1\n");
    }

    #[test]
    fn root_map_gives_zero_and_self_map_keeps_ids() {
        let me = Ids {
            uid: 1000,
            gid: 100,
        };
        assert_eq!(inner_ids(UidMap::Root, me), Ids { uid: 0, gid: 0 });
        assert_eq!(inner_ids(UidMap::SelfId, me), me);
    }
}
