//! The secrets set: the user's credentials, denied to the build for reading and writing
//! unless the user re-allows them, and reported when touched.
//!
//! [`TABLE`] is the one reviewed list, each location with the reason it is there (the
//! tools' own documentation says where they keep what). A location is relative to a
//! [`Base`]; [`resolve`] turns the table into absolute paths for one user ([`Facts`]),
//! which become ordinary DENY entries of the policy — so every rule that guards a DENY
//! entry (symlinks judged on their target, hard links and renames judged as writes of
//! the entry) guards them too.
//!
//! What is deliberately left out: files builds read as configuration even though they
//! may hold a password (`~/.m2/settings.xml`, `~/.gradle/gradle.properties`,
//! `~/.config/pip/pip.conf`, `~/.gitconfig`): denying them would break ordinary builds.
//!
//! - `table.rs`: the table, [`TABLE`];
//! - `resolve.rs`: the table for one user ([`resolve`], [`Facts`]);
//! - `set.rs`: the set in force for a run, less what the user re-allowed ([`SecretsSet`]).

mod resolve;
mod set;
mod table;
#[cfg(test)]
mod tests;

pub use resolve::{Facts, Secret, resolve};
pub use set::{InsideSecret, SecretsSet};
pub use table::{Base, Location, TABLE};
