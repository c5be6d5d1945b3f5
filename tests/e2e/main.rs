//! End-to-end tests of `fusebox-run`: the real binary against the real kernel, as an
//! unprivileged user (scripts/test.sh arranges that when run as root).
//!
//! The tests live in the module of what they test, below. A test is a function
//! `fn name(h: Helper)`, declared on the line above it (before its doc comment):
//!
//! ```ignore
//! e2e!(shared, exit_code_is_the_commands);
//! fn exit_code_is_the_commands(h: Helper) { … }
//! ```
//!
//! which makes it two `#[test]`s, `MODULE::name::direct` and `MODULE::name::fusermount3`, one
//! per `--mount-helper`: `E2E_ARGS=name` runs both, `E2E_ARGS=name::direct` one. The kind says
//! how it shares the machine: `plain` (needs no working sandbox), `shared` (the usual), or
//! `exclusive` (counts host-wide mounts or processes, so runs alone); see `e2e!` in
//! tests/common/declare.rs.

#[path = "../common/mod.rs"]
mod common;

mod builds;
mod cli;
mod control;
mod gentoo;
mod integrity;
mod isolation;
mod lifecycle;
mod mirror;
mod namespaces;
mod packaging;
mod policy;
mod portage;
mod record;
mod report;
mod secrets;
mod stats;
mod stress;
mod terminal;
mod write_set;
