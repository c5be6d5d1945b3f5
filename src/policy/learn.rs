//! `--learn`: from a run's violations, the smallest change to its policy under which the
//! same run would have had none, each added entry with the reason it was added, and the
//! user's DENY entries kept.

use std::path::{Path, PathBuf};

use super::{Access, List, Policy, PolicyError, file, path};

/// A refused operation, as learning needs it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Attempt {
    pub access: Access,
    pub path: PathBuf,
    /// It writes `path` as a directory (mkdir creates it, O_TMPFILE makes a file in
    /// it): allowing `path` itself is enough.
    pub in_dir: bool,
    /// The operation, in the log's names (`open_wr`, `mkdir`…), for the `# why:` line.
    pub op: &'static str,
}

impl Attempt {
    /// The entry that allows it. A directory the build creates is allowed whole (what
    /// it puts there is its own). A file is allowed alone where its directory is
    /// broad — `/`, or `$HOME` and anything in or above it (one dotfile must not open
    /// the whole home) — and elsewhere by its directory (a build that writes one file
    /// in `/var/tmp/x` usually writes its neighbours too). An entry must fit in a
    /// policy file: a name that cannot (a newline in it) is allowed by its nearest
    /// ancestor that can, unless that is `/`, `$HOME` or above it; then nothing is
    /// learned for it (`None`).
    fn scope(&self, home: Option<&Path>) -> Option<PathBuf> {
        let dir = self.path.parent().unwrap_or(Path::new("/"));
        let wanted = if self.in_dir || is_broad(dir, home) {
            &self.path
        } else {
            dir
        };
        if representable(wanted) {
            return Some(wanted.to_path_buf());
        }
        wanted
            .ancestors()
            .skip(1)
            .find(|p| representable(p))
            .filter(|p| !is_home_or_above(p, home))
            .map(Path::to_path_buf)
    }

    fn list(&self) -> List {
        match self.access {
            Access::Read => List::Read,
            Access::Write => List::Write,
        }
    }
}

/// `/`, `$HOME` or a directory above it: too much to allow for any one name.
fn is_home_or_above(dir: &Path, home: Option<&Path>) -> bool {
    dir == Path::new("/") || home.is_some_and(|home| home.starts_with(dir))
}

/// `/`, `$HOME`, a directory above it or one in it: too much to allow for one file.
fn is_broad(dir: &Path, home: Option<&Path>) -> bool {
    dir == Path::new("/") || home.is_some_and(|home| dir.starts_with(home) || home.starts_with(dir))
}

/// Whether a policy file can hold `path` (see [`Policy`]'s rules and the comment rule).
fn representable(path: &Path) -> bool {
    path.to_str()
        .is_some_and(|s| !s.contains('\n') && s.trim_end() == s && file::fits_in_a_line(s))
}

/// One entry of the learned policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Learned {
    pub list: List,
    pub path: PathBuf,
    pub reason: Reason,
}

/// Why an entry is in the learned policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reason {
    /// It was in the run's policy, and refused nothing.
    Given,
    /// Added: the first refusal it allows, and how many it allows.
    Added {
        op: &'static str,
        first: PathBuf,
        count: usize,
    },
    /// A DENY entry of the run's policy that refused what the build did: kept (it is
    /// the user's decision), with what it refused.
    KeptDeny {
        op: &'static str,
        first: PathBuf,
        count: usize,
    },
}

