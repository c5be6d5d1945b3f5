//! Supervision on both sides of the PID namespace boundary.
//!
//! Outside, fusebox-run's main thread waits for the sandbox's PID 1 and forwards signals
//! to it. Inside, PID 1 is [`run_init`]: it starts the build, reaps every orphan, forwards
//! signals to the build and, when the build ends, kills whatever is left.
//!
//! Both sides block the signals they handle and take them with sigwaitinfo: no handlers,
//! no races between a signal and a wait.

use std::ffi::{CString, OsStr, OsString};
use std::fs::File;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::sys::signal::{SigSet, SigmaskHow, Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use crate::sandbox::job_control::Terminal;
use crate::sys::{self, Forked};

/// The build's status could not be had: setup failed.
pub const EXIT_SETUP_FAILED: i32 = 125;
/// COMMAND exists but cannot be executed.
pub const EXIT_NOT_EXECUTABLE: i32 = 126;
/// COMMAND was not found.
pub const EXIT_NOT_FOUND: i32 = 127;

/// The signals fusebox-run passes on to the build.
pub const FORWARDED: [Signal; 8] = [
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGWINCH,
    Signal::SIGCONT,
];

/// The forwarded signals plus SIGCHLD: what both supervisors block and wait for.
pub fn supervised_signals() -> SigSet {
    let mut set: SigSet = FORWARDED.iter().copied().collect();
    set.add(Signal::SIGCHLD);
    set
}

/// Blocks the supervised signals in the calling thread (and so in threads and children
/// created after it), so that they queue for sigwaitinfo instead of killing us.
pub fn block_supervised_signals() -> nix::Result<()> {
    supervised_signals().thread_block()
}

/// Unblocks the supervised signals in the calling thread: once the build is over,
/// SIGTERM and SIGINT take their default action (end fusebox-run) whatever it is
/// waiting for. A signal inherited as ignored (`nohup`) stays ignored.
pub fn unblock_supervised_signals() {
    let _ = supervised_signals().thread_unblock();
}

/// A wait status as a shell reports it: the exit code, or 128+N for signal N.
pub fn exit_code(status: WaitStatus) -> Option<i32> {
    match status {
        WaitStatus::Exited(_, code) => Some(code),
        WaitStatus::Signaled(_, signal, _) => Some(128 + signal as i32),
        _ => None,
    }
}

/// fusebox-run's side: forwards signals to `init` until it exits, then returns the
/// build's exit code (init exits with it).
///
/// A signal the kernel generated (a terminal's Ctrl-C or resize) went to the terminal's
/// foreground process group, the sandbox's when the build has the terminal: forwarding
/// it too would deliver it twice. Only signals sent by a process are passed on. A
/// SIGCONT (the caller's `fg` or `bg`) goes to the sandbox's whole group, with the
/// terminal's foreground when fusebox-run has it (see [`Terminal`]).
pub fn supervise_outside(init: Pid, terminal: &Terminal) -> std::io::Result<i32> {
    let set = supervised_signals();
    loop {
        if let Some(code) = reap(init)? {
            return Ok(code);
        }
        let info = sys::wait_signal(&set)?;
        match info.signal {
            Signal::SIGCHLD => {}
            Signal::SIGCONT if info.from_process() => terminal.continued(),
            // ESRCH: init is already gone; its exit is the next SIGCHLD.
            signal if info.from_process() => {
                let _ = kill(init, signal);
            }
            _ => {}
        }
    }
}

/// Reaps `pid` if it has ended, returning its exit code.
fn reap(pid: Pid) -> std::io::Result<Option<i32>> {
    loop {
        match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) => return Ok(None),
            Ok(status) => {
                if let Some(code) = exit_code(status) {
                    return Ok(Some(code));
                }
            }
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// A change to the build's environment: set (`Some`) or removed (`None`).
pub type EnvChange = (OsString, Option<OsString>);

/// PID 1 of the sandbox: starts `command` with `env` applied to the environment, then
/// supervises until it ends, writing a byte to `stops` (if fusebox-run does job control)
/// each time the build stops (see [`Terminal`]). Never returns.
pub fn run_init(command: &[OsString], env: &[EnvChange], stops: Option<OwnedFd>) -> ! {
    // So that `ps` inside tells PID 1 from the build (comm is what ps shows).
    let _ = nix::sys::prctl::set_name(c"fusebox-init");
    let build = match sys::fork() {
        Ok(Forked::Child) => exec_build(command, env),
        Ok(Forked::Parent(pid)) => pid,
        Err(e) => {
            crate::audit::terminal::error_line(&format!("cannot start the build: {e}"));
            sys::exit_now(EXIT_SETUP_FAILED);
        }
    };
    let code = supervise_inside(build, stops.map(File::from));
    // The build is over: nothing it started may outlive it. kill(-1) from PID 1 reaches
    // every other process of the namespace.
    let _ = kill(Pid::from_raw(-1), Signal::SIGKILL);
    while !matches!(waitpid(None, None), Err(Errno::ECHILD)) {}
    sys::exit_now(code)
}

/// Forwards signals to `build` and reaps orphans until `build` exits; says on `stops`
/// when the build stops.
///
/// Only signals from outside the sandbox (fusebox-run's forwarding, or a host process)
/// are forwarded. The build shares PID 1's process group, so its own `kill 0` reaches
/// PID 1 too: forwarding that back would deliver it twice. A terminal's Ctrl-C (sent by
/// the kernel) reached the build directly, for the same reason.
fn supervise_inside(build: Pid, mut stops: Option<File>) -> i32 {
    let set = supervised_signals();
    loop {
        // Reap everything that has ended; orphans are reparented to us.
        loop {
            match waitpid(None, Some(WaitPidFlag::WNOHANG | WaitPidFlag::WUNTRACED)) {
                Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => break,
                Ok(WaitStatus::Stopped(pid, _)) if pid == build => {
                    // fusebox-run may be gone (EPIPE): then nobody is doing job control.
                    if let Some(stops) = &mut stops {
                        let _ = stops.write_all(b"s");
                    }
                }
                Ok(status) if status.pid() == Some(build) => {
                    if let Some(code) = exit_code(status) {
                        return code;
                    }
                }
                Ok(_) | Err(Errno::EINTR) => {}
                Err(e) => {
                    crate::audit::terminal::error_line(&format!("init: waitpid: {e}"));
                    return EXIT_SETUP_FAILED;
                }
            }
        }
        match sys::wait_signal(&set) {
            Ok(info) if info.signal == Signal::SIGCHLD => {}
            Ok(info) if info.from_outside() => {
                let _ = kill(build, info.signal);
            }
            Ok(_) => {}
            Err(e) => {
                crate::audit::terminal::error_line(&format!("init: sigwaitinfo: {e}"));
                return EXIT_SETUP_FAILED;
            }
        }
    }
}

/// The build's process: restores what a program expects at exec and runs `command`
/// with our environment changed by `env`.
fn exec_build(command: &[OsString], env: &[EnvChange]) -> ! {
    sys::reset_signal_dispositions();
    let _ = SigSet::all().thread_unblock();
    let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
    let name = command[0].to_string_lossy().into_owned();
    let fail = |code: i32, what: &str| -> ! {
        crate::audit::terminal::error_line(&format!("{name}: {what}"));
        sys::exit_now(code)
    };
    let vars = environment(std::env::vars_os(), env);
    let path = vars
        .iter()
        .find(|(name, _)| name == "PATH")
        .map(|(_, value)| value.clone())
        .unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    let program = match find_program(Path::new(&command[0]), &path) {
        Ok(program) => program,
        Err((code, what)) => fail(code, &what),
    };
    let envp = vars.into_iter().map(|(name, value)| {
        let mut pair = name.into_vec();
        pair.push(b'=');
        pair.extend_from_slice(value.as_bytes());
        CString::new(pair)
    });
    let (Ok(program), Ok(argv), Ok(envp)) = (
        CString::new(program.into_os_string().into_vec()),
        command
            .iter()
            .map(|arg| CString::new(arg.as_bytes()))
            .collect::<Result<Vec<_>, _>>(),
        envp.collect::<Result<Vec<_>, _>>(),
    ) else {
        fail(EXIT_SETUP_FAILED, "the command line holds a NUL byte")
    };
    let err = match nix::unistd::execve(&program, &argv, &envp) {
        Err(e) => e,
        Ok(never) => match never {},
    };
    let (code, what) = exec_failure(err);
    fail(code, &what)
}

/// `vars` with `changes` applied in order, keeping the variables' order (a changed
/// variable stays where it was; a new one goes last).
pub fn environment(
    vars: impl IntoIterator<Item = (OsString, OsString)>,
    changes: &[EnvChange],
) -> Vec<(OsString, OsString)> {
    let mut vars: Vec<(OsString, OsString)> = vars.into_iter().collect();
    for (name, value) in changes {
        let at = vars.iter().position(|(n, _)| n == name);
        match (at, value) {
            (Some(i), Some(v)) => vars[i].1 = v.clone(),
            (None, Some(v)) => vars.push((name.clone(), v.clone())),
            (Some(i), None) => {
                vars.remove(i);
            }
            (None, None) => {}
        }
    }
    vars
}

/// Finds `command` as a shell does: a name with a slash is used as it is; otherwise the
/// first executable regular file of that name in `path`'s directories. Unlike execvp, a
/// directory of PATH that cannot be searched does not turn "not found" into 126.
pub fn find_program(command: &Path, path: &OsStr) -> Result<PathBuf, (i32, String)> {
    if command.as_os_str().as_bytes().contains(&b'/') {
        return Ok(command.to_path_buf());
    }
    let mut not_executable = None;
    for dir in std::env::split_paths(path) {
        let dir = if dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            dir
        };
        let candidate = dir.join(command);
        match candidate.metadata() {
            Ok(meta) if meta.is_file() => {
                if nix::unistd::access(&candidate, nix::unistd::AccessFlags::X_OK).is_ok() {
                    return Ok(candidate);
                }
                not_executable.get_or_insert(candidate);
            }
            _ => {}
        }
    }
    match not_executable {
        Some(_) => Err((
            EXIT_NOT_EXECUTABLE,
            "permission denied (not executable)".into(),
        )),
        None => Err((EXIT_NOT_FOUND, "command not found".into())),
    }
}

/// The exit code and message for a failed exec, by env(1)'s conventions.
pub fn exec_failure(err: Errno) -> (i32, String) {
    match err {
        Errno::ENOENT => (EXIT_NOT_FOUND, "command not found".to_string()),
        Errno::EACCES => (
            EXIT_NOT_EXECUTABLE,
            "permission denied (not executable)".to_string(),
        ),
        other => (
            EXIT_NOT_EXECUTABLE,
            format!("cannot execute: {}", other.desc()),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_shell() {
        let pid = Pid::from_raw(7);
        assert_eq!(exit_code(WaitStatus::Exited(pid, 42)), Some(42));
        assert_eq!(
            exit_code(WaitStatus::Signaled(pid, Signal::SIGTERM, false)),
            Some(143)
        );
        assert_eq!(
            exit_code(WaitStatus::Signaled(pid, Signal::SIGKILL, true)),
            Some(137)
        );
        assert_eq!(exit_code(WaitStatus::Stopped(pid, Signal::SIGTSTP)), None);
    }

    #[test]
    fn environment_changes_apply_in_order() {
        let vars = [("A", "1"), ("B", "2"), ("C", "3")]
            .map(|(n, v)| (OsString::from(n), OsString::from(v)));
        let change = |n: &str, v: Option<&str>| (OsString::from(n), v.map(OsString::from));
        let out = environment(
            vars,
            &[
                change("B", Some("two")),
                change("A", None),
                change("D", Some("4")),
                change("E", None),
                change("D", Some("four")),
            ],
        );
        let out: Vec<(String, String)> = out
            .into_iter()
            .map(|(n, v)| (n.into_string().unwrap(), v.into_string().unwrap()))
            .collect();
        assert_eq!(
            out,
            [("B", "two"), ("C", "3"), ("D", "four")].map(|(n, v)| (n.into(), v.into()))
        );
    }

    #[test]
    fn exec_failures_map_to_env_conventions() {
        assert_eq!(exec_failure(Errno::ENOENT).0, 127);
        assert_eq!(exec_failure(Errno::EACCES).0, 126);
        assert_eq!(exec_failure(Errno::ENOEXEC).0, 126);
    }

    #[test]
    fn programs_are_found_on_path_like_a_shell_does() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let locked = dir.path().join("locked");
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        std::fs::write(bin.join("tool"), "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(bin.join("tool"), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(bin.join("data"), "").unwrap();
        let path = std::env::join_paths([&locked, &bin]).unwrap();
        assert_eq!(find_program(Path::new("tool"), &path), Ok(bin.join("tool")));
        assert_eq!(find_program(Path::new("data"), &path).unwrap_err().0, 126);
        assert_eq!(find_program(Path::new("nope"), &path).unwrap_err().0, 127);
        assert_eq!(
            find_program(Path::new("./x"), &path),
            Ok(PathBuf::from("./x"))
        );
    }

    #[test]
    fn supervised_signals_include_sigchld_and_every_forwarded_one() {
        let set = supervised_signals();
        assert!(set.contains(Signal::SIGCHLD));
        assert!(FORWARDED.iter().all(|s| set.contains(*s)));
        assert!(
            !set.contains(Signal::SIGTSTP),
            "Ctrl-Z must stop fusebox-run as usual"
        );
    }
}
