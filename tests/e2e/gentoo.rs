//! Gentoo mode: fusebox run as `sandbox` (a link) or with `--gentoo`.
//!
//! Included from tests/e2e.rs; every function here is listed in its `e2e_tests!`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::*;

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// A Prefix-like tree `EPREFIX/usr/bin/sandbox` → fusebox-run, with
/// `EPREFIX/etc/sandbox.d/50fusebox` choosing the mount helper (Portage passes no
/// options, so this is how a Prefix user gives fusebox its own).
fn prefix_with_sandbox_link(h: Helper) -> (tempfile::TempDir, PathBuf) {
    let t = tmpdir();
    let usr_bin = t.path().join("usr/bin");
    std::fs::create_dir_all(&usr_bin).unwrap();
    std::os::unix::fs::symlink(bin(), usr_bin.join("sandbox")).unwrap();
    let confd = t.path().join("etc/sandbox.d");
    std::fs::create_dir_all(&confd).unwrap();
    std::fs::write(
        confd.join("50fusebox"),
        format!("FUSEBOX_OPTS=\"--mount-helper {}\"\n", h.name()),
    )
    .unwrap();
    (t, usr_bin.join("sandbox"))
}

fn gentoo_command(sandbox: &Path, args: &[&str], cwd: &Path) -> Command {
    let mut c = Command::new(sandbox);
    c.args(args).current_dir(cwd);
    for gone in ["FUSEBOX_OPTS", "TMPDIR", "PORTAGE_TMPDIR"] {
        c.env_remove(gone);
    }
    for name in ["ACTIVE", "ON", "READ", "WRITE", "PREDICT", "DENY", "LOG"] {
        c.env_remove(format!("SANDBOX_{name}"));
    }
    c
}

/// pkgcore's test for a usable sandbox: `sandbox --version` exits 0 and says "gentoo";
/// it must answer even inside another sandbox, where starting one is refused.
pub fn gentoo_version_and_nesting(h: Helper) {
    let (t, sandbox) = prefix_with_sandbox_link(h);
    let out = spawn_command(
        gentoo_command(&sandbox, &["--version"], t.path()),
        false,
        DEFAULT_TIMEOUT,
    )
    .wait();
    out.ok();
    assert!(out.stdout.to_lowercase().contains("gentoo"), "{out}");

    let mut nested = gentoo_command(&sandbox, &["-c", "echo started"], t.path());
    nested.env("SANDBOX_ACTIVE", "armedandready");
    let out = spawn_command(nested, false, DEFAULT_TIMEOUT).wait();
    out.expect_code(1);
    assert!(!out.stdout.contains("started"), "{out}");
    assert!(out.stderr.contains("already running"), "{out}");

    let mut nested = gentoo_command(&sandbox, &["-V"], t.path());
    nested.env("SANDBOX_ACTIVE", "armedandready");
    spawn_command(nested, false, DEFAULT_TIMEOUT).wait().ok();

    let out = Sandbox::new(h).run_args(&["--gentoo", "--bogus"]);
    out.expect_code(1);
    assert!(out.stderr.contains("unrecognized option"), "{out}");
}

/// Portage's call: one string, through bash, with only SANDBOX_LOG set. The build sees
/// Gentoo's variables; Gentoo's default policy applies (devices and /tmp writable,
/// $HOME predicted, the current directory not writable outside an interactive shell).
/// Both directories are under the test user's real home, as /tmp is writable by
/// Gentoo's defaults; $HOME (predicted) points to one of them.
pub fn gentoo_portage_style_launch(h: Helper) {
    let (t, sandbox) = prefix_with_sandbox_link(h);
    let work_dir = tempfile::Builder::new()
        .prefix("fusebox-e2e-gentoo.")
        .tempdir_in(home())
        .unwrap();
    let work = work_dir.path().join("work");
    let home = work_dir.path().join("home");
    std::fs::create_dir(&work).unwrap();
    std::fs::create_dir(&home).unwrap();
    let script = work.join("phase.sh");
    std::fs::write(
        &script,
        r#"#!/bin/bash
echo "phase=$1 on=$SANDBOX_ON active=$SANDBOX_ACTIVE bash_env=${BASH_ENV-unset}"
echo null > /dev/null && echo dev-null-ok
touch "$HOME/predicted" 2>/dev/null && echo home-written || echo home-refused
touch "$PWD/cwd-file" 2>/dev/null && echo cwd-written || echo cwd-refused
"#,
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let log = t.path().join("sandbox.log");
    let command = format!("{} compile", s(&script));
    let mut c = gentoo_command(&sandbox, &[&command], &work);
    c.env("SANDBOX_LOG", &log)
        .env("HOME", &home)
        .env("PORTAGE_TMPDIR", t.path())
        .env("BASH_ENV", "/etc/spork/is/not/valid/profile.env");
    let out = spawn_command(c, false, DEFAULT_TIMEOUT).wait();
    for line in [
        "phase=compile on=1 active=armedandready bash_env=/.fusebox-bashrc",
        "dev-null-ok",
        "home-refused",
        "cwd-refused",
    ] {
        assert!(out.stdout.lines().any(|l| l == line), "{line}\n{out}");
    }
    // The write to the current directory is a violation, logged where Portage looks;
    // the predicted one under $HOME is not.
    out.expect_code(1);
    let text = std::fs::read_to_string(&log).expect("the violation log");
    assert!(
        text.contains(&format!("P: {}", s(&work.join("cwd-file")))),
        "{text}"
    );
    assert!(!text.contains("predicted"), "{text}");
    assert!(out.stderr.contains("ACCESS DENIED"), "{out}");
}

/// `fusebox-run OPTIONS --gentoo ARGS`: the caller's SANDBOX_WRITE adds to the lists,
/// and several arguments run as they are.
pub fn gentoo_flag_with_caller_lists(h: Helper) {
    let t = tmpdir();
    let out_dir = t.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let sb = Sandbox::new(h)
        .cwd(t.path())
        .env("SANDBOX_WRITE", &out_dir)
        .env("SANDBOX_LOG", t.path().join("s.log"))
        .env("HOME", t.path())
        .env_remove("SANDBOX_ACTIVE")
        .env_remove("FUSEBOX_OPTS");
    let script =
        r#"touch "$1/made" && echo made; echo "$SANDBOX_WRITE" | tr : '\n' | grep -c .; exit 0"#;
    let out = sb.run_args(&["--gentoo", "sh", "-c", script, "sh", s(&out_dir)]);
    out.ok();
    assert!(out_dir.join("made").exists(), "{out}");
    let lines = out.stdout_lines();
    assert_eq!(lines.first(), Some(&"made"), "{out}");
    // sandbox.conf's built-in entries, then the caller's.
    let count: usize = lines[1].parse().unwrap();
    assert!(count > 10, "{out}");
}