/// The policy `entries` widened for `violations` (what was attempted, and where), with
/// `home` the user's `$HOME`:
///
/// - every entry is kept, DENY entries too (a refusal under one is not widened: no
///   other entry could override it, and denying was the user's choice);
/// - each other refused write adds its [`Attempt::scope`] to WRITE, each refused read its
///   scope to READ;
/// - a new entry already covered by another of its list is left out, and one that
///   covers entries added before replaces them.
pub fn learn(
    entries: &[(List, PathBuf)],
    violations: &[Attempt],
    home: Option<&Path>,
) -> Vec<Learned> {
    let denied = |a: &Attempt| under_deny(entries, a);
    let mut added: Vec<(List, PathBuf)> = Vec::new();
    for attempt in violations.iter().filter(|a| !denied(a)) {
        if let Some(scope) = attempt.scope(home) {
            add_covering(entries, &mut added, attempt.list(), scope);
        }
    }
    let given = entries.iter().map(|(list, p)| {
        let refused = violations.iter().filter(|a| path::covers(p, &a.path));
        let reason = match (list, tally(refused)) {
            (List::Deny, Some((op, first, count))) => Reason::KeptDeny { op, first, count },
            _ => Reason::Given,
        };
        Learned {
            list: *list,
            path: p.clone(),
            reason,
        }
    });
    let new = added.into_iter().map(|(list, p)| {
        let allowed = violations
            .iter()
            .filter(|a| a.list() == list && !denied(a) && path::covers(&p, &a.path));
        let (op, first, count) = tally(allowed).unwrap_or(("?", p.clone(), 0));
        Learned {
            list,
            path: p,
            reason: Reason::Added { op, first, count },
        }
    });
    given.chain(new).collect()
}

/// Whether a DENY entry of `entries` refused `attempt`.
fn under_deny(entries: &[(List, PathBuf)], attempt: &Attempt) -> bool {
    entries
        .iter()
        .any(|(list, deny)| *list == List::Deny && path::covers(deny, &attempt.path))
}

/// The first attempt's op and path, and how many there are.
fn tally<'a>(
    mut attempts: impl Iterator<Item = &'a Attempt>,
) -> Option<(&'static str, PathBuf, usize)> {
    let first = attempts.next()?;
    Some((first.op, first.path.clone(), 1 + attempts.count()))
}

/// Adds `scope` to `list` in `added` unless an entry of that list (given or added)
/// covers it already; drops the added entries of that list it covers.
fn add_covering(
    given: &[(List, PathBuf)],
    added: &mut Vec<(List, PathBuf)>,
    list: List,
    scope: PathBuf,
) {
    if given
        .iter()
        .chain(added.iter())
        .any(|(l, p)| *l == list && path::covers(p, &scope))
    {
        return;
    }
    added.retain(|(l, p)| *l != list || !path::covers(&scope, p));
    added.push((list, scope));
}

/// `violations` with each attempt inside a secret (an entry of `secrets`) widened to
/// the secret itself where its scope would lie inside it: a READ entry inside a secret
/// is refused (the secret is re-allowed whole, by naming it).
pub fn clamp_to_secrets(
    violations: &[Attempt],
    secrets: &[PathBuf],
    home: Option<&Path>,
) -> Vec<Attempt> {
    violations
        .iter()
        .map(|attempt| {
            let scope = attempt.scope(home).unwrap_or_else(|| attempt.path.clone());
            match secrets
                .iter()
                .find(|s| path::covers(s, &scope) && **s != scope)
            {
                Some(secret) => Attempt {
                    path: secret.clone(),
                    in_dir: true,
                    ..attempt.clone()
                },
                None => attempt.clone(),
            }
        })
        .collect()
}

/// The entries of `secrets` that `violations` touched, each once, in the order of
/// `secrets`.
pub fn touched_secrets<'a>(violations: &[Attempt], secrets: &'a [PathBuf]) -> Vec<&'a Path> {
    secrets
        .iter()
        .filter(|s| violations.iter().any(|a| path::covers(s, &a.path)))
        .map(PathBuf::as_path)
        .collect()
}

