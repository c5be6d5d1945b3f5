//! fsx: random operations on one file, each checked against an in-memory model of what the
//! file must hold — in the spirit of fsx from the xfstests suite.
//!
//! Every op is applied to the file and to the model; then the size is checked with
//! fstat, and every read (pread through either of two fds, or an mmap) is compared byte
//! by byte. The file is sometimes closed and reopened, so the kernel's cached pages are
//! compared with what the file system serves afresh. At the end the whole file is read
//! through a new fd. A failure prints the op number, the first differing offset (and
//! which op last wrote it), the last ops, and the command that replays the run.

mod model;
mod op;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

use anyhow::{Result, bail};
use nix::errno::Errno;
use nix::fcntl::{FallocateFlags, fallocate};

use crate::content::fnv64;
use crate::rng::Rng;
use crate::sys::{self, Mapping};
use model::{Mismatch, Model};
use op::{Falloc, Op, Via};

pub struct Config {
    pub seed: u64,
    pub ops: u64,
    pub max_len: u64,
    pub max_op_len: u64,
    pub dir: PathBuf,
}

const FILE_NAME: &str = "fsx.dat";
/// How many of the last ops a failure report shows.
const LOG_TAIL: usize = 20;

pub fn run(cfg: &Config) -> Result<()> {
    println!("stress fsx: seed={}", cfg.seed);
    println!(
        "stress fsx: ops={} max-len={} max-op-len={} file={}",
        cfg.ops,
        cfg.max_len,
        cfg.max_op_len,
        cfg.dir.join(FILE_NAME).display()
    );
    let mut fsx = Fsx::start(cfg)?;
    for n in 1..=cfg.ops {
        let op = fsx.pick();
        if let Err(fail) = fsx.step(n, op) {
            fsx.report(n, &fail);
            bail!("fsx failed at op #{n} (seed {})", cfg.seed);
        }
    }
    if let Err(fail) = fsx.final_compare() {
        fsx.report(cfg.ops, &fail);
        bail!("fsx failed at the final compare (seed {})", cfg.seed);
    }
    fsx.summary();
    Ok(())
}

/// Why an op failed its check.
struct Failure {
    what: String,
    mismatch: Option<Mismatch>,
}

impl Failure {
    fn msg(what: impl Into<String>) -> Failure {
        Failure {
            what: what.into(),
            mismatch: None,
        }
    }

    fn io(what: &str, e: io::Error) -> Failure {
        Failure::msg(format!("{what}: {e}"))
    }
}

type Checked<T = ()> = std::result::Result<T, Failure>;

/// One op done, for the log: its number, the op, and what came of it.
struct Logged {
    n: u64,
    op: Op,
    note: String,
}

struct Fsx<'a> {
    cfg: &'a Config,
    rng: Rng,
    path: PathBuf,
    /// Read-write: every change goes through it.
    main: File,
    /// Read-only, opened separately: reads through another open file of the same inode.
    second: File,
    model: Model,
    log: VecDeque<Logged>,
    /// fallocate modes the file system refused with EOPNOTSUPP: not tried again.
    unsupported: BTreeSet<Falloc>,
    counts: BTreeMap<&'static str, u64>,
}

