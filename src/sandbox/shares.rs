//! `--share PATH`: the host's own PATH, read-only, mounted over the mirror's (and, in
//! Gentoo mode, Portage's IPC directory, read-write: see [`ShareAccess`]).
//!
//! FIFOs and Unix sockets cannot cross a FUSE mirror: opening a FIFO or connecting to a
//! socket finds the kernel object by inode, and the mirror's inode is not the host's, so
//! a FIFO opened in the mirror is a pipe of its own and a socket refuses the connection.
//! A build that talks to processes outside through such files (Portage's ebuild-ipc,
//! an X server, ssh-agent) needs the host's own inodes: a bind of the host path. It is
//! read-only, which does not stop FIFO writes or socket connections (the kernel's
//! read-only check concerns files, directories and symlinks only), so the policy still
//! holds: nothing under PATH can be created, changed or removed. Accesses under PATH do
//! not go through the mirror, so they are neither judged nor traced.
//!
//! Each share is a detached copy of the host's mount tree at PATH (open_tree), taken
//! where the host's paths are visible and then attached by PID 1 onto the mirror before
//! the pivot. Direct mount: taken by fusebox-run right after it entered its own user and
//! mount namespaces, before it covers /tmp with its staging tmpfs; fusermount3: taken by
//! PID 1 itself, whose mount namespace is a copy of the host's.

use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use anyhow::{Context, Result};

use crate::cli::{ShareAccess, SharedPath};
use crate::sys;

/// One shared path, and its mount tree once taken.
#[derive(Debug)]
pub struct Share {
    shared: SharedPath,
    tree: Option<OwnedFd>,
}

/// The shares, to be taken later (by PID 1).
pub fn later(paths: &[SharedPath]) -> Vec<Share> {
    paths
        .iter()
        .map(|shared| Share {
            shared: shared.clone(),
            tree: None,
        })
        .collect()
}

/// The shares, taken now (the host's paths must be visible here, and we must hold
/// CAP_SYS_ADMIN over this mount namespace).
pub fn take_now(paths: &[SharedPath]) -> Result<Vec<Share>> {
    paths
        .iter()
        .map(|shared| {
            Ok(Share {
                shared: shared.clone(),
                tree: Some(take(shared)?),
            })
        })
        .collect()
}

fn take(shared: &SharedPath) -> Result<OwnedFd> {
    let read_only = shared.access == ShareAccess::ReadOnly;
    sys::clone_tree(&shared.path, read_only)
        .with_context(|| failed(shared, "cannot take the host's mount of it"))
}

/// What failed, for the share's origin.
fn failed(shared: &SharedPath, what: &str) -> String {
    let path = shared.path.display();
    match shared.kernel_tree {
        true => format!(
            "{path}, served by the kernel: {what} (hint: --full-mirror serves it through the mirror)"
        ),
        false => format!("--share {path}: {what}"),
    }
}

/// PID 1, before the pivot: every share onto the same path in the mirror at `newroot`.
pub fn attach_all(shares: &[Share], newroot: &Path) -> Result<()> {
    for share in shares {
        let taken_here;
        let tree = match &share.tree {
            Some(tree) => tree.as_fd(),
            None => {
                taken_here = take(&share.shared)?;
                taken_here.as_fd()
            }
        };
        let path = &share.shared.path;
        let target = newroot.join(path.strip_prefix("/").unwrap_or(path));
        sys::attach_tree(tree, &target)
            .with_context(|| failed(&share.shared, "cannot mount it in the sandbox"))?;
    }
    Ok(())
}
