//! From a syscall's arguments to the file it acts on, as the calling process sees it:
//! the path string read from the caller's memory, made absolute with the caller's cwd
//! or dirfd, then resolved from the caller's root.
//!
//! The strings come from `process_vm_readv`; the directories from `readlink` of
//! `/proc/PID/cwd` and `/proc/PID/fd/N`, which name them in the caller's mount
//! namespace whatever the reader's (a relative path's leading `..` are followed from the
//! directory itself: a removed cwd has no name, but a way out). The path is then
//! resolved by the kernel:
//! `openat2(/proc/PID/root, path, O_PATH, RESOLVE_IN_ROOT)`, so `..` and symlinks
//! (absolute ones included) mean what they mean to the caller, and the canonical path is
//! `readlink(/proc/self/fd/N)` of the result. Names are bytes throughout (any byte but
//! NUL and '/'), never UTF-8.
//!
//! Anything that cannot be read or resolved is "unjudged": the syscall continues and the
//! kernel gives the answer it gives (ENOENT for a missing parent, EFAULT for a bad
//! pointer…).

use std::ffi::OsString;
use std::io::{self, IoSliceMut};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;

use nix::errno::Errno;
use nix::fcntl::{OFlag, OpenHow, ResolveFlag, openat, openat2, readlinkat};
use nix::sys::stat::Mode;
use nix::sys::uio::{RemoteIoVec, process_vm_readv};
use nix::unistd::Pid;

use super::decode::{Existence, PathArg, Then};
use super::gate::WriteTarget;
use crate::policy::Op;

/// The longest path the kernel takes from a caller, its NUL included.
pub const PATH_MAX: usize = libc::PATH_MAX as usize;
/// Symlinks followed at most in one resolution, as the kernel (`MAXSYMLINKS`).
const MAX_SYMLINKS: usize = 40;
/// Reads are split at multiples of this, so a string that ends just before an unmapped
/// page is read (`process_vm_readv` transfers a segment whole or not at all). Every
/// page size is a multiple of it.
const CHUNK: usize = 4096;

/// What one path of a syscall comes to.
#[derive(Debug, PartialEq, Eq)]
pub enum Resolved {
    /// Ask the gate.
    Target(WriteTarget),
    /// Continue without asking: not readable, not resolvable, or failed by the kernel
    /// before any write check.
    Unjudged,
    /// Fail with this errno without asking (see [`Then::Fail`]).
    Fail(i32),
}

/// The calling process, reached from the daemon.
pub struct Caller {
    pid: u32,
    /// `/proc/PID` (the thread: a thread can have a cwd of its own).
    proc: OwnedFd,
    root: OwnedFd,
}

/// A path read from the caller, ready to be resolved once the notification is known to
/// be still valid.
pub struct Prepared {
    op: Op,
    follow: bool,
    existence: Existence,
    what: Named,
}

enum Named {
    /// An absolute path to resolve from a root: the caller's, or openat2's dirfd.
    Path {
        path: Vec<u8>,
        root: Option<OwnedFd>,
    },
    /// The dirfd's own file (`AT_EMPTY_PATH`): its canonical path already.
    Itself(Vec<u8>),
}

