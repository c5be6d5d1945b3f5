//! `impl fuser::Filesystem`: decode each request, route it (`route.rs`: the host ops
//! or a virtual file) naming the objects it is about, reply with its result. No logic
//! lives here; every reply is made by the helpers in [`reply`].

use std::ffi::OsStr;
use std::io;
use std::path::Path;
use std::time::SystemTime;

use fuser::{
    AccessFlags, BsdFileFlags, CopyFileRangeFlags, Errno, FileHandle, Filesystem, Generation,
    INodeNo, KernelConfig, LockOwner, OpenFlags, RenameFlags, ReplyAttr, ReplyCreate, ReplyData,
    ReplyDirectory, ReplyDirectoryPlus, ReplyEmpty, ReplyEntry, ReplyLseek, ReplyOpen, ReplyStatfs,
    ReplyWrite, ReplyXattr, Request, TimeOrNow, WriteFlags,
};

mod reply;

use super::Mirror;
use super::cache;
use super::ops::create::Remove;
use super::ops::entry::SetAttr;
use super::stats::Opcode;
use super::virtual_files::Object;
use reply::{attr, created, empty, entry, fill, written, xattr};

impl Filesystem for Mirror {
    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> io::Result<()> {
        cache::init_capabilities(config);
        Ok(())
    }

    fn lookup(&self, req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        entry(reply, self.route_lookup(req, parent.0, name));
    }

    // batch_forget: fuser's default calls this for each node (its item type,
    // is not exported by fuser 0.18.0, so it cannot be overridden).
    fn forget(&self, req: &Request, ino: INodeNo, nlookup: u64) {
        self.route_forget(req, ino.0, nlookup);
    }

    fn getattr(&self, req: &Request, ino: INodeNo, fh: Option<FileHandle>, reply: ReplyAttr) {
        attr(reply, self.route_getattr(req, ino.0, fh.map(|f| f.0)));
    }

    fn setattr(
        &self,
        req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let set = SetAttr {
            mode,
            uid,
            gid,
            size,
            atime,
            mtime,
            fh: fh.map(|f| f.0),
        };
        attr(reply, self.route_setattr(req, ino.0, set));
    }

    fn readlink(&self, req: &Request, ino: INodeNo, reply: ReplyData) {
        match self.host_op(req, Opcode::Readlink, &[Object::Node(ino.0)], |c| {
            c.op_readlink(ino.0)
        }) {
            Ok(target) => reply.data(&target),
            Err(e) => reply.error(e),
        }
    }

    fn mknod(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        rdev: u32,
        reply: ReplyEntry,
    ) {
        entry(
            reply,
            self.host_op(req, Opcode::Mknod, &[Object::Entry(parent.0, name)], |c| {
                c.op_mknod(parent.0, name, mode, rdev)
            }),
        );
    }

    fn mkdir(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        reply: ReplyEntry,
    ) {
        entry(
            reply,
            self.host_op(req, Opcode::Mkdir, &[Object::Entry(parent.0, name)], |c| {
                c.op_mkdir(parent.0, name, mode)
            }),
        );
    }

    fn unlink(&self, req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        empty(
            reply,
            self.host_op(req, Opcode::Unlink, &[Object::Entry(parent.0, name)], |c| {
                c.op_remove(parent.0, name, Remove::File)
            }),
        );
    }

    fn rmdir(&self, req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        empty(
            reply,
            self.host_op(req, Opcode::Rmdir, &[Object::Entry(parent.0, name)], |c| {
                c.op_remove(parent.0, name, Remove::Dir)
            }),
        );
    }

    fn symlink(
        &self,
        req: &Request,
        parent: INodeNo,
        link_name: &OsStr,
        target: &Path,
        reply: ReplyEntry,
    ) {
        entry(
            reply,
            self.host_op(
                req,
                Opcode::Symlink,
                &[Object::Entry(parent.0, link_name)],
                |c| c.op_symlink(parent.0, link_name, target),
            ),
        );
    }

