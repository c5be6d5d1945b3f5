//! `--trace FILE`, and Gentoo's debug log (`SANDBOX_DEBUG`): each is written by a thread
//! of its own, so a traced build pays one allocation and a channel send per operation,
//! never a write(2) or a read of /proc.

use std::collections::HashMap;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, sync_channel};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use super::{HostFile, Op, TraceEvent, Violation, gentoo, trace_line};
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
    /// The command line, when it was read as the op was judged (the debug log's: a
    /// short-lived program may be gone before the writer gets to it); else the writer
    /// reads it.
    pub cmdline: Option<String>,
}

/// The sending side, shared by the FUSE threads.
#[derive(Debug)]
pub struct Tracer {
    queue: Mutex<Option<SyncSender<Traced>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl Tracer {
    /// Starts the writer thread of the JSON-lines trace `file` (created or truncated
    /// now).
    pub fn start(file: &HostFile) -> std::io::Result<Tracer> {
        use nix::fcntl::OFlag;
        let out = file.open(OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_TRUNC, 0o644)?;
        let mut sink = JsonLines(BufWriter::with_capacity(1 << 16, out));
        Self::spawn("trace", move |events| write_all(events, &mut sink))
    }

    /// Starts one writer thread that hands every event to each of `traces` (JSON
    /// lines, each created or truncated now, or appended to when its flag is true)
    /// and to `observer` (the footprint report).
    pub fn start_observed(
        traces: &[(&HostFile, bool)],
        observer: Option<SharedObserver>,
    ) -> std::io::Result<Tracer> {
        use nix::fcntl::OFlag;
        let mut sink = Fanout {
            traces: Vec::new(),
            observer,
        };
        for (file, append) in traces {
            let keep = if *append {
                OFlag::O_APPEND
            } else {
                OFlag::O_TRUNC
            };
            let out = file.open(OFlag::O_WRONLY | OFlag::O_CREAT | keep, 0o644)?;
            sink.traces
                .push(JsonLines(BufWriter::with_capacity(1 << 16, out)));
        }
        Self::spawn("trace", move |events| write_all(events, &mut sink))
    }

    /// Starts the writer thread of Gentoo's debug log `file`: every event is a block
    /// of the violation log's format (see [`DebugLog`]), and with `verbose` also an
    /// `ACCESS ALLOWED`/`PREDICTED` line on stderr (denials print theirs already).
    pub fn start_debug_log(file: HostFile, verbose: bool) -> std::io::Result<Tracer> {
        let mut sink = DebugLog {
            file,
            out: None,
            verbose,
        };
        Self::spawn("debug-log", move |events| write_all(events, &mut sink))
    }

    fn spawn(
        name: &str,
        write: impl FnOnce(Receiver<Traced>) + Send + 'static,
    ) -> std::io::Result<Tracer> {
        let (queue, events) = sync_channel(QUEUE);
        let writer = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || write(events))?;
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

/// Where a writer thread puts events.
trait Sink {
    fn write(&mut self, event: &Traced, cmdline: &str) -> std::io::Result<()>;
    fn flush(&mut self) -> std::io::Result<()>;
    /// What the error message calls it.
    fn name(&self) -> &'static str;
}

/// Writes each event as it comes, and flushes whenever the queue runs dry: what a
/// reader of the file sees lags the build only while the build is busy.
fn write_all(events: Receiver<Traced>, sink: &mut impl Sink) {
    let mut cmdlines = Cmdlines::default();
    loop {
        let event = match events.try_recv() {
            Ok(event) => event,
            Err(TryRecvError::Empty) => {
                let _ = sink.flush();
                match events.recv() {
                    Ok(event) => event,
                    Err(_) => break,
                }
            }
            Err(TryRecvError::Disconnected) => break,
        };
        let cmdline = match &event.cmdline {
            Some(read) => read.as_str(),
            None => cmdlines.get(event.pid, event.op == Op::Execve),
        };
        if let Err(e) = sink.write(&event, cmdline) {
            eprintln!(
                "fusebox-run: cannot write the {}: {e}; it stops here",
                sink.name()
            );
            return;
        }
    }
    let _ = sink.flush();
}

/// `--trace`: one JSON object per line.
struct JsonLines<W: Write>(W);

impl<W: Write> Sink for JsonLines<W> {
    fn write(&mut self, e: &Traced, cmdline: &str) -> std::io::Result<()> {
        let line = trace_line(&TraceEvent {
            time: e.time,
            pid: e.pid,
            cmdline,
            op: e.op,
            path: &e.path,
            path2: e.path2.as_deref(),
            verdict: e.verdict,
            errno: e.errno,
        });
        self.0.write_all(line.as_bytes())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }

    fn name(&self) -> &'static str {
        "trace"
    }
}

/// Something that sees every traced event as the trace's writer thread handles it,
/// off the build's path: the footprint report's aggregate.
pub trait Observer: Send {
    fn observe(&mut self, event: &Traced, cmdline: &str);
}

/// An observer shared between the writer thread and whoever reads it afterwards.
pub type SharedObserver = Arc<Mutex<dyn Observer>>;

/// `--trace` files and the report's observer, fed by one writer thread.
struct Fanout {
    traces: Vec<JsonLines<BufWriter<std::fs::File>>>,
    observer: Option<SharedObserver>,
}

impl Sink for Fanout {
    fn write(&mut self, e: &Traced, cmdline: &str) -> std::io::Result<()> {
        if let Some(observer) = &self.observer {
            observer
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .observe(e, cmdline);
        }
        for trace in &mut self.traces {
            trace.write(e, cmdline)?;
        }
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        for trace in &mut self.traces {
            trace.flush()?;
        }
        Ok(())
    }

    fn name(&self) -> &'static str {
        "trace"
    }
}

/// Gentoo's debug log, written as Gentoo's `write_logfile` writes it: created, header
/// first, at the first entry (a stale one was removed at start), then appended to.
/// Each judged path is one block (a rename's two paths, two blocks).
struct DebugLog {
    file: HostFile,
    out: Option<BufWriter<std::fs::File>>,
    verbose: bool,
}

impl DebugLog {
    fn out(&mut self) -> std::io::Result<&mut BufWriter<std::fs::File>> {
        use nix::fcntl::OFlag;
        if self.out.is_none() {
            let fresh = self.file.stat()?.is_none();
            let flags = OFlag::O_WRONLY | OFlag::O_APPEND | OFlag::O_CREAT;
            let mut out = BufWriter::with_capacity(1 << 16, self.file.open(flags, 0o644)?);
            if fresh {
                out.write_all(gentoo::log_header().as_bytes())?;
            }
            self.out = Some(out);
        }
        Ok(self.out.as_mut().expect("opened above"))
    }
}

impl Sink for DebugLog {
    fn write(&mut self, e: &Traced, cmdline: &str) -> std::io::Result<()> {
        let status = match e.verdict {
            Verdict::Deny => gentoo::Status::Deny,
            Verdict::Allow | Verdict::Predict => gentoo::Status::Allow,
        };
        for path in std::iter::once(&e.path).chain(e.path2.as_ref()) {
            let entry = Violation::new(e.op, path.clone(), cmdline.to_owned());
            self.out()?
                .write_all(&gentoo::debug_entry_bytes(&entry, status))?;
            if self.verbose && e.verdict != Verdict::Deny {
                eprint!(
                    "{}",
                    gentoo::debug_line(e.verdict, e.op.gentoo_name(), path)
                );
            }
        }
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match &mut self.out {
            Some(out) => out.flush(),
            None => Ok(()),
        }
    }

    fn name(&self) -> &'static str {
        "debug log"
    }
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
