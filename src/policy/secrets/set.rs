//! The secrets set in force for a run: the entries denied, and those the user
//! re-allowed (a READ entry naming one).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::resolve::Secret;
use crate::policy::path;

/// The set in force for a run: the entries denied, and those the user re-allowed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SecretsSet {
    pub denied: Vec<Secret>,
    pub reallowed: Vec<Secret>,
    /// Whether the set is on at all (`--no-default-deny`, or Gentoo mode without
    /// `--default-deny`, turns it off).
    pub on: bool,
}

/// A READ entry that lies inside a secret: a DENY entry cannot have holes, so the
/// user must re-allow the secret whole, knowingly.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InsideSecret {
    pub read: PathBuf,
    pub secret: PathBuf,
}

impl SecretsSet {
    /// `secrets` with each one a READ entry names re-allowed, together with the
    /// entries inside it (`--read ~/.ssh` lets the agent socket below it go too). `reads`
    /// are the READ entries, each with its other spellings (its realpath); `spellings`
    /// gives a secret's (itself and its realpath when it exists). A READ entry inside an
    /// entry that stays denied is an error.
    pub fn new(
        secrets: Vec<Secret>,
        reads: &[Vec<PathBuf>],
        spellings: impl Fn(&Path) -> Vec<PathBuf>,
    ) -> Result<SecretsSet, InsideSecret> {
        let named: Vec<Vec<PathBuf>> = secrets.iter().map(|s| spellings(&s.path)).collect();
        let is_named = |names: &[PathBuf]| {
            reads
                .iter()
                .flatten()
                .any(|read| names.iter().any(|n| same(n, read)))
        };
        let reallowed_roots: Vec<&PathBuf> = named
            .iter()
            .filter(|names| is_named(names))
            .flatten()
            .collect();
        let mut set = SecretsSet {
            on: true,
            ..SecretsSet::default()
        };
        for (mut secret, names) in secrets.into_iter().zip(&named) {
            secret.real = names.iter().find(|n| !same(n, &secret.path)).cloned();
            let reallowed = names
                .iter()
                .any(|n| reallowed_roots.iter().any(|root| path::covers(root, n)));
            if reallowed {
                set.reallowed.push(secret);
                continue;
            }
            let inside = reads.iter().find(|read| {
                read.iter()
                    .any(|r| names.iter().any(|n| path::covers(n, r) && !same(n, r)))
            });
            if let Some(read) = inside {
                return Err(InsideSecret {
                    read: read[0].clone(),
                    secret: secret.path,
                });
            }
            set.denied.push(secret);
        }
        Ok(set)
    }

    /// The set turned off.
    pub fn off() -> SecretsSet {
        SecretsSet::default()
    }

    /// The denied paths.
    pub fn paths(&self) -> Vec<PathBuf> {
        self.denied.iter().map(|s| s.path.clone()).collect()
    }

    /// The secret `path` falls under, if any.
    pub fn holding(&self, path: &Path) -> Option<&Secret> {
        self.denied.iter().find(|s| path::covers(&s.path, path))
    }

    /// The set as policy-file lines with a comment each, for `--show-defaults`.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if !self.on {
            out.push_str("# The secrets set is off (--no-default-deny, or Gentoo mode).\n");
            return out;
        }
        out.push_str(
            "# The secrets set: denied for reading and writing, each touch reported.\n\
             # Re-allow one with --read PATH (PATH as listed); --no-default-deny turns all off.\n",
        );
        for secret in &self.denied {
            let _ = write!(out, "# {}\ndeny {}\n", secret.reason, secret.path.display());
        }
        for secret in &self.reallowed {
            let _ = writeln!(
                out,
                "# re-allowed by --read: {} ({})",
                secret.path.display(),
                secret.reason
            );
        }
        out
    }
}

/// Whether two normalised paths are the same: their bytes, not their components, are
/// compared (`Path`'s `==` parses both, and this runs secrets × READ entries times at
/// every start).
fn same(a: &Path, b: &Path) -> bool {
    a.as_os_str() == b.as_os_str()
}
