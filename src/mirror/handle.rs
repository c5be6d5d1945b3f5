//! File handles: the `fh` the kernel passes back indexes this table of host fds.
//!
//! A handle keeps its host fd open, so an unlinked-but-open file stays readable,
//! writable and stat-able through it, as on the host.

use std::collections::HashMap;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use fuser::Errno;

/// What a handle was opened as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A file opened for reading only.
    Read,
    /// A file opened for writing (judged as a write when it was opened).
    Write,
    /// A directory stream.
    Dir,
}

#[derive(Debug)]
pub struct Handle {
    node: u64,
    fd: OwnedFd,
    mode: Mode,
    /// The mirror path the handle was judged under when it was opened.
    path: PathBuf,
    /// Serialises seek + getdents on a directory stream (the offset lives in the fd).
    cursor: Mutex<()>,
}

impl Handle {
    pub fn new(node: u64, fd: OwnedFd, mode: Mode, path: PathBuf) -> Handle {
        Handle {
            node,
            fd,
            mode,
            path,
            cursor: Mutex::new(()),
        }
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Holds the directory stream's position for the guard's lifetime.
    pub fn lock_cursor(&self) -> MutexGuard<'_, ()> {
        self.cursor.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[derive(Debug, Default)]
pub struct Handles {
    map: Mutex<HashMap<u64, Arc<Handle>>>,
    next: AtomicU64,
}

impl Handles {
    fn lock(&self) -> MutexGuard<'_, HashMap<u64, Arc<Handle>>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stores `handle`, returning its fh (never 0, so a kernel that sends 0 for "no
    /// handle" cannot hit one).
    pub fn insert(&self, handle: Handle) -> u64 {
        let fh = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        self.lock().insert(fh, Arc::new(handle));
        fh
    }

    /// The handle `fh`, which must belong to node `ino` (EBADF otherwise).
    pub fn get(&self, fh: u64, ino: u64) -> Result<Arc<Handle>, Errno> {
        match self.lock().get(&fh) {
            Some(h) if h.node == ino => Ok(h.clone()),
            _ => Err(Errno::EBADF),
        }
    }

    /// Some open handle on node `id` (the way to an unlinked-but-open file, which has
    /// no path any more). A scan: only used once a path lookup has failed.
    pub fn any_for(&self, id: u64) -> Option<Arc<Handle>> {
        self.lock().values().find(|h| h.node == id).cloned()
    }

    /// Removes `fh`; the host fd closes when the last in-flight op using it ends.
    pub fn remove(&self, fh: u64) -> Option<Arc<Handle>> {
        self.lock().remove(&fh)
    }
}
