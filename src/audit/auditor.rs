//! Where refused operations go while the build runs: the record in memory first (the
//! truth the summary and exit status come from), then the verbose line and the
//! violation log, either of which may fail without losing anything.

use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use super::{Op, Record, Violation, ViolationLog, gentoo_format, terminal};
use crate::policy::Attempt;
use crate::policy::secrets::SecretsSet;

/// What a reported violation does to the operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Enforcement {
    /// Refused with EACCES (the default).
    Deny,
    /// Let through, but still logged (`--audit`): to see what a build needs. Never a
    /// secret's: the secrets set is refused all the same.
    AuditOnly,
}

/// Why an operation is reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Breach {
    /// The policy refuses it.
    Policy,
    /// It would change one of fusebox's own reports (the log, the trace…): refused
    /// even under `--audit`, and never learned.
    Report,
}

/// Receives every reported violation.
#[derive(Debug)]
pub struct Auditor {
    record: Arc<Record>,
    log: ViolationLog,
    verbose: bool,
    enforcement: Enforcement,
    /// Refused even under `--audit`: a run to learn what a build needs must not hand
    /// it the user's keys.
    secrets: SecretsSet,
    /// What the policy refused, each once, in order: for `--learn`.
    attempts: Mutex<(Vec<Attempt>, HashSet<Attempt>)>,
}

impl Auditor {
    pub fn new(
        record: Arc<Record>,
        log: ViolationLog,
        verbose: bool,
        enforcement: Enforcement,
    ) -> Self {
        Auditor {
            record,
            log,
            verbose,
            enforcement,
            secrets: SecretsSet::off(),
            attempts: Mutex::new(Default::default()),
        }
    }

    /// The same auditor, refusing what falls under `secrets` whatever the enforcement.
    pub fn refusing_secrets(mut self, secrets: SecretsSet) -> Self {
        self.secrets = secrets;
        self
    }

    /// Records that process `pid` attempted `op` on `path`; true when the operation
    /// may go ahead all the same (`--audit`, for a [`Breach::Policy`] on anything but
    /// a secret).
    pub fn report(&self, op: Op, path: &Path, pid: u32, breach: Breach) -> bool {
        let violation = Violation::new(op, path.to_path_buf(), command_line(pid));
        self.record.add_violation(&violation);
        if breach == Breach::Policy {
            self.note_attempt(op, path);
        }
        if self.verbose {
            terminal::eprint(&gentoo_format::denied_line(op.gentoo_name(), path));
        }
        if let Err(e) = self.log.record(&violation) {
            self.record
                .output_failed("violation log", self.log.path(), e);
        }
        breach == Breach::Policy
            && self.enforcement == Enforcement::AuditOnly
            && self.secrets.holding(path).is_none()
    }

    fn note_attempt(&self, op: Op, path: &Path) {
        let attempt = Attempt {
            access: op.access(),
            path: path.to_path_buf(),
            in_dir: matches!(op, Op::Mkdir | Op::OpenTmpfile),
            op: op.gentoo_name(),
        };
        let mut attempts = self.attempts.lock().unwrap_or_else(PoisonError::into_inner);
        if attempts.1.insert(attempt.clone()) {
            attempts.0.push(attempt);
        }
    }

    /// Every distinct access the policy refused, in order.
    pub fn attempts(&self) -> Vec<Attempt> {
        self.attempts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .0
            .clone()
    }

    /// The record the violations go to.
    pub fn record(&self) -> &Arc<Record> {
        &self.record
    }

    /// The violation log's path, as the user named it.
    pub fn log_path(&self) -> &Path {
        self.log.path()
    }

    /// The summary for stderr at exit, when there were violations: from memory.
    pub fn summary(&self) -> Option<String> {
        let (shown, more) = self.record.shown();
        if shown.is_empty() && more == 0 {
            return None;
        }
        Some(gentoo_format::summary(self.log.path(), &shown, more))
    }
}

