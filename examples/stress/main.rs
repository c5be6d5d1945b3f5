//! Stress tests of a file system, written to be run inside `fusebox-run` (and natively, to
//! check the tests themselves): each subcommand hammers one directory and checks every
//! answer it gets against what must be true.
//!
//! ```text
//! stress fsx   [--seed N] [--ops N] [--max-len B] [--max-op-len B] DIR
//! stress names [--seed N] [--procs N] [--secs S] [--ops N] DIR
//! stress names --verify-only DIR
//! stress race  [--seed N] [--readers N] [--secs S] [--handshake] DIR
//! ```
//!
//! - `fsx`: random writes, reads (through two fds), truncates, mmap reads and writes,
//!   fallocate modes and copy_file_range on one file, checked against an in-memory model
//!   after every op (in the spirit of fsx from the xfstests suite).
//! - `names`: processes renaming, linking, unlinking, creating and removing files and
//!   directories of one shared tree at once; then the tree is walked and checked.
//! - `race`: one process replaces names (file, directory, symlink; new inode each time)
//!   while others stat, open and read them; nothing may ever look inconsistent.
//!
//! The seed is always the first line printed (`stress CMD: seed=N`), so any failure can be
//! replayed with `--seed N`. Exit status: 0 when everything checked out, 1 when a check
//! failed or the directory could not be used (the reason is printed), 2 for a usage error.

mod content;
mod fsx;
mod names;
mod procs;
mod race;
mod rng;
mod sys;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "stress",
    about = "Stress tests of a file system (fsx, names, race)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Random data operations on one file, checked against a model after every op.
    Fsx(FsxArgs),
    /// Processes changing one shared tree at once; then the tree is checked.
    Names(NamesArgs),
    /// Names replaced by other kinds while other processes look them up.
    Race(RaceArgs),
}

#[derive(Args, Debug)]
struct FsxArgs {
    /// The PRNG seed (default: random); printed first either way.
    #[arg(long)]
    seed: Option<u64>,
    /// How many operations.
    #[arg(long, default_value_t = 10_000)]
    ops: u64,
    /// The largest the file may grow, in bytes.
    #[arg(long, default_value_t = 256 * 1024)]
    max_len: u64,
    /// The longest single read, write, copy or fallocate, in bytes.
    #[arg(long, default_value_t = 64 * 1024)]
    max_op_len: u64,
    /// The directory to work in (the file is DIR/fsx.dat).
    dir: PathBuf,
}

#[derive(Args, Debug)]
struct NamesArgs {
    /// The PRNG seed (default: random); printed first either way.
    #[arg(long)]
    seed: Option<u64>,
    /// How many processes change the tree at once.
    #[arg(long, default_value_t = 4)]
    procs: u32,
    /// How long they run, in seconds.
    #[arg(long, default_value_t = 5.0)]
    secs: f64,
    /// Stop each process after this many operations (default: only the time limit).
    #[arg(long)]
    ops: Option<u64>,
    /// Only walk and check an existing tree DIR/tree (e.g. natively after a run inside).
    #[arg(long)]
    verify_only: bool,
    /// Internal: run as worker number N of a run.
    #[arg(long, hide = true)]
    worker: Option<u32>,
    /// The directory to work in (the tree is DIR/tree).
    dir: PathBuf,
}

#[derive(Args, Debug)]
struct RaceArgs {
    /// The PRNG seed (default: random); printed first either way.
    #[arg(long)]
    seed: Option<u64>,
    /// How many processes look the names up.
    #[arg(long, default_value_t = 2)]
    readers: u32,
    /// How long the names are replaced, in seconds.
    #[arg(long, default_value_t = 5.0)]
    secs: f64,
    /// Print `race: warm …` after a fifth of the time and `race: done …` at the end, and
    /// wait for a line on stdin after each (so that a test can measure the file system's
    /// server at both points).
    #[arg(long)]
    handshake: bool,
    /// Internal: run as reader number N of a run.
    #[arg(long, hide = true)]
    reader: Option<u32>,
    /// The directory to work in (the names are under DIR/race).
    dir: PathBuf,
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Fsx(a) => fsx::run(&fsx::Config {
            seed: seed_or_random(a.seed),
            ops: a.ops,
            max_len: a.max_len,
            max_op_len: a.max_op_len.clamp(1, a.max_len.max(1)),
            dir: a.dir,
        }),
        Command::Names(a) => names::run(&names::Config {
            seed: seed_or_random(a.seed),
            procs: a.procs.max(1),
            duration: secs(a.secs),
            ops: a.ops,
            verify_only: a.verify_only,
            worker: a.worker,
            dir: a.dir,
        }),
        Command::Race(a) => race::run(&race::Config {
            seed: seed_or_random(a.seed),
            readers: a.readers.max(1),
            duration: secs(a.secs),
            handshake: a.handshake,
            reader: a.reader,
            dir: a.dir,
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("stress: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The seed given, or one from the OS's randomness (the one std seeds its hash maps with).
fn seed_or_random(seed: Option<u64>) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    seed.unwrap_or_else(|| {
        std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish()
    })
}

fn secs(s: f64) -> Duration {
    Duration::try_from_secs_f64(s.max(0.0)).unwrap_or(Duration::MAX)
}
