//! Directory streams: opendir, readdir, readdirplus, releasedir, fsyncdir.
//!
//! Offsets are the host's own `d_off` cookies: the stream is re-positioned with lseek
//! before every getdents64, so a listing resumes exactly where the kernel asks, however
//! the requests interleave.

use std::ffi::OsStr;
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;

use fuser::{Errno, FileType};
use nix::fcntl::{AtFlags, OFlag, openat};
use nix::sys::stat::{Mode, fstat, fstatat};
use nix::unistd::{Whence, lseek};

use super::Call;
use crate::audit::Op;
use crate::mirror::attr::kind_of_stat;
use crate::mirror::errno::{HostResult, OpResult};
use crate::mirror::handle::{Handle, Mode as HandleMode};
use crate::mirror::inode::{ContentVersion, HostId, ROOT_ID};
use crate::mirror::resolve::EntryOut;
use crate::mirror::sys;

/// One directory entry as read from the host (its name borrowed from the buffer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dirent<'a> {
    pub ino: u64,
    /// The offset to resume after this entry.
    pub next: u64,
    pub d_type: u8,
    pub name: &'a OsStr,
}

/// What the reply buffer said when given an entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fill {
    Added,
    Full,
}

/// An entry for readdir: (node id, offset, type, name).
pub struct Listed<'a> {
    pub id: u64,
    pub next: u64,
    pub kind: FileType,
    pub name: &'a OsStr,
}

/// An entry for readdirplus: the entry reply too (None for "." and "..", which the
/// kernel neither looks up nor counts).
pub struct ListedPlus<'a> {
    pub next: u64,
    pub name: &'a OsStr,
    pub entry: EntryOut,
}

const GETDENTS_BUF: usize = 32 * 1024;

thread_local! {
    /// Each reader thread's getdents buffer, allocated (and zeroed) once, not per
    /// request (docs/decisions.md, "Directory listings").
    static GETDENTS: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0; GETDENTS_BUF]);
}

