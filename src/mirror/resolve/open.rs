//! A node's regular file opened for I/O: by its name in its verified parent, or the
//! verified object reopened through /proc/self/fd; and, when a rename or unlink through
//! the mirror raced with the open, the object the kernel looked up.

use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;

use fuser::Errno;
use nix::fcntl::{OFlag, openat};
use nix::sys::stat::{FileStat, Mode, fstat};

use super::walk::stale_if_not_dir;
use super::{Check, NodeAt, Resolver};
use crate::mirror::errno::{HostResult, OpResult};
use crate::mirror::host_path::proc_fd_path;
use crate::mirror::inode::HostId;

/// A node's regular file, opened for I/O, with the mirror path the policy judged.
#[derive(Debug)]
pub struct FileAt {
    pub fd: OwnedFd,
    /// Its stat, taken through `fd` when its identity was verified.
    pub stat: FileStat,
    pub path: PathBuf,
}

impl Resolver {
    /// Node `id`'s regular file opened with `flags` (judged for `check`), for I/O: by
    /// its name in its verified parent directory, never following a symlink, and
    /// verified to be the node's object before it is used. Errors as [`Self::node`]
    /// gives them, and EISDIR for a directory, ENXIO for any other non-regular file.
    ///
    /// The kernel looked the node up before it asked to open it, and another process
    /// may have renamed or removed the name through the mirror in between: natively
    /// the open gets the object looked up whatever its name does meanwhile. When the
    /// node's path leads nowhere or elsewhere, the open is tried again once that change
    /// is recorded: under the node's new path, or, when it has none (deleted), the
    /// object itself, which the mirror keeps while the kernel holds the node
    /// ([`Self::pin_until_forgotten`]). A path that leads elsewhere because of a change
    /// made behind the mirror's back stays ESTALE: the kernel then looks the name up
    /// afresh.
    ///
    /// An open by name saves the O_PATH open, the reopen through /proc/self/fd and two
    /// closes of the other way (about 12 µs of 20 on the benchmark VM, for every open
    /// of a build). It is used where opening the name before its identity is verified
    /// can change nothing: never with O_TRUNC, and always with O_NONBLOCK, so that a
    /// FIFO the host put in the file's place cannot block a reader thread. What the
    /// open by name cannot tell apart (a symlink there, a lease to break, a device)
    /// takes the other way, which decides those on the verified object.
    pub fn open_file(&self, id: u64, check: Check, flags: OFlag) -> OpResult<FileAt> {
        match self.open_file_by_path(id, check, flags) {
            Err(e) if e == Errno::ENOENT || e == Errno::ESTALE => {}
            opened => return opened,
        }
        // A rename or unlink through the mirror changes the host under the names lock,
        // which it holds until the store has the change too.
        drop(self.rebuilding_path());
        match self.store.chain(id) {
            Ok(_) => self.open_file_by_path(id, check, flags),
            // No path left: deleted through the mirror, and kept if the kernel holds it.
            Err(e) => {
                let at = self.pinned(id)?.ok_or(e)?;
                // Judged by the path it was deleted from (maybe not the one judged above).
                self.judge(&at.path, check)?;
                self.reopen(at, flags)
            }
        }
    }

    /// [`Self::open_file`] through the node's recorded path.
    fn open_file_by_path(&self, id: u64, check: Check, flags: OFlag) -> OpResult<FileAt> {
        if flags.contains(OFlag::O_TRUNC) {
            return self.reopen_file(id, check, flags);
        }
        let (chain, parent) = {
            let _path = self.rebuilding_path();
            let chain = self.store.chain(id)?;
            if chain.is_empty() {
                // The root is a directory.
                return Err(Errno::EISDIR);
            }
            let parent = self.open_dirs(&chain[1..])?;
            (chain, parent)
        };
        let path = self.mirror_path(&chain, None);
        self.judge(&path, check)?;
        let by_name = flags | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK;
        let fd = match openat(
            parent.as_fd(),
            chain[0].name.as_os_str(),
            by_name,
            Mode::empty(),
        ) {
            Ok(fd) => fd,
            Err(
                nix::errno::Errno::ELOOP
                | nix::errno::Errno::EISDIR
                | nix::errno::Errno::ENXIO
                | nix::errno::Errno::ENODEV
                | nix::errno::Errno::EAGAIN,
            ) => {
                // The same node, judged above under the same path.
                let (_, node) = self.open_node(id)?;
                return self.reopen(NodeAt { node, path }, flags);
            }
            Err(e) => return Err(stale_if_not_dir(e)),
        };
        let stat = fstat(fd.as_fd()).host()?;
        if HostId::from_stat(&stat) != chain[0].host {
            return Err(Errno::ESTALE);
        }
        regular_file(&stat)?;
        if !flags.contains(OFlag::O_NONBLOCK) {
            // F_SETFL sets only the status flags (O_APPEND, O_NOATIME, O_NONBLOCK…):
            // those the build asked for, O_NONBLOCK no longer among them.
            let status = flags - OFlag::O_ASYNC;
            nix::fcntl::fcntl(fd.as_fd(), nix::fcntl::FcntlArg::F_SETFL(status)).host()?;
        }
        Ok(FileAt { fd, stat, path })
    }

    /// [`Self::open_file`] the other way: the node's object opened O_PATH and
    /// verified, then reopened itself through /proc/self/fd.
    fn reopen_file(&self, id: u64, check: Check, flags: OFlag) -> OpResult<FileAt> {
        let at = self.node(id, check)?;
        self.reopen(at, flags)
    }

    /// The verified node `at`'s regular file, reopened through /proc/self/fd.
    fn reopen(&self, at: NodeAt, flags: OFlag) -> OpResult<FileAt> {
        regular_file(&at.node.stat)?;
        let fd = openat(
            nix::fcntl::AT_FDCWD,
            proc_fd_path(at.node.fd.as_fd()).as_c_str(),
            flags,
            Mode::empty(),
        )
        .host()?;
        Ok(FileAt {
            fd,
            stat: at.node.stat,
            path: at.path,
        })
    }
}

/// EISDIR for a directory, ENXIO for a special file: only regular files are opened
/// for I/O here (the kernel opens special files itself).
fn regular_file(st: &FileStat) -> OpResult<()> {
    match st.st_mode & libc::S_IFMT {
        libc::S_IFREG => Ok(()),
        libc::S_IFDIR => Err(Errno::EISDIR),
        libc::S_IFLNK => Err(Errno::ELOOP),
        _ => Err(Errno::ENXIO),
    }
}
