//! The host around the sandbox: commands run natively, and probes of its processes and mounts.

use std::collections::BTreeSet;
use std::ffi::{OsStr, OsString};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{Out, bin, my_uid, spawn_command};

// ---------------------------------------------------------------------------------------------
// Native (host) commands.

/// Runs a command on the host (not sandboxed), with the hang guard.
pub fn native<S: AsRef<OsStr>>(args: &[S], cwd: &Path) -> Out {
    let mut c = Command::new(args[0].as_ref());
    c.args(&args[1..]).current_dir(cwd);
    spawn_command(c, false, Duration::from_secs(300)).wait()
}

/// Runs `sh -c SCRIPT sh ARGS...` on the host and requires success.
#[track_caller]
pub fn native_sh<S: AsRef<OsStr>>(script: &str, args: &[S], cwd: &Path) -> Out {
    let mut v: Vec<OsString> = vec!["sh".into(), "-c".into(), script.into(), "sh".into()];
    v.extend(args.iter().map(|a| a.as_ref().to_os_string()));
    let out = native(&v, cwd);
    assert_eq!(out.code(), Some(0), "host command failed\n{out}");
    out
}

/// Whether `prog --version` runs on the host.
pub fn have(prog: &str) -> bool {
    Command::new(prog)
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// The first existing path of `candidates`, or a failing test that says what to install.
#[track_caller]
pub fn find_tool(candidates: &[&str], package: &str) -> String {
    candidates
        .iter()
        .find(|p| Path::new(p).exists())
        .map(|s| s.to_string())
        .unwrap_or_else(|| panic!("none of {candidates:?} exists: install the `{package}` package"))
}

// ---------------------------------------------------------------------------------------------
// Host probes.

pub fn pids() -> Vec<i32> {
    let mut v: Vec<i32> = std::fs::read_dir("/proc")
        .expect("read /proc")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    v.sort();
    v
}

pub fn cmdline(pid: i32) -> Option<String> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let s: Vec<u8> = raw
        .into_iter()
        .map(|b| if b == 0 { b' ' } else { b })
        .collect();
    Some(String::from_utf8_lossy(&s).trim_end().to_string())
}

pub fn comm(pid: i32) -> Option<String> {
    Some(
        std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .ok()?
            .trim_end()
            .to_string(),
    )
}

/// The real uid of a process (from /proc/PID/status).
pub fn real_uid(pid: i32) -> Option<u32> {
    let st = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = st.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Host processes (other than this one) whose command line contains `marker`: (pid, cmdline).
pub fn procs_matching(marker: &str) -> Vec<(i32, String)> {
    let me = std::process::id() as i32;
    pids()
        .into_iter()
        .filter(|&p| p != me)
        .filter_map(|p| cmdline(p).filter(|c| c.contains(marker)).map(|c| (p, c)))
        .collect()
}

/// Host processes of this uid that belong to fusebox: comm `fusebox*` or `fusermount*` (the
/// setuid helper keeps our real uid), or the executable is the binary under test.
/// (pid, comm + cmdline).
pub fn fusebox_procs() -> Vec<(i32, String)> {
    let me = std::process::id() as i32;
    let uid = my_uid();
    let bin = std::fs::canonicalize(bin()).unwrap_or_else(|_| bin());
    pids()
        .into_iter()
        .filter(|&p| p != me && real_uid(p) == Some(uid))
        .filter_map(|p| {
            let c = comm(p)?;
            let exe = std::fs::read_link(format!("/proc/{p}/exe")).ok();
            let ours = c.starts_with("fusebox")
                || c.starts_with("fusermount")
                || exe.as_deref() == Some(bin.as_path());
            ours.then(|| (p, format!("{c}: {}", cmdline(p).unwrap_or_default())))
        })
        .collect()
}

/// The FUSE mounts visible to this process: lines of /proc/self/mountinfo with a `fuse*` type.
pub fn fuse_mounts() -> BTreeSet<String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .expect("read /proc/self/mountinfo")
        .lines()
        .filter(|l| mountinfo_fstype(l).is_some_and(|t| t.starts_with("fuse")))
        .map(str::to_string)
        .collect()
}

/// The mount point field of a mountinfo line.
pub fn mountinfo_mountpoint(line: &str) -> Option<&str> {
    line.split(' ').nth(4)
}

/// The per-mount options field of a mountinfo line.
pub fn mountinfo_options(line: &str) -> Option<&str> {
    line.split(' ').nth(5)
}

/// The file system type of a mountinfo line (the field after ` - `).
pub fn mountinfo_fstype(line: &str) -> Option<&str> {
    let (_, tail) = line.split_once(" - ")?;
    tail.split(' ').next()
}

/// SIGKILLs the given pids (processes a test started and that leaked), ignoring errors.
pub fn kill_pids(pids: &[(i32, String)]) {
    for (p, _) in pids {
        // SAFETY: plain kill(2).
        unsafe { libc::kill(*p, libc::SIGKILL) };
    }
}

/// Polls `cond` every 50 ms until it holds or `timeout` passes; returns whether it held.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Asserts that no process with `marker` in its command line is left (polling up to
/// `timeout`); kills the leftovers before failing.
#[track_caller]
pub fn assert_no_survivors(marker: &str, timeout: Duration) {
    if !wait_until(timeout, || procs_matching(marker).is_empty()) {
        let left = procs_matching(marker);
        kill_pids(&left);
        panic!("processes of the build survived the sandbox ({marker}): {left:#?}");
    }
}
