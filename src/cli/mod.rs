//! Command line → a validated [`Config`]. Every check that needs no kernel happens here,
//! before the first namespace is touched.
//!
//! - `args.rs`: the options as clap parses them ([`Args`]) and their values;
//! - `opts.rs`: `$FUSEBOX_OPTS`, whose words come before the command line's;
//! - `config.rs`: the options turned into the plan of a run ([`Config`]);
//! - `entries.rs`: the policy entries the defaults, the options and policy files give;
//! - `secrets.rs`: the secrets set in force for a [`Config`];
//! - `shares.rs`: `--share` paths, as the host names them.

mod args;
mod config;
mod entries;
mod opts;
mod secrets;
mod shares;
#[cfg(test)]
mod tests;

pub use args::{Args, Generate, MountHelper, Net, UidMap};
pub use config::{Config, LogPlace, report_plan};
pub use entries::{HostEnv, option_entries};
pub use opts::{OPTS_VAR, Parsed, UsageError, parse_with_opts, split_words};
pub use shares::{ShareAccess, SharedPath, shared_path};
