//! The build's process group and the terminal's foreground, as a shell manages a job's.
//!
//! The sandbox's PID 1 leads a process group of its own, and the build starts in it:
//! `kill(0, sig)` from the build (or `kill -TERM 0` in its scripts) reaches that group
//! only. Without this the build shares its caller's group, and the kernel delivers a
//! signal to a process group whatever PID namespace its members are in: the caller's
//! shell, fusebox-run and its helpers would all get it. PID 1 itself ignores what the
//! build sends it (the kernel drops SIGKILL/SIGSTOP sent to a namespace's init from
//! inside, and PID 1 forwards only what comes from outside).
//!
//! When stdin is a terminal whose foreground group is fusebox-run's, that foreground
//! goes to the sandbox's group ([`Terminal::hand_over`]), so the build reads the
//! terminal and gets its Ctrl-C / Ctrl-Z as it would natively. Job control then takes
//! two steps, because the caller's shell only sees fusebox-run: when the build stops
//! (PID 1 says so through a pipe), fusebox-run takes the foreground back and stops
//! itself, which the shell reports as a stopped job; when the shell continues it, the
//! foreground goes back to the sandbox (if fusebox-run is in the foreground) and the
//! whole group continues. At the end the foreground comes back to fusebox-run's group.
//!
//! A build stopped while fusebox-run does not hold the terminal (no terminal, or in the
//! background: `kill -STOP 0` in a CI job) stays stopped alone: the mirror keeps
//! serving, and a SIGCONT sent to fusebox-run continues it.

use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::{Pid, getpgrp, isatty, setpgid, tcgetpgrp, tcsetpgrp};

/// The pipe on which PID 1 says the build stopped: only when stdin is a terminal, since
/// without one [`Terminal::build_stopped`] has nothing to do, and the thread that
/// reads the pipe would cost every run its start and exit for nothing.
pub fn stops_pipe() -> std::io::Result<Option<(OwnedFd, OwnedFd)>> {
    if !isatty(std::io::stdin().as_fd()).unwrap_or(false) {
        return Ok(None);
    }
    Ok(Some(nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?))
}

/// fusebox-run's view of the terminal on its stdin.
pub struct Terminal {
    /// The sandbox's process group (PID 1's pid, as fusebox-run sees it).
    group: Pid,
    /// Whether the foreground was handed to `group` (and so is ours to take back).
    handed: AtomicBool,
}

impl Terminal {
    /// Puts the freshly forked PID 1 (`init`) in a process group of its own; the build
    /// it starts is born there. Done by the parent, before PID 1 runs anything that
    /// could depend on it, as shells do for their jobs.
    pub fn new_group(init: Pid) -> nix::Result<Arc<Terminal>> {
        setpgid(init, init)?;
        Ok(Arc::new(Terminal {
            group: init,
            handed: AtomicBool::new(false),
        }))
    }

    /// Gives the terminal's foreground to the sandbox's group if stdin is a terminal
    /// whose foreground is fusebox-run's group (never steals it from a shell that has
    /// us in the background). The caller blocks SIGTTOU, as a shell does.
    pub fn hand_over(&self) {
        let stdin = std::io::stdin();
        if !isatty(stdin.as_fd()).unwrap_or(false) {
            return;
        }
        if tcgetpgrp(stdin.as_fd()) == Ok(getpgrp()) && tcsetpgrp(stdin.as_fd(), self.group).is_ok()
        {
            self.handed.store(true, Ordering::SeqCst);
        }
    }

    /// fusebox-run was continued (SIGCONT, from `fg` or `bg`): the terminal goes back
    /// to the sandbox if we are in the foreground, and the whole group continues.
    pub fn continued(&self) {
        self.hand_over();
        let _ = killpg(self.group, Signal::SIGCONT);
    }

    /// The build stopped (PID 1 said so). If it had the terminal, the stop is the
    /// user's job control: take the foreground back and stop fusebox-run too, so the
    /// caller's shell sees a stopped job. Otherwise the build stays stopped alone.
    pub fn build_stopped(&self) {
        let stdin = std::io::stdin();
        if !self.handed.load(Ordering::SeqCst) || tcgetpgrp(stdin.as_fd()) != Ok(self.group) {
            return;
        }
        let _ = tcsetpgrp(stdin.as_fd(), getpgrp());
        let _ = kill(Pid::this(), Signal::SIGSTOP);
    }

    /// The sandbox is over: if the terminal's foreground is still its group, give it
    /// back to fusebox-run's (a non-interactive caller would otherwise be left in the
    /// background of its own terminal).
    pub fn take_back(&self) {
        let stdin = std::io::stdin();
        if self.handed.load(Ordering::SeqCst) && tcgetpgrp(stdin.as_fd()) == Ok(self.group) {
            let _ = tcsetpgrp(stdin.as_fd(), getpgrp());
        }
    }

    /// Starts the thread that waits for PID 1's "the build stopped" bytes on `stops`
    /// (EOF when PID 1 has gone).
    pub fn watch_stops(self: &Arc<Self>, stops: OwnedFd) -> std::io::Result<()> {
        let terminal = self.clone();
        std::thread::Builder::new()
            .name("job-control".into())
            .spawn(move || {
                let mut stops = File::from(stops);
                let mut byte = [0u8; 1];
                while let Ok(1) = stops.read(&mut byte) {
                    terminal.build_stopped();
                }
            })?;
        Ok(())
    }
}
