//! The policy entries of a run: the defaults (and the environment they come from),
//! then the options' and policy files' entries.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use super::args::Args;
use crate::policy::{List, parse_policy_file};

/// The variables of the caller's environment that shape the defaults.
#[derive(Clone, Debug, Default)]
pub struct HostEnv {
    pub tmpdir: Option<OsString>,
    pub home: Option<OsString>,
}

impl HostEnv {
    pub fn current() -> HostEnv {
        HostEnv {
            tmpdir: std::env::var_os("TMPDIR"),
            home: std::env::var_os("HOME"),
        }
    }
}

/// The default policy, which the options and policy files add to: READ `/`; WRITE the
/// current directory, /tmp and $TMPDIR (a build's own tree and its temporary files).
/// `--no-default-read` and `--no-default-write` leave out a list's defaults. The one
/// place the defaults are decided.
pub(super) fn default_entries(
    args: &Args,
    cwd: &Path,
    tmpdir: Option<&Path>,
) -> Vec<(List, PathBuf)> {
    let mut entries = Vec::new();
    if !args.no_default_read {
        entries.push((List::Read, PathBuf::from("/")));
    }
    if !args.no_default_write {
        for path in default_write_paths(cwd, tmpdir) {
            entries.push((List::Write, path));
        }
    }
    entries
}

/// `$TMPDIR` when it names an existing directory by an absolute path; otherwise none,
/// with a warning naming it (fusebox then uses /tmp: a stale TMPDIR must not stop
/// every run).
pub(super) fn usable_tmpdir(
    tmpdir: Option<&std::ffi::OsStr>,
    warnings: &mut Vec<String>,
) -> Option<PathBuf> {
    let tmpdir = Path::new(tmpdir.filter(|t| !t.is_empty())?);
    let problem = if !tmpdir.is_absolute() {
        "is not an absolute path"
    } else if !tmpdir.is_dir() {
        "is not an existing directory"
    } else {
        return Some(tmpdir.to_path_buf());
    };
    warnings.push(format!(
        "TMPDIR={} {problem}: using /tmp instead (the build still sees that TMPDIR)",
        as_text(tmpdir)
    ));
    None
}

/// A warning when the current directory, writable by default, is `/`, `$HOME` or a
/// directory above `$HOME`: the build could then write all of it.
pub(super) fn broad_cwd_warning(cwd: &Path, home: Option<&std::ffi::OsStr>) -> Option<String> {
    let home = home
        .filter(|h| !h.is_empty())
        .map(|h| std::fs::canonicalize(h).unwrap_or_else(|_| PathBuf::from(h)));
    let what = if cwd == Path::new("/") {
        "all of /".to_owned()
    } else if home.as_deref().is_some_and(|home| home.starts_with(cwd)) {
        format!("all of {} (your home directory is under it)", as_text(cwd))
    } else {
        return None;
    };
    Some(format!(
        "the current directory {} is writable by default, so the build may write {what}; \
         run from the build's own directory, or use --no-default-write with -w",
        as_text(cwd)
    ))
}

/// `path` for a one-line message, as it is: the line that prints it escapes control
/// characters ([`crate::audit::terminal::error_line`]).
fn as_text(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// The entries the options and policy files name, in that order, without defaults.
pub fn option_entries(args: &Args, cwd: &Path) -> Result<Vec<(List, PathBuf)>> {
    let mut entries = Vec::new();
    for (list, paths, option) in [
        (List::Read, &args.read, "--read"),
        (List::Write, &args.write, "--write"),
        (List::Predict, &args.predict, "--predict"),
        (List::Deny, &args.deny, "--deny"),
    ] {
        for path in paths {
            entries.push(entry(list, path, cwd, || {
                format!("{option} {}", path.display())
            })?);
        }
    }
    for file in &args.policy {
        let text = std::fs::read_to_string(cwd.join(file))
            .with_context(|| format!("--policy {}: cannot read it", file.display()))?;
        let parsed =
            parse_policy_file(&text).with_context(|| format!("--policy {}", file.display()))?;
        // Taken as they are (the parser insists on absolute paths): a learned policy
        // names the directories the build creates, which need not exist before it runs.
        entries.extend(parsed);
    }
    Ok(entries)
}

/// One entry from the command line: absolute, and for the lists that grant access,
/// existing (a typo would otherwise silently deny the build). Predict and deny may name
/// what does not exist yet: they are about what the build must not create.
fn entry(
    list: List,
    path: &Path,
    cwd: &Path,
    what: impl Fn() -> String,
) -> Result<(List, PathBuf)> {
    let absolute = lexically_normal(&cwd.join(path));
    if matches!(list, List::Read | List::Write) && !absolute.exists() {
        bail!("{}: no such path", what());
    }
    Ok((list, absolute))
}

/// The current directory, /tmp and $TMPDIR: where builds expect to write.
fn default_write_paths(cwd: &Path, tmpdir: Option<&Path>) -> Vec<PathBuf> {
    let mut paths = vec![cwd.to_path_buf(), PathBuf::from("/tmp")];
    paths.extend(tmpdir.map(Path::to_path_buf));
    paths
}

/// `/a/./b/../c` → `/a/c`, without touching the filesystem.
fn lexically_normal(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::from("/");
    for component in path.components() {
        match component {
            Component::Normal(name) => out.push(name),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_write_paths_are_cwd_tmp_and_tmpdir() {
        let cwd = Path::new("/home/u/src");
        assert_eq!(
            default_write_paths(cwd, Some(Path::new("/var/tmp/me"))),
            [cwd, Path::new("/tmp"), Path::new("/var/tmp/me")]
        );
        assert_eq!(default_write_paths(cwd, None).len(), 2);
    }
    #[test]
    fn lexical_normalisation() {
        assert_eq!(
            lexically_normal(Path::new("/a/./b/../c")),
            Path::new("/a/c")
        );
        assert_eq!(lexically_normal(Path::new("/..")), Path::new("/"));
    }
}
