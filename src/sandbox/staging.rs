//! Where fusermount3 mirrors are mounted on the host, and how they are found again.
//!
//! A fusermount3 mirror lives in the host's mount namespace, under a staging directory.
//! Each run's staging directory is made in a private parent, 0700 and verified to be
//! the user's own: `$XDG_RUNTIME_DIR/fusebox` when `$XDG_RUNTIME_DIR` is usable, else
//! `/tmp/fusebox-UID` (never `$TMPDIR`, which may be the build's to write). Every
//! sandbox's mirror hides the contents of both places and refuses any change to them
//! or to an ancestor (renaming one would move the mounts they hold), whatever its
//! policy says: no build can name, enter or move any sandbox's mountpoint.
//!
//! Teardown finds the mount by its [`MountKey`] in the mount table, not by the path it
//! was made at: a mount that was moved anyway (a rename on the host) is still found and
//! unmounted where it is now.

use std::fs;
use std::os::fd::OwnedFd;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Result, bail};

use nix::fcntl::OFlag;
use nix::sys::stat::Mode;

/// The places fusebox may stage mounts in, for this user: every sandbox guards both,
/// whichever it uses itself (another run may have had another environment).
pub fn places() -> Vec<PathBuf> {
    let uid = nix::unistd::getuid().as_raw();
    let mut places: Vec<PathBuf> = xdg_runtime_dir()
        .map(|dir| dir.join("fusebox"))
        .into_iter()
        .collect();
    places.push(PathBuf::from(format!("/tmp/fusebox-{uid}")));
    // As the mirror names them: through real directories.
    places
        .into_iter()
        .map(|p| {
            match (
                p.parent().and_then(|d| fs::canonicalize(d).ok()),
                p.file_name(),
            ) {
                (Some(dir), Some(name)) => dir.join(name),
                _ => p,
            }
        })
        .collect()
}

/// O_PATH fds of the places that exist (never through a symlink): the directories whose
/// contents every mirror hides, by identity (see `MirrorOptions::hidden`).
pub fn hidden(places: &[PathBuf]) -> Vec<OwnedFd> {
    let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    places
        .iter()
        .filter_map(|p| nix::fcntl::open(p.as_path(), flags, Mode::empty()).ok())
        .collect()
}

/// `$XDG_RUNTIME_DIR` when it is an absolute path to a directory of ours.
fn xdg_runtime_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(std::env::var_os("XDG_RUNTIME_DIR")?);
    let meta = fs::metadata(&dir).ok()?;
    (dir.is_absolute() && meta.is_dir() && meta.uid() == nix::unistd::getuid().as_raw())
        .then_some(dir)
}

/// The private parent for this run's staging directory: the first usable of
/// [`places`], made 0700 if missing, and refused unless it is a real directory of ours
/// that nobody else can enter.
pub fn private_parent() -> Result<PathBuf> {
    let place = if xdg_runtime_dir().is_some() {
        places().remove(0)
    } else {
        places()
            .pop()
            .unwrap_or_else(|| PathBuf::from("/tmp/fusebox"))
    };
    match fs::DirBuilder::new().mode(0o700).create(&place) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => bail!(
            "cannot create the staging directory {}: {e}",
            place.display()
        ),
    }
    let meta = fs::symlink_metadata(&place)?;
    let mine = meta.uid() == nix::unistd::getuid().as_raw();
    if !meta.is_dir() || !mine || meta.permissions().mode() & 0o077 != 0 {
        bail!(
            "{} is not a private directory of yours (hint: remove it, or set XDG_RUNTIME_DIR \
             to a directory only you can enter)",
            place.display()
        );
    }
    Ok(place)
}

/// A mount as the mount table names it: its mount id and its device. Both are unique
/// while the mount exists (and may be reused by another mount once it is gone: so a
/// key is looked up only while the mount is known to be there).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MountKey {
    pub id: u64,
    pub dev: u64,
}

/// Where the mount `key` is now, by the mount table of this process's mount namespace
/// (`None`: not mounted).
pub fn mountpoint_of(key: MountKey) -> Option<PathBuf> {
    let info = fs::read_to_string("/proc/self/mountinfo").ok()?;
    mounts(&info)
        .filter(|(k, _)| *k == key)
        .map(|(_, at)| at)
        .last()
}

/// Unmounts `mount` wherever it is now. Once fusermount3 says it unmounted it, it is
/// not looked for again: its id and device may then already belong to another mount.
/// A few tries, each finding it afresh; an error naming where it is if it stays.
pub fn unmount(fusermount3: &Path, mount: MountKey) -> Result<()> {
    let mut last = None;
    for _ in 0..3 {
        let Some(at) = mountpoint_of(mount) else {
            return Ok(());
        };
        let unmounted = Command::new(fusermount3)
            .args(["-u", "-q", "-z", "--"])
            .arg(&at)
            .stdin(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if unmounted {
            return Ok(());
        }
        last = Some(at);
    }
    match last {
        Some(at) => bail!(
            "the mirror is still mounted at {} (hint: fusermount3 -u -z that path)",
            at.display()
        ),
        None => Ok(()),
    }
}

/// The key of the last mount at `mountpoint` in a mountinfo text.
pub fn key_of_mount_at(mountinfo: &str, mountpoint: &Path) -> Option<MountKey> {
    mounts(mountinfo)
        .filter(|(_, at)| at == mountpoint)
        .map(|(key, _)| key)
        .last()
}

/// Each mount's key and mount point, from a mountinfo text (`id parent major:minor root
/// mountpoint …`; mount points octal-escaped: `\040` for a space, `\012` a newline).
fn mounts(mountinfo: &str) -> impl Iterator<Item = (MountKey, PathBuf)> + '_ {
    mountinfo.lines().filter_map(|line| {
        let mut fields = line.split(' ');
        let id = fields.next()?.parse().ok()?;
        let (major, minor) = fields.nth(1)?.split_once(':')?;
        let dev = libc::makedev(major.parse().ok()?, minor.parse().ok()?);
        let point = fields.nth(1)?;
        Some((MountKey { id, dev }, unescape(point)))
    })
}

fn unescape(field: &str) -> PathBuf {
    use std::os::unix::ffi::OsStringExt;
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).and_then(|d| {
            std::str::from_utf8(d)
                .ok()
                .and_then(|d| u8::from_str_radix(d, 8).ok())
        });
        match (bytes[i], octal) {
            (b'\\', Some(b)) => {
                out.push(b);
                i += 4;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    PathBuf::from(std::ffi::OsString::from_vec(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mounts_are_keyed_by_id_and_device() {
        let info = "22 1 259:1 / / rw - ext4 /dev/vda1 rw\n\
                    40 22 0:50 / /tmp/fusebox-1000/fusebox-a\\040b/root rw - fuse.fusebox fusebox rw\n";
        let at = PathBuf::from("/tmp/fusebox-1000/fusebox-a b/root");
        let key = MountKey {
            id: 40,
            dev: libc::makedev(0, 50),
        };
        assert_eq!(key_of_mount_at(info, &at), Some(key));
        let found: Vec<_> = mounts(info).filter(|(k, _)| *k == key).collect();
        assert_eq!(found, [(key, at)]);
        // The same device under another mount id is another mount.
        let other = MountKey { id: 41, ..key };
        assert!(mounts(info).all(|(k, _)| k != other));
    }

    #[test]
    fn places_are_private_to_the_user() {
        let uid = nix::unistd::getuid().as_raw();
        let places = places();
        assert_eq!(
            places.last(),
            Some(&PathBuf::from(format!("/tmp/fusebox-{uid}")))
        );
    }
}
