//! Command line → a validated [`Config`]. Every check that needs no kernel happens here,
//! before the first namespace is touched.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Parser, ValueEnum};

/// Run a build in a rootless sandbox: it reads the host, writes only where allowed,
/// and every file access goes through fusebox's FUSE mirror of `/`.
#[derive(Parser, Debug)]
#[command(
    name = "fusebox-run",
    version,
    about,
    override_usage = "fusebox-run [OPTIONS] [--] COMMAND [ARGS]...",
    after_help = "Exit status: COMMAND's own; 128+N if it was killed by signal N; \
                  125 if the sandbox could not be set up; 126 if COMMAND is not \
                  executable; 127 if it was not found."
)]
pub struct Args {
    /// Allow writes under PATH (repeatable). Default: the current directory, /tmp and $TMPDIR.
    #[arg(short, long = "write", value_name = "PATH")]
    pub write: Vec<PathBuf>,

    /// Inside, be your own uid/gid (self) or uid/gid 0 (root, like `unshare -r`).
    #[arg(long, value_enum, default_value_t = UidMap::SelfId, value_name = "MAP")]
    pub uid_map: UidMap,

    /// Network: share the host's (host) or a new namespace with only loopback, up (none).
    #[arg(long, value_enum, default_value_t = Net::Host, value_name = "MODE")]
    pub net: Net,

    /// Give the build its own System V IPC and POSIX message queue namespace.
    #[arg(long)]
    pub unshare_ipc: bool,

    /// Give the build its own UTS namespace with this hostname.
    #[arg(long, value_name = "NAME")]
    pub hostname: Option<String>,

    /// How to mount the mirror: inside the user namespace (direct), through the setuid
    /// fusermount3 helper, or direct with fusermount3 as the fallback (auto).
    #[arg(long, value_enum, default_value_t = MountHelper::Auto, value_name = "HOW")]
    pub mount_helper: MountHelper,

    /// Check the prerequisites, print one line for each with the fix for what fails, and exit.
    #[arg(long, conflicts_with = "command")]
    pub check: bool,

