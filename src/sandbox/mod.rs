//! Setting up the sandbox, in order. [`run`] reads top to bottom as the steps happen.

pub mod fuse_mount;
pub mod job_control;
pub mod mounts;
pub mod seccomp;
mod shares;
pub mod staging;
pub mod userns;
pub mod watchdog;

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use nix::fcntl::{OFlag, open};
use nix::sched::CloneFlags;
use nix::sys::signal::Signal;
use nix::sys::stat::Mode;
use nix::unistd::pipe2;

use crate::audit::output::RecordWriter;
use crate::audit::{
    Auditor, Enforcement, HostFile, Output, Record, Tracer, ViolationLog, terminal,
};
use crate::cli::{Config, LogPlace, Net, UidMap};
use crate::gentoo::live::{LiveOptions, ProcessJudge, bashrc};
use crate::mirror::cache::Freshness;
use crate::mirror::host_path::host_realpath;
use crate::mirror::stats::{self, CpuTime, RequestCounts};
use crate::mirror::{Mirror, MirrorOptions, Ownership, StaticFile, session_config};
use crate::policy::{
    Judge, Policy, SharedPolicy, clamp_to_secrets, render_learned, touched_secrets,
};
use crate::report::run::RunReport;
use crate::supervisor;
use crate::sys::{self, Forked};
use fuse_mount::Method;
use userns::Ids;