    fn rename(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        empty(
            reply,
            self.host_op(
                req,
                Opcode::Rename,
                &[
                    Object::Entry(parent.0, name),
                    Object::Entry(newparent.0, newname),
                ],
                |c| c.op_rename(parent.0, name, newparent.0, newname, flags),
            ),
        );
    }

    fn link(
        &self,
        req: &Request,
        ino: INodeNo,
        newparent: INodeNo,
        newname: &OsStr,
        reply: ReplyEntry,
    ) {
        entry(
            reply,
            self.host_op(
                req,
                Opcode::Link,
                &[Object::Node(ino.0), Object::Entry(newparent.0, newname)],
                |c| c.op_link(ino.0, newparent.0, newname),
            ),
        );
    }

    fn open(&self, req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        match self.route_open(req, ino.0, flags.0) {
            Ok((fh, io)) => reply.opened(FileHandle(fh), cache::file_open_flags(io)),
            Err(e) => reply.error(e),
        }
    }

    fn read(
        &self,
        req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        match self.route_read(req, ino.0, fh.0, offset, size) {
            Ok(data) => reply.data(&data),
            Err(e) => reply.error(e),
        }
    }

    fn write(
        &self,
        req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        written(reply, self.route_write(req, ino.0, fh.0, offset, data));
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        self.requests.add(Opcode::Flush);
        // Data goes to the host at each write; nothing is buffered here. ENOSYS tells
        // the kernel so once: it then stops sending a flush at every close.
        reply.error(Errno::ENOSYS);
    }

    fn release(
        &self,
        req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        self.route_release(req, fh.0);
        reply.ok();
    }

    fn fsync(
        &self,
        req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        datasync: bool,
        reply: ReplyEmpty,
    ) {
        empty(
            reply,
            self.host_op(req, Opcode::Fsync, &[Object::Handle(fh.0)], |c| {
                c.op_fsync(ino.0, fh.0, datasync)
            }),
        );
    }

    fn opendir(&self, req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        match self.host_op(req, Opcode::Opendir, &[Object::Dir(ino.0)], |c| {
            c.op_opendir(ino.0)
        }) {
            Ok((fh, unchanged)) => reply.opened(FileHandle(fh), cache::dir_open_flags(unchanged)),
            Err(e) => reply.error(e),
        }
    }

