//! What a build that wants to lie, race or break the notifier can do.

use std::path::PathBuf;
use std::process::Command;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use super::{Answer, Isolation, Op, PATIENCE, Scene, WriteGate, WriteTarget, stderr};

/// A path whose bytes another thread swaps between `ro/x` and `w/yy` while the first
/// opens it: the kernel reads the path again after "continue", so which file a verdict
/// was about is a race the build can win. What it may not win is a write into the
/// read-only tree: the bind refuses it whatever the daemon said.
const RACER: &str = r#"
import ctypes, errno, os, threading
libc = ctypes.CDLL(None, use_errno=True)
buf = ctypes.create_string_buffer(b"ro/x", 8)
done = threading.Event()
def swap():
    while not done.is_set():
        ctypes.memmove(buf, b"w/yy", 4)
        ctypes.memmove(buf, b"ro/x", 4)
t = threading.Thread(target=swap)
t.start()
answers = set()
for _ in range(200):
    fd = libc.open(buf, os.O_WRONLY | os.O_CREAT, 0o644)
    if fd >= 0:
        os.close(fd)
    answers.add("ok" if fd >= 0 else errno.errorcode[ctypes.get_errno()])
done.set()
t.join()
print(" ".join(sorted(answers)))
"#;

#[test]
fn a_path_swapped_during_the_notification_never_writes_into_the_read_only_tree() {
    let s = Scene::new();
    let mut cmd = Command::new("python3");
    cmd.arg("-c").arg(RACER);
    let out = s.run(cmd, Isolation::ReadOnlyBind);
    assert!(out.status.success(), "{}", stderr(&out));
    let answers = String::from_utf8_lossy(&out.stdout).into_owned();
    for answer in answers.split_whitespace() {
        assert!(["ok", "EACCES", "EROFS"].contains(&answer), "{answers}");
    }
    assert!(!s.p("ro/x").exists());
}

/// Pointers and paths the kernel refuses: the notifier continues, the kernel answers.
const GARBAGE: &str = r#"
import ctypes, errno, os
libc = ctypes.CDLL(None, use_errno=True)
def answer(ret):
    print("ok" if ret >= 0 else errno.errorcode[ctypes.get_errno()])
W = os.O_WRONLY | os.O_CREAT
answer(libc.open(ctypes.c_void_p(8), W, 0o644))
answer(libc.open(b"ro/" + b"a" * 5000, W, 0o644))
answer(libc.openat(999, b"f", W, 0o644))
answer(libc.syscall(437, -100, b"ro/f", ctypes.c_void_p(8), 24))
answer(libc.rename(b"ro/existing", ctypes.c_void_p(8)))
os.mkdir("w/gone")
os.chdir("w/gone")
os.rmdir("../gone")
answer(libc.open(b"f", W, 0o644))
answer(libc.open(b"../../ro/f", W, 0o644))
"#;

#[test]
fn unreadable_and_unresolvable_paths_get_the_kernels_answer() {
    let s = Scene::new();
    let mut cmd = Command::new("python3");
    cmd.arg("-c").arg(GARBAGE);
    let out = s.run(cmd, Isolation::None);
    assert!(out.status.success(), "{}", stderr(&out));
    let answers = String::from_utf8_lossy(&out.stdout).into_owned();
    let answers: Vec<&str> = answers.lines().collect();
    assert_eq!(
        answers,
        [
            "EFAULT",
            "ENAMETOOLONG",
            "EBADF",
            "EFAULT",
            // The old name is judged even when the new one cannot be read.
            "EACCES",
            // A cwd that was removed: nothing is in it, but its `..` leads out.
            "ENOENT",
            "EACCES"
        ]
    );
    assert_eq!(
        s.seen(),
        [
            (Op::Rename, PathBuf::from("ro/existing")),
            (Op::Mkdir, PathBuf::from("w/gone")),
            (Op::Rmdir, PathBuf::from("w/gone")),
            (Op::OpenWrCreat, PathBuf::from("ro/f"))
        ],
        "nothing else was judged"
    );
    assert!(!s.p("ro/f").exists());
}

/// Holds the notification of a write to a file named `hold` until told to answer.
struct Holding {
    held: Mutex<mpsc::Sender<u32>>,
    release: Mutex<mpsc::Receiver<()>>,
}

impl WriteGate for Holding {
    fn decide(&self, pid: u32, target: &WriteTarget) -> Answer {
        if target.path.file_name().is_some_and(|n| n == "hold") {
            let _ = self.held.lock().unwrap().send(pid);
            let _ = self.release.lock().unwrap().recv_timeout(PATIENCE);
        }
        Answer::Continue
    }
}