impl<'a> Fsx<'a> {
    fn start(cfg: &'a Config) -> Result<Fsx<'a>> {
        let path = cfg.dir.join(FILE_NAME);
        let main = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", path.display()))?;
        let second = File::open(&path)?;
        Ok(Fsx {
            cfg,
            rng: Rng::new(cfg.seed),
            path,
            main,
            second,
            model: Model::default(),
            log: VecDeque::with_capacity(LOG_TAIL + 1),
            unsupported: BTreeSet::new(),
            counts: BTreeMap::new(),
        })
    }

    /// The next op, drawn for the current size (so that most reads hit data).
    fn pick(&mut self) -> Op {
        let size = self.model.len();
        loop {
            let op = op::pick(&mut self.rng, size, self.cfg.max_len, self.cfg.max_op_len);
            match op {
                Op::Fallocate { mode, .. } if self.unsupported.contains(&mode) => continue,
                // Nothing to copy from or map in an empty file: another op instead.
                Op::Copy { len: 0, .. } | Op::MapRead { len: 0, .. } => continue,
                _ => return op,
            }
        }
    }

    /// Applies op `n` to the file and the model, checks it, logs it.
    fn step(&mut self, n: u64, op: Op) -> Checked {
        *self.counts.entry(op.name()).or_default() += 1;
        let result = self.apply(n, op);
        let note = match &result {
            Ok(note) => note.clone(),
            Err(f) => format!("FAILED: {}", f.what),
        };
        self.log.push_back(Logged { n, op, note });
        if self.log.len() > LOG_TAIL {
            self.log.pop_front();
        }
        result?;
        self.check_size(n)
    }

    /// Does `op`; returns a note for the log (empty when there is nothing to add).
    fn apply(&mut self, n: u64, op: Op) -> Checked<String> {
        match op {
            Op::Write { off, len } => self.write(n, off, len),
            Op::Read { off, len, via } => self.read(off, len, via),
            Op::Truncate { size } => self.truncate(n, size),
            Op::MapRead { off, len } => self.map_read(off, len),
            Op::MapWrite { off, len } => self.map_write(n, off, len),
            Op::Fallocate { mode, off, len } => self.fallocate(n, mode, off, len),
            Op::Copy { src, dst, len, via } => self.copy(n, src, dst, len, via),
            Op::Reopen => self.reopen(),
        }
    }

    fn write(&mut self, n: u64, off: u64, len: u64) -> Checked<String> {
        let data = model::pattern(n, off, len);
        self.main
            .write_all_at(&data, off)
            .map_err(|e| Failure::io("pwrite", e))?;
        self.model.write(n, off, &data);
        Ok(String::new())
    }

    fn read(&mut self, off: u64, len: u64, via: Via) -> Checked<String> {
        let file = match via {
            Via::Main => &self.main,
            Via::Second => &self.second,
        };
        let got = read_at_most(file, off, len).map_err(|e| Failure::io("pread", e))?;
        self.expect(off, len, &got)?;
        Ok(match (got.len() as u64) < len {
            true => format!("short read: {:#x} bytes", got.len()),
            false => String::new(),
        })
    }

    fn truncate(&mut self, n: u64, size: u64) -> Checked<String> {
        self.main
            .set_len(size)
            .map_err(|e| Failure::io("ftruncate", e))?;
        self.model.resize(n, size);
        Ok(String::new())
    }

    fn map_read(&mut self, off: u64, len: u64) -> Checked<String> {
        let map = Mapping::new(&self.main, off, len as usize, false)
            .map_err(|e| Failure::io("mmap", e))?;
        let got = map.bytes().to_vec();
        drop(map);
        self.expect(off, len, &got)?;
        Ok(String::new())
    }

    /// Like fsx: the file is first extended with ftruncate when the range goes past its
    /// end (a mapping cannot extend a file), then written through the mapping and synced.
    fn map_write(&mut self, n: u64, off: u64, len: u64) -> Checked<String> {
        let mut note = String::new();
        if off + len > self.model.len() {
            self.main
                .set_len(off + len)
                .map_err(|e| Failure::io("ftruncate (to extend for mmap)", e))?;
            self.model.resize(n, off + len);
            note = format!("extended to {:#x} first", off + len);
        }
        let data = model::pattern(n, off, len);
        let mut map = Mapping::new(&self.main, off, len as usize, true)
            .map_err(|e| Failure::io("mmap", e))?;
        map.bytes_mut().copy_from_slice(&data);
        map.sync().map_err(|e| Failure::io("msync", e))?;
        drop(map);
        self.model.write(n, off, &data);
        Ok(note)
    }

    fn fallocate(&mut self, n: u64, mode: Falloc, off: u64, len: u64) -> Checked<String> {
        let flags = FallocateFlags::from_bits_retain(mode.flags());
        match fallocate(&self.main, flags, off as i64, len as i64) {
            Ok(()) => {}
            Err(Errno::EOPNOTSUPP) => {
                self.unsupported.insert(mode);
                println!(
                    "stress fsx: fallocate {}: not supported here (EOPNOTSUPP): skipped from \
                     op #{n} on",
                    mode.name()
                );
                return Ok("EOPNOTSUPP: this mode is skipped from now on".into());
            }
            Err(e) => return Err(Failure::msg(format!("fallocate: {e}"))),
        }
        match mode {
            Falloc::Plain => self.model.resize(n, self.model.len().max(off + len)),
            Falloc::KeepSize => {}
            Falloc::PunchHole | Falloc::ZeroRangeKeepSize => self.model.zero(n, off, len),
            Falloc::ZeroRange => {
                self.model.resize(n, self.model.len().max(off + len));
                self.model.zero(n, off, len);
            }
        }
        Ok(String::new())
    }

    /// copy_file_range within the file (ranges never overlap: the kernel refuses that),
    /// from either fd to the read-write one. A short copy is legal; the model takes what
    /// was copied.
    fn copy(&mut self, n: u64, src: u64, dst: u64, len: u64, via: Via) -> Checked<String> {
        let from = match via {
            Via::Main => &self.main,
            Via::Second => &self.second,
        };
        let copied = sys::copy_file_range(from, src, &self.main, dst, len as usize)
            .map_err(|e| Failure::io("copy_file_range", e))? as u64;
        if copied == 0 {
            return Err(Failure::msg(format!(
                "copy_file_range copied nothing, though the source range lies within the \
                 file (size {:#x})",
                self.model.len()
            )));
        }
        let data = self.model.expected(src, copied).to_vec();
        self.model.write(n, dst, &data);
        Ok(match copied < len {
            true => format!("short copy: {copied:#x} bytes"),
            false => String::new(),
        })
    }

    /// Closes both fds and opens the file again: the kernel drops its cached pages, so
    /// the next reads come from the file system afresh.
    fn reopen(&mut self) -> Checked<String> {
        self.main = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&self.path)
            .map_err(|e| Failure::io("reopen read-write", e))?;
        self.second = File::open(&self.path).map_err(|e| Failure::io("reopen read-only", e))?;
        Ok(String::new())
    }

