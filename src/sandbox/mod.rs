//! Setting up the sandbox, in order. [`run`] reads top to bottom as the steps happen.
//!
//! What the steps use has files of its own: `reports.rs` opens every report at start and
//! finishes them after the build; `init.rs` is the sandbox's PID 1, set up inside the
//! new namespaces; the mounts, the user namespace, the mirror's mount and its watchdog,
//! the terminal, the seccomp filter are the modules below.

pub mod fuse_mount;
mod init;
pub mod job_control;
pub mod mounts;
pub mod notify;
mod reports;
pub mod seccomp;
mod shares;
pub mod staging;
pub mod trees;
pub mod userns;
pub mod watchdog;

use std::fs::File;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use nix::fcntl::{OFlag, open};
use nix::sys::signal::Signal;
use nix::sys::stat::Mode;
use nix::unistd::pipe2;

use crate::audit::{Tracer, terminal};
use crate::cli::Config;
use crate::gentoo::processes::{ProcessJudge, TableOptions, bashrc};
use crate::mirror::cache::Freshness;
use crate::mirror::host_path::host_realpath;
use crate::mirror::stats::RequestCounts;
use crate::mirror::{Mirror, MirrorOptions, Ownership, Run, Runs, StaticFile, session_config};
use crate::policy::{Judge, Policy, SharedPolicy};
use crate::supervisor;
use crate::sys::{self, Forked};
use fuse_mount::Method;
use init::{ChildPlan, enter_sandbox};
use reports::Reports;
use trees::{HostRoot, KernelTrees, TreeGate, TreePlan};
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
    let mut policy = config
        .policy_in_force()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut reports = Reports::open(config)?;
    for path in &reports.protected {
        policy.protect(path);
    }
    //    The trees the kernel serves itself (none when every access must be seen).
    let staging_places = staging::places();
    let tree_plan = match config.serves_trees_from_kernel() {
        true => {
            let scene = trees::Scene {
                policy: &policy,
                guarded: &staging_places,
                system: &config.system_trees,
                cwd: &config.cwd,
            };
            trees::plan(&scene, &trees::Host)
        }
        false => TreePlan::default(),
    };
    //    The mount table of that host root, to tell fusebox mirrors (see mirror/mounts.rs);
    //    read first to refuse a start inside one.
    let mountinfo = File::open("/proc/self/mountinfo");
    let method = fuse_mount::choose(config.mount_helper, mountinfo.as_ref().ok())?;
    let mountinfo = mountinfo.context("cannot read the mount table")?;
    //    Where every sandbox stages its mounts (above), guarded by every mirror.

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
    let shares: Vec<_> = trees::binds(&tree_plan)
        .into_iter()
        .chain(config.shares.iter().cloned())
        .collect();
    let mut mounted = fuse_mount::mount_mirror(method, me, &shares)?;
    let (inside_trees, tree_links) = trees::links(&tree_plan)?;
    hidden.append(&mut mounted.hidden);

    // 4. The sandbox's PID 1, forked before any mirror thread exists. It waits for `go`.
    let (go_read, go_write) = pipe2(OFlag::O_CLOEXEC).context("pipe")?;
    //    PID 1 says on this pipe when the build stops; there is one only when stdin is a
    //    terminal (see [`job_control`]).
    let (stops_read, stops_write) = job_control::stops_pipe().context("pipe")?.unzip();
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
        trees: inside_trees,
    };
    let init = match sys::fork_into(plan.namespaces())
        .context("cannot create the sandbox's namespaces (hint: `fusebox-run --check` tells why)")?
    {
        Forked::Child => {
            drop((go_write, stops_read, tree_links));
            enter_sandbox(plan, go_read, root, stops_write)
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
    let host = Box::new(HostRoot(root.try_clone().context("dup /")?));
    let kernel_trees = Arc::new(KernelTrees::new(&tree_plan, tree_links.agent, host));
    if !tree_plan.is_empty() {
        // Set once, on a policy nothing else watches.
        let _ = shared.set_watcher(kernel_trees.clone());
    }
    let (judge, static_files) = judge_of(config, shared, &root, init, debug_log.clone())?;
    let judge_for_trees = judge.clone();
    serve_mirror(
        MirrorOptions {
            root,
            hidden,
            guarded: staging_places,
            mountinfo: Some(mountinfo),
            runs: Runs::one(Run {
                judge,
                auditor: reports.auditor.clone(),
                tracer: tracer.clone(),
                requests: requests.clone(),
            }),
            ownership: ownership(method, me),
            freshness: Freshness::new(config.cache_ttl, reports.written_during_build.clone()),
            static_files,
        },
        fuse,
    )?;
    job.hand_over();
    if let Some(stops) = stops_read {
        job.watch_stops(stops)
            .context("cannot start the job-control thread")?;
    }
    let mut go = File::from(go_write);
    go.write_all(b"g").context("cannot start the sandbox")?;
    drop(go);
    //    With a read-only tree, PID 1 sends the write filter's listener last in its setup.
    if let Some(link) = tree_links.notify {
        let gate = TreeGate {
            trees: kernel_trees,
            judge: judge_for_trees,
            auditor: reports.auditor.clone(),
            counts: requests.clone(),
        };
        start_notifier(&link, gate)?;
    }

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
    let Some(launch) = config.gentoo.clone() else {
        return Ok((shared, Vec::new()));
    };
    let root = root.try_clone().context("dup /")?;
    let realpath = Box::new(move |path: &Path| host_realpath(&root, path));
    let options = TableOptions {
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

/// Answers the write filter's notifications with `gate`, from the listener PID 1 sends
/// on `link`; none comes when PID 1 failed before (it says why), and the run goes on to
/// report that.
fn start_notifier(link: &OwnedFd, gate: TreeGate) -> Result<()> {
    use std::os::fd::AsFd;
    let Ok(listener) = notify::recv_fd(link.as_fd()) else {
        return Ok(());
    };
    // Two threads: one waiting on the host while another caller is answered.
    notify::spawn_notifier(listener, Arc::new(gate), 2)
        .context("cannot start the write filter's threads")?;
    Ok(())
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
