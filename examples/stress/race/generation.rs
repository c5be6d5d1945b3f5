//! What generation `g` of the race puts where: which name, which kind of object, and the
//! contents that let a reader tell the generation from the object alone.
//!
//! Generation `g` is published as `x{g % NAMES}`, as a file, a directory or a symlink
//! (drawn from the seed, so readers know which `g` was which kind):
//! - a file holds `race gen=G file\n` and filler up to `file_len(g)` bytes — a length that
//!   also encodes `g % 1020`, so even a bare lstat can be checked against the name;
//! - a directory holds one empty file, `gG`;
//! - a symlink points at `gen-G` (always [`LINK_LEN`] bytes; it dangles on purpose).

use std::fmt;

use crate::rng::mix;

/// How many names the generations cycle through.
pub const NAMES: u64 = 4;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Symlink,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::File => "file",
            Kind::Dir => "directory",
            Kind::Symlink => "symlink",
        })
    }
}

pub fn kind_of(seed: u64, g: u64) -> Kind {
    match mix(seed ^ mix(g)) % 3 {
        0 => Kind::File,
        1 => Kind::Dir,
        _ => Kind::Symlink,
    }
}

pub fn name_of(g: u64) -> String {
    format!("x{}", g % NAMES)
}

/// File lengths cycle with this period (a multiple of [`NAMES`], so a length also says
/// which name it belongs at).
const LEN_PERIOD: u64 = 1020;
const MIN_FILE_LEN: u64 = 32;
const HEADER: &str = "race gen=";

pub fn file_len(g: u64) -> u64 {
    MIN_FILE_LEN + g % LEN_PERIOD
}

/// Whether a regular file of `size` bytes at name `idx` could be some file generation.
pub fn is_file_len_for(size: u64, idx: u64) -> bool {
    (MIN_FILE_LEN..MIN_FILE_LEN + LEN_PERIOD).contains(&size)
        && (size - MIN_FILE_LEN) % NAMES == idx
}

pub fn file_contents(g: u64) -> Vec<u8> {
    let head = format!("{HEADER}{g:010} file\n");
    let mut data = head.into_bytes();
    let len = file_len(g) as usize;
    data.extend((data.len()..len).map(|i| b'a' + ((g as usize + i) % 26) as u8));
    data
}

/// The generation a file's contents are, if they are exactly one generation's.
pub fn parse_file(data: &[u8]) -> Option<u64> {
    let digits = data.get(HEADER.len()..HEADER.len() + 10)?;
    let g = std::str::from_utf8(digits).ok()?.parse().ok()?;
    (file_contents(g) == data).then_some(g)
}

pub fn dir_entry(g: u64) -> String {
    format!("g{g:010}")
}

pub fn parse_dir_entry(name: &str) -> Option<u64> {
    let g = name.strip_prefix('g')?.parse().ok()?;
    (dir_entry(g) == name).then_some(g)
}

pub fn link_target(g: u64) -> String {
    format!("gen-{g:010}")
}

/// Every generation's symlink target has this length (the symlink's `st_size`).
pub const LINK_LEN: u64 = 14;

pub fn parse_link_target(target: &str) -> Option<u64> {
    let g = target.strip_prefix("gen-")?.parse().ok()?;
    (link_target(g) == target).then_some(g)
}
