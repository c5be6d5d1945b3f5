//! What a run gives back and how it ends: the exit status (the command's own, 128+N after a
//! signal, 127, 126, 125 and 2 for fusebox's own failures), stdin, cwd and the environment
//! passed through, the PID namespace, signals forwarded to the build once, and a SIGKILL of
//! fusebox-run that takes the whole sandbox with it.

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use crate::common::*;

// =============================================================================================
// Exit status

e2e!(shared, exit_code_is_the_commands);
fn exit_code_is_the_commands(h: Helper) {
    Sandbox::new(h).run_sh("exit 42").expect_code(42);
    Sandbox::new(h).run(&["true"]).expect_code(0);
    Sandbox::new(h).run(&["false"]).expect_code(1);
}

e2e!(shared, killed_by_signal_is_128_plus_n);
fn killed_by_signal_is_128_plus_n(h: Helper) {
    Sandbox::new(h).run_sh("kill -TERM $$").expect_code(143);
    Sandbox::new(h).run_sh("kill -KILL $$").expect_code(137);
}

e2e!(shared, missing_command_is_127);
fn missing_command_is_127(h: Helper) {
    let name = "fusebox-e2e-no-such-command";
    let out = Sandbox::new(h).run(&[name, "arg"]);
    out.expect_code(127);
    assert!(
        out.stderr.contains(name),
        "stderr should name the missing command\n{out}"
    );
}