impl Caller {
    /// Opens `/proc/PID` and the caller's root. The pid may have been reused by the
    /// time this runs: check the notification's id before trusting what comes of it.
    pub fn open(pid: u32) -> io::Result<Caller> {
        let dir = format!("/proc/{pid}");
        let proc = nix::fcntl::open(
            dir.as_str(),
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        let root = openat(
            &proc,
            "root",
            OFlag::O_PATH | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Caller { pid, proc, root })
    }

    /// Reads `arg`'s path and the directory it starts from. None: unjudged.
    pub fn prepare(&self, arg: &PathArg) -> Option<Prepared> {
        let mut buf = [0u8; PATH_MAX];
        let name = self.read_string(arg.addr, &mut buf).ok()?;
        let what = if name.is_empty() {
            if !arg.empty_is_dirfd {
                return None; // ENOENT
            }
            let path = self.dir_path(arg.dirfd).ok()?;
            Named::Itself(canonical(path)?)
        } else if arg.dirfd_is_root {
            let root = self.dir_fd(arg.dirfd).ok()?;
            Named::Path {
                path: name.to_vec(),
                root: Some(root),
            }
        } else if name[0] == b'/' {
            Named::Path {
                path: name.to_vec(),
                root: None,
            }
        } else {
            let (dir, rest) = self.start(arg.dirfd, name).ok()?;
            Named::Path {
                path: join(&canonical(dir)?, rest),
                root: None,
            }
        };
        Some(Prepared {
            op: arg.op,
            follow: arg.follow,
            existence: arg.existence,
            what,
        })
    }

    /// Resolves a prepared path (see the module's doc).
    pub fn resolve(&self, prepared: Prepared) -> Resolved {
        let (present, path) = match prepared.what {
            Named::Itself(path) => (true, path),
            Named::Path { path, root } => {
                let root = root.as_ref().map_or(self.root.as_fd(), |r| r.as_fd());
                let acts_on_existing = prepared.existence.missing == Then::Continue;
                match lookup(root, &path, prepared.follow, acts_on_existing) {
                    Lookup::Present(path) => (true, path),
                    Lookup::Missing(path) => (false, path),
                    Lookup::Unresolvable => return Resolved::Unjudged,
                }
            }
        };
        let then = match present {
            true => prepared.existence.present,
            false => prepared.existence.missing,
        };
        // An O_CREAT open of a file that exists opens it: the mirror sees an OPEN, not
        // a CREATE, and names it so.
        let op = match (prepared.op, present) {
            (Op::OpenWrCreat, true) => Op::OpenWr,
            (op, _) => op,
        };
        match then {
            Then::Ask => Resolved::Target(WriteTarget {
                op,
                path: PathBuf::from(OsString::from_vec(path)),
            }),
            Then::Continue => Resolved::Unjudged,
            Then::Fail(errno) => Resolved::Fail(errno),
        }
    }

    /// Reads exactly `buf.len()` bytes at `addr` (openat2's `struct open_how`).
    pub fn read_exact(&self, addr: u64, buf: &mut [u8]) -> io::Result<()> {
        let remote = [RemoteIoVec {
            base: usize::try_from(addr).map_err(|_| Errno::EFAULT)?,
            len: buf.len(),
        }];
        let len = buf.len();
        let n = process_vm_readv(self.nix_pid(), &mut [IoSliceMut::new(buf)], &remote)?;
        if n != len {
            return Err(Errno::EFAULT.into());
        }
        Ok(())
    }

    /// The NUL-terminated string at `addr`, without its NUL: one read of up to
    /// PATH_MAX bytes in segments that end at page boundaries, so the read stops
    /// where the caller's mapping does. ENAMETOOLONG without a NUL in PATH_MAX.
    fn read_string<'b>(&self, addr: u64, buf: &'b mut [u8; PATH_MAX]) -> io::Result<&'b [u8]> {
        let start = usize::try_from(addr).map_err(|_| Errno::EFAULT)?;
        let first = (CHUNK - start % CHUNK).min(PATH_MAX);
        let remote = [
            RemoteIoVec {
                base: start,
                len: first,
            },
            RemoteIoVec {
                base: start.checked_add(first).ok_or(Errno::EFAULT)?,
                len: PATH_MAX - first,
            },
        ];
        let segments = if first == PATH_MAX { 1 } else { 2 };
        let n = process_vm_readv(
            self.nix_pid(),
            &mut [IoSliceMut::new(buf)],
            &remote[..segments],
        )?;
        match buf[..n].iter().position(|&b| b == 0) {
            Some(end) => Ok(&buf[..end]),
            None if n == PATH_MAX => Err(Errno::ENAMETOOLONG.into()),
            None => Err(Errno::EFAULT.into()),
        }
    }

    /// The directory the relative path `rel` starts from, as a path, and what is left
    /// of `rel`. Its leading `..` are followed from the directory itself, not its path:
    /// a removed directory (a removed cwd) has no path, but its `..` still leads out of
    /// it for the kernel, and so for us.
    fn start<'r>(&self, dirfd: i32, rel: &'r [u8]) -> io::Result<(Vec<u8>, &'r [u8])> {
        let (ups, rest) = leading_dotdots(rel);
        if ups == 0 {
            return Ok((self.dir_path(dirfd)?, rel));
        }
        let mut dir = self.dir_fd(dirfd)?;
        for _ in 0..ups {
            dir = openat(&dir, "..", OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty())?;
        }
        let path = fd_path(dir.as_fd()).ok_or(Errno::ENOENT)?;
        Ok((path, rest))
    }

    /// The directory `dirfd` names for the caller (its cwd for `AT_FDCWD`), as a path
    /// in its mount namespace.
    fn dir_path(&self, dirfd: i32) -> io::Result<Vec<u8>> {
        let link = if dirfd == libc::AT_FDCWD {
            readlinkat(&self.proc, "cwd")?
        } else if dirfd >= 0 {
            readlinkat(&self.proc, format!("fd/{dirfd}").as_str())?
        } else {
            return Err(Errno::EBADF.into());
        };
        Ok(link.into_vec())
    }

    /// The file `dirfd` names for the caller, opened O_PATH.
    fn dir_fd(&self, dirfd: i32) -> io::Result<OwnedFd> {
        let name = if dirfd == libc::AT_FDCWD {
            "cwd".to_owned()
        } else if dirfd >= 0 {
            format!("fd/{dirfd}")
        } else {
            return Err(Errno::EBADF.into());
        };
        Ok(openat(
            &self.proc,
            name.as_str(),
            OFlag::O_PATH | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?)
    }

    fn nix_pid(&self) -> Pid {
        Pid::from_raw(self.pid as i32)
    }
}

