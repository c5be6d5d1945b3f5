//! Which host devices are fusebox mirrors.
//!
//! The mirror crosses host mount points (the build sees /proc, /home…), but never into
//! a fusebox mirror: a fusermount3 mirror is mounted in the host's mount namespace, and
//! a build writing through another sandbox's mirror would be judged by that sandbox's
//! policy, on that build's behalf, and reported against it (or not at all, under its
//! `--audit`). A mirror is told by its type, `fuse.fusebox`, in the mount table of the
//! namespace the host root fd belongs to: `/proc/self/mountinfo` opened before any
//! namespace was entered keeps showing that table (the file holds the namespace it was
//! opened in) however many mounts come and go. It is read again only for a device
//! never seen before: a mount crossing, rare.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::sync::{Mutex, PoisonError, RwLock};

/// The mount table and what it said about each device asked for.
#[derive(Debug)]
pub struct Mirrors {
    mountinfo: Option<Mutex<File>>,
    known: RwLock<HashMap<u64, bool>>,
}

impl Mirrors {
    /// `mountinfo`: `/proc/self/mountinfo` opened before any namespace (None: nothing
    /// is taken for a mirror, for mirrors of a test directory).
    pub fn new(mountinfo: Option<File>) -> Mirrors {
        Mirrors {
            mountinfo: mountinfo.map(Mutex::new),
            known: RwLock::new(HashMap::new()),
        }
    }

    /// Whether the host device `dev` is a fusebox mirror. A table that cannot be read
    /// counts a device as a mirror: refusing a mount point is the safe mistake.
    ///
    /// A device known as a mirror stays one (its number is not reused while the
    /// mirror is mounted; if it is unmounted, refusing its number costs little). A
    /// device known as no mirror is trusted only while the mount table is unchanged
    /// (a non-blocking poll of the table for POLLPRI, which the kernel raises on every
    /// change): an anonymous device number freed by one mount (a tmpfs, an sshfs) can
    /// be the next mirror's.
    pub fn is_mirror(&self, dev: u64) -> bool {
        let Some(file) = &self.mountinfo else {
            return false;
        };
        let known = self
            .known
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&dev)
            .copied();
        if known == Some(true) {
            return true;
        }
        // One thread at a time polls (the poll consumes the change) and refreshes.
        let file = file.lock().unwrap_or_else(PoisonError::into_inner);
        if known == Some(false) && !table_changed(&file) {
            return false;
        }
        self.refresh(file, dev)
    }

    /// Reads the mount table again and answers for `dev` by it.
    fn refresh(&self, mut file: std::sync::MutexGuard<'_, File>, dev: u64) -> bool {
        let read = file
            .seek(SeekFrom::Start(0))
            .and_then(|_| crate::sys::read_proc_text(&file));
        let mut known = self.known.write().unwrap_or_else(PoisonError::into_inner);
        let Ok(text) = read else {
            return true;
        };
        known.retain(|_, mirror| *mirror);
        for (d, mirror) in mount_types(&text) {
            *known.entry(d).or_insert(mirror) |= mirror;
        }
        // A device in no mount's line (a btrfs subvolume) is no mirror; remember it.
        *known.entry(dev).or_insert(false)
    }
}

/// Whether the mount table changed since it was last polled (or opened).
fn table_changed(file: &File) -> bool {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    use std::os::fd::AsFd;
    let mut fds = [PollFd::new(file.as_fd(), PollFlags::POLLPRI)];
    // An error: say it changed, and read the table again.
    !matches!(poll(&mut fds, PollTimeout::ZERO), Ok(0))
}

/// Each mount's device and whether it is a fusebox mirror, from a mountinfo text
/// (`id parent major:minor root mountpoint options [optional…] - type source super`).
fn mount_types(mountinfo: &str) -> impl Iterator<Item = (u64, bool)> + '_ {
    mountinfo.lines().filter_map(|line| {
        let (mount, fs) = line.split_once(" - ")?;
        let (major, minor) = mount.split(' ').nth(2)?.split_once(':')?;
        let dev = libc::makedev(major.parse().ok()?, minor.parse().ok()?);
        Some((dev, fs.split(' ').next()? == "fuse.fusebox"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirrors_are_told_by_their_type() {
        let info = "22 1 259:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw\n\
                    40 22 0:50 / /tmp/fusebox-1000/fusebox-x/root rw,nosuid,nodev shared:9 - fuse.fusebox fusebox rw,user_id=1000\n\
                    41 22 0:51 / /mnt/ssh rw - fuse.sshfs host: rw\n";
        let types: HashMap<u64, bool> = mount_types(info).collect();
        assert!(types[&libc::makedev(0, 50)]);
        assert!(!types[&libc::makedev(0, 51)]);
        assert!(!types[&libc::makedev(259, 1)]);
    }

    #[test]
    fn a_mirror_found_in_the_table_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mountinfo");
        std::fs::write(
            &path,
            "40 22 0:50 / /x rw - fuse.fusebox fusebox rw\n22 1 8:1 / / rw - ext4 /dev/sda1 rw\n",
        )
        .unwrap();
        let mirrors = Mirrors::new(Some(File::open(&path).unwrap()));
        assert!(mirrors.is_mirror(libc::makedev(0, 50)));
        assert!(!mirrors.is_mirror(libc::makedev(8, 1)));
        assert!(!mirrors.is_mirror(libc::makedev(0, 99)));
        assert!(!Mirrors::new(None).is_mirror(libc::makedev(0, 50)));
    }

    #[test]
    fn a_device_known_as_no_mirror_is_asked_again_after_a_change() {
        let mirrors = Mirrors::new(Some(File::open("/proc/self/mountinfo").unwrap()));
        let dev = libc::makedev(0, 4094);
        assert!(!mirrors.is_mirror(dev));
        // Nothing changed: the cached answer, without reading the table.
        assert!(!table_changed(
            &mirrors.mountinfo.as_ref().unwrap().lock().unwrap()
        ));
        // Pretend the number became a mirror's: a changed table would be read again.
        mirrors
            .known
            .write()
            .unwrap()
            .insert(libc::makedev(0, 4095), true);
        assert!(mirrors.is_mirror(libc::makedev(0, 4095)));
    }
}
