//! A Gentoo-mode launch as Gentoo's sandbox sets it up: the command, the launch's lists
//! and the build's environment, from sandbox's arguments, the caller's environment and
//! the configuration files.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

use super::argv::Launch;
use super::conf::{self, ConfFiles, list_key};
use super::env::{self, ACTIVE_VALUE, Environment, HostFacts, split_list};
use super::processes::{self, GentooLaunch, Vars};
use crate::policy::List;
use crate::report::PortageBuild;
use crate::supervisor::EnvChange;

/// The shell Gentoo's sandbox runs (`/bin/bash`, hard-wired in `src/sandbox.c`).
pub const BASH: &str = "/bin/bash";

/// What a Gentoo-mode launch runs and under which policy, as Gentoo's sandbox would
/// set it up (`src/sandbox.c` `setup_sandbox`, `src/environ.c` `setup_environ`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GentooRun {
    pub command: Vec<OsString>,
    /// The build's environment, changed in this order.
    pub env: Vec<EnvChange>,
    /// The `SANDBOX_*` variables the command starts with: the launch state of every
    /// process (see [`processes`]).
    pub launch: GentooLaunch,
    pub log: PathBuf,
    /// `SANDBOX_VERBOSE`: each violation printed as it happens (on unless turned off).
    pub verbose: bool,
    /// Portage's IPC directory (`${PORTAGE_BUILDDIR}/.ipc`): its FIFOs connect ebuild
    /// helpers (has_version, best_version, …) to the Portage process outside, so it is
    /// shared (like `--share`) when it exists; read-write, because both sides open
    /// its lock file for writing and lock it (the build's ebuild-ipc creates it).
    pub portage_ipc: Option<PathBuf>,
    /// The Portage package build this phase belongs to, when the environment names
    /// one: `--report` then covers the whole package (see [`crate::report`]).
    pub portage_build: Option<PortageBuildDir>,
    /// Portage's `depend` phase: the ebuild sourced for its metadata only.
    pub metadata_only: bool,
}

/// A phase's package and its build directory, from Portage's environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortageBuildDir {
    pub build: PortageBuild,
    /// `${PORTAGE_BUILDDIR}`: the build's own files.
    pub dir: PathBuf,
}

impl PortageBuildDir {
    /// From `CATEGORY`, `PF`, `T` and `PORTAGE_BUILDDIR` (all needed), `EPREFIX` and
    /// `EBUILD_PHASE`.
    fn from_env(env: &Environment) -> Option<PortageBuildDir> {
        let text = |name| {
            env.get(name)
                .and_then(OsStr::to_str)
                .filter(|v| !v.is_empty())
        };
        let path = |name| env.get(name).filter(|v| !v.is_empty()).map(PathBuf::from);
        Some(PortageBuildDir {
            build: PortageBuild {
                package: format!("{}/{}", text("CATEGORY")?, text("PF")?),
                temp: path("T")?,
                eprefix: path("EPREFIX").unwrap_or_else(|| PathBuf::from("/")),
                // The first phase Portage runs in the sandbox.
                first_phase: text("EBUILD_PHASE") == Some("unpack"),
            },
            dir: path("PORTAGE_BUILDDIR")?,
        })
    }
}

