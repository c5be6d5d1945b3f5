//! A reader of the race: looks the names up in a loop and checks every answer.
//!
//! A name may change between two syscalls (then the second fails with ENOENT, ELOOP,
//! ENOTDIR or EINVAL, or opens the next object: counted, not a failure). What may never
//! happen:
//! - any other error (EIO, ESTALE…);
//! - an lstat whose type and size fit no generation of that name (a file's size encodes
//!   its generation; a symlink's target has a fixed length);
//! - an open file whose contents are not exactly one generation's, of that name, of kind
//!   file, with fstat's size; a listed directory whose one entry is not a directory
//!   generation of that name (an empty one only once it has left the name); a symlink
//!   target that is not a symlink generation of that name;
//! - a generation older than one this reader already saw at the name (a stale object);
//! - a file kept open across later lookups reading back differently.

use std::collections::BTreeMap;
use std::fs::{File, Metadata, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Result, bail};
use nix::errno::Errno;

use super::generation::{self, Kind, NAMES};
use super::{Config, Dirs, HANG_GRACE};
use crate::rng::Rng;

/// Why a check failed (printed with the reader's number).
struct Failure(String);

/// An error no change of the name explains.
fn unexpected(syscall: &str, e: io::Error) -> Failure {
    Failure(format!("{syscall}: unexpected error: {e}"))
}

type Checked<T = ()> = std::result::Result<T, Failure>;

/// A file kept open for a while, with what it read the first time.
struct Held {
    file: File,
    g: u64,
    data: Vec<u8>,
    /// Observations until it is read again and closed.
    left: u32,
}

struct Reader<'a> {
    seed: u64,
    dirs: &'a Dirs,
    rng: Rng,
    /// The newest generation seen at each name.
    newest: [Option<u64>; NAMES as usize],
    held: Option<Held>,
    counts: BTreeMap<&'static str, u64>,
}

/// How often the stop file is looked for, in observations.
const STOP_EVERY: u64 = 64;

pub fn run(cfg: &Config, me: u32, dirs: &Dirs) -> Result<()> {
    let mut r = Reader {
        seed: cfg.seed,
        dirs,
        rng: Rng::stream(cfg.seed, u64::from(me)),
        newest: [None; NAMES as usize],
        held: None,
        counts: BTreeMap::new(),
    };
    // The writer says when to stop; past this, it is not going to.
    let give_up = Instant::now() + cfg.duration + HANG_GRACE;
    let mut n: u64 = 0;
    loop {
        if n % STOP_EVERY == 0 && (dirs.stop.exists() || Instant::now() > give_up) {
            break;
        }
        n += 1;
        let slot = r.rng.below(NAMES);
        if let Err(Failure(why)) = r.observe(slot) {
            println!("stress race: FAIL: reader {me}, observation #{n} of x{slot}: {why}");
            bail!("reader {me} failed");
        }
    }
    r.summary(me, n);
    Ok(())
}

/// Errors that only mean the name changed under us.
fn changed_under_us(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error().map(Errno::from_raw),
        Some(Errno::ENOENT | Errno::ELOOP | Errno::ENOTDIR | Errno::EINVAL)
    )
}

