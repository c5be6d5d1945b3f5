//! `--share` paths: host paths mounted over the mirror's, as the host names them.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// A host path mounted over the mirror's: its FIFOs and sockets are the host's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SharedPath {
    pub path: PathBuf,
    pub access: ShareAccess,
    /// Bound by fusebox for speed (`sandbox::trees`), not asked for by `--share`.
    pub kernel_tree: bool,
}

/// What the build may do under a shared path, which the policy does not see.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShareAccess {
    /// Nothing can be created, changed or removed (`--share`).
    ReadOnly,
    /// Everything the host lets the user do: only for Portage's own IPC directory,
    /// whose lock file Portage's daemon outside and the build's ebuild-ipc both open
    /// for writing and lock (Gentoo mode).
    ReadWrite,
}

/// `--share` paths as the host names them; each must exist and be below `/`.
pub(super) fn share_paths(given: &[PathBuf], cwd: &Path) -> Result<Vec<SharedPath>> {
    given
        .iter()
        .map(|path| shared_path(path, cwd, ShareAccess::ReadOnly))
        .collect()
}

/// `path` (from `cwd`) as the host names it, to be shared with `access`.
pub fn shared_path(path: &Path, cwd: &Path, access: ShareAccess) -> Result<SharedPath> {
    let real = std::fs::canonicalize(cwd.join(path))
        .with_context(|| format!("--share {}: no such file or directory", path.display()))?;
    if real == Path::new("/") {
        bail!(
            "--share {}: that is all of /, which would bypass the mirror",
            path.display()
        );
    }
    Ok(SharedPath {
        path: real,
        access,
        kernel_tree: false,
    })
}
