//! Mounts the FUSE mirror of a host directory, for trying the mirror by hand.
//!
//! ```text
//! cargo run --example mirror_mount -- <host-dir-as-root> <mountpoint> [--write PATH]...
//! ```
//!
//! Policy paths are host paths (`--write /tmp/w` allows writes below the host's
//! /tmp/w however it is reached). The directory holding the mountpoint is hidden
//! from the mirror: a mirror of `/` would otherwise reach its own mountpoint and ask
//! itself. Serves until SIGINT/SIGTERM (then unmounts) or an external unmount.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use fusebox::audit::{Auditor, Enforcement, ViolationLog};
use fusebox::mirror::cache::{self, Freshness};
use fusebox::mirror::{Mirror, MirrorOptions, Run, Runs, session_config};
use fusebox::policy::{Policy, SharedPolicy};
use fuser::{MountOption, Session};
use nix::fcntl::{OFlag, open};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::stat::Mode;
use std::os::fd::OwnedFd;

struct Args {
    root: PathBuf,
    mountpoint: PathBuf,
    write: Vec<PathBuf>,
}

fn parse() -> Result<Args> {
    let mut positional = Vec::new();
    let mut write = Vec::new();
    let mut it = std::env::args_os().skip(1);
    while let Some(a) = it.next() {
        if a == "--write" {
            write.push(PathBuf::from(it.next().context("--write needs a path")?));
        } else {
            positional.push(PathBuf::from(a));
        }
    }
    let [root, mountpoint] = <[PathBuf; 2]>::try_from(positional).map_err(|_| {
        anyhow::anyhow!("usage: mirror_mount <host-dir-as-root> <mountpoint> [--write PATH]...")
    })?;
    Ok(Args {
        root,
        mountpoint,
        write,
    })
}

fn open_path(p: &std::path::Path) -> Result<OwnedFd> {
    open(
        p,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .with_context(|| format!("cannot open {}", p.display()))
}

fn main() -> Result<()> {
    let args = parse()?;
    let root_path = std::fs::canonicalize(&args.root)
        .with_context(|| format!("cannot resolve {}", args.root.display()))?;
    let mountpoint = std::fs::canonicalize(&args.mountpoint)
        .with_context(|| format!("cannot resolve {}", args.mountpoint.display()))?;
    let Some(staging) = mountpoint.parent() else {
        bail!("the mountpoint cannot be /");
    };
    let hidden = vec![open_path(staging)?];
    let opts = MirrorOptions {
        root: open_path(&root_path)?,
        hidden,
        guarded: Vec::new(),
        mountinfo: None,
        runs: Runs::one(Run {
            judge: Arc::new(SharedPolicy::new(Policy::new(args.write))),
            auditor: Arc::new(Auditor::new(
                Arc::new(fusebox::audit::Record::new()),
                ViolationLog::create(std::env::temp_dir().join("mirror_mount.log"))?,
                true,
                Enforcement::Deny,
            )),
            tracer: None,
            requests: Default::default(),
        }),
        ownership: Default::default(),
        freshness: Freshness::new(cache::DEFAULT_TTL, Vec::new()),
        static_files: Vec::new(),
    };
    let mirror = Mirror::with_prefix(opts, root_path.clone())?;

    // Block the signals in every thread (fuser's readers inherit the mask) and take
    // them in one thread that unmounts.
    let mut signals = SigSet::empty();
    signals.add(Signal::SIGINT);
    signals.add(Signal::SIGTERM);
    signals.thread_block()?;

    let mut config = session_config();
    config.mount_options = vec![
        MountOption::FSName(format!("fusebox:{}", root_path.display())),
        MountOption::Subtype("fusebox".into()),
    ];
    let mut session = Session::new(mirror, &mountpoint, &config)
        .with_context(|| format!("cannot mount on {}", mountpoint.display()))?;
    let mut unmounter = session.unmount_callable();
    std::thread::spawn(move || {
        if signals.wait().is_ok() {
            if let Err(e) = unmounter.unmount() {
                eprintln!("mirror_mount: unmount: {e}");
            }
        }
    });
    eprintln!(
        "mirror_mount: {} mirrored at {}",
        root_path.display(),
        mountpoint.display()
    );
    session.run().context("serving the mirror")?;
    Ok(())
}