/// Whether the file a path names exists, and its canonical path either way.
#[derive(Debug, PartialEq, Eq)]
pub enum Lookup {
    Present(Vec<u8>),
    /// Not there, its directory is: the path the syscall would create.
    Missing(Vec<u8>),
    Unresolvable,
}

/// Looks `path` (absolute) up from `root` as the caller would: following the final
/// symlink or not; a dangling final symlink that is followed leads on to its target
/// (`echo > link` creates the target). A final `.` or `..` (or `/`) names no entry: an
/// op that makes or removes one fails on it before any write check, so it is
/// unresolvable unless the op `acts_on_existing` (chmod .), which resolves it.
pub fn lookup(root: BorrowedFd, path: &[u8], follow: bool, acts_on_existing: bool) -> Lookup {
    if split(path).is_none() {
        if !acts_on_existing {
            return Lookup::Unresolvable;
        }
        return match open_in(root, path, true) {
            Ok(fd) => fd_path(fd.as_fd()).map_or(Lookup::Unresolvable, Lookup::Present),
            Err(_) => Lookup::Unresolvable,
        };
    }
    let mut path = path.to_vec();
    for _ in 0..=MAX_SYMLINKS {
        match open_in(root, &path, follow) {
            Ok(fd) => return fd_path(fd.as_fd()).map_or(Lookup::Unresolvable, Lookup::Present),
            Err(Errno::ENOENT) => {}
            Err(_) => return Lookup::Unresolvable,
        }
        // The final component is missing, or one before it.
        let Some((parent, name)) = split(&path) else {
            return Lookup::Unresolvable;
        };
        let Ok(dir) = open_in(root, parent, true) else {
            return Lookup::Unresolvable;
        };
        let Some(dir_path) = fd_path(dir.as_fd()) else {
            return Lookup::Unresolvable;
        };
        let target = if follow {
            dangling_target(&dir, name)
        } else {
            Ok(None)
        };
        match target {
            Ok(None) => return Lookup::Missing(join(&dir_path, name)),
            Ok(Some(target)) if target.first() == Some(&b'/') => path = target,
            Ok(Some(target)) => path = join(&dir_path, &target),
            Err(_) => return Lookup::Unresolvable,
        }
    }
    Lookup::Unresolvable // ELOOP
}

