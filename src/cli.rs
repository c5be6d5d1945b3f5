//! Command line → a validated [`Config`]. Every check that needs no kernel happens here,
//! before the first namespace is touched.

use std::ffi::OsString;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Parser, ValueEnum};

use crate::policy::secrets::{self, SecretsSet};
use crate::policy::{List, parse_policy_file};
use crate::report::{Format, ReportPlan};
use crate::supervisor::EnvChange;

/// Run a build in a rootless sandbox: it reads the host, writes only where allowed,
/// and every file access goes through fusebox's FUSE mirror of `/`.
#[derive(Parser, Debug)]
#[command(
    name = "fusebox-run",
    version,
    about,
    override_usage = "fusebox-run [OPTIONS] [--] COMMAND [ARGS]...",
    // FUSEBOX_OPTS comes first, so a single-valued option given again on the command
    // line overrides it rather than being an error.
    args_override_self = true,
    after_help = "Exit status: COMMAND's own; 128+N if it was killed by signal N; \
                  2 for a bad command line; 125 if the sandbox could not be set up (or its \
                  mount removed); 126 if COMMAND is not executable; 127 if it was not \
                  found. Options are also read from $FUSEBOX_OPTS, before the command line's."
)]
pub struct Args {
    /// Also allow writes under PATH (repeatable), besides the defaults: the current
    /// directory, /tmp and $TMPDIR.
    #[arg(short, long = "write", value_name = "PATH")]
    pub write: Vec<PathBuf>,

    /// Start from an empty write set: only the -w/--write paths (and policy files)
    /// are writable, not the current directory, /tmp and $TMPDIR.
    #[arg(long)]
    pub no_default_write: bool,

    /// Also allow reads under PATH (repeatable), besides the default, / (everything).
    #[arg(long = "read", value_name = "PATH")]
    pub read: Vec<PathBuf>,

    /// Start from an empty read set: only the --read paths (and policy files) are
    /// readable, not all of /.
    #[arg(long)]
    pub no_default_read: bool,

    /// Make writes under PATH fail quietly, without a violation (repeatable): for
    /// configure-style probes.
    #[arg(long = "predict", value_name = "PATH")]
    pub predict: Vec<PathBuf>,

    /// Refuse and report reads and writes under PATH, whatever else allows them (repeatable).
    #[arg(long = "deny", value_name = "PATH")]
    pub deny: Vec<PathBuf>,

    /// Turn off the built-in secrets set (SSH and GnuPG keys, cloud and registry tokens,
    /// browser profiles…), which is otherwise denied for reading and writing and
    /// reported. `--read PATH` re-allows one entry; --show-defaults lists them.
    #[arg(long, overrides_with = "default_deny")]
    pub no_default_deny: bool,

    /// Turn the secrets set on: the default, except in Gentoo mode (FUSEBOX_OPTS).
    #[arg(long, overrides_with = "no_default_deny")]
    pub default_deny: bool,

    /// Print the policy these options give (defaults and the secrets set included, one
    /// reason per secret) in the --policy file format, and exit.
    #[arg(long, conflicts_with_all = ["check", "gentoo"])]
    pub show_defaults: bool,

    /// Mount the host's own PATH, read-only, over the mirror's (repeatable): FIFOs and
    /// Unix sockets under it then reach processes outside, which through the mirror they
    /// cannot. Nothing under PATH can be changed; accesses there are not judged or traced.
    #[arg(long = "share", value_name = "PATH")]
    pub share: Vec<PathBuf>,

    /// Add the policy entries of FILE (repeatable): lines `read|write|predict|deny PATH`;
    /// `#` at the start of a line or after a blank starts a comment.
    #[arg(long = "policy", value_name = "FILE")]
    pub policy: Vec<PathBuf>,

    /// Report violations but let the operations succeed (to see what a build needs).
    #[arg(long)]
    pub audit: bool,

