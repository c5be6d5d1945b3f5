//! The plan of a run: the options, checked against the environment they run in,
//! turned into a [`Config`].

use std::ffi::OsString;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Result, bail};

use super::args::{Args, MountHelper, Net, UidMap};
use super::entries::{HostEnv, broad_cwd_warning, default_entries, option_entries, usable_tmpdir};
use super::shares::{SharedPath, share_paths};
use crate::policy::List;
use crate::policy::secrets::{self, SecretsSet};
use crate::report::{Format, ReportPlan};
use crate::supervisor::EnvChange;

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
    pub gentoo: Option<crate::gentoo::processes::GentooLaunch>,
    /// What the user should know before the build starts (a stale $TMPDIR, a write set
    /// that takes in all of / or $HOME), one line each, without the program name.
    pub warnings: Vec<String>,
    /// `--report`: where, in which format, about which build directory.
    pub report: Option<ReportPlan>,
    /// Print the one-line footprint at the end (stderr is a terminal, no `-q`), when
    /// the mirror sees every access (see [`Config::prints_footprint`]).
    pub footprint: bool,
    /// `--full-mirror`: no kernel-served trees whatever else is asked.
    pub full_mirror: bool,
    /// The trees the kernel may serve read-only: /usr, /etc, `$EPREFIX/usr` in a
    /// Gentoo Prefix, and `--system-tree` paths; absolute, symlinks resolved, existing.
    pub system_trees: Vec<PathBuf>,
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
        let system_trees = system_trees(&args.system_tree, &cwd)?;
        let report = report_plan(args.report.as_deref(), &cwd)?;
        let footprint = !args.quiet && std::io::stderr().is_terminal();
        Ok(Config {
            report,
            footprint,
            full_mirror: args.full_mirror,
            system_trees,
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
            gentoo: None,
            warnings: Vec::new(),
        })
    }
}

impl Config {
    /// Whether the kernel may serve some trees itself (`sandbox::trees`): not when the
    /// user asked for the whole mirror, nor when something needs every access to go
    /// through it — a trace, a report, `--learn` and `--audit` (which let writes
    /// through that a read-only bind refuses), Gentoo mode (each process its own lists).
    pub fn serves_trees_from_kernel(&self) -> bool {
        !self.full_mirror
            && self.trace.is_none()
            && self.report.is_none()
            && self.learn.is_none()
            && !self.audit
            && self.gentoo.is_none()
    }

    /// The footprint counts every access: only printed when the mirror sees them all.
    pub fn prints_footprint(&self) -> bool {
        self.footprint && !self.serves_trees_from_kernel()
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

/// /usr and /etc (every exec reads `ld.so.cache`), `$EPREFIX/usr` when that exists,
/// then each of `given` (from `cwd`), which must be a directory other than /.
fn system_trees(given: &[PathBuf], cwd: &Path) -> Result<Vec<PathBuf>> {
    let eprefix = std::env::var_os("EPREFIX")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .map(|p| p.join("usr"));
    let mut trees: Vec<PathBuf> = ["/usr", "/etc"]
        .map(PathBuf::from)
        .into_iter()
        .chain(eprefix)
        .filter_map(|p| std::fs::canonicalize(p).ok())
        .collect();
    for path in given {
        let real = std::fs::canonicalize(cwd.join(path))
            .ok()
            .filter(|p| p.is_dir())
            .ok_or_else(|| {
                anyhow::anyhow!("--system-tree {}: no such directory", path.display())
            })?;
        if real == Path::new("/") {
            bail!(
                "--system-tree {}: that is all of /, which would bypass the mirror",
                path.display()
            );
        }
        trees.push(real);
    }
    trees.dedup();
    Ok(trees)
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

    #[test]
    fn hostnames_are_validated() {
        assert!(validate_hostname("build-1.local").is_ok());
        assert!(validate_hostname("").is_err());
        assert!(validate_hostname("a b").is_err());
    }
}
