//! Command line → a validated [`Config`]. Every check that needs no kernel happens here,
//! before the first namespace is touched.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Parser, ValueEnum};

use crate::policy::{List, parse_policy_file};
use crate::supervisor::EnvChange;

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

    /// Allow reads under PATH (repeatable). Default: / (everything).
    #[arg(long = "read", value_name = "PATH")]
    pub read: Vec<PathBuf>,

    /// Make writes under PATH fail quietly, without a violation (repeatable): for
    /// configure-style probes.
    #[arg(long = "predict", value_name = "PATH")]
    pub predict: Vec<PathBuf>,

    /// Refuse and report reads and writes under PATH, whatever else allows them (repeatable).
    #[arg(long = "deny", value_name = "PATH")]
    pub deny: Vec<PathBuf>,

    /// Mount the host's own PATH, read-only, over the mirror's (repeatable): FIFOs and
    /// Unix sockets under it then reach processes outside, which through the mirror they
    /// cannot. Nothing under PATH can be changed; accesses there are not judged or traced.
    #[arg(long = "share", value_name = "PATH")]
    pub share: Vec<PathBuf>,

    /// Read policy entries from FILE: lines `read|write|predict|deny PATH`, `#` comments.
    #[arg(long = "policy", value_name = "FILE")]
    pub policy: Vec<PathBuf>,

    /// Report violations but let the operations succeed (to see what a build needs).
    #[arg(long)]
    pub audit: bool,

    /// Write violations to FILE in Gentoo's sandbox log format.
    /// Default: $TMPDIR/fusebox-UID-PID.log (created only when there is a violation).
    #[arg(long = "log", value_name = "FILE")]
    pub log: Option<PathBuf>,

    /// After the run, write to FILE the smallest widening of the policy under which the
    /// run would have had no violations (use it with --policy). Implies --audit.
    #[arg(long = "learn", value_name = "FILE")]
    pub learn: Option<PathBuf>,

    /// Refuse every change to the policy through /dev/fusebox from the start.
    #[arg(long)]
    pub lock: bool,

    /// Write every judged operation to FILE, one JSON object per line (time, pid,
    /// cmdline, op, path, path2, verdict, errno).
    #[arg(long = "trace", value_name = "FILE")]
    pub trace: Option<PathBuf>,

    /// After the run, write to FILE how many FUSE requests the mirror served, by opcode,
    /// and the CPU time fusebox-run itself used (one JSON object): what a build costs.
    #[arg(long = "stats", value_name = "FILE")]
    pub stats: Option<PathBuf>,

    /// How long the kernel may cache names, in seconds (0 = nothing cached); attributes
    /// and "no such file" answers are cached for at most 1 s. Changes the build makes are
    /// always seen at once; changes made on the host while it runs, within a second.
    #[arg(long = "cache-ttl", value_name = "SECONDS", default_value = "60", value_parser = parse_ttl)]
    pub cache_ttl: Duration,

    /// Print ` * ACCESS DENIED:  op:  path` on stderr as each violation happens.
    #[arg(short, long)]
    pub verbose: bool,

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

    /// Behave as Gentoo's `sandbox` (as when run through a link named `sandbox`): the
    /// arguments after --gentoo are sandbox's; fusebox options come before it or in
    /// $FUSEBOX_OPTS. `fusebox-run --gentoo --help` tells more.
    #[arg(long, conflicts_with = "check")]
    pub gentoo: bool,

    /// The command to run, and its arguments.
    #[arg(
        value_name = "COMMAND",
        trailing_var_arg = true,
        required_unless_present_any = ["check", "gentoo"]
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
    /// The policy's entries, absolute, in the order given (defaults included).
    pub policy: Vec<(List, PathBuf)>,
    /// Where violations are logged.
    pub log: PathBuf,
    pub audit: bool,
    /// The policy cannot be changed from inside.
    pub lock: bool,
    /// Where to write the learned policy.
    pub learn: Option<PathBuf>,
    /// Where to write the trace.
    pub trace: Option<PathBuf>,
    /// Where to write the request counts (`--stats`).
    pub stats: Option<PathBuf>,
    pub verbose: bool,
    /// How long the kernel may cache the mirror's answers.
    pub cache_ttl: Duration,
    pub uid_map: UidMap,
    pub net: Net,
    pub unshare_ipc: bool,
    pub hostname: Option<String>,
    pub mount_helper: MountHelper,
    /// `--share` paths (and Gentoo mode's Portage IPC directory): absolute, symlinks
    /// resolved, existing.
    pub shares: Vec<SharedPath>,
    /// Changes to the build's environment, in order: `Some` sets the variable, `None`
    /// removes it (Gentoo mode exports `SANDBOX_*`).
    pub env: Vec<EnvChange>,
    /// Gentoo mode: each process is judged by its own `SANDBOX_*` variables too,
    /// starting from these.
    pub live: Option<crate::gentoo::live::LiveLaunch>,
}

