//! Ops on file contents through a handle: open, read, write, flush, release, fsync,
//! fallocate, lseek, copy_file_range.

use std::os::fd::AsFd;

use fuser::Errno;
use nix::fcntl::{FallocateFlags, OFlag, fallocate};
use nix::sys::statfs::fstatfs;
use nix::sys::uio::{pread, pwrite};
use nix::unistd::{Whence, fdatasync, fsync, lseek};

use super::Call;
use crate::audit::Op;
use crate::mirror::cache::{FileIo, file_io_for};
use crate::mirror::errno::{HostResult, OpResult};
use crate::mirror::handle::{Handle, Mode as HandleMode};
use crate::mirror::inode::ContentVersion;
use crate::mirror::sys;

/// Whether open flags ask to change the file.
pub(crate) fn writes(flags: i32) -> bool {
    let acc = flags & libc::O_ACCMODE;
    acc == libc::O_WRONLY || acc == libc::O_RDWR || flags & libc::O_TRUNC != 0
}

/// The flags the host open gets: the build's, minus those the kernel has already
/// handled (O_CREAT/O_EXCL/O_NOCTTY; O_NOFOLLOW: the mirror never follows the final
/// name, and the /proc reopen must follow its magic link),
/// minus O_DIRECT (FUSE buffers are not aligned for it), plus O_CLOEXEC.
pub(crate) fn host_open_flags(flags: i32) -> OFlag {
    let strip = OFlag::O_CREAT
        | OFlag::O_EXCL
        | OFlag::O_NOCTTY
        | OFlag::O_NOFOLLOW
        | OFlag::O_DIRECT
        | OFlag::O_PATH
        | OFlag::O_CLOEXEC;
    (OFlag::from_bits_truncate(flags) - strip) | OFlag::O_CLOEXEC
}

/// What one copy_file_range copies: `len` bytes from handle `fh_in` of node `id_in`
/// to handle `fh_out` of node `id_out`.
#[derive(Clone, Copy, Debug)]
pub struct CopyRange {
    pub id_in: u64,
    pub fh_in: u64,
    pub offset_in: u64,
    pub id_out: u64,
    pub fh_out: u64,
    pub offset_out: u64,
    pub len: u64,
}

/// `__FMODE_EXEC`: set in the open flags FUSE sends when the kernel opens a file to
/// execute it (include/linux/fs.h; not in libc).
const FMODE_EXEC: i32 = 0x20;

