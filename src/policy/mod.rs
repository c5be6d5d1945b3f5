//! The decision point: every operation the mirror serves is judged here.
//!
//! The semantics are Gentoo `sandbox`'s (`libsandbox/libsandbox.c`, `check_access`):
//! four lists of path prefixes, matched by whole components.
//!
//! - **DENY** wins over everything: reads and writes under it are refused and reported.
//! - **READ**: a read must fall under it (the default policy has `READ = /`).
//! - **WRITE**: a write under it is allowed.
//! - **PREDICT**: a write under it (and not under WRITE) fails with EACCES but is not
//!   reported — the build is known to try it and copes with the refusal.
//! - Any other write is refused and reported.
//!
//! Each entry is kept as given (lexically normalised) and, when it exists, as its
//! realpath too, like Gentoo's `init_env_entries`: `/var/tmp` → `/tmp` means writes
//! reported as either spelling are judged the same.
//!
//! [`SharedPolicy`] is the run-time form: the control file adds entries while the build
//! runs, until it is locked. [`parse_policy_file`] and [`Policy::render`] are the
//! `--policy FILE` format.
//!
//! The vocabulary has files of its own: [`List`] (`list.rs`), [`Access`] and
//! [`Verdict`] (`verdict.rs`), [`Op`] (`op.rs`); so do the policy file (`file.rs`), the
//! run-time forms ([`SharedPolicy`], the [`Judge`] seam), `--learn` and the secrets set.

mod file;
mod guard;
mod judge;
mod learn;
mod list;
mod op;
pub mod path;
pub mod secrets;
mod shared;
#[cfg(test)]
mod tests;
mod verdict;

use std::fmt;
use std::path::{Path, PathBuf};

pub use file::{ParseError, ParseErrorKind, parse_policy_file};
pub use guard::entries_moved_by;
pub use judge::{Caller, DeclarationError, Declarations, Judge, Judgment};
pub use learn::{
    Attempt, Learned, Reason, clamp_to_secrets, learn, render_learned, touched_secrets,
};
pub use list::List;
pub use op::Op;
pub use shared::{ChangeWatcher, SharedPolicy};
pub use verdict::{Access, Verdict};

/// Why an entry could not be added.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PolicyError {
    /// Entries are absolute: a relative one would depend on the caller's directory.
    Relative(PathBuf),
    /// The policy file format is line based and UTF-8; this path cannot be written in
    /// it (a newline, bytes that are not UTF-8, or trailing whitespace), so a policy
    /// holding it could not be rendered faithfully.
    Unrepresentable(PathBuf),
    /// The [`SharedPolicy`] was locked: no more changes (the control file maps this to
    /// EPERM).
    Locked,
    /// What serves paths outside the mirror could not make room for the entry (see
    /// [`ChangeWatcher`]); the policy is unchanged.
    NotApplied(String),
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PolicyError::Relative(p) => write!(f, "{:?} is not an absolute path", p),
            PolicyError::Unrepresentable(p) => write!(
                f,
                "{:?} cannot be written in a policy file (newline, non-UTF-8 bytes or trailing whitespace)",
                p
            ),
            PolicyError::Locked => f.write_str("the policy is locked"),
            PolicyError::NotApplied(why) => write!(f, "the entry could not be applied: {why}"),
        }
    }
}

impl std::error::Error for PolicyError {}

/// The four lists. [`Policy::default`] is Gentoo's default: `READ = /`, nothing else.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    /// The entries as given (normalised), in order, without duplicates: what
    /// [`Policy::render`] writes back.
    entries: Vec<(List, PathBuf)>,
    /// What [`Policy::check`] matches, per list: each entry and its realpath.
    prefixes: [Vec<PathBuf>; 4],
    /// fusebox's own reports (the violation log, the trace…) and the private directory
    /// of the default log: the build may read them, never write, replace, rename or
    /// remove them, whatever the lists say. Not a list of the policy file: fusebox
    /// fills it at start.
    protected: Vec<PathBuf>,
}

impl Default for Policy {
    fn default() -> Self {
        let mut p = Policy::empty();
        p.insert(List::Read, PathBuf::from("/"), None);
        p
    }
}

impl Policy {
    /// A policy with no entries at all: every read and write is denied.
    pub fn empty() -> Self {
        Policy {
            entries: Vec::new(),
            prefixes: Default::default(),
            protected: Vec::new(),
        }
    }

    /// The default policy (`READ = /`) plus writes under each of `write`.
    ///
    /// The caller passes absolute, already canonical paths (the CLI resolves them), so
    /// no realpath is looked up here; a relative one is dropped, which can only narrow
    /// what the build may do. Use [`Policy::add`] to be told about it instead.
    pub fn new(write: Vec<PathBuf>) -> Self {
        let mut p = Policy::default();
        for w in write {
            if let Some(norm) = path::normalise(&w) {
                p.insert(List::Write, norm, None);
            }
        }
        p
    }

