//! The e2e harness: runs the real `fusebox-run` binary and looks at the host around it.
//!
//! - [`e2e!`] declares a test where it is written, once per mount helper ([`Helper`]), under
//!   the guards that serialise the suite ([`shared`], [`exclusive`], [`require_working`]):
//!   declare.rs.
//! - [`Sandbox`] builds one `fusebox-run` invocation (helper, options, cwd, env) and runs it
//!   with a hang guard ([`Sandbox::run`], [`Sandbox::run_sh`]) or in the background
//!   ([`Sandbox::spawn`]), returning an [`Out`]: sandbox.rs.
//! - [`Running`] owns a spawned process; dropping it SIGKILLs that process (by pid, only the one
//!   we started) if it has not been reaped, so a failing test leaves nothing behind:
//!   process.rs.
//! - Commands run natively ([`native`], [`native_sh`]) and host probes: processes by marker
//!   ([`procs_matching`]), fusebox processes ([`fusebox_procs`]), FUSE mounts
//!   ([`fuse_mounts`]): host.rs.
//! - The binary, fixtures and scripts under test, temp dirs, unique names: paths.rs.
//!
//! Environment:
//! - `FUSEBOX_BIN`: the binary under test (default: cargo's `CARGO_BIN_EXE_fusebox-run`).
//! - `FUSEBOX_FIXTURES`: the fixtures directory (default: `tests/fixtures` of the crate).
//! - `FUSEBOX_SCRIPTS`: the project's scripts directory (default: `scripts` of the crate),
//!   for the scripts the tests run (portage-prefix.sh).
//! - `FUSEBOX_PORTAGE_SDIST`: Portage's sdist, for the Portage tests (without it they
//!   download it into `~/.cache/fusebox-portage`).
//! - `FUSEBOX_STRESS`: the stress program (default: `examples/stress` next to this test
//!   executable's `deps` directory; see [`stress_bin`]).
//! - `FUSEBOX_OTHER_FS`: a directory on a separate host filesystem (scripts/test.sh mounts a
//!   tmpfs there when run as root) used by the inode test.
#![allow(dead_code)]

mod declare;
mod host;
mod paths;
mod process;
mod sandbox;

pub use declare::*;
pub use host::*;
pub use paths::*;
pub use process::*;
pub use sandbox::*;

/// The first lines of a Gentoo-format violation log (README, "Violation log").
pub const LOG_HEADER: &str = "VERSION 1.0
FORMAT: F - Function called
FORMAT: S - Access Status
FORMAT: P - Path as passed to function
FORMAT: A - Absolute Path (not canonical)
FORMAT: R - Canonical Path
FORMAT: C - Command Line
";
