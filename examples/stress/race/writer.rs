//! The writer of the race: publishes generation after generation, each a new object
//! prepared in the private directory and renamed into place, and checks that the name
//! then shows exactly the object it published. Nobody else changes these names, so every
//! error is a failure.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::generation::{self, Kind, NAMES};
use super::{Config, Dirs};
use crate::rng::Rng;

struct Writer<'a> {
    seed: u64,
    dirs: &'a Dirs,
    rng: Rng,
    /// The generation each name holds now.
    current: [Option<u64>; NAMES as usize],
    /// How many were published by a rename over the previous object.
    renamed_over: u64,
}

/// Publishes generations for the configured time (time spent in `on_warm`, called once
/// after a fifth of it, does not count). Returns how many were published.
pub fn run(cfg: &Config, dirs: &Dirs, mut on_warm: impl FnMut(u64) -> Result<()>) -> Result<u64> {
    let mut w = Writer {
        seed: cfg.seed,
        dirs,
        rng: Rng::stream(cfg.seed, u64::MAX),
        current: [None; NAMES as usize],
        renamed_over: 0,
    };
    let started = Instant::now();
    let mut paused = Duration::ZERO;
    let mut warm = false;
    let mut g = 0;
    while started.elapsed() < cfg.duration + paused {
        w.publish(g).with_context(|| {
            format!(
                "race: the writer failed at generation {g} (seed {})",
                cfg.seed
            )
        })?;
        g += 1;
        if !warm && started.elapsed() >= cfg.duration / 5 {
            warm = true;
            let pause = Instant::now();
            on_warm(g)?;
            paused = pause.elapsed();
        }
    }
    println!(
        "stress race: writer: {g} generations published, {} by renaming over the previous one",
        w.renamed_over
    );
    Ok(g)
}

impl Writer<'_> {
    fn public(&self, g: u64) -> PathBuf {
        self.dirs.public.join(generation::name_of(g))
    }

    /// Replaces what the name of `g` holds with generation `g`.
    fn publish(&mut self, g: u64) -> Result<()> {
        let kind = generation::kind_of(self.seed, g);
        let staged = self.stage(g, kind)?;
        let staged_ino = std::fs::symlink_metadata(&staged)?.ino();
        let slot = (g % NAMES) as usize;
        if let Some(old) = self.current[slot] {
            // rename(2) replaces a non-directory by a non-directory in one step.
            let old_kind = generation::kind_of(self.seed, old);
            let over = kind != Kind::Dir && old_kind != Kind::Dir && self.rng.one_in(2);
            if over {
                self.renamed_over += 1;
            } else {
                self.remove(old, old_kind)?;
            }
        }
        let public = self.public(g);
        std::fs::rename(&staged, &public)
            .with_context(|| format!("rename {} -> {}", staged.display(), public.display()))?;
        self.current[slot] = Some(g);
        self.check_published(g, kind, staged_ino)
    }

    /// Makes generation `g` in the private directory, complete; returns its path there.
    fn stage(&self, g: u64, kind: Kind) -> Result<PathBuf> {
        let path = self.dirs.private.join("new");
        match kind {
            Kind::File => {
                let mut f = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o644)
                    .open(&path)
                    .with_context(|| format!("create {}", path.display()))?;
                f.write_all(&generation::file_contents(g))?;
            }
            Kind::Dir => {
                std::fs::create_dir(&path).with_context(|| format!("mkdir {}", path.display()))?;
                let entry = path.join(generation::dir_entry(g));
                std::fs::File::create(&entry)
                    .with_context(|| format!("create {}", entry.display()))?;
            }
            Kind::Symlink => std::os::unix::fs::symlink(generation::link_target(g), &path)
                .with_context(|| format!("symlink {}", path.display()))?,
        }
        Ok(path)
    }

    /// Removes generation `old` from its name. A directory is first renamed away, so that
    /// readers never find it half emptied under its public name.
    fn remove(&self, old: u64, kind: Kind) -> Result<()> {
        let public = self.public(old);
        match kind {
            Kind::File | Kind::Symlink => std::fs::remove_file(&public)
                .with_context(|| format!("unlink {}", public.display())),
            Kind::Dir => {
                let dead = self.dirs.private.join("dead");
                std::fs::rename(&public, &dead)
                    .with_context(|| format!("rename {} away", public.display()))?;
                std::fs::remove_file(dead.join(generation::dir_entry(old)))
                    .context("unlink the entry of a directory renamed away")?;
                std::fs::remove_dir(&dead).context("rmdir a directory renamed away")
            }
        }
    }

    /// The name must now show the object just renamed there: same inode, same kind.
    fn check_published(&self, g: u64, kind: Kind, ino: u64) -> Result<()> {
        let public = self.public(g);
        let meta = std::fs::symlink_metadata(&public)
            .with_context(|| format!("lstat {} right after publishing it", public.display()))?;
        let seen = match meta.file_type() {
            t if t.is_file() => Kind::File,
            t if t.is_dir() => Kind::Dir,
            t if t.is_symlink() => Kind::Symlink,
            t => bail!("{} is a {t:?}", public.display()),
        };
        if seen != kind || meta.ino() != ino {
            println!(
                "stress race: FAIL: generation {g} was published as {kind} inode {ino} at {}, \
                 but lstat right after shows {seen} inode {}",
                public.display(),
                meta.ino()
            );
            bail!("the writer does not see what it just published");
        }
        Ok(())
    }
}
