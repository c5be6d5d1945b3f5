//! Mounting the mirror as an unprivileged user, in one of two ways.
//!
//! * direct: enter a new user + mount namespace, open /dev/fuse there and mount(2) it
//!   (Linux ≥ 4.18 allows FUSE mounts by a user namespace's root, but only with a
//!   /dev/fuse fd opened in that same namespace). No setuid helper; nothing of the mount
//!   is visible on the host.
//! * fusermount3: the setuid helper mounts in the host mount namespace and passes the fd
//!   back over a socket. It must run from the original user namespace (inside one, host
//!   root is unmapped and the setuid bit does nothing). A watchdog process unmounts it
//!   if fusebox-run dies, even by SIGKILL (see [`super::watchdog`]).

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::IoSliceMut;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, anyhow, bail};
use nix::mount::{MsFlags, mount};
use nix::sched::{CloneFlags, unshare};
use nix::sys::socket::{
    AddressFamily, ControlMessageOwned, MsgFlags, SockFlag, SockType, recvmsg, socketpair,
};

use super::staging;
use super::userns::{Ids, write_maps};
use super::watchdog::{NamespaceHolder, Watchdog};
use crate::cli::{MountHelper, SharedPath};

/// Where the direct mount is staged, in fusebox's private mount namespace only: a tmpfs
/// over /tmp there, as bubblewrap does, so nothing is created on the host.
const DIRECT_STAGING: &str = "/tmp";

/// The FUSE device; `FUSEBOX_DEV_FUSE` overrides it (to test the diagnostics).
pub fn dev_fuse_path() -> PathBuf {
    std::env::var_os("FUSEBOX_DEV_FUSE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/dev/fuse"))
}

/// The mount method actually used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Direct,
    Fusermount3,
}

/// Resolves `auto`: direct when /dev/fuse can be opened for reading and writing (what
/// the kernel asks of the direct way), else fusermount3 when it is installed. The fd
/// opened to tell cannot serve the mount: the kernel mounts only an fd opened in the
/// mounting user namespace, which the direct way enters after this.
///
/// `mountinfo` is `/proc/self/mountinfo`, opened by the caller, who keeps it for the
/// mirror (None: it could not be opened, and no sandbox is seen around us).
pub fn choose(helper: MountHelper, mountinfo: Option<&File>) -> Result<Method> {
    if mountinfo.is_some_and(inside_fusebox) {
        bail!(
            "cannot start a sandbox inside a fusebox sandbox: its /dev has no FUSE device \
             (hint: run the command directly; it is sandboxed already)"
        );
    }
    match helper {
        MountHelper::Direct => Ok(Method::Direct),
        MountHelper::Fusermount3 => Ok(Method::Fusermount3),
        MountHelper::Auto if open_dev_fuse().is_ok() => Ok(Method::Direct),
        MountHelper::Auto if find_fusermount3().is_some() => Ok(Method::Fusermount3),
        MountHelper::Auto => bail!(
            "cannot mount the mirror: {} is not usable and fusermount3 is not installed \
             (hint: install fuse3, or `chmod 0666 /dev/fuse` as root; `fusebox-run --check` tells more)",
            dev_fuse_path().display()
        ),
    }
}

/// A mounted, not yet served mirror.
pub struct MountedMirror {
    /// The /dev/fuse connection to serve.
    pub fuse: OwnedFd,
    /// Where the mirror is mounted (in fusebox-run's mount namespace).
    pub mountpoint: PathBuf,
    /// Directories the mirror must hide: the private parent of the staging directory
    /// when it was made by this run.
    pub hidden: Vec<std::os::fd::OwnedFd>,
    /// Whether the sandbox child must create its own user namespace (fusermount3: we
    /// are still in the host's).
    pub needs_userns: bool,
    /// fds the sandbox must close: they belong to the daemon.
    pub daemon_fds: Vec<RawFd>,
    /// The `--share` paths, for PID 1 to mount.
    pub shares: Vec<super::shares::Share>,
    teardown: Teardown,
}

