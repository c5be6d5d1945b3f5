//! Gentoo mode: fusebox as a drop-in for Gentoo's `sandbox`, the program Portage runs
//! each ebuild phase under (`${EPREFIX}/usr/bin/sandbox "ebuild.sh PHASE"`).
//!
//! Entered when fusebox is run as `sandbox` (a link named so) or as
//! `fusebox-run [OPTIONS] --gentoo [SANDBOX ARGS]`. The pieces, each pure and tested:
//!
//! - [`argv`]: sandbox's options and what to run ([`argv::Launch`]);
//! - [`env`]: the `SANDBOX_*` variables, the log's place, refusing to nest;
//! - [`conf`]: `${EPREFIX}/etc/sandbox.conf` and `sandbox.d/*`, with built-in copies
//!   of Gentoo's own files;
//! - [`GentooRun`]: all of it combined, as Gentoo's `setup_environ` combines it, into
//!   the command, the policy, the log and the variables of the build's environment;
//!   [`GentooRun::into_config`] adds fusebox's own options (`$FUSEBOX_OPTS`);
//! - [`live`]: while the build runs, each process judged by its own `SANDBOX_ON` and
//!   lists, as Gentoo's sandbox judges it (`addwrite` and `export SANDBOX_ON=0` in the
//!   ebuild's shell change what that shell and its children may do).

pub mod argv;
pub mod conf;
pub mod env;
pub mod live;

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use clap::Parser;

use crate::cli::{Args, Config, ShareAccess, shared_path, split_words};
use crate::policy::List;
use crate::report::PortageBuild;
use crate::supervisor::EnvChange;
use argv::Launch;
use conf::{ConfFiles, list_key};
use env::{ACTIVE_VALUE, Environment, HostFacts, split_list};
use live::{LiveLaunch, Vars};

/// The name that makes fusebox behave as Gentoo's sandbox when it is run under it.
pub const SANDBOX_NAME: &str = "sandbox";

/// The shell Gentoo's sandbox runs (`/bin/bash`, hard-wired in `src/sandbox.c`).
pub const BASH: &str = "/bin/bash";

/// How fusebox was asked to be Gentoo's sandbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invocation {
    /// The path it was run as: `${EPREFIX}/usr/bin/sandbox` tells EPREFIX.
    pub invoked_as: PathBuf,
    /// fusebox options given before `--gentoo`.
    pub fusebox_args: Vec<OsString>,
    /// sandbox's own arguments.
    pub sandbox_args: Vec<OsString>,
}

impl Invocation {
    /// Gentoo mode, if asked for: the file executed (`executed`, see
    /// [`crate::sys::exec_filename`]) or argv[0] is named `sandbox`, or `--gentoo` comes
    /// after fusebox options only (everything after it is sandbox's). The executed file decides
    /// for Portage, which runs `${EPREFIX}/usr/bin/sandbox` with argv[0]
    /// `[cat/pkg-1] sandbox`.
    pub fn detect(argv: &[OsString], executed: Option<&Path>) -> Option<Invocation> {
        let (argv0, rest) = argv.split_first()?;
        let named = |p: &Path| p.file_name() == Some(OsStr::new(SANDBOX_NAME));
        let invoked_as = executed.map_or_else(|| PathBuf::from(argv0), Path::to_path_buf);
        if named(&invoked_as) || named(Path::new(argv0)) {
            return Some(Invocation {
                invoked_as,
                fusebox_args: Vec::new(),
                sandbox_args: rest.to_vec(),
            });
        }
        let at = rest
            .iter()
            .take_while(|a| a.as_os_str() != "--")
            .position(|a| a == "--gentoo")?;
        // `fusebox-run make --gentoo` runs `make --gentoo`: a command came first.
        let before =
            std::iter::once(OsString::from("fusebox-run")).chain(rest[..=at].iter().cloned());
        if Args::try_parse_from(before).is_ok_and(|args| !args.command.is_empty()) {
            return None;
        }
        Some(Invocation {
            invoked_as,
            fusebox_args: rest[..at].to_vec(),
            sandbox_args: rest[at + 1..].to_vec(),
        })
    }

    /// `${EPREFIX}/etc`: from the link's place when fusebox runs as
    /// `EPREFIX/usr/bin/sandbox`, else `/etc`.
    pub fn etc_dir(&self) -> PathBuf {
        self.eprefix().join("etc")
    }

    /// `${EPREFIX}/usr`, the prefix Gentoo's 00default is made with.
    pub fn usr_dir(&self) -> PathBuf {
        self.eprefix().join("usr")
    }