    /// What a read of `len` at `off` returned must be the model's bytes there (cut at its
    /// size).
    fn expect(&self, off: u64, len: u64, got: &[u8]) -> Checked {
        match self.model.compare(off, len, got) {
            None => Ok(()),
            Some(m) => Err(Failure {
                what: "read back different data".into(),
                mismatch: Some(m),
            }),
        }
    }

    /// fstat of the read-write fd must give the model's size; now and then so must a
    /// stat of the path (a lookup and the kernel's cached attributes).
    fn check_size(&mut self, n: u64) -> Checked {
        let want = self.model.len();
        let fstat = self
            .main
            .metadata()
            .map_err(|e| Failure::io("fstat", e))?
            .len();
        if fstat != want {
            return Err(Failure::msg(format!(
                "after op #{n}, fstat says the size is {fstat:#x}, the model {want:#x}"
            )));
        }
        if self.rng.one_in(8) {
            let stat = std::fs::metadata(&self.path)
                .map_err(|e| Failure::io("stat", e))?
                .len();
            if stat != want {
                return Err(Failure::msg(format!(
                    "after op #{n}, stat of the path says the size is {stat:#x}, the model \
                     {want:#x}"
                )));
            }
        }
        Ok(())
    }

    /// The whole file through a new fd, and its size, against the model.
    fn final_compare(&mut self) -> Checked {
        let mut data = Vec::new();
        File::open(&self.path)
            .and_then(|mut f| f.read_to_end(&mut data))
            .map_err(|e| Failure::io("final read", e))?;
        if data.len() as u64 != self.model.len() {
            return Err(Failure {
                what: format!(
                    "final read: {:#x} bytes, the model has {:#x}",
                    data.len(),
                    self.model.len()
                ),
                mismatch: self.model.compare(0, self.model.len(), &data),
            });
        }
        self.expect(0, self.model.len(), &data)
    }

    fn summary(&self) {
        let counts: Vec<String> = self
            .counts
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let skipped: Vec<&str> = self.unsupported.iter().map(|m| m.name()).collect();
        println!("stress fsx: ops: {}", counts.join(" "));
        println!(
            "stress fsx: fallocate modes skipped (EOPNOTSUPP): {}",
            match skipped.is_empty() {
                true => "none".to_string(),
                false => skipped.join(" "),
            }
        );
        println!(
            "stress fsx: ok: {} ops, final size={} fnv64={:016x}",
            self.cfg.ops,
            self.model.len(),
            fnv64(self.model.bytes())
        );
    }

    fn report(&self, n: u64, fail: &Failure) {
        println!("stress fsx: FAIL at op #{n}: {}", fail.what);
        if let Some(m) = &fail.mismatch {
            println!("{}", m.render(&self.model));
        }
        println!("stress fsx: the last {} ops:", self.log.len());
        for l in &self.log {
            match l.note.is_empty() {
                true => println!("  #{:<7} {}", l.n, l.op),
                false => println!("  #{:<7} {}  [{}]", l.n, l.op, l.note),
            }
        }
        println!(
            "stress fsx: replay: stress fsx --seed {} --ops {} --max-len {} --max-op-len {} DIR",
            self.cfg.seed, self.cfg.ops, self.cfg.max_len, self.cfg.max_op_len
        );
    }
}

/// pread of up to `len` bytes at `off`: fewer only at the end of the file.
fn read_at_most(file: &File, off: u64, len: u64) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; len as usize];
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], off + done as u64) {
            Ok(0) => break,
            Ok(k) => done += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    buf.truncate(done);
    Ok(buf)
}
