//! The truth about a run, kept in fusebox's own memory: every reported violation is
//! counted (the first [`KEPT`] in full), and every file fusebox could not write is
//! noted. The summary and the exit status are read from here, never from a file the
//! build can reach; so are the files written at the end and any later report.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use super::Violation;

/// How many violations are kept in full; the rest are only counted. A build that
/// trips the sandbox a million times must not exhaust fusebox's memory, and a person
/// reads the first ones.
pub const KEPT: usize = 1000;

/// A file fusebox had to write and could not: which, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputFailure {
    /// What it is, as the error line says it: "violation log", "trace", "debug log",
    /// "learned policy".
    pub what: &'static str,
    pub path: PathBuf,
    pub reason: String,
}

/// What happened, as fusebox saw it. `Sync`: the mirror's threads add to it.
#[derive(Debug, Default)]
pub struct Record {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    kept: Vec<Violation>,
    total: u64,
    failures: Vec<OutputFailure>,
}

impl Record {
    pub fn new() -> Record {
        Record::default()
    }

    // Every change pushes or adds whole values: a poisoned lock is still consistent,
    // and the daemon must not panic in turn.
    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts `v`, and keeps it if fewer than [`KEPT`] are kept.
    pub fn add_violation(&self, v: &Violation) {
        let mut inner = self.inner();
        inner.total += 1;
        if inner.kept.len() < KEPT {
            inner.kept.push(v.clone());
        }
    }

    /// How many violations were reported.
    pub fn violations(&self) -> u64 {
        self.inner().total
    }

    /// The first [`KEPT`] violations, in order, and how many followed them.
    pub fn shown(&self) -> (Vec<Violation>, u64) {
        let inner = self.inner();
        let more = inner.total - inner.kept.len() as u64;
        (inner.kept.clone(), more)
    }

    /// Notes that the `what` at `path` could not be written; only the first failure
    /// of each file is kept (the later ones say nothing new).
    pub fn output_failed(&self, what: &'static str, path: &Path, reason: impl ToString) {
        let mut inner = self.inner();
        if inner
            .failures
            .iter()
            .any(|f| f.what == what && f.path == path)
        {
            return;
        }
        inner.failures.push(OutputFailure {
            what,
            path: path.to_owned(),
            reason: reason.to_string(),
        });
    }

    /// The files that could not be written, in the order they failed.
    pub fn failures(&self) -> Vec<OutputFailure> {
        self.inner().failures.clone()
    }

    /// The exit status of the run whose build ended with `code`: a build that
    /// "succeeded" despite violations, or whose reports could not be written, failed
    /// (1); a build's own failure status is kept.
    pub fn exit_status(&self, code: i32) -> i32 {
        let inner = self.inner();
        if code == 0 && (inner.total > 0 || !inner.failures.is_empty()) {
            1
        } else {
            code
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::Op;
    use super::*;

    fn v(i: usize) -> Violation {
        Violation::new(Op::Mkdir, format!("/etc/{i}").into(), "mkdir ".into())
    }

    #[test]
    fn violations_are_counted_beyond_what_is_kept() {
        let r = Record::new();
        for i in 0..KEPT + 5 {
            r.add_violation(&v(i));
        }
        let (shown, more) = r.shown();
        assert_eq!(shown.len(), KEPT);
        assert_eq!(shown[0], v(0));
        assert_eq!(more, 5);
        assert_eq!(r.violations(), KEPT as u64 + 5);
    }

    #[test]
    fn exit_status_from_memory() {
        let r = Record::new();
        assert_eq!(r.exit_status(0), 0);
        assert_eq!(r.exit_status(3), 3);
        r.output_failed("trace", Path::new("/t"), "No space left on device");
        r.output_failed("trace", Path::new("/t"), "again");
        assert_eq!(r.failures().len(), 1);
        assert_eq!(r.exit_status(0), 1);
        assert_eq!(r.exit_status(2), 2);
        let r = Record::new();
        r.add_violation(&v(0));
        assert_eq!(r.exit_status(0), 1);
        assert_eq!(r.exit_status(130), 130);
    }
}
