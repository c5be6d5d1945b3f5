//! The violation log file (Gentoo's `SANDBOX_LOG`), appended to synchronously.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use nix::fcntl::OFlag;

use super::host_file::HostFile;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use super::{Violation, gentoo};

/// Appends [`Violation`]s to the log, Gentoo's way (`write_logfile` in
/// `libsandbox/libsandbox.c`):
///
/// - the file is created by the first violation, with the header; a build without
///   violations leaves no log (Gentoo's tests check `test ! -e sandbox.log`);
/// - each record reopens the file by path in append mode. Portage deletes a stale log
///   when a phase starts (`bin/phase-functions.sh`), so a descriptor held across records
///   would write into an unlinked file Portage never sees; reopening starts a fresh
///   file, header included;
/// - each record is one `write` of the whole block (header too when new), done before
///   [`ViolationLog::record`] returns, so before the build's refused syscall returns:
///   Portage's `[[ -s $SANDBOX_LOG ]]` after the phase sees it. Visibility to `stat` is
///   what matters, not durability, so there is no fsync.
#[derive(Debug)]
pub struct ViolationLog {
    /// Reached through its directory: the daemon's own mount namespace may differ.
    file: HostFile,
    /// Serialises "does the file exist? then open and write": two first violations at
    /// once must not both write the header.
    lock: Mutex<()>,
    count: AtomicU64,
}

impl ViolationLog {
    /// A log at `path`, removing a stale one first (as Gentoo's `sandbox` does at start,
    /// `setup_sandbox` in `src/sandbox.c`), so the log afterwards holds this run only.
    /// Nothing is created until the first violation.
    pub fn create(path: impl Into<PathBuf>) -> io::Result<Self> {
        let file = HostFile::new(path)?;
        file.remove()?;
        Ok(ViolationLog {
            file,
            lock: Mutex::new(()),
            count: AtomicU64::new(0),
        })
    }

    /// Appends `v` (and the header if the file does not exist yet).
    pub fn record(&self, v: &Violation) -> io::Result<()> {
        // The guard protects no data, so a poisoned lock is as good as a clean one.
        let _guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        let mut block = Vec::new();
        match self.file.stat()? {
            // Gentoo aborts with "SECURITY BREACH" here: something replaced the log
            // with a link or device to make the sandbox write elsewhere.
            Some(st) if st.st_mode & libc::S_IFMT != libc::S_IFREG => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "{}: exists and is not a regular file",
                        self.path().display()
                    ),
                ));
            }
            Some(_) => {}
            None => block.extend_from_slice(gentoo::log_header().as_bytes()),
        }
        block.extend_from_slice(&gentoo::log_entry_bytes(v));
        // Gentoo's S_IRUSR|S_IWUSR|S_IRGRP|S_IROTH. O_NOFOLLOW (HostFile's) closes the
        // gap between the check above and this open.
        let flags = OFlag::O_WRONLY | OFlag::O_APPEND | OFlag::O_CREAT;
        self.file.open(flags, 0o644)?.write_all(&block)?;
        self.count.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// What the log holds now, read the way it is written (the path may lead elsewhere
    /// in fusebox-run's own mount namespace).
    pub fn contents(&self) -> io::Result<Vec<u8>> {
        self.file.read()
    }

    pub fn path(&self) -> &Path {
        self.file.path()
    }

    /// See [`HostFile::real_path`].
    pub fn real_path(&self) -> Option<PathBuf> {
        self.file.real_path()
    }

    /// How many violations this log recorded.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
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
        assert_eq!(log.count(), 0);
    }

    #[test]
    fn create_removes_a_stale_log() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sandbox.log");
        fs::write(&path, "old").unwrap();
        let log = ViolationLog::create(&path).unwrap();
        assert!(!path.exists());
        log.record(&violation("/etc/a")).unwrap();
        assert!(
            fs::read_to_string(&path)
                .unwrap()
                .starts_with("VERSION 1.0\n")
        );
    }

    #[test]
    fn header_once_then_entries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sandbox.log");
        let log = ViolationLog::create(&path).unwrap();
        log.record(&violation("/etc/a")).unwrap();
        log.record(&violation("/etc/b")).unwrap();
        assert_eq!(log.count(), 2);
        let expected = gentoo::log_header()
            + &gentoo::log_entry(&violation("/etc/a"))
            + &gentoo::log_entry(&violation("/etc/b"));
        assert_eq!(fs::read_to_string(&path).unwrap(), expected);
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        // The umask may take bits away, never add them.
        assert_eq!(mode & !0o644, 0);
    }

    #[test]
    fn a_log_removed_midway_starts_again_with_a_header() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sandbox.log");
        let log = ViolationLog::create(&path).unwrap();
        log.record(&violation("/etc/a")).unwrap();
        fs::remove_file(&path).unwrap(); // Portage, between phases
        log.record(&violation("/etc/b")).unwrap();
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            gentoo::log_header() + &gentoo::log_entry(&violation("/etc/b"))
        );
    }

    #[test]
    fn refuses_a_log_replaced_by_a_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sandbox.log");
        let log = ViolationLog::create(&path).unwrap();
        let target = dir.path().join("elsewhere");
        std::os::unix::fs::symlink(&target, &path).unwrap();
        let err = log.record(&violation("/etc/a")).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(!target.exists());
        assert_eq!(log.count(), 0);
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
        assert_eq!(log.count(), 80);
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(text.matches("VERSION 1.0").count(), 1);
        let blocks: Vec<&str> = text.split("\n\n").collect();
        assert_eq!(blocks.len(), 81);
        for b in &blocks[1..] {
            assert!(b.starts_with("F: open_wr\nS: deny\nP: /etc/"), "{b}");
        }
    }
}