    fn eprefix(&self) -> PathBuf {
        conf::eprefix_of(&self.invoked_as).unwrap_or_else(|| PathBuf::from("/"))
    }
}

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

/// What a Gentoo-mode launch runs and under which policy, as Gentoo's sandbox would
/// set it up (`src/sandbox.c` `setup_sandbox`, `src/environ.c` `setup_environ`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GentooRun {
    pub command: Vec<OsString>,
    /// The build's environment, changed in this order.
    pub env: Vec<EnvChange>,
    /// The `SANDBOX_*` variables the command starts with: the launch state of every
    /// process (see [`live`]).
    pub live: LiveLaunch,
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
    ///    ([`live::bashrc`]), where Gentoo's names its sandbox.bashrc.
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
        set(&mut view, "BASH_ENV", live::bashrc::path().into());
        let verbose = view.switch("SANDBOX_VERBOSE").or(true);
        if !(interactive && work_dir.is_some()) {
            changes.push(("SANDBOX_WORKDIR".into(), None));
        }
        for gone in ["SANDBOX_LIB", "SANDBOX_BASHRC", "SANDBOX_MESSAGE_P@TH"] {
            changes.push((gone.into(), None));
        }

        let vars = Vars::from_pairs(
            live::settings::NAMES
                .iter()
                .filter_map(|&name| Some((OsStr::new(name), view.get(name)?))),
        );
        let command = match launch {
            // An interactive bash reads no BASH_ENV: the startup file is its rcfile,
            // as Gentoo's sandbox.bashrc is.
            Launch::InteractiveShell => {
                vec![BASH.into(), "--rcfile".into(), live::bashrc::path().into()]
            }
            Launch::BashC(script) => vec![BASH.into(), "-c".into(), script.clone()],
            Launch::Exec(argv) => argv.clone(),
        };
        GentooRun {
            command,
            env: changes,
            live: LiveLaunch {
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
            if let Some(value) = self.live.vars.list(list) {
                let paths = split_list(value, &self.live.cwd);
                policy.extend(paths.into_iter().map(|p| (list, p)));
            }
        }
        policy
    }

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
        config.live = Some(self.live);
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    fn environment(pairs: &[(&str, &str)]) -> Environment {
        pairs.iter().map(|&(k, v)| (k, v)).collect()
    }

    fn host() -> HostFacts {
        HostFacts {
            pid: 77,
            tmp_dir: PathBuf::from("/tmp"),
            system_log_dir_writable: false,
        }
    }

    fn run(launch: Launch, pairs: &[(&str, &str)]) -> GentooRun {
        GentooRun::new(
            &launch,
            &environment(pairs),
            &ConfFiles::builtin(Path::new("/usr")),
            &host(),
            Path::new("/home/me/src"),
        )
    }

    fn entries(run: &GentooRun, list: List) -> Vec<String> {
        run.launch_policy()
            .iter()
            .filter(|(l, _)| *l == list)
            .map(|(_, p)| p.to_string_lossy().into_owned())
            .collect()
    }

    fn exported<'a>(run: &'a GentooRun, name: &str) -> Option<&'a OsStr> {
        run.env
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.as_deref())
    }

    #[test]
    fn detection_by_name_or_by_flag() {
        let inv = Invocation::detect(&os(&["/p/usr/bin/sandbox", "-c", "x"]), None).unwrap();
        assert_eq!(inv.sandbox_args, os(&["-c", "x"]));
        assert_eq!(inv.etc_dir(), Path::new("/p/etc"));
        assert_eq!(inv.usr_dir(), Path::new("/p/usr"));
        let inv = Invocation::detect(&os(&["sandbox"]), None).unwrap();
        assert_eq!(inv.etc_dir(), Path::new("/etc"));
        let argv = os(&["fusebox-run", "--net", "none", "--gentoo", "-V"]);
        let inv = Invocation::detect(&argv, Some(Path::new("/bin/fusebox-run"))).unwrap();
        assert_eq!(inv.fusebox_args, os(&["--net", "none"]));
        assert_eq!(inv.sandbox_args, os(&["-V"]));
        assert_eq!(
            Invocation::detect(&os(&["fusebox-run", "make"]), None),
            None
        );
        assert_eq!(
            Invocation::detect(&os(&["fusebox-run", "--", "x", "--gentoo"]), None),
            None
        );
    }

    /// Portage runs the link with argv[0] `[cat/pkg-1] sandbox`: the executed file counts.
    #[test]
    fn portage_s_argv0_does_not_hide_the_link() {
        let argv = os(&[
            "[app-misc/foo-1] sandbox",
            "/p/usr/lib/portage/bin/ebuild.sh unpack",
        ]);
        let inv = Invocation::detect(&argv, Some(Path::new("/p/usr/bin/sandbox"))).unwrap();
        assert_eq!(
            inv.sandbox_args,
            os(&["/p/usr/lib/portage/bin/ebuild.sh unpack"])
        );
        assert_eq!(inv.etc_dir(), Path::new("/p/etc"));
        let executed = Path::new("/home/me/bin/fusebox-run");
        assert_eq!(Invocation::detect(&argv, Some(executed)), None);
    }

    #[test]
    fn portage_s_ipc_directory_is_found_from_its_build_dir() {
        let launch = Launch::BashC("/usr/lib/portage/bin/ebuild.sh compile".into());
        let r = run(
            launch.clone(),
            &[("PORTAGE_BUILDDIR", "/var/tmp/portage/app-misc/foo-1")],
        );
        assert_eq!(
            r.portage_ipc,
            Some(PathBuf::from("/var/tmp/portage/app-misc/foo-1/.ipc"))
        );
        assert_eq!(run(launch, &[]).portage_ipc, None);
    }

    /// Portage's daemon outside and the build's ebuild-ipc both open `.ipc/lock` for
    /// writing: the directory is shared read-write, unlike `--share`.
    #[test]
    fn portage_s_ipc_directory_is_shared_read_write() {
        let build = tempfile::tempdir().unwrap();
        std::fs::create_dir(build.path().join(".ipc")).unwrap();
        let builddir = build.path().to_str().unwrap();
        let r = run(
            Launch::BashC("ebuild.sh compile".into()),
            &[("PORTAGE_BUILDDIR", builddir)],
        );
        let options = fusebox_options(None, &[]).unwrap();
        let config = r.into_config(options, PathBuf::from("/")).unwrap();
        let ipc = std::fs::canonicalize(build.path().join(".ipc")).unwrap();
        assert_eq!(
            config.shares,
            [crate::cli::SharedPath {
                path: ipc,
                access: ShareAccess::ReadWrite
            }]
        );
    }

    #[test]
    fn portage_s_launch_gets_gentoo_s_defaults() {
        let r = run(
            Launch::BashC("/usr/lib/portage/bin/ebuild.sh compile".into()),
            &[
                ("SANDBOX_LOG", "/var/tmp/portage/a/b-1/temp/sandbox.log"),
                ("PORTAGE_TMPDIR", "/var/tmp"),
                ("HOME", "/var/tmp/portage/a/b-1/homedir"),
            ],
        );
        assert_eq!(
            r.command,
            os(&["/bin/bash", "-c", "/usr/lib/portage/bin/ebuild.sh compile"])
        );
        assert_eq!(entries(&r, List::Read), ["/"]);
        let write = entries(&r, List::Write);
        for path in [
            "/dev/null",
            "/dev/tty",
            "/dev/shm",
            "/proc/self/fd",
            "/var/tmp/",
        ] {
            assert!(write.iter().any(|w| w == path), "{path} in {write:?}");
        }
        assert!(write.contains(&"/var/tmp/portage/a/b-1/homedir/.bash_history".into()));
        assert!(write.contains(&"/usr/lib64/conftest".into()));
        // Portage's build: the current directory is not made writable.
        assert!(!write.contains(&"/home/me/src".into()), "{write:?}");
        assert_eq!(
            entries(&r, List::Predict),
            ["/var/tmp/portage/a/b-1/homedir"]
        );
        assert!(entries(&r, List::Deny).is_empty());
        assert_eq!(r.log, Path::new("/var/tmp/portage/a/b-1/temp/sandbox.log"));
        assert!(r.verbose);
        assert_eq!(r.live.vars.debug.as_deref(), Some(OsStr::new("0")));
        assert_eq!(exported(&r, "SANDBOX_ON"), Some(OsStr::new("1")));
        assert_eq!(
            exported(&r, "SANDBOX_ACTIVE"),
            Some(OsStr::new("armedandready"))
        );
        assert_eq!(exported(&r, "SANDBOX_READ"), Some(OsStr::new("/")));
        assert_eq!(
            exported(&r, "BASH_ENV"),
            Some(OsStr::new("/.fusebox-bashrc"))
        );
        assert!(r.env.contains(&("SANDBOX_WORKDIR".into(), None)));
        // The launch state is what the command is given.
        let vars = &r.live.vars;
        assert_eq!(vars.on.as_deref(), Some(OsStr::new("1")));
        assert_eq!(vars.active.as_deref(), Some(OsStr::new("armedandready")));
        assert_eq!(vars.list(List::Write), exported(&r, "SANDBOX_WRITE"));
        assert_eq!(vars.list(List::Deny), None);
    }

    #[test]
    fn the_caller_s_list_replaces_sandbox_d_but_not_sandbox_conf() {
        let r = run(
            Launch::Exec(os(&["make"])),
            &[("SANDBOX_WRITE", "/build:rel"), ("SANDBOX_DENY", "/secret")],
        );
        let write = entries(&r, List::Write);
        assert!(write.contains(&"/dev/null".into()));
        assert!(write.ends_with(&["/build".into(), "/home/me/src/rel".into()]));
        assert!(!write.iter().any(|w| w.contains("conftest")), "{write:?}");
        assert_eq!(entries(&r, List::Deny), ["/secret"]);
        // Exported as the build will see it: sandbox.conf's part, then the caller's.
        let exported_write = exported(&r, "SANDBOX_WRITE").unwrap().to_str().unwrap();
        assert!(exported_write.ends_with(":/build:rel"), "{exported_write}");
    }

    #[test]
    fn an_interactive_shell_may_write_its_directory() {
        let r = run(Launch::InteractiveShell, &[("HOME", "/home/me")]);
        assert_eq!(
            r.command,
            os(&["/bin/bash", "--rcfile", "/.fusebox-bashrc"])
        );
        assert!(entries(&r, List::Write).contains(&"/home/me/src".into()));
        assert_eq!(
            exported(&r, "SANDBOX_WORKDIR"),
            Some(OsStr::new("/home/me/src"))
        );
        assert_eq!(entries(&r, List::Predict), ["/home/me"]);
        let r = run(Launch::Exec(os(&["make"])), &[("HOME", "/home/me")]);
        assert!(!entries(&r, List::Write).contains(&"/home/me/src".into()));
    }

    #[test]
    fn home_and_tmpdir_are_set_as_gentoo_sets_them() {
        let r = run(Launch::Exec(os(&["true"])), &[("TMPDIR", "/tmp/../tmp")]);
        assert_eq!(exported(&r, "TMPDIR"), Some(OsStr::new("/tmp")));
        assert_eq!(exported(&r, "HOME"), Some(OsStr::new("/tmp")));
        assert_eq!(entries(&r, List::Predict), ["/tmp"]);
        assert_eq!(r.log, Path::new("/tmp/sandbox-77.log"));
    }

    #[test]
    fn verbose_and_debug_come_from_the_caller_then_the_conf() {
        let conf = ConfFiles::with_defaults(
            b"SANDBOX_VERBOSE=\"no\"\nSANDBOX_DEBUG=\"yes\"\n".to_vec(),
            Vec::new(),
            Path::new("/usr"),
        );
        let make = |pairs: &[(&str, &str)]| {
            GentooRun::new(
                &Launch::Exec(os(&["true"])),
                &environment(pairs),
                &conf,
                &host(),
                Path::new("/"),
            )
        };
        let r = make(&[]);
        assert!(!r.verbose);
        assert_eq!(r.live.vars.debug.as_deref(), Some(OsStr::new("yes")));
        assert_eq!(r.live.debug_log, PathBuf::from("/tmp/sandbox-debug-77.log"));
        assert_eq!(exported(&r, "SANDBOX_VERBOSE"), Some(OsStr::new("no")));
        let r = make(&[("SANDBOX_VERBOSE", "1"), ("SANDBOX_DEBUG", "0")]);
        assert!(r.verbose);
        assert_eq!(r.live.vars.debug.as_deref(), Some(OsStr::new("0")));
        assert_eq!(exported(&r, "SANDBOX_VERBOSE"), None);
    }

    #[test]
    fn an_empty_read_list_from_the_caller_stays_empty() {
        let r = run(Launch::Exec(os(&["true"])), &[("SANDBOX_READ", "")]);
        assert!(entries(&r, List::Read).is_empty());
    }

    #[test]
    fn sandbox_on_is_forced_on_at_launch() {
        let r = run(Launch::Exec(os(&["true"])), &[("SANDBOX_ON", "0")]);
        assert_eq!(exported(&r, "SANDBOX_ON"), Some(OsStr::new("1")));
    }

    #[test]
    fn fusebox_opts_come_from_the_environment_else_sandbox_conf() {
        let conf = ConfFiles::with_defaults(
            b"FUSEBOX_OPTS=\"--net none\"\n".to_vec(),
            Vec::new(),
            Path::new("/usr"),
        );
        assert_eq!(
            fusebox_opts(&environment(&[]), &conf),
            Some(OsString::from("--net none"))
        );
        let caller = environment(&[("FUSEBOX_OPTS", "-v")]);
        assert_eq!(fusebox_opts(&caller, &conf), Some(OsString::from("-v")));
        assert_eq!(
            fusebox_opts(&environment(&[]), &ConfFiles::builtin(Path::new("/usr"))),
            None
        );
    }

    #[test]
    fn fusebox_opts_are_options_only() {
        let args =
            fusebox_options(Some(OsStr::new("--net none -v")), &os(&["--unshare-ipc"])).unwrap();
        assert_eq!(args.net, crate::cli::Net::None);
        assert!(args.verbose && args.unshare_ipc && args.gentoo);
        assert!(fusebox_options(None, &[]).is_ok());
        assert!(fusebox_options(Some(OsStr::new("make")), &[]).is_err());
        assert!(fusebox_options(Some(OsStr::new("--bogus")), &[]).is_err());
    }

    #[test]
    fn the_config_adds_fusebox_options_to_the_gentoo_policy() {
        let r = run(
            Launch::BashC("echo hi".into()),
            &[("SANDBOX_LOG", "/tmp/s.log")],
        );
        let options = fusebox_options(Some(OsStr::new("--net none --deny /tmp/x")), &[]).unwrap();
        let config = r.clone().into_config(options, PathBuf::from("/")).unwrap();
        assert_eq!(config.command, os(&["/bin/bash", "-c", "echo hi"]));
        assert_eq!(config.log, crate::cli::LogPlace::Given("/tmp/s.log".into()));
        assert_eq!(config.net, crate::cli::Net::None);
        // fusebox's policy is its options' entries alone; Gentoo's lists are each
        // process's own, starting from the launch's.
        assert_eq!(config.policy, [(List::Deny, PathBuf::from("/tmp/x"))]);
        assert_eq!(config.live.as_ref(), Some(&r.live));
        assert_eq!(config.env, r.env);
        let options = fusebox_options(Some(OsStr::new("--log /tmp/other.log")), &[]).unwrap();
        assert!(r.into_config(options, PathBuf::from("/")).is_err());
    }

    /// `--report NAME` in a Portage phase: in `${T}`, about `${PORTAGE_BUILDDIR}`, for
    /// the package; none for the metadata phase.
    #[test]
    fn a_report_per_portage_package() {
        let build = tempfile::tempdir().unwrap();
        let t = build.path().join("temp");
        std::fs::create_dir(&t).unwrap();
        let env = |phase| {
            vec![
                ("PORTAGE_BUILDDIR", build.path().to_str().unwrap()),
                ("T", t.to_str().unwrap()),
                ("CATEGORY", "app-misc"),
                ("PF", "foo-1-r1"),
                ("EPREFIX", "/p"),
                ("EBUILD_PHASE", phase),
            ]
        };
        let options = || fusebox_options(Some(OsStr::new("--report r.json")), &[]).unwrap();
        let r = run(Launch::BashC("ebuild.sh unpack".into()), &env("unpack"));
        let plan = r
            .into_config(options(), PathBuf::from("/"))
            .unwrap()
            .report
            .unwrap();
        assert_eq!(plan.file, t.join("r.json"));
        assert_eq!(plan.build_dir, build.path());
        let portage = plan.portage.unwrap();
        assert_eq!(portage.package, "app-misc/foo-1-r1");
        assert_eq!(portage.eprefix, Path::new("/p"));
        assert!(portage.first_phase);
        let r = run(Launch::BashC("ebuild.sh compile".into()), &env("compile"));
        let plan = r
            .into_config(options(), PathBuf::from("/"))
            .unwrap()
            .report
            .unwrap();
        assert!(!plan.portage.unwrap().first_phase);
        let r = run(Launch::BashC("ebuild.sh depend".into()), &env("depend"));
        assert_eq!(
            r.into_config(options(), PathBuf::from("/")).unwrap().report,
            None
        );
        // Outside Portage, the report is where the option says.
        let r = run(Launch::BashC("true".into()), &[]);
        let plan = r
            .into_config(options(), PathBuf::from("/w"))
            .unwrap()
            .report
            .unwrap();
        assert_eq!(plan.file, Path::new("/w/r.json"));
        assert_eq!(plan.portage, None);
    }
}
