//! A file fusebox-run writes on the host (the violation log, a learned policy), reached
//! through its directory opened at start, before any namespace: under the direct mount
//! fusebox-run's own /tmp is a private tmpfs, so the path alone would lead elsewhere.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, openat};
use nix::sys::stat::{FileStat, Mode, fstatat};
use nix::unistd::{UnlinkatFlags, unlinkat};

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
                format!("{}: not a file path", path.display()),
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
        )?;
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

    /// Removes the file if it exists.
    pub fn remove(&self) -> io::Result<()> {
        match unlinkat(&self.dir, self.name.as_os_str(), UnlinkatFlags::NoRemoveDir) {
            Ok(()) | Err(Errno::ENOENT) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Opens the file with `flags` (plus O_NOFOLLOW and O_CLOEXEC), creating it with
    /// `mode` when O_CREAT is among them.
    pub fn open(&self, flags: OFlag, mode: u32) -> io::Result<File> {
        let fd = openat(
            self.dir.as_fd(),
            self.name.as_os_str(),
            flags | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::from_bits_truncate(mode),
        )?;
        Ok(File::from(fd))
    }

    /// The whole file.
    pub fn read(&self) -> io::Result<Vec<u8>> {
        let mut bytes = Vec::new();
        self.open(OFlag::O_RDONLY, 0)?.read_to_end(&mut bytes)?;
        Ok(bytes)
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

    /// Replaces the file's content with `bytes`.
    pub fn write(&self, bytes: &[u8]) -> io::Result<()> {
        use std::io::Write;
        let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_TRUNC;
        self.open(flags, 0o644)?.write_all(bytes)
    }
}
