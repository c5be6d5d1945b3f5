//! fusebox: a rootless build sandbox whose root filesystem is a FUSE mirror of the host.
//!
//! The process tree, set up in this order (see [`sandbox::run`]):
//!
//! ```text
//! fusebox-run (outside, host PID namespace)
//!  ├─ mirror threads: serve the FUSE mirror of `/`, resolving every request from an
//!  │   O_PATH fd of the host root taken before any namespace was entered
//!  └─ supervisor (main thread): forwards signals, waits for PID 1, returns its status
//!      └─ PID 1 = fusebox init (new PID + mount namespaces, pivot_root'ed into the mirror)
//!          └─ COMMAND (the build), in its own user namespace with the requested uid map
//! ```
#![deny(unsafe_code)]

pub mod audit;
pub mod check;
pub mod cli;
pub mod docs;
pub mod gentoo;
pub mod mirror;
pub mod policy;
pub mod report;
pub mod sandbox;
pub mod supervisor;
pub mod sys;
