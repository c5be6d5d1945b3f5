//! `--trace FILE`: the trace is written by a thread of its own, so a traced build pays
//! one allocation and a channel send per operation, never a write(2) or a read of /proc.

use std::collections::HashMap;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use super::{HostFile, Op, TraceEvent, gentoo, trace_line};
use crate::policy::Verdict;

/// How many events may wait for the writer before a FUSE thread waits for it in turn.
const QUEUE: usize = 64 * 1024;

/// A command line read from /proc stays good this long. It changes at an exec, which
/// the trace sees (an `execve` event drops it), so this only bounds pid reuse and
/// setproctitle. Measured: re-reading every 50 ms cost a traced C build a third of its
/// time on 2 cores; at 1 s the trace costs nothing measurable.
const CMDLINE_TTL: Duration = Duration::from_millis(1000);

/// One judged operation, owned, on its way to the writer.
#[derive(Debug)]
pub struct Traced {
    pub time: SystemTime,
    pub pid: u32,
    pub op: Op,
    pub path: PathBuf,
    pub path2: Option<PathBuf>,
    pub verdict: Verdict,
    pub errno: i32,
}

/// The sending side, shared by the FUSE threads.
#[derive(Debug)]
pub struct Tracer {
    queue: Mutex<Option<SyncSender<Traced>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl Tracer {
    /// Starts the writer thread for `file` (created or truncated now).
    pub fn start(file: &HostFile) -> std::io::Result<Tracer> {
        use nix::fcntl::OFlag;
        let out = file.open(OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_TRUNC, 0o644)?;
        let (queue, events) = sync_channel(QUEUE);
        let writer = std::thread::Builder::new()
            .name("trace".into())
            .spawn(move || write_all(events, BufWriter::with_capacity(1 << 16, out)))?;
        Ok(Tracer {
            queue: Mutex::new(Some(queue)),
            writer: Mutex::new(Some(writer)),
        })
    }

    /// Queues `event`; dropped silently once the trace is finished.
    pub fn send(&self, event: Traced) {
        let queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(queue) = queue.as_ref() {
            let _ = queue.send(event);
        }
    }

    /// Stops accepting events and waits until everything queued is on disk.
    pub fn finish(&self) {
        drop(
            self.queue
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
        if let Some(writer) = self
            .writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            let _ = writer.join();
        }
    }
}

fn write_all(events: Receiver<Traced>, mut out: impl Write) {
    let mut cmdlines = Cmdlines::default();
    for e in events {
        let line = trace_line(&TraceEvent {
            time: e.time,
            pid: e.pid,
            cmdline: cmdlines.get(e.pid, e.op == Op::Execve),
            op: e.op,
            path: &e.path,
            path2: e.path2.as_deref(),
            verdict: e.verdict,
            errno: e.errno,
        });
        if out.write_all(line.as_bytes()).is_err() {
            eprintln!("fusebox-run: cannot write the trace; it stops here");
            return;
        }
    }
    let _ = out.flush();
}

/// Command lines by pid, read from /proc (the host's: the daemon's PID namespace).
#[derive(Default)]
struct Cmdlines {
    known: HashMap<u32, (Instant, String)>,
}

impl Cmdlines {
    /// `pid`'s command line. At an `execing` event it is about to change: what is read
    /// then is not kept for the events after it.
    fn get(&mut self, pid: u32, execing: bool) -> &str {
        let now = Instant::now();
        let stale = self
            .known
            .get(&pid)
            .is_none_or(|(read, _)| now.duration_since(*read) > CMDLINE_TTL);
        if stale {
            // A process already gone keeps the command line it was last seen with.
            let fresh = std::fs::read(format!("/proc/{pid}/cmdline"))
                .ok()
                .filter(|raw| !raw.is_empty())
                .map(|raw| gentoo::cmdline_from_proc(&raw));
            let entry = self
                .known
                .entry(pid)
                .or_insert_with(|| (now, gentoo::unreadable_cmdline(pid)));
            if let Some(cmdline) = fresh {
                *entry = (now, cmdline);
            }
        }
        if execing && let Some((read, _)) = self.known.get_mut(&pid) {
            *read = now.checked_sub(2 * CMDLINE_TTL).unwrap_or(*read);
        }
        self.known.get(&pid).map_or("", |(_, c)| c.as_str())
    }
}