    /// Write violations to FILE in Gentoo's sandbox log format (created only when there
    /// is a violation; a previous sandbox log there is replaced, any other file refused).
    /// Default: violations.log in a new private directory under $XDG_RUNTIME_DIR, or
    /// else $TMPDIR or /tmp.
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
    /// cmdline, op, path, path2, verdict, errno). `-`, /dev/stdout, /dev/stderr and
    /// /dev/fd/N write to that inherited descriptor; any other FILE must be a regular
    /// file of yours or not exist.
    #[arg(long = "trace", value_name = "FILE")]
    pub trace: Option<PathBuf>,

    /// After the run, write a report of what the build read, wrote, ran and was refused,
    /// and which installed packages it used, to FILE: .html, .json or .txt.
    #[arg(long = "report", value_name = "FILE")]
    pub report: Option<PathBuf>,

    /// With --report, run nothing: make the report from TRACE, a saved --trace.
    #[arg(
        long = "from-trace",
        value_name = "TRACE",
        requires = "report",
        conflicts_with_all = ["command", "check", "gentoo"]
    )]
    pub from_trace: Option<PathBuf>,

    /// Do not print the one-line footprint at the end of the run (printed only when
    /// stderr is a terminal).
    #[arg(short, long)]
    pub quiet: bool,
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

    /// Give the build its own System V IPC and POSIX message queue namespace (the
    /// default; kept so that scripts passing it still work).
    #[arg(long, conflicts_with = "share_ipc")]
    pub unshare_ipc: bool,

    /// Share the host's System V IPC and POSIX message queues with the build (for
    /// builds that talk to a host daemon through them).
    #[arg(long)]
    pub share_ipc: bool,

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

    /// Print the man page (man) or a shell's completion script (bash, zsh, fish) and
    /// exit: for packagers (scripts/gen-docs.sh).
    #[arg(long, value_enum, value_name = "WHAT", hide = true, exclusive = true)]
    pub generate: Option<crate::docs::Generate>,

    /// The command to run, and its arguments.
    #[arg(
        value_name = "COMMAND",
        trailing_var_arg = true,
        required_unless_present_any = ["check", "gentoo", "generate", "show_defaults", "from_trace"]
    )]
    pub command: Vec<OsString>,
}

/// The environment variable whose words are fusebox-run options, read before the
/// command line's (in Gentoo mode too).
pub const OPTS_VAR: &str = "FUSEBOX_OPTS";

/// A command line that cannot be run as given: exit status 2, like clap's own errors.
/// The message names the option, file or variable the bad word came from.
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// What parsing the command line came to.
#[derive(Debug)]
pub enum Parsed {
    Args(Box<Args>),
    /// clap's own answer (help, version, or a usage error it formats itself).
    Clap(clap::Error),
    /// `$FUSEBOX_OPTS` is unusable: the message says why, naming the variable.
    Opts(UsageError),
}

/// `argv` with the words of `opts` (`$FUSEBOX_OPTS`) before its own options. The
/// variable is parsed alone first, so a bad word in it is reported as coming from it
/// rather than from the command line.
pub fn parse_with_opts(argv: &[OsString], opts: Option<&std::ffi::OsStr>) -> Parsed {
    let opts_words = match opts.map(crate::gentoo::split_words).transpose() {
        Ok(words) => words.unwrap_or_default(),
        Err(e) => return Parsed::Opts(UsageError(format!("${OPTS_VAR}: {e}"))),
    };
    if !opts_words.is_empty() {
        if let Err(e) = options_only(&opts_words, opts.unwrap_or_default()) {
            return Parsed::Opts(e);
        }
    }
    let mut words = argv.iter().take(1).cloned().collect::<Vec<_>>();
    words.extend(opts_words);
    words.extend(argv.iter().skip(1).cloned());
    match Args::try_parse_from(words) {
        Ok(args) => Parsed::Args(Box::new(args)),
        Err(e) => Parsed::Clap(e),
    }
}

