//! `--learn`: from a run's violations, the smallest change to its policy under which the
//! same run would have had none.

use std::path::{Path, PathBuf};

use super::{Access, List, Policy, PolicyError, path};

/// A refused operation, as learning needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
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
        add_covering(&mut learned, list, attempt.scope());
    }
    learned
}

/// `violations` with each attempt inside a secret (an entry of `secrets`) widened to
/// the secret itself where its scope would lie inside it: a READ entry inside a secret
/// is refused (the secret is re-allowed whole, by naming it).
pub fn clamp_to_secrets(violations: &[Attempt], secrets: &[PathBuf]) -> Vec<Attempt> {
    violations
        .iter()
        .map(|attempt| {
            let scope = attempt.scope();
            match secrets
                .iter()
                .find(|s| path::covers(s, &scope) && **s != scope)
            {
                Some(secret) => Attempt {
                    access: attempt.access,
                    path: secret.clone(),
                    in_dir: true,
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

/// The learned policy as a policy file: `entries`, then each secret the run touched as
/// a `read` line (which re-allows it) under a comment that says so — never a line
/// that opens a secret silently.
pub fn render_learned(
    entries: &[(List, PathBuf)],
    secrets: &[(&Path, &str)],
) -> Result<String, PolicyError> {
    let reallows = |(list, path): &&(List, PathBuf)| {
        *list == List::Read && secrets.iter().any(|(s, _)| s == path)
    };
    let plain: Vec<(List, PathBuf)> = entries.iter().filter(|e| !reallows(e)).cloned().collect();
    let mut text = Policy::from_entries(&plain)?.render();
    if !secrets.is_empty() {
        text.push_str(
            "# SECRETS: the run touched these entries of fusebox's secrets set, and each\n\
             # line below re-allows one to the build. Keep a line only if the build must\n\
             # read that secret; delete it to keep the secret denied.\n",
        );
    }
    for (secret, reason) in secrets {
        let line = Policy::from_entries(&[(List::Read, secret.to_path_buf())])?;
        text.push_str(&format!("# secret re-allowed: {reason}\n"));
        text.push_str(&line.render().lines().skip(1).collect::<Vec<_>>().join("\n"));
        text.push('\n');
    }
    Ok(text)
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
    fn a_secret_is_re_allowed_whole_and_only_under_a_comment() {
        use super::super::parse_policy_file;
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
        // refused); the file secret's scope, its directory, is left alone.
        let clamped = clamp_to_secrets(&violations, &secrets);
        let entries = learn(&base, &clamped);
        assert!(entries.contains(&e(List::Read, "/h/.ssh")));
        assert!(entries.contains(&e(List::Read, "/h/.aws")));
        let touched = touched_secrets(&violations, &secrets);
        assert_eq!(
            touched,
            [Path::new("/h/.ssh"), Path::new("/h/.aws/credentials")]
        );
        let with_reasons: Vec<(&Path, &str)> = touched.iter().map(|p| (*p, "keys")).collect();
        let text = render_learned(&entries, &with_reasons).unwrap();
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
