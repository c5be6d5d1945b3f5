//! Gentoo mode: fusebox run as `sandbox` (a link) or with `--gentoo`.

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

e2e!(shared, gentoo_version_and_nesting);
/// pkgcore's test for a usable sandbox: `sandbox --version` exits 0 and says "gentoo";
/// it must answer even inside another sandbox, where starting one is refused.
fn gentoo_version_and_nesting(h: Helper) {
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

e2e!(shared, gentoo_portage_style_launch);
/// Portage's call: one string, through bash, with only SANDBOX_LOG set. The build sees
/// Gentoo's variables; Gentoo's default policy applies (devices and /tmp writable,
/// $HOME predicted, the current directory not writable outside an interactive shell).
/// Both directories are under the test user's real home, as /tmp is writable by
/// Gentoo's defaults; $HOME (predicted) points to one of them.
fn gentoo_portage_style_launch(h: Helper) {
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

e2e!(shared, gentoo_flag_with_caller_lists);
/// `fusebox-run OPTIONS --gentoo ARGS`: the caller's SANDBOX_WRITE adds to the lists,
/// and several arguments run as they are.
fn gentoo_flag_with_caller_lists(h: Helper) {
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

// --- Each process judged by its own SANDBOX_* variables ----------------------------------

/// A Portage-like build area for the per-process tests: under the test user's home (not
/// under /tmp, which Gentoo's defaults make writable), with `allowed` (which the script
/// adds with `addwrite`), `outside` (in no list, but writable by the user on the host),
/// `home` (HOME, predicted) and the log.
struct BuildArea {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl BuildArea {
    fn new() -> BuildArea {
        let dir = tempfile::Builder::new()
            .prefix("fusebox-e2e-live.")
            .tempdir_in(home())
            .unwrap();
        let root = dir.path().to_path_buf();
        for sub in ["allowed", "outside", "home"] {
            std::fs::create_dir(root.join(sub)).unwrap();
        }
        BuildArea { _dir: dir, root }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    fn log(&self) -> PathBuf {
        self.path("sandbox.log")
    }

    /// `fusebox-run --gentoo -c SCRIPT` as Portage calls sandbox: only SANDBOX_LOG of
    /// the SANDBOX_* variables; `ALLOWED` and `OUTSIDE` in the script are replaced by
    /// the directories' paths.
    fn run(&self, h: Helper, script: &str) -> Out {
        self.run_with(h, script, &[])
    }

    /// [`BuildArea::run`] with `env` set too.
    fn run_with(&self, h: Helper, script: &str, env: &[(&str, &Path)]) -> Out {
        let script = script
            .replace("ALLOWED", s(&self.path("allowed")))
            .replace("OUTSIDE", s(&self.path("outside")));
        let mut sb = Sandbox::new(h)
            .cwd(&self.root)
            .env("SANDBOX_LOG", self.log())
            .env("HOME", self.path("home"))
            .env_remove("FUSEBOX_OPTS")
            .env_remove("PORTAGE_TMPDIR")
            .env_remove("BASH_ENV");
        for name in ["ACTIVE", "ON", "READ", "WRITE", "PREDICT", "DENY", "DEBUG"] {
            sb = sb.env_remove(format!("SANDBOX_{name}"));
        }
        for (name, value) in env {
            sb = sb.env(name, value);
        }
        sb.run_args(&["--gentoo", "-c", &script])
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(self.log()).unwrap_or_default()
    }

    /// The paths the log reports (its `P:` lines).
    fn logged_paths(&self) -> Vec<String> {
        self.log_text()
            .lines()
            .filter_map(|l| l.strip_prefix("P: "))
            .map(str::to_owned)
            .collect()
    }

    /// Asserts the log holds a Gentoo block for `op` on `path` by a command line
    /// starting with `cmdline`.
    #[track_caller]
    fn assert_logged(&self, op: &str, path: &Path, cmdline: &str) {
        let text = self.log_text();
        let p = s(path);
        let block = [
            format!("F: {op}"),
            "S: deny".into(),
            format!("P: {p}"),
            format!("A: {p}"),
            format!("R: {p}"),
        ]
        .join("\n");
        let at = text
            .find(&block)
            .unwrap_or_else(|| panic!("no block for {op} {p} in the log:\n{text}"));
        let c_line = text[at + block.len()..].lines().nth(1).unwrap_or_default();
        assert!(
            c_line.starts_with(&format!("C: {cmdline}")),
            "{c_line:?} for {p}:\n{text}"
        );
    }
}

e2e!(shared, gentoo_live_addwrite_in_the_shell);
/// Portage's `addwrite` appends to the exported SANDBOX_WRITE in the ebuild's shell:
/// what that shell writes itself (a redirection) and what it runs (cp, touch, a nested
/// `set -eu` bash) may write there; nothing is logged.
fn gentoo_live_addwrite_in_the_shell(h: Helper) {
    let area = BuildArea::new();
    let out = area.run(
        h,
        r#"
addwrite() { export SANDBOX_WRITE="${SANDBOX_WRITE}:$1"; }
addwrite 'ALLOWED'
echo x > 'ALLOWED/redirected' && echo redirect-ok
cp 'ALLOWED/redirected' 'ALLOWED/copied' && echo cp-ok
touch 'ALLOWED/touched' && echo touch-ok
bash -c 'set -eu; echo y > "$1/nested"; echo nested-ok' bash 'ALLOWED'
"#,
    );
    out.ok();
    assert_eq!(
        out.stdout_lines(),
        ["redirect-ok", "cp-ok", "touch-ok", "nested-ok"],
        "{out}"
    );
    for name in ["redirected", "copied", "touched", "nested"] {
        assert!(area.path("allowed").join(name).exists(), "{name}\n{out}");
    }
    assert_eq!(area.log_text(), "", "{out}");
    assert!(!out.stderr.contains("ACCESS DENIED"), "{out}");
}

e2e!(shared, gentoo_live_sandbox_on_toggles);
/// `export SANDBOX_ON=0` lets the shell and its commands write anywhere the host lets
/// them, unlogged; `SANDBOX_ON=1` checks again, and a refusal is logged as Gentoo logs
/// it.
fn gentoo_live_sandbox_on_toggles(h: Helper) {
    let area = BuildArea::new();
    let out = area.run(
        h,
        r#"
export SANDBOX_ON=0
touch 'OUTSIDE/off-touch' && echo off-touch-ok
echo x > 'OUTSIDE/off-redirect' && echo off-redirect-ok
export SANDBOX_ON=1
touch 'OUTSIDE/on-touch' 2>/dev/null || echo on-touch-refused
{ echo x > 'OUTSIDE/on-redirect'; } 2>/dev/null || echo on-redirect-refused
exit 0
"#,
    );
    assert_eq!(
        out.stdout_lines(),
        [
            "off-touch-ok",
            "off-redirect-ok",
            "on-touch-refused",
            "on-redirect-refused"
        ],
        "{out}"
    );
    // The build "succeeded", but with violations.
    out.expect_code(1);
    let outside = area.path("outside");
    assert!(outside.join("off-touch").exists() && outside.join("off-redirect").exists());
    assert!(!outside.join("on-touch").exists() && !outside.join("on-redirect").exists());
    area.assert_logged("open_wr_creat", &outside.join("on-touch"), "touch ");
    area.assert_logged(
        "open_wr_creat",
        &outside.join("on-redirect"),
        "/bin/bash -c",
    );
    assert_eq!(area.logged_paths().len(), 2, "{}", area.log_text());
}

e2e!(shared, gentoo_live_subshell_scope);
/// A subshell's `export` is the subshell's: it may write there, its parent afterwards
/// may not.
fn gentoo_live_subshell_scope(h: Helper) {
    let area = BuildArea::new();
    let out = area.run(
        h,
        r#"
(
    export SANDBOX_WRITE="$SANDBOX_WRITE:OUTSIDE"
    touch 'OUTSIDE/sub-touch' && echo sub-touch-ok
    echo x > 'OUTSIDE/sub-redirect' && echo sub-redirect-ok
)
touch 'OUTSIDE/parent-touch' 2>/dev/null || echo parent-touch-refused
{ echo x > 'OUTSIDE/parent-redirect'; } 2>/dev/null || echo parent-redirect-refused
exit 0
"#,
    );
    assert_eq!(
        out.stdout_lines(),
        [
            "sub-touch-ok",
            "sub-redirect-ok",
            "parent-touch-refused",
            "parent-redirect-refused"
        ],
        "{out}"
    );
    out.expect_code(1);
    let outside = area.path("outside");
    area.assert_logged("open_wr_creat", &outside.join("parent-touch"), "touch ");
    area.assert_logged(
        "open_wr_creat",
        &outside.join("parent-redirect"),
        "/bin/bash -c",
    );
    assert_eq!(area.logged_paths().len(), 2, "{}", area.log_text());
}

e2e!(shared, gentoo_live_no_escape);
/// Clearing the environment does not leave the sandbox (Gentoo's libsandbox puts its
/// variables back at exec), and a statically linked program, which no LD_PRELOAD
/// sandbox sees, is caught.
fn gentoo_live_no_escape(h: Helper) {
    let busybox = find_tool(&["/bin/busybox", "/usr/bin/busybox"], "busybox-static");
    let area = BuildArea::new();
    let script = format!(
        r#"
env -i /usr/bin/touch 'OUTSIDE/env-i' 2>/dev/null || echo env-i-refused
env -u SANDBOX_ACTIVE -u SANDBOX_ON /usr/bin/touch 'OUTSIDE/env-u' 2>/dev/null || echo env-u-refused
{busybox} touch 'OUTSIDE/static' 2>/dev/null || echo static-refused
{busybox} sh -c "echo x > 'OUTSIDE/static-sh'" 2>/dev/null || echo static-sh-refused
exit 0
"#
    );
    let out = area.run(h, &script);
    assert_eq!(
        out.stdout_lines(),
        [
            "env-i-refused",
            "env-u-refused",
            "static-refused",
            "static-sh-refused"
        ],
        "{out}"
    );
    out.expect_code(1);
    let outside = area.path("outside");
    area.assert_logged("open_wr_creat", &outside.join("env-i"), "/usr/bin/touch ");
    area.assert_logged("open_wr_creat", &outside.join("static"), &busybox);
    area.assert_logged("open_wr_creat", &outside.join("static-sh"), &busybox);
    assert_eq!(area.logged_paths().len(), 4, "{}", area.log_text());
    assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0, "{out}");
}

e2e!(shared, gentoo_live_declarations_follow_the_lock);
/// A declaration is a change to the policy like any other: refused once the policy is
/// locked (so with `--lock` the shell's own `addwrite` does not reach fusebox, while
/// the programs it starts still carry their lists), and unknown outside Gentoo mode.
fn gentoo_live_declarations_follow_the_lock(h: Helper) {
    let declare = r#"printf 'sandbox-env\0SANDBOX_ON=0\0end\0' > /dev/fusebox"#;
    let area = BuildArea::new();
    let script = format!(
        r#"
{declare} 2>/dev/null && echo declared || echo declaration-refused
addwrite() {{ export SANDBOX_WRITE="${{SANDBOX_WRITE}}:$1"; }}
addwrite 'ALLOWED'
{{ echo x > 'ALLOWED/by-the-shell'; }} 2>/dev/null || echo shell-refused
touch 'ALLOWED/by-a-child' && echo child-ok
exit 0
"#
    );
    let out = Sandbox::new(h)
        .opt("--lock")
        .cwd(&area.root)
        .env("SANDBOX_LOG", area.log())
        .env("HOME", area.path("home"))
        .env_remove("FUSEBOX_OPTS")
        .env_remove("SANDBOX_ACTIVE")
        .env_remove("SANDBOX_WRITE")
        .run_args(&[
            "--gentoo",
            "-c",
            &script.replace("ALLOWED", s(&area.path("allowed"))),
        ]);
    assert_eq!(
        out.stdout_lines(),
        ["declaration-refused", "shell-refused", "child-ok"],
        "{out}"
    );
    // Its own log: the default one in /tmp may be another user's stale file.
    let out = Sandbox::new(h)
        .opts(&["--log", "violations.log"])
        .run_sh(&format!(
            "{declare} 2>/dev/null && echo declared || echo refused"
        ));
    assert_eq!(out.stdout_lines(), ["refused"], "{out}");
}

e2e!(shared, gentoo_debug_log);
/// `SANDBOX_DEBUG`, switched on in the shell as Portage's ebuild.sh does (PORTAGE_DEBUG),
/// writes every checked access of the processes that have it on to `SANDBOX_DEBUG_LOG`
/// in the violation log's format, `allow` or `deny`, and prints `ACCESS ALLOWED` lines
/// (verbose is Gentoo's default); a stale debug log is removed at start.
fn gentoo_debug_log(h: Helper) {
    let area = BuildArea::new();
    let debug_log = area.path("debug.log");
    std::fs::write(&debug_log, "VERSION 1.0\nstale\n").unwrap();
    let out = area.run_with(
        h,
        r#"
addwrite() { export SANDBOX_WRITE="${SANDBOX_WRITE}:$1"; }
addwrite 'ALLOWED'
echo a > 'ALLOWED/quiet'
export SANDBOX_DEBUG=1
echo b > 'ALLOWED/loud'
cat 'ALLOWED/loud'
touch 'OUTSIDE/refused' 2>/dev/null || echo touch-refused
export SANDBOX_DEBUG=0
cat 'ALLOWED/quiet'
exit 0
"#,
        &[("SANDBOX_DEBUG_LOG", &debug_log)],
    );
    assert_eq!(out.stdout_lines(), ["b", "touch-refused", "a"], "{out}");
    out.expect_code(1);
    let text = std::fs::read_to_string(&debug_log).unwrap_or_default();
    assert!(text.starts_with("VERSION 1.0\n"), "{text}");
    assert!(!text.contains("stale"), "{text}");
    let loud = area.path("allowed").join("loud");
    let refused = area.path("outside").join("refused");
    for (op, status, path, cmdline) in [
        ("open_wr_creat", "allow", &loud, "/bin/bash -c"),
        ("open_rd", "allow", &loud, "cat "),
        ("open_wr_creat", "deny", &refused, "touch "),
    ] {
        let p = s(path);
        let block = format!("F: {op}\nS: {status}\nP: {p}\nA: {p}\nR: {p}\nC: {cmdline}");
        assert!(
            text.contains(&block),
            "no {block:?} in the debug log:\n{text}"
        );
    }
    // Before the switch and after it, nothing.
    let quiet = format!("P: {}", s(&area.path("allowed").join("quiet")));
    assert!(!text.contains(&quiet), "{text}");
    let allowed_line = format!("ACCESS ALLOWED:  open_rd:            {}", s(&loud));
    assert!(out.stderr.contains(&allowed_line), "{out}");
    // The violation log holds the denial alone.
    assert_eq!(area.logged_paths(), [s(&refused)], "{}", area.log_text());
}
