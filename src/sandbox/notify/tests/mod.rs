//! The notifier with real processes under the real filter: a gate that records every
//! target and refuses everything under `ro/` (standing for a read-only tree) with
//! EACCES. Run as root or not; no mount is needed, except where a test makes `ro/` a
//! real read-only bind in a user and mount namespace of the child's own.

#[cfg(target_arch = "x86_64")]
mod abi;
mod hostile;
mod ops;

use std::ffi::CString;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::mount::MsFlags;
use nix::sched::CloneFlags;

use super::{Answer, Op, WriteGate, WriteTarget, recv_fd, spawn_notifier, sys, write_filter};

/// How long a test waits for anything before it fails (a hang guard, not a timing).
const PATIENCE: Duration = Duration::from_secs(30);

/// Records every target; refuses those under `refused`.
pub struct Recorder {
    refused: PathBuf,
    seen: Mutex<Vec<(u32, WriteTarget)>>,
}

impl WriteGate for Recorder {
    fn decide(&self, pid: u32, target: &WriteTarget) -> Answer {
        if let Ok(mut seen) = self.seen.lock() {
            seen.push((pid, target.clone()));
        }
        if target.path.starts_with(&self.refused) {
            Answer::Refuse(libc::EACCES)
        } else {
            Answer::Continue
        }
    }
}

/// A temp dir with `ro/` (refused, holding `existing` and `sub/`) and `w/`.
pub struct Scene {
    _dir: tempfile::TempDir,
    pub at: PathBuf,
    pub gate: Arc<Recorder>,
}

impl Scene {
    pub fn new() -> Scene {
        let dir = tempfile::tempdir().unwrap();
        let at = fs::canonicalize(dir.path()).unwrap();
        fs::create_dir_all(at.join("ro/sub")).unwrap();
        fs::create_dir(at.join("w")).unwrap();
        fs::write(at.join("ro/existing"), "old\n").unwrap();
        let gate = Arc::new(Recorder {
            refused: at.join("ro"),
            seen: Mutex::new(Vec::new()),
        });
        Scene {
            _dir: dir,
            at,
            gate,
        }
    }

    pub fn p(&self, rel: &str) -> PathBuf {
        self.at.join(rel)
    }

    /// `sh -c script` in the scene, under the filter.
    pub fn sh(&self, script: &str) -> Output {
        let mut cmd = Command::new("sh");
        cmd.arg("-c").arg(script);
        self.run(cmd, Isolation::None)
    }

    /// `cmd` in the scene, under the filter, answered by this scene's gate.
    pub fn run(&self, cmd: Command, isolation: Isolation) -> Output {
        run_filtered(cmd, &self.at, self.gate.clone(), isolation)
    }

    /// The targets seen so far under the scene, as (op, path relative to it).
    pub fn seen(&self) -> Vec<(Op, PathBuf)> {
        self.seen_with_pids()
            .into_iter()
            .map(|(_, op, path)| (op, path))
            .collect()
    }

    pub fn seen_with_pids(&self) -> Vec<(u32, Op, PathBuf)> {
        let seen = self.gate.seen.lock().unwrap();
        seen.iter()
            .filter_map(|(pid, t)| {
                let rel = t.path.strip_prefix(&self.at).ok()?;
                Some((*pid, t.op, rel.to_path_buf()))
            })
            .collect()
    }

    pub fn forget(&self) {
        self.gate.seen.lock().unwrap().clear();
    }
}

/// Where the child runs.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    /// In our namespaces.
    None,
    /// In a user and mount namespace of its own where `ro/` is a read-only bind: the
    /// kernel enforces, as in the sandbox, and the paths the daemon reads are from
    /// another mount namespace.
    ReadOnlyBind,
}

/// Runs `cmd` in `dir` under the write filter, answered by `gate` from two notifier
/// threads. Fails the test if the child or the notifier hangs, or the notifier
/// panics; the notifier must end when the child has.
pub fn run_filtered(
    mut cmd: Command,
    dir: &Path,
    gate: Arc<dyn WriteGate>,
    isolation: Isolation,
) -> Output {
    let (ours, theirs) = UnixStream::pair().unwrap();
    let setup = ReadOnlyBind::new(&dir.join("ro"));
    sys::run_under_filter(
        &mut cmd,
        write_filter(),
        theirs.into(),
        move || match isolation {
            Isolation::None => Ok(()),
            Isolation::ReadOnlyBind => setup.enter(),
        },
    );
    cmd.current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = cmd.spawn().expect("spawn under the filter");
    let listener = recv_fd(std::os::fd::AsFd::as_fd(&ours)).expect("the listener");
    let notifier = spawn_notifier(listener, gate, 2).unwrap();
    let output = wait_output(child);
    join_all(notifier);
    output
}

/// The child's output; kills it and fails after [`PATIENCE`].
fn wait_output(child: std::process::Child) -> Output {
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || tx.send(child.wait_with_output()));
    match rx.recv_timeout(PATIENCE) {
        Ok(output) => output.unwrap(),
        Err(_) => {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
            panic!("the child hung (a notification never answered?)");
        }
    }
}

