//! Setting up the sandbox, in order. [`run`] reads top to bottom as the steps happen.

pub mod fuse_mount;
pub mod mounts;
mod shares;
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

use crate::audit::{Auditor, Enforcement, HostFile, Tracer, ViolationLog};
use crate::cli::{Config, Net, UidMap};
use crate::gentoo::live::LiveOptions;
use crate::mirror::cache::Freshness;
use crate::mirror::stats::{self, CpuTime, RequestCounts};
use crate::mirror::{Mirror, MirrorOptions, Ownership, session_config};
use crate::policy::{List, Policy, SharedPolicy, learn};
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
    let policy = Policy::from_entries(&config.policy).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut reports = Reports::open(config)?;
    let method = fuse_mount::choose(config.mount_helper)?;

    // 2. Signals we supervise queue up instead of killing us; children inherit the mask.
    supervisor::block_supervised_signals().context("cannot block signals")?;

    // 3. Mount the mirror (direct: in a new user + mount namespace; still one thread).
    let mut mounted = fuse_mount::mount_mirror(method, me, &config.shares)?;

    // 4. The sandbox's PID 1, forked before any mirror thread exists. It waits for `go`.
    let (go_read, go_write) = pipe2(OFlag::O_CLOEXEC).context("pipe")?;
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
            drop(go_write);
            enter_sandbox(&plan, go_read, root)
        }
        Forked::Parent(pid) => pid,
    };
    drop(go_read);
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
    let tracer = reports.start_tracer()?;
    let debug_log = reports.start_debug_log(config.verbose)?;
    let requests = Arc::new(RequestCounts::default());
    serve_mirror(
        MirrorOptions {
            root,
            hidden: mounted.hidden.clone(),
            policy: Arc::new(shared_policy(policy, config.lock)),
            auditor: reports.auditor.clone(),
            tracer: tracer.clone(),
            requests: requests.clone(),
            debug_log: debug_log.clone(),
            ownership: ownership(method, me),
            freshness: Freshness::new(config.cache_ttl, reports.written_during_build.clone()),
            live: config.live.clone().map(|launch| LiveOptions {
                launch,
                init_pid: init.as_raw().unsigned_abs(),
            }),
        },
        fuse,
    )?;
    let mut go = File::from(go_write);
    go.write_all(b"g").context("cannot start the sandbox")?;
    drop(go);

    // 7. Supervise until PID 1 exits with the build's status; then clean up.
    let code = supervisor::supervise_outside(init).context("supervising the sandbox")?;
    if let Err(e) = mounted.teardown() {
        // The build's status matters more than a leftover directory: warn, keep it.
        eprintln!("fusebox-run: warning: cleaning up the mirror: {e:#}");
    }
    reports.finish([tracer, debug_log], &requests, &config.policy, code)
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

/// Where the run reports: the violation log (through the auditor), and the `--learn`
/// and `--trace` files, each reached through its directory opened before any namespace.
struct Reports {
    auditor: Arc<Auditor>,
    learned: Option<HostFile>,
    trace: Option<HostFile>,
    /// `--stats`: the request counts, written after the run.
    stats: Option<HostFile>,
    /// Gentoo mode's debug log (`SANDBOX_DEBUG_LOG`), until its writer starts.
    debug_log: Option<HostFile>,
    /// The files written on the host while the build runs (logs, trace), which the
    /// kernel must not cache: the build may look at them.
    written_during_build: Vec<PathBuf>,
}

impl Reports {
    fn open(config: &Config) -> Result<Reports> {
        let log = ViolationLog::create(&config.log)
            .with_context(|| format!("cannot use {} as the violation log", config.log.display()))?;
        let enforcement = if config.audit {
            Enforcement::AuditOnly
        } else {
            Enforcement::Deny
        };
        let trace = host_file("--trace", config.trace.as_deref())?;
        let debug_log = config.live.as_ref().map(|live| &live.debug_log);
        let debug_log = host_file("SANDBOX_DEBUG_LOG", debug_log.map(PathBuf::as_path))?;
        if let Some(file) = &debug_log {
            // Gentoo's sandbox removes a stale one at start, whether debugging or not.
            file.remove().with_context(|| {
                format!("cannot remove the old debug log {}", file.path().display())
            })?;
        }
        let written_during_build = [
            log.real_path(),
            trace.as_ref().and_then(HostFile::real_path),
            debug_log.as_ref().and_then(HostFile::real_path),
        ]
        .into_iter()
        .flatten()
        .collect();
        Ok(Reports {
            auditor: Arc::new(Auditor::new(log, config.verbose, enforcement)),
            learned: host_file("--learn", config.learn.as_deref())?,
            trace,
            stats: host_file("--stats", config.stats.as_deref())?,
            debug_log,
            written_during_build,
        })
    }

