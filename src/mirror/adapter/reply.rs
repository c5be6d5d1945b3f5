//! Replies: each op's result turned into fuser's reply, errors included.

use fuser::{
    FileHandle, Generation, ReplyAttr, ReplyCreate, ReplyEmpty, ReplyEntry, ReplyWrite, ReplyXattr,
};

use crate::mirror::cache;
use crate::mirror::errno::OpResult;
use crate::mirror::ops::dir::Fill;
use crate::mirror::ops::xattr::Xattr;
use crate::mirror::resolve::{AttrOut, EntryOut};

pub fn entry(reply: ReplyEntry, r: OpResult<EntryOut>) {
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
pub fn created(reply: ReplyCreate, r: OpResult<(EntryOut, u64)>) {
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

pub fn attr(reply: ReplyAttr, r: OpResult<AttrOut>) {
    match r {
        Ok(a) => reply.attr(&a.ttl, &a.attr),
        Err(e) => reply.error(e),
    }
}

pub fn empty(reply: ReplyEmpty, r: OpResult<()>) {
    match r {
        Ok(()) => reply.ok(),
        Err(e) => reply.error(e),
    }
}

pub fn written(reply: ReplyWrite, r: OpResult<u32>) {
    match r {
        Ok(n) => reply.written(n),
        Err(e) => reply.error(e),
    }
}

pub fn xattr(reply: ReplyXattr, r: OpResult<Xattr>) {
    match r {
        Ok(Xattr::Size(n)) => reply.size(n),
        Ok(Xattr::Data(d)) => reply.data(&d),
        Err(e) => reply.error(e),
    }
}

pub fn fill(full: bool) -> Fill {
    if full { Fill::Full } else { Fill::Added }
}
