//! Routes each request to the host ops or to a virtual file, in one place: one
//! `route_*` function per request, taking the [`Caller`] the adapter decoded, so the
//! whole mirror below the adapter can be driven in-process (the unit tests in
//! `mirror/tests/` do). The few requests a virtual file takes too are routed below; a
//! request that only host objects take is served through [`Mirror::host_op`], naming
//! the objects it is about (`host.rs`). [`VirtualFiles::claim`] decides which side an
//! object is on, and a request on a virtual file that only host objects take gets
//! that file's [`refusal`]: an op never sees a virtual file's id or handle.
//!
//! [`VirtualFiles::claim`]: super::virtual_files::VirtualFiles::claim

mod host;

use std::ffi::OsStr;

use fuser::AccessFlags;
use nix::sys::statvfs::Statvfs;

use super::Mirror;
use super::cache::FileIo;
use super::errno::OpResult;
use super::inode::ROOT_ID;
use super::ops::Call;
use super::ops::data::writes;
use super::ops::entry::SetAttr;
use super::resolve::{AttrOut, EntryOut};
use super::stats::Opcode;
use super::virtual_files::{Claim, Object, refusal};
use crate::policy::Caller;

impl Mirror {
    /// Serves a request that only host objects take, about `objects`.
    fn host_op<T>(
        &self,
        caller: Caller,
        opcode: Opcode,
        objects: &[Object],
        op: impl FnOnce(&Call) -> OpResult<T>,
    ) -> OpResult<T> {
        let call = self.call(caller, opcode)?;
        match self.virtual_files.claim_any(objects) {
            Some(claim) => Err(refusal(opcode, claim)),
            None => call.run(op),
        }
    }

    pub(crate) fn route_lookup(
        &self,
        caller: Caller,
        parent: u64,
        name: &OsStr,
    ) -> OpResult<EntryOut> {
        let on_host = |c: &Call| c.op_lookup(parent, name);
        let object = Object::Entry(parent, name);
        self.routed(caller, Opcode::Lookup, object, on_host, |c, id| {
            c.virtual_lookup(id)
        })
    }

    /// A virtual file's node is never forgotten: it is always there. Served for any
    /// caller (see [`Mirror::count_letting_go`]).
    pub(crate) fn route_forget(&self, caller: Caller, id: u64, n: u64) {
        self.count_letting_go(caller, Opcode::Forget);
        if self.virtual_files.claim(Object::Node(id)).is_none() {
            self.resolver.forget(id, n);
        }
    }

    pub(crate) fn route_getattr(
        &self,
        caller: Caller,
        id: u64,
        fh: Option<u64>,
    ) -> OpResult<AttrOut> {
        let on_host = |c: &Call| c.op_getattr(id, fh);
        self.routed(
            caller,
            Opcode::Getattr,
            Object::Node(id),
            on_host,
            |c, id| c.virtual_attr(id),
        )
    }

    /// Nothing of a virtual file changes (`> /dev/fusebox` truncates it).
    pub(crate) fn route_setattr(&self, caller: Caller, id: u64, set: SetAttr) -> OpResult<AttrOut> {
        let on_host = |c: &Call| c.op_setattr(id, set);
        self.routed(
            caller,
            Opcode::Setattr,
            Object::Node(id),
            on_host,
            |c, id| c.virtual_attr(id),
        )
    }

    pub(crate) fn route_open(
        &self,
        caller: Caller,
        id: u64,
        flags: i32,
    ) -> OpResult<(u64, FileIo)> {
        let on_host = |c: &Call| c.op_open(id, flags);
        let on_virtual = |c: &Call, id| c.virtual_open(id, writes(flags));
        self.routed(caller, Opcode::Open, Object::Node(id), on_host, on_virtual)
    }

    pub(crate) fn route_read(
        &self,
        caller: Caller,
        id: u64,
        fh: u64,
        offset: u64,
        size: u32,
    ) -> OpResult<Vec<u8>> {
        let on_host = |c: &Call| c.op_read(id, fh, offset, size);
        let on_virtual = |c: &Call, fh| c.virtual_read(fh, offset, size);
        self.routed(
            caller,
            Opcode::Read,
            Object::Handle(fh),
            on_host,
            on_virtual,
        )
    }

    pub(crate) fn route_write(
        &self,
        caller: Caller,
        id: u64,
        fh: u64,
        offset: u64,
        data: &[u8],
    ) -> OpResult<u32> {
        let on_host = |c: &Call| c.op_write(id, fh, offset, data);
        let on_virtual = |c: &Call, fh| c.virtual_write(fh, data);
        self.routed(
            caller,
            Opcode::Write,
            Object::Handle(fh),
            on_host,
            on_virtual,
        )
    }

    /// Served for any caller (see [`Mirror::count_letting_go`]).
    pub(crate) fn route_release(&self, caller: Caller, fh: u64) {
        self.count_letting_go(caller, Opcode::Release);
        match self.virtual_files.claim(Object::Handle(fh)) {
            None => drop(self.handles.remove(fh)),
            Some(_) => self.virtual_files.handles.release(fh),
        }
    }

    /// A virtual file lives in the mirror's root.
    pub(crate) fn route_statfs(&self, caller: Caller, id: u64) -> OpResult<Statvfs> {
        let on_host = |c: &Call| c.op_statfs(id);
        let on_virtual = |c: &Call, _| c.op_statfs(ROOT_ID);
        self.routed(
            caller,
            Opcode::Statfs,
            Object::Node(id),
            on_host,
            on_virtual,
        )
    }

    /// Whatever is asked of a virtual file is granted: the control file is open to all,
    /// and a static file refuses writes at open.
    pub(crate) fn route_access(&self, caller: Caller, id: u64, mask: AccessFlags) -> OpResult<()> {
        let on_host = |c: &Call| c.op_access(id, mask);
        self.routed(caller, Opcode::Access, Object::Node(id), on_host, |_, _| {
            Ok(())
        })
    }

    /// Serves a request that a virtual file takes too, about `object`: `on_virtual`
    /// gets the virtual file's node id (or its handle, for an open file).
    fn routed<T>(
        &self,
        caller: Caller,
        opcode: Opcode,
        object: Object,
        on_host: impl FnOnce(&Call) -> OpResult<T>,
        on_virtual: impl FnOnce(&Call, u64) -> OpResult<T>,
    ) -> OpResult<T> {
        let call = self.call(caller, opcode)?;
        match self.virtual_files.claim(object) {
            None => call.run(on_host),
            Some(Claim::Node(id) | Claim::Name(id) | Claim::Handle(id)) => on_virtual(&call, id),
            Some(claim @ Claim::AsDir) => Err(refusal(opcode, claim)),
        }
    }
}
