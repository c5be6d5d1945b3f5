//! Paths on the host, below the host root fd the mirror serves: a realpath walked from
//! it as the build would walk it, and `/proc/self/fd/N` for the calls that have no
//! fd-based form.

use std::ffi::{CString, OsString};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::fcntl::{OFlag, openat};
use nix::sys::stat::{Mode, fstatat};

/// `/proc/self/fd/N`: reaches the object behind fd N (an O_PATH fd included) for the
/// calls that have no fd-based form. The daemon stays in the host PID namespace, so
/// /proc/self is its own.
pub fn proc_fd_path(fd: BorrowedFd<'_>) -> CString {
    // A decimal number never contains NUL.
    CString::new(format!("/proc/self/fd/{}", fd.as_raw_fd())).unwrap_or_default()
}

/// `path` with every symlink resolved, walked from the host root fd `root` (absolute
/// links restart there, as they would for the build); None when it does not exist.
pub fn host_realpath(root: &OwnedFd, path: &Path) -> Option<PathBuf> {
    const MAX_LINKS: usize = 40;
    // A stack of the names still to walk, the next on top.
    let mut todo: Vec<OsString> = walk_names(path).collect();
    let mut resolved = PathBuf::from("/");
    let mut links = 0;
    while let Some(name) = todo.pop() {
        if name == ".." {
            resolved.pop();
            continue;
        }
        let dir = open_resolved(root, &resolved)?;
        let st = fstatat(
            dir.as_fd(),
            name.as_os_str(),
            nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .ok()?;
        if st.st_mode & libc::S_IFMT != libc::S_IFLNK {
            resolved.push(&name);
            continue;
        }
        links += 1;
        if links > MAX_LINKS {
            return None;
        }
        let target = nix::fcntl::readlinkat(dir.as_fd(), name.as_os_str()).ok()?;
        let target = Path::new(&target);
        if target.is_absolute() {
            resolved = PathBuf::from("/");
        }
        todo.extend(walk_names(target));
    }
    Some(resolved)
}

/// Opens an already symlink-free absolute path from the host root fd `root`.
fn open_resolved(root: &OwnedFd, path: &Path) -> Option<OwnedFd> {
    let relative = path.strip_prefix("/").ok()?;
    let relative = if relative.as_os_str().is_empty() {
        Path::new(".")
    } else {
        relative
    };
    openat(
        root.as_fd(),
        relative,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .ok()
}

/// The names to walk for `path`, last first (`..` kept, `.` and `/` dropped).
fn walk_names(path: &Path) -> impl Iterator<Item = OsString> + '_ {
    path.components().rev().filter_map(|c| match c {
        std::path::Component::Normal(n) => Some(n.to_owned()),
        std::path::Component::ParentDir => Some(OsString::from("..")),
        _ => None,
    })
}