impl Config {
    /// Validates `args` against the environment it runs in (cwd, $TMPDIR).
    pub fn from_args(args: Args, cwd: PathBuf, tmpdir: Option<OsString>) -> Result<Config> {
        let policy = policy_entries(&args, &cwd, tmpdir.clone())?;
        let log = match &args.log {
            Some(log) => cwd.join(log),
            None => temp_dir(tmpdir).join(default_log_name()),
        };
        Config::assemble(args, cwd, policy, log)
    }

    /// The plan from `args` with the policy and log already decided (by
    /// [`Config::from_args`], or by Gentoo mode from its own variables).
    pub fn assemble(
        args: Args,
        cwd: PathBuf,
        policy: Vec<(List, PathBuf)>,
        log: PathBuf,
    ) -> Result<Config> {
        if let Some(name) = &args.hostname {
            validate_hostname(name)?;
        }
        let learn = args.learn.as_ref().map(|file| cwd.join(file));
        let trace = args.trace.as_ref().map(|file| cwd.join(file));
        let stats = args.stats.as_ref().map(|file| cwd.join(file));
        let shares = share_paths(&args.share, &cwd)?;
        Ok(Config {
            command: args.command,
            shares,
            learn,
            trace,
            stats,
            cwd,
            policy,
            log,
            // Learning needs the whole run: a refusal would end it early.
            audit: args.audit || args.learn.is_some(),
            lock: args.lock,
            verbose: args.verbose,
            cache_ttl: args.cache_ttl,
            uid_map: args.uid_map,
            net: args.net,
            unshare_ipc: args.unshare_ipc,
            hostname: args.hostname,
            mount_helper: args.mount_helper,
            env: Vec::new(),
            live: None,
        })
    }
}

/// A host path mounted over the mirror's: its FIFOs and sockets are the host's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SharedPath {
    pub path: PathBuf,
    pub access: ShareAccess,
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
fn share_paths(given: &[PathBuf], cwd: &Path) -> Result<Vec<SharedPath>> {
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
    Ok(SharedPath { path: real, access })
}

