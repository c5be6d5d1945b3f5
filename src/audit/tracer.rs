//! `--trace FILE`, and Gentoo's debug log (`SANDBOX_DEBUG`): each is written by a thread
//! of its own, so a traced build pays one allocation and a channel send per operation,
//! never a write(2) or a read of /proc.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, sync_channel};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use super::output::RecordWriter;
use super::{HostFile, Op, Record, TraceEvent, Violation, gentoo_format, terminal, trace_line};
use crate::policy::Verdict;

/// How many events may wait for the writer before a FUSE thread waits for it in turn.
const QUEUE: usize = 64 * 1024;

/// A command line read from /proc stays good this long. It changes at an exec, which
/// the trace sees (an `execve` event drops it), so this only bounds pid reuse and
/// setproctitle; reading /proc more often is what a traced build would pay for (see
/// docs/decisions.md, "The trace's command lines").
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
    /// Starts one writer thread that hands every event to each of `traces` (JSON lines,
    /// opened at start: `--trace`, and in Gentoo mode the report's events of every
    /// phase) and to `observer` (the footprint report). A write error ends that trace
    /// at a line boundary and goes to `record`; the others and the observer go on.
    pub fn start(
        traces: Vec<(RecordWriter, PathBuf)>,
        observer: Option<SharedObserver>,
        record: Arc<Record>,
    ) -> std::io::Result<Tracer> {
        let mut sink = Fanout {
            traces: traces
                .into_iter()
                .map(|(out, path)| Some(JsonLines { out, path }))
                .collect(),
            observer,
            record: record.clone(),
        };
        Self::spawn("trace", move |events| write_all(events, &mut sink, &record))
    }

    /// Starts the writer thread of Gentoo's debug log `file`: every event is a block
    /// of the violation log's format (see [`DebugLog`]), and with `verbose` also an
    /// `ACCESS ALLOWED`/`PREDICTED` line on stderr (denials print theirs already).
    pub fn start_debug_log(
        file: HostFile,
        verbose: bool,
        record: Arc<Record>,
    ) -> std::io::Result<Tracer> {
        let mut sink = DebugLog {
            file,
            out: None,
            verbose,
        };
        Self::spawn("debug-log", move |events| {
            write_all(events, &mut sink, &record)
        })
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
    fn path(&self) -> &Path;
}

/// Writes each event as it comes, and flushes whenever the queue runs dry: what a
/// reader of the file sees lags the build only while the build is busy. The first
/// error stops the writing (the file ends with whole records) and is noted in
/// `record`; the queue is still drained so that the mirror never waits for it.
fn write_all(events: Receiver<Traced>, sink: &mut impl Sink, record: &Record) {
    let mut cmdlines = Cmdlines::default();
    let mut ok = true;
    loop {
        let event = match events.try_recv() {
            Ok(event) => event,
            Err(TryRecvError::Empty) => {
                ok = ok && succeeded(sink.flush(), sink, record);
                match events.recv() {
                    Ok(event) => event,
                    Err(_) => break,
                }
            }
            Err(TryRecvError::Disconnected) => break,
        };
        if !ok {
            continue;
        }
        let cmdline = match &event.cmdline {
            Some(read) => read.as_str(),
            None => cmdlines.get(event.pid, event.op == Op::Execve),
        };
        let written = sink.write(&event, cmdline);
        ok = succeeded(written, sink, record);
    }
    if ok {
        succeeded(sink.flush(), sink, record);
    }
}

/// Whether `result` is Ok; an error is noted in `record` against `sink`'s file.
fn succeeded(result: std::io::Result<()>, sink: &impl Sink, record: &Record) -> bool {
    match result {
        Ok(()) => true,
        Err(e) => {
            record.output_failed(sink.name(), sink.path(), e);
            false
        }
    }
}

/// `--trace`: one JSON object per line.
struct JsonLines {
    out: RecordWriter,
    path: PathBuf,
}

impl Sink for JsonLines {
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
        self.out.record(line.as_bytes())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }

    fn name(&self) -> &'static str {
        "trace"
    }

    fn path(&self) -> &Path {
        &self.path
    }
}

/// Something that sees every traced event as the trace's writer thread handles it,
/// off the build's path: the footprint report's aggregate.
pub trait Observer: Send {
    fn observe(&mut self, event: &Traced, cmdline: &str);
}

/// An observer shared between the writer thread and whoever reads it afterwards.
pub type SharedObserver = Arc<Mutex<dyn Observer>>;