impl GentooRun {
    /// Combines the launch, the caller's environment and the configuration files:
    ///
    /// 1. TMPDIR becomes `host.tmp_dir`; HOME, when unset, too.
    /// 2. The working directory counts only outside Portage (no `PORTAGE_TMPDIR`); an
    ///    interactive shell gets it as `SANDBOX_WORKDIR`, which 00default makes writable.
    /// 3. Each list is sandbox.conf's entries, then the caller's variable if set, else
    ///    the sandbox.d files' entries; `${VAR}`s are substituted; the result is exported.
    /// 4. A list still unset gets its fallback: READ `/`, WRITE the working directory,
    ///    PREDICT `$HOME`.
    /// 5. `SANDBOX_ON=1` and `SANDBOX_ACTIVE` are exported whatever the caller had;
    ///    VERBOSE, DEBUG, NOCOLOR and METHOD keep the caller's value, else take
    ///    sandbox.conf's, else the defaults (verbose on, debug off), as sandbox.conf
    ///    documents (Gentoo's `setup_cfg_var` writes every one of them to
    ///    SANDBOX_VERBOSE, a slip not copied here). The log variables
    ///    name the logs; Gentoo's preload variables are removed, and BASH_ENV names
    ///    fusebox's own startup file, by which shells declare their changes
    ///    ([`processes::bashrc`]), where Gentoo's names its sandbox.bashrc.
    pub fn new(
        launch: &Launch,
        caller: &Environment,
        conf: &ConfFiles,
        host: &HostFacts,
        cwd: &Path,
    ) -> GentooRun {
        let interactive = matches!(launch, Launch::InteractiveShell);
        let mut view = caller.clone();
        let mut changes: Vec<EnvChange> = Vec::new();
        let mut set = |view: &mut Environment, name: &str, value: OsString| {
            view.set(name, value.clone());
            changes.push((name.into(), Some(value)));
        };

        set(&mut view, "TMPDIR", host.tmp_dir.clone().into());
        if !caller.is_set("HOME") {
            set(&mut view, "HOME", host.tmp_dir.clone().into());
        }
        let work_dir = (!caller.is_set("PORTAGE_TMPDIR")).then(|| cwd.to_path_buf());
        if let (true, Some(dir)) = (interactive, &work_dir) {
            set(&mut view, "SANDBOX_WORKDIR", dir.clone().into());
        }

        for list in [List::Deny, List::Read, List::Write, List::Predict] {
            let key = list_key(list);
            let caller_value = caller.get(key).map(OsStr::to_os_string);
            let mut parts: Vec<OsString> = conf.conf_list(list).into_iter().collect();
            match &caller_value {
                Some(v) => parts.push(v.clone()),
                None => parts.extend(conf.confd_list(list)),
            }
            let joined = conf::join_colon(parts).filter(|v| !v.is_empty());
            let named = match joined {
                Some(v) => {
                    let v = conf::substitute(&v, |name| view.get(name).map(OsStr::to_os_string));
                    set(&mut view, key, v);
                    true
                }
                // Set but empty stays set: `SANDBOX_READ=` really means nothing.
                None => caller_value.is_some(),
            };
            let fallback = match list {
                List::Read => Some(OsString::from("/")),
                List::Write => work_dir.clone().map(OsString::from),
                List::Predict => view.get("HOME").map(OsStr::to_os_string),
                List::Deny => None,
            };
            if let (false, Some(f)) = (named, fallback) {
                set(&mut view, key, f);
            }
        }

        let log = env::log_path(caller, host, cwd);
        let debug_log = env::debug_log_path(caller, host, cwd);
        set(&mut view, "SANDBOX_ON", "1".into());
        set(&mut view, "SANDBOX_ACTIVE", ACTIVE_VALUE.into());
        set(&mut view, "SANDBOX_LOG", log.clone().into());
        set(&mut view, "SANDBOX_DEBUG_LOG", debug_log.clone().into());
        for (key, default) in [
            ("SANDBOX_VERBOSE", "1"),
            ("SANDBOX_DEBUG", "0"),
            ("NOCOLOR", "no"),
            ("SANDBOX_METHOD", "any"),
        ] {
            if !caller.is_set(key) {
                let value = conf.setting(key).unwrap_or_else(|| default.into());
                set(&mut view, key, value);
            }
        }
        set(&mut view, "BASH_ENV", processes::bashrc::path().into());
        let verbose = view.switch("SANDBOX_VERBOSE").or(true);
        if !(interactive && work_dir.is_some()) {
            changes.push(("SANDBOX_WORKDIR".into(), None));
        }
        for gone in ["SANDBOX_LIB", "SANDBOX_BASHRC", "SANDBOX_MESSAGE_P@TH"] {
            changes.push((gone.into(), None));
        }

        let vars = Vars::from_pairs(
            processes::settings::NAMES
                .iter()
                .filter_map(|&name| Some((OsStr::new(name), view.get(name)?))),
        );
        let command = match launch {
            // An interactive bash reads no BASH_ENV: the startup file is its rcfile,
            // as Gentoo's sandbox.bashrc is.
            Launch::InteractiveShell => {
                vec![
                    BASH.into(),
                    "--rcfile".into(),
                    processes::bashrc::path().into(),
                ]
            }
            Launch::BashC(script) => vec![BASH.into(), "-c".into(), script.clone()],
            Launch::Exec(argv) => argv.clone(),
        };
        GentooRun {
            command,
            env: changes,
            launch: GentooLaunch {
                vars,
                cwd: cwd.to_path_buf(),
                debug_log,
            },
            log,
            verbose,
            portage_ipc: caller
                .get("PORTAGE_BUILDDIR")
                .map(|dir| Path::new(dir).join(".ipc")),
            portage_build: PortageBuildDir::from_env(caller),
            metadata_only: caller.get("EBUILD_PHASE") == Some(OsStr::new("depend")),
        }
    }

    /// The launch's READ, WRITE, PREDICT and DENY entries, each list's in its
    /// variable's order: what the command starts with.
    pub fn launch_policy(&self) -> Vec<(List, PathBuf)> {
        let mut policy = Vec::new();
        for list in List::ALL {
            if let Some(value) = self.launch.vars.list(list) {
                let paths = split_list(value, &self.launch.cwd);
                policy.extend(paths.into_iter().map(|p| (list, p)));
            }
        }
        policy
    }
}
