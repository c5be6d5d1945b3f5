//! `impl fuser::Filesystem`: decode each request into an op, reply with its result.
//! No logic lives here; every error reply goes through the helpers at the bottom.

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

use super::Mirror;
use super::cache;
use super::errno::OpResult;
use super::ops::create::Remove;
use super::ops::dir::Fill;
use super::ops::entry::SetAttr;
use super::ops::xattr::Xattr;
use super::resolve::{AttrOut, Caller, EntryOut};
use super::stats::Opcode;

impl Filesystem for Mirror {
    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> io::Result<()> {
        cache::init_capabilities(config);
        Ok(())
    }

    fn lookup(&self, req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        entry(
            reply,
            self.call(caller(req), Opcode::Lookup)
                .run(|c| c.op_lookup(parent.0, name)),
        );
    }

    // batch_forget: fuser's default calls this for each node (its item type,
    // is not exported by fuser 0.18.0, so it cannot be overridden).
    fn forget(&self, req: &Request, ino: INodeNo, nlookup: u64) {
        self.call(caller(req), Opcode::Forget)
            .op_forget(ino.0, nlookup);
    }

    fn getattr(&self, req: &Request, ino: INodeNo, fh: Option<FileHandle>, reply: ReplyAttr) {
        attr(
            reply,
            self.call(caller(req), Opcode::Getattr)
                .run(|c| c.op_getattr(ino.0, fh.map(|f| f.0))),
        );
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
        attr(
            reply,
            self.call(caller(req), Opcode::Setattr)
                .run(|c| c.op_setattr(ino.0, set)),
        );
    }

    fn readlink(&self, req: &Request, ino: INodeNo, reply: ReplyData) {
        match self
            .call(caller(req), Opcode::Readlink)
            .run(|c| c.op_readlink(ino.0))
        {
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
            self.call(caller(req), Opcode::Mknod)
                .run(|c| c.op_mknod(parent.0, name, mode, rdev)),
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
            self.call(caller(req), Opcode::Mkdir)
                .run(|c| c.op_mkdir(parent.0, name, mode)),
        );
    }

    fn unlink(&self, req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        empty(
            reply,
            self.call(caller(req), Opcode::Unlink)
                .run(|c| c.op_remove(parent.0, name, Remove::File)),
        );
    }

    fn rmdir(&self, req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        empty(
            reply,
            self.call(caller(req), Opcode::Rmdir)
                .run(|c| c.op_remove(parent.0, name, Remove::Dir)),
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
            self.call(caller(req), Opcode::Symlink)
                .run(|c| c.op_symlink(parent.0, link_name, target)),
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
            self.call(caller(req), Opcode::Rename)
                .run(|c| c.op_rename(parent.0, name, newparent.0, newname, flags)),
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
            self.call(caller(req), Opcode::Link)
                .run(|c| c.op_link(ino.0, newparent.0, newname)),
        );
    }