impl Call<'_> {
    /// Opens a directory stream; returns the fh and whether the kernel may keep the
    /// listing it cached at the last opendir (the directory is unchanged since).
    pub(crate) fn op_opendir(&self, id: u64) -> OpResult<(u64, bool)> {
        let at = self.resolver.node(id, self.check(Op::Opendir))?;
        let unchanged = self
            .resolver
            .store()
            .opened_unchanged(id, ContentVersion::of(&at.node.stat));
        // "." from the O_PATH fd: a readable fd of the verified directory itself.
        let fd = openat(
            at.node.fd.as_fd(),
            ".",
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .host()?;
        let fh = self
            .handles
            .insert(Handle::new(id, fd, HandleMode::Dir, at.path));
        Ok((fh, unchanged))
    }

    pub(crate) fn op_readdir(
        &self,
        id: u64,
        fh: u64,
        offset: u64,
        mut add: impl FnMut(Listed<'_>) -> Fill,
    ) -> OpResult<()> {
        let h = self.dir_handle(fh, id)?;
        let dir_st = fstat(h.fd()).host()?;
        let host = HostId::from_stat(&dir_st);
        self.each_dirent(&h, host, offset, |d| {
            let id = self.dirent_id(id, host, d);
            let kind = dirent_kind(&h, d)?;
            Ok(add(Listed {
                id,
                next: d.next,
                kind,
                name: d.name,
            }))
        })
    }

    /// readdir that also looks every entry up (each counts as a lookup, which is
    /// undone if the reply buffer had no room for it).
    pub(crate) fn op_readdirplus(
        &self,
        id: u64,
        fh: u64,
        offset: u64,
        mut add: impl FnMut(ListedPlus<'_>) -> Fill,
    ) -> OpResult<()> {
        let h = self.dir_handle(fh, id)?;
        // Judged at opendir; here it is only seen (traced) as one readdir, its names
        // looked up as a step of it.
        let dir = self.resolver.dir(id, self.seen(Op::Readdir))?;
        let host = dir.host();
        self.each_dirent(&h, host, offset, |d| {
            if is_dot(d.name) {
                // Not looked up by the kernel: any attributes do (the directory's own,
                // taken only for the listing's first reply), ino for show.
                let mut attr = self
                    .resolver
                    .attr(id, &fstat(h.fd()).host()?, FileType::Directory);
                attr.ino = fuser::INodeNo(self.dirent_id(id, host, d));
                let entry = EntryOut {
                    attr,
                    generation: 0,
                    ttls: self.resolver.freshness().ttls(),
                };
                return Ok(add(ListedPlus {
                    next: d.next,
                    name: d.name,
                    entry,
                }));
            }
            let entry = match self.resolver.lookup_listed(id, &dir, d.name) {
                Ok(entry) => entry,
                // Gone since getdents, or not to be looked at: leave it out.
                Err(_) => return Ok(Fill::Added),
            };
            let fill = add(ListedPlus {
                next: d.next,
                name: d.name,
                entry,
            });
            if fill == Fill::Full {
                self.resolver.forget(entry.attr.ino.0, 1);
            }
            Ok(fill)
        })
    }

    fn dir_handle(&self, fh: u64, id: u64) -> OpResult<std::sync::Arc<Handle>> {
        let h = self.handles.get(fh, id)?;
        if h.mode() != HandleMode::Dir {
            return Err(Errno::EBADF);
        }
        Ok(h)
    }

    /// Calls `f` on each entry from `offset` until it reports a full buffer or the
    /// directory ends. A hidden directory lists only "." and "..".
    fn each_dirent(
        &self,
        h: &Handle,
        dir: HostId,
        offset: u64,
        mut f: impl FnMut(&Dirent) -> OpResult<Fill>,
    ) -> OpResult<()> {
        if self.resolver.is_hidden(dir, h.path()) {
            for d in dots().iter().skip(offset.min(2) as usize) {
                if f(d)? == Fill::Full {
                    break;
                }
            }
            return Ok(());
        }
        let _cursor = h.lock_cursor();
        let start = i64::try_from(offset).map_err(|_| Errno::EINVAL)?;
        lseek(h.fd(), start, Whence::SeekSet).host()?;
        GETDENTS.with(|spare| {
            // Never borrowed twice (no listing is read inside another), but a fresh
            // buffer would do if it were.
            let mut fresh = Vec::new();
            let mut spare = spare.try_borrow_mut();
            let buf = match spare.as_deref_mut() {
                Ok(buf) => buf,
                Err(_) => {
                    fresh.resize(GETDENTS_BUF, 0);
                    &mut fresh
                }
            };
            loop {
                let n = sys::getdents64(h.fd(), buf).host()?;
                if n == 0 {
                    return Ok(());
                }
                for d in parse_dirents(&buf[..n]) {
                    if f(&d)? == Fill::Full {
                        return Ok(());
                    }
                }
            }
        })
    }

    /// The node id an entry has this session: "." and ".." are the directory and its
    /// parent; other entries derive theirs from (directory's device, d_ino).
    fn dirent_id(&self, dir_id: u64, dir: HostId, d: &Dirent) -> u64 {
        match d.name.as_bytes() {
            b"." => dir_id,
            b".." => self.resolver.store().parent_of(dir_id).unwrap_or(ROOT_ID),
            _ => self.resolver.id_of(HostId {
                dev: dir.dev,
                ino: d.ino,
            }),
        }
    }
}

/// The type of an entry; filesystems that do not fill d_type get an lstat.
fn dirent_kind(h: &Handle, d: &Dirent) -> OpResult<FileType> {
    let kind = match d.d_type {
        libc::DT_REG => FileType::RegularFile,
        libc::DT_DIR => FileType::Directory,
        libc::DT_LNK => FileType::Symlink,
        libc::DT_FIFO => FileType::NamedPipe,
        libc::DT_SOCK => FileType::Socket,
        libc::DT_CHR => FileType::CharDevice,
        libc::DT_BLK => FileType::BlockDevice,
        _ => {
            let st = fstatat(h.fd(), d.name, AtFlags::AT_SYMLINK_NOFOLLOW).host()?;
            return kind_of_stat(&st);
        }
    };
    Ok(kind)
}

fn is_dot(name: &OsStr) -> bool {
    matches!(name.as_bytes(), b"." | b"..")
}

/// The whole listing of a hidden directory.
fn dots() -> [Dirent<'static>; 2] {
    let dot = |name: &'static str, next| Dirent {
        ino: 0,
        next,
        d_type: libc::DT_DIR,
        name: OsStr::new(name),
    };
    [dot(".", 1), dot("..", 2)]
}

/// Parses `struct linux_dirent64` records: u64 ino, i64 off, u16 reclen, u8 type,
/// NUL-terminated name. Stops at the first malformed record.
pub fn parse_dirents(buf: &[u8]) -> impl Iterator<Item = Dirent<'_>> {
    const HEADER: usize = 19;
    let mut pos = 0;
    std::iter::from_fn(move || {
        if pos + HEADER > buf.len() {
            return None;
        }
        let rec = &buf[pos..];
        let u64_at = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&rec[i..i + 8]);
            u64::from_ne_bytes(b)
        };
        let reclen = usize::from(u16::from_ne_bytes([rec[16], rec[17]]));
        if reclen < HEADER || pos + reclen > buf.len() {
            return None;
        }
        let name = &rec[HEADER..reclen];
        let name = &name[..name.iter().position(|&b| b == 0).unwrap_or(name.len())];
        let d = Dirent {
            ino: u64_at(0),
            next: u64_at(8),
            d_type: rec[18],
            name: OsStr::from_bytes(name),
        };
        pos += reclen;
        Some(d)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(ino: u64, off: u64, t: u8, name: &str) -> Vec<u8> {
        let mut r = Vec::new();
        r.extend_from_slice(&ino.to_ne_bytes());
        r.extend_from_slice(&off.to_ne_bytes());
        let len = (19 + name.len() + 1).next_multiple_of(8);
        r.extend_from_slice(&(len as u16).to_ne_bytes());
        r.push(t);
        r.extend_from_slice(name.as_bytes());
        r.resize(len, 0);
        r
    }

    #[test]
    fn parses_getdents_records() {
        let mut buf = record(5, 10, libc::DT_REG, "a.txt");
        buf.extend(record(6, 20, libc::DT_DIR, "sub"));
        let ds: Vec<_> = parse_dirents(&buf).collect();
        assert_eq!(ds.len(), 2);
        assert_eq!(ds[0].name, "a.txt");
        assert_eq!((ds[0].ino, ds[0].next, ds[0].d_type), (5, 10, libc::DT_REG));
        assert_eq!(ds[1].name, "sub");
    }

    #[test]
    fn stops_at_a_truncated_record() {
        let mut buf = record(5, 10, libc::DT_REG, "a");
        let full = buf.len();
        buf.extend(record(6, 20, libc::DT_DIR, "b"));
        assert_eq!(parse_dirents(&buf[..full + 10]).count(), 1);
    }
}
