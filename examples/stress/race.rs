//! race: one process (this one, the writer) replaces a few names over and over — a file by
//! a directory by a symlink by a file, each a new inode with new contents, sometimes by a
//! rename over the old one — while reader processes lstat, open, read, list and readlink
//! them. The kernel keeps forgetting the replaced inodes while the readers look the same
//! names up again: no answer may ever be inconsistent with what was there (see
//! [`reader`]), and the writer must find each object it publishes under its name.
//!
//! Layout: DIR/race/pub holds the names the readers look at; DIR/race/priv is where the
//! writer prepares each object before renaming it into place (so readers never see one
//! half made) and where it takes directories apart; DIR/race/stop tells readers to stop.

mod generation;
mod reader;
mod writer;

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::procs;

pub struct Config {
    pub seed: u64,
    pub readers: u32,
    pub duration: Duration,
    pub handshake: bool,
    pub reader: Option<u32>,
    pub dir: PathBuf,
}

/// How long after the end of the run a reader may take to stop before the run is
/// declared hung (it is then killed).
const HANG_GRACE: Duration = Duration::from_secs(60);

/// The run's directories.
struct Dirs {
    public: PathBuf,
    private: PathBuf,
    stop: PathBuf,
}

impl Dirs {
    fn under(dir: &Path) -> Dirs {
        let base = dir.join("race");
        Dirs {
            public: base.join("pub"),
            private: base.join("priv"),
            stop: base.join("stop"),
        }
    }
}

pub fn run(cfg: &Config) -> Result<()> {
    let dirs = Dirs::under(&cfg.dir);
    if let Some(r) = cfg.reader {
        return reader::run(cfg, r, &dirs);
    }
    println!("stress race: seed={}", cfg.seed);
    let base = cfg.dir.join("race");
    println!(
        "stress race: {} readers, {:.1} s, in {}",
        cfg.readers,
        cfg.duration.as_secs_f64(),
        base.display()
    );
    // A fresh directory: a stop file or names left by an earlier run would mislead this one.
    for d in [&base, &dirs.public, &dirs.private] {
        std::fs::create_dir(d).with_context(|| format!("cannot create {}", d.display()))?;
    }
    let readers = start_readers(cfg)?;
    let written = writer::run(cfg, &dirs, |gens| handshake(cfg, "warm", gens));
    // Stop the readers whatever the writer found.
    std::fs::File::create(&dirs.stop).context("cannot create the stop file")?;
    let failed = procs::wait_all("stress race: reader", readers, Instant::now() + HANG_GRACE)?;
    let gens = written?;
    if !failed.is_empty() {
        bail!("race: readers {failed:?} failed (seed {})", cfg.seed);
    }
    println!("stress race: ok: {gens} generations, nothing inconsistent seen");
    handshake(cfg, "done", gens)
}

/// With `--handshake`: says where the run is, and waits for a line on stdin.
fn handshake(cfg: &Config, phase: &str, gens: u64) -> Result<()> {
    if !cfg.handshake {
        return Ok(());
    }
    println!("race: {phase} gens={gens}");
    std::io::stdout().flush()?;
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("handshake: reading stdin")?;
    Ok(())
}

/// Starts the readers: this program again, with `--reader N`.
fn start_readers(cfg: &Config) -> Result<Vec<(u32, Child)>> {
    (0..cfg.readers)
        .map(|r| {
            let args = [
                "race".to_string(),
                format!("--reader={r}"),
                format!("--seed={}", cfg.seed),
                format!("--secs={}", cfg.duration.as_secs_f64()),
            ];
            Ok((r, procs::spawn_self(&args, &cfg.dir)?))
        })
        .collect()
}
