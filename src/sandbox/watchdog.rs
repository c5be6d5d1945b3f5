//! Unmounting a fusermount3 mount after fusebox-run is killed.
//!
//! A fusermount3 mount lives in the host's mount namespace, so nothing removes it when
//! fusebox-run dies by SIGKILL. fusermount3's own `auto_unmount` does not help: it unmounts
//! only after opening the dead mount returns ENOTCONN, but it opens it as root, and
//! without `allow_other` (which needs `user_allow_other` in /etc/fuse.conf) the kernel
//! refuses root with EACCES first, so it never fires. Instead fusebox-run forks this
//! watchdog while still single-threaded; it waits for fusebox-run to go away and then
//! unmounts what is left.

use std::fs::File;
use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use nix::unistd::pipe2;

use super::staging::MountKey;
use crate::sys::{self, Forked};

/// The fd number the watchdog keeps its end of the pipe on.
const WATCH_FD: i32 = 3;

/// fusebox-run's handle on its watchdog: say [`Watchdog::done`] after a clean teardown.
pub struct Watchdog {
    alive: File,
    pid: nix::unistd::Pid,
}

impl Watchdog {
    /// Forks the watchdog for `mount`, made inside `staging`. The
    /// returned handle's fd must not reach the sandbox (it is close-on-exec; PID 1
    /// closes it).
    pub fn spawn(fusermount3: &Path, mount: MountKey, staging: &Path) -> Result<Watchdog> {
        let (read_end, write_end) = pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("pipe")?;
        match sys::fork().context("cannot fork the unmount watchdog")? {
            Forked::Child => {
                drop(write_end);
                watch(read_end, fusermount3, mount, staging)
            }
            Forked::Parent(pid) => Ok(Watchdog {
                alive: File::from(write_end),
                pid,
            }),
        }
    }

    /// The fd the sandbox must close.
    pub fn fd(&self) -> i32 {
        self.alive.as_raw_fd()
    }

    /// The mount is gone: the watchdog may leave without doing anything.
    pub fn done(mut self) {
        let _ = std::io::Write::write_all(&mut self.alive, b"done");
        let _ = nix::sys::wait::waitpid(self.pid, None);
    }
}

/// The watchdog's life: hold nothing of fusebox-run's (above all not /dev/fuse, which
/// would keep the dead mount's connection alive), wait, clean up, exit.
fn watch(read_end: OwnedFd, fusermount3: &Path, mount: MountKey, staging: &Path) -> ! {
    let fusermount3 = fusermount3.to_path_buf();
    let staging: PathBuf = staging.into();
    // A session of its own, out of the caller's process group: the shell's kill of
    // the job (or anything's kill of that group) must not take the watchdog along
    // with fusebox-run, whose mount it is there to remove.
    let _ = nix::unistd::setsid();
    let mut alive = detach(c"fusebox-watch", read_end);
    let mut word = [0u8; 4];
    // Data: a clean teardown. EOF: fusebox-run died (the sandbox's copy closes as it dies).
    if matches!(alive.read(&mut word), Ok(0) | Err(_)) {
        // Found by its key, wherever it is now.
        let _ = super::staging::unmount(&fusermount3, mount);
        let _ = std::fs::remove_dir(staging.join("root"));
        let _ = std::fs::remove_dir(&staging);
    }
    sys::exit_now(0)
}

/// Direct mode: the process that holds fusebox-run's mount namespace, and with it the
/// mirror's mount, until fusebox-run has gone.
///
/// The mount goes when the last process in that namespace exits, and its teardown is
/// the kernel dropping a dentry and an inode for every name the build looked at: 0.47 s
/// after a `find /usr` (127,000 names) on a 2-core VM, in `fuse_kill_sb_anon`. Without
/// this process that teardown runs in fusebox-run's own exit, after the build's status
/// is known but before its caller gets it. The holder is forked while fusebox-run is
/// single-threaded, keeps no fd but its end of a pipe (above all not /dev/fuse: the
/// connection must die with the daemon), and exits when the pipe says fusebox-run has
/// gone, so the teardown runs there, off the build's exit path. A SIGKILL of fusebox-run
/// ends it the same way.
pub struct NamespaceHolder {
    /// Its other end's EOF tells the holder to go. Close-on-exec; PID 1 closes it.
    alive: OwnedFd,
}

impl NamespaceHolder {
    pub fn spawn() -> Result<NamespaceHolder> {
        let (read_end, write_end) = pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("pipe")?;
        match sys::fork().context("cannot fork the namespace holder")? {
            Forked::Child => {
                drop(write_end);
                hold(read_end)
            }
            Forked::Parent(_) => Ok(NamespaceHolder { alive: write_end }),
        }
    }

    /// The fd the sandbox must close.
    pub fn fd(&self) -> i32 {
        self.alive.as_raw_fd()
    }
}

/// The holder's life: nothing of fusebox-run's but the pipe (no stdout either, which a
/// caller reading fusebox-run's output would wait on), wait for EOF, exit.
fn hold(read_end: OwnedFd) -> ! {
    let mut alive = detach(c"fusebox-hold", read_end);
    let mut byte = [0u8; 1];
    // Nothing is ever written: this returns at EOF, when fusebox-run (and the sandbox's
    // copy, closed by PID 1) are gone.
    while let Ok(1..) = alive.read(&mut byte) {}
    sys::exit_now(0)
}

/// A forked helper lets go of everything of fusebox-run's: it takes `name`, its stdio
/// becomes /dev/null, and of its fds only `read_end` stays (as the returned file).
fn detach(name: &std::ffi::CStr, read_end: OwnedFd) -> File {
    let _ = nix::sys::prctl::set_name(name);
    if let Ok(null) = File::options().read(true).write(true).open("/dev/null") {
        let _ = nix::unistd::dup2_stdin(&null);
        let _ = nix::unistd::dup2_stdout(&null);
        let _ = nix::unistd::dup2_stderr(&null);
    }
    let Ok(watched) = sys::dup_onto(&read_end, WATCH_FD) else {
        sys::exit_now(1)
    };
    std::mem::forget(read_end); // closed just below, with everything else
    let _ = sys::close_fds_from(WATCH_FD as u32 + 1);
    File::from(watched)
}