    fn readdir(
        &self,
        req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let r = self.host_op(req, Opcode::Readdir, &[Object::Handle(fh.0)], |c| {
            c.op_readdir(ino.0, fh.0, offset, |e| {
                fill(reply.add(INodeNo(e.id), e.next, e.kind, e.name))
            })
        });
        match r {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn readdirplus(
        &self,
        req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectoryPlus,
    ) {
        let r = self.host_op(req, Opcode::Readdirplus, &[Object::Handle(fh.0)], |c| {
            c.op_readdirplus(ino.0, fh.0, offset, |e| {
                fill(reply.add(
                    e.entry.attr.ino,
                    e.next,
                    e.name,
                    // One TTL for both in fuser's readdirplus reply: the short one.
                    &e.entry.ttls.attr,
                    &e.entry.attr,
                    Generation(e.entry.generation),
                ))
            })
        });
        match r {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn releasedir(
        &self,
        req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        reply: ReplyEmpty,
    ) {
        let _ = self.host_op(req, Opcode::Releasedir, &[Object::Handle(fh.0)], |c| {
            c.op_release(fh.0);
            Ok(())
        });
        reply.ok();
    }

    fn fsyncdir(
        &self,
        req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        datasync: bool,
        reply: ReplyEmpty,
    ) {
        empty(
            reply,
            self.host_op(req, Opcode::Fsyncdir, &[Object::Handle(fh.0)], |c| {
                c.op_fsync(ino.0, fh.0, datasync)
            }),
        );
    }

    fn statfs(&self, req: &Request, ino: INodeNo, reply: ReplyStatfs) {
        match self.route_statfs(req, ino.0) {
            Ok(s) => reply.statfs(
                s.blocks(),
                s.blocks_free(),
                s.blocks_available(),
                s.files(),
                s.files_free(),
                s.block_size() as u32,
                s.name_max() as u32,
                s.fragment_size() as u32,
            ),
            Err(e) => reply.error(e),
        }
    }

    fn setxattr(
        &self,
        req: &Request,
        ino: INodeNo,
        name: &OsStr,
        value: &[u8],
        flags: i32,
        _position: u32,
        reply: ReplyEmpty,
    ) {
        empty(
            reply,
            self.host_op(req, Opcode::Setxattr, &[Object::Node(ino.0)], |c| {
                c.op_setxattr(ino.0, name, value, flags)
            }),
        );
    }

    fn getxattr(&self, req: &Request, ino: INodeNo, name: &OsStr, size: u32, reply: ReplyXattr) {
        xattr(
            reply,
            self.host_op(req, Opcode::Getxattr, &[Object::Node(ino.0)], |c| {
                c.op_getxattr(ino.0, name, size)
            }),
        );
    }

    fn listxattr(&self, req: &Request, ino: INodeNo, size: u32, reply: ReplyXattr) {
        xattr(
            reply,
            self.host_op(req, Opcode::Listxattr, &[Object::Node(ino.0)], |c| {
                c.op_listxattr(ino.0, size)
            }),
        );
    }

    fn removexattr(&self, req: &Request, ino: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        empty(
            reply,
            self.host_op(req, Opcode::Removexattr, &[Object::Node(ino.0)], |c| {
                c.op_removexattr(ino.0, name)
            }),
        );
    }

    fn access(&self, req: &Request, ino: INodeNo, mask: AccessFlags, reply: ReplyEmpty) {
        empty(reply, self.route_access(req, ino.0, mask));
    }

    fn create(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        created(
            reply,
            self.host_op(req, Opcode::Create, &[Object::Entry(parent.0, name)], |c| {
                c.op_create(parent.0, name, mode, flags)
            }),
        );
    }

    fn tmpfile(
        &self,
        req: &Request,
        parent: INodeNo,
        mode: u32,
        _umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        created(
            reply,
            self.host_op(req, Opcode::Tmpfile, &[Object::Dir(parent.0)], |c| {
                c.op_tmpfile(parent.0, mode, flags)
            }),
        );
    }

    fn fallocate(
        &self,
        req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        length: u64,
        mode: i32,
        reply: ReplyEmpty,
    ) {
        empty(
            reply,
            self.host_op(req, Opcode::Fallocate, &[Object::Handle(fh.0)], |c| {
                c.op_fallocate(ino.0, fh.0, offset, length, mode)
            }),
        );
    }

    fn lseek(
        &self,
        req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: i64,
        whence: i32,
        reply: ReplyLseek,
    ) {
        match self.host_op(req, Opcode::Lseek, &[Object::Handle(fh.0)], |c| {
            c.op_lseek(ino.0, fh.0, offset, whence)
        }) {
            Ok(off) => reply.offset(off),
            Err(e) => reply.error(e),
        }
    }

    fn copy_file_range(
        &self,
        req: &Request,
        ino_in: INodeNo,
        fh_in: FileHandle,
        offset_in: u64,
        ino_out: INodeNo,
        fh_out: FileHandle,
        offset_out: u64,
        len: u64,
        flags: CopyFileRangeFlags,
        reply: ReplyWrite,
    ) {
        if !flags.is_empty() {
            return reply.error(Errno::EINVAL);
        }
        written(
            reply,
            self.host_op(
                req,
                Opcode::CopyFileRange,
                &[Object::Handle(fh_in.0), Object::Handle(fh_out.0)],
                |c| {
                    c.op_copy_file_range(
                        ino_in.0, fh_in.0, offset_in, ino_out.0, fh_out.0, offset_out, len,
                    )
                },
            ),
        );
    }
}