    /// Starts the trace's writer thread (so: only once the sandbox has been forked).
    fn start_tracer(&self) -> Result<Option<Arc<Tracer>>> {
        let Some(file) = &self.trace else {
            return Ok(None);
        };
        let tracer = Tracer::start(file)
            .with_context(|| format!("cannot write the trace {}", file.path().display()))?;
        Ok(Some(Arc::new(tracer)))
    }

    /// Starts the debug log's writer thread (Gentoo mode), which prints the verbose
    /// `ACCESS ALLOWED` lines too when `verbose`.
    fn start_debug_log(&mut self, verbose: bool) -> Result<Option<Arc<Tracer>>> {
        let Some(file) = self.debug_log.take() else {
            return Ok(None);
        };
        let path = file.path().to_owned();
        let writer = Tracer::start_debug_log(file, verbose)
            .with_context(|| format!("cannot write the debug log {}", path.display()))?;
        Ok(Some(Arc::new(writer)))
    }

    /// After the build: the trace and debug log on disk, the learned policy written,
    /// the summary printed; the exit code, 1 instead of 0 when there were violations.
    fn finish(
        self,
        writers: [Option<Arc<Tracer>>; 2],
        requests: &RequestCounts,
        policy: &[(List, PathBuf)],
        code: i32,
    ) -> Result<i32> {
        for writer in writers.into_iter().flatten() {
            writer.finish();
        }
        if let Some(file) = &self.stats {
            let json = stats::render_json(requests, own_cpu_time());
            file.write(json.as_bytes())
                .with_context(|| format!("cannot write {}", file.path().display()))?;
        }
        if let Some(file) = &self.learned {
            write_learned_policy(file, policy, &self.auditor)?;
        }
        Ok(report_violations(&self.auditor, code))
    }
}

fn shared_policy(policy: Policy, locked: bool) -> SharedPolicy {
    let shared = SharedPolicy::new(policy);
    if locked {
        shared.lock();
    }
    shared
}

/// A file named by `option`, reached through its directory opened now (before any
/// namespace).
fn host_file(option: &str, path: Option<&Path>) -> Result<Option<HostFile>> {
    path.map(|path| {
        HostFile::new(path)
            .with_context(|| format!("{option} {}: no such directory", path.display()))
    })
    .transpose()
}

/// `--learn`: the policy widened for what this run was refused, as a policy file.
fn write_learned_policy(
    file: &HostFile,
    policy: &[(List, PathBuf)],
    auditor: &Auditor,
) -> Result<()> {
    let entries = learn(policy, &auditor.attempts());
    let text = Policy::from_entries(&entries)
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .render();
    file.write(text.as_bytes())
        .with_context(|| format!("cannot write {}", file.path().display()))
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

/// Prints the violation summary, as Gentoo's sandbox does at exit, and turns a build
/// that "succeeded" despite violations into a failure (1).
fn report_violations(auditor: &Auditor, code: i32) -> i32 {
    match auditor.summary() {
        Some(summary) => {
            eprint!("{summary}");
            if code == 0 { 1 } else { code }
        }
        None => code,
    }
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
                eprintln!("fusebox-run: the mirror stopped: {e}");
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
fn enter_sandbox(plan: &ChildPlan, go: OwnedFd, root: OwnedFd) -> ! {
    drop(root);
    if let Err(e) = set_up_inside(plan, go) {
        eprintln!("fusebox-run: {e:#}");
        sys::exit_now(supervisor::EXIT_SETUP_FAILED);
    }
    supervisor::run_init(&plan.command, &plan.env)
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
    // Nothing of ours is worth a core dump or a ptrace from the build.
    let _ = nix::sys::prctl::set_dumpable(false);
    Ok(())
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
