//! The notifier threads, and the loop of each: receive a notification, decode it, read
//! and resolve its paths, check it is still valid, ask the gate, answer.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use super::bpf::audit_arch;
use super::decode::{self, Decoded, PathArg};
use super::gate::{Answer, WriteGate};
use super::sys;
use super::syscalls::Abi;
use super::target::{Caller, Resolved};

/// Starts `threads` threads (at least one; the others at the first notification)
/// answering the notifications of `listener` with `gate`'s verdicts, until no process
/// is left under the filter; returns the first, which ends after the others. They never panic:
/// a notification that cannot be decoded or resolved is answered [`Answer::Continue`].
/// They end when the listener hangs up (Linux 5.8; before, they never end). Use two or
/// more: with one, every round trip also waits for a sleeping CPU to wake (the caller
/// and the notifier take turns on different CPUs).
pub fn spawn_notifier(
    listener: OwnedFd,
    gate: Arc<dyn WriteGate>,
    threads: usize,
) -> io::Result<Vec<JoinHandle<()>>> {
    // Where the kernel cannot (before 6.6), the round trips only cost more.
    let _ = sys::ask_sync_wake_up(listener.as_fd());
    let listener = Arc::new(Listener {
        fd: listener,
        turn: Mutex::new(()),
    });
    let first = std::thread::Builder::new()
        .name("fusebox-notify-0".into())
        .spawn(move || serve_first(listener, gate, threads.saturating_sub(1)))?;
    Ok(vec![first])
}

/// The first notifier: it starts the `more` others at the first notification (a
/// build that never writes, such as a start, never pays for them), and ends after
/// them. Failing to start them leaves it serving alone.
fn serve_first(listener: Arc<Listener>, gate: Arc<dyn WriteGate>, more: usize) {
    let mut others: Option<Vec<JoinHandle<()>>> = None;
    serve(&listener, gate.as_ref(), || {
        others.get_or_insert_with(|| {
            (1..=more)
                .map_while(|i| {
                    let (listener, gate) = (Arc::clone(&listener), Arc::clone(&gate));
                    std::thread::Builder::new()
                        .name(format!("fusebox-notify-{i}"))
                        .spawn(move || serve(&listener, gate.as_ref(), || {}))
                        .ok()
                })
                .collect()
        });
    });
    for other in others.into_iter().flatten() {
        let _ = other.join();
    }
}

/// The listener shared by the notifier threads.
struct Listener {
    fd: OwnedFd,
    /// Taken to wait for and receive one notification. A thread blocked in RECV is not
    /// woken when the last process exits (before Linux 6.11), one blocked in poll is;
    /// so each waits in poll, and only the one whose turn it is receives, when poll
    /// says there is something: then RECV never blocks.
    turn: Mutex<()>,
}

/// What waiting for a notification came to.
enum Next {
    Received,
    Again,
    Done,
}

/// Receives, decides, answers, until no process is left under the filter; calls
/// `received` at each notification.
fn serve(listener: &Listener, gate: &dyn WriteGate, mut received: impl FnMut()) {
    let fd = listener.fd.as_fd();
    let mut notif = sys::empty_notif();
    loop {
        let next = {
            let _turn = listener.turn.lock().unwrap_or_else(PoisonError::into_inner);
            receive(fd, &mut notif)
        };
        match next {
            Next::Received => received(),
            Next::Again => continue,
            Next::Done => return,
        }
        // A gate that panics must not leave its caller waiting forever, nor end the
        // thread: the syscall continues and the kernel decides.
        let answer =
            catch_unwind(AssertUnwindSafe(|| answer(fd, &notif, gate))).unwrap_or(Answer::Continue);
        let errno = match answer {
            Answer::Continue => None,
            Answer::Refuse(errno) => Some(errno),
        };
        // ENOENT: the caller died, or a signal interrupted it (its syscall restarts
        // with a new notification).
        let _ = sys::send(fd, notif.id, errno);
    }
}

/// Waits for the next notification and receives it into `notif`.
fn receive(fd: BorrowedFd, notif: &mut libc::seccomp_notif) -> Next {
    match sys::wait(fd) {
        Ok(sys::Ready::Notification) => {}
        Ok(sys::Ready::HungUp) => return Next::Done,
        Err(e) if e.raw_os_error() == Some(libc::EINTR) => return Next::Again,
        Err(_) => return Next::Done,
    }
    match sys::recv(fd, notif) {
        Ok(()) => Next::Received,
        // ENOENT: the caller was killed between the poll and the receive.
        Err(e) if matches!(e.raw_os_error(), Some(libc::EINTR | libc::ENOENT)) => Next::Again,
        Err(_) => Next::Done,
    }
}

/// The answer to one notification.
fn answer(listener: BorrowedFd, notif: &libc::seccomp_notif, gate: &dyn WriteGate) -> Answer {
    let abi = match notif.data.arch {
        audit_arch::NATIVE => Abi::Native,
        audit_arch::COMPAT => Abi::Compat,
        _ => return Answer::Continue,
    };
    let Some(sys) = abi.identify(notif.data.nr as u32) else {
        return Answer::Continue;
    };
    let decoded = decode::decode(abi, sys, &notif.data.args);
    if decoded == Decoded::Nothing {
        return Answer::Continue;
    }
    let Ok(caller) = Caller::open(notif.pid) else {
        return Answer::Continue;
    };
    let Some((first, second)) = paths(&caller, decoded) else {
        return Answer::Continue;
    };
    let named = 1 + usize::from(second.is_some());
    let prepared = [Some(first), second].map(|arg| arg.and_then(|a| caller.prepare(&a)));
    // What was read from the caller's memory and /proc/PID is its own only if it is
    // still waiting in this syscall (so its pid was not reused).
    if !sys::id_valid(listener, notif.id) {
        return Answer::Continue;
    }
    let mut targets = Vec::with_capacity(2);
    for prepared in prepared.into_iter().flatten() {
        match caller.resolve(prepared) {
            Resolved::Unjudged => {}
            // The kernel fails the syscall here: nothing further is asked.
            Resolved::Fail(errno) if targets.is_empty() => return Answer::Refuse(errno),
            Resolved::Fail(_) => break,
            Resolved::Target(target) => targets.push(target),
        }
    }
    // A name not read or not resolved (an unnamed file's `/proc/self/fd/N`) is unjudged.
    gate.decide_all(notif.pid, &targets, named - targets.len())
}

/// The paths of a decoded syscall; openat2's once its `struct open_how` (u64 flags, u64
/// mode, u64 resolve) is read from the caller. None: nothing to judge.
fn paths(caller: &Caller, decoded: Decoded) -> Option<(PathArg, Option<PathArg>)> {
    match decoded {
        Decoded::Nothing => None,
        Decoded::Paths(first, second) => Some((first, second)),
        Decoded::Openat2 {
            dirfd,
            path,
            how,
            size,
        } => {
            if size < 24 {
                return None; // EINVAL
            }
            let mut raw = [0u8; 24];
            caller.read_exact(how, &mut raw).ok()?;
            let word = |i: usize| {
                let mut w = [0u8; 8];
                w.copy_from_slice(&raw[8 * i..8 * i + 8]);
                u64::from_ne_bytes(w)
            };
            match decode::openat2(dirfd, path, word(0), word(2)) {
                Decoded::Paths(arg, None) => Some((arg, None)),
                _ => None,
            }
        }
    }
}