    /// A policy holding exactly `entries` (no implicit `READ = /`), as read from a
    /// policy file. Each entry goes through [`Policy::add`].
    pub fn from_entries<'a>(
        entries: impl IntoIterator<Item = &'a (List, PathBuf)>,
    ) -> Result<Self, PolicyError> {
        let mut p = Policy::empty();
        for (list, path) in entries {
            p.add(*list, path)?;
        }
        Ok(p)
    }

    /// Adds `path` to `list`: normalised, and also as its realpath when it exists (the
    /// only I/O the policy does). Adding an entry twice is harmless.
    pub fn add(&mut self, list: List, path: &Path) -> Result<(), PolicyError> {
        self.add_resolving(list, path, path::realpath)
    }

    /// [`Policy::add`] with the entry's realpath found by `realpath` (the daemon
    /// resolves through the host root it serves, not through its own mount namespace).
    pub fn add_resolving(
        &mut self,
        list: List,
        path: &Path,
        realpath: impl Fn(&Path) -> Option<PathBuf>,
    ) -> Result<(), PolicyError> {
        let (given, real) = prepare(path, realpath)?;
        self.insert(list, given, real);
        Ok(())
    }

    /// Adds an entry made by [`prepare`].
    fn insert(&mut self, list: List, given: PathBuf, real: Option<PathBuf>) {
        // All normalised, so bytes are compared: `Path`'s `==` parses components, and a
        // run starts with ~100 entries (the secrets set), each compared with all before it.
        let same = |a: &Path, b: &Path| a.as_os_str() == b.as_os_str();
        let prefixes = &mut self.prefixes[list.index()];
        for p in std::iter::once(&given).chain(real.as_ref()) {
            if !prefixes.iter().any(|q| same(q, p)) {
                prefixes.push(p.clone());
            }
        }
        if !self
            .entries
            .iter()
            .any(|(l, g)| *l == list && same(g, &given))
        {
            self.entries.push((list, given));
        }
    }

    /// The entries as given (normalised), in the order they were added.
    pub fn entries(&self) -> &[(List, PathBuf)] {
        &self.entries
    }

    /// The prefixes `list` matches: its entries and their realpaths.
    pub fn prefixes(&self, list: List) -> &[PathBuf] {
        &self.prefixes[list.index()]
    }

    /// Whether `path` falls under `list`.
    pub fn covers(&self, list: List, path: &Path) -> bool {
        self.prefixes[list.index()]
            .iter()
            .any(|p| path::covers(p, path))
    }

    /// The DENY and PREDICT entries (and realpaths), and the protected paths (fusebox's
    /// reports), that renaming `name` would move, each to be judged as a write (see
    /// [`entries_moved_by`]).
    pub fn guarded_entries_moved_by<'a>(
        &'a self,
        name: &'a Path,
    ) -> impl Iterator<Item = &'a Path> + 'a {
        let guarded = [List::Deny, List::Predict].map(|l| &self.prefixes[l.index()]);
        entries_moved_by(name, guarded.into_iter().flatten().chain(&self.protected))
    }

    /// Judges `access` to the absolute, normalised sandbox path `path`.
    ///
    /// Allocation-free: called on every FUSE request.
    pub fn check(&self, access: Access, path: &Path) -> Verdict {
        if self.refuses_as_protected(access, path) {
            return Verdict::Deny;
        }
        verdict(access, |list| self.covers(list, path))
    }

    /// Protects `path` (and what is below it) from every write: one of fusebox's own
    /// reports. `path` is taken as the host names it (absolute, normalised); it need
    /// not be representable in a policy file.
    pub fn protect(&mut self, path: &Path) {
        if let Some(norm) = path::normalise(path)
            && !self.protected.contains(&norm)
        {
            self.protected.push(norm);
        }
    }

    /// fusebox's own reports, as [`Policy::protect`] was given them.
    pub fn protected(&self) -> &[PathBuf] {
        &self.protected
    }

    /// Whether `path` is one of fusebox's own reports, or under one.
    pub fn is_protected(&self, path: &Path) -> bool {
        self.protected.iter().any(|p| path::covers(p, path))
    }

    /// Whether `access` is a write to a protected path: refused and reported before
    /// any list is looked at.
    pub fn refuses_as_protected(&self, access: Access, path: &Path) -> bool {
        access == Access::Write && self.is_protected(path)
    }

    /// Judges `access` to `path` by the lists of `self` and `other` together, as if
    /// they were one policy (Gentoo mode: a process's own lists and fusebox's).
    ///
    /// Allocation-free, like [`Policy::check`].
    pub fn check_with(&self, other: &Policy, access: Access, path: &Path) -> Verdict {
        if self.refuses_as_protected(access, path) || other.refuses_as_protected(access, path) {
            return Verdict::Deny;
        }
        verdict(access, |list| {
            self.covers(list, path) || other.covers(list, path)
        })
    }

    /// The policy as policy-file text that [`parse_policy_file`] reads back to the same
    /// entries.
    pub fn render(&self) -> String {
        file::render(&self.entries)
    }
}

/// Gentoo's rule, given which lists cover the path.
fn verdict(access: Access, covers: impl Fn(List) -> bool) -> Verdict {
    if covers(List::Deny) {
        return Verdict::Deny;
    }
    match access {
        // Gentoo checks reads against READ only: being writable does not make a
        // path readable.
        Access::Read if covers(List::Read) => Verdict::Allow,
        Access::Read => Verdict::Deny,
        Access::Write if covers(List::Write) => Verdict::Allow,
        Access::Write if covers(List::Predict) => Verdict::Predict,
        Access::Write => Verdict::Deny,
    }
}

/// An entry as stored: `path` normalised (if it is absolute and representable in a
/// policy file) and its realpath when it exists. Separate from [`Policy::insert`] so
/// that [`SharedPolicy`] can do this I/O without holding its lock.
fn prepare(
    path: &Path,
    realpath: impl Fn(&Path) -> Option<PathBuf>,
) -> Result<(PathBuf, Option<PathBuf>), PolicyError> {
    let norm = path::normalise(path).ok_or_else(|| PolicyError::Relative(path.to_owned()))?;
    match norm.to_str() {
        Some(s) if !s.contains('\n') && s.trim_end() == s => {}
        _ => return Err(PolicyError::Unrepresentable(norm)),
    }
    let real = realpath(&norm);
    Ok((norm, real))
}
