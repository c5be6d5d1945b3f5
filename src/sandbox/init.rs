//! The sandbox's PID 1: the plan fixed before the fork, then its setup inside the new
//! namespaces (maps, mounts, pivot, the build's user namespace, the seccomp filter)
//! before it becomes the build's init.

use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use nix::sched::CloneFlags;
use nix::sys::signal::Signal;

use super::trees::{self, AgentLink, InsideTrees, MirrorView};
use super::userns::{self, Ids};
use super::{mounts, notify, seccomp, shares};
use crate::audit::terminal;
use crate::cli::{Net, UidMap};
use crate::supervisor;
use crate::sys;

/// What the sandbox's PID 1 needs to know, fixed before the fork.
pub(super) struct ChildPlan {
    pub(super) new_userns: bool,
    pub(super) me: Ids,
    pub(super) uid_map: UidMap,
    pub(super) net: Net,
    pub(super) unshare_ipc: bool,
    pub(super) hostname: Option<String>,
    pub(super) newroot: PathBuf,
    pub(super) cwd: PathBuf,
    pub(super) command: Vec<std::ffi::OsString>,
    pub(super) env: Vec<supervisor::EnvChange>,
    pub(super) daemon_fds: Vec<RawFd>,
    /// The kernel-served trees' binds first, then the user's `--share` paths.
    pub(super) shares: Vec<shares::Share>,
    pub(super) trees: InsideTrees,
}

impl ChildPlan {
    /// The namespaces PID 1 is cloned into.
    pub(super) fn namespaces(&self) -> CloneFlags {
        let mut flags = CloneFlags::CLONE_NEWPID | CloneFlags::CLONE_NEWNS;
        flags.set(CloneFlags::CLONE_NEWUSER, self.new_userns);
        flags.set(CloneFlags::CLONE_NEWNET, self.net == Net::None);
        flags.set(CloneFlags::CLONE_NEWIPC, self.unshare_ipc);
        flags.set(CloneFlags::CLONE_NEWUTS, self.hostname.is_some());
        flags
    }
}

/// PID 1's life: set up, then become the build's init. Never returns.
pub(super) fn enter_sandbox(
    mut plan: ChildPlan,
    go: OwnedFd,
    root: OwnedFd,
    stops: Option<OwnedFd>,
) -> ! {
    drop(root);
    let stops_fd = stops.as_ref().map(|fd| fd.as_raw_fd());
    if let Err(e) = set_up_inside(&mut plan, go, stops_fd) {
        terminal::error_line(&format!("{e:#}"));
        sys::exit_now(supervisor::EXIT_SETUP_FAILED);
    }
    supervisor::run_init(&plan.command, &plan.env, stops)
}

fn set_up_inside(plan: &mut ChildPlan, go: OwnedFd, stops: Option<RawFd>) -> Result<()> {
    die_with_parent(go)?;
    for &fd in &plan.daemon_fds {
        let _ = nix::unistd::close(fd);
    }
    if plan.new_userns {
        userns::write_maps(plan.me, plan.me)
            .context("cannot write the user namespace's id maps")?;
    }
    mounts::prepare_root(&plan.newroot)?;
    let (tree_binds, user_shares) = plan.shares.split_at(plan.trees.binds);
    shares::attach_all(tree_binds, &plan.newroot)?;
    let mirror_view = match tree_binds.is_empty() {
        true => None,
        false => Some(MirrorView::take(&plan.newroot)?),
    };
    if let Some(view) = &mirror_view {
        trees::attach_carve_outs(view, &plan.trees.carve_outs, &plan.newroot)?;
    }
    shares::attach_all(user_shares, &plan.newroot)?;
    if plan.net == Net::None {
        sys::bring_loopback_up().context("cannot bring up lo")?;
    }
    if let Some(name) = &plan.hostname {
        nix::unistd::sethostname(name).context("cannot set the hostname")?;
    }
    mounts::pivot_into(&plan.newroot)?;
    enter_cwd(&plan.cwd)?;
    if let (Some(view), Some(link)) = (mirror_view, plan.trees.agent.take()) {
        let notify = plan.trees.notify.as_ref().map(|fd| fd.as_raw_fd());
        let close: Vec<RawFd> = stops.into_iter().chain(notify).collect();
        trees::start_agent(view, AgentLink(link), &close)?;
    }
    userns::enter_build_namespace(plan.uid_map)
        .context("cannot create the build's user namespace")?;
    join_new_session_keyring()?;
    // Last: every process of the sandbox, PID 1 included, runs under it.
    sys::install_seccomp_filter(&seccomp::tty_injection_filter())
        .context("cannot install the seccomp filter")?;
    if let Some(link) = plan.trees.notify.take() {
        hand_over_write_filter(link)?;
    }
    // Nothing of ours is worth a core dump or a ptrace from the build.
    let _ = nix::sys::prctl::set_dumpable(false);
    Ok(())
}

/// Installs the write-class filter (`notify`) and sends its listener to fusebox-run,
/// which answers its notifications from then on.
fn hand_over_write_filter(link: OwnedFd) -> Result<()> {
    let program = notify::write_filter();
    let listener = notify::install_listener(&program).context("cannot install the write filter")?;
    notify::send_fd(link.as_fd(), listener.as_fd())
        .context("cannot hand the write filter's listener to fusebox-run")
}

/// A fresh session keyring for the sandbox. Where keyctl(2) is refused to us (ENOSYS,
/// or EPERM from a container's seccomp profile) it is refused to the build as well, so
/// there is no keyring to share and nothing to do.
fn join_new_session_keyring() -> Result<()> {
    match sys::join_new_session_keyring() {
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOSYS | libc::EPERM)) => Ok(()),
        r => r.context("cannot create the sandbox's session keyring"),
    }
}

/// Arms the parent-death signal, then waits for `go`. The race is closed: if the parent
/// died before the prctl, the pipe's write end is already closed and we read EOF.
fn die_with_parent(go: OwnedFd) -> Result<()> {
    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).context("prctl(PR_SET_PDEATHSIG)")?;
    let mut byte = [0u8; 1];
    let mut go = File::from(go);
    match go.read(&mut byte) {
        Ok(1) => Ok(()),
        _ => {
            // fusebox-run is gone, or failed before starting the mirror (it says why).
            sys::exit_now(supervisor::EXIT_SETUP_FAILED)
        }
    }
}

fn enter_cwd(cwd: &Path) -> Result<()> {
    nix::unistd::chdir(cwd)
        .with_context(|| format!("cannot enter {} inside the sandbox", cwd.display()))
}
