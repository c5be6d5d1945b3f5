//! The report of a live run: set up before the sandbox (files reached through their
//! directories, Portage's declarations read before the phase can change them), fed
//! by the trace's writer thread, written after the build.

use std::io::BufReader;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::{Context as _, Result};

use super::model::{Footprint, Totals};
use super::packages::Databases;
use super::portage::{self, Declarations};
use super::trace_in::read_trace;
use super::{Collector, Context, Report, ReportPlan, footprint_line, render};
use crate::audit::output::RecordWriter;
use crate::audit::{HostFile, Record, SharedObserver, terminal};
use crate::cli::Config;

/// What a run reports besides the violation log: the `--report` file and the
/// one-line footprint.
pub struct RunReport {
    plan: Option<ReportPlan>,
    file: Option<HostFile>,
    /// Gentoo mode: every phase's events, appended to (the report covers them all).
    events: Option<HostFile>,
    /// Gentoo mode: this phase is the package's first (its events start afresh).
    first_phase: bool,
    declarations: Option<Declarations>,
    collector: Arc<Mutex<Collector>>,
    footprint_line: bool,
    title: String,
    /// The host's root, for sizes and package databases after the build (fusebox-run's
    /// own mount namespace may cover parts of it, such as /tmp).
    root: Option<OwnedFd>,
}

impl RunReport {
    /// None when the run reports nothing (no `--report`, stderr not a terminal or
    /// `-q`).
    pub fn open(config: &Config) -> Result<Option<RunReport>> {
        if config.report.is_none() && !config.prints_footprint() {
            return Ok(None);
        }
        let plan = config.report.clone();
        let file = plan
            .as_ref()
            .map(|p| {
                HostFile::new(&p.file)
                    .with_context(|| format!("--report {}: no such directory", p.file.display()))
            })
            .transpose()?;
        let portage = plan.as_ref().and_then(|p| p.portage.as_ref());
        let events = portage
            .map(|b| {
                let events = HostFile::new(b.events_file())
                    .with_context(|| format!("--report: cannot use {}", b.temp.display()))?;
                anyhow::Ok(events)
            })
            .transpose()?;
        let declarations = portage.and_then(|b| {
            let text = std::fs::read_to_string(b.environment_file()).ok()?;
            Some(Declarations {
                package: b.package.clone(),
                declared: portage::declared_in_environment(&text),
                system: portage::system_set(&b.profile()),
            })
        });
        let first_phase = portage.is_some_and(|b| b.first_phase);
        let title = match portage {
            Some(b) => format!("{} (every phase so far)", b.package),
            None => config
                .command
                .iter()
                .map(|a| a.to_string_lossy())
                .collect::<Vec<_>>()
                .join(" "),
        };
        let build_dir = plan
            .as_ref()
            .map_or_else(|| config.cwd.clone(), |p| p.build_dir.clone());
        Ok(Some(RunReport {
            plan,
            file,
            events,
            first_phase,
            declarations,
            collector: Arc::new(Mutex::new(Collector::new(&build_dir))),
            footprint_line: config.prints_footprint(),
            title,
            root: None,
        }))
    }

    /// The host root (a clone of the one fusebox-run opened before any namespace),
    /// taken once the sandbox has been forked, so the sandbox never holds it.
    pub fn set_root(&mut self, root: OwnedFd) {
        self.root = Some(root);
    }

    /// The trace files the writer thread appends to, opened now: Gentoo mode's events
    /// of every phase (emptied at the first), a regular file of the user's.
    pub fn open_traces(&self) -> Result<Vec<(RecordWriter, PathBuf)>> {
        use std::io::{Seek, SeekFrom};
        let Some(events) = &self.events else {
            return Ok(Vec::new());
        };
        let mut file = events
            .open_own(0o600)
            .with_context(|| format!("--report: cannot use {}", events.path().display()))?;
        if self.first_phase {
            file.set_len(0)?;
        }
        file.seek(SeekFrom::End(0))?;
        Ok(vec![(
            RecordWriter::new(file, true),
            events.path().to_owned(),
        )])
    }

    /// What aggregates the live events (unused for the report in Gentoo mode, which
    /// reads every phase back, but still the footprint line's source).
    pub fn observer(&self) -> SharedObserver {
        self.collector.clone()
    }

    /// Files written on the host while the build runs.
    pub fn written_during_build(&self) -> Vec<PathBuf> {
        [self.file.as_ref(), self.events.as_ref()]
            .into_iter()
            .flatten()
            .filter_map(HostFile::real_path)
            .collect()
    }

    /// After the build (the writers finished): writes the report and prints the
    /// footprint. Failures are reported, not fatal: the build's status matters more.
    pub fn finish(self, code: i32, record: &Record) {
        let live = std::mem::replace(
            &mut self
                .collector
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .footprint,
            Footprint::new(b"/"),
        );
        let mut totals = live.totals();
        if let (Some(plan), Some(file)) = (&self.plan, &self.file) {
            match self.write(plan, file, live, code) {
                Ok(all) => totals = all,
                // Said with the other reports that could not be written; the run fails.
                Err(e) => record.output_failed("report", &plan.file, format!("{e:#}")),
            }
        }
        if self.footprint_line {
            terminal::eprint(&format!("{}\n", footprint_line(&totals)));
        }
    }

    fn write(
        &self,
        plan: &ReportPlan,
        file: &HostFile,
        live: Footprint,
        code: i32,
    ) -> Result<Totals> {
        let footprint = match &self.events {
            // Every phase of the package, this one included.
            Some(events) => {
                use nix::fcntl::OFlag;
                let mut all = Footprint::new(&live.build_dir);
                let input = events.open_existing(OFlag::O_RDONLY)?;
                read_trace(BufReader::with_capacity(1 << 16, input), &mut all)?;
                all
            }
            None => live,
        };
        let totals = footprint.totals();
        let host_root = self
            .root
            .as_ref()
            .map(|fd| PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd())));
        let eprefixes: Vec<PathBuf> = plan.portage.iter().map(|b| b.eprefix.clone()).collect();
        let context = Context {
            title: self.title.clone(),
            exit_code: Some(code),
            databases: Databases::find_under(host_root.as_deref(), &eprefixes),
            declarations: self.declarations.clone(),
            host_root,
        };
        let report = Report::assemble(footprint, context);
        file.replace(render(&report, plan.format).as_bytes())?;
        Ok(totals)
    }
}
