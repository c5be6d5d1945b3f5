//! The requests only host objects take, each naming the objects it is about: a virtual
//! file among them gets its [`refusal`](crate::mirror::virtual_files::refusal).

use std::ffi::OsStr;
use std::path::Path;

use fuser::{Errno, RenameFlags};

use crate::mirror::Mirror;
use crate::mirror::errno::OpResult;
use crate::mirror::ops::create::Remove;
use crate::mirror::ops::data::CopyRange;
use crate::mirror::ops::dir::{Fill, Listed, ListedPlus};
use crate::mirror::ops::xattr::Xattr;
use crate::mirror::resolve::EntryOut;
use crate::mirror::stats::Opcode;
use crate::mirror::virtual_files::Object;
use crate::policy::Caller;

impl Mirror {
    pub(crate) fn route_readlink(&self, caller: Caller, id: u64) -> OpResult<Vec<u8>> {
        self.host_op(caller, Opcode::Readlink, &[Object::Node(id)], |c| {
            c.op_readlink(id)
        })
    }

    pub(crate) fn route_mknod(
        &self,
        caller: Caller,
        parent: u64,
        name: &OsStr,
        mode: u32,
        rdev: u32,
    ) -> OpResult<EntryOut> {
        let objects = [Object::Entry(parent, name)];
        self.host_op(caller, Opcode::Mknod, &objects, |c| {
            c.op_mknod(parent, name, mode, rdev)
        })
    }

    pub(crate) fn route_mkdir(
        &self,
        caller: Caller,
        parent: u64,
        name: &OsStr,
        mode: u32,
    ) -> OpResult<EntryOut> {
        let objects = [Object::Entry(parent, name)];
        self.host_op(caller, Opcode::Mkdir, &objects, |c| {
            c.op_mkdir(parent, name, mode)
        })
    }

    /// unlink and rmdir.
    pub(crate) fn route_remove(
        &self,
        caller: Caller,
        parent: u64,
        name: &OsStr,
        what: Remove,
    ) -> OpResult<()> {
        let opcode = match what {
            Remove::File => Opcode::Unlink,
            Remove::Dir => Opcode::Rmdir,
        };
        let objects = [Object::Entry(parent, name)];
        self.host_op(caller, opcode, &objects, |c| {
            c.op_remove(parent, name, what)
        })
    }

    pub(crate) fn route_symlink(
        &self,
        caller: Caller,
        parent: u64,
        name: &OsStr,
        target: &Path,
    ) -> OpResult<EntryOut> {
        let objects = [Object::Entry(parent, name)];
        self.host_op(caller, Opcode::Symlink, &objects, |c| {
            c.op_symlink(parent, name, target)
        })
    }

    pub(crate) fn route_rename(
        &self,
        caller: Caller,
        (parent, name): (u64, &OsStr),
        (newparent, newname): (u64, &OsStr),
        flags: RenameFlags,
    ) -> OpResult<()> {
        let objects = [
            Object::Entry(parent, name),
            Object::Entry(newparent, newname),
        ];
        self.host_op(caller, Opcode::Rename, &objects, |c| {
            c.op_rename(parent, name, newparent, newname, flags)
        })
    }

    pub(crate) fn route_link(
        &self,
        caller: Caller,
        id: u64,
        newparent: u64,
        newname: &OsStr,
    ) -> OpResult<EntryOut> {
        let objects = [Object::Node(id), Object::Entry(newparent, newname)];
        self.host_op(caller, Opcode::Link, &objects, |c| {
            c.op_link(id, newparent, newname)
        })
    }

    /// Data goes to the host at each write; nothing is buffered here. ENOSYS tells the
    /// kernel so once: it then stops sending a flush at every close.
    pub(crate) fn route_flush(&self, caller: Caller) -> OpResult<()> {
        self.count_letting_go(caller, Opcode::Flush);
        Err(Errno::ENOSYS)
    }

    pub(crate) fn route_fsync(
        &self,
        caller: Caller,
        id: u64,
        fh: u64,
        datasync: bool,
    ) -> OpResult<()> {
        self.host_op(caller, Opcode::Fsync, &[Object::Handle(fh)], |c| {
            c.op_fsync(id, fh, datasync)
        })
    }

    pub(crate) fn route_fsyncdir(
        &self,
        caller: Caller,
        id: u64,
        fh: u64,
        datasync: bool,
    ) -> OpResult<()> {
        self.host_op(caller, Opcode::Fsyncdir, &[Object::Handle(fh)], |c| {
            c.op_fsync(id, fh, datasync)
        })
    }