/// Runs `config.command` in a new sandbox and returns its exit code.
pub fn run(config: &Config) -> Result<i32> {
    // 1. The host root, before any namespace: the mirror resolves everything from it, so
    //    it never walks into its own mount (direct: that exists only in later
    //    namespaces; fusermount3: the mirror hides the staging directory that holds it).
    let root = open_host_root()?;
    let me = Ids::current();
    //    The policy (realpaths) and the files we report to, likewise as the host sees them.
    //    Every report is checked and opened now, before the build can run: a bad target
    //    fails the run at once, and the build can never change one (`protect`).
    let mut policy =
        Policy::from_entries(&config.enforced_policy()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut reports = Reports::open(config)?;
    for path in &reports.protected {
        policy.protect(path);
    }
    let method = fuse_mount::choose(config.mount_helper)?;
    //    The mount table of that host root, to tell fusebox mirrors (see mirror/mounts.rs).
    let mountinfo = File::open("/proc/self/mountinfo").context("cannot read the mount table")?;
    //    Where every sandbox stages its mounts, guarded by every mirror.
    let staging_places = staging::places();

    // 2. Signals we supervise queue up instead of killing us; children inherit the mask.
    //    SIGTTOU too, as in a shell: we hand the terminal over and take it back.
    supervisor::block_supervised_signals().context("cannot block signals")?;
    nix::sys::signal::SigSet::from(Signal::SIGTTOU)
        .thread_block()
        .context("cannot block signals")?;

    // 3. Mount the mirror (direct: in a new user + mount namespace; still one thread).
    //    Their contents are hidden by identity, taken now: the direct way sees a tmpfs
    //    over /tmp once mounted.
    let mut hidden = staging::hidden(&staging_places);
    let mut mounted = fuse_mount::mount_mirror(method, me, &config.shares)?;
    hidden.append(&mut mounted.hidden);

    // 4. The sandbox's PID 1, forked before any mirror thread exists. It waits for `go`.
    let (go_read, go_write) = pipe2(OFlag::O_CLOEXEC).context("pipe")?;
    //    PID 1 says on this pipe when the build stops (see [`job_control`]).
    let (stops_read, stops_write) = pipe2(OFlag::O_CLOEXEC).context("pipe")?;
    let plan = ChildPlan {
        new_userns: mounted.needs_userns,
        me,
        uid_map: config.uid_map,
        net: config.net,
        unshare_ipc: config.unshare_ipc,
        hostname: config.hostname.clone(),
        newroot: mounted.mountpoint.clone(),
        cwd: config.cwd.clone(),
        command: config.command.clone(),
        env: config.env.clone(),
        daemon_fds: mounted.daemon_fds.clone(),
        shares: std::mem::take(&mut mounted.shares),
    };
    let init = match sys::fork_into(plan.namespaces())
        .context("cannot create the sandbox's namespaces (hint: `fusebox-run --check` tells why)")?
    {
        Forked::Child => {
            drop((go_write, stops_read));
            enter_sandbox(&plan, go_read, root, stops_write)
        }
        Forked::Parent(pid) => pid,
    };
    drop((go_read, stops_write));
    //    PID 1 leads the sandbox's own process group: the build's `kill 0` stays inside.
    let job = job_control::Terminal::new_group(init)
        .context("cannot give the sandbox its own process group")?;
    // PID 1 has its own copies of the shares' mount trees.
    drop(plan);

    // 5. The daemon needs no privilege: drop what the user namespace gave us, so the
    //    host's permission checks on its syscalls are exactly the user's.
    if method == Method::Direct {
        drop_capabilities()?;
    }
    raise_fd_limit();

    // 6. Serve the mirror from threads of this process, outside the sandbox's PID
    //    namespace: the build can neither see, signal nor ptrace them.
    let fuse = mounted.fuse.try_clone().context("dup /dev/fuse")?;
    if let Some(report) = &mut reports.report {
        report.set_root(root.try_clone().context("dup /")?);
    }
    let tracer = reports.start_tracer()?;
    let debug_log = reports.start_debug_log(config.verbose)?;
    let requests = Arc::new(RequestCounts::default());
    let shared = shared_policy(policy, config.lock);
    let (judge, static_files) = judge_of(config, shared, &root, init, debug_log.clone())?;
    serve_mirror(
        MirrorOptions {
            root,
            hidden,
            guarded: staging_places,
            mountinfo: Some(mountinfo),
            judge,
            auditor: reports.auditor.clone(),
            tracer: tracer.clone(),
            requests: requests.clone(),
            ownership: ownership(method, me),
            freshness: Freshness::new(config.cache_ttl, reports.written_during_build.clone()),
            static_files,
        },
        fuse,
    )?;
    job.hand_over();
    job.watch_stops(stops_read)
        .context("cannot start the job-control thread")?;
    let mut go = File::from(go_write);
    go.write_all(b"g").context("cannot start the sandbox")?;
    drop(go);

    // 7. Supervise until PID 1 exits with the build's status; then clean up.
    let code = supervisor::supervise_outside(init, &job).context("supervising the sandbox")?;
    job.take_back();
    //    From here on SIGTERM and SIGINT end fusebox-run at once, whatever it waits for
    //    (a mount of the fusermount3 kind is then unmounted by its watchdog).
    supervisor::unblock_supervised_signals();
    let code = match mounted.teardown() {
        Ok(()) => code,
        // The build's status matters more than a leftover directory: warn, keep it.
        Err(fuse_mount::Leftover::Directory(e)) => {
            terminal::error_line(&format!("warning: cleaning up the mirror: {e:#}"));
            code
        }
        // A mount left on the host is not: the run failed.
        Err(fuse_mount::Leftover::Mount(e)) => {
            terminal::error_line(&format!(
                "cannot unmount the mirror (the build exited with {code}): {e:#}"
            ));
            supervisor::EXIT_SETUP_FAILED
        }
    };
    Ok(reports.finish([tracer, debug_log], &requests, config, code))
}

/// How the mirror shows host owners: a mount inside our user namespace (direct) can
/// only express our own ids (see [`Ownership::SquashForeign`]).
fn ownership(method: Method, me: Ids) -> Ownership {
    match method {
        Method::Direct => Ownership::SquashForeign {
            uid: me.uid,
            gid: me.gid,
        },
        Method::Fusermount3 => Ownership::AsHost,
    }
}

/// Where the run reports, all opened or checked at start: the violation log (through
/// the auditor), the `--trace`, `--learn` and debug log files, and the record in memory
/// they all come from.
struct Reports {
    record: Arc<Record>,
    auditor: Arc<Auditor>,
    /// The `--learn` file, opened at start (its content is replaced at the end).
    learned: Option<(std::fs::File, PathBuf)>,
    /// The `--stats` file, opened at start, written after the run.
    stats: Option<(std::fs::File, PathBuf)>,
    /// The trace, opened (truncated) at start, until its writer starts.
    trace: Option<(RecordWriter, PathBuf)>,
    /// Gentoo mode's debug log (`SANDBOX_DEBUG_LOG`), until its writer starts.
    debug_log: Option<HostFile>,
    /// The directory made for the default log, removed at the end if it stays empty.
    private_dir: Option<PathBuf>,
    /// The host paths of all of them: the build may read them, never change them.
    protected: Vec<PathBuf>,
    /// The files written on the host while the build runs (logs, trace), which the
    /// kernel must not cache: the build may look at them.
    written_during_build: Vec<PathBuf>,
    /// `--report` and the one-line footprint, fed by the trace's writer thread.
    report: Option<RunReport>,
}

impl Reports {
    fn open(config: &Config) -> Result<Reports> {
        let (log_path, private_dir) = match &config.log {
            LogPlace::Given(path) => (path.clone(), None),
            LogPlace::Private { runtime_dir, tmp } => {
                let dir = private_log_dir(runtime_dir.as_deref(), tmp)?;
                (dir.join("violations.log"), Some(dir))
            }
        };
        let opened = Self::open_files(config, &log_path, private_dir.clone());
        if opened.is_err()
            && let Some(dir) = &private_dir
        {
            // Still empty: the log is made by the first violation.
            let _ = std::fs::remove_dir(dir);
        }
        opened
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
            .live
            .as_ref()
            .map(|live| open_debug_log(&live.debug_log))
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
            private_dir,
            written_during_build: protected.clone(),
            protected,
            report,
        })
    }

    /// Starts the trace's writer thread (so: only once the sandbox has been forked).
    fn start_tracer(&mut self) -> Result<Option<Arc<Tracer>>> {
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
    fn start_debug_log(&mut self, verbose: bool) -> Result<Option<Arc<Tracer>>> {
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
    fn finish(
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
            let _ = std::fs::remove_dir(dir);
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
fn private_log_dir(runtime_dir: Option<&Path>, tmp: &Path) -> Result<PathBuf> {
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
    nix::unistd::mkdtemp(&base.join(name)).with_context(|| {
        format!(
            "cannot make a private directory for the violation log in {} (hint: --log FILE)",
            shown(&base)
        )
    })
}

/// Who judges the build's operations: the shared policy alone, or in Gentoo mode each
/// process by its own `SANDBOX_*` variables too, with the startup file through which
/// its shells declare their changes.
fn judge_of(
    config: &Config,
    shared: SharedPolicy,
    root: &OwnedFd,
    init: nix::unistd::Pid,
    debug_log: Option<Arc<Tracer>>,
) -> Result<(Arc<dyn Judge>, Vec<StaticFile>)> {
    let shared = Arc::new(shared);
    let Some(launch) = config.live.clone() else {
        return Ok((shared, Vec::new()));
    };
    let root = root.try_clone().context("dup /")?;
    let realpath = Box::new(move |path: &Path| host_realpath(&root, path));
    let options = LiveOptions {
        launch,
        init_pid: init.as_raw().unsigned_abs(),
    };
    let judge = ProcessJudge::new(shared, options, realpath, debug_log);
    let bashrc = StaticFile {
        name: bashrc::NAME,
        text: bashrc::BASHRC,
    };
    Ok((Arc::new(judge), vec![bashrc]))
}

fn shared_policy(policy: Policy, locked: bool) -> SharedPolicy {
    let shared = SharedPolicy::new(policy);
    if locked {
        shared.lock();
    }
    shared
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

/// Starts the FUSE session threads. The handshake (FUSE_INIT) happens here, before the
/// sandbox is told to go, so the first request of the build finds the mirror ready.
fn serve_mirror(options: MirrorOptions, fuse: OwnedFd) -> Result<()> {
    let mirror = Mirror::new(options).context("cannot start the mirror")?;
    let session = fuser::Session::from_fd(mirror, fuse, fuser::SessionACL::All, session_config())
        .context("FUSE handshake failed")?;
    std::thread::Builder::new()
        .name("mirror".into())
        .spawn(move || {
            if let Err(e) = session.run() {
                terminal::error_line(&format!("the mirror stopped: {e}"));
            }
        })
        .context("cannot start the mirror thread")?;
    Ok(())
}

fn open_host_root() -> Result<OwnedFd> {
    open(
        "/",
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .context("cannot open /")
}

fn drop_capabilities() -> Result<()> {
    use caps::CapSet;
    for set in [
        CapSet::Ambient,
        CapSet::Inheritable,
        CapSet::Effective,
        CapSet::Permitted,
    ] {
        caps::clear(None, set).with_context(|| format!("cannot drop the {set:?} capabilities"))?;
    }
    Ok(())
}

/// The mirror holds host fds for open files and cached directories: use the whole hard
/// limit. Only fusebox-run's limit changes; the build keeps the user's.
fn raise_fd_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    if let Ok((_, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
    }
}

/// What the sandbox's PID 1 needs to know, fixed before the fork.
struct ChildPlan {
    new_userns: bool,
    me: Ids,
    uid_map: UidMap,
    net: Net,
    unshare_ipc: bool,
    hostname: Option<String>,
    newroot: PathBuf,
    cwd: PathBuf,
    command: Vec<std::ffi::OsString>,
    env: Vec<supervisor::EnvChange>,
    daemon_fds: Vec<RawFd>,
    shares: Vec<shares::Share>,
}

impl ChildPlan {
    /// The namespaces PID 1 is cloned into.
    fn namespaces(&self) -> CloneFlags {
        let mut flags = CloneFlags::CLONE_NEWPID | CloneFlags::CLONE_NEWNS;
        flags.set(CloneFlags::CLONE_NEWUSER, self.new_userns);
        flags.set(CloneFlags::CLONE_NEWNET, self.net == Net::None);
        flags.set(CloneFlags::CLONE_NEWIPC, self.unshare_ipc);
        flags.set(CloneFlags::CLONE_NEWUTS, self.hostname.is_some());
        flags
    }
}

/// PID 1's life: set up, then become the build's init. Never returns.
fn enter_sandbox(plan: &ChildPlan, go: OwnedFd, root: OwnedFd, stops: OwnedFd) -> ! {
    drop(root);
    if let Err(e) = set_up_inside(plan, go) {
        terminal::error_line(&format!("{e:#}"));
        sys::exit_now(supervisor::EXIT_SETUP_FAILED);
    }
    supervisor::run_init(&plan.command, &plan.env, stops)
}

fn set_up_inside(plan: &ChildPlan, go: OwnedFd) -> Result<()> {
    die_with_parent(go)?;
    for &fd in &plan.daemon_fds {
        let _ = nix::unistd::close(fd);
    }
    if plan.new_userns {
        userns::write_maps(plan.me, plan.me)
            .context("cannot write the user namespace's id maps")?;
    }
    mounts::prepare_root(&plan.newroot)?;
    shares::attach_all(&plan.shares, &plan.newroot)?;
    if plan.net == Net::None {
        sys::bring_loopback_up().context("cannot bring up lo")?;
    }
    if let Some(name) = &plan.hostname {
        nix::unistd::sethostname(name).context("cannot set the hostname")?;
    }
    mounts::pivot_into(&plan.newroot)?;
    enter_cwd(&plan.cwd)?;
    userns::enter_build_namespace(plan.uid_map)
        .context("cannot create the build's user namespace")?;
    join_new_session_keyring()?;
    // Last: every process of the sandbox, PID 1 included, runs under it.
    sys::install_seccomp_filter(&seccomp::tty_injection_filter())
        .context("cannot install the seccomp filter")?;
    // Nothing of ours is worth a core dump or a ptrace from the build.
    let _ = nix::sys::prctl::set_dumpable(false);
    Ok(())
}

/// A fresh session keyring for the sandbox. Where keyctl(2) is refused to us (ENOSYS,
/// or EPERM from a container's seccomp profile) it is refused to the build as well, so
/// there is no keyring to share and nothing to do.
fn join_new_session_keyring() -> Result<()> {
    match sys::join_new_session_keyring() {
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOSYS | libc::EPERM)) => Ok(()),
        r => r.context("cannot create the sandbox's session keyring"),
    }
}

/// Arms the parent-death signal, then waits for `go`. The race is closed: if the parent
/// died before the prctl, the pipe's write end is already closed and we read EOF.
fn die_with_parent(go: OwnedFd) -> Result<()> {
    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).context("prctl(PR_SET_PDEATHSIG)")?;
    let mut byte = [0u8; 1];
    let mut go = File::from(go);
    match go.read(&mut byte) {
        Ok(1) => Ok(()),
        _ => {
            // fusebox-run is gone, or failed before starting the mirror (it says why).
            sys::exit_now(supervisor::EXIT_SETUP_FAILED)
        }
    }
}

fn enter_cwd(cwd: &Path) -> Result<()> {
    nix::unistd::chdir(cwd)
        .with_context(|| format!("cannot enter {} inside the sandbox", cwd.display()))
}