impl Reader<'_> {
    fn path(&self, slot: u64) -> PathBuf {
        self.dirs.public.join(format!("x{slot}"))
    }

    /// Counts one outcome of an observation (all of them fine).
    fn note(&mut self, what: &'static str) -> Checked {
        *self.counts.entry(what).or_default() += 1;
        Ok(())
    }

    /// One look at name `slot`: an lstat, then (mostly) a look inside by its kind.
    fn observe(&mut self, slot: u64) -> Checked {
        self.recheck_held()?;
        let path = self.path(slot);
        let meta = match std::fs::symlink_metadata(&path) {
            Ok(m) => m,
            Err(e) if changed_under_us(&e) => return self.note("absent"),
            Err(e) => return Err(unexpected("lstat", e)),
        };
        check_lstat(slot, &meta)?;
        if self.rng.one_in(4) {
            return self.note("lstat only");
        }
        match kind_of_meta(&meta) {
            Some(Kind::File) => self.look_in_file(slot, &path),
            Some(Kind::Dir) => self.look_in_dir(slot, &path, &meta),
            Some(Kind::Symlink) => self.look_at_link(slot, &path),
            None => Err(Failure(format!(
                "lstat shows neither file, directory nor symlink: {meta:?}"
            ))),
        }
    }

    fn look_in_file(&mut self, slot: u64, path: &Path) -> Checked {
        let mut file = match OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(path)
        {
            Ok(f) => f,
            Err(e) if changed_under_us(&e) => return self.note("changed"),
            Err(e) => return Err(unexpected("open", e)),
        };
        let meta = file.metadata().map_err(|e| unexpected("fstat", e))?;
        if !meta.is_file() {
            // Replaced by a directory between the lstat and the open.
            return self.note("changed");
        }
        let mut data = Vec::new();
        file.read_to_end(&mut data)
            .map_err(|e| unexpected("read", e))?;
        let g = generation::parse_file(&data).ok_or_else(|| {
            Failure(format!(
                "an open file holds no complete generation: {} bytes {:?}",
                data.len(),
                String::from_utf8_lossy(&data[..data.len().min(40)])
            ))
        })?;
        if data.len() as u64 != meta.len() {
            return Err(Failure(format!(
                "generation {g}: read {} bytes, fstat of the same fd says {}",
                data.len(),
                meta.len()
            )));
        }
        self.check_generation(slot, g, Kind::File)?;
        self.note("file")?;
        if self.held.is_none() && self.rng.one_in(16) {
            let left = self.rng.between(1, 200) as u32;
            self.held = Some(Held {
                file,
                g,
                data,
                left,
            });
        }
        Ok(())
    }

    fn look_in_dir(&mut self, slot: u64, path: &Path, meta: &Metadata) -> Checked {
        let dir = match OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW)
            .open(path)
        {
            Ok(d) => d,
            Err(e) if changed_under_us(&e) => return self.note("changed"),
            Err(e) => return Err(unexpected("open (a directory)", e)),
        };
        let opened_ino = dir
            .metadata()
            .map_err(|e| unexpected("fstat (a directory)", e))?
            .ino();
        // Listed through a duplicate: `dir` stays open until the end, so that the inode
        // number `still_named` compares cannot be reused meanwhile (once the last fd of
        // a removed directory closes, the host may give its number to the next mkdir).
        let names = list(&dir)?;
        match names.as_slice() {
            [name] => {
                let g = generation::parse_dir_entry(name).ok_or_else(|| {
                    Failure(format!("a directory holds {name:?}, no generation's entry"))
                })?;
                self.check_generation(slot, g, Kind::Dir)?;
                self.note("directory")?;
            }
            // Taken apart after it left the name (the writer renames it away first).
            [] if self.still_named(path, opened_ino)? => {
                return Err(Failure(format!(
                    "an empty directory is still at the name (inode {opened_ino}, lstat said \
                     {})",
                    meta.ino()
                )));
            }
            [] => self.note("directory being removed")?,
            _ => {
                return Err(Failure(format!(
                    "a directory holds {names:?}, not one entry"
                )));
            }
        }
        Ok(())
    }

    fn look_at_link(&mut self, slot: u64, path: &Path) -> Checked {
        let target = match std::fs::read_link(path) {
            Ok(t) => t,
            Err(e) if changed_under_us(&e) => return self.note("changed"),
            Err(e) => return Err(unexpected("readlink", e)),
        };
        let target = target.to_string_lossy();
        let g = generation::parse_link_target(&target).ok_or_else(|| {
            Failure(format!(
                "a symlink points at {target:?}, no generation's target"
            ))
        })?;
        self.check_generation(slot, g, Kind::Symlink)?;
        self.note("symlink")?;
        Ok(())
    }

    /// Whether `path` still names the inode `ino` (which an open fd keeps from reuse).
    fn still_named(&self, path: &Path, ino: u64) -> Checked<bool> {
        match std::fs::symlink_metadata(path) {
            Ok(m) => Ok(m.ino() == ino),
            Err(e) if changed_under_us(&e) => Ok(false),
            Err(e) => Err(unexpected("lstat (again)", e)),
        }
    }

    /// Generation `g`, found as `kind` at name `slot`, must be one published there as
    /// that kind, and no older than what this reader saw there before.
    fn check_generation(&mut self, slot: u64, g: u64, kind: Kind) -> Checked {
        if g % NAMES != slot {
            return Err(Failure(format!(
                "found generation {g}, which belongs at x{}",
                g % NAMES
            )));
        }
        let published = generation::kind_of(self.seed, g);
        if published != kind {
            return Err(Failure(format!(
                "generation {g} was published as a {published}, found as a {kind}"
            )));
        }
        let newest = &mut self.newest[slot as usize];
        if let Some(seen) = *newest {
            if g < seen {
                return Err(Failure(format!(
                    "found generation {g} after having seen generation {seen} there (stale)"
                )));
            }
        }
        *newest = Some(newest.map_or(g, |seen| seen.max(g)));
        Ok(())
    }

    /// A file kept open must read back as it did, whatever happened to its name since.
    fn recheck_held(&mut self) -> Checked {
        let Some(held) = self.held.as_mut() else {
            return Ok(());
        };
        held.left -= 1;
        if held.left > 0 {
            return Ok(());
        }
        let held = self.held.take().expect("checked above");
        let mut again = vec![0u8; held.data.len() + 1];
        let n = held
            .file
            .read_at(&mut again, 0)
            .map_err(|e| unexpected("pread (kept open)", e))?;
        again.truncate(n);
        let size = held
            .file
            .metadata()
            .map_err(|e| unexpected("fstat (kept open)", e))?
            .len();
        if again != held.data || size != held.data.len() as u64 {
            return Err(Failure(format!(
                "generation {} kept open read back {} bytes (fstat: {size}), not the {} read \
                 when it was opened",
                held.g,
                again.len(),
                held.data.len()
            )));
        }
        self.note("re-read while kept open")?;
        Ok(())
    }

    fn summary(&self, me: u32, n: u64) {
        let parts: Vec<String> = self
            .counts
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        println!(
            "stress race: reader {me}: {n} observations: {}",
            parts.join(" ")
        );
    }
}

