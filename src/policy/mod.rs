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

mod file;
mod guard;
mod judge;
mod learn;
mod op;
mod path;
pub mod secrets;
mod shared;

use std::fmt;
use std::path::{Path, PathBuf};

pub use file::{ParseError, ParseErrorKind, parse_policy_file};
pub use guard::entries_moved_by;
pub use judge::{Caller, DeclarationError, Declarations, Judge, Judgment};
pub use learn::{
    Attempt, Learned, Reason, clamp_to_secrets, learn, render_learned, touched_secrets,
};
pub use op::Op;
pub use shared::SharedPolicy;

/// What an operation does to the path it names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Access {
    /// Looks at the path (open for reading, readdir, readlink, stat, exec).
    Read,
    /// Changes the path or what it holds (create, unlink, chmod, open for writing…).
    Write,
}

/// The outcome of a check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Verdict {
    Allow,
    /// Refused (EACCES) and reported: a violation for the log.
    Deny,
    /// Refused (EACCES) silently: the write was predicted (under PREDICT).
    Predict,
}

impl Verdict {
    /// Whether the operation may go ahead.
    pub fn is_allowed(&self) -> bool {
        matches!(self, Verdict::Allow)
    }

    /// Whether the refusal is a violation to log and count.
    pub fn is_reported(&self) -> bool {
        matches!(self, Verdict::Deny)
    }

    /// The lowercase name used in traces and messages.
    pub fn name(&self) -> &'static str {
        match self {
            Verdict::Allow => "allow",
            Verdict::Deny => "deny",
            Verdict::Predict => "predict",
        }
    }
}

/// One of Gentoo's four lists (`SANDBOX_READ`, `SANDBOX_WRITE`, `SANDBOX_PREDICT`,
/// `SANDBOX_DENY`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum List {
    Read,
    Write,
    Predict,
    Deny,
}

impl List {
    pub const ALL: [List; 4] = [List::Read, List::Write, List::Predict, List::Deny];

