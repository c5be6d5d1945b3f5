//! One worker of the namespace stress: random operations on random names of the shared
//! tree until the time (or op count) is up. Failing because another worker got there
//! first is expected (ENOENT, EEXIST, ENOTEMPTY…, each op has its list); any other error,
//! or a file whose contents are not what its creator wrote, fails the run.

use std::collections::BTreeMap;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Result, bail};
use nix::errno::Errno;

use super::{Config, NAMES, TOP_DIRS};
use crate::content::{FileId, HEADER_LEN, Reading, check_stream, stream};
use crate::rng::Rng;

/// One operation, on paths relative to the tree's root.
#[derive(Debug)]
enum Op {
    Create(PathBuf),
    /// Extend, shorten or rewrite a file this worker created (others' are left alone).
    Write(PathBuf),
    /// Read a file whole and check it against its creator's stream.
    Read(PathBuf),
    Rename(PathBuf, PathBuf),
    Link(PathBuf, PathBuf),
    Unlink(PathBuf),
    Mkdir(PathBuf),
    Rmdir(PathBuf),
    Stat(PathBuf),
    /// List a directory and stat every entry.
    List(PathBuf),
}

impl Op {
    fn name(&self) -> &'static str {
        match self {
            Op::Create(_) => "create",
            Op::Write(_) => "write",
            Op::Read(_) => "read",
            Op::Rename(..) => "rename",
            Op::Link(..) => "link",
            Op::Unlink(_) => "unlink",
            Op::Mkdir(_) => "mkdir",
            Op::Rmdir(_) => "rmdir",
            Op::Stat(_) => "stat",
            Op::List(_) => "list",
        }
    }

    /// The errors another worker's doings can cause: the name is gone, taken, not a
    /// directory, a directory, not empty, or (renaming a directory into itself) invalid.
    fn expected_errors(&self) -> &'static [Errno] {
        use Errno::*;
        match self {
            Op::Create(_) | Op::Mkdir(_) => &[EEXIST, ENOENT, ENOTDIR],
            Op::Write(_) | Op::Read(_) | Op::Unlink(_) => &[ENOENT, ENOTDIR, EISDIR],
            Op::Rename(..) => &[ENOENT, ENOTDIR, EISDIR, ENOTEMPTY, EEXIST, EINVAL],
            Op::Link(..) => &[ENOENT, ENOTDIR, EEXIST, EPERM],
            Op::Rmdir(_) => &[ENOENT, ENOTDIR, ENOTEMPTY],
            Op::Stat(_) | Op::List(_) => &[ENOENT, ENOTDIR],
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::Create(p)
            | Op::Write(p)
            | Op::Read(p)
            | Op::Unlink(p)
            | Op::Mkdir(p)
            | Op::Rmdir(p)
            | Op::Stat(p)
            | Op::List(p) => write!(f, "{} {}", self.name(), p.display()),
            Op::Rename(a, b) | Op::Link(a, b) => {
                write!(f, "{} {} {}", self.name(), a.display(), b.display())
            }
        }
    }
}

/// Why an op failed the run.
enum Problem {
    /// An error no other worker could have caused.
    Io(io::Error),
    /// A file's contents are not its creator's.
    Contents(String),
}

impl From<io::Error> for Problem {
    fn from(e: io::Error) -> Problem {
        Problem::Io(e)
    }
}

struct Worker<'a> {
    me: u32,
    root: &'a Path,
    rng: Rng,
    /// Files created so far (the next one's id is `seq + 1`).
    seq: u64,
    /// Per op: (succeeded, failed with an expected error).
    tally: BTreeMap<&'static str, (u64, u64)>,
}

pub fn run(cfg: &Config, me: u32, root: &Path) -> Result<()> {
    let mut w = Worker {
        me,
        root,
        rng: Rng::stream(cfg.seed, u64::from(me)),
        seq: 0,
        tally: BTreeMap::new(),
    };
    let deadline = Instant::now() + cfg.duration;
    let mut n = 0;
    while Instant::now() < deadline && cfg.ops.is_none_or(|max| n < max) {
        n += 1;
        let op = w.pick();
        if let Err(p) = w.apply(&op) {
            let why = match p {
                Problem::Io(e) => format!("unexpected error: {e}"),
                Problem::Contents(c) => c,
            };
            println!("stress names: FAIL: worker {me}, op #{n} ({op}): {why}");
            bail!("worker {me} failed");
        }
    }
    w.summary(n);
    Ok(())
}

