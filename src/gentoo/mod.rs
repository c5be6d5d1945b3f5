//! Gentoo mode: fusebox as a drop-in for Gentoo's `sandbox`, the program Portage runs
//! each ebuild phase under (`${EPREFIX}/usr/bin/sandbox "ebuild.sh PHASE"`).
//!
//! Entered when fusebox is run as `sandbox` (a link named so) or as
//! `fusebox-run [OPTIONS] --gentoo [SANDBOX ARGS]` ([`Invocation`]). The pieces, each
//! pure and tested:
//!
//! - [`argv`]: sandbox's options and what to run ([`argv::Launch`]);
//! - [`env`]: the `SANDBOX_*` variables, the log's place, refusing to nest;
//! - [`conf`]: `${EPREFIX}/etc/sandbox.conf` and `sandbox.d/*`, with built-in copies
//!   of Gentoo's own files;
//! - [`GentooRun`]: all of it combined, as Gentoo's `setup_environ` combines it, into
//!   the command, the policy, the log and the variables of the build's environment;
//!   [`GentooRun::into_config`] adds fusebox's own options ([`fusebox_options`]);
//! - [`processes`]: while the build runs, each process judged by its own `SANDBOX_ON` and
//!   lists, as Gentoo's sandbox judges it (`addwrite` and `export SANDBOX_ON=0` in the
//!   ebuild's shell change what that shell and its children may do).

pub mod argv;
pub mod conf;
mod config;
pub mod env;
mod invocation;
pub mod processes;
mod run;
#[cfg(test)]
mod tests;

pub use config::{fusebox_options, fusebox_opts};
pub use invocation::{Invocation, SANDBOX_NAME};
pub use run::{BASH, GentooRun, PortageBuildDir};
