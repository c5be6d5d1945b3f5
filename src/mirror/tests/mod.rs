//! The mirror core driven in-process, without a mount: a [`harness::Harness`] mirrors a
//! temporary directory and serves requests through the same `route_*` functions the
//! adapter calls for the kernel. Races with the host become deterministic: the test
//! changes the host tree between two requests.
//!
//! Each file holds one family of cases; a new test makes its tree below `h.host(..)`,
//! reaches nodes with `h.walk` or `h.lookup` as the kernel would, changes the host,
//! and asserts what the next request answers. Name it by the behaviour it pins down.

mod harness;

mod opened;
mod refused;
mod renamed;
mod reuse;
mod runs;
mod stale;
mod swapped;
