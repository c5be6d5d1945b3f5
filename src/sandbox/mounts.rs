//! The sandbox's mount plan, carried out by its PID 1 in its own mount namespace:
//! the mirror as `/`, a fresh /proc, a minimal /dev, a read-only /sys, then pivot_root.
//!
//! Everything is mounted onto the mirror before the pivot, while the host's /dev and
//! /sys are still reachable by path. fusebox-run's own mount namespace, where the mirror's
//! threads live, is never pivoted (pivoting there would move their root too).

use std::fs;
use std::os::unix::fs::{DirBuilderExt, symlink};
use std::path::Path;

use anyhow::{Context, Result};
use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::unistd::{chdir, pivot_root};

use super::fuse_mount::make_private_recursive;
use crate::mirror::virtual_files::CONTROL_NAME;
use crate::sys;

/// The host device nodes the build gets, bind-mounted (a user namespace may not mknod).
const DEVICES: [&str; 6] = ["null", "zero", "full", "random", "urandom", "tty"];

/// The links every /dev has.
const DEV_LINKS: [(&str, &str); 5] = [
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
    ("ptmx", "pts/ptmx"),
];

/// Prepares the new root at `newroot` (the mirror's mountpoint).
pub fn prepare_root(newroot: &Path) -> Result<()> {
    make_private_recursive(Path::new("/"))?;
    // A bind of the mirror onto itself is a mount of this namespace's own: pivot_root
    // refuses a mount inherited (locked) from a more privileged namespace.
    bind(newroot, newroot, MsFlags::empty())?;
    mount_proc(&newroot.join("proc"))?;
    mount_dev(&newroot.join("dev"))?;
    bind_control_file(newroot)?;
    mount_sys(&newroot.join("sys"))
}

/// Makes `newroot` the root and drops every trace of the old one. `pivot_root(".", ".")`
/// stacks the old root on top of the new one, so no directory is needed for it in the
/// mirror; detaching it then leaves only the new root.
pub fn pivot_into(newroot: &Path) -> Result<()> {
    chdir(newroot).context("cannot enter the mirror")?;
    pivot_root(".", ".").context("pivot_root into the mirror")?;
    umount2(".", MntFlags::MNT_DETACH).context("cannot detach the old root")?;
    chdir("/").context("chdir /")?;
    Ok(())
}

fn mount_proc(target: &Path) -> Result<()> {
    mount(
        Some("proc"),
        target,
        Some("proc"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        None::<&str>,
    )
    .context("cannot mount a fresh /proc (hint: `fusebox-run --check`)")
}

fn mount_dev(dev: &Path) -> Result<()> {
    mount(
        Some("tmpfs"),
        dev,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        Some("mode=0755"),
    )
    .context("cannot mount /dev")?;
    for name in DEVICES {
        let node = dev.join(name);
        fs::File::create(&node).with_context(|| format!("cannot create {}", node.display()))?;
        bind(&Path::new("/dev").join(name), &node, MsFlags::empty())?;
    }
    for (name, target) in DEV_LINKS {
        symlink(target, dev.join(name)).with_context(|| format!("cannot link /dev/{name}"))?;
    }
    let pts = dev.join("pts");
    mkdir(&pts, 0o755)?;
    mount(
        Some("devpts"),
        &pts,
        Some("devpts"),
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        Some("newinstance,ptmxmode=0666,mode=0620"),
    )
    .context("cannot mount /dev/pts")?;
    let shm = dev.join("shm");
    mkdir(&shm, 0o1777)?;
    mount(
        Some("tmpfs"),
        &shm,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some("mode=1777"),
    )
    .context("cannot mount /dev/shm")
}

/// /dev/fusebox: the mirror's control file (see `mirror::virtual_files`), where the build
/// talks to the policy.
fn bind_control_file(newroot: &Path) -> Result<()> {
    let node = newroot.join("dev/fusebox");
    fs::File::create(&node).with_context(|| format!("cannot create {}", node.display()))?;
    bind(&newroot.join(CONTROL_NAME), &node, MsFlags::empty())
}

fn mount_sys(target: &Path) -> Result<()> {
    bind(Path::new("/sys"), target, MsFlags::MS_REC)?;
    match sys::make_readonly_recursive(target) {
        // Before Linux 5.12 only the top mount can be made read-only.
        Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => mount(
            None::<&str>,
            target,
            None::<&str>,
            MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY,
            None::<&str>,
        )
        .context("cannot make /sys read-only"),
        other => other.context("cannot make /sys read-only"),
    }
}

fn bind(source: &Path, target: &Path, extra: MsFlags) -> Result<()> {
    mount(
        Some(source),
        target,
        None::<&str>,
        MsFlags::MS_BIND | extra,
        None::<&str>,
    )
    .with_context(|| format!("cannot bind {} to {}", source.display(), target.display()))
}

fn mkdir(path: &Path, mode: u32) -> Result<()> {
    fs::DirBuilder::new()
        .mode(mode)
        .create(path)
        .with_context(|| format!("cannot create {}", path.display()))
}
