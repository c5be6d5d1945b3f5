//! File contents that check themselves, and the digest the tests compare across the
//! sandbox boundary.

use std::fmt;

/// FNV-1a, 64 bits: a digest a test on the host recomputes in a few lines
/// (tests/e2e/stress.rs) to compare what it sees natively with what was seen inside.
pub fn fnv64(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in data {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Who created a file of the namespace stress: worker `worker`'s `seq`-th file. Unique
/// per created inode, whatever names it is later found under.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FileId {
    pub worker: u32,
    pub seq: u64,
}

impl fmt::Display for FileId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.worker, self.seq)
    }
}

/// The header every such file starts with: `fsbx w=0003 s=0000000042\n`.
pub const HEADER_LEN: usize = 25;

fn header(id: FileId) -> [u8; HEADER_LEN] {
    let text = format!(
        "fsbx w={:04} s={:010}\n",
        id.worker % 10_000,
        id.seq % 10_000_000_000
    );
    let mut h = [0u8; HEADER_LEN];
    h.copy_from_slice(text.as_bytes());
    h
}

/// The stream a file with id `id` holds a prefix of: its header, then bytes that depend
/// only on the id and the position. So a file stays checkable after any rename or link,
/// and its single writer may extend or shorten it at will: every byte it ever holds at
/// a position is the same.
pub fn stream(id: FileId, start: u64, len: usize) -> Vec<u8> {
    let head = header(id);
    let key = crate::rng::mix(u64::from(id.worker) << 40 ^ id.seq);
    (start..start + len as u64)
        .map(|pos| match head.get(pos as usize) {
            Some(&b) => b,
            None => (crate::rng::mix(key ^ (pos / 8)) >> ((pos % 8) * 8)) as u8,
        })
        .collect()
}

/// Why a file's contents are not a prefix of any id's stream.
#[derive(Debug, PartialEq, Eq)]
pub enum Bad {
    /// The header does not parse.
    Header(String),
    /// Byte `offset` differs from the stream of the id in the header.
    Byte {
        id: FileId,
        offset: u64,
        want: u8,
        got: u8,
    },
}

impl fmt::Display for Bad {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Bad::Header(h) => write!(f, "no valid header: {h:?}"),
            Bad::Byte {
                id,
                offset,
                want,
                got,
            } => write!(
                f,
                "file {id}: byte {offset} is {got:#04x}, its creator wrote {want:#04x}"
            ),
        }
    }
}

/// How a file was read, which decides what its contents may be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reading {
    /// With no writer about: exactly a prefix of the stream.
    Settled,
    /// While its writer may shrink and extend it: a byte may also read as 0. Linux does
    /// not make a read atomic with a truncate and the write that extends the file again:
    /// a read can copy the page tail the truncate zeroed before the write refills it
    /// (natively on ext4 too).
    Racing,
}

/// The id of a file holding `data`, after checking every byte against that id's stream.
/// `Ok(None)` when `data` is too short to hold a header (a file being created).
pub fn check_stream(data: &[u8], reading: Reading) -> Result<Option<FileId>, Bad> {
    let Some(head) = data.get(..HEADER_LEN) else {
        return Ok(None);
    };
    let id = parse_header(head).ok_or_else(|| Bad::Header(String::from_utf8_lossy(head).into()))?;
    let want = stream(id, 0, data.len());
    let fits = |w: u8, g: u8| w == g || (reading == Reading::Racing && g == 0);
    match want.iter().zip(data).position(|(&w, &g)| !fits(w, g)) {
        None => Ok(Some(id)),
        Some(i) => Err(Bad::Byte {
            id,
            offset: i as u64,
            want: want[i],
            got: data[i],
        }),
    }
}

fn parse_header(head: &[u8]) -> Option<FileId> {
    let text = std::str::from_utf8(head).ok()?;
    let rest = text.strip_prefix("fsbx w=")?.strip_suffix('\n')?;
    let (worker, seq) = rest.split_once(" s=")?;
    let id = FileId {
        worker: worker.parse().ok()?,
        seq: seq.parse().ok()?,
    };
    (header(id) == head).then_some(id)
}