impl Call<'_> {
    /// Opens a regular file; returns the fh and how the kernel should do I/O on it.
    pub(crate) fn op_open(&self, id: u64, flags: i32) -> OpResult<(u64, FileIo)> {
        let write = writes(flags);
        let op = match write {
            true => Op::OpenWr,
            // The kernel's own open of a program (or its ELF interpreter) to run it.
            false if flags & FMODE_EXEC != 0 => Op::Execve,
            false => Op::OpenRd,
        };
        let at = self
            .resolver
            .open_file(id, self.check(op), host_open_flags(flags))?;
        let mode = if write && flags & libc::O_ACCMODE != libc::O_RDONLY {
            HandleMode::Write
        } else {
            HandleMode::Read
        };
        let io = match file_io_for(&at.stat, || fstatfs(at.fd.as_fd())).host()? {
            FileIo::Cached { .. } => FileIo::Cached {
                keep: self
                    .resolver
                    .store()
                    .opened_unchanged(id, ContentVersion::of(&at.stat)),
            },
            direct => direct,
        };
        let fh = self.handles.insert(Handle::new(id, at.fd, mode, at.path));
        Ok((fh, io))
    }

    pub(crate) fn op_read(&self, id: u64, fh: u64, offset: u64, size: u32) -> OpResult<Vec<u8>> {
        let h = self.handles.get(fh, id)?;
        let mut buf = vec![0u8; size as usize];
        let mut done = 0;
        // Short reads only at EOF: the kernel zero-fills whatever is missing.
        while done < buf.len() {
            let off = offset_at(offset, done)?;
            match pread(h.fd(), &mut buf[done..], off) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(crate::mirror::errno::from_nix(e)),
            }
        }
        buf.truncate(done);
        Ok(buf)
    }

    /// pwrite; on an O_APPEND fd Linux appends whatever the offset, which is what
    /// O_APPEND needs when the kernel's idea of the size is stale.
    pub(crate) fn op_write(&self, id: u64, fh: u64, offset: u64, data: &[u8]) -> OpResult<u32> {
        let h = self.writable(fh, id)?;
        let mut done = 0;
        while done < data.len() {
            let off = offset_at(offset, done)?;
            match pwrite(h.fd(), &data[done..], off) {
                Ok(0) => return Err(Errno::EIO),
                Ok(n) => done += n,
                Err(nix::errno::Errno::EINTR) => continue,
                // Part was written: report that much, as write(2) would.
                Err(_) if done > 0 => break,
                Err(e) => return Err(crate::mirror::errno::from_nix(e)),
            }
        }
        u32::try_from(done).map_err(|_| Errno::EIO)
    }

    /// fsync and fsyncdir.
    pub(crate) fn op_fsync(&self, id: u64, fh: u64, datasync: bool) -> OpResult<()> {
        let h = self.handles.get(fh, id)?;
        if datasync {
            fdatasync(h.fd()).host()
        } else {
            fsync(h.fd()).host()
        }
    }

    pub(crate) fn op_fallocate(
        &self,
        id: u64,
        fh: u64,
        offset: u64,
        length: u64,
        mode: i32,
    ) -> OpResult<()> {
        let h = self.writable(fh, id)?;
        let offset = i64::try_from(offset).map_err(|_| Errno::EINVAL)?;
        let length = i64::try_from(length).map_err(|_| Errno::EINVAL)?;
        fallocate(
            h.fd(),
            FallocateFlags::from_bits_retain(mode),
            offset,
            length,
        )
        .host()
    }

    pub(crate) fn op_lseek(&self, id: u64, fh: u64, offset: i64, whence: i32) -> OpResult<i64> {
        let h = self.handles.get(fh, id)?;
        let whence = match whence {
            libc::SEEK_SET => Whence::SeekSet,
            libc::SEEK_CUR => Whence::SeekCur,
            libc::SEEK_END => Whence::SeekEnd,
            libc::SEEK_DATA => Whence::SeekData,
            libc::SEEK_HOLE => Whence::SeekHole,
            _ => return Err(Errno::EINVAL),
        };
        lseek(h.fd(), offset, whence).host()
    }

    pub(crate) fn op_copy_file_range(&self, range: CopyRange) -> OpResult<u32> {
        let src = self.handles.get(range.fh_in, range.id_in)?;
        let dst = self.writable(range.fh_out, range.id_out)?;
        let mut off_in = i64::try_from(range.offset_in).map_err(|_| Errno::EINVAL)?;
        let mut off_out = i64::try_from(range.offset_out).map_err(|_| Errno::EINVAL)?;
        // The reply carries a u32 count; a shorter copy is a valid answer.
        let len = range.len.min(u64::from(u32::MAX) & !0xfff) as usize;
        let n = sys::copy_file_range(src.fd(), &mut off_in, dst.fd(), &mut off_out, len).host()?;
        u32::try_from(n).map_err(|_| Errno::EIO)
    }

    /// A handle opened for writing. Its writes were judged when it was opened (judging
    /// each write again would report an `--audit`ed violation once per write).
    fn writable(&self, fh: u64, id: u64) -> OpResult<std::sync::Arc<Handle>> {
        let h = self.handles.get(fh, id)?;
        if h.mode() != HandleMode::Write {
            return Err(Errno::EBADF);
        }
        Ok(h)
    }
}

fn offset_at(offset: u64, done: usize) -> OpResult<i64> {
    offset
        .checked_add(done as u64)
        .and_then(|o| i64::try_from(o).ok())
        .ok_or(Errno::EINVAL)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_class_open_flags() {
        assert!(!writes(libc::O_RDONLY));
        assert!(writes(libc::O_WRONLY));
        assert!(writes(libc::O_RDWR | libc::O_APPEND));
        assert!(writes(libc::O_RDONLY | libc::O_TRUNC));
    }

    #[test]
    fn host_flags_keep_append_and_drop_create() {
        let f = host_open_flags(libc::O_WRONLY | libc::O_APPEND | libc::O_CREAT | libc::O_EXCL);
        assert!(f.contains(OFlag::O_APPEND | OFlag::O_WRONLY | OFlag::O_CLOEXEC));
        assert!(!f.intersects(OFlag::O_CREAT | OFlag::O_EXCL));
    }
}