/// The learned policy as a policy file: each added entry after a `# why:` line (the
/// operation, its first path, how many refusals it allows), each kept DENY that
/// refused something after a `# kept:` line. A secret the run touched (`secrets`, with
/// the reason it is one) is re-allowed only in a block of its own, each line under a
/// comment that says so — never silently. Fails when an entry cannot be held by a
/// policy (the run's own entries were checked before it started, so it does not).
pub fn render_learned(
    entries: &[(List, PathBuf)],
    violations: &[Attempt],
    home: Option<&Path>,
    secrets: &[(&Path, &str)],
) -> Result<String, PolicyError> {
    let learned = learn(entries, violations, home);
    let reallows = |l: &Learned| l.list == List::Read && secrets.iter().any(|(s, _)| *s == l.path);
    let learned: Vec<Learned> = learned.into_iter().filter(|l| !reallows(l)).collect();
    let pairs: Vec<(List, PathBuf)> = learned.iter().map(|l| (l.list, l.path.clone())).collect();
    Policy::from_entries(&pairs)?;
    let mut out = file::render(&[]);
    for entry in &learned {
        match &entry.reason {
            Reason::Given => {}
            Reason::Added { op, first, count } => out.push_str(&format!(
                "# why: {op} {} ({})\n",
                shown(first),
                refusals(*count)
            )),
            Reason::KeptDeny { op, first, count } => out.push_str(&format!(
                "# kept: this deny refused {op} {} ({}); remove it to allow them\n",
                shown(first),
                refusals(*count)
            )),
        }
        let norm = path::normalise(&entry.path).unwrap_or_else(|| entry.path.clone());
        file::render_entry(&mut out, entry.list, &norm.to_string_lossy());
    }
    let unlearnable = |a: &&Attempt| !under_deny(entries, a) && a.scope(home).is_none();
    for attempt in violations.iter().filter(unlearnable) {
        out.push_str(&format!(
            "# not learned (a policy file cannot hold its name): {} {}\n",
            attempt.op,
            shown(&attempt.path)
        ));
    }
    if !secrets.is_empty() {
        out.push_str(
            "# SECRETS: the run touched these entries of fusebox's secrets set, and each\n\
             # line below re-allows one to the build. Keep a line only if the build must\n\
             # read that secret; delete it to keep the secret denied.\n",
        );
    }
    for (secret, reason) in secrets {
        out.push_str(&format!("# secret re-allowed: {reason}\n"));
        let norm = path::normalise(secret).unwrap_or_else(|| secret.to_path_buf());
        file::render_entry(&mut out, List::Read, &norm.to_string_lossy());
    }
    Ok(out)
}

fn refusals(count: usize) -> String {
    match count {
        1 => "1 refusal".to_owned(),
        n => format!("{n} refusals"),
    }
}