/// What a failed teardown left on the host.
pub enum Leftover {
    /// The mirror is still mounted: the run fails (exit 125) whatever the build did.
    Mount(anyhow::Error),
    /// An empty directory: a warning.
    Directory(anyhow::Error),
}

enum Teardown {
    /// The mount dies with fusebox's private mount namespace, which the holder keeps
    /// until fusebox-run has gone (see [`NamespaceHolder`]).
    Direct { holder: NamespaceHolder },
    /// Unmount through the helper, then remove the staging directory.
    Fusermount3 {
        program: PathBuf,
        staging: tempfile::TempDir,
        watchdog: Watchdog,
        /// How the mount is found, wherever it has been moved.
        mount: staging::MountKey,
    },
}

impl MountedMirror {
    /// Unmounts (when the method needs it) and removes what was staged on the host.
    /// A mount left behind is [`Leftover::Mount`]; a directory, [`Leftover::Directory`].
    pub fn teardown(self) -> Result<(), Leftover> {
        match self.teardown {
            Teardown::Direct { holder } => {
                // Kept open until fusebox-run exits: closing it now would let the
                // holder go first, and the teardown would be ours again.
                std::mem::forget(holder);
                Ok(())
            }
            Teardown::Fusermount3 {
                program,
                staging,
                watchdog,
                mount,
            } => {
                staging::unmount(&program, mount).map_err(Leftover::Mount)?;
                watchdog.done();
                fs::remove_dir(&self.mountpoint)
                    .context("cannot remove the mountpoint")
                    .map_err(Leftover::Directory)?;
                let parent = staging.path().parent().map(Path::to_path_buf);
                staging
                    .close()
                    .context("cannot remove the staging directory")
                    .map_err(Leftover::Directory)?;
                // The private parent too, unless another run stages there now.
                if let Some(parent) = parent {
                    let _ = fs::remove_dir(parent);
                }
                Ok(())
            }
        }
    }
}

/// Mounts the mirror with `method`. For [`Method::Direct`] the caller ends up in a new
/// user + mount namespace, so it must still be single-threaded.
/// Mounts the mirror; `shares` are the `--share` paths, taken where the host's paths
/// are still visible (see [`super::shares`]).
pub fn mount_mirror(method: Method, me: Ids, shares: &[SharedPath]) -> Result<MountedMirror> {
    match method {
        Method::Direct => mount_direct(me, shares),
        Method::Fusermount3 => mount_fusermount3(shares),
    }
}

fn mount_direct(me: Ids, shares: &[SharedPath]) -> Result<MountedMirror> {
    unshare(CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNS).context(
        "cannot create a user namespace (hint: `fusebox-run --check` tells why and how to allow it)",
    )?;
    write_maps(me, me).context("cannot write the user namespace's id maps")?;
    make_private_recursive(Path::new("/"))?;
    // Before the staging tmpfs covers /tmp.
    let shares = super::shares::take_now(shares)?;
    let staging = Path::new(DIRECT_STAGING);
    mount(
        Some("tmpfs"),
        staging,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some("mode=0700"),
    )
    .context("cannot mount the staging tmpfs")?;
    let mountpoint = staging.join("root");
    fs::DirBuilder::new()
        .mode(0o700)
        .create(&mountpoint)
        .context("cannot create the mountpoint")?;
    let fuse = open_dev_fuse().with_context(|| {
        format!(
            "cannot open {} (hint: `chmod 0666 /dev/fuse` as root, or --mount-helper fusermount3)",
            dev_fuse_path().display()
        )
    })?;
    mount_fuse_fd(&fuse, &mountpoint, me).context(
        "cannot mount FUSE in the user namespace (Linux ≥ 4.18 needed; try --mount-helper fusermount3)",
    )?;
    let holder = NamespaceHolder::spawn()?;
    Ok(MountedMirror {
        daemon_fds: vec![fuse.as_raw_fd(), holder.fd()],
        fuse,
        mountpoint,
        hidden: Vec::new(),
        needs_userns: false,
        shares,
        teardown: Teardown::Direct { holder },
    })
}

