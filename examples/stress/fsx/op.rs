//! The ops of fsx and how they are drawn.

use std::fmt;

use crate::rng::Rng;

/// Which fd a read (or the source of a copy) goes through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    Main,
    Second,
}

/// The fallocate modes tried (each alone: a mode the file system refuses is skipped).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Falloc {
    /// Allocates, and extends the file when the range goes past its end.
    Plain,
    /// Allocates, never changes the size.
    KeepSize,
    /// Deallocates: the range reads as zeros (with KEEP_SIZE, as the kernel requires).
    PunchHole,
    /// Zeros the range, extending the file when it goes past its end.
    ZeroRange,
    /// Zeros the range, never changing the size.
    ZeroRangeKeepSize,
}

const FALLOC_MODES: [Falloc; 5] = [
    Falloc::Plain,
    Falloc::KeepSize,
    Falloc::PunchHole,
    Falloc::ZeroRange,
    Falloc::ZeroRangeKeepSize,
];

impl Falloc {
    pub fn flags(self) -> i32 {
        match self {
            Falloc::Plain => 0,
            Falloc::KeepSize => libc::FALLOC_FL_KEEP_SIZE,
            Falloc::PunchHole => libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
            Falloc::ZeroRange => libc::FALLOC_FL_ZERO_RANGE,
            Falloc::ZeroRangeKeepSize => libc::FALLOC_FL_ZERO_RANGE | libc::FALLOC_FL_KEEP_SIZE,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Falloc::Plain => "plain",
            Falloc::KeepSize => "keep_size",
            Falloc::PunchHole => "punch_hole",
            Falloc::ZeroRange => "zero_range",
            Falloc::ZeroRangeKeepSize => "zero_range+keep_size",
        }
    }
}

/// One operation on the file. Offsets and lengths are in bytes.
#[derive(Clone, Copy, Debug)]
pub enum Op {
    Write {
        off: u64,
        len: u64,
    },
    Read {
        off: u64,
        len: u64,
        via: Via,
    },
    Truncate {
        size: u64,
    },
    MapRead {
        off: u64,
        len: u64,
    },
    MapWrite {
        off: u64,
        len: u64,
    },
    Fallocate {
        mode: Falloc,
        off: u64,
        len: u64,
    },
    /// copy_file_range from `src` to `dst` in the file; `len` 0 when none could be drawn.
    Copy {
        src: u64,
        dst: u64,
        len: u64,
        via: Via,
    },
    /// Close both fds and open the file again.
    Reopen,
}

impl Op {
    pub fn name(&self) -> &'static str {
        match self {
            Op::Write { .. } => "write",
            Op::Read { via: Via::Main, .. } => "read",
            Op::Read {
                via: Via::Second, ..
            } => "read2",
            Op::Truncate { .. } => "truncate",
            Op::MapRead { .. } => "mapread",
            Op::MapWrite { .. } => "mapwrite",
            Op::Fallocate { .. } => "fallocate",
            Op::Copy { .. } => "copy_range",
            Op::Reopen => "reopen",
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let via = |v: &Via| match v {
            Via::Main => "",
            Via::Second => " (through the second fd)",
        };
        match self {
            Op::Write { off, len } | Op::MapRead { off, len } | Op::MapWrite { off, len } => {
                write!(f, "{:<10} {off:#x} +{len:#x}", self.name())
            }
            Op::Read { off, len, via: v } => write!(f, "read       {off:#x} +{len:#x}{}", via(v)),
            Op::Truncate { size } => write!(f, "truncate   to {size:#x}"),
            Op::Fallocate { mode, off, len } => {
                write!(f, "fallocate  {off:#x} +{len:#x} {}", mode.name())
            }
            Op::Copy {
                src,
                dst,
                len,
                via: v,
            } => write!(f, "copy_range {src:#x} +{len:#x} -> {dst:#x}{}", via(v)),
            Op::Reopen => write!(f, "close and reopen both fds"),
        }
    }
}

/// Relative frequencies of the ops, in the order of [`pick`]'s match.
const WEIGHTS: [u64; 8] = [20, 20, 5, 8, 8, 12, 8, 3];

/// Draws an op for a file of `size` bytes that may grow to `max_len`.
pub fn pick(rng: &mut Rng, size: u64, max_len: u64, max_op_len: u64) -> Op {
    let via = |rng: &mut Rng| match rng.one_in(2) {
        true => Via::Main,
        false => Via::Second,
    };
    match rng.weighted(&WEIGHTS) {
        0 => {
            let (off, len) = anywhere(rng, max_len, max_op_len);
            Op::Write { off, len }
        }
        1 => {
            // Mostly within the data; now and then anywhere, past the end included.
            let off = match size == 0 || rng.one_in(8) {
                true => rng.below(max_len),
                false => rng.below(size),
            };
            let len = rng.between(1, max_op_len);
            Op::Read {
                off,
                len,
                via: via(rng),
            }
        }
        2 => Op::Truncate {
            size: rng.below(max_len + 1),
        },
        3 => {
            let (off, len) = within(rng, size, max_op_len);
            Op::MapRead { off, len }
        }
        4 => {
            let (off, len) = anywhere(rng, max_len, max_op_len);
            Op::MapWrite { off, len }
        }
        5 => {
            let mode = FALLOC_MODES[rng.below(FALLOC_MODES.len() as u64) as usize];
            let (off, len) = anywhere(rng, max_len, max_op_len);
            Op::Fallocate { mode, off, len }
        }
        6 => {
            let via = via(rng);
            copy(rng, size, max_len, max_op_len, via)
        }
        _ => Op::Reopen,
    }
}

/// A range starting anywhere below `max_len` and ending at or before it.
fn anywhere(rng: &mut Rng, max_len: u64, max_op_len: u64) -> (u64, u64) {
    let off = rng.below(max_len);
    let len = rng.between(1, max_op_len).min(max_len - off);
    (off, len)
}

/// A range within the file's `size` bytes; length 0 when the file is empty.
fn within(rng: &mut Rng, size: u64, max_op_len: u64) -> (u64, u64) {
    if size == 0 {
        return (0, 0);
    }
    let off = rng.below(size);
    (off, rng.between(1, max_op_len.min(size - off)))
}

/// A copy from within the file to anywhere below `max_len`, the ranges not overlapping
/// (length 0 when none was found in a few tries).
fn copy(rng: &mut Rng, size: u64, max_len: u64, max_op_len: u64, via: Via) -> Op {
    for _ in 0..8 {
        let (src, len) = within(rng, size, max_op_len);
        if len == 0 {
            break;
        }
        let dst = rng.below(max_len - len + 1);
        if dst + len <= src || src + len <= dst {
            return Op::Copy { src, dst, len, via };
        }
    }
    Op::Copy {
        src: 0,
        dst: 0,
        len: 0,
        via,
    }
}