/// Checks that `words` (from `$FUSEBOX_OPTS`) are fusebox-run options and nothing else.
fn options_only(words: &[OsString], raw: &std::ffi::OsStr) -> std::result::Result<(), UsageError> {
    let probe = std::iter::once(OsString::from("fusebox-run"))
        .chain(words.iter().cloned())
        .chain(["--".into(), "true".into()]);
    let from_opts = |what: String| {
        let raw = raw.to_string_lossy();
        UsageError(format!("in ${OPTS_VAR}=\"{raw}\": {what}"))
    };
    match Args::try_parse_from(probe) {
        Ok(args) if args.command == ["true"] => Ok(()),
        Ok(args) => Err(from_opts(format!(
            "takes fusebox-run options only, not {:?}",
            args.command[0]
        ))),
        // --help or --version there: the whole command line answers it.
        Err(e)
            if matches!(
                e.kind(),
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion
            ) =>
        {
            Ok(())
        }
        Err(e) => Err(from_opts(first_line(&e.to_string()))),
    }
}

/// The first line of a clap error, without its `error: ` prefix.
fn first_line(text: &str) -> String {
    let line = text.lines().next().unwrap_or_default();
    line.strip_prefix("error: ").unwrap_or(line).to_owned()
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
    /// The policy's entries, absolute, in the order given (defaults included), without
    /// the secrets set.
    pub policy: Vec<(List, PathBuf)>,
    /// The secrets set in force: DENY entries added to `policy` when the run starts.
    pub secrets: SecretsSet,
    /// Where violations are logged.
    pub log: LogPlace,
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
    /// What the user should know before the build starts (a stale $TMPDIR, a write set
    /// that takes in all of / or $HOME), one line each, without the program name.
    pub warnings: Vec<String>,
    /// `--report`: where, in which format, about which build directory.
    pub report: Option<ReportPlan>,
    /// Print the one-line footprint at the end (stderr is a terminal, no `-q`).
    pub footprint: bool,
}