e2e!(shared, non_executable_command_is_126);
fn non_executable_command_is_126(h: Helper) {
    let sb = Sandbox::new(h);
    let script = sb.dir().join("not-executable");
    std::fs::write(&script, "#!/bin/sh\necho should not run\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = sb.run(&[&script]);
    out.expect_code(126);
    assert!(!out.stdout.contains("should not run"), "{out}");
    assert!(
        !out.stderr.trim().is_empty(),
        "stderr should say why\n{out}"
    );
}

e2e!(plain, bad_option_is_a_usage_error);
fn bad_option_is_a_usage_error(h: Helper) {
    let out = Sandbox::new(h).run_args(&["--no-such-option-fusebox-e2e", "--", "true"]);
    out.expect_code(2);
    assert!(
        out.stderr.to_lowercase().contains("usage"),
        "stderr should show the usage\n{out}"
    );
    let out = Sandbox::new(h).run_args(&["--uid-map", "bogus", "--", "true"]);
    out.expect_code(2);
}

e2e!(plain, setup_failure_is_125);
fn setup_failure_is_125(h: Helper) {
    fn expect_setup_failure(out: &Out) {
        out.expect_code(125);
        let err = out.stderr.trim();
        assert!(
            err.starts_with("fusebox-run:"),
            "the reason should start with `fusebox-run:`\n{out}"
        );
        assert_eq!(
            err.lines().count(),
            1,
            "the reason should be one line\n{out}"
        );
    }
    // (Bad option values — a missing -w path, a bad --share or --hostname — are usage
    // errors, status 2: tests/e2e/packaging.rs, usage_errors_exit_2_in_one_line.)
    // fusebox inside fusebox: said as such, not as a missing kernel module.
    let inner = bin();
    let out = Sandbox::new(h).run(&[inner.to_str().unwrap(), "--", "/bin/true"]);
    expect_setup_failure(&out);
    assert!(
        out.stderr.contains("inside a fusebox sandbox"),
        "the reason should say why\n{out}"
    );
    // The mount itself fails: the direct helper opens $FUSEBOX_DEV_FUSE instead of /dev/fuse.
    if h == Helper::Direct {
        let out = Sandbox::new(h)
            .env("FUSEBOX_DEV_FUSE", "/nonexistent/fusebox-e2e/fuse")
            .run(&["/bin/true"]);
        expect_setup_failure(&out);
        assert!(
            out.stderr.contains("/dev/fuse"),
            "the reason should name the fix\n{out}"
        );
    }
}

e2e!(shared, stdin_and_cwd_pass_through);
fn stdin_and_cwd_pass_through(h: Helper) {
    let sb = Sandbox::new(h).stdin("line one\nline two\n");
    let out = sb.run(&["cat"]);
    out.ok();
    assert_eq!(out.stdout, "line one\nline two\n", "{out}");
    let out = sb.run(&["pwd"]);
    out.ok();
    assert_eq!(
        out.stdout.trim_end(),
        sb.dir().to_str().unwrap(),
        "cwd inside = cwd outside\n{out}"
    );
    let out = Sandbox::new(h)
        .env("FUSEBOX_E2E_VAR", "value 1")
        .run_sh("echo \"$FUSEBOX_E2E_VAR\"");
    out.ok();
    assert_eq!(
        out.stdout, "value 1\n",
        "the environment passes through\n{out}"
    );
}

// =============================================================================================
// Processes

e2e!(shared, pid_namespace_holds_only_the_sandbox);
fn pid_namespace_holds_only_the_sandbox(h: Helper) {
    let out = Sandbox::new(h).run_sh(
        r#"echo "sh=$$"
echo "comm1=$(cat /proc/1/comm)"
echo "cmd1=$(tr '\0' ' ' < /proc/1/cmdline)"
echo "ns=$(readlink /proc/self/ns/pid)"
ls /proc"#,
    );
    out.ok();
    let field = |k: &str| -> String {
        out.stdout
            .lines()
            .find_map(|l| l.strip_prefix(k).map(str::to_string))
            .unwrap_or_else(|| panic!("no {k} line\n{out}"))
    };
    let sh_pid: u32 = field("sh=").parse().unwrap();
    assert!(
        sh_pid <= 10,
        "the build's shell should have a small pid in a new PID namespace\n{out}"
    );
    let (comm1, cmd1) = (field("comm1="), field("cmd1="));
    assert!(
        comm1.contains("fusebox") || cmd1.contains("fusebox"),
        "pid 1 should be fusebox's init, is comm={comm1:?} cmdline={cmd1:?}\n{out}"
    );
    let host_ns = std::fs::read_link("/proc/self/ns/pid").unwrap();
    assert_ne!(
        field("ns="),
        host_ns.to_str().unwrap(),
        "/proc should show a new PID namespace\n{out}"
    );
    let numeric: Vec<u32> = out
        .stdout
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    assert!(numeric.contains(&1), "/proc/1 should exist\n{out}");
    assert!(
        numeric.len() <= 8,
        "/proc inside should list only the sandbox's few processes, lists {numeric:?}\n{out}"
    );
    let host_count = pids().len();
    assert!(
        numeric.len() < host_count,
        "inside {numeric:?} vs {host_count} host processes"
    );
}

e2e!(shared, background_job_does_not_keep_the_sandbox);
fn background_job_does_not_keep_the_sandbox(h: Helper) {
    let marker = sleep_marker(100);
    let out = Sandbox::new(h)
        .timeout(Duration::from_secs(30)) // a hang guard, not a speed assertion
        .run_sh(&format!("sleep {marker} & exit 3"));
    out.expect_code(3);
    assert_no_survivors(&marker, Duration::from_secs(5));
}

/// Starts a build that traps `sig`, appends its name to a file when it arrives and exits 7 a
/// moment after; sends `sig` to fusebox-run; checks exit 7 and exactly one delivery.
fn check_signal_forwarded_once(h: Helper, sig: i32, name: &str) {
    let sb = Sandbox::new(h);
    let (trapfile, ready) = (sb.dir().join("trapped"), sb.dir().join("ready"));
    let script = r#"sig=$1 trapfile=$2 ready=$3
trap 'echo "$sig" >> "$trapfile"' "$sig"
: > "$ready"
i=0
while [ ! -s "$trapfile" ]; do
    sleep 0.1
    i=$((i + 1))
    [ "$i" -gt 400 ] && exit 99
done
sleep 1
exit 7"#;
    let mut run = sb.spawn_sh_args(
        script,
        &[name, trapfile.to_str().unwrap(), ready.to_str().unwrap()],
    );
    let started = run.wait_for("the build's trap", Duration::from_secs(30), |_| {
        ready.exists()
    });
    if !started {
        let out = run.wait();
        panic!("the build never got ready\n{out}");
    }
    run.signal(sig);
    let out = run.wait();
    let trapped = std::fs::read_to_string(&trapfile).unwrap_or_default();
    assert_eq!(
        trapped,
        format!("{name}\n"),
        "SIG{name} sent to fusebox-run (pid) should reach the build exactly once\n{out}"
    );
    out.expect_code(7);
}

e2e!(shared, sigterm_reaches_the_build_once);
fn sigterm_reaches_the_build_once(h: Helper) {
    check_signal_forwarded_once(h, libc::SIGTERM, "TERM");
}

e2e!(shared, sigint_reaches_the_build_once);
fn sigint_reaches_the_build_once(h: Helper) {
    check_signal_forwarded_once(h, libc::SIGINT, "INT");
}

e2e!(shared, other_forwarded_signals_reach_the_build_once);
fn other_forwarded_signals_reach_the_build_once(h: Helper) {
    for (sig, name) in [
        (libc::SIGHUP, "HUP"),
        (libc::SIGQUIT, "QUIT"),
        (libc::SIGUSR1, "USR1"),
        (libc::SIGUSR2, "USR2"),
        (libc::SIGWINCH, "WINCH"),
        (libc::SIGCONT, "CONT"),
    ] {
        check_signal_forwarded_once(h, sig, name);
    }
}

e2e!(exclusive, sigkill_of_fusebox_kills_the_whole_sandbox);
/// Runs alone (exclusive): counts host-wide FUSE mounts and fusebox processes.
fn sigkill_of_fusebox_kills_the_whole_sandbox(h: Helper) {
    let mounts_before = fuse_mounts();
    let procs_before: BTreeSet<i32> = fusebox_procs().into_iter().map(|(p, _)| p).collect();
    let marker = sleep_marker(1000);
    let sb = Sandbox::new(h);
    let mut run = sb.spawn_sh_args(r#"sleep "$1" & sleep "$1"; exit 0"#, &[&marker]);
    let up = run.wait_for("the build's sleeps", Duration::from_secs(30), |_| {
        procs_matching(&format!("sleep {marker}")).len() >= 2
    });
    if !up {
        let out = run.wait();
        panic!("the build did not start\n{out}");
    }
    let during: Vec<(i32, String)> = fusebox_procs()
        .into_iter()
        .filter(|(p, _)| !procs_before.contains(p))
        .collect();
    assert!(
        during.iter().any(|(p, _)| *p == run.pid()),
        "sanity: fusebox-run (pid {}) should be seen among {during:?}",
        run.pid()
    );
    let mounts_during = fuse_mounts();

    run.signal(libc::SIGKILL);
    let out = run.wait();
    assert_eq!(out.status.signal(), Some(libc::SIGKILL), "{out}");

    let settled = wait_until(Duration::from_secs(10), || {
        procs_matching(&marker).is_empty()
            // Only new mounts survive: one that was there before may go away meanwhile
            // (an earlier test's fusermount3 mount, or another user's, being unmounted).
            && fuse_mounts().is_subset(&mounts_before)
            && fusebox_procs()
                .iter()
                .all(|(p, _)| procs_before.contains(p))
    });
    if !settled {
        let builds = procs_matching(&marker);
        let fusebox: Vec<_> = fusebox_procs()
            .into_iter()
            .filter(|(p, _)| !procs_before.contains(p))
            .collect();
        let mounts: Vec<_> = fuse_mounts().difference(&mounts_before).cloned().collect();
        kill_pids(&builds);
        // Not fusermount3: killing it would skip its auto_unmount (scripts/test.sh reports
        // and removes leftover mounts).
        let fusebox_run: Vec<_> = fusebox
            .iter()
            .filter(|(_, c)| !c.starts_with("fusermount"))
            .cloned()
            .collect();
        kill_pids(&fusebox_run);
        panic!(
            "10 s after `kill -9 fusebox-run` things survive:\n build processes: {builds:#?}\n \
             fusebox processes: {fusebox:#?}\n new FUSE mounts: {mounts:#?}\n \
             (FUSE mounts while running: {:#?})\n{out}",
            mounts_during.difference(&mounts_before).collect::<Vec<_>>()
        );
    }
}
