//! The seam between the mirror and whoever decides: the mirror asks a [`Judge`] about
//! every judged operation, for the process that made it, and never knows which rules
//! answer. Plain fusebox judges every process by one [`SharedPolicy`] (its `impl`
//! below); Gentoo mode judges each process by its own `SANDBOX_*` variables too
//! (`crate::gentoo::processes`). The composition root (`crate::sandbox`) picks one.
//!
//! Whatever the judge, fusebox's own reports stay protected: the mirror asks
//! [`SharedPolicy::refuses_as_protected`] of [`Judge::shared`] before the judge.

use std::fmt;
use std::path::{Path, PathBuf};

use super::{Op, SharedPolicy, Verdict};

/// The process a request came from: its thread id in fusebox-run's (the host's) PID
/// namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caller {
    pub pid: u32,
}

/// A judge's answer for one operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Judgment {
    pub verdict: Verdict,
    /// The caller wants the outcome in the judge's debug log: see [`Judge::debug`].
    pub debug: bool,
}

/// Why a declaration was not taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeclarationError {
    /// Not a declaration of this judge's format.
    Malformed,
}

/// Decides operations for the processes of one build.
pub trait Judge: Send + Sync + fmt::Debug {
    /// The policy shared by every process: fusebox's lists, the entries added through
    /// the control file, the protected reports, the lock.
    fn shared(&self) -> &SharedPolicy;

    /// The verdict on `op` at `path`, made by `caller`.
    fn judge(&self, op: Op, path: &Path, caller: Caller) -> Judgment;

    /// Records the verdict enforced on a judgment that asked for it (`debug` set).
    fn debug(&self, _op: Op, _path: &Path, _caller: Caller, _verdict: Verdict) {}

    /// The DENY and PREDICT entries, in `caller`'s effective policy, that renaming
    /// `name` would move: each is judged as a write before such a rename.
    fn guarded_entries_moved_by(&self, name: &Path, caller: Caller) -> Vec<PathBuf>;

    /// `caller`'s effective policy as policy-file text (what the control file reads).
    fn render(&self, caller: Caller) -> String;

    /// The form in which a process declares its own policy through the control file;
    /// `None` when this judge takes no declarations.
    fn declarations(&self) -> Option<&dyn Declarations> {
        None
    }
}

/// A judge's format for the declarations processes write to the control file. The
/// control file buffers a declaration (bounded) until it is complete, then hands it
/// over whole.
pub trait Declarations: Send + Sync {
    /// Whether a write that starts with `data` starts a declaration.
    fn starts(&self, data: &[u8]) -> bool;

    /// The length of the declaration at the start of `bytes`, once it is complete.
    fn complete(&self, bytes: &[u8]) -> Option<usize>;

    /// `caller` declares `declaration` (one whole declaration, as [`Self::complete`]
    /// delimited it).
    fn declare(&self, caller: Caller, declaration: &[u8]) -> Result<(), DeclarationError>;
}

/// Plain fusebox: every process judged by the one shared policy.
impl Judge for SharedPolicy {
    fn shared(&self) -> &SharedPolicy {
        self
    }

    fn judge(&self, op: Op, path: &Path, _caller: Caller) -> Judgment {
        Judgment {
            verdict: self.check(op.access(), path),
            debug: false,
        }
    }

    fn guarded_entries_moved_by(&self, name: &Path, _caller: Caller) -> Vec<PathBuf> {
        SharedPolicy::guarded_entries_moved_by(self, name)
    }

    fn render(&self, _caller: Caller) -> String {
        SharedPolicy::render(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{List, Policy};

    #[test]
    fn the_shared_policy_judges_every_caller_alike() {
        let judge = SharedPolicy::new(Policy::new(vec!["/w".into()]));
        judge.add(List::Deny, Path::new("/w/secret")).unwrap();
        for pid in [1, 77] {
            let caller = Caller { pid };
            let at = |op, path: &str| judge.judge(op, Path::new(path), caller).verdict;
            assert_eq!(at(Op::OpenWr, "/w/x"), Verdict::Allow);
            assert_eq!(at(Op::OpenWr, "/usr/x"), Verdict::Deny);
            assert_eq!(at(Op::OpenRd, "/w/secret/k"), Verdict::Deny);
            assert_eq!(
                Judge::guarded_entries_moved_by(&judge, Path::new("/w"), caller),
                vec![PathBuf::from("/w/secret")]
            );
            assert!(Judge::render(&judge, caller).contains("/w/secret"));
        }
        assert!(judge.declarations().is_none());
    }
}