impl Config {
    /// Validates `args` against the environment it runs in (cwd, $TMPDIR, $HOME).
    /// Every error is a [`UsageError`]-style problem with the command line (exit 2).
    pub fn from_args(args: Args, cwd: PathBuf, env: &HostEnv) -> Result<Config> {
        let mut warnings = Vec::new();
        let tmpdir = usable_tmpdir(env.tmpdir.as_deref(), &mut warnings);
        let mut policy = default_entries(&args, &cwd, tmpdir.as_deref());
        if !args.no_default_write {
            warnings.extend(broad_cwd_warning(&cwd, env.home.as_deref()));
        }
        policy.extend(option_entries(&args, &cwd)?);
        let log = match &args.log {
            Some(log) => LogPlace::Given(cwd.join(log)),
            None => LogPlace::Private {
                runtime_dir: std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from),
                tmp: tmpdir.unwrap_or_else(|| PathBuf::from("/tmp")),
            },
        };
        let secrets_on = !args.no_default_deny;
        let mut config = Config::assemble(args, cwd, policy, log)?;
        config.warnings = warnings;
        config.set_secrets(secrets_on, &secrets::Facts::of_this_process(&config.cwd))?;
        Ok(config)
    }

    /// Turns the secrets set on (for the user `facts` describes) or off. A READ entry
    /// naming a secret re-allows it; one inside a secret, or a `--share` that would
    /// expose one, is an error.
    pub fn set_secrets(&mut self, on: bool, facts: &secrets::Facts) -> Result<()> {
        if !on {
            self.secrets = SecretsSet::off();
            return Ok(());
        }
        let reads: Vec<Vec<PathBuf>> = self
            .policy
            .iter()
            .filter(|(list, _)| *list == List::Read)
            .map(|(_, path)| spellings(path))
            .collect();
        self.secrets =
            SecretsSet::new(secrets::resolve(facts), &reads, spellings).map_err(|inside| {
                anyhow::anyhow!(
                    "--read {}: inside the secret {}, which can only be re-allowed whole: \
                     --read {} (fusebox-run --show-defaults lists the secrets)",
                    inside.read.display(),
                    inside.secret.display(),
                    inside.secret.display()
                )
            })?;
        self.refuse_unguardable_secrets()
    }

    /// Each denied secret must be one the policy can hold and no `--share` (which the
    /// mirror does not judge) may expose.
    fn refuse_unguardable_secrets(&self) -> Result<()> {
        for secret in &self.secrets.denied {
            // The policy's own check: what a policy file could not hold, it refuses.
            if crate::policy::Policy::empty()
                .add_resolving(List::Deny, &secret.path, |_| None)
                .is_err()
            {
                bail!(
                    "the secret {:?} ({}) cannot be held in the policy (a newline, bytes that \
                     are not UTF-8, or trailing blanks): fix the variable that names it, or \
                     use --no-default-deny",
                    secret.path,
                    secret.reason
                );
            }
            if let Some(share) = self.shares.iter().find(|share| {
                spellings(&secret.path)
                    .iter()
                    .any(|s| s.starts_with(&share.path) || share.path.starts_with(s))
            }) {
                bail!(
                    "--share {}: it would expose the secret {} ({}), which shared paths \
                     cannot guard; re-allow it with --read {} or share a narrower directory",
                    share.path.display(),
                    secret.path.display(),
                    secret.reason,
                    secret.path.display()
                );
            }
        }
        Ok(())
    }

    /// The policy the run enforces: the entries, then the secrets set as DENY entries.
    pub fn enforced_policy(&self) -> Vec<(List, PathBuf)> {
        let secrets = self
            .secrets
            .denied
            .iter()
            .map(|s| (List::Deny, s.path.clone()));
        self.policy.iter().cloned().chain(secrets).collect()
    }

    /// `--show-defaults`: the policy in force as a policy file, the secrets commented.
    pub fn show_policy(&self) -> String {
        let mut out = String::from(
            "# fusebox-run --show-defaults: the policy these options give, as a --policy file\n",
        );
        for (list, path) in &self.policy {
            out.push_str(&format!("{list} {}\n", path.display()));
        }
        out.push_str(&self.secrets.render());
        out
    }

    /// The plan from `args` with the policy and log already decided (by
    /// [`Config::from_args`], or by Gentoo mode from its own variables).
    pub fn assemble(
        args: Args,
        cwd: PathBuf,
        policy: Vec<(List, PathBuf)>,
        log: LogPlace,
    ) -> Result<Config> {
        if let Some(name) = &args.hostname {
            validate_hostname(name)?;
        }
        let learn = args.learn.as_ref().map(|file| cwd.join(file));
        // `-` is standard output, not a file of the current directory.
        let trace = args
            .trace
            .as_ref()
            .map(|file| match file.as_os_str() == "-" {
                true => file.clone(),
                false => cwd.join(file),
            });
        let stats = args.stats.as_ref().map(|file| cwd.join(file));
        let shares = share_paths(&args.share, &cwd)?;
        let report = report_plan(args.report.as_deref(), &cwd)?;
        let footprint = !args.quiet && std::io::stderr().is_terminal();
        Ok(Config {
            report,
            footprint,
            command: args.command,
            shares,
            learn,
            trace,
            stats,
            cwd,
            policy,
            secrets: SecretsSet::off(),
            log,
            // Learning needs the whole run: a refusal would end it early.
            audit: args.audit || args.learn.is_some(),
            lock: args.lock,
            verbose: args.verbose,
            cache_ttl: args.cache_ttl,
            uid_map: args.uid_map,
            net: args.net,
            unshare_ipc: !args.share_ipc,
            hostname: args.hostname,
            mount_helper: args.mount_helper,
            env: Vec::new(),
            live: None,
            warnings: Vec::new(),
        })
    }
}

/// Where the violation log goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogPlace {
    /// A path the user (`--log`) or Portage (`SANDBOX_LOG`) chose.
    Given(PathBuf),
    /// `violations.log` in a directory made for this run: 0700, a random name, under
    /// `runtime_dir` (`$XDG_RUNTIME_DIR`, when it is a private directory of the user's)
    /// or else `tmp`. A guessable name in a shared directory lets another user stop
    /// the run or read the build's command lines.
    Private {
        runtime_dir: Option<PathBuf>,
        tmp: PathBuf,
    },
}

