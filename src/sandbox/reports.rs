//! Where the run reports, all opened or checked at start (a bad target fails the run
//! before the build can run), finished after the build: the violation log, the trace,
//! the debug log, `--learn`, `--stats`, `--report`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};

use crate::audit::output::RecordWriter;
use crate::audit::{
    Auditor, Enforcement, HostFile, Output, Record, Tracer, ViolationLog, terminal,
};
use crate::cli::{Config, LogPlace};
use crate::mirror::stats::{self, CpuTime, RequestCounts};
use crate::policy::{clamp_to_secrets, render_learned, touched_secrets};
use crate::report::run::RunReport;

/// Where the run reports, all opened or checked at start: the violation log (through
/// the auditor), the `--trace`, `--learn` and debug log files, and the record in memory
/// they all come from.
pub(super) struct Reports {
    record: Arc<Record>,
    pub(super) auditor: Arc<Auditor>,
    /// The `--learn` file, opened at start (its content is replaced at the end).
    learned: Option<(std::fs::File, PathBuf)>,
    /// The `--stats` file, opened at start, written after the run.
    stats: Option<(std::fs::File, PathBuf)>,
    /// The trace, opened (truncated) at start, until its writer starts.
    trace: Option<(RecordWriter, PathBuf)>,
    /// Gentoo mode's debug log (`SANDBOX_DEBUG_LOG`), until its writer starts.
    debug_log: Option<HostFile>,
    /// The directory made for the default log, removed at the end if it stays empty
    /// (set by [`Reports::open`]):
    /// reached through its parent opened at start, since the direct mount gives
    /// fusebox-run a /tmp of its own.
    private_dir: Option<HostFile>,
    /// The host paths of all of them: the build may read them, never change them.
    pub(super) protected: Vec<PathBuf>,
    /// The files written on the host while the build runs (logs, trace), which the
    /// kernel must not cache: the build may look at them.
    pub(super) written_during_build: Vec<PathBuf>,
    /// `--report` and the one-line footprint, fed by the trace's writer thread.
    pub(super) report: Option<RunReport>,
}

impl Reports {
    pub(super) fn open(config: &Config) -> Result<Reports> {
        let (log_path, private_dir) = match &config.log {
            LogPlace::Given(path) => (path.clone(), None),
            LogPlace::Private { runtime_dir, tmp } => {
                let dir = private_log_dir(runtime_dir.as_deref(), tmp)?;
                (dir.path().join("violations.log"), Some(dir))
            }
        };
        let dir_path = private_dir.as_ref().map(|dir| dir.path().to_owned());
        match Self::open_files(config, &log_path, dir_path) {
            Ok(reports) => Ok(Reports {
                private_dir,
                ..reports
            }),
            Err(e) => {
                // Still empty: the log is made by the first violation.
                if let Some(dir) = private_dir {
                    let _ = dir.remove_if_empty_dir();
                }
                Err(e)
            }
        }
    }

    fn open_files(
        config: &Config,
        log_path: &Path,
        private_dir: Option<PathBuf>,
    ) -> Result<Reports> {
        let mut protected: Vec<PathBuf> = private_dir.iter().cloned().collect();
        let log = ViolationLog::create(log_path)
            .with_context(|| format!("cannot use {} as the violation log", shown(log_path)))?;
        protected.extend(
            [Some(log_path.to_owned()), log.real_path()]
                .into_iter()
                .flatten(),
        );
        let trace = config.trace.as_deref().map(open_trace).transpose()?;
        let debug_log = config
            .gentoo
            .as_ref()
            .map(|gentoo| open_debug_log(&gentoo.debug_log))
            .transpose()?;
        let learned = config.learn.as_deref().map(open_learned).transpose()?;
        let stats = config.stats.as_deref().map(open_stats).transpose()?;
        for (path, real) in [
            trace.as_ref().map(|t| (&t.1, t.2.clone())),
            debug_log.as_ref().map(|d| (&d.1, d.2.clone())),
            learned.as_ref().map(|l| (&l.1, l.2.clone())),
            stats.as_ref().map(|l| (&l.1, l.2.clone())),
        ]
        .into_iter()
        .flatten()
        {
            // No host path: an inherited descriptor (`--trace -`), nothing to protect.
            if let Some(real) = real {
                protected.extend([path.clone(), real]);
            }
        }
        let enforcement = if config.audit {
            Enforcement::AuditOnly
        } else {
            Enforcement::Deny
        };
        let report = RunReport::open(config)?;
        if let Some(report) = &report {
            // Written while the build runs (Gentoo mode's events) or after it: never
            // by the build.
            protected.extend(report.written_during_build());
        }
        let record = Arc::new(Record::new());
        let auditor = Auditor::new(record.clone(), log, config.verbose, enforcement)
            .refusing_secrets(config.secrets.clone());
        Ok(Reports {
            auditor: Arc::new(auditor),
            record,
            learned: learned.map(|(file, path, _)| (file, path)),
            stats: stats.map(|(file, path, _)| (file, path)),
            trace: trace.map(|(out, path, _)| (out, path)),
            debug_log: debug_log.map(|(file, _, _)| file),
            private_dir: None,
            written_during_build: protected.clone(),
            protected,
            report,
        })
    }