/// What an lstat shows must fit some generation of the name.
fn check_lstat(slot: u64, meta: &Metadata) -> Checked {
    match kind_of_meta(meta) {
        Some(Kind::File) if !generation::is_file_len_for(meta.len(), slot) => {
            Err(Failure(format!(
                "lstat shows a file of {} bytes: no file generation at x{slot} has that size",
                meta.len()
            )))
        }
        Some(Kind::Symlink) if meta.len() != generation::LINK_LEN => Err(Failure(format!(
            "lstat shows a symlink of size {}, every generation's is {}",
            meta.len(),
            generation::LINK_LEN
        ))),
        _ => Ok(()),
    }
}

fn kind_of_meta(meta: &Metadata) -> Option<Kind> {
    let t = meta.file_type();
    if t.is_file() {
        Some(Kind::File)
    } else if t.is_dir() {
        Some(Kind::Dir)
    } else if t.is_symlink() {
        Some(Kind::Symlink)
    } else {
        None
    }
}

/// The names in an open directory (without `.` and `..`).
fn list(dir: &File) -> Checked<Vec<String>> {
    let dup = dir
        .try_clone()
        .map_err(|e| unexpected("dup (a directory)", e))?;
    let mut d =
        nix::dir::Dir::from_fd(dup.into()).map_err(|e| Failure(format!("fdopendir: {e}")))?;
    let mut names = Vec::new();
    for entry in d.iter() {
        let entry = entry.map_err(|e| Failure(format!("readdir: {e}")))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name != "." && name != ".." {
            names.push(name);
        }
    }
    Ok(names)
}