/// `/proc/PID/cmdline` as Gentoo logs it. The daemon stays in the host PID namespace,
/// where the FUSE request's pid is valid.
pub fn command_line(pid: u32) -> String {
    match std::fs::read(format!("/proc/{pid}/cmdline")) {
        Ok(raw) => gentoo_format::cmdline_from_proc(&raw),
        Err(_) => gentoo_format::unreadable_cmdline(pid),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ops_that_write_in_a_directory_are_learned_as_it() {
        let dir = tempfile::tempdir().unwrap();
        let log = ViolationLog::create(dir.path().join("log")).unwrap();
        let auditor = Auditor::new(Arc::new(Record::new()), log, false, Enforcement::Deny);
        let pid = std::process::id();
        for (op, path) in [
            (Op::OpenTmpfile, "/src/d"),
            (Op::Mkdir, "/src/new"),
            (Op::OpenWr, "/src/f"),
        ] {
            assert!(!auditor.report(op, Path::new(path), pid, Breach::Policy));
        }
        // Twice the same: learned once, counted twice.
        assert!(!auditor.report(Op::OpenWr, Path::new("/src/f"), pid, Breach::Policy));
        let in_dir: Vec<_> = auditor
            .attempts()
            .into_iter()
            .map(|a| (a.path.display().to_string(), a.in_dir))
            .collect();
        assert_eq!(
            in_dir,
            [
                ("/src/d".into(), true),
                ("/src/new".into(), true),
                ("/src/f".into(), false)
            ]
        );
        assert_eq!(auditor.record().violations(), 4);
    }
}

#[cfg(test)]
mod report_tests {
    use super::*;

    #[test]
    fn breaches_of_reports_are_refused_even_in_audit_mode_and_not_learned() {
        let dir = tempfile::tempdir().unwrap();
        let log = ViolationLog::create(dir.path().join("log")).unwrap();
        let auditor = Auditor::new(Arc::new(Record::new()), log, false, Enforcement::AuditOnly);
        let pid = std::process::id();
        assert!(auditor.report(Op::Mkdir, Path::new("/x"), pid, Breach::Policy));
        assert!(!auditor.report(Op::Unlink, Path::new("/l"), pid, Breach::Report));
        assert_eq!(auditor.attempts().len(), 1);
        assert_eq!(auditor.record().violations(), 2);
    }

    #[test]
    fn an_unwritable_log_loses_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let log = ViolationLog::create(&path).unwrap();
        std::os::unix::fs::symlink("/dev/null", &path).unwrap();
        let auditor = Auditor::new(Arc::new(Record::new()), log, false, Enforcement::Deny);
        let pid = std::process::id();
        auditor.report(Op::Mkdir, Path::new("/a"), pid, Breach::Policy);
        auditor.report(Op::Mkdir, Path::new("/b"), pid, Breach::Policy);
        assert_eq!(auditor.record().violations(), 2);
        assert_eq!(auditor.record().failures().len(), 1);
        assert!(auditor.summary().unwrap().contains("P: /b\n"));
        assert_eq!(auditor.record().exit_status(0), 1);
    }

    #[test]
    fn audit_lets_violations_through_but_never_a_secret() {
        use crate::policy::secrets::Secret;
        let dir = tempfile::tempdir().unwrap();
        let log = ViolationLog::create(dir.path().join("log")).unwrap();
        let ssh = Secret {
            path: "/home/u/.ssh".into(),
            reason: "keys",
            real: None,
        };
        let secrets = SecretsSet::new(vec![ssh], &[], |p| vec![p.to_path_buf()]).unwrap();
        let auditor = Auditor::new(Arc::new(Record::new()), log, false, Enforcement::AuditOnly)
            .refusing_secrets(secrets);
        let pid = std::process::id();
        let report = |path: &str| auditor.report(Op::OpenRd, Path::new(path), pid, Breach::Policy);
        assert!(report("/etc/passwd"));
        assert!(!report("/home/u/.ssh/id_ed25519"));
        assert!(report("/home/u/.sshx"));
        assert_eq!(auditor.record().violations(), 3);
    }
}
