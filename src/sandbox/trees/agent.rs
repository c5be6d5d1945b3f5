//! Handing a path back to the mirror, inside the sandbox's mount namespace: at start
//! (PID 1, the plan's carve-outs) and while the build runs (the agent, for an entry
//! the control file adds).
//!
//! Both mount a copy of the mirror's own mount, rooted at the path, over the bind. The
//! copy comes from [`MirrorView`], a clone of the mirror's mount alone (open_tree
//! without AT_RECURSIVE): a path looked up there is the mirror's, never a bind's.

use std::io;
use std::os::fd::{AsFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::sys::{self, Forked};

/// The mirror's mount alone, with no bind over any of its paths.
pub struct MirrorView(OwnedFd);

impl MirrorView {
    /// Takes it from the mirror mounted at `newroot` (before or after the binds: those
    /// are other mounts).
    pub fn take(newroot: &Path) -> Result<MirrorView> {
        let root = nix::fcntl::open(
            newroot,
            nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .context("cannot open the mirror's root")?;
        let view = sys::clone_mount_at(root.as_fd(), Path::new(""))
            .context("cannot take a copy of the mirror's mount")?;
        Ok(MirrorView(view))
    }

    /// Mounts the mirror's `path` over `target` (the same path, as reached from where
    /// the caller stands).
    fn serve(&self, path: &Path, target: &Path) -> io::Result<()> {
        let relative = path.strip_prefix("/").unwrap_or(path);
        let tree = sys::clone_mount_at(self.0.as_fd(), relative)?;
        sys::attach_tree(tree.as_fd(), target)
    }
}

/// PID 1, before the pivot: the plan's carve-outs, onto the binds in the mirror at
/// `newroot`.
pub fn attach_carve_outs(view: &MirrorView, carve_outs: &[PathBuf], newroot: &Path) -> Result<()> {
    for path in carve_outs {
        let target = newroot.join(path.strip_prefix("/").unwrap_or(path));
        view.serve(path, &target)
            .with_context(|| format!("cannot serve {} from the mirror", path.display()))?;
    }
    Ok(())
}

/// The agent's side of the daemon's link (a SOCK_SEQPACKET socket): one request is an
/// absolute path inside a bound tree, whole in one message; one answer an errno (i32,
/// 0 for done).
pub struct AgentLink(pub OwnedFd);

/// PID 1, after the pivot and before the build's user namespace: forks the agent, which
/// answers the daemon's requests on `link` until the daemon goes (EOF). `close` are
/// fds of PID 1's the agent must not hold.
pub fn start_agent(view: MirrorView, link: AgentLink, close: &[RawFd]) -> Result<()> {
    match sys::fork().context("cannot start the trees' agent")? {
        Forked::Child => {
            for &fd in close {
                let _ = nix::unistd::close(fd);
            }
            let _ = nix::sys::prctl::set_name(c"fusebox-trees");
            let _ = nix::sys::prctl::set_dumpable(false);
            serve_requests(&view, &link);
            sys::exit_now(0)
        }
        Forked::Parent(_) => Ok(()),
    }
}

fn serve_requests(view: &MirrorView, link: &AgentLink) {
    let mut request = vec![0u8; libc::PATH_MAX as usize + 1];
    loop {
        let len = match nix::unistd::read(&link.0, &mut request) {
            Ok(0) => return,
            Ok(len) => len,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return,
        };
        let path = Path::new(std::ffi::OsStr::from_bytes(&request[..len]));
        let errno = match path.is_absolute() && len < request.len() {
            true => match view.serve(path, path) {
                Ok(()) => 0,
                Err(e) => e.raw_os_error().unwrap_or(libc::EIO),
            },
            false => libc::EINVAL,
        };
        if nix::unistd::write(&link.0, &errno.to_ne_bytes()).is_err() {
            return;
        }
    }
}
