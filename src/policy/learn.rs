//! `--learn`: from a run's violations, the smallest change to its policy under which the
//! same run would have had none.

use std::path::{Path, PathBuf};

use super::{Access, List, path};

/// A refused operation, as learning needs it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Attempt {
    pub access: Access,
    pub path: PathBuf,
    /// It writes `path` as a directory (mkdir creates it, O_TMPFILE makes a file in
    /// it): allowing `path` itself is enough.
    pub in_dir: bool,
}

impl Attempt {
    /// The entry that allows it at directory granularity: the directory it creates or
    /// writes in, or the directory the file it touches is in (a build that writes one
    /// file in a directory usually writes its neighbours too).
    fn scope(&self) -> PathBuf {
        if self.in_dir {
            return self.path.clone();
        }
        self.path.parent().unwrap_or(Path::new("/")).to_path_buf()
    }
}

/// The policy `entries` widened for `violations` (what was attempted, and where):
///
/// - a DENY entry that refused anything is dropped (nothing else can override it);
/// - each refused write adds its [`Attempt::scope`] to WRITE, each refused read its
///   scope to READ;
/// - a new entry already covered by another of its list is left out, and one that
///   covers existing entries replaces them.
pub fn learn(entries: &[(List, PathBuf)], violations: &[Attempt]) -> Vec<(List, PathBuf)> {
    let mut learned: Vec<(List, PathBuf)> = entries
        .iter()
        .filter(|(list, deny)| {
            *list != List::Deny || !violations.iter().any(|a| path::covers(deny, &a.path))
        })
        .cloned()
        .collect();
    for attempt in violations {
        let list = match attempt.access {
            Access::Read => List::Read,
            Access::Write => List::Write,
        };
        add_covering(&mut learned, list, representable(attempt.scope()));
    }
    learned
}

/// `path`, or its nearest ancestor that a policy file can name (see
/// [`super::PolicyError::Unrepresentable`]): one odd file name must not make the whole
/// learned policy unwritable.
fn representable(mut path: PathBuf) -> PathBuf {
    while super::prepare(&path, |_| None).is_err() {
        if !path.pop() {
            return PathBuf::from("/");
        }
    }
    path
}

/// Adds `dir` to `list` unless an entry of that list covers it already; drops the
/// entries of that list it covers.
fn add_covering(entries: &mut Vec<(List, PathBuf)>, list: List, dir: PathBuf) {
    if entries
        .iter()
        .any(|(l, p)| *l == list && path::covers(p, &dir))
    {
        return;
    }
    entries.retain(|(l, p)| *l != list || !path::covers(&dir, p));
    entries.push((list, dir));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(list: List, p: &str) -> (List, PathBuf) {
        (list, PathBuf::from(p))
    }

    fn write(p: &str) -> Attempt {
        Attempt {
            access: Access::Write,
            path: PathBuf::from(p),
            in_dir: false,
        }
    }

    fn read(p: &str) -> Attempt {
        Attempt {
            access: Access::Read,
            ..write(p)
        }
    }

    #[test]
    fn a_refused_mkdir_learns_the_directory_itself() {
        let mkdir = Attempt {
            in_dir: true,
            ..write("/home/u/.cache")
        };
        let learned = learn(&[], &[mkdir, write("/home/u/.cache/x/y")]);
        assert_eq!(learned, [e(List::Write, "/home/u/.cache")]);
    }

    #[test]
    fn refused_writes_add_their_directories_once() {
        let base = [e(List::Read, "/"), e(List::Write, "/src")];
        let learned = learn(
            &base,
            &[
                write("/home/u/.cache/a"),
                write("/home/u/.cache/b"),
                write("/src/out/x"),
            ],
        );
        assert_eq!(
            learned,
            [
                e(List::Read, "/"),
                e(List::Write, "/src"),
                e(List::Write, "/home/u/.cache")
            ]
        );
    }

    #[test]
    fn a_wider_entry_replaces_the_narrower_ones() {
        let learned = learn(&[e(List::Write, "/var/tmp/a")], &[write("/var/tmp/x")]);
        assert_eq!(learned, [e(List::Write, "/var/tmp")]);
    }

    #[test]
    fn a_deny_that_refused_something_is_dropped_and_others_stay() {
        let learned = learn(
            &[
                e(List::Write, "/w"),
                e(List::Deny, "/w/secret"),
                e(List::Deny, "/w/other"),
            ],
            &[read("/w/secret/key")],
        );
        assert_eq!(
            learned,
            [
                e(List::Write, "/w"),
                e(List::Deny, "/w/other"),
                e(List::Read, "/w/secret")
            ]
        );
    }

    #[test]
    fn unrepresentable_paths_widen_to_the_nearest_ancestor_that_is() {
        use std::ffi::OsStr;
        use std::os::unix::ffi::OsStrExt;
        let odd = PathBuf::from(OsStr::from_bytes(b"/w/bad\xff/x"));
        let learned = learn(
            &[],
            &[
                write("/v/trailing /f"),
                Attempt {
                    path: odd,
                    ..write("")
                },
                Attempt {
                    in_dir: true,
                    ..write("/n/new\nline")
                },
            ],
        );
        assert_eq!(
            learned,
            [
                e(List::Write, "/v"),
                e(List::Write, "/w"),
                e(List::Write, "/n")
            ]
        );
        assert!(super::super::Policy::from_entries(&learned).is_ok());
    }

    #[test]
    fn the_learned_policy_allows_every_violation() {
        use super::super::{Policy, Verdict};
        let base = [
            e(List::Read, "/usr"),
            e(List::Write, "/b"),
            e(List::Deny, "/b/x"),
        ];
        let violations = [read("/etc/passwd"), write("/b/x/y"), write("/usr/lib/z")];
        let policy = Policy::from_entries(&learn(&base, &violations)).unwrap();
        for a in &violations {
            assert_eq!(policy.check(a.access, &a.path), Verdict::Allow, "{a:?}");
        }
    }
}
