//! Ops that change names: mknod, mkdir, symlink, link, create, tmpfile, unlink, rmdir,
//! rename. Each creating op ends in the same registration as a lookup (tmpfile in its
//! nameless variant).

use std::ffi::OsStr;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use fuser::{Errno, RenameFlags};
use nix::fcntl::{AT_FDCWD, AtFlags, OFlag, openat, renameat2};
use nix::sys::stat::{FileStat, Mode, SFlag, fstat, mkdirat, mknodat};
use nix::unistd::{UnlinkatFlags, linkat, symlinkat, unlinkat};

use super::Call;
use super::data::host_open_flags;
use crate::audit::Op;
use crate::mirror::errno::{HostResult, OpResult};
use crate::mirror::handle::{Handle, Mode as HandleMode};
use crate::mirror::host_path::proc_fd_path;
use crate::mirror::inode::HostId;
use crate::mirror::resolve::{EntryOut, is_dir};
use crate::mirror::sys;

/// Which of unlink/rmdir.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Remove {
    File,
    Dir,
}

impl Call<'_> {
    pub(crate) fn op_mknod(
        &self,
        parent: u64,
        name: &OsStr,
        mode: u32,
        rdev: u32,
    ) -> OpResult<EntryOut> {
        let kind = SFlag::from_bits_truncate(mode & libc::S_IFMT);
        let op = if kind == SFlag::S_IFIFO {
            Op::Mkfifo
        } else {
            Op::Mknod
        };
        let at = self.resolver.entry(parent, name, self.check(op))?;
        own_umask()?;
        let perm = Mode::from_bits_truncate(mode & 0o7777);
        mknodat(at.dir.fd.as_fd(), name, kind, perm, u64::from(rdev)).host()?;
        self.resolver.lookup_at(parent, &at)
    }

    /// mkdir of an existing name is EEXIST even where writing is refused (as in
    /// Gentoo's sandbox): `mkdir -p` walks existing directories everywhere.
    pub(crate) fn op_mkdir(&self, parent: u64, name: &OsStr, mode: u32) -> OpResult<EntryOut> {
        if self.existing(parent, name)?.is_some() {
            return Err(Errno::EEXIST);
        }
        let at = self.resolver.entry(parent, name, self.check(Op::Mkdir))?;
        own_umask()?;
        mkdirat(
            at.dir.fd.as_fd(),
            name,
            Mode::from_bits_truncate(mode & 0o7777),
        )
        .host()?;
        self.resolver.lookup_at(parent, &at)
    }

    pub(crate) fn op_symlink(
        &self,
        parent: u64,
        name: &OsStr,
        target: &Path,
    ) -> OpResult<EntryOut> {
        let at = self.resolver.entry(parent, name, self.check(Op::Symlink))?;
        symlinkat(target, at.dir.fd.as_fd(), name).host()?;
        self.resolver.lookup_at(parent, &at)
    }

    /// A hard link is judged on both names: a link must not make a protected file
    /// writable through a new name. A file with no name (an O_TMPFILE being given
    /// one) is reached through its open handle and judged by the directory it was
    /// made in.
    pub(crate) fn op_link(&self, id: u64, newparent: u64, newname: &OsStr) -> OpResult<EntryOut> {
        let src = self.held(id, self.check(Op::Link))?;
        let dst = self
            .resolver
            .entry(newparent, newname, self.check(Op::Link))?;
        // Through /proc/self/fd with AT_SYMLINK_FOLLOW: links the verified object
        // itself, which linkat(AT_EMPTY_PATH) would need CAP_DAC_READ_SEARCH for.
        linkat(
            AT_FDCWD,
            proc_fd_path(src.fd()).as_c_str(),
            dst.dir.fd.as_fd(),
            newname,
            AtFlags::AT_SYMLINK_FOLLOW,
        )
        .host()?;
        self.resolver.lookup_at(newparent, &dst)
    }

    /// open(O_CREAT): creates (or, without O_EXCL, opens) `name` and returns an entry
    /// and a handle.
    pub(crate) fn op_create(
        &self,
        parent: u64,
        name: &OsStr,
        mode: u32,
        flags: i32,
    ) -> OpResult<(EntryOut, u64)> {
        let op = if flags & libc::O_ACCMODE == libc::O_RDONLY {
            Op::OpenRdCreat
        } else {
            Op::OpenWrCreat
        };
        let at = self.resolver.entry(parent, name, self.check(op))?;
        own_umask()?;
        // O_NOFOLLOW: the name is never followed if a symlink raced in.
        let oflags = host_open_flags(flags) | OFlag::O_CREAT | OFlag::O_NOFOLLOW;
        let fd = openat(
            at.dir.fd.as_fd(),
            name,
            oflags,
            Mode::from_bits_truncate(mode & 0o7777),
        )
        .host()?;
        let st = fstat(fd.as_fd()).host()?;
        let entry = self.resolver.register(parent, &at, &st)?;
        let fh = self.handles.insert(Handle::new(
            entry.attr.ino.0,
            fd,
            handle_mode(oflags),
            at.path,
        ));
        Ok((entry, fh))
    }

    /// open(dir, O_TMPFILE): a file with no name in the directory `parent`, returned
    /// as an entry and a handle like [`Self::op_create`]'s. Judged as a write of the
    /// directory itself, as Gentoo's sandbox judges it (an open_wr of the only path
    /// the call names). A hidden directory needs no check: nothing
    /// appears in it, and a link into it is refused.
    pub(crate) fn op_tmpfile(
        &self,
        parent: u64,
        mode: u32,
        flags: i32,
    ) -> OpResult<(EntryOut, u64)> {
        let dir = self.resolver.node(parent, self.check(Op::OpenTmpfile))?;
        own_umask()?;
        // O_EXCL is kept: it is what makes the file one that can never be linked.
        let excl = OFlag::from_bits_truncate(flags) & OFlag::O_EXCL;
        let oflags = host_open_flags(flags) | OFlag::O_TMPFILE | excl;
        let fd = openat(
            dir.node.fd.as_fd(),
            ".",
            oflags,
            Mode::from_bits_truncate(mode & 0o7777),
        )
        .host()?;
        let st = fstat(fd.as_fd()).host()?;
        let entry = self.resolver.register_unnamed(parent, &dir, &st)?;
        let fh = self.handles.insert(Handle::new(
            entry.attr.ino.0,
            fd,
            handle_mode(oflags),
            dir.path,
        ));
        Ok((entry, fh))
    }

    /// unlink and rmdir.
    pub(crate) fn op_remove(&self, parent: u64, name: &OsStr, what: Remove) -> OpResult<()> {
        // Existence first: removing a missing name is ENOENT wherever it is.
        let probe = self.resolver.probe(parent, name)?;
        let Some(victim) = probe.hold()?.map(Victim::from) else {
            return Err(Errno::ENOENT);
        };
        let (op, flag) = match what {
            Remove::File => (Op::Unlink, UnlinkatFlags::NoRemoveDir),
            Remove::Dir => (Op::Rmdir, UnlinkatFlags::RemoveDir),
        };
        let at = self.resolver.entry(parent, name, self.check(op))?;
        let _changing = self.resolver.changing_names();
        unlinkat(at.dir.fd.as_fd(), name, flag).host()?;
        self.forget_name(parent, name, victim, &at.path);
        Ok(())
    }

    pub(crate) fn op_rename(
        &self,
        parent: u64,
        name: &OsStr,
        newparent: u64,
        newname: &OsStr,
        flags: RenameFlags,
    ) -> OpResult<()> {
        // A missing source is ENOENT wherever it is, not a violation.
        let src_st = self.existing(parent, name)?.ok_or(Errno::ENOENT)?;
        let src = self.resolver.entry(parent, name, self.check(Op::Rename))?;
        let dst = self
            .resolver
            .entry(newparent, newname, self.check(Op::Rename))?;
        // What the two names hold moves too (or is replaced): guarded entries below
        // either are judged as writes. (A directory cannot be hard-linked: a link
        // moves nothing below its names.)
        self.resolver
            .judge_moved(&src.path, self.check(Op::Rename))?;
        self.resolver
            .judge_moved(&dst.path, self.check(Op::Rename))?;
        let dst_victim = dst.hold()?.map(Victim::from);
        let nix_flags = nix::fcntl::RenameFlags::from_bits_retain(flags.bits());
        let _changing = self.resolver.changing_names();
        renameat2(
            src.dir.fd.as_fd(),
            name,
            dst.dir.fd.as_fd(),
            newname,
            nix_flags,
        )
        .host()?;

        let src_id = self.resolver.id_of(HostId::from_stat(&src_st));
        match dst_victim {
            Some(other) if flags.contains(RenameFlags::RENAME_EXCHANGE) => {
                let dst_id = self.resolver.id_of(HostId::from_stat(&other.st));
                self.resolver
                    .moved(dst_id, (newparent, newname), (parent, name));
            }
            Some(victim) => self.forget_name(newparent, newname, victim, &dst.path),
            None => {}
        }
        self.resolver
            .moved(src_id, (parent, name), (newparent, newname));
        Ok(())
    }

    /// The host stat of `name` in `parent` if it exists (judged as a read).
    fn existing(&self, parent: u64, name: &OsStr) -> OpResult<Option<FileStat>> {
        self.resolver.probe(parent, name)?.stat()
    }

    /// `name` in `parent`, mirror path `path`, no longer names `victim`.
    fn forget_name(&self, parent: u64, name: &OsStr, victim: Victim, path: &Path) {
        let st = victim.st;
        let id = self.resolver.id_of(HostId::from_stat(&st));
        self.resolver.unnamed(id, parent, name);
        if is_dir(&st) {
            self.resolver.drop_cached(id);
        }
        // A directory has one name; a file with one link had its last (the kernel holds
        // the file's inode lock across the unlink, so no link through the mirror raced).
        if is_dir(&st) || st.st_nlink <= 1 {
            self.resolver.pin_until_forgotten(id, victim.fd, path);
        }
    }
}

/// The object a name holds, opened before an op removes or replaces the name: if that
/// is its last name, the fd keeps it (and its inode number) until the kernel forgets it.
struct Victim {
    fd: OwnedFd,
    st: FileStat,
}

impl From<(OwnedFd, FileStat)> for Victim {
    fn from((fd, st): (OwnedFd, FileStat)) -> Victim {
        Victim { fd, st }
    }
}

/// What a handle made with the host open flags `oflags` may do.
fn handle_mode(oflags: OFlag) -> HandleMode {
    if oflags.contains(OFlag::O_WRONLY) || oflags.contains(OFlag::O_RDWR) {
        HandleMode::Write
    } else {
        HandleMode::Read
    }
}

/// The kernel already applied the build's umask; the daemon's must not mask again.
fn own_umask() -> OpResult<()> {
    sys::zero_umask_for_this_thread().host()
}
