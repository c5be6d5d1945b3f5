//! The options, as clap parses them: [`Args`], and the values they take.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};

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

    /// Serve PATH from the kernel, read-only, as /usr is (repeatable): a toolchain in
    /// /opt, say. Reads there are not judged; writes are, as anywhere.
    #[arg(long = "system-tree", value_name = "PATH")]
    pub system_tree: Vec<PathBuf>,

    /// Serve every path through the mirror: no kernel-served trees (/usr read-only, the
    /// write set's directories read-write). Slower; the default with --trace, --report,
    /// --learn, --audit and in Gentoo mode, which need every access.
    #[arg(long)]
    pub full_mirror: bool,

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
    pub generate: Option<Generate>,

    /// The command to run, and its arguments.
    #[arg(
        value_name = "COMMAND",
        trailing_var_arg = true,
        required_unless_present_any = ["check", "gentoo", "generate", "show_defaults", "from_trace"]
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

/// What `--generate` prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Generate {
    /// fusebox-run(1), in roff.
    Man,
    Bash,
    Zsh,
    Fish,
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
    fn cache_ttl_takes_seconds_within_a_day() {
        assert_eq!(parse_ttl("0"), Ok(Duration::ZERO));
        assert_eq!(parse_ttl("0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_ttl("60"), Ok(Duration::from_secs(60)));
        assert!(parse_ttl("-1").is_err());
        assert!(parse_ttl("86401").is_err());
        assert!(parse_ttl("soon").is_err());
        assert!(parse_ttl("NaN").is_err());
    }
}