/// Joins the notifier threads; fails if one panicked or they do not end.
pub fn join_all(threads: Vec<std::thread::JoinHandle<()>>) {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let panicked = threads.into_iter().any(|t| t.join().is_err());
        let _ = tx.send(panicked);
    });
    match rx.recv_timeout(PATIENCE) {
        Ok(panicked) => assert!(!panicked, "a notifier thread panicked"),
        Err(_) => panic!("the notifier threads did not end with the last process"),
    }
}

/// A user and mount namespace with `ro` bound read-only, entered in the child between
/// fork and exec: everything is prepared here, the child only makes syscalls.
struct ReadOnlyBind {
    ro: CString,
    uid_map: Vec<u8>,
    gid_map: Vec<u8>,
}

impl ReadOnlyBind {
    fn new(ro: &Path) -> ReadOnlyBind {
        let (uid, gid) = (nix::unistd::geteuid(), nix::unistd::getegid());
        ReadOnlyBind {
            ro: CString::new(ro.as_os_str().as_bytes()).unwrap(),
            uid_map: format!("{uid} {uid} 1").into_bytes(),
            gid_map: format!("{gid} {gid} 1").into_bytes(),
        }
    }

    fn enter(&self) -> io::Result<()> {
        nix::sched::unshare(CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNS)?;
        write_file(c"/proc/self/setgroups", b"deny")?;
        write_file(c"/proc/self/uid_map", &self.uid_map)?;
        write_file(c"/proc/self/gid_map", &self.gid_map)?;
        let none: Option<&std::ffi::CStr> = None;
        let private = MsFlags::MS_REC | MsFlags::MS_PRIVATE;
        nix::mount::mount(none, c"/", none, private, none)?;
        let ro = self.ro.as_c_str();
        nix::mount::mount(Some(ro), ro, none, MsFlags::MS_BIND, none)?;
        let remount = MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY;
        nix::mount::mount(none, ro, none, remount, none)?;
        Ok(())
    }
}

fn write_file(path: &std::ffi::CStr, data: &[u8]) -> io::Result<()> {
    use nix::fcntl::OFlag;
    let fd = nix::fcntl::open(path, OFlag::O_WRONLY, nix::sys::stat::Mode::empty())?;
    nix::unistd::write(&fd, data)?;
    Ok(())
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn rel(p: &str) -> PathBuf {
    PathBuf::from(p)
}

#[test]
fn a_write_under_ro_is_refused_and_seen_others_continue() {
    let s = Scene::new();
    let out = s.sh("echo x > ro/f");
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("Permission denied"),
        "{}",
        stderr(&out)
    );
    assert!(!s.p("ro/f").exists());
    assert_eq!(s.seen(), [(Op::OpenWrCreat, rel("ro/f"))]);
    s.forget();

    let out = s.sh("echo x > w/f && cat ro/existing");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(fs::read_to_string(s.p("w/f")).unwrap(), "x\n");
    assert_eq!(out.stdout, b"old\n");
    // The read of ro/existing is never sent to the daemon.
    assert_eq!(s.seen(), [(Op::OpenWrCreat, rel("w/f"))]);
}

#[test]
fn the_pid_is_the_callers() {
    let s = Scene::new();
    let out = s.sh("echo $$ > w/pid; sh -c 'echo $$ > w/pid2'");
    assert!(out.status.success(), "{}", stderr(&out));
    let pid = |f| {
        fs::read_to_string(s.p(f))
            .unwrap()
            .trim()
            .parse::<u32>()
            .unwrap()
    };
    let seen = s.seen_with_pids();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[0].0, pid("w/pid"));
    assert_eq!(seen[1].0, pid("w/pid2"));
}

#[test]
fn relative_paths_dotdot_and_symlinks_are_resolved_as_the_caller_sees_them() {
    let s = Scene::new();
    std::os::unix::fs::symlink(s.p("ro/existing"), s.p("w/to-existing")).unwrap();
    std::os::unix::fs::symlink("../ro/new", s.p("w/dangling")).unwrap();
    std::os::unix::fs::symlink(s.p("ro"), s.p("w/ro-dir")).unwrap();
    let out = s.sh(
        "cd w && { echo > ../ro/a; echo > ./../w/../ro/sub/b; echo > to-existing; \
         echo > dangling; echo > ro-dir/c; echo > $PWD/ok; } 2>/dev/null; exit 0",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        s.seen(),
        [
            (Op::OpenWrCreat, rel("ro/a")),
            (Op::OpenWrCreat, rel("ro/sub/b")),
            // O_CREAT of a file that exists: an open for writing, as the mirror names it.
            (Op::OpenWr, rel("ro/existing")),
            (Op::OpenWrCreat, rel("ro/new")),
            (Op::OpenWrCreat, rel("ro/c")),
            (Op::OpenWrCreat, rel("w/ok")),
        ]
    );
    assert_eq!(fs::read_to_string(s.p("ro/existing")).unwrap(), "old\n");
    assert!(!s.p("ro/new").exists() && s.p("w/ok").exists());
}

#[test]
fn names_are_bytes_as_the_caller_wrote_them() {
    let s = Scene::new();
    let out = s.sh("echo > \"ro/$(printf 'a\\nb\\033[31m\\377')\" 2>/dev/null; exit 0");
    assert!(out.status.success(), "{}", stderr(&out));
    let name = std::ffi::OsStr::from_bytes(b"a\nb\x1b[31m\xff");
    assert_eq!(s.seen(), [(Op::OpenWrCreat, rel("ro").join(name))]);
}