impl Worker<'_> {
    /// A random name: `dK/nI`, or one level deeper, `dK/nI/nJ`.
    fn path(&mut self) -> PathBuf {
        let mut p = PathBuf::from(format!("d{}", self.rng.below(TOP_DIRS)));
        p.push(format!("n{}", self.rng.below(NAMES)));
        if self.rng.one_in(2) {
            p.push(format!("n{}", self.rng.below(NAMES)));
        }
        p
    }

    /// A directory to list: a top-level one or a name below it.
    fn dir_path(&mut self) -> PathBuf {
        let mut p = PathBuf::from(format!("d{}", self.rng.below(TOP_DIRS)));
        if self.rng.one_in(2) {
            p.push(format!("n{}", self.rng.below(NAMES)));
        }
        p
    }

    fn pick(&mut self) -> Op {
        const WEIGHTS: [u64; 10] = [18, 8, 8, 22, 8, 10, 10, 6, 5, 5];
        match self.rng.weighted(&WEIGHTS) {
            0 => Op::Create(self.path()),
            1 => Op::Write(self.path()),
            2 => Op::Read(self.path()),
            3 => Op::Rename(self.path(), self.path()),
            4 => Op::Link(self.path(), self.path()),
            5 => Op::Unlink(self.path()),
            6 => Op::Mkdir(self.path()),
            7 => Op::Rmdir(self.path()),
            8 => Op::Stat(self.path()),
            _ => Op::List(self.dir_path()),
        }
    }

    /// Does `op`; an expected error is counted, any other is a problem.
    fn apply(&mut self, op: &Op) -> Result<(), Problem> {
        let at = |p: &PathBuf| self.root.join(p);
        let result = match op {
            Op::Create(p) => self.create(&at(p)),
            Op::Write(p) => self.write(&at(p)),
            Op::Read(p) => read_and_check(&at(p), p),
            Op::Rename(a, b) => std::fs::rename(at(a), at(b)).map_err(Problem::Io),
            Op::Link(a, b) => std::fs::hard_link(at(a), at(b)).map_err(Problem::Io),
            Op::Unlink(p) => std::fs::remove_file(at(p)).map_err(Problem::Io),
            Op::Mkdir(p) => std::fs::create_dir(at(p)).map_err(Problem::Io),
            Op::Rmdir(p) => std::fs::remove_dir(at(p)).map_err(Problem::Io),
            Op::Stat(p) => std::fs::symlink_metadata(at(p))
                .map(drop)
                .map_err(Problem::Io),
            Op::List(p) => list(&at(p)),
        };
        let tally = self.tally.entry(op.name()).or_default();
        match result {
            Ok(()) => tally.0 += 1,
            Err(Problem::Io(e)) if is_expected(&e, op.expected_errors()) => tally.1 += 1,
            Err(p) => return Err(p),
        }
        Ok(())
    }

    /// A new file (never an existing one: each file has one writer), written in one to
    /// three pieces, the header always in the first.
    fn create(&mut self, path: &Path) -> Result<(), Problem> {
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(path)?;
        self.seq += 1;
        let id = FileId {
            worker: self.me,
            seq: self.seq,
        };
        let total = self
            .rng
            .between(HEADER_LEN as u64, HEADER_LEN as u64 + 8192);
        let mut done = 0;
        while done < total {
            let min = if done == 0 { HEADER_LEN as u64 } else { 1 };
            let piece = self.rng.between(min, total - done);
            file.write_all_at(&stream(id, done, piece as usize), done)?;
            done += piece;
        }
        Ok(())
    }

    /// If `path` is one of this worker's files: extend it, shorten it (never below its
    /// header) or rewrite part of it, always with the bytes of its own stream.
    fn write(&mut self, path: &Path) -> Result<(), Problem> {
        let file = OpenOptions::new().read(true).write(true).open(path)?;
        let mut head = [0u8; HEADER_LEN];
        if file.read_at(&mut head, 0)? < HEADER_LEN {
            return Ok(()); // Being created by another worker: not ours.
        }
        let id = match check_stream(&head, Reading::Settled) {
            Ok(Some(id)) if id.worker == self.me => id,
            Ok(_) => return Ok(()),
            Err(bad) => return Err(Problem::Contents(format!("{}: {bad}", path.display()))),
        };
        let len = file.metadata()?.len();
        match self.rng.below(3) {
            0 => {
                let more = self.rng.between(1, 4096);
                file.write_all_at(&stream(id, len, more as usize), len)?;
            }
            1 => file.set_len(self.rng.between(HEADER_LEN as u64, len))?,
            _ => {
                let off = self.rng.below(len);
                let n = self.rng.between(1, len - off);
                file.write_all_at(&stream(id, off, n as usize), off)?;
            }
        }
        Ok(())
    }

    fn summary(&self, ops: u64) {
        let parts: Vec<String> = self
            .tally
            .iter()
            .map(|(op, (ok, expected))| format!("{op} {ok}/{expected}"))
            .collect();
        println!(
            "stress names: worker {}: {ops} ops, {} files created; per op succeeded/failed as \
             expected: {}",
            self.me,
            self.seq,
            parts.join(", ")
        );
    }
}

/// Reads a file whole and checks it is a prefix of its creator's stream, as far as a read
/// racing with its writer can tell (see [`Reading::Racing`]; a file whose creator has not
/// written its header yet is too short to say).
fn read_and_check(path: &Path, rel: &Path) -> Result<(), Problem> {
    let mut file = File::open(path)?;
    if file.metadata()?.is_dir() {
        return Ok(());
    }
    let mut data = Vec::new();
    file.read_to_end(&mut data)?;
    match check_stream(&data, Reading::Racing) {
        Ok(_) => Ok(()),
        Err(bad) => Err(Problem::Contents(format!("{}: {bad}", rel.display()))),
    }
}

/// Lists a directory and stats each entry (which another worker may just have removed).
fn list(dir: &Path) -> Result<(), Problem> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        match std::fs::symlink_metadata(entry.path()) {
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e) => return Err(Problem::Io(e)),
        }
    }
    Ok(())
}

fn is_expected(e: &io::Error, expected: &[Errno]) -> bool {
    e.raw_os_error()
        .is_some_and(|n| expected.contains(&Errno::from_raw(n)))
}
