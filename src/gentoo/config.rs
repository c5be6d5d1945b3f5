//! fusebox's own options in Gentoo mode: where they come from (`$FUSEBOX_OPTS`, the
//! configuration files), and the plan they make with a launch
//! ([`GentooRun::into_config`]).

use std::ffi::{OsStr, OsString};
use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Parser;

use super::conf::ConfFiles;
use super::env::Environment;
use super::run::GentooRun;
use crate::cli::{Args, Config, ShareAccess, shared_path, split_words};

/// The `FUSEBOX_OPTS` in force: the environment's, else the configuration files'
/// (sandbox.conf, then sandbox.d: e.g. `${EPREFIX}/etc/sandbox.d/50fusebox`).
///
/// Portage does not pass make.conf's variables, nor the caller's, to the programs it
/// runs for the phases after `setup`: it keeps only a fixed list of names (and
/// `CCACHE_*`, `DISTCC_*`, `QEMU_*`), so `FUSEBOX_OPTS` in make.conf never reaches
/// `sandbox` (docs/portage-notes.md). The configuration files are read by the sandbox
/// itself, whoever calls it; Gentoo's own sandbox ignores keys it does not know.
pub fn fusebox_opts(caller: &Environment, conf: &ConfFiles) -> Option<OsString> {
    caller
        .get("FUSEBOX_OPTS")
        .map(OsStr::to_os_string)
        .or_else(|| conf.fusebox_setting("FUSEBOX_OPTS"))
}

/// fusebox's options in Gentoo mode: `opts` (see [`fusebox_opts`]), then those given
/// before `--gentoo`, parsed by fusebox-run's own parser. Only options: a command is
/// sandbox's business.
pub fn fusebox_options(opts: Option<&OsStr>, given: &[OsString]) -> Result<Args> {
    let mut words = vec![OsString::from("fusebox-run")];
    if let Some(opts) = opts {
        words.extend(split_words(opts).map_err(|e| anyhow::anyhow!("FUSEBOX_OPTS: {e}"))?);
    }
    words.extend(given.iter().cloned());
    words.push("--gentoo".into());
    let args = Args::try_parse_from(words)?;
    if let Some(stray) = args.command.first() {
        bail!(
            "FUSEBOX_OPTS and the options before --gentoo take fusebox options only, not {:?}",
            stray
        );
    }
    Ok(args)
}

impl GentooRun {
    /// The runner's plan: this launch, with fusebox's own options added. Their policy
    /// entries are fusebox's policy, which every process's own lists add to; `-v`
    /// adds to `SANDBOX_VERBOSE`. `--log` is refused: the log is `SANDBOX_LOG`, which
    /// Portage reads after each phase.
    pub fn into_config(self, options: Args, cwd: PathBuf) -> Result<Config> {
        if options.log.is_some() {
            bail!("--log: in Gentoo mode the violation log is $SANDBOX_LOG");
        }
        let policy = crate::cli::option_entries(&options, &cwd)?;
        let verbose = self.verbose || options.verbose;
        // Gentoo's semantics have no built-in secrets set: only FUSEBOX_OPTS asks for it.
        let secrets_on = options.default_deny;
        let options_report = options.report.clone();
        let mut config = Config::assemble(
            options,
            cwd.clone(),
            policy,
            crate::cli::LogPlace::Given(self.log),
        )?;
        let facts = crate::policy::secrets::Facts::of_this_process(&cwd);
        config.set_secrets(secrets_on, &facts)?;
        if let Some(ipc) = self.portage_ipc.filter(|dir| dir.is_dir()) {
            config
                .shares
                .push(shared_path(&ipc, &cwd, ShareAccess::ReadWrite)?);
        }
        let no_build_dir = self
            .portage_build
            .as_ref()
            .is_some_and(|b| !b.build.temp.is_dir());
        if self.metadata_only || no_build_dir {
            // Sourcing an ebuild for its metadata builds nothing (and comes before
            // ${T} exists): no report.
            config.report = None;
        }
        if let (Some(plan), Some(build)) = (&mut config.report, self.portage_build) {
            // One report per package, next to Portage's own log: a relative name is
            // taken in ${T}, and the build directory is Portage's.
            if let Some(name) = options_report.filter(|f| f.is_relative()) {
                plan.file = build.build.temp.join(name);
            }
            plan.build_dir = build.dir;
            plan.portage = Some(build.build);
        }
        config.command = self.command;
        config.verbose = verbose;
        config.env = self.env;
        config.gentoo = Some(self.launch);
        Ok(config)
    }
}