/// A path for a comment line: control characters (a newline would end the comment)
/// escaped, non-UTF-8 bytes shown lossily.
fn shown(path: &Path) -> String {
    path.to_string_lossy().escape_debug().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::parse_policy_file;

    fn home() -> Option<&'static Path> {
        Some(Path::new("/home/u"))
    }

    fn e(list: List, p: &str) -> (List, PathBuf) {
        (list, PathBuf::from(p))
    }

    fn write(p: &str) -> Attempt {
        Attempt {
            access: Access::Write,
            path: PathBuf::from(p),
            in_dir: false,
            op: "open_wr",
        }
    }

    fn mkdir(p: &str) -> Attempt {
        Attempt {
            in_dir: true,
            op: "mkdir",
            ..write(p)
        }
    }

    fn read(p: &str) -> Attempt {
        Attempt {
            access: Access::Read,
            op: "open_rd",
            ..write(p)
        }
    }

    fn pairs(learned: &[Learned]) -> Vec<(List, PathBuf)> {
        learned.iter().map(|l| (l.list, l.path.clone())).collect()
    }

    #[test]
    fn a_directory_the_build_creates_is_learned_whole() {
        let learned = learn(
            &[],
            &[mkdir("/home/u/.cache"), write("/home/u/.cache/x/y")],
            home(),
        );
        assert_eq!(pairs(&learned), [e(List::Write, "/home/u/.cache")]);
        assert_eq!(
            learned[0].reason,
            Reason::Added {
                op: "mkdir",
                first: "/home/u/.cache".into(),
                count: 2
            }
        );
    }

    #[test]
    fn a_file_under_home_or_in_root_is_learned_alone() {
        let learned = learn(
            &[],
            &[
                write("/home/u/.bashrc"),
                write("/home/u/.config/tool/settings"),
                write("/rootfile"),
                write("/home/other-user-file"),
            ],
            home(),
        );
        assert_eq!(
            pairs(&learned),
            [
                e(List::Write, "/home/u/.bashrc"),
                e(List::Write, "/home/u/.config/tool/settings"),
                e(List::Write, "/rootfile"),
                e(List::Write, "/home/other-user-file"),
            ]
        );
    }

    #[test]
    fn elsewhere_refused_writes_add_their_directories_once() {
        let base = [e(List::Read, "/"), e(List::Write, "/src")];
        let learned = learn(
            &base,
            &[
                write("/var/cache/a"),
                write("/var/cache/b"),
                write("/src/out/x"),
            ],
            home(),
        );
        assert_eq!(
            pairs(&learned),
            [
                e(List::Read, "/"),
                e(List::Write, "/src"),
                e(List::Write, "/var/cache")
            ]
        );
        assert_eq!(
            learned[2].reason,
            Reason::Added {
                op: "open_wr",
                first: "/var/cache/a".into(),
                count: 2
            }
        );
    }

    #[test]
    fn a_wider_added_entry_replaces_the_narrower_added_ones() {
        let learned = learn(&[], &[write("/var/tmp/a/x"), mkdir("/var/tmp/a")], home());
        assert_eq!(pairs(&learned), [e(List::Write, "/var/tmp/a")]);
    }

    #[test]
    fn the_users_deny_entries_are_kept_and_what_they_refused_is_not_widened() {
        let learned = learn(
            &[
                e(List::Write, "/w"),
                e(List::Deny, "/w/secret"),
                e(List::Deny, "/w/other"),
            ],
            &[read("/w/secret/key"), read("/w/secret/key2")],
            home(),
        );
        assert_eq!(
            pairs(&learned),
            [
                e(List::Write, "/w"),
                e(List::Deny, "/w/secret"),
                e(List::Deny, "/w/other"),
            ]
        );
        assert_eq!(
            learned[1].reason,
            Reason::KeptDeny {
                op: "open_rd",
                first: "/w/secret/key".into(),
                count: 2
            }
        );
        assert_eq!(learned[2].reason, Reason::Given);
    }

    #[test]
    fn a_name_a_policy_file_cannot_hold_is_learned_by_its_directory_unless_broad() {
        let learned = learn(&[], &[write("/var/tmp/d/evil\nname")], home());
        assert_eq!(pairs(&learned), [e(List::Write, "/var/tmp/d")]);
        let violations = [write("/home/u/evil\nname"), write("/home/u/a #b")];
        assert_eq!(pairs(&learn(&[], &violations, home())), []);
        let text = render_learned(&[], &violations, home(), &[]).unwrap();
        assert!(
            text.contains(
                "# not learned (a policy file cannot hold its name): open_wr /home/u/evil\\nname\n"
            ),
            "{text}"
        );
        assert_eq!(parse_policy_file(&text).unwrap(), []);
    }

    #[test]
    fn the_rendered_policy_says_why_and_reads_back() {
        let base = [e(List::Read, "/"), e(List::Deny, "/home/u/.ssh")];
        let violations = [
            write("/home/u/.bashrc"),
            mkdir("/var/tmp/b"),
            write("/var/tmp/b/x"),
            read("/home/u/.ssh/id\nrsa"),
        ];
        let text = render_learned(&base, &violations, home(), &[]).unwrap();
        assert_eq!(
            text,
            "# fusebox policy: one \"LIST PATH\" per line; LIST is read, write, predict or deny\n\
             read /\n\
             # kept: this deny refused open_rd /home/u/.ssh/id\\nrsa (1 refusal); remove it to allow them\n\
             deny /home/u/.ssh\n\
             # why: open_wr /home/u/.bashrc (1 refusal)\n\
             write /home/u/.bashrc\n\
             # why: mkdir /var/tmp/b (2 refusals)\n\
             write /var/tmp/b\n"
        );
        assert_eq!(
            parse_policy_file(&text).unwrap(),
            pairs(&learn(&base, &violations, home()))
        );
    }

    #[test]
    fn the_learned_policy_allows_every_violation_outside_the_denies() {
        use super::super::Verdict;
        let base = [
            e(List::Read, "/usr"),
            e(List::Write, "/b"),
            e(List::Deny, "/b/x"),
        ];
        let violations = [
            read("/etc/passwd"),
            write("/b/x/y"),
            write("/usr/lib/z"),
            write("/home/u/.z"),
        ];
        let learned = pairs(&learn(&base, &violations, home()));
        let policy = Policy::from_entries(&learned).unwrap();
        for a in &violations {
            let want = if a.path.starts_with("/b/x") {
                Verdict::Deny
            } else {
                Verdict::Allow
            };
            assert_eq!(policy.check(a.access, &a.path), want, "{a:?}");
        }
    }

    #[test]
    fn unrepresentable_paths_widen_to_the_nearest_ancestor_that_is() {
        use std::ffi::OsStr;
        use std::os::unix::ffi::OsStrExt;
        let odd = PathBuf::from(OsStr::from_bytes(b"/w/bad\xff/x"));
        let learned = pairs(&learn(
            &[],
            &[
                write("/v/trailing /f"),
                Attempt {
                    path: odd,
                    ..write("")
                },
                mkdir("/n/new\nline"),
            ],
            home(),
        ));
        assert_eq!(
            learned,
            [
                e(List::Write, "/v"),
                e(List::Write, "/w"),
                e(List::Write, "/n")
            ]
        );
        assert!(Policy::from_entries(&learned).is_ok());
    }

    #[test]
    fn a_secret_is_re_allowed_whole_and_only_under_a_comment() {
        let secrets = vec![
            PathBuf::from("/h/.ssh"),
            PathBuf::from("/h/.aws/credentials"),
            PathBuf::from("/h/.gnupg"),
        ];
        let base = [e(List::Read, "/usr"), e(List::Write, "/src")];
        let violations = [
            read("/h/.ssh/keys/id_ed25519"),
            read("/h/.aws/credentials"),
            read("/etc/passwd"),
        ];
        // The scope inside ~/.ssh widens to ~/.ssh itself (a read inside a secret is
        // refused whole or not at all).
        let clamped = clamp_to_secrets(&violations, &secrets, None);
        let entries = pairs(&learn(&base, &clamped, None));
        assert!(entries.contains(&e(List::Read, "/h/.ssh")), "{entries:?}");
        let touched = touched_secrets(&violations, &secrets);
        assert_eq!(
            touched,
            [Path::new("/h/.ssh"), Path::new("/h/.aws/credentials")]
        );
        let with_reasons: Vec<(&Path, &str)> = touched.iter().map(|p| (*p, "keys")).collect();
        let text = render_learned(&base, &clamped, None, &with_reasons).unwrap();
        // Every line that names a secret follows a comment saying so.
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            if *line == "read /h/.ssh" || *line == "read /h/.aws/credentials" {
                assert!(lines[i - 1].starts_with("# secret re-allowed:"), "{text}");
            }
        }
        assert_eq!(text.matches("read /h/.ssh\n").count(), 1, "{text}");
        assert!(!text.contains(".gnupg"), "{text}");
        let parsed = parse_policy_file(&text).unwrap();
        assert!(parsed.contains(&e(List::Read, "/h/.aws/credentials")));
        assert!(parsed.contains(&e(List::Read, "/etc")));
    }
}
