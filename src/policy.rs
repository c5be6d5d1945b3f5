//! The decision point: every operation the mirror serves is judged here.
//!
//! This first version knows one list, the paths the build may write. Reads are
//! always allowed. The full Gentoo-style engine (read/write/predict/deny lists,
//! violation log) replaces the body of [`Policy::check`] without changing its
//! callers.

use std::path::{Path, PathBuf};

/// What an operation does to the path it names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Looks at the path (open for reading, readdir, readlink, stat, exec).
    Read,
    /// Changes the path or what it holds (create, unlink, chmod, open for writing…).
    Write,
}

/// The outcome of a check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    /// Refused: the operation fails with EACCES.
    Deny,
}

/// The paths the build may write, matched by whole path components.
#[derive(Clone, Debug, Default)]
pub struct Policy {
    write: Vec<PathBuf>,
}

impl Policy {
    /// A policy that allows writes under each of `write` (absolute paths).
    pub fn new(write: Vec<PathBuf>) -> Self {
        Policy { write }
    }

    /// The paths writes are allowed under.
    pub fn write_paths(&self) -> &[PathBuf] {
        &self.write
    }

    /// Judges `access` to the absolute sandbox path `path`.
    pub fn check(&self, access: Access, path: &Path) -> Verdict {
        match access {
            Access::Read => Verdict::Allow,
            Access::Write if self.write.iter().any(|w| path.starts_with(w)) => Verdict::Allow,
            Access::Write => Verdict::Deny,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Policy {
        Policy::new(vec![PathBuf::from("/home/u/build"), PathBuf::from("/tmp")])
    }

    #[test]
    fn writes_allowed_under_a_write_path_and_on_it() {
        let p = policy();
        assert_eq!(p.check(Access::Write, Path::new("/tmp")), Verdict::Allow);
        assert_eq!(
            p.check(Access::Write, Path::new("/tmp/a/b")),
            Verdict::Allow
        );
        assert_eq!(
            p.check(Access::Write, Path::new("/home/u/build/x.o")),
            Verdict::Allow
        );
    }

    #[test]
    fn prefix_matches_whole_components_only() {
        let p = policy();
        assert_eq!(p.check(Access::Write, Path::new("/tmpfoo")), Verdict::Deny);
        assert_eq!(
            p.check(Access::Write, Path::new("/home/u/build2/x")),
            Verdict::Deny
        );
        assert_eq!(p.check(Access::Write, Path::new("/home/u")), Verdict::Deny);
    }

    #[test]
    fn reads_are_always_allowed() {
        assert_eq!(
            policy().check(Access::Read, Path::new("/etc/passwd")),
            Verdict::Allow
        );
    }
}