    /// Starts the trace's writer thread (so: only once the sandbox has been forked).
    pub(super) fn start_tracer(&mut self) -> Result<Option<Arc<Tracer>>> {
        let mut traces: Vec<(RecordWriter, PathBuf)> = self.trace.take().into_iter().collect();
        let mut observer = None;
        if let Some(report) = &self.report {
            // The report's events go through the same writer thread as the trace.
            traces.extend(report.open_traces()?);
            observer = Some(report.observer());
        }
        if traces.is_empty() && observer.is_none() {
            return Ok(None);
        }
        let names: Vec<String> = traces.iter().map(|(_, path)| shown(path)).collect();
        let tracer = Tracer::start(traces, observer, self.record.clone())
            .with_context(|| format!("cannot start the trace {}", names.join(", ")))?;
        Ok(Some(Arc::new(tracer)))
    }

    /// Starts the debug log's writer thread (Gentoo mode), which prints the verbose
    /// `ACCESS ALLOWED` lines too when `verbose`.
    pub(super) fn start_debug_log(&mut self, verbose: bool) -> Result<Option<Arc<Tracer>>> {
        let Some(file) = self.debug_log.take() else {
            return Ok(None);
        };
        let path = file.path().to_owned();
        let writer = Tracer::start_debug_log(file, verbose, self.record.clone())
            .with_context(|| format!("cannot write the debug log {}", shown(&path)))?;
        Ok(Some(Arc::new(writer)))
    }

    /// After the build: the trace and debug log complete, the summary printed (and the
    /// secrets the build tried named), then the learned policy written, then one line
    /// for each report that could not be written. The exit code: the build's, or 1
    /// instead of 0 when there were violations or a report is incomplete.
    pub(super) fn finish(
        self,
        writers: [Option<Arc<Tracer>>; 2],
        requests: &RequestCounts,
        config: &Config,
        code: i32,
    ) -> i32 {
        for writer in writers.into_iter().flatten() {
            writer.finish();
        }
        if let Some(summary) = self.auditor.summary() {
            terminal::eprint(&summary);
        }
        tell_secrets_touched(&self.auditor, &config.secrets);
        if let Some(report) = self.report {
            report.finish(code, &self.record);
        }
        if let Some((file, path)) = &self.stats
            && let Err(e) = write_stats(file, requests)
        {
            self.record.output_failed("stats", path, e);
        }
        if let Some((file, path)) = &self.learned
            && let Err(e) = write_learned_policy(file, config, &self.auditor)
        {
            self.record
                .output_failed("learned policy", path, format!("{e:#}"));
        }
        for failure in self.record.failures() {
            terminal::error_line(&format!(
                "cannot write the {} {}: {}",
                failure.what,
                failure.path.display(),
                failure.reason
            ));
        }
        let dropped = terminal::dropped();
        if dropped > 0 {
            // Said in case stderr works again by now (a reader that stalled for a while).
            terminal::error_line(&format!(
                "{dropped} messages could not be written to stderr"
            ));
        }
        if let Some(dir) = &self.private_dir {
            // Empty unless there were violations; then it holds the log the summary names.
            let _ = dir.remove_if_empty_dir();
        }
        self.record.exit_status(code)
    }
}

/// `--trace PATH`, opened (truncated) now: the writer, the name, and the host path to
/// protect when it is a file.
fn open_trace(path: &Path) -> Result<(RecordWriter, PathBuf, Option<PathBuf>)> {
    let output = Output::named(path).with_context(|| format!("--trace {}", shown(path)))?;
    let out = output
        .open_truncated(0o600)
        .with_context(|| format!("--trace {}", shown(path)))?;
    Ok((out, path.to_owned(), output.real_path()))
}

/// Gentoo mode's debug log, reached through its directory: created at its first entry.
fn open_debug_log(path: &Path) -> Result<(HostFile, PathBuf, Option<PathBuf>)> {
    let file = HostFile::new(path).with_context(|| format!("SANDBOX_DEBUG_LOG {}", shown(path)))?;
    // Gentoo's sandbox removes a stale one at start, whether debugging or not. What is
    // not a stale log stays, and stops nothing but the debug log itself (its first
    // write fails, and says so): its default name in a shared directory is Gentoo's,
    // and guessable.
    let _ = file.remove_stale_log();
    let real = file.real_path();
    Ok((file, path.to_owned(), real))
}

