//! The sandbox builder: one `fusebox-run` invocation, run with a hang guard or in the
//! background.

use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use tempfile::TempDir;

use super::{Helper, Out, Running, bin, spawn_command, tmpdir};

/// Default hang guard for one sandbox run.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

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

    /// [`Sandbox::new`] with every path through the mirror (`--full-mirror`): for the
    /// tests of the mirror itself, which the kernel-served build directory would bypass.
    pub fn full_mirror(helper: Helper) -> Self {
        Sandbox::new(helper).opt("--full-mirror")
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
