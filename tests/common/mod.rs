//! The e2e harness: runs the real `fusebox-run` binary and looks at the host around it.
//!
//! - [`Sandbox`] builds one `fusebox-run` invocation (helper, options, cwd, env) and runs it
//!   with a hang guard ([`Sandbox::run`], [`Sandbox::run_sh`]) or in the background
//!   ([`Sandbox::spawn`]), returning an [`Out`].
//! - [`Running`] owns a spawned process; dropping it SIGKILLs that process (by pid, only the one
//!   we started) if it has not been reaped, so a failing test leaves nothing behind.
//! - Host probes: processes by marker ([`procs_matching`]), fusebox processes
//!   ([`fusebox_procs`]), FUSE mounts ([`fuse_mounts`]).
//!
//! Environment:
//! - `FUSEBOX_BIN`: the binary under test (default: cargo's `CARGO_BIN_EXE_fusebox-run`).
//! - `FUSEBOX_FIXTURES`: the fixtures directory (default: `tests/fixtures` of the crate).
//! - `FUSEBOX_SCRIPTS`: the project's scripts directory (default: `scripts` of the crate),
//!   for the scripts the tests run (portage-prefix.sh).
//! - `FUSEBOX_PORTAGE_SDIST`: Portage's sdist, for the Portage tests (without it they
//!   download it into `~/.cache/fusebox-portage`).
//! - `FUSEBOX_STRESS`: the stress program (default: `examples/stress` next to this test
//!   executable's `deps` directory; see [`stress_bin`]).
//! - `FUSEBOX_OTHER_FS`: a directory on a separate host filesystem (scripts/test.sh mounts a
//!   tmpfs there when run as root) used by the inode test.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::io::Write;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use tempfile::{NamedTempFile, TempDir};

/// Default hang guard for one sandbox run.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// How the FUSE file system gets mounted (`--mount-helper`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Helper {
    Direct,
    Fusermount3,
}

impl Helper {
    pub fn name(self) -> &'static str {
        match self {
            Helper::Direct => "direct",
            Helper::Fusermount3 => "fusermount3",
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Test serialisation: most tests share; the ones that count host-wide things (FUSE mounts,
// fusebox processes) run alone.

static SUITE_LOCK: RwLock<()> = RwLock::new(());

pub fn shared() -> RwLockReadGuard<'static, ()> {
    SUITE_LOCK.read().unwrap_or_else(|e| e.into_inner())
}

pub fn exclusive() -> RwLockWriteGuard<'static, ()> {
    SUITE_LOCK.write().unwrap_or_else(|e| e.into_inner())
}

/// Fails the calling test at once unless `fusebox-run --mount-helper H -- true` works (checked
/// once per helper, with a 30 s hang guard): a helper that cannot start a sandbox at all would
/// otherwise make every test of it wait for its own hang guard.
#[track_caller]
pub fn require_working(h: Helper) {
    use std::sync::OnceLock;
    static DIRECT: OnceLock<Result<(), String>> = OnceLock::new();
    static FUSERMOUNT3: OnceLock<Result<(), String>> = OnceLock::new();
    let cell = match h {
        Helper::Direct => &DIRECT,
        Helper::Fusermount3 => &FUSERMOUNT3,
    };
    let smoke = cell.get_or_init(|| {
        let r = std::panic::catch_unwind(|| {
            Sandbox::new(h)
                .timeout(Duration::from_secs(30))
                .run(&["true"])
        });
        match r {
            Ok(out) if out.code() == Some(0) => Ok(()),
            Ok(out) => Err(format!("{out}")),
            Err(e) => Err(e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default()),
        }
    });
    if let Err(e) = smoke {
        panic!(
            "--mount-helper {} cannot run `true` in a sandbox, so this test cannot run:\n{e}",
            h.name()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Paths and names.

/// The `fusebox-run` binary under test.
pub fn bin() -> PathBuf {
    match std::env::var_os("FUSEBOX_BIN") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(env!("CARGO_BIN_EXE_fusebox-run")),
    }
}

/// The stress program (examples/stress): `$FUSEBOX_STRESS`, else `examples/stress` of the
/// target directory this test executable was built in (it is `target/PROFILE/deps/e2e-HASH`;
/// `cargo test` builds the examples next to it).
pub fn stress_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("FUSEBOX_STRESS").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("the path of this test executable");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test executable lives in target/PROFILE/deps");
    profile_dir.join("examples").join("stress")
}

/// The fixtures directory.
pub fn fixtures() -> PathBuf {
    match std::env::var_os("FUSEBOX_FIXTURES") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures")),
    }
}

/// The project's scripts directory.
pub fn scripts() -> PathBuf {
    match std::env::var_os("FUSEBOX_SCRIPTS") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts")),
    }
}