/// `--learn PATH`, opened now (created if missing, its content kept until the end), so
/// that a place it cannot be written to fails the run before the build.
fn open_learned(path: &Path) -> Result<(std::fs::File, PathBuf, Option<PathBuf>)> {
    let file = HostFile::new(path)
        .and_then(|f| Ok((f.open_own(0o644)?, f.real_path())))
        .with_context(|| format!("--learn {}", shown(path)))?;
    Ok((file.0, path.to_owned(), file.1))
}

/// `--stats PATH`, opened now like `--learn` (a place it cannot be written to fails
/// the run before the build).
fn open_stats(path: &Path) -> Result<(std::fs::File, PathBuf, Option<PathBuf>)> {
    let file = HostFile::new(path)
        .and_then(|f| Ok((f.open_own(0o644)?, f.real_path())))
        .with_context(|| format!("--stats {}", shown(path)))?;
    Ok((file.0, path.to_owned(), file.1))
}

/// `--stats`: the request counts and this process's CPU time, over the file opened at
/// start.
fn write_stats(mut file: &std::fs::File, requests: &RequestCounts) -> std::io::Result<()> {
    let json = stats::render_json(requests, own_cpu_time());
    file.set_len(0)?;
    file.write_all(json.as_bytes())
}

/// The CPU time this process (the mirror's threads, the supervisor, the writers) has
/// used so far, without its children (the sandbox).
fn own_cpu_time() -> CpuTime {
    use nix::sys::resource::{UsageWho, getrusage};
    let seconds = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
    getrusage(UsageWho::RUSAGE_SELF).map_or(CpuTime::default(), |usage| CpuTime {
        user: seconds(usage.user_time()),
        system: seconds(usage.system_time()),
    })
}

/// A path for a message: control characters and bytes that are not UTF-8 escaped.
fn shown(path: &Path) -> String {
    terminal::escape_os(path.as_os_str())
}

/// A new directory for the default log, 0700 with a random name: under `runtime_dir`
/// when that is a directory of the user's that nobody else can enter, else under
/// `tmp`.
fn private_log_dir(runtime_dir: Option<&Path>, tmp: &Path) -> Result<HostFile> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let me = nix::unistd::geteuid().as_raw();
    let private = |dir: &&Path| {
        dir.is_absolute()
            && std::fs::symlink_metadata(dir)
                .is_ok_and(|m| m.is_dir() && m.uid() == me && m.permissions().mode() & 0o077 == 0)
    };
    let (base, name) = match runtime_dir.filter(private) {
        Some(dir) => (dir.to_path_buf(), "fusebox-XXXXXX".to_owned()),
        None => (tmp.to_path_buf(), format!("fusebox-{me}-XXXXXX")),
    };
    let made = nix::unistd::mkdtemp(&base.join(name))
        .map_err(std::io::Error::from)
        .and_then(|dir| {
            HostFile::new(&dir).inspect_err(|_| {
                let _ = std::fs::remove_dir(&dir);
            })
        });
    made.with_context(|| {
        format!(
            "cannot make a private directory for the violation log in {} (hint: --log FILE)",
            shown(&base)
        )
    })
}

/// `--learn`: the policy widened for what this run was refused, as a policy file,
/// written over the file opened at start. A secret the run touched is re-allowed only
/// under a comment that says so.
fn write_learned_policy(
    mut file: &std::fs::File,
    config: &Config,
    auditor: &Auditor,
) -> Result<()> {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let attempts = auditor.attempts();
    let secrets = config.secrets.paths();
    let touched: Vec<(&Path, &str)> = touched_secrets(&attempts, &secrets)
        .into_iter()
        .filter_map(|path| {
            let secret = config.secrets.denied.iter().find(|s| s.path == path)?;
            Some((path, secret.reason))
        })
        .collect();
    let attempts = clamp_to_secrets(&attempts, &secrets, home.as_deref());
    let text = render_learned(&config.policy, &attempts, home.as_deref(), &touched)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    file.set_len(0)?;
    file.write_all(text.as_bytes())?;
    Ok(())
}

/// After the summary: which entries of the secrets set the build tried, and how to
/// re-allow one, so a refused secret is never mistaken for an ordinary violation.
fn tell_secrets_touched(auditor: &Auditor, secrets: &crate::policy::secrets::SecretsSet) {
    let paths = secrets.paths();
    let touched = touched_secrets(&auditor.attempts(), &paths);
    if touched.is_empty() {
        return;
    }
    let list: Vec<String> = touched.iter().map(|p| shown(p)).collect();
    terminal::eprint(&format!(
        " * The build tried to use {} of your secrets: {}. If it must, re-allow one with \
         --read ENTRY (fusebox-run --show-defaults lists the set).\n",
        touched.len(),
        list.join(", ")
    ));
}
