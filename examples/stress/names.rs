//! names: processes change one shared tree at once — create, write, rename (within and
//! across directories, over existing names), link, unlink, mkdir, rmdir — then the tree
//! is walked and checked: every entry stat-able, every file holding what its creator
//! wrote (its header names the creator, so renamed and linked files stay checkable),
//! link counts equal to the names found, no inode under two ids.
//!
//! The tree is DIR/tree: four fixed directories `d0`..`d3`, and below them names `n0`..
//! `n11` that the workers make files or directories, one or two levels deep (directories
//! renamed into each other may nest deeper).

mod verify;
mod worker;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::procs;

pub struct Config {
    pub seed: u64,
    pub procs: u32,
    pub duration: Duration,
    pub ops: Option<u64>,
    pub verify_only: bool,
    pub worker: Option<u32>,
    pub dir: PathBuf,
}

/// How long after the end of the run a worker may take to finish before the run is
/// declared hung (its processes are then killed).
const HANG_GRACE: Duration = Duration::from_secs(60);

/// The fixed top-level directories.
const TOP_DIRS: u64 = 4;
/// The names the workers use in each directory.
const NAMES: u64 = 12;

pub fn run(cfg: &Config) -> Result<()> {
    let root = cfg.dir.join("tree");
    if let Some(w) = cfg.worker {
        return worker::run(cfg, w, &root);
    }
    if cfg.verify_only {
        // No randomness, so no seed: the walk alone.
        return verify::check(&root);
    }
    println!("stress names: seed={}", cfg.seed);
    println!(
        "stress names: {} processes for {:.1} s{} in {}",
        cfg.procs,
        cfg.duration.as_secs_f64(),
        cfg.ops
            .map_or(String::new(), |n| format!(" (at most {n} ops each)")),
        root.display()
    );
    make_tree(&root)?;
    let started = Instant::now();
    let workers = run_workers(cfg);
    println!(
        "stress names: workers done in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    // The tree is checked even after a worker failed: it may tell more.
    verify::check(&root)?;
    workers
}

fn make_tree(root: &Path) -> Result<()> {
    std::fs::create_dir(root).with_context(|| format!("cannot create {}", root.display()))?;
    for d in 0..TOP_DIRS {
        std::fs::create_dir(root.join(format!("d{d}")))?;
    }
    Ok(())
}

/// Starts the workers (this program again, with `--worker N`), waits for them under a
/// hang guard, and says whether all of them found everything as it must be.
fn run_workers(cfg: &Config) -> Result<()> {
    let mut children = Vec::new();
    for w in 0..cfg.procs {
        let mut args = vec![
            "names".to_string(),
            format!("--worker={w}"),
            format!("--seed={}", cfg.seed),
            format!("--secs={}", cfg.duration.as_secs_f64()),
        ];
        args.extend(cfg.ops.map(|n| format!("--ops={n}")));
        children.push((w, procs::spawn_self(&args, &cfg.dir)?));
    }
    let deadline = Instant::now() + cfg.duration + HANG_GRACE;
    let failed = procs::wait_all("stress names: worker", children, deadline)?;
    if !failed.is_empty() {
        bail!("names: workers {failed:?} failed (seed {})", cfg.seed);
    }
    Ok(())
}
