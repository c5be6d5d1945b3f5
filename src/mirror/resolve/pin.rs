//! An object deleted through the mirror while the kernel still held its node, kept
//! until the kernel forgets the node (see `Resolver::pin_until_forgotten`).

use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::Arc;

/// An O_PATH fd of the deleted object, and the mirror path it was deleted from (by
/// which an open of it is judged).
#[derive(Debug)]
pub struct Pin {
    pub fd: Arc<OwnedFd>,
    pub path: PathBuf,
}
