//! A file fusebox-run writes on the host (a log, the trace, a learned policy), reached
//! through its directory opened at start, before any namespace: under the direct mount
//! fusebox-run's own /tmp is a private tmpfs, so the path alone would lead elsewhere.
//!
//! Nothing here follows a symlink (O_NOFOLLOW), blocks on a FIFO (O_NONBLOCK, and a
//! FIFO is refused after fstat), or writes into a file fusebox does not own: the place
//! may be shared with the build or with other users.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, openat};
use nix::sys::stat::{FileStat, Mode, fstat, fstatat};
use nix::unistd::{UnlinkatFlags, unlinkat};

/// How a Gentoo-format log starts: what makes an existing file "a sandbox log" that a
/// new run may remove.
const LOG_MAGIC: &[u8] = b"VERSION 1.0\n";

#[derive(Debug)]
pub struct HostFile {
    path: PathBuf,
    dir: OwnedFd,
    name: OsString,
}

impl HostFile {
    /// `path`'s directory, opened now (it must exist); the file itself need not.
    pub fn new(path: impl Into<PathBuf>) -> io::Result<HostFile> {
        let path = path.into();
        let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a file path",
            ));
        };
        let parent = if parent.as_os_str().is_empty() {
            Path::new(".")
        } else {
            parent
        };
        let dir = nix::fcntl::open(
            parent,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(io::Error::from)?;
        Ok(HostFile {
            name: name.to_owned(),
            path,
            dir,
        })
    }

    /// The file's path with its directory's symlinks resolved, as the host (and the
    /// mirror) names it; None if the directory cannot be named (it was removed).
    pub fn real_path(&self) -> Option<PathBuf> {
        let dir = std::fs::read_link(format!("/proc/self/fd/{}", self.dir.as_raw_fd())).ok()?;
        Some(dir.join(&self.name))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's own stat (a symlink is not followed); None when it does not exist.
    pub fn stat(&self) -> io::Result<Option<FileStat>> {
        match fstatat(
            &self.dir,
            self.name.as_os_str(),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        ) {
            Ok(st) => Ok(Some(st)),
            Err(Errno::ENOENT) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Removes a previous sandbox log at the path: only a regular file of the user's
    /// that is empty or starts like a Gentoo-format log. Anything else is refused,
    /// never removed (`--log Makefile` must not cost a Makefile).
    pub fn remove_stale_log(&self) -> io::Result<()> {
        let Some(st) = self.stat()? else {
            return Ok(());
        };
        own_regular_file(&st)?;
        let file = self.open_existing(OFlag::O_RDONLY)?;
        let mut start = Vec::with_capacity(LOG_MAGIC.len());
        file.take(LOG_MAGIC.len() as u64).read_to_end(&mut start)?;
        if !start.is_empty() && start != LOG_MAGIC {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "exists and is not a sandbox log (refusing to replace it: remove it or \
                 name another file)",
            ));
        }
        match unlinkat(&self.dir, self.name.as_os_str(), UnlinkatFlags::NoRemoveDir) {
            Ok(()) | Err(Errno::ENOENT) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Removes the directory at the path if it is empty; anything else stays (a
    /// directory the run left a log in is the user's to read).
    pub fn remove_if_empty_dir(&self) -> io::Result<()> {
        match unlinkat(&self.dir, self.name.as_os_str(), UnlinkatFlags::RemoveDir) {
            Ok(()) | Err(Errno::ENOENT | Errno::ENOTEMPTY | Errno::EEXIST) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Creates the file, which must not exist (O_EXCL): what another user or the build
    /// planted there is never written to.
    pub fn create_new(&self, mode: u32) -> io::Result<File> {
        let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_APPEND;
        let file = self.open(flags, mode).map_err(|e| {
            if e.raw_os_error() == Some(libc::EEXIST) {
                io::Error::new(e.kind(), "something else was created at its path")
            } else {
                e
            }
        })?;
        own_regular_file(&fstat(file.as_fd())?)?;
        Ok(file)
    }

    /// Opens the file for appending, creating it if needed; an existing one must be a
    /// regular file of the user's (checked on the open descriptor, so nothing can be
    /// swapped in between). Its content is kept: truncate it on the descriptor.
    pub fn open_own(&self, mode: u32) -> io::Result<File> {
        let file = self.open(OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_APPEND, mode)?;
        own_regular_file(&fstat(file.as_fd())?)?;
        Ok(file)
    }

    /// Opens an existing file with `flags`, checked like [`HostFile::open_own`].
    pub fn open_existing(&self, flags: OFlag) -> io::Result<File> {
        let file = self.open(flags, 0)?;
        own_regular_file(&fstat(file.as_fd())?)?;
        Ok(file)
    }

    /// Opens the file with `flags` plus O_NOFOLLOW (a symlink fails with ELOOP),
    /// O_NONBLOCK (a FIFO does not wait for a peer) and O_CLOEXEC.
    fn open(&self, flags: OFlag, mode: u32) -> io::Result<File> {
        let fd = openat(
            self.dir.as_fd(),
            self.name.as_os_str(),
            flags | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
            Mode::from_bits_truncate(mode),
        )
        .map_err(|e| match e {
            Errno::ELOOP => io::Error::new(io::ErrorKind::InvalidInput, "is a symlink"),
            e => e.into(),
        })?;
        Ok(File::from(fd))
    }

    /// Replaces the file with a new one holding `bytes`: written under a fresh name
    /// beside it, then renamed over it. Whatever was there (a FIFO, a symlink the
    /// build planted) is replaced, never opened, and a reader never sees half a file.
    pub fn replace(&self, bytes: &[u8]) -> io::Result<()> {
        use std::io::Write;
        use std::os::unix::ffi::OsStrExt;
        let mut temp = OsString::from(".");
        temp.push(&self.name);
        temp.push(format!(".{}.tmp", std::process::id()));
        let temp = std::ffi::OsStr::from_bytes(&temp.as_bytes()[..temp.len().min(255)]);
        let _ = unlinkat(&self.dir, temp, UnlinkatFlags::NoRemoveDir);
        let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW;
        let fd = openat(
            self.dir.as_fd(),
            temp,
            flags | OFlag::O_CLOEXEC,
            Mode::from_bits_truncate(0o644),
        )?;
        let written = File::from(fd).write_all(bytes);
        let renamed = written.and_then(|()| {
            nix::fcntl::renameat(&self.dir, temp, &self.dir, self.name.as_os_str())
                .map_err(io::Error::from)
        });
        if renamed.is_err() {
            let _ = unlinkat(&self.dir, temp, UnlinkatFlags::NoRemoveDir);
        }
        renamed
    }
}

/// Ok for a regular file owned by the user fusebox runs as.
fn own_regular_file(st: &FileStat) -> io::Result<()> {
    let kind = match st.st_mode & libc::S_IFMT {
        libc::S_IFREG => None,
        libc::S_IFLNK => Some("a symlink"),
        libc::S_IFIFO => Some("a FIFO"),
        libc::S_IFDIR => Some("a directory"),
        libc::S_IFSOCK => Some("a socket"),
        _ => Some("a device"),
    };
    if let Some(kind) = kind {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("is {kind}, not a regular file"),
        ));
    }
    let me = nix::unistd::geteuid().as_raw();
    if st.st_uid != me {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("belongs to uid {}, not to you", st.st_uid),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn in_dir(dir: &Path, name: &str) -> HostFile {
        HostFile::new(dir.join(name)).unwrap()
    }

    #[test]
    fn only_sandbox_logs_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        fs::write(d.join("old.log"), "VERSION 1.0\nFORMAT: F\n").unwrap();
        fs::write(d.join("empty.log"), "").unwrap();
        fs::write(d.join("Makefile"), "all:\n\ttrue\n").unwrap();
        std::os::unix::fs::symlink("Makefile", d.join("link")).unwrap();
        nix::unistd::mkfifo(&d.join("fifo"), Mode::from_bits_truncate(0o600)).unwrap();
        fs::create_dir(d.join("dir")).unwrap();
        in_dir(d, "old.log").remove_stale_log().unwrap();
        in_dir(d, "empty.log").remove_stale_log().unwrap();
        in_dir(d, "absent.log").remove_stale_log().unwrap();
        assert!(!d.join("old.log").exists() && !d.join("empty.log").exists());
        for (name, says) in [
            ("Makefile", "not a sandbox log"),
            ("link", "symlink"),
            ("fifo", "FIFO"),
            ("dir", "directory"),
        ] {
            let err = in_dir(d, name).remove_stale_log().unwrap_err();
            assert!(err.to_string().contains(says), "{name}: {err}");
            assert!(fs::symlink_metadata(d.join(name)).is_ok(), "{name} removed");
        }
    }

    #[test]
    fn create_new_never_reuses_what_is_there() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let target = d.join("elsewhere");
        std::os::unix::fs::symlink(&target, d.join("log")).unwrap();
        assert!(in_dir(d, "log").create_new(0o600).is_err());
        assert!(!target.exists());
        nix::unistd::mkfifo(&d.join("fifo"), Mode::from_bits_truncate(0o600)).unwrap();
        // Neither blocks nor writes.
        assert!(in_dir(d, "fifo").create_new(0o600).is_err());
        assert!(in_dir(d, "fifo").open_own(0o600).is_err());
        assert!(in_dir(d, "fresh").create_new(0o600).is_ok());
        assert!(in_dir(d, "fresh").create_new(0o600).is_err());
        assert!(in_dir(d, "fresh").open_own(0o600).is_ok());
    }
}
