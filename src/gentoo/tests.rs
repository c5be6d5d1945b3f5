//! A Gentoo-mode launch from the caller's environment and the configuration files, and
//! the plan fusebox's own options make with it.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

use super::argv::Launch;
use super::conf::ConfFiles;
use super::env::{Environment, HostFacts};
use super::*;
use crate::cli::ShareAccess;
use crate::policy::List;

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
            access: ShareAccess::ReadWrite,
            kernel_tree: false,
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
    assert_eq!(r.launch.vars.debug.as_deref(), Some(OsStr::new("0")));
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
    let vars = &r.launch.vars;
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
    assert_eq!(r.launch.vars.debug.as_deref(), Some(OsStr::new("yes")));
    assert_eq!(
        r.launch.debug_log,
        PathBuf::from("/tmp/sandbox-debug-77.log")
    );
    assert_eq!(exported(&r, "SANDBOX_VERBOSE"), Some(OsStr::new("no")));
    let r = make(&[("SANDBOX_VERBOSE", "1"), ("SANDBOX_DEBUG", "0")]);
    assert!(r.verbose);
    assert_eq!(r.launch.vars.debug.as_deref(), Some(OsStr::new("0")));
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
    let args = fusebox_options(Some(OsStr::new("--net none -v")), &os(&["--unshare-ipc"])).unwrap();
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
    assert_eq!(config.gentoo.as_ref(), Some(&r.launch));
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
