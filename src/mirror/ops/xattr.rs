//! Extended attributes, reached through the node's verified O_PATH fd: via
//! /proc/self/fd/N for everything but symlinks (which /proc would follow), and via the
//! parent's fd and the name, not following, for symlinks.

use std::ffi::{CString, OsStr};
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;

use fuser::Errno;

use super::Call;
use crate::audit::Op;
use crate::mirror::errno::{HostResult, OpResult};
use crate::mirror::host_path::proc_fd_path;
use crate::mirror::resolve::Check;
use crate::mirror::resolve::NodeFd;
use crate::mirror::sys::{self, Follow};

/// The answer to getxattr/listxattr: the size (when asked with size 0) or the bytes.
#[derive(Debug, PartialEq, Eq)]
pub enum Xattr {
    Size(u32),
    Data(Vec<u8>),
}

impl Call<'_> {
    pub(crate) fn op_getxattr(&self, id: u64, name: &OsStr, size: u32) -> OpResult<Xattr> {
        let (path, follow) = self.xattr_path(id, self.seen(Op::Getxattr))?;
        let name = c_name(name)?;
        sized(size, |buf| sys::getxattr(&path, &name, buf, follow))
    }

    pub(crate) fn op_listxattr(&self, id: u64, size: u32) -> OpResult<Xattr> {
        let (path, follow) = self.xattr_path(id, self.seen(Op::Listxattr))?;
        sized(size, |buf| sys::listxattr(&path, buf, follow))
    }

    pub(crate) fn op_setxattr(
        &self,
        id: u64,
        name: &OsStr,
        value: &[u8],
        flags: i32,
    ) -> OpResult<()> {
        let (path, follow) = self.xattr_path(id, self.check(Op::Setxattr))?;
        let name = c_name(name)?;
        sys::setxattr(&path, &name, value, flags, follow).host()
    }

    pub(crate) fn op_removexattr(&self, id: u64, name: &OsStr) -> OpResult<()> {
        let (path, follow) = self.xattr_path(id, self.check(Op::Removexattr))?;
        let name = c_name(name)?;
        sys::removexattr(&path, &name, follow).host()
    }

    /// A path reaching the node's host object (which keeps the node's fds open while
    /// the path is in use), and whether to follow it at the end.
    fn xattr_path(&self, id: u64, check: Check) -> OpResult<(XattrPath, Follow)> {
        let at = self.resolver.node(id, check)?;
        xattr_target(at.node)
    }
}

/// A C path together with the fds it names (kept open as long as the path is used).
pub struct XattrPath {
    path: CString,
    _node: NodeFd,
}

impl std::ops::Deref for XattrPath {
    type Target = std::ffi::CStr;
    fn deref(&self) -> &std::ffi::CStr {
        &self.path
    }
}

fn xattr_target(node: NodeFd) -> OpResult<(XattrPath, Follow)> {
    let is_link = node.stat.st_mode & libc::S_IFMT == libc::S_IFLNK;
    if !is_link {
        let path = proc_fd_path(node.fd.as_fd());
        return Ok((XattrPath { path, _node: node }, Follow::Yes));
    }
    let Some((dir, name)) = &node.parent else {
        return Err(crate::mirror::errno::impossible(
            "symlink without its directory",
        ));
    };
    let mut bytes = proc_fd_path(dir.as_fd()).into_bytes();
    bytes.push(b'/');
    bytes.extend_from_slice(name.as_bytes());
    let path = CString::new(bytes).map_err(|_| Errno::EINVAL)?;
    Ok((XattrPath { path, _node: node }, Follow::No))
}

fn c_name(name: &OsStr) -> OpResult<CString> {
    CString::new(name.as_bytes()).map_err(|_| Errno::EINVAL)
}

/// The getxattr/listxattr size protocol: size 0 asks for the size; otherwise the value
/// must fit (the host answers ERANGE if not).
fn sized(size: u32, mut call: impl FnMut(&mut [u8]) -> nix::Result<usize>) -> OpResult<Xattr> {
    if size == 0 {
        let n = call(&mut []).host()?;
        return Ok(Xattr::Size(u32::try_from(n).map_err(|_| Errno::E2BIG)?));
    }
    let mut buf = vec![0u8; size as usize];
    let n = call(&mut buf).host()?;
    buf.truncate(n);
    Ok(Xattr::Data(buf))
}
