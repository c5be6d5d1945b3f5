//! Directory listings: readdir, readdirplus, fsyncdir — without directory handles.
//!
//! opendir answers ENOSYS, which tells the kernel once for the whole session that
//! directories need no open: it then sends neither opendir nor releasedir, two round
//! trips fewer for every directory listed (a third of all requests in a `find`). Each
//! listing request opens the directory afresh and resumes at the kernel's offset, which
//! is the host's own `d_off` cookie (lseek before getdents64). The listing's start
//! (offset 0) is where the policy judges it, as `opendir`.

use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use fuser::{Errno, FileType};
use nix::fcntl::{AtFlags, OFlag, openat};
use nix::sys::stat::{FileStat, Mode, fstatat};
use nix::unistd::{Whence, lseek};

use super::Call;
use crate::audit::Op;
use crate::mirror::attr::kind_of_stat;
use crate::mirror::errno::{HostResult, OpResult};
use crate::mirror::inode::{HostId, ROOT_ID};
use crate::mirror::resolve::Check;
use crate::mirror::resolve::{EntryOut, NodeAt};
use crate::mirror::sys;

/// One directory entry as read from the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dirent {
    pub ino: u64,
    /// The offset to resume after this entry.
    pub next: u64,
    pub d_type: u8,
    pub name: OsString,
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

