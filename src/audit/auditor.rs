//! Where refused operations go while the build runs: the violation log (written before
//! the refused call returns), the verbose line, and the count the exit summary needs.

use std::path::Path;
use std::sync::{Mutex, PoisonError};

use super::{Op, Violation, ViolationLog, gentoo};
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

/// Receives every reported violation.
#[derive(Debug)]
pub struct Auditor {
    log: ViolationLog,
    verbose: bool,
    enforcement: Enforcement,
    /// Refused even under `--audit`: a run to learn what a build needs must not hand
    /// it the user's keys.
    secrets: SecretsSet,
    /// What was refused, for `--learn`.
    attempts: Mutex<Vec<Attempt>>,
}

impl Auditor {
    pub fn new(log: ViolationLog, verbose: bool, enforcement: Enforcement) -> Self {
        Auditor {
            log,
            verbose,
            enforcement,
            secrets: SecretsSet::off(),
            attempts: Mutex::new(Vec::new()),
        }
    }

    /// The same auditor, refusing what falls under `secrets` whatever the enforcement.
    pub fn refusing_secrets(mut self, secrets: SecretsSet) -> Self {
        self.secrets = secrets;
        self
    }

    /// Records that process `pid` attempted `op` on `path`; true when the operation
    /// may go ahead all the same (`--audit`, except on a secret).
    pub fn report(&self, op: Op, path: &Path, pid: u32) -> bool {
        let violation = Violation::new(op, path.to_path_buf(), command_line(pid));
        self.attempts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Attempt {
                access: op.access(),
                path: path.to_path_buf(),
                in_dir: matches!(op, Op::Mkdir | Op::OpenTmpfile),
            });
        if self.verbose {
            eprint!("{}", gentoo::denied_line(op.gentoo_name(), path));
        }
        if let Err(e) = self.log.record(&violation) {
            eprintln!(
                "fusebox-run: cannot write the violation log {}: {e}",
                self.log.path().display()
            );
        }
        self.enforcement == Enforcement::AuditOnly && self.secrets.holding(path).is_none()
    }

    /// Every reported violation's access and path, in order.
    pub fn attempts(&self) -> Vec<Attempt> {
        self.attempts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// How many violations were reported.
    pub fn violations(&self) -> u64 {
        self.log.count()
    }

    /// The summary for stderr at exit, when there were violations.
    pub fn summary(&self) -> Option<String> {
        if self.violations() == 0 {
            return None;
        }
        let text = self
            .log
            .contents()
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_else(|e| format!("(cannot read the log: {e})\n"));
        Some(gentoo::summary(self.log.path(), &text))
    }
}

/// `/proc/PID/cmdline` as Gentoo logs it. The daemon stays in the host PID namespace,
/// where the FUSE request's pid is valid.
pub fn command_line(pid: u32) -> String {
    match std::fs::read(format!("/proc/{pid}/cmdline")) {
        Ok(raw) => gentoo::cmdline_from_proc(&raw),
        Err(_) => gentoo::unreadable_cmdline(pid),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ops_that_write_in_a_directory_are_learned_as_it() {
        let dir = tempfile::tempdir().unwrap();
        let log = ViolationLog::create(dir.path().join("log")).unwrap();
        let auditor = Auditor::new(log, false, Enforcement::Deny);
        let pid = std::process::id();
        for (op, path) in [
            (Op::OpenTmpfile, "/src/d"),
            (Op::Mkdir, "/src/new"),
            (Op::OpenWr, "/src/f"),
        ] {
            assert!(!auditor.report(op, Path::new(path), pid));
        }
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
        assert_eq!(auditor.violations(), 3);
    }

    #[test]
    fn audit_lets_violations_through_but_never_a_secret() {
        use crate::policy::secrets::Secret;
        let dir = tempfile::tempdir().unwrap();
        let log = ViolationLog::create(dir.path().join("log")).unwrap();
        let ssh = Secret {
            path: "/home/u/.ssh".into(),
            reason: "keys",
        };
        let secrets = SecretsSet::new(vec![ssh], &[], |p| vec![p.to_path_buf()]).unwrap();
        let auditor = Auditor::new(log, false, Enforcement::AuditOnly).refusing_secrets(secrets);
        let pid = std::process::id();
        assert!(auditor.report(Op::OpenRd, Path::new("/etc/passwd"), pid));
        assert!(!auditor.report(Op::OpenRd, Path::new("/home/u/.ssh/id_ed25519"), pid));
        assert!(auditor.report(Op::OpenRd, Path::new("/home/u/.sshx"), pid));
        assert_eq!(auditor.violations(), 3);
    }
}
