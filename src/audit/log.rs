//! The violation log file (Gentoo's `SANDBOX_LOG`), appended to synchronously.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use super::host_file::HostFile;
use super::output::RecordWriter;
use super::{Violation, gentoo_format};

/// Appends [`Violation`]s to the log, in Gentoo's format (`write_logfile` in
/// `libsandbox/libsandbox.c`), written so that the build cannot undo it:
///
/// - a stale log at the path is removed at start, but only a recognisable sandbox log
///   ([`HostFile::remove_stale_log`]); the file is created by the first violation, with
///   the header; a build without violations leaves no log (Gentoo's tests check
///   `test ! -e sandbox.log`);
/// - it is created with O_EXCL (what was planted at the path is never written to),
///   mode 0600 (command lines are nobody else's business), and then written through
///   that one descriptor until the end: the mirror refuses the build every change to
///   the path, so the name keeps pointing at it;
/// - each record is the whole block, written before [`ViolationLog::record`] returns,
///   so before the build's refused syscall returns: Portage's `[[ -s $SANDBOX_LOG ]]`
///   after the phase sees it. Visibility to `stat` is what matters, not durability, so
///   there is no fsync.
#[derive(Debug)]
pub struct ViolationLog {
    /// Reached through its directory: the daemon's own mount namespace may differ.
    file: HostFile,
    out: Mutex<State>,
}

#[derive(Debug)]
enum State {
    /// No violation yet.
    Unopened,
    Open(RecordWriter),
    /// Creating or writing failed once; the log is given up (the record in memory
    /// still has everything).
    Failed,
}

impl ViolationLog {
    /// A log at `path`, removing a stale one first (as Gentoo's `sandbox` does at start,
    /// `setup_sandbox` in `src/sandbox.c`), so the log afterwards holds this run only.
    /// Nothing is created until the first violation.
    pub fn create(path: impl Into<PathBuf>) -> io::Result<Self> {
        let file = HostFile::new(path)?;
        file.remove_stale_log()?;
        Ok(ViolationLog {
            file,
            out: Mutex::new(State::Unopened),
        })
    }

    /// Appends `v` (after the header, for the first). An error is final: later calls
    /// fail at once.
    pub fn record(&self, v: &Violation) -> io::Result<()> {
        // The state is replaced whole: a poisoned lock is as good as a clean one.
        let mut state = self.out.lock().unwrap_or_else(PoisonError::into_inner);
        let result = self.append(&mut state, v);
        if result.is_err() {
            *state = State::Failed;
        }
        result
    }

    fn append(&self, state: &mut State, v: &Violation) -> io::Result<()> {
        if let State::Unopened = state {
            let out = self.file.create_new(0o600)?;
            let mut writer = RecordWriter::new(out, true);
            writer.record(gentoo_format::log_header().as_bytes())?;
            *state = State::Open(writer);
        }
        match state {
            State::Open(writer) => {
                writer.record(&gentoo_format::log_entry_bytes(v))?;
                writer.flush()
            }
            _ => Err(io::Error::other("an earlier write failed")),
        }
    }

    pub fn path(&self) -> &Path {
        self.file.path()
    }

    /// See [`HostFile::real_path`].
    pub fn real_path(&self) -> Option<PathBuf> {
        self.file.real_path()
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::super::Op;
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::sync::Arc;

    fn violation(path: &str) -> Violation {
        Violation::new(Op::OpenWr, path.into(), "cc -c x.c ".into())
    }

    #[test]
    fn no_violation_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let log = ViolationLog::create(dir.path().join("sandbox.log")).unwrap();
        assert!(!log.path().exists());
    }

    #[test]
    fn create_removes_a_stale_log_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sandbox.log");
        fs::write(&path, gentoo_format::log_header() + "\nF: x\n").unwrap();
        let log = ViolationLog::create(&path).unwrap();
        assert!(!path.exists());
        log.record(&violation("/etc/a")).unwrap();
        assert!(
            fs::read_to_string(&path)
                .unwrap()
                .starts_with("VERSION 1.0\n")
        );
        let makefile = dir.path().join("Makefile");
        fs::write(&makefile, "all:\n").unwrap();
        assert!(ViolationLog::create(&makefile).is_err());
        assert_eq!(fs::read_to_string(&makefile).unwrap(), "all:\n");
    }

    #[test]
    fn header_once_then_entries_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sandbox.log");
        let log = ViolationLog::create(&path).unwrap();
        log.record(&violation("/etc/a")).unwrap();
        log.record(&violation("/etc/b")).unwrap();
        let expected = gentoo_format::log_header()
            + &gentoo_format::log_entry(&violation("/etc/a"))
            + &gentoo_format::log_entry(&violation("/etc/b"));
        assert_eq!(fs::read_to_string(&path).unwrap(), expected);
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn a_log_replaced_midway_keeps_being_written_through_its_descriptor() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sandbox.log");
        let log = ViolationLog::create(&path).unwrap();
        log.record(&violation("/etc/a")).unwrap();
        let aside = dir.path().join("aside");
        fs::rename(&path, &aside).unwrap();
        let target = dir.path().join("elsewhere");
        std::os::unix::fs::symlink(&target, &path).unwrap();
        log.record(&violation("/etc/b")).unwrap();
        assert!(!target.exists());
        assert!(fs::read_to_string(&aside).unwrap().contains("P: /etc/b\n"));
    }

    #[test]
    fn something_planted_before_the_first_violation_is_never_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sandbox.log");
        let log = ViolationLog::create(&path).unwrap();
        let target = dir.path().join("elsewhere");
        std::os::unix::fs::symlink(&target, &path).unwrap();
        assert!(log.record(&violation("/etc/a")).is_err());
        assert!(!target.exists());
        // Given up for good, even once the path is free again.
        fs::remove_file(&path).unwrap();
        assert!(log.record(&violation("/etc/b")).is_err());
        assert!(!path.exists());
    }

    #[test]
    fn concurrent_records_write_one_header_and_whole_blocks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sandbox.log");
        let log = Arc::new(ViolationLog::create(&path).unwrap());
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let log = Arc::clone(&log);
                std::thread::spawn(move || {
                    for j in 0..10 {
                        log.record(&violation(&format!("/etc/{i}/{j}"))).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(text.matches("VERSION 1.0").count(), 1);
        let blocks: Vec<&str> = text.split("\n\n").collect();
        assert_eq!(blocks.len(), 81);
        for b in &blocks[1..] {
            assert!(b.starts_with("F: open_wr\nS: deny\nP: /etc/"), "{b}");
        }
    }
}