impl Call<'_> {
    /// The listing of directory `id` from `offset`: judged at its start, only seen
    /// (traced) as a readdir when it goes on.
    fn listing(&self, id: u64, offset: u64) -> OpResult<Listing> {
        let check = if offset == 0 {
            self.check(Op::Opendir)
        } else {
            self.seen(Op::Readdir)
        };
        self.open_dir(id, check)
    }

    fn open_dir(&self, id: u64, check: Check) -> OpResult<Listing> {
        let dir = self.res.node(id, check)?;
        // "." from the O_PATH fd: a readable fd of the verified directory itself.
        let fd = openat(
            dir.node.fd.as_fd(),
            ".",
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .host()?;
        Ok(Listing { dir, fd })
    }

    pub(crate) fn op_readdir(
        &self,
        id: u64,
        offset: u64,
        mut add: impl FnMut(Listed<'_>) -> Fill,
    ) -> OpResult<()> {
        let listing = self.listing(id, offset)?;
        let dir_st = listing.dir.node.stat;
        self.each_dirent(&listing, offset, |d| {
            let id = self.dirent_id(id, &dir_st, d);
            let kind = dirent_kind(listing.fd.as_fd(), d)?;
            Ok(add(Listed {
                id,
                next: d.next,
                kind,
                name: &d.name,
            }))
        })
    }

    /// readdir that also looks every entry up (each counts as a lookup, which is
    /// undone if the reply buffer had no room for it).
    pub(crate) fn op_readdirplus(
        &self,
        id: u64,
        offset: u64,
        mut add: impl FnMut(ListedPlus<'_>) -> Fill,
    ) -> OpResult<()> {
        let listing = self.listing(id, offset)?;
        let dir = &listing.dir;
        let dir_st = dir.node.stat;
        // Its names are looked up as a step of the listing: not judged, not traced.
        self.each_dirent(&listing, offset, |d| {
            if is_dot(&d.name) {
                // Not looked up by the kernel: any attributes do, ino for show.
                let mut attr = self.res.attr(id, &dir_st, FileType::Directory);
                attr.ino = fuser::INodeNo(self.dirent_id(id, &dir_st, d));
                let entry = EntryOut {
                    attr,
                    generation: 0,
                    ttl: self.res.freshness().ttl(),
                };
                return Ok(add(ListedPlus {
                    next: d.next,
                    name: &d.name,
                    entry,
                }));
            }
            let entry = match self
                .res
                .child_of(dir, &d.name, Check::Internal)
                .and_then(|e| self.res.lookup_at(id, &e))
            {
                Ok(entry) => entry,
                // Gone since getdents, or not to be looked at: leave it out.
                Err(_) => return Ok(Fill::Added),
            };
            let fill = add(ListedPlus {
                next: d.next,
                name: &d.name,
                entry,
            });
            if fill == Fill::Full {
                self.res.forget(entry.attr.ino.0, 1);
            }
            Ok(fill)
        })
    }

    /// fsync(2) of a directory, through a fresh fd of it.
    pub(crate) fn op_fsyncdir(&self, id: u64, datasync: bool) -> OpResult<()> {
        let listing = self.open_dir(id, Check::Internal)?;
        if datasync {
            nix::unistd::fdatasync(listing.fd.as_fd()).host()
        } else {
            nix::unistd::fsync(listing.fd.as_fd()).host()
        }
    }

    /// Calls `f` on each entry from `offset` until it reports a full buffer or the
    /// directory ends. A hidden directory lists only "." and "..".
    fn each_dirent(
        &self,
        listing: &Listing,
        offset: u64,
        mut f: impl FnMut(&Dirent) -> OpResult<Fill>,
    ) -> OpResult<()> {
        if self.res.is_hidden(&listing.dir.node.stat) {
            for d in dots().iter().skip(offset.min(2) as usize) {
                if f(d)? == Fill::Full {
                    break;
                }
            }
            return Ok(());
        }
        let start = i64::try_from(offset).map_err(|_| Errno::EINVAL)?;
        if start != 0 {
            lseek(listing.fd.as_fd(), start, Whence::SeekSet).host()?;
        }
        let mut buf = vec![0u8; GETDENTS_BUF];
        loop {
            let n = sys::getdents64(listing.fd.as_fd(), &mut buf).host()?;
            if n == 0 {
                return Ok(());
            }
            for d in parse_dirents(&buf[..n]) {
                if f(&d)? == Fill::Full {
                    return Ok(());
                }
            }
        }
    }

    /// The node id an entry has this session: "." and ".." are the directory and its
    /// parent; other entries derive theirs from (directory's device, d_ino).
    fn dirent_id(&self, dir_id: u64, dir_st: &FileStat, d: &Dirent) -> u64 {
        match d.name.as_bytes() {
            b"." => dir_id,
            b".." => self.res.store().parent_of(dir_id).unwrap_or(ROOT_ID),
            _ => self.res.id_of(HostId {
                dev: dir_st.st_dev,
                ino: d.ino,
            }),
        }
    }
}

/// A directory being listed: the verified node and a readable fd of it.
struct Listing {
    dir: NodeAt,
    fd: OwnedFd,
}

/// The type of an entry; filesystems that do not fill d_type get an lstat.
fn dirent_kind(dir: BorrowedFd<'_>, d: &Dirent) -> OpResult<FileType> {
    let kind = match d.d_type {
        libc::DT_REG => FileType::RegularFile,
        libc::DT_DIR => FileType::Directory,
        libc::DT_LNK => FileType::Symlink,
        libc::DT_FIFO => FileType::NamedPipe,
        libc::DT_SOCK => FileType::Socket,
        libc::DT_CHR => FileType::CharDevice,
        libc::DT_BLK => FileType::BlockDevice,
        _ => {
            let st = fstatat(dir, d.name.as_os_str(), AtFlags::AT_SYMLINK_NOFOLLOW).host()?;
            return kind_of_stat(&st);
        }
    };
    Ok(kind)
}

fn is_dot(name: &OsStr) -> bool {
    matches!(name.as_bytes(), b"." | b"..")
}

/// The whole listing of a hidden directory.
fn dots() -> [Dirent; 2] {
    let dot = |name: &str, next| Dirent {
        ino: 0,
        next,
        d_type: libc::DT_DIR,
        name: OsString::from(name),
    };
    [dot(".", 1), dot("..", 2)]
}

/// Parses `struct linux_dirent64` records: u64 ino, i64 off, u16 reclen, u8 type,
/// NUL-terminated name. Stops at the first malformed record.
pub fn parse_dirents(buf: &[u8]) -> Vec<Dirent> {
    const HEADER: usize = 19;
    let mut out = Vec::new();
    let mut pos = 0;
    while pos + HEADER <= buf.len() {
        let rec = &buf[pos..];
        let u64_at = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&rec[i..i + 8]);
            u64::from_ne_bytes(b)
        };
        let reclen = usize::from(u16::from_ne_bytes([rec[16], rec[17]]));
        if reclen < HEADER || pos + reclen > buf.len() {
            break;
        }
        let name = &rec[HEADER..reclen];
        let name = &name[..name.iter().position(|&b| b == 0).unwrap_or(name.len())];
        out.push(Dirent {
            ino: u64_at(0),
            next: u64_at(8),
            d_type: rec[18],
            name: OsStr::from_bytes(name).to_owned(),
        });
        pos += reclen;
    }
    out
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
        let ds = parse_dirents(&buf);
        assert_eq!(ds.len(), 2);
        assert_eq!(ds[0].name, OsString::from("a.txt"));
        assert_eq!((ds[0].ino, ds[0].next, ds[0].d_type), (5, 10, libc::DT_REG));
        assert_eq!(ds[1].name, OsString::from("sub"));
    }

    #[test]
    fn stops_at_a_truncated_record() {
        let mut buf = record(5, 10, libc::DT_REG, "a");
        let full = buf.len();
        buf.extend(record(6, 20, libc::DT_DIR, "b"));
        assert_eq!(parse_dirents(&buf[..full + 10]).len(), 1);
    }
}