/// `--report FILE` (from `cwd`) about a build in `cwd`.
pub fn report_plan(file: Option<&Path>, cwd: &Path) -> Result<Option<ReportPlan>> {
    let Some(file) = file else { return Ok(None) };
    let format = Format::of(file).map_err(|e| anyhow::anyhow!(e))?;
    Ok(Some(ReportPlan {
        file: cwd.join(file),
        format,
        build_dir: cwd.to_path_buf(),
        portage: None,
    }))
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
fn default_entries(args: &Args, cwd: &Path, tmpdir: Option<&Path>) -> Vec<(List, PathBuf)> {
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
fn usable_tmpdir(tmpdir: Option<&std::ffi::OsStr>, warnings: &mut Vec<String>) -> Option<PathBuf> {
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
fn broad_cwd_warning(cwd: &Path, home: Option<&std::ffi::OsStr>) -> Option<String> {
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

/// `path` as given and as its realpath, when that exists and differs: the two ways a
/// secret or a READ entry can be spelled.
fn spellings(path: &Path) -> Vec<PathBuf> {
    let mut names = vec![path.to_path_buf()];
    names.extend(std::fs::canonicalize(path).ok().filter(|real| real != path));
    names
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
            default_write_paths(cwd, Some(Path::new("/var/tmp/me"))),
            [cwd, Path::new("/tmp"), Path::new("/var/tmp/me")]
        );
        assert_eq!(default_write_paths(cwd, None).len(), 2);
    }

    fn config(argv: &[&str], cwd: &Path) -> Result<Config> {
        Config::from_args(parse(argv).unwrap(), cwd.to_path_buf(), &HostEnv::default())
    }

    #[test]
    fn options_add_to_the_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let defaults = [
            (List::Read, PathBuf::from("/")),
            (List::Write, dir.path().to_path_buf()),
            (List::Write, PathBuf::from("/tmp")),
        ];
        assert_eq!(config(&["true"], dir.path()).unwrap().policy, defaults);
        let c = config(
            &["--read", "/usr", "-w", "/var", "--deny", "/x", "true"],
            dir.path(),
        )
        .unwrap();
        let mut want = defaults.to_vec();
        want.extend([
            (List::Read, PathBuf::from("/usr")),
            (List::Write, PathBuf::from("/var")),
            (List::Deny, PathBuf::from("/x")),
        ]);
        assert_eq!(c.policy, want);
    }

    #[test]
    fn no_default_options_start_a_list_empty() {
        let dir = tempfile::tempdir().unwrap();
        let c = config(&["--no-default-write", "-w", "/var", "true"], dir.path()).unwrap();
        assert_eq!(
            c.policy,
            [
                (List::Read, PathBuf::from("/")),
                (List::Write, PathBuf::from("/var"))
            ]
        );
        let c = config(&["--no-default-read", "--read", "/usr", "true"], dir.path()).unwrap();
        assert!(!c.policy.contains(&(List::Read, PathBuf::from("/"))));
        assert!(c.policy.contains(&(List::Read, PathBuf::from("/usr"))));
        // Nothing writable at all is allowed: a build that only reads.
        let c = config(&["--no-default-write", "true"], dir.path()).unwrap();
        assert!(c.policy.iter().all(|(l, _)| *l != List::Write));
    }

    #[test]
    fn a_stale_or_relative_tmpdir_falls_back_to_tmp_with_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        for bad in ["/no/such/tmp", "relative/tmp", "/etc/passwd"] {
            let env = HostEnv {
                tmpdir: Some(bad.into()),
                home: None,
            };
            let c = Config::from_args(parse(&["true"]).unwrap(), dir.path().into(), &env).unwrap();
            assert!(
                matches!(&c.log, LogPlace::Private { tmp, .. } if tmp == Path::new("/tmp")),
                "{:?}",
                c.log
            );
            assert!(
                !c.policy
                    .iter()
                    .any(|(_, p)| p.ends_with("tmp") && p != Path::new("/tmp"))
            );
            assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
            assert!(
                c.warnings[0].contains(&format!("TMPDIR={bad}")),
                "{:?}",
                c.warnings
            );
        }
        let env = HostEnv {
            tmpdir: Some(dir.path().into()),
            home: None,
        };
        let c = Config::from_args(parse(&["true"]).unwrap(), "/".into(), &env).unwrap();
        assert!(c.policy.contains(&(List::Write, dir.path().to_path_buf())));
        assert!(matches!(&c.log, LogPlace::Private { tmp, .. } if tmp == dir.path()));
    }

    #[test]
    fn a_cwd_of_root_or_home_or_above_is_warned_about() {
        let home = tempfile::tempdir().unwrap();
        let below = home.path().join("src");
        std::fs::create_dir(&below).unwrap();
        let env = HostEnv {
            tmpdir: None,
            home: Some(home.path().into()),
        };
        let warned = |cwd: &Path, argv: &[&str]| {
            let c = Config::from_args(parse(argv).unwrap(), cwd.into(), &env).unwrap();
            c.warnings.iter().any(|w| w.contains("writable by default"))
        };
        assert!(warned(Path::new("/"), &["true"]));
        assert!(warned(home.path(), &["true"]));
        assert!(warned(home.path().parent().unwrap(), &["true"]));
        assert!(!warned(&below, &["true"]));
        // Not writable by default: nothing to warn about.
        assert!(!warned(Path::new("/"), &["--no-default-write", "true"]));
    }

    fn with_opts(argv: &[&str], opts: &str) -> Parsed {
        let argv: Vec<OsString> = std::iter::once("fusebox-run")
            .chain(argv.iter().copied())
            .map(OsString::from)
            .collect();
        parse_with_opts(&argv, Some(std::ffi::OsStr::new(opts)))
    }

    #[test]
    fn fusebox_opts_come_before_the_command_line() {
        let Parsed::Args(args) = with_opts(
            &["--net", "host", "-w", "/b", "make"],
            "--net none -w /a -v",
        ) else {
            panic!("should parse");
        };
        // The command line's single value wins; lists accumulate.
        assert_eq!(args.net, Net::Host);
        assert_eq!(args.write, [PathBuf::from("/a"), PathBuf::from("/b")]);
        assert!(args.verbose);
        assert_eq!(args.command, ["make"]);
    }

    #[test]
    fn a_bad_word_in_fusebox_opts_is_named_as_coming_from_it() {
        for (opts, want) in [
            ("--bogus", "--bogus"),
            ("make -j2", "options only"),
            ("--net 'none", "unterminated"),
            ("--net sideways", "sideways"),
        ] {
            let Parsed::Opts(e) = with_opts(&["true"], opts) else {
                panic!("{opts:?} should be refused");
            };
            assert!(e.0.contains("FUSEBOX_OPTS") && e.0.contains(want), "{e}");
            assert_eq!(e.0.lines().count(), 1, "{e}");
        }
        // A bad command line with good FUSEBOX_OPTS is clap's error.
        assert!(matches!(
            with_opts(&["--bogus", "true"], "-v"),
            Parsed::Clap(_)
        ));
    }

    fn facts_for_home(home: &Path) -> crate::policy::secrets::Facts {
        crate::policy::secrets::Facts {
            homes: vec![home.to_path_buf()],
            uid: 1000,
            cwd: PathBuf::from("/nowhere"),
            ..Default::default()
        }
    }

    #[test]
    fn the_secrets_set_is_enforced_as_deny_entries_unless_turned_off() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        std::fs::create_dir_all(home.join(".ssh")).unwrap();
        let facts = facts_for_home(&home);
        let mut c = config(&["true"], dir.path()).unwrap();
        c.set_secrets(true, &facts).unwrap();
        let enforced = c.enforced_policy();
        assert_eq!(&enforced[..c.policy.len()], &c.policy[..]);
        assert!(enforced.contains(&(List::Deny, home.join(".ssh"))));
        assert!(
            enforced[c.policy.len()..]
                .iter()
                .all(|(l, _)| *l == List::Deny)
        );
        assert!(
            c.show_policy()
                .contains(&format!("deny {}\n", home.join(".ssh").display()))
        );
        c.set_secrets(false, &facts).unwrap();
        assert_eq!(c.enforced_policy(), c.policy);
        let off = config(&["--no-default-deny", "true"], dir.path()).unwrap();
        assert!(!off.secrets.on && off.secrets.denied.is_empty());
        // The last of --default-deny / --no-default-deny wins.
        let args = parse(&["--no-default-deny", "--default-deny", "true"]).unwrap();
        assert!(args.default_deny && !args.no_default_deny);
    }

    #[test]
    fn reads_inside_a_secret_and_shares_holding_one_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let home = std::fs::canonicalize(dir.path()).unwrap().join("home");
        std::fs::create_dir_all(home.join(".ssh")).unwrap();
        std::fs::write(home.join(".ssh/known_hosts"), "").unwrap();
        let facts = facts_for_home(&home);
        let known = home.join(".ssh/known_hosts");
        let mut c = config(&["--read", known.to_str().unwrap(), "true"], dir.path()).unwrap();
        let err = c.set_secrets(true, &facts).unwrap_err().to_string();
        assert!(
            err.contains(&format!("--read {}", home.join(".ssh").display())),
            "{err}"
        );
        let ssh = home.join(".ssh");
        let mut c = config(&["--read", ssh.to_str().unwrap(), "true"], dir.path()).unwrap();
        c.set_secrets(true, &facts).unwrap();
        assert_eq!(c.secrets.reallowed.len(), 1);
        let mut c = config(&["--share", home.to_str().unwrap(), "true"], dir.path()).unwrap();
        let err = c.set_secrets(true, &facts).unwrap_err().to_string();
        assert!(err.contains("would expose the secret"), "{err}");
        // Shared and re-allowed: nothing left to expose under it.
        let mut c = config(
            &[
                "--share",
                ssh.to_str().unwrap(),
                "--read",
                ssh.to_str().unwrap(),
                "true",
            ],
            dir.path(),
        )
        .unwrap();
        c.set_secrets(true, &facts).unwrap();
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
        let env = HostEnv {
            tmpdir: Some("/var/tmp".into()),
            home: None,
        };
        let c = Config::from_args(parse(&["true"]).unwrap(), PathBuf::from("/"), &env).unwrap();
        let LogPlace::Private { tmp, .. } = c.log else {
            panic!("{:?}", c.log)
        };
        assert_eq!(tmp, Path::new("/var/tmp"));
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
    fn report_options() {
        let dir = tempfile::tempdir().unwrap();
        let c = config(&["--report", "r.html", "true"], dir.path()).unwrap();
        let plan = c.report.unwrap();
        assert_eq!(plan.file, dir.path().join("r.html"));
        assert_eq!(plan.format, Format::Html);
        assert_eq!(plan.build_dir, dir.path());
        let err = config(&["--report", "r.pdf", "true"], dir.path()).unwrap_err();
        assert!(err.to_string().contains(".html, .json or .txt"), "{err}");
        let args = parse(&["--report", "r.txt", "--from-trace", "t.jsonl"]).unwrap();
        assert!(args.command.is_empty());
        assert!(
            parse(&["--from-trace", "t.jsonl"]).is_err(),
            "needs --report"
        );
        assert!(parse(&["--report", "r.txt", "--from-trace", "t", "make"]).is_err());
        assert!(parse(&["-q", "true"]).unwrap().quiet);
    }

    #[test]
    fn hostnames_are_validated() {
        assert!(validate_hostname("build-1.local").is_ok());
        assert!(validate_hostname("").is_err());
        assert!(validate_hostname("a b").is_err());
    }
}
