//! The options turned into a [`Config`], from the command line to the policy, log,
//! secrets and report of the run.

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Parser;

use super::*;
use crate::policy::{List, Policy};
use crate::report::Format;

fn parse(argv: &[&str]) -> Result<Args, clap::Error> {
    Args::try_parse_from(std::iter::once("fusebox-run").chain(argv.iter().copied()))
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

fn facts_for_home(home: &Path) -> crate::policy::secrets::Facts {
    crate::policy::secrets::Facts {
        homes: vec![home.to_path_buf()],
        uid: 1000,
        cwd: PathBuf::from("/nowhere"),
        ..Default::default()
    }
}

#[test]
fn the_policy_in_force_has_each_secret_with_its_realpath_found_once() {
    let dir = tempfile::tempdir().unwrap();
    let real_ssh = dir.path().join("data/ssh");
    let home = dir.path().join("home");
    std::fs::create_dir_all(&real_ssh).unwrap();
    std::fs::create_dir_all(&home).unwrap();
    std::os::unix::fs::symlink(&real_ssh, home.join(".ssh")).unwrap();
    let mut c = config(&["true"], dir.path()).unwrap();
    c.set_secrets(true, &facts_for_home(&home)).unwrap();
    let policy = c.policy_in_force().unwrap();
    // The same entries as the enforced list resolved afresh, the realpath included.
    let afresh = Policy::from_entries(&c.enforced_policy()).unwrap();
    assert_eq!(policy.entries(), afresh.entries());
    assert_eq!(policy.prefixes(List::Deny), afresh.prefixes(List::Deny));
    assert!(policy.prefixes(List::Deny).contains(&real_ssh));
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