/// The target of `name` in `dir` if it is a symlink (dangling: following it failed).
fn dangling_target(dir: &OwnedFd, name: &[u8]) -> Result<Option<Vec<u8>>, Errno> {
    let how = OpenHow::new()
        .flags(OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_BENEATH);
    let link = match openat2(dir, name, how) {
        Ok(link) => link,
        Err(Errno::ENOENT) => return Ok(None),
        Err(e) => return Err(e),
    };
    // ENOENT when it is no symlink: made between the two opens; the kernel decides.
    Ok(Some(readlinkat(&link, "")?.into_vec()))
}

/// `openat2(root, path, O_PATH, RESOLVE_IN_ROOT)`: `path` resolved as if `root` were
/// `/`. Magic links (`/proc/self/fd/N`) are not followed: they would name the daemon's
/// files, not the caller's.
fn open_in(root: BorrowedFd, path: &[u8], follow: bool) -> Result<OwnedFd, Errno> {
    let mut flags = OFlag::O_PATH | OFlag::O_CLOEXEC;
    if !follow {
        flags |= OFlag::O_NOFOLLOW;
    }
    let how = OpenHow::new()
        .flags(flags)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    openat2(root, path, how)
}

/// The canonical path of an fd (`/proc/self/fd/N`), if it names a reachable file that
/// still has a name.
fn fd_path(fd: BorrowedFd) -> Option<Vec<u8>> {
    use std::os::fd::AsRawFd;
    let link = nix::fcntl::readlink(format!("/proc/self/fd/{}", fd.as_raw_fd()).as_str()).ok()?;
    canonical(link.into_vec())
}

/// `path` if it is a canonical path: absolute (not "pipe:[…]" or "(unreachable)/…")
/// and not of a removed file.
fn canonical(path: Vec<u8>) -> Option<Vec<u8>> {
    (path.first() == Some(&b'/') && !path.ends_with(b" (deleted)")).then_some(path)
}

/// `path` split into its directory and its final name, trailing slashes dropped. None
/// when the final name is `.` or `..`, or the path is `/`.
fn split(path: &[u8]) -> Option<(&[u8], &[u8])> {
    let end = path.iter().rposition(|&b| b != b'/')? + 1;
    let path = &path[..end];
    let (parent, name) = match path.iter().rposition(|&b| b == b'/') {
        Some(0) => (&b"/"[..], &path[1..]),
        Some(i) => (&path[..i], &path[i + 1..]),
        None => (&b"."[..], path),
    };
    (name != b"." && name != b"..").then_some((parent, name))
}

/// How many `..` components `rel` starts with (`.` and repeated slashes skipped), and
/// the rest of it. A path of nothing but `..` keeps its last one: a final `..` is no
/// name (see [`lookup`]).
fn leading_dotdots(mut rel: &[u8]) -> (usize, &[u8]) {
    let mut ups = 0;
    loop {
        let end = rel.iter().position(|&b| b == b'/').unwrap_or(rel.len());
        match &rel[..end] {
            b".." => ups += 1,
            b"." | b"" if end < rel.len() => {}
            b"" if ups > 0 => return (ups - 1, b".."),
            _ => return (ups, rel),
        }
        rel = &rel[end..];
        rel = &rel[rel.iter().position(|&b| b != b'/').unwrap_or(rel.len())..];
    }
}

/// `dir/name`, `dir` empty meaning the name alone.
fn join(dir: &[u8], name: &[u8]) -> Vec<u8> {
    let mut path = Vec::with_capacity(dir.len() + 1 + name.len());
    path.extend_from_slice(dir);
    if !dir.is_empty() && !dir.ends_with(b"/") {
        path.push(b'/');
    }
    path.extend_from_slice(name);
    path
}

#[cfg(test)]
mod tests;