    /// Returns the fh and whether the kernel may keep its cached listing.
    pub(crate) fn route_opendir(&self, caller: Caller, id: u64) -> OpResult<(u64, bool)> {
        self.host_op(caller, Opcode::Opendir, &[Object::Dir(id)], |c| {
            c.op_opendir(id)
        })
    }

    pub(crate) fn route_readdir(
        &self,
        caller: Caller,
        id: u64,
        fh: u64,
        offset: u64,
        add: impl FnMut(Listed<'_>) -> Fill,
    ) -> OpResult<()> {
        self.host_op(caller, Opcode::Readdir, &[Object::Handle(fh)], |c| {
            c.op_readdir(id, fh, offset, add)
        })
    }

    pub(crate) fn route_readdirplus(
        &self,
        caller: Caller,
        id: u64,
        fh: u64,
        offset: u64,
        add: impl FnMut(ListedPlus<'_>) -> Fill,
    ) -> OpResult<()> {
        self.host_op(caller, Opcode::Readdirplus, &[Object::Handle(fh)], |c| {
            c.op_readdirplus(id, fh, offset, add)
        })
    }

    /// Served for any caller (see [`Mirror::count_letting_go`]); a virtual file is
    /// never opened as a directory.
    pub(crate) fn route_releasedir(&self, caller: Caller, fh: u64) {
        self.count_letting_go(caller, Opcode::Releasedir);
        if self.virtual_files.claim(Object::Handle(fh)).is_none() {
            drop(self.handles.remove(fh));
        }
    }

    pub(crate) fn route_setxattr(
        &self,
        caller: Caller,
        id: u64,
        name: &OsStr,
        value: &[u8],
        flags: i32,
    ) -> OpResult<()> {
        self.host_op(caller, Opcode::Setxattr, &[Object::Node(id)], |c| {
            c.op_setxattr(id, name, value, flags)
        })
    }

    pub(crate) fn route_getxattr(
        &self,
        caller: Caller,
        id: u64,
        name: &OsStr,
        size: u32,
    ) -> OpResult<Xattr> {
        self.host_op(caller, Opcode::Getxattr, &[Object::Node(id)], |c| {
            c.op_getxattr(id, name, size)
        })
    }

    pub(crate) fn route_listxattr(&self, caller: Caller, id: u64, size: u32) -> OpResult<Xattr> {
        self.host_op(caller, Opcode::Listxattr, &[Object::Node(id)], |c| {
            c.op_listxattr(id, size)
        })
    }

    pub(crate) fn route_removexattr(&self, caller: Caller, id: u64, name: &OsStr) -> OpResult<()> {
        self.host_op(caller, Opcode::Removexattr, &[Object::Node(id)], |c| {
            c.op_removexattr(id, name)
        })
    }

    /// open(O_CREAT): the new (or existing) file's entry and a handle.
    pub(crate) fn route_create(
        &self,
        caller: Caller,
        parent: u64,
        name: &OsStr,
        mode: u32,
        flags: i32,
    ) -> OpResult<(EntryOut, u64)> {
        let objects = [Object::Entry(parent, name)];
        self.host_op(caller, Opcode::Create, &objects, |c| {
            c.op_create(parent, name, mode, flags)
        })
    }

    pub(crate) fn route_tmpfile(
        &self,
        caller: Caller,
        parent: u64,
        mode: u32,
        flags: i32,
    ) -> OpResult<(EntryOut, u64)> {
        self.host_op(caller, Opcode::Tmpfile, &[Object::Dir(parent)], |c| {
            c.op_tmpfile(parent, mode, flags)
        })
    }

    pub(crate) fn route_fallocate(
        &self,
        caller: Caller,
        id: u64,
        fh: u64,
        (offset, length): (u64, u64),
        mode: i32,
    ) -> OpResult<()> {
        self.host_op(caller, Opcode::Fallocate, &[Object::Handle(fh)], |c| {
            c.op_fallocate(id, fh, offset, length, mode)
        })
    }

    pub(crate) fn route_lseek(
        &self,
        caller: Caller,
        id: u64,
        fh: u64,
        offset: i64,
        whence: i32,
    ) -> OpResult<i64> {
        self.host_op(caller, Opcode::Lseek, &[Object::Handle(fh)], |c| {
            c.op_lseek(id, fh, offset, whence)
        })
    }

    /// copy_file_range; no flags are defined (EINVAL for any).
    pub(crate) fn route_copy_file_range(
        &self,
        caller: Caller,
        range: CopyRange,
        flags: u64,
    ) -> OpResult<u32> {
        if flags != 0 {
            return Err(Errno::EINVAL);
        }
        let objects = [Object::Handle(range.fh_in), Object::Handle(range.fh_out)];
        self.host_op(caller, Opcode::CopyFileRange, &objects, |c| {
            c.op_copy_file_range(range)
        })
    }
}