fn mount_fusermount3(shares: &[SharedPath]) -> Result<MountedMirror> {
    let program =
        find_fusermount3().ok_or_else(|| anyhow!("fusermount3 not found (hint: install fuse3)"))?;
    let (parent, staging) = make_staging()?;
    let hidden = staging::hidden(std::slice::from_ref(&parent));
    let mountpoint = staging.path().join("root");
    fs::create_dir(&mountpoint).context("cannot create the mountpoint")?;

    let (ours, theirs) = socketpair(
        AddressFamily::Unix,
        SockType::Stream,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .context("socketpair")?;
    let theirs_raw = theirs.as_raw_fd();
    let mut command = Command::new(&program);
    command
        .env("_FUSE_COMMFD", theirs_raw.to_string())
        .args(["-o", "fsname=fusebox,subtype=fusebox,nosuid,nodev", "--"])
        .arg(&mountpoint)
        .stdin(Stdio::null());
    crate::sys::keep_fd_across_exec(&mut command, theirs_raw);
    // Without auto_unmount (see watchdog.rs) the helper exits once it has sent the fd,
    // which waits in the socket for us.
    let output = command
        .output()
        .with_context(|| format!("cannot run {}", program.display()))?;
    drop(theirs);
    let fuse = match receive_fd(&ours) {
        Ok(fuse) if output.status.success() => fuse,
        _ => bail!(
            "fusermount3 could not mount the mirror: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ),
    };
    // The mount's id and device, its handle for the teardown (a stat would wait for
    // the mirror, which is not served yet: the mount table tells).
    let mount = mount_key(&mountpoint)?;
    let watchdog = Watchdog::spawn(&program, mount, staging.path())?;
    Ok(MountedMirror {
        daemon_fds: vec![fuse.as_raw_fd(), watchdog.fd()],
        fuse,
        mountpoint,
        hidden,
        needs_userns: true,
        // PID 1's mount namespace will be a copy of the host's: it takes them itself.
        shares: super::shares::later(shares),
        teardown: Teardown::Fusermount3 {
            program,
            staging,
            watchdog,
            mount,
        },
    })
}

/// The key of the mount at `mountpoint`, from the mount table.
fn mount_key(mountpoint: &Path) -> Result<staging::MountKey> {
    let info = fs::read_to_string("/proc/self/mountinfo").context("cannot read the mount table")?;
    staging::key_of_mount_at(&info, mountpoint).ok_or_else(|| {
        anyhow!(
            "the mirror is not in the mount table at {}",
            mountpoint.display()
        )
    })
}

/// This run's staging directory in the private parent, and the parent. Another run's
/// teardown may remove the parent (empty) between our checking it and using it: then
/// it is made again.
fn make_staging() -> Result<(PathBuf, tempfile::TempDir)> {
    let mut tries = 0;
    loop {
        let parent = staging::private_parent()?;
        match tempfile::Builder::new()
            .prefix("fusebox-")
            .tempdir_in(&parent)
        {
            Ok(dir) => return Ok((parent, dir)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && tries < 3 => tries += 1,
            Err(e) => return Err(e).context("cannot create a staging directory"),
        }
    }
}

/// Takes the /dev/fuse fd that fusermount3 sent as SCM_RIGHTS.
fn receive_fd(sock: &OwnedFd) -> Result<OwnedFd> {
    let mut byte = [0u8; 1];
    let mut iov = [IoSliceMut::new(&mut byte)];
    let mut space = nix::cmsg_space!(RawFd);
    let msg = recvmsg::<()>(
        sock.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )?;
    for cmsg in msg.cmsgs()? {
        if let ControlMessageOwned::ScmRights(fds) = cmsg
            && let Some(&fd) = fds.first()
        {
            return Ok(crate::sys::own_received_fd(fd));
        }
    }
    bail!("no fd in the message")
}

/// Mounts the FUSE connection `fuse` at `mountpoint` with mount(2), as `me` (who must be
/// root of the current user namespace's mount namespace, or real root).
pub fn mount_fuse_fd(fuse: &OwnedFd, mountpoint: &Path, me: Ids) -> nix::Result<()> {
    let options = format!(
        "fd={},rootmode=40000,user_id={},group_id={}",
        fuse.as_raw_fd(),
        me.uid,
        me.gid
    );
    mount(
        Some("fusebox"),
        mountpoint,
        Some("fuse.fusebox"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some(options.as_str()),
    )
}

/// Whether this process runs inside a fusebox sandbox: its `/` is a fusebox mirror,
/// by `mountinfo` (read from its offset: the start, for a file just opened).
fn inside_fusebox(mountinfo: &File) -> bool {
    crate::sys::read_proc_text(mountinfo)
        .is_ok_and(|info| root_fs_type(&info) == Some("fuse.fusebox"))
}

/// The filesystem type of the mount at `/` in a `/proc/PID/mountinfo` text: the last
/// one listed, which covers the others (fields: id, parent, dev, root, mount point,
/// options, optional fields, `-`, type, source, super options).
fn root_fs_type(mountinfo: &str) -> Option<&str> {
    mountinfo
        .lines()
        .filter_map(|line| {
            let (mount, fs) = line.split_once(" - ")?;
            (mount.split(' ').nth(4)? == "/").then(|| fs.split(' ').next())?
        })
        .next_back()
}

/// Opens the FUSE device for reading and writing, close-on-exec.
pub fn open_dev_fuse() -> std::io::Result<OwnedFd> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_CLOEXEC)
        .open(dev_fuse_path())?;
    Ok(OwnedFd::from(file))
}

/// fusermount3 on $PATH or in the usual places.
/// `FUSEBOX_FUSERMOUNT3` overrides the search (to test the diagnostics).
pub fn find_fusermount3() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("FUSEBOX_FUSERMOUNT3") {
        return Some(PathBuf::from(path)).filter(|p| p.is_file());
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| OsString::from("/usr/bin:/bin"));
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin"), PathBuf::from("/bin")])
        .map(|dir| dir.join("fusermount3"))
        .find(|candidate| candidate.is_file())
}

/// Stops mount events propagating between this mount namespace and the host's.
pub fn make_private_recursive(path: &Path) -> Result<()> {
    mount(
        None::<&str>,
        path,
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .with_context(|| format!("cannot make {} private", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_root_mount_type_is_the_last_mount_at_slash() {
        let host = "22 1 259:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw\n\
                    23 22 0:21 / /proc rw,nosuid - proc proc rw\n";
        assert_eq!(root_fs_type(host), Some("ext4"));
        let sandbox = "22 1 259:1 / / rw - ext4 /dev/vda1 rw\n\
                       40 22 0:50 / / rw,nosuid,nodev shared:9 master:1 - fuse.fusebox fusebox rw\n\
                       41 40 0:51 / /proc rw - proc proc rw\n";
        assert_eq!(root_fs_type(sandbox), Some("fuse.fusebox"));
        assert_eq!(root_fs_type(""), None);
        assert_eq!(root_fs_type("garbage\n"), None);
    }

    #[test]
    fn a_start_inside_a_sandbox_is_told_by_the_table_given() {
        let dir = tempfile::tempdir().unwrap();
        let table = |name: &str, text: &str| {
            std::fs::write(dir.path().join(name), text).unwrap();
            File::open(dir.path().join(name)).unwrap()
        };
        let host = table("host", "22 1 259:1 / / rw - ext4 /dev/vda1 rw\n");
        let sandbox = table(
            "sandbox",
            "22 1 259:1 / / rw - ext4 /dev/vda1 rw\n40 22 0:50 / / rw - fuse.fusebox fusebox rw\n",
        );
        let e = choose(MountHelper::Direct, Some(&sandbox)).unwrap_err();
        assert!(e.to_string().contains("inside a fusebox sandbox"), "{e}");
        assert_eq!(
            choose(MountHelper::Direct, Some(&host)).unwrap(),
            Method::Direct
        );
        assert_eq!(
            choose(MountHelper::Fusermount3, None).unwrap(),
            Method::Fusermount3
        );
    }
}