/// A fresh directory under /tmp (part of the default write set), removed on drop.
pub fn tmpdir() -> TempDir {
    tempfile::Builder::new()
        .prefix("fusebox-e2e.")
        .tempdir_in("/tmp")
        .expect("create a temp dir under /tmp")
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A string unique to this test process and call.
pub fn unique(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    format!("{prefix}{}x{n}", std::process::id())
}

/// A `sleep` argument that is a valid duration of about `secs` seconds and unique, so that the
/// process can be found by its command line: e.g. `100.0004242000017`.
pub fn sleep_marker(secs: u32) -> String {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    format!("{secs}.000{:07}{:05}", std::process::id(), n)
}

pub fn my_uid() -> u32 {
    // SAFETY: getuid has no preconditions.
    unsafe { libc::getuid() }
}

pub fn my_gid() -> u32 {
    // SAFETY: getgid has no preconditions.
    unsafe { libc::getgid() }
}

/// `$HOME` of the test user; must not be inside the default write set.
pub fn home() -> PathBuf {
    let h = std::env::var_os("HOME").expect("HOME must be set for the e2e tests");
    let h = PathBuf::from(h);
    assert!(
        h.is_absolute() && h.is_dir(),
        "HOME={} is not an existing directory",
        h.display()
    );
    assert!(
        !h.starts_with("/tmp") && h != Path::new("/"),
        "HOME={} is inside the sandbox's default write set; run the tests with a normal home",
        h.display()
    );
    h
}

// ---------------------------------------------------------------------------------------------
// Results.

/// What a finished run left: exit status, output, and how long it took.
pub struct Out {
    pub desc: String,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Out {
    /// The exit code, or None when the process was killed by a signal.
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// Panics, showing everything, unless the exit code is `code`.
    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(self.code(), Some(code), "expected exit code {code}\n{self}");
        self
    }

    /// Panics, showing everything, unless the exit code is 0.
    #[track_caller]
    pub fn ok(&self) -> &Self {
        self.expect_code(0)
    }

    pub fn stdout_lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }
}

fn clip(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut cut = max;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}\n[... {} more bytes]", &s[..cut], s.len() - cut)
}

impl fmt::Display for Out {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "command: {}", self.desc)?;
        match (self.status.code(), self.status.signal()) {
            (Some(c), _) => writeln!(f, "exit code: {c}")?,
            (None, Some(s)) => writeln!(f, "killed by signal {s}")?,
            _ => writeln!(f, "status: {:?}", self.status)?,
        }
        writeln!(f, "elapsed: {:.2?}", self.elapsed)?;
        writeln!(f, "--- stdout ---\n{}", clip(&self.stdout, 6000))?;
        write!(f, "--- stderr ---\n{}", clip(&self.stderr, 6000))
    }
}

impl fmt::Debug for Out {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

// ---------------------------------------------------------------------------------------------
// Running processes.

/// A spawned process with its output going to temp files. Dropping it SIGKILLs the process
/// (by pid, if not reaped yet) and reaps it.
pub struct Running {
    child: Option<Child>,
    pid: i32,
    stdout: NamedTempFile,
    stderr: NamedTempFile,
    pub stdin: Option<ChildStdin>,
    timeout: Duration,
    started: Instant,
    desc: String,
}

fn describe(cmd: &Command) -> String {
    let mut s = String::new();
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => s += &format!("{}={} ", k.to_string_lossy(), v.to_string_lossy()),
            None => s += &format!("-u {} ", k.to_string_lossy()),
        }
    }
    s += &cmd.get_program().to_string_lossy();
    for a in cmd.get_args() {
        let a = a.to_string_lossy();
        if a.is_empty() || a.contains(|c: char| c.is_whitespace() || "'\"$&;|<>()*?\\`".contains(c))
        {
            s += &format!(" '{}'", a.replace('\'', "'\\''"));
        } else {
            s += &format!(" {a}");
        }
    }
    if let Some(d) = cmd.get_current_dir() {
        s += &format!("   (cwd {})", d.display());
    }
    s
}

