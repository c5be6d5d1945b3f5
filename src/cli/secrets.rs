//! The secrets set in force for a [`Config`]: re-allowed whole by a READ entry, and
//! refused when the policy cannot hold a secret or a `--share` would expose one.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

use super::config::Config;
use crate::policy::secrets::{self, SecretsSet};
use crate::policy::{List, Policy, PolicyError, path};

impl Config {
    /// Turns the secrets set on (for the user `facts` describes) or off. A READ entry
    /// naming a secret re-allows it; one inside a secret, or a `--share` that would
    /// expose one, is an error.
    pub fn set_secrets(&mut self, on: bool, facts: &secrets::Facts) -> Result<()> {
        if !on {
            self.secrets = SecretsSet::off();
            return Ok(());
        }
        let reads: Vec<Vec<PathBuf>> = self
            .policy
            .iter()
            .filter(|(list, _)| *list == List::Read)
            .map(|(_, path)| spellings(path))
            .collect();
        self.secrets =
            SecretsSet::new(secrets::resolve(facts), &reads, spellings).map_err(|inside| {
                anyhow::anyhow!(
                    "--read {}: inside the secret {}, which can only be re-allowed whole: \
                     --read {} (fusebox-run --show-defaults lists the secrets)",
                    inside.read.display(),
                    inside.secret.display(),
                    inside.secret.display()
                )
            })?;
        self.refuse_unguardable_secrets()
    }

    /// Each denied secret must be one the policy can hold and no `--share` (which the
    /// mirror does not judge) may expose.
    fn refuse_unguardable_secrets(&self) -> Result<()> {
        for secret in &self.secrets.denied {
            // The policy's own check: what a policy file could not hold, it refuses.
            if crate::policy::Policy::empty()
                .add_resolving(List::Deny, &secret.path, |_| None)
                .is_err()
            {
                bail!(
                    "the secret {:?} ({}) cannot be held in the policy (a newline, bytes that \
                     are not UTF-8, or trailing blanks): fix the variable that names it, or \
                     use --no-default-deny",
                    secret.path,
                    secret.reason
                );
            }
            if let Some(share) = self.shares.iter().find(|share| {
                secret
                    .spellings()
                    .any(|s| path::covers(&share.path, s) || path::covers(s, &share.path))
            }) {
                bail!(
                    "--share {}: it would expose the secret {} ({}), which shared paths \
                     cannot guard; re-allow it with --read {} or share a narrower directory",
                    share.path.display(),
                    secret.path.display(),
                    secret.reason,
                    secret.path.display()
                );
            }
        }
        Ok(())
    }

    /// The policy the run enforces: the entries, then the secrets set as DENY entries.
    pub fn enforced_policy(&self) -> Vec<(List, PathBuf)> {
        let secrets = self
            .secrets
            .denied
            .iter()
            .map(|s| (List::Deny, s.path.clone()));
        self.policy.iter().cloned().chain(secrets).collect()
    }

    /// [`Config::enforced_policy`] as the policy the sandbox judges with: each entry with
    /// its realpath, the secrets' as [`SecretsSet::new`] found them (not looked up again).
    pub fn policy_in_force(&self) -> Result<Policy, PolicyError> {
        let mut policy = Policy::from_entries(&self.policy)?;
        for secret in &self.secrets.denied {
            policy.add_resolving(List::Deny, &secret.path, |_| secret.real.clone())?;
        }
        Ok(policy)
    }

    /// `--show-defaults`: the policy in force as a policy file, the secrets commented.
    pub fn show_policy(&self) -> String {
        let mut out = String::from(
            "# fusebox-run --show-defaults: the policy these options give, as a --policy file\n",
        );
        for (list, path) in &self.policy {
            out.push_str(&format!("{list} {}\n", path.display()));
        }
        out.push_str(&self.secrets.render());
        out
    }
}

/// `path` as given and as its realpath, when that exists and differs: the two ways a
/// secret or a READ entry can be spelled.
fn spellings(entry: &Path) -> Vec<PathBuf> {
    let mut names = vec![entry.to_path_buf()];
    names.extend(path::realpath(entry).filter(|real| real != entry));
    names
}