#[test]
fn a_caller_killed_while_waiting_for_its_answer_breaks_nothing() {
    let s = Scene::new();
    let (held_tx, held) = mpsc::channel();
    let (release, release_rx) = mpsc::channel();
    let gate = Arc::new(Holding {
        held: Mutex::new(held_tx),
        release: Mutex::new(release_rx),
    });
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg("sh -c 'echo > w/hold'; echo $? > w/after");
    let at = s.at.clone();
    let runner = std::thread::spawn(move || super::run_filtered(cmd, &at, gate, Isolation::None));
    let pid = held
        .recv_timeout(PATIENCE)
        .expect("the write to hold was not seen");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    // Answered only once the caller is dead (an answer that beats the signal lets the
    // syscall run): the answer finds nobody (ENOENT).
    wait_until_dead(pid);
    let _ = release.send(());
    let out = runner.join().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    // The next write, by the parent shell, was answered.
    assert_eq!(std::fs::read_to_string(s.p("w/after")).unwrap(), "137\n");
    assert!(!s.p("w/hold").exists());
}

#[test]
fn the_notifier_serves_a_process_that_outlives_the_first() {
    let s = Scene::new();
    // The shell exits at once; its child writes later, still under the filter, and
    // the notifier must still be there to answer it.
    let out = s.sh("(sleep 0.2; echo late > w/late; echo x > ro/late) >/dev/null 2>&1 &");
    assert!(out.status.success(), "{}", stderr(&out));
    // run_filtered has joined the notifier: it ended only after the last process.
    assert_eq!(std::fs::read_to_string(s.p("w/late")).unwrap(), "late\n");
    assert!(!s.p("ro/late").exists());
    let seen = s.seen();
    assert!(
        seen.contains(&(Op::OpenWrCreat, PathBuf::from("ro/late"))),
        "{seen:?}"
    );
}

/// Waits until `pid` has exited (a zombie or reaped); fails after [`PATIENCE`].
fn wait_until_dead(pid: u32) {
    let start = std::time::Instant::now();
    loop {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => return,
            // "pid (comm) S …": the state follows the last ')'.
            Ok(stat)
                if stat
                    .rsplit(')')
                    .next()
                    .is_some_and(|r| r.trim_start().starts_with('Z')) =>
            {
                return;
            }
            Ok(_) => {}
        }
        assert!(start.elapsed() < PATIENCE, "{pid} did not die");
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

/// Panics on a file named `panic`, refuses one named `no`.
struct Panicking;

impl WriteGate for Panicking {
    fn decide(&self, _: u32, target: &WriteTarget) -> Answer {
        match target.path.file_name().and_then(|n| n.to_str()) {
            Some("panic") => panic!("a gate that panics (on purpose)"),
            Some("no") => Answer::Refuse(libc::EPERM),
            _ => Answer::Continue,
        }
    }
}

#[test]
fn a_gate_that_panics_lets_the_syscall_continue_and_the_notifier_live() {
    let s = Scene::new();
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg("echo > w/panic; echo > w/panic; echo > w/no; echo > w/yes");
    let out = super::run_filtered(cmd, &s.at, Arc::new(Panicking), Isolation::None);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("Operation not permitted"),
        "{}",
        stderr(&out)
    );
    assert!(s.p("w/panic").exists() && s.p("w/yes").exists());
    assert!(!s.p("w/no").exists());
}

/// Makes itself not dumpable (which keeps processes of its own uid without
/// CAP_SYS_PTRACE from reading its memory and /proc), then writes under ro/.
const UNDUMPABLE: &str = r#"
import ctypes, os
ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE
try:
    os.close(os.open("ro/x", os.O_WRONLY | os.O_CREAT, 0o644))
    print("ok")
except OSError as e:
    print(e.errno)
"#;

#[test]
fn a_process_that_makes_itself_undumpable_is_still_judged() {
    // In a user namespace of its own, as the build is: its creator, like the daemon,
    // holds every capability in it, CAP_SYS_PTRACE included. (In the daemon's own user
    // namespace, an unprivileged daemon could not read it: the write would go unjudged.)
    let s = Scene::new();
    let mut cmd = Command::new("python3");
    cmd.arg("-c").arg(UNDUMPABLE);
    let out = s.run(cmd, Isolation::ReadOnlyBind);
    let answer = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert_eq!(answer, libc::EACCES.to_string(), "{}", stderr(&out));
    assert_eq!(s.seen(), [(Op::OpenWrCreat, PathBuf::from("ro/x"))]);
}