    fn open(&self, req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        match self
            .call(caller(req), Opcode::Open)
            .run(|c| c.op_open(ino.0, flags.0))
        {
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
        match self
            .call(caller(req), Opcode::Read)
            .run(|c| c.op_read(ino.0, fh.0, offset, size))
        {
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
        written(
            reply,
            self.call(caller(req), Opcode::Write)
                .run(|c| c.op_write(ino.0, fh.0, offset, data)),
        );
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
        self.call(caller(req), Opcode::Release).op_release(fh.0);
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
            self.call(caller(req), Opcode::Fsync)
                .run(|c| c.op_fsync(ino.0, fh.0, datasync)),
        );
    }

    fn opendir(&self, req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        match self
            .call(caller(req), Opcode::Opendir)
            .run(|c| c.op_opendir(ino.0))
        {
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
        let r = self.call(caller(req), Opcode::Readdir).run(|c| {
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
        let r = self.call(caller(req), Opcode::Readdirplus).run(|c| {
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
        self.call(caller(req), Opcode::Releasedir).op_release(fh.0);
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
            self.call(caller(req), Opcode::Fsyncdir)
                .run(|c| c.op_fsync(ino.0, fh.0, datasync)),
        );
    }

    fn statfs(&self, req: &Request, ino: INodeNo, reply: ReplyStatfs) {
        match self
            .call(caller(req), Opcode::Statfs)
            .run(|c| c.op_statfs(ino.0))
        {
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
            self.call(caller(req), Opcode::Setxattr)
                .run(|c| c.op_setxattr(ino.0, name, value, flags)),
        );
    }

    fn getxattr(&self, req: &Request, ino: INodeNo, name: &OsStr, size: u32, reply: ReplyXattr) {
        xattr(
            reply,
            self.call(caller(req), Opcode::Getxattr)
                .run(|c| c.op_getxattr(ino.0, name, size)),
        );
    }

    fn listxattr(&self, req: &Request, ino: INodeNo, size: u32, reply: ReplyXattr) {
        xattr(
            reply,
            self.call(caller(req), Opcode::Listxattr)
                .run(|c| c.op_listxattr(ino.0, size)),
        );
    }

    fn removexattr(&self, req: &Request, ino: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        empty(
            reply,
            self.call(caller(req), Opcode::Removexattr)
                .run(|c| c.op_removexattr(ino.0, name)),
        );
    }

    fn access(&self, req: &Request, ino: INodeNo, mask: AccessFlags, reply: ReplyEmpty) {
        empty(
            reply,
            self.call(caller(req), Opcode::Access)
                .run(|c| c.op_access(ino.0, mask)),
        );
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
            self.call(caller(req), Opcode::Create)
                .run(|c| c.op_create(parent.0, name, mode, flags)),
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
            self.call(caller(req), Opcode::Tmpfile)
                .run(|c| c.op_tmpfile(parent.0, mode, flags)),
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
            self.call(caller(req), Opcode::Fallocate)
                .run(|c| c.op_fallocate(ino.0, fh.0, offset, length, mode)),
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
        match self
            .call(caller(req), Opcode::Lseek)
            .run(|c| c.op_lseek(ino.0, fh.0, offset, whence))
        {
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
            self.call(caller(req), Opcode::CopyFileRange).run(|c| {
                c.op_copy_file_range(
                    ino_in.0, fh_in.0, offset_in, ino_out.0, fh_out.0, offset_out, len,
                )
            }),
        );
    }
}

/// Who made `req`: its thread id in the daemon's PID namespace.
fn caller(req: &Request) -> Caller {
    Caller { pid: req.pid() }
}

fn entry(reply: ReplyEntry, r: OpResult<EntryOut>) {
    match r {
        Ok(e) => reply.entry_with_ttls(
            &e.ttls.attr,
            &e.ttls.entry,
            &e.attr,
            Generation(e.generation),
        ),
        Err(e) => reply.error(e),
    }
}

/// The reply of create and tmpfile: the new file's entry and its handle.
fn created(reply: ReplyCreate, r: OpResult<(EntryOut, u64)>) {
    match r {
        Ok((e, fh)) => reply.created(
            // One TTL for both in fuser's create reply: the short one.
            &e.ttls.attr,
            &e.attr,
            Generation(e.generation),
            FileHandle(fh),
            // Created here: on a filesystem that has real sizes.
            cache::file_open_flags(cache::FileIo::Cached { keep: false }),
        ),
        Err(e) => reply.error(e),
    }
}

fn attr(reply: ReplyAttr, r: OpResult<AttrOut>) {
    match r {
        Ok(a) => reply.attr(&a.ttl, &a.attr),
        Err(e) => reply.error(e),
    }
}

fn empty(reply: ReplyEmpty, r: OpResult<()>) {
    match r {
        Ok(()) => reply.ok(),
        Err(e) => reply.error(e),
    }
}

fn written(reply: ReplyWrite, r: OpResult<u32>) {
    match r {
        Ok(n) => reply.written(n),
        Err(e) => reply.error(e),
    }
}

fn xattr(reply: ReplyXattr, r: OpResult<Xattr>) {
    match r {
        Ok(Xattr::Size(n)) => reply.size(n),
        Ok(Xattr::Data(d)) => reply.data(&d),
        Err(e) => reply.error(e),
    }
}

fn fill(full: bool) -> Fill {
    if full { Fill::Full } else { Fill::Added }
}
