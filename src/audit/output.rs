//! Where a report goes once it is open, and how it is written so that a reader never
//! sees half a record.
//!
//! [`Output`] is either a file fusebox opened itself (checked by [`HostFile`]) or a
//! descriptor fusebox-run inherited (`--trace -`, `/dev/stdout`, `/dev/fd/N`).
//! [`RecordWriter`] appends whole records (a JSON line, a log block): when a write
//! fails halfway (a full disk, a file size limit), a regular file is cut back to the
//! last whole record, and nothing more is written to it.

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use super::HostFile;

/// A report's destination, as the user named it.
#[derive(Debug)]
pub enum Output {
    /// A file fusebox opens itself.
    File(HostFile),
    /// An inherited descriptor (a duplicate, so closing it leaves the original alone),
    /// and what the user called it.
    Inherited(OwnedFd, PathBuf),
}

impl Output {
    /// The destination `path` names: `-` is standard output; `/dev/stdout`,
    /// `/dev/stderr`, `/dev/fd/N` and `/proc/self/fd/N` are fusebox-run's own
    /// descriptors, used as they are (opening those paths would follow a symlink into
    /// /proc and reopen a pipe or a terminal); anything else is a file.
    pub fn named(path: &Path) -> io::Result<Output> {
        match inherited_fd(path) {
            Some(fd) => {
                let dup = crate::sys::dup_inherited(fd).map_err(|e| {
                    io::Error::new(e.kind(), format!("descriptor {fd} is not open"))
                })?;
                Ok(Output::Inherited(dup, path.to_owned()))
            }
            None => Ok(Output::File(HostFile::new(path)?)),
        }
    }

    /// The host path of a file fusebox writes (None for an inherited descriptor): the
    /// build may read it but never change it.
    pub fn real_path(&self) -> Option<PathBuf> {
        match self {
            Output::File(file) => file.real_path(),
            Output::Inherited(..) => None,
        }
    }

    /// Opens it for a fresh report (a file's old content goes), checking what is
    /// there: a regular file of the user's, or nothing.
    pub fn open_truncated(&self, mode: u32) -> io::Result<RecordWriter> {
        match self {
            Output::File(file) => {
                let out = file.open_own(mode)?;
                out.set_len(0)?;
                Ok(RecordWriter::new(out, true))
            }
            Output::Inherited(fd, _) => {
                let out = File::from(fd.try_clone()?);
                Ok(RecordWriter::new(out, false))
            }
        }
    }
}

/// The descriptor number a path names when it means fusebox-run's own descriptor.
fn inherited_fd(path: &Path) -> Option<i32> {
    let s = path.to_str()?;
    match s {
        "-" | "/dev/stdout" => return Some(1),
        "/dev/stderr" => return Some(2),
        _ => {}
    }
    let n = s
        .strip_prefix("/dev/fd/")
        .or_else(|| s.strip_prefix("/proc/self/fd/"))?;
    n.parse().ok()
}

/// Appends whole records, buffered. A failure is final: the writer keeps the error
/// and refuses further records, and a regular file ends at the last whole record.
#[derive(Debug)]
pub struct RecordWriter {
    out: File,
    /// Whole records not written yet.
    buf: Vec<u8>,
    /// Where each record in `buf` ends (a log block holds several lines, so the
    /// boundaries are kept rather than looked for).
    ends: Vec<usize>,
    /// The file's length after the last record fully written (regular files only).
    committed: u64,
    regular: bool,
    failed: bool,
}

/// Buffered records are written once they pass this size (and at every flush).
const BUFFER: usize = 64 * 1024;

impl RecordWriter {
    /// `out` is written from its end (O_APPEND or a stream); `regular` when it can be
    /// cut back.
    pub fn new(out: File, regular: bool) -> RecordWriter {
        let committed = if regular {
            out.metadata().map(|m| m.len()).unwrap_or(0)
        } else {
            0
        };
        RecordWriter {
            out,
            buf: Vec::new(),
            ends: Vec::new(),
            committed,
            regular,
            failed: false,
        }
    }

    /// Queues one whole record; writes when the buffer is full.
    pub fn record(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.usable()?;
        self.buf.extend_from_slice(bytes);
        self.ends.push(self.buf.len());
        if self.buf.len() >= BUFFER {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes every queued record. On failure a regular file is cut back to the end of
    /// the last record written whole; the bytes after it are dropped.
    pub fn flush(&mut self) -> io::Result<()> {
        self.usable()?;
        let mut written = 0;
        while written < self.buf.len() {
            match self.out.write(&self.buf[written..]) {
                Ok(0) => {
                    return self.fail(written, io::ErrorKind::WriteZero.into());
                }
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return self.fail(written, e),
            }
        }
        self.committed += written as u64;
        self.buf.clear();
        self.ends.clear();
        Ok(())
    }

    fn usable(&self) -> io::Result<()> {
        if self.failed {
            return Err(io::Error::other("an earlier write failed"));
        }
        Ok(())
    }

    /// After `written` bytes of the buffer went out and then `e`: keep whole records
    /// only, and stop.
    fn fail(&mut self, written: usize, e: io::Error) -> io::Result<()> {
        self.failed = true;
        if self.regular {
            let whole = self
                .ends
                .iter()
                .rev()
                .find(|&&end| end <= written)
                .copied()
                .unwrap_or(0);
            let _ = self.out.set_len(self.committed + whole as u64);
        }
        self.buf.clear();
        self.ends.clear();
        Err(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_of_inherited_descriptors() {
        assert_eq!(inherited_fd(Path::new("-")), Some(1));
        assert_eq!(inherited_fd(Path::new("/dev/stdout")), Some(1));
        assert_eq!(inherited_fd(Path::new("/dev/stderr")), Some(2));
        assert_eq!(inherited_fd(Path::new("/dev/fd/7")), Some(7));
        assert_eq!(inherited_fd(Path::new("/proc/self/fd/3")), Some(3));
        assert_eq!(inherited_fd(Path::new("/dev/fd/x")), None);
        assert_eq!(inherited_fd(Path::new("./-")), None);
        assert_eq!(inherited_fd(Path::new("/tmp/trace")), None);
    }

    #[test]
    fn a_failed_write_leaves_whole_records_only() {
        // /dev/full: every write fails with ENOSPC. A regular file stands in for the
        // cut: RLIMIT_FSIZE would kill the test process.
        let full = File::options().write(true).open("/dev/full").unwrap();
        let mut w = RecordWriter::new(full, false);
        w.record(b"{\"a\":1}\n").unwrap();
        assert!(w.flush().is_err());
        assert!(w.record(b"x\n").is_err(), "a failure is final");

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t");
        let f = File::options()
            .create(true)
            .append(true)
            .open(&path)
            .unwrap();
        let mut w = RecordWriter::new(f, true);
        w.record(b"one\n").unwrap();
        w.flush().unwrap();
        // As if the second flush wrote "two\nthr" and then failed.
        w.record(b"two\n").unwrap();
        w.record(b"three\n").unwrap();
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"two\nthr")
            .unwrap();
        let _ = w.fail(7, io::Error::other("disk full"));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "one\ntwo\n");

        // A record of several lines goes whole or not at all.
        let f = File::options().append(true).open(&path).unwrap();
        let mut w = RecordWriter::new(f, true);
        w.record(b"\nF: a\nP: b\n").unwrap();
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"\nF: a\n")
            .unwrap();
        let _ = w.fail(6, io::Error::other("disk full"));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "one\ntwo\n");
    }
}