/// Spawns `cmd` with stdout/stderr to temp files, in its own process group (so that nothing
/// it does with signals can hit the test harness). `stdin`: piped when true, else /dev/null.
pub fn spawn_command(mut cmd: Command, piped_stdin: bool, timeout: Duration) -> Running {
    let stdout = NamedTempFile::new_in("/tmp").expect("stdout temp file");
    let stderr = NamedTempFile::new_in("/tmp").expect("stderr temp file");
    cmd.stdout(stdout.reopen().expect("reopen stdout file"));
    cmd.stderr(stderr.reopen().expect("reopen stderr file"));
    cmd.stdin(if piped_stdin {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    cmd.process_group(0);
    let desc = describe(&cmd);
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot spawn `{desc}`: {e}"));
    let stdin = child.stdin.take();
    Running {
        pid: child.id() as i32,
        child: Some(child),
        stdout,
        stderr,
        stdin,
        timeout,
        started: Instant::now(),
        desc,
    }
}

impl Running {
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Sends `sig` to the spawned process (only while it has not been reaped).
    pub fn signal(&mut self, sig: i32) {
        let child = self.child.as_mut().expect("process already reaped");
        if child.try_wait().expect("try_wait").is_none() {
            // SAFETY: plain kill(2) on the pid of our own unreaped child.
            let r = unsafe { libc::kill(self.pid, sig) };
            assert_eq!(
                r,
                0,
                "kill({}, {sig}): {}",
                self.pid,
                std::io::Error::last_os_error()
            );
        } else {
            panic!(
                "cannot send signal {sig}: `{}` has already exited",
                self.desc
            );
        }
    }

    /// Has it exited? (Reaps it if so.)
    pub fn exited(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => c.try_wait().expect("try_wait").is_some(),
            None => true,
        }
    }

    pub fn stdout_so_far(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(self.stdout.path()).unwrap_or_default()).into_owned()
    }

    pub fn stderr_so_far(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(self.stderr.path()).unwrap_or_default()).into_owned()
    }

    /// Writes to the process's stdin (spawned with a piped stdin).
    pub fn write_stdin(&mut self, data: &[u8]) {
        let stdin = self.stdin.as_mut().expect("stdin was not piped");
        stdin.write_all(data).expect("write to stdin");
        stdin.flush().ok();
    }

    /// Waits until `cond` holds, the process exits, or the hang guard fires. Returns whether
    /// `cond` held.
    pub fn wait_for(
        &mut self,
        what: &str,
        timeout: Duration,
        mut cond: impl FnMut(&Self) -> bool,
    ) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if cond(self) {
                return true;
            }
            if self.exited() {
                return cond(self);
            }
            if Instant::now() > deadline {
                eprintln!("gave up waiting for {what} after {timeout:?}");
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for the exit (hang guard: the run's timeout, counted from spawn; on expiry the
    /// process is SIGKILLed and the test fails).
    pub fn wait(mut self) -> Out {
        let deadline = self.started + self.timeout;
        let mut child = self.child.take().expect("process already reaped");
        drop(self.stdin.take());
        let status = loop {
            if let Some(st) = child.try_wait().expect("try_wait") {
                break st;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let st = child.wait().expect("wait after kill");
                let out = self.out(st);
                panic!(
                    "hang guard: no exit within {:?}; killed it\n{out}",
                    self.timeout
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        self.out(status)
    }

    fn out(&self, status: ExitStatus) -> Out {
        Out {
            desc: self.desc.clone(),
            status,
            stdout: self.stdout_so_far(),
            stderr: self.stderr_so_far(),
            elapsed: self.started.elapsed(),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        drop(self.stdin.take());
        if let Some(mut child) = self.child.take() {
            if let Ok(None) = child.try_wait() {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The sandbox builder.

/// One `fusebox-run --mount-helper HELPER [opts] -- COMMAND` invocation.
///
/// By default its working directory is a fresh temp dir under /tmp (so the default write set
/// is that dir and /tmp), `TMPDIR` is removed from its environment, stdin is /dev/null and the
/// hang guard is [`DEFAULT_TIMEOUT`].
pub struct Sandbox {
    helper: Helper,
    opts: Vec<OsString>,
    cwd: PathBuf,
    own_dir: Option<TempDir>,
    env_set: Vec<(OsString, OsString)>,
    env_remove: Vec<OsString>,
    timeout: Duration,
    stdin: Option<Vec<u8>>,
}

impl Sandbox {
    pub fn new(helper: Helper) -> Self {
        let dir = tmpdir();
        Sandbox {
            helper,
            opts: Vec::new(),
            cwd: dir.path().to_path_buf(),
            own_dir: Some(dir),
            env_set: Vec::new(),
            env_remove: vec!["TMPDIR".into()],
            timeout: DEFAULT_TIMEOUT,
            stdin: None,
        }
    }

    /// The working directory the build runs in (outside and inside: same path).
    pub fn dir(&self) -> &Path {
        &self.cwd
    }

    /// Adds one fusebox-run option (before the `--`).
    pub fn opt(mut self, o: impl AsRef<OsStr>) -> Self {
        self.opts.push(o.as_ref().to_os_string());
        self
    }

    pub fn opts(mut self, os: &[&str]) -> Self {
        self.opts.extend(os.iter().map(OsString::from));
        self
    }

    pub fn cwd(mut self, dir: impl AsRef<Path>) -> Self {
        self.cwd = dir.as_ref().to_path_buf();
        self
    }

    pub fn env(mut self, k: impl AsRef<OsStr>, v: impl AsRef<OsStr>) -> Self {
        self.env_set.push((k.as_ref().into(), v.as_ref().into()));
        self
    }

    pub fn env_remove(mut self, k: impl AsRef<OsStr>) -> Self {
        self.env_remove.push(k.as_ref().into());
        self
    }

    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = t;
        self
    }

    /// Data for the build's stdin (else /dev/null).
    pub fn stdin(mut self, data: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(data.into());
        self
    }

    /// The full command: `fusebox-run --mount-helper H [opts] TAIL...`.
    pub fn command<S: AsRef<OsStr>>(&self, tail: &[S]) -> Command {
        let mut c = Command::new(bin());
        c.arg("--mount-helper").arg(self.helper.name());
        c.args(&self.opts);
        c.args(tail);
        c.current_dir(&self.cwd);
        for k in &self.env_remove {
            c.env_remove(k);
        }
        for (k, v) in &self.env_set {
            c.env(k, v);
        }
        c
    }

    /// Runs fusebox-run with raw arguments after `--mount-helper H [opts]` (no `--` added).
    pub fn run_args<S: AsRef<OsStr>>(&self, args: &[S]) -> Out {
        let mut r = spawn_command(self.command(args), self.stdin.is_some(), self.timeout);
        if let Some(data) = &self.stdin {
            let mut stdin = r.stdin.take().unwrap();
            let data = data.clone();
            // A thread, so that a build that does not read its stdin cannot block the test.
            std::thread::spawn(move || {
                let _ = stdin.write_all(&data);
            });
        }
        r.wait()
    }

    /// Runs COMMAND in the sandbox: `fusebox-run ... -- cmd...`.
    pub fn run<S: AsRef<OsStr>>(&self, cmd: &[S]) -> Out {
        self.run_args(&with_dashdash(cmd))
    }

    /// Runs `sh -c SCRIPT` in the sandbox.
    pub fn run_sh(&self, script: &str) -> Out {
        self.run(&["sh", "-c", script])
    }

    /// Runs `sh -c SCRIPT sh ARGS...` in the sandbox (ARGS are `$1`...).
    pub fn run_sh_args<S: AsRef<OsStr>>(&self, script: &str, args: &[S]) -> Out {
        let mut v: Vec<OsString> = vec!["sh".into(), "-c".into(), script.into(), "sh".into()];
        v.extend(args.iter().map(|a| a.as_ref().to_os_string()));
        self.run(&v)
    }

    /// Starts COMMAND in the sandbox in the background.
    pub fn spawn<S: AsRef<OsStr>>(&self, cmd: &[S]) -> Running {
        spawn_command(self.command(&with_dashdash(cmd)), false, self.timeout)
    }

    /// Starts COMMAND in the sandbox in the background, its stdin a pipe
    /// ([`Running::write_stdin`]).
    pub fn spawn_piped<S: AsRef<OsStr>>(&self, cmd: &[S]) -> Running {
        spawn_command(self.command(&with_dashdash(cmd)), true, self.timeout)
    }

    pub fn spawn_sh_args<S: AsRef<OsStr>>(&self, script: &str, args: &[S]) -> Running {
        let mut v: Vec<OsString> = vec!["sh".into(), "-c".into(), script.into(), "sh".into()];
        v.extend(args.iter().map(|a| a.as_ref().to_os_string()));
        self.spawn(&v)
    }
}

fn with_dashdash<S: AsRef<OsStr>>(cmd: &[S]) -> Vec<OsString> {
    let mut v: Vec<OsString> = vec!["--".into()];
    v.extend(cmd.iter().map(|a| a.as_ref().to_os_string()));
    v
}

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

/// The first lines of a Gentoo-format violation log (README, "Violation log").
pub const LOG_HEADER: &str = "VERSION 1.0
FORMAT: F - Function called
FORMAT: S - Access Status
FORMAT: P - Path as passed to function
FORMAT: A - Absolute Path (not canonical)
FORMAT: R - Canonical Path
FORMAT: C - Command Line
";