/// `--trace` files and the report's observer, fed by one writer thread. Each trace
/// fails on its own (noted in `record`, then left alone); the observer sees every event.
struct Fanout {
    traces: Vec<Option<JsonLines>>,
    observer: Option<SharedObserver>,
    record: Arc<Record>,
}

impl Fanout {
    fn each(&mut self, mut act: impl FnMut(&mut JsonLines) -> std::io::Result<()>) {
        for slot in &mut self.traces {
            if let Some(trace) = slot
                && let Err(e) = act(trace)
            {
                self.record.output_failed(trace.name(), &trace.path, e);
                *slot = None;
            }
        }
    }
}

impl Sink for Fanout {
    fn write(&mut self, e: &Traced, cmdline: &str) -> std::io::Result<()> {
        if let Some(observer) = &self.observer {
            observer
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .observe(e, cmdline);
        }
        self.each(|trace| trace.write(e, cmdline));
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.each(JsonLines::flush);
        Ok(())
    }

    fn name(&self) -> &'static str {
        "trace"
    }

    /// Never asked: a Fanout notes its traces' errors itself.
    fn path(&self) -> &Path {
        Path::new("")
    }
}

/// Gentoo's debug log, written as Gentoo's `write_logfile` writes it: created, header
/// first, at the first entry (a stale one was removed at start), then appended to
/// through the one descriptor. Each judged path is one block (a rename's two paths,
/// two blocks).
struct DebugLog {
    file: HostFile,
    out: Option<RecordWriter>,
    verbose: bool,
}

impl DebugLog {
    fn out(&mut self) -> std::io::Result<&mut RecordWriter> {
        if self.out.is_none() {
            let mut out = RecordWriter::new(self.file.create_new(0o600)?, true);
            out.record(gentoo_format::log_header().as_bytes())?;
            self.out = Some(out);
        }
        Ok(self.out.as_mut().expect("opened above"))
    }
}

impl Sink for DebugLog {
    fn write(&mut self, e: &Traced, cmdline: &str) -> std::io::Result<()> {
        let status = match e.verdict {
            Verdict::Deny => gentoo_format::Status::Deny,
            Verdict::Allow | Verdict::Predict => gentoo_format::Status::Allow,
        };
        for path in std::iter::once(&e.path).chain(e.path2.as_ref()) {
            let entry = Violation::new(e.op, path.clone(), cmdline.to_owned());
            self.out()?
                .record(&gentoo_format::debug_entry_bytes(&entry, status))?;
            if self.verbose && e.verdict != Verdict::Deny {
                terminal::eprint(&gentoo_format::debug_line(
                    e.verdict,
                    e.op.gentoo_name(),
                    path,
                ));
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

    fn path(&self) -> &Path {
        self.file.path()
    }
}

/// Command lines by pid, read from /proc (the host's: the daemon's PID namespace).
#[derive(Default)]
struct Cmdlines {
    known: HashMap<u32, Known>,
}

/// One process's command line as last read.
struct Known {
    read: Instant,
    cmdline: String,
    /// Set at an `execve` event: the command line before it, until a read shows the new
    /// one (or the TTL runs out: a program exec'd with the very same arguments). The
    /// events of an exec that follow its judgement (the binary's and ld.so's opens)
    /// still come from the old image, so one read after it proves nothing.
    execing: Option<(Instant, String)>,
}

impl Cmdlines {
    /// `pid`'s command line; at an `execing` event it is about to change.
    fn get(&mut self, pid: u32, execing: bool) -> &str {
        let now = Instant::now();
        let entry = self.known.entry(pid).or_insert_with(|| Known {
            read: now.checked_sub(2 * CMDLINE_TTL).unwrap_or(now),
            cmdline: gentoo_format::unreadable_cmdline(pid),
            execing: None,
        });
        if entry
            .execing
            .as_ref()
            .is_some_and(|(at, _)| now.duration_since(*at) > CMDLINE_TTL)
        {
            entry.execing = None;
        }
        if entry.execing.is_some() || now.duration_since(entry.read) > CMDLINE_TTL {
            // A process already gone keeps the command line it was last seen with.
            if let Some(fresh) = std::fs::read(format!("/proc/{pid}/cmdline"))
                .ok()
                .filter(|raw| !raw.is_empty())
                .map(|raw| gentoo_format::cmdline_from_proc(&raw))
            {
                if entry.execing.as_ref().is_some_and(|(_, old)| *old != fresh) {
                    entry.execing = None;
                }
                entry.cmdline = fresh;
                entry.read = now;
            }
        }
        if execing {
            entry.execing = Some((now, entry.cmdline.clone()));
        }
        &entry.cmdline
    }
}