    /// The command to run, and its arguments.
    #[arg(
        value_name = "COMMAND",
        trailing_var_arg = true,
        required_unless_present = "check"
    )]
    pub command: Vec<OsString>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum UidMap {
    /// Your own uid and gid.
    #[value(name = "self")]
    SelfId,
    /// uid and gid 0.
    Root,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Net {
    Host,
    None,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum MountHelper {
    Auto,
    Direct,
    Fusermount3,
}

/// What to run, and how: the options turned into a plan.
#[derive(Clone, Debug)]
pub struct Config {
    pub command: Vec<OsString>,
    /// The working directory, the same path inside as outside.
    pub cwd: PathBuf,
    /// Absolute paths the build may write under, each also as its canonical path.
    pub write: Vec<PathBuf>,
    pub uid_map: UidMap,
    pub net: Net,
    pub unshare_ipc: bool,
    pub hostname: Option<String>,
    pub mount_helper: MountHelper,
}

impl Config {
    /// Validates `args` against the environment it runs in (cwd, $TMPDIR).
    pub fn from_args(args: Args, cwd: PathBuf, tmpdir: Option<OsString>) -> Result<Config> {
        if let Some(name) = &args.hostname {
            validate_hostname(name)?;
        }
        let given = if args.write.is_empty() {
            default_write_paths(&cwd, tmpdir)
        } else {
            args.write
        };
        let write = write_paths(&given, &cwd)?;
        Ok(Config {
            command: args.command,
            cwd,
            write,
            uid_map: args.uid_map,
            net: args.net,
            unshare_ipc: args.unshare_ipc,
            hostname: args.hostname,
            mount_helper: args.mount_helper,
        })
    }
}

/// The current directory, /tmp and $TMPDIR: where builds expect to write.
fn default_write_paths(cwd: &Path, tmpdir: Option<OsString>) -> Vec<PathBuf> {
    let mut paths = vec![cwd.to_path_buf(), PathBuf::from("/tmp")];
    paths.extend(tmpdir.filter(|t| !t.is_empty()).map(PathBuf::from));
    paths
}

/// Makes each path absolute (relative to `cwd`) and adds its canonical form, because the
/// mirror judges the physical path it resolved, while users name paths through symlinks.
/// A path that does not exist is an error: a typo would otherwise silently deny the build.
fn write_paths(given: &[PathBuf], cwd: &Path) -> Result<Vec<PathBuf>> {
    let mut paths = Vec::new();
    for path in given {
        let absolute = cwd.join(path);
        let canonical = absolute
            .canonicalize()
            .with_context(|| format!("--write {}: no such path", path.display()))?;
        for p in [lexically_normal(&absolute), canonical] {
            if !paths.contains(&p) {
                paths.push(p);
            }
        }
    }
    Ok(paths)
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

fn validate_hostname(name: &str) -> Result<()> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    if !valid {
        bail!("--hostname {name:?}: use 1 to 64 letters, digits, '-' or '.'");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(argv: &[&str]) -> Result<Args, clap::Error> {
        Args::try_parse_from(std::iter::once("fusebox-run").chain(argv.iter().copied()))
    }

    #[test]
    fn command_and_its_options_are_kept_apart() {
        let args = parse(&["-w", "/tmp", "--", "make", "-j2", "--write", "x"]).unwrap();
        assert_eq!(args.write, vec![PathBuf::from("/tmp")]);
        assert_eq!(args.command, ["make", "-j2", "--write", "x"]);
    }

    #[test]
    fn options_stop_at_the_command_without_a_double_dash() {
        let args = parse(&["sh", "-c", "exit 3"]).unwrap();
        assert_eq!(args.command, ["sh", "-c", "exit 3"]);
    }

    #[test]
    fn a_command_is_required_unless_checking() {
        assert!(parse(&[]).is_err());
        assert!(parse(&["--check"]).unwrap().check);
        assert!(parse(&["--bogus", "true"]).is_err());
    }

    #[test]
    fn value_enums_parse() {
        let args = parse(&[
            "--uid-map",
            "root",
            "--net",
            "none",
            "--mount-helper",
            "fusermount3",
            "true",
        ])
        .unwrap();
        assert_eq!(args.uid_map, UidMap::Root);
        assert_eq!(args.net, Net::None);
        assert_eq!(args.mount_helper, MountHelper::Fusermount3);
        assert!(parse(&["--uid-map", "nobody", "true"]).is_err());
    }

    #[test]
    fn default_write_paths_are_cwd_tmp_and_tmpdir() {
        let cwd = Path::new("/home/u/src");
        assert_eq!(
            default_write_paths(cwd, Some("/var/tmp/me".into())),
            [cwd, Path::new("/tmp"), Path::new("/var/tmp/me")]
        );
        assert_eq!(default_write_paths(cwd, Some("".into())).len(), 2);
    }

    #[test]
    fn write_paths_are_absolute_and_canonical() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().canonicalize().unwrap();
        std::fs::create_dir(real.join("out")).unwrap();
        std::os::unix::fs::symlink(real.join("out"), real.join("link")).unwrap();
        let paths = write_paths(&[PathBuf::from("link")], &real).unwrap();
        assert_eq!(paths, [real.join("link"), real.join("out")]);
    }

    #[test]
    fn a_missing_write_path_is_an_error_that_names_it() {
        let err = write_paths(&[PathBuf::from("/no/such/dir")], Path::new("/")).unwrap_err();
        assert!(err.to_string().contains("/no/such/dir"), "{err}");
    }

    #[test]
    fn lexical_normalisation() {
        assert_eq!(
            lexically_normal(Path::new("/a/./b/../c")),
            Path::new("/a/c")
        );
        assert_eq!(lexically_normal(Path::new("/..")), Path::new("/"));
    }

    #[test]
    fn hostnames_are_validated() {
        assert!(validate_hostname("build-1.local").is_ok());
        assert!(validate_hostname("").is_err());
        assert!(validate_hostname("a b").is_err());
    }
}