/// The policy from the options and policy files, in that order, with the defaults for
/// a list nothing names: READ `/`, and WRITE the current directory, /tmp and $TMPDIR.
fn policy_entries(
    args: &Args,
    cwd: &Path,
    tmpdir: Option<OsString>,
) -> Result<Vec<(List, PathBuf)>> {
    let mut entries = option_entries(args, cwd)?;
    let names = |entries: &[(List, PathBuf)], list| entries.iter().any(|(l, _)| *l == list);
    if !names(&entries, List::Read) {
        entries.push((List::Read, PathBuf::from("/")));
    }
    if !names(&entries, List::Write) {
        for path in default_write_paths(cwd, tmpdir) {
            entries.push((List::Write, path));
        }
    }
    Ok(entries)
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

fn temp_dir(tmpdir: Option<OsString>) -> PathBuf {
    tmpdir
        .filter(|t| !t.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp"))
}

/// The current directory, /tmp and $TMPDIR: where builds expect to write.
fn default_write_paths(cwd: &Path, tmpdir: Option<OsString>) -> Vec<PathBuf> {
    let mut paths = vec![cwd.to_path_buf(), PathBuf::from("/tmp")];
    paths.extend(tmpdir.filter(|t| !t.is_empty()).map(PathBuf::from));
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

/// The default log's name, `fusebox-UID-PID.log`: the uid keeps users sharing /tmp apart
/// (a stale log another user left under a reused pid could not be removed).
fn default_log_name() -> String {
    format!(
        "fusebox-{}-{}.log",
        nix::unistd::getuid(),
        std::process::id()
    )
}

/// `--cache-ttl`: seconds, fractions allowed, at most a day (longer gains nothing).
fn parse_ttl(text: &str) -> std::result::Result<Duration, String> {
    let secs: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number of seconds"))?;
    if !(0.0..=86_400.0).contains(&secs) {
        return Err(format!("{text}: use 0 to 86400 seconds"));
    }
    Ok(Duration::from_secs_f64(secs))
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

    fn config(argv: &[&str], cwd: &Path) -> Result<Config> {
        Config::from_args(parse(argv).unwrap(), cwd.to_path_buf(), None)
    }

    #[test]
    fn defaults_fill_the_lists_nothing_names() {
        let dir = tempfile::tempdir().unwrap();
        let c = config(&["true"], dir.path()).unwrap();
        assert_eq!(
            c.policy,
            [
                (List::Read, PathBuf::from("/")),
                (List::Write, dir.path().to_path_buf()),
                (List::Write, PathBuf::from("/tmp")),
            ]
        );
        let c = config(&["--read", "/usr", "-w", ".", "true"], dir.path()).unwrap();
        assert_eq!(
            c.policy,
            [
                (List::Read, PathBuf::from("/usr")),
                (List::Write, dir.path().to_path_buf()),
            ]
        );
    }

    #[test]
    fn policy_files_add_entries_and_report_bad_lines() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("p");
        std::fs::write(&file, "# mine\nwrite /tmp\ndeny /tmp/secret\n").unwrap();
        let c = config(&["--policy", file.to_str().unwrap(), "true"], dir.path()).unwrap();
        assert!(
            c.policy
                .contains(&(List::Deny, PathBuf::from("/tmp/secret")))
        );
        assert!(c.policy.contains(&(List::Write, PathBuf::from("/tmp"))));
        assert!(!c.policy.contains(&(List::Write, dir.path().to_path_buf())));
        std::fs::write(&file, "write /tmp\nwrte /x\n").unwrap();
        let err = config(&["--policy", file.to_str().unwrap(), "true"], dir.path()).unwrap_err();
        assert!(format!("{err:#}").contains("line 2"), "{err:#}");
    }

    #[test]
    fn a_missing_write_path_is_an_error_that_names_it() {
        let err = config(&["-w", "/no/such/dir", "true"], Path::new("/")).unwrap_err();
        assert!(err.to_string().contains("/no/such/dir"), "{err}");
        // A deny may name what does not exist yet.
        assert!(config(&["--deny", "/no/such/dir", "true"], Path::new("/")).is_ok());
    }

    #[test]
    fn the_log_defaults_to_the_temp_dir() {
        let c = Config::from_args(
            parse(&["true"]).unwrap(),
            PathBuf::from("/"),
            Some("/var/tmp".into()),
        )
        .unwrap();
        assert!(c.log.starts_with("/var/tmp"), "{}", c.log.display());
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
    fn cache_ttl_takes_seconds_within_a_day() {
        assert_eq!(parse_ttl("0"), Ok(Duration::ZERO));
        assert_eq!(parse_ttl("0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_ttl("60"), Ok(Duration::from_secs(60)));
        assert!(parse_ttl("-1").is_err());
        assert!(parse_ttl("86401").is_err());
        assert!(parse_ttl("soon").is_err());
        assert!(parse_ttl("NaN").is_err());
    }

    #[test]
    fn hostnames_are_validated() {
        assert!(validate_hostname("build-1.local").is_ok());
        assert!(validate_hostname("").is_err());
        assert!(validate_hostname("a b").is_err());
    }
}
