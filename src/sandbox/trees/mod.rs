//! Kernel-served trees: the host's system trees (`/usr`) bound read-only and the write
//! set's trees bound read-write into the sandbox's root, so that what a build reads and
//! writes most never makes a round trip through the mirror.
//!
//! A bind is only made where the mirror would have allowed everything the kernel lets
//! through: every read under both kinds of tree, every write under a read-write one.
//! What the policy refuses there is refused by the kernel instead (a read-only bind),
//! and the seccomp notifier (`super::notify`) judges those writes so that they fail
//! with EACCES and are reported as the mirror would. Where an entry lies inside a
//! read-only tree the mirror serves its directory again (a carve-out); a read-write
//! tree with anything guarded inside is not bound at all, because a build can rename
//! its way around a hole in a tree it may write.
//!
//! The policy can still change while the build runs (the control file). An entry that
//! touches a bound tree is handed back to the mirror first: the agent, a process forked
//! by PID 1 into the sandbox's mount namespace before the build's user namespace,
//! mounts the mirror's view over the entry (or the deepest path above it that exists).
//! Only then is the entry added. A process whose current directory is already inside
//! that path keeps the bind's view through it: the hole an entry added at run time
//! leaves, and only for the build's own entries (`--lock` refuses them all).
//!
//! - `plan.rs`: which trees, decided from the policy before anything is mounted;
//! - `agent.rs`: the carve-outs, PID 1's at start and the agent's at run time;
//! - `gate.rs`: the daemon's side: the trees' state, the policy watcher, the notifier's
//!   gate.

mod agent;
mod gate;
mod plan;

pub use agent::{AgentLink, MirrorView, attach_carve_outs, start_agent};
pub use gate::{HostRoot, KernelTrees, TreeGate};
pub use plan::{Host, HostDirs, Scene, TreePlan, carve_point, plan};

use std::os::fd::OwnedFd;
use std::path::PathBuf;

use anyhow::{Context, Result};
use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};

use crate::cli::{ShareAccess, SharedPath};

/// What PID 1 does for the trees: the binds are the first `binds` shares; then the
/// carve-outs; after the pivot, the agent; last, the notifier's filter.
#[derive(Debug, Default)]
pub struct InsideTrees {
    pub binds: usize,
    pub carve_outs: Vec<PathBuf>,
    /// PID 1's end of the agent's link.
    pub agent: Option<OwnedFd>,
    /// PID 1's end of the socket the notifier's listener goes to the daemon by.
    pub notify: Option<OwnedFd>,
}

/// The daemon's ends of the links to the agent and to PID 1's filter.
#[derive(Debug, Default)]
pub struct DaemonLinks {
    pub agent: Option<OwnedFd>,
    pub notify: Option<OwnedFd>,
}

/// The shares that bind `plan`'s trees: to go before the user's own.
pub fn binds(plan: &TreePlan) -> Vec<SharedPath> {
    plan.trees()
        .into_iter()
        .map(|(path, read_only)| SharedPath {
            path,
            access: match read_only {
                true => ShareAccess::ReadOnly,
                false => ShareAccess::ReadWrite,
            },
            kernel_tree: true,
        })
        .collect()
}

/// The links `plan` needs: the agent's for any tree, the notifier's for a read-only one.
pub fn links(plan: &TreePlan) -> Result<(InsideTrees, DaemonLinks)> {
    let mut inside = InsideTrees {
        binds: plan.trees().len(),
        carve_outs: plan.carve_outs.clone(),
        ..Default::default()
    };
    let mut daemon = DaemonLinks::default();
    if !plan.is_empty() {
        let (ours, theirs) = pair()?;
        inside.agent = Some(theirs);
        daemon.agent = Some(ours);
    }
    if !plan.read_only.is_empty() {
        let (ours, theirs) = pair()?;
        inside.notify = Some(theirs);
        daemon.notify = Some(ours);
    }
    Ok((inside, daemon))
}

fn pair() -> Result<(OwnedFd, OwnedFd)> {
    socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .context("socketpair")
}
