//! What the file must hold: its bytes, and for each byte the op that last set it (to say,
//! at a failure, which op's data went missing).

/// The bytes op `n` writes at file offsets `off..off + len`: they differ from op to op
/// and along the file, so stale or misplaced data shows.
pub fn pattern(n: u64, off: u64, len: u64) -> Vec<u8> {
    let tag = (n % 255) as u8 + 1;
    (off..off + len).map(|o| (o % 253) as u8 ^ tag).collect()
}

#[derive(Default)]
pub struct Model {
    data: Vec<u8>,
    /// The op that last set each byte (0: none, the byte has been 0 since it existed).
    origin: Vec<u64>,
}

/// Where a read differed from the model.
pub struct Mismatch {
    /// The first file offset where the read and the model differ.
    offset: u64,
    /// Up to 16 bytes from `offset`: read, and expected.
    got: Vec<u8>,
    want: Vec<u8>,
    /// Bytes read, and bytes expected (the model cuts the read at its size).
    got_len: u64,
    want_len: u64,
}

const SHOWN: usize = 16;

impl Model {
    pub fn len(&self) -> u64 {
        self.data.len() as u64
    }

    pub fn bytes(&self) -> &[u8] {
        &self.data
    }

    /// Op `n` wrote `data` at `off` (extending the file, with zeros up to `off`).
    pub fn write(&mut self, n: u64, off: u64, data: &[u8]) {
        let end = off + data.len() as u64;
        if end > self.len() {
            self.resize(n, end);
        }
        let (off, end) = (off as usize, end as usize);
        self.data[off..end].copy_from_slice(data);
        self.origin[off..end].fill(n);
    }

    /// Op `n` set the size: cut, or extended with zeros.
    pub fn resize(&mut self, n: u64, size: u64) {
        self.data.resize(size as usize, 0);
        self.origin.resize(size as usize, n);
    }

    /// Op `n` zeroed `off..off + len`, as far as the file goes.
    pub fn zero(&mut self, n: u64, off: u64, len: u64) {
        let end = (off + len).min(self.len()) as usize;
        let off = (off as usize).min(end);
        self.data[off..end].fill(0);
        self.origin[off..end].fill(n);
    }

    /// The bytes a read of `len` at `off` must return (fewer at the end of the file).
    pub fn expected(&self, off: u64, len: u64) -> &[u8] {
        let end = (off + len).min(self.len()) as usize;
        let off = (off as usize).min(end);
        &self.data[off..end]
    }

    /// Compares what a read of `len` bytes at `off` returned with the model.
    pub fn compare(&self, off: u64, len: u64, got: &[u8]) -> Option<Mismatch> {
        let want = self.expected(off, len);
        let first = match want.iter().zip(got).position(|(w, g)| w != g) {
            Some(i) => i,
            None if want.len() == got.len() => return None,
            None => want.len().min(got.len()),
        };
        let shown = |b: &[u8]| b[first.min(b.len())..(first + SHOWN).min(b.len())].to_vec();
        Some(Mismatch {
            offset: off + first as u64,
            got: shown(got),
            want: shown(want),
            got_len: got.len() as u64,
            want_len: want.len() as u64,
        })
    }
}

impl Mismatch {
    /// A few lines: the offset, both bytes and which op last set the expected one, and 16
    /// bytes of each side.
    pub fn render(&self, model: &Model) -> String {
        let mut s = format!("first difference at offset {:#x}", self.offset);
        if self.got_len != self.want_len {
            s += &format!(
                " (the read returned {:#x} bytes, the model expects {:#x}; size {:#x})",
                self.got_len,
                self.want_len,
                model.len()
            );
        }
        let byte = |b: &[u8]| b.first().map_or("nothing".into(), |b| format!("{b:#04x}"));
        s += &format!(
            ": the file has {}, the model {}",
            byte(&self.got),
            byte(&self.want)
        );
        match model.origin.get(self.offset as usize) {
            Some(0) => s += " (a byte no op has written)",
            Some(n) => s += &format!(" (last set by op #{n})"),
            None => {}
        }
        let hex = |b: &[u8]| {
            b.iter()
                .map(|x| format!("{x:02x}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        s += &format!(
            "\n  file : {}\n  model: {}",
            hex(&self.got),
            hex(&self.want)
        );
        s
    }
}
