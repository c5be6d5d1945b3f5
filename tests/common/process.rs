//! Running a process: [`spawn_command`] starts one with its output in temp files, [`Running`]
//! owns it (and kills it if dropped unreaped), and [`Out`] is what it left.

use std::fmt;
use std::io::Write;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use tempfile::NamedTempFile;

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
    default_signal_dispositions(&mut cmd);
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

/// Ignored signals stay ignored across exec, and fusebox-run keeps them ignored for the
/// build, as a shell would: a suite started by `nohup` or as a background job (SIGHUP, or
/// SIGINT and SIGQUIT, ignored) would fail the tests that send them. Each test starts
/// from the defaults; one that wants a signal ignored says so itself.
fn default_signal_dispositions(cmd: &mut Command) {
    // SAFETY: between fork and exec only signal(2), which is async-signal-safe, is called.
    unsafe {
        cmd.pre_exec(|| {
            for sig in 1..libc::SIGRTMIN() {
                if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                    libc::signal(sig, libc::SIG_DFL);
                }
            }
            Ok(())
        });
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