    /// The keyword naming this list in a policy file.
    pub fn keyword(self) -> &'static str {
        match self {
            List::Read => "read",
            List::Write => "write",
            List::Predict => "predict",
            List::Deny => "deny",
        }
    }

    /// The list a policy-file keyword names (exact, lowercase).
    pub fn from_keyword(word: &str) -> Option<List> {
        List::ALL.into_iter().find(|l| l.keyword() == word)
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for List {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.keyword())
    }
}

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
        let prefixes = &mut self.prefixes[list.index()];
        for p in std::iter::once(&given).chain(real.as_ref()) {
            if !prefixes.contains(p) {
                prefixes.push(p.clone());
            }
        }
        if !self.entries.iter().any(|(l, g)| *l == list && *g == given) {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> &Path {
        Path::new(s)
    }

    fn policy(entries: &[(List, &str)]) -> Policy {
        let owned: Vec<(List, PathBuf)> = entries.iter().map(|(l, s)| (*l, s.into())).collect();
        Policy::from_entries(&owned).unwrap()
    }

    #[test]
    fn protected_paths_are_readable_never_writable() {
        let mut pol = policy(&[(List::Read, "/"), (List::Write, "/w")]);
        pol.protect(p("/w/fusebox.log"));
        assert_eq!(pol.check(Access::Read, p("/w/fusebox.log")), Verdict::Allow);
        assert_eq!(pol.check(Access::Write, p("/w/fusebox.log")), Verdict::Deny);
        assert_eq!(
            pol.check(Access::Write, p("/w/fusebox.log/x")),
            Verdict::Deny
        );
        assert_eq!(
            pol.check(Access::Write, p("/w/fusebox.log2")),
            Verdict::Allow
        );
        assert_eq!(
            Policy::default().check_with(&pol, Access::Write, p("/w/fusebox.log")),
            Verdict::Deny
        );
        assert!(pol.refuses_as_protected(Access::Write, p("/w/fusebox.log")));
        assert!(!pol.refuses_as_protected(Access::Read, p("/w/fusebox.log")));
        // Not an entry: a rendered policy file does not name it.
        assert!(!pol.render().contains("fusebox.log"));
    }

    #[test]
    fn default_reads_everything_writes_nothing() {
        let d = Policy::default();
        assert_eq!(d.check(Access::Read, p("/")), Verdict::Allow);
        assert_eq!(d.check(Access::Read, p("/etc/passwd")), Verdict::Allow);
        assert_eq!(d.check(Access::Write, p("/tmp/x")), Verdict::Deny);
        assert_eq!(d.entries(), &[(List::Read, PathBuf::from("/"))]);
    }

    #[test]
    fn empty_policy_denies_reads() {
        let e = Policy::empty();
        assert_eq!(e.check(Access::Read, p("/etc/passwd")), Verdict::Deny);
        assert_eq!(e.check(Access::Write, p("/tmp")), Verdict::Deny);
    }

    #[test]
    fn read_outside_read_list_is_denied() {
        let pol = policy(&[(List::Read, "/usr"), (List::Write, "/tmp")]);
        assert_eq!(pol.check(Access::Read, p("/usr/lib/x.so")), Verdict::Allow);
        assert_eq!(pol.check(Access::Read, p("/etc/shadow")), Verdict::Deny);
        // Writable is not readable: Gentoo checks reads against READ alone.
        assert_eq!(pol.check(Access::Read, p("/tmp/a")), Verdict::Deny);
        assert_eq!(pol.check(Access::Write, p("/tmp/a")), Verdict::Allow);
    }

    #[test]
    fn writes_allowed_under_a_write_path_and_on_it() {
        let pol = Policy::new(vec!["/home/u/build".into(), "/tmp".into()]);
        assert_eq!(pol.check(Access::Write, p("/tmp")), Verdict::Allow);
        assert_eq!(pol.check(Access::Write, p("/tmp/a/b")), Verdict::Allow);
        assert_eq!(
            pol.check(Access::Write, p("/home/u/build/x.o")),
            Verdict::Allow
        );
        assert_eq!(pol.check(Access::Read, p("/etc/passwd")), Verdict::Allow);
    }

    #[test]
    fn prefix_matches_whole_components_only() {
        let pol = Policy::new(vec!["/home/u/build".into(), "/tmp".into()]);
        assert_eq!(pol.check(Access::Write, p("/tmpfoo")), Verdict::Deny);
        assert_eq!(pol.check(Access::Write, p("/tm")), Verdict::Deny);
        assert_eq!(
            pol.check(Access::Write, p("/home/u/build2/x")),
            Verdict::Deny
        );
        assert_eq!(pol.check(Access::Write, p("/home/u")), Verdict::Deny);
        assert_eq!(pol.check(Access::Write, p("/")), Verdict::Deny);
    }

    #[test]
    fn root_entry_covers_everything() {
        let pol = policy(&[(List::Write, "/")]);
        assert_eq!(pol.check(Access::Write, p("/")), Verdict::Allow);
        assert_eq!(pol.check(Access::Write, p("/any/where")), Verdict::Allow);
    }

    #[test]
    fn trailing_slashes_and_dots_in_entries_are_normalised() {
        let pol = policy(&[(List::Write, "/tmp/"), (List::Write, "/var/./x/../y//")]);
        assert_eq!(pol.check(Access::Write, p("/tmp/a")), Verdict::Allow);
        assert_eq!(pol.check(Access::Write, p("/tmpa")), Verdict::Deny);
        assert_eq!(pol.check(Access::Write, p("/var/y/z")), Verdict::Allow);
        assert_eq!(pol.check(Access::Write, p("/var/x")), Verdict::Deny);
        assert_eq!(
            pol.entries(),
            &[
                (List::Write, PathBuf::from("/tmp")),
                (List::Write, PathBuf::from("/var/y"))
            ]
        );
    }

    #[test]
    fn deny_wins_over_write_and_read() {
        let pol = policy(&[
            (List::Read, "/"),
            (List::Write, "/home/u"),
            (List::Predict, "/home/u"),
            (List::Deny, "/home/u/.ssh"),
        ]);
        assert_eq!(pol.check(Access::Write, p("/home/u/x")), Verdict::Allow);
        assert_eq!(pol.check(Access::Write, p("/home/u/.ssh")), Verdict::Deny);
        assert_eq!(
            pol.check(Access::Write, p("/home/u/.ssh/id_ed25519")),
            Verdict::Deny
        );
        assert_eq!(
            pol.check(Access::Read, p("/home/u/.ssh/id_ed25519")),
            Verdict::Deny
        );
        assert_eq!(pol.check(Access::Read, p("/home/u/.sshx")), Verdict::Allow);
    }

    #[test]
    fn predict_refuses_quietly_and_write_wins_over_it() {
        let pol = policy(&[
            (List::Read, "/"),
            (List::Write, "/var/cache/fonts"),
            (List::Predict, "/var/cache"),
        ]);
        let v = pol.check(Access::Write, p("/var/cache/ld.so.cache"));
        assert_eq!(v, Verdict::Predict);
        assert!(!v.is_allowed());
        assert!(!v.is_reported());
        assert_eq!(
            pol.check(Access::Write, p("/var/cache/fonts/x")),
            Verdict::Allow
        );
        // PREDICT is about writes; reads still go by READ.
        assert_eq!(
            pol.check(Access::Read, p("/var/cache/ld.so.cache")),
            Verdict::Allow
        );
        let d = pol.check(Access::Write, p("/var/lib/x"));
        assert_eq!(d, Verdict::Deny);
        assert!(d.is_reported());
    }

    #[test]
    fn two_policies_judge_as_one() {
        let mine = policy(&[(List::Read, "/"), (List::Write, "/build")]);
        let fusebox = policy(&[(List::Write, "/cache"), (List::Deny, "/build/secret")]);
        let check = |access, path| mine.check_with(&fusebox, access, p(path));
        assert_eq!(check(Access::Write, "/build/x"), Verdict::Allow);
        assert_eq!(check(Access::Write, "/cache/x"), Verdict::Allow);
        assert_eq!(check(Access::Write, "/etc/x"), Verdict::Deny);
        assert_eq!(check(Access::Read, "/build/secret/k"), Verdict::Deny);
        assert_eq!(check(Access::Read, "/etc/passwd"), Verdict::Allow);
        // Nothing readable in either: denied.
        let empty = Policy::empty();
        assert_eq!(
            empty.check_with(&fusebox, Access::Read, p("/etc/passwd")),
            Verdict::Deny
        );
        let predicted = policy(&[(List::Predict, "/home")]);
        assert_eq!(
            predicted.check_with(&fusebox, Access::Write, p("/home/x")),
            Verdict::Predict
        );
    }

    #[test]
    fn verdict_predicates() {
        assert!(Verdict::Allow.is_allowed());
        assert!(!Verdict::Allow.is_reported());
        assert!(!Verdict::Deny.is_allowed());
        assert!(Verdict::Deny.is_reported());
        assert_eq!(Verdict::Predict.name(), "predict");
    }

    #[test]
    fn add_rejects_relative_and_unrepresentable_paths() {
        let mut pol = Policy::empty();
        assert_eq!(
            pol.add(List::Write, p("tmp")),
            Err(PolicyError::Relative("tmp".into()))
        );
        assert_eq!(
            pol.add(List::Write, p("/a\nb")),
            Err(PolicyError::Unrepresentable("/a\nb".into()))
        );
        assert_eq!(
            pol.add(List::Write, p("/a ")),
            Err(PolicyError::Unrepresentable("/a ".into()))
        );
        assert!(pol.entries().is_empty());
        // Inner spaces are fine.
        pol.add(List::Write, p("/my dir/x y")).unwrap();
        assert_eq!(pol.check(Access::Write, p("/my dir/x y/z")), Verdict::Allow);
    }

    #[test]
    fn adding_twice_keeps_one_entry() {
        let mut pol = Policy::default();
        pol.add(List::Read, p("/")).unwrap();
        pol.add(List::Read, p("//")).unwrap();
        assert_eq!(pol.entries().len(), 1);
        assert_eq!(pol.prefixes(List::Read), &[PathBuf::from("/")]);
    }

    #[test]
    fn realpath_of_a_symlinked_entry_is_matched_too() {
        let dir = tempfile::tempdir().unwrap();
        let base = std::fs::canonicalize(dir.path()).unwrap();
        let real = base.join("real");
        std::fs::create_dir(&real).unwrap();
        let link = base.join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();

        let mut pol = Policy::default();
        pol.add(List::Write, &link).unwrap();
        // Stored as given (for render) and as its realpath (for matching).
        assert_eq!(pol.entries().last(), Some(&(List::Write, link.clone())));
        assert_eq!(pol.prefixes(List::Write), &[link.clone(), real.clone()]);
        assert_eq!(
            pol.check(Access::Write, &real.join("out.o")),
            Verdict::Allow
        );
        assert_eq!(
            pol.check(Access::Write, &link.join("out.o")),
            Verdict::Allow
        );
        assert_eq!(pol.check(Access::Write, &base.join("realx")), Verdict::Deny);

        // A deny entry through the link guards the target as well.
        let mut pol = Policy::default();
        pol.add(List::Deny, &link).unwrap();
        assert_eq!(pol.check(Access::Read, &real.join("f")), Verdict::Deny);
    }

    #[test]
    fn missing_entry_is_kept_without_realpath() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("not-yet");
        let mut pol = Policy::empty();
        pol.add(List::Write, &missing).unwrap();
        assert_eq!(pol.prefixes(List::Write), std::slice::from_ref(&missing));
    }

    #[test]
    fn list_keywords_round_trip() {
        for l in List::ALL {
            assert_eq!(List::from_keyword(l.keyword()), Some(l));
        }
        assert_eq!(List::from_keyword("Write"), None);
        assert_eq!(List::Predict.to_string(), "predict");
    }

    #[test]
    fn render_of_default_plus_writes() {
        let pol = Policy::new(vec!["/tmp".into(), "/home/u/my build".into()]);
        assert_eq!(
            pol.render(),
            "# fusebox policy: one \"LIST PATH\" per line; LIST is read, write, predict or deny\n\
             read /\n\
             write /tmp\n\
             write /home/u/my build\n"
        );
    }
}
