//! End-to-end tests of `fusebox-run`: the real binary against the real kernel, as an
//! unprivileged user (scripts/test.sh arranges that when run as root).
//!
//! Every test is a function `fn name(h: Helper)`; the `e2e_tests!` list at the bottom turns each
//! into two `#[test]`s, `direct::name` and `fusermount3::name`, one per `--mount-helper`.

mod common;
#[path = "e2e/control.rs"]
mod control;
#[path = "e2e/gentoo.rs"]
mod gentoo;
#[path = "e2e/integrity.rs"]
mod integrity;
#[path = "e2e/isolation.rs"]
mod isolation;
#[path = "e2e/packaging.rs"]
mod packaging;
#[path = "e2e/policy.rs"]
mod policy;
#[path = "e2e/portage.rs"]
mod portage;
#[path = "e2e/record.rs"]
mod record;
#[path = "e2e/report.rs"]
mod report;
#[path = "e2e/secrets.rs"]
mod secrets;
#[path = "e2e/stats.rs"]
mod stats;
#[path = "e2e/stress.rs"]
mod stress;

use std::collections::{BTreeSet, HashMap};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;
use control::*;
use gentoo::*;
use integrity::*;
use isolation::*;
use packaging::*;
use policy::*;
use portage::*;
use record::*;
use report::*;
use secrets::*;
use stats::*;
use stress::*;

// =============================================================================================
// Exit status

fn exit_code_is_the_commands(h: Helper) {
    Sandbox::new(h).run_sh("exit 42").expect_code(42);
    Sandbox::new(h).run(&["true"]).expect_code(0);
    Sandbox::new(h).run(&["false"]).expect_code(1);
}

fn killed_by_signal_is_128_plus_n(h: Helper) {
    Sandbox::new(h).run_sh("kill -TERM $$").expect_code(143);
    Sandbox::new(h).run_sh("kill -KILL $$").expect_code(137);
}

fn missing_command_is_127(h: Helper) {
    let name = "fusebox-e2e-no-such-command";
    let out = Sandbox::new(h).run(&[name, "arg"]);
    out.expect_code(127);
    assert!(
        out.stderr.contains(name),
        "stderr should name the missing command\n{out}"
    );
}

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

fn version_and_help(h: Helper) {
    let out = Sandbox::new(h).run_args(&["-V"]);
    out.ok();
    assert!(
        out.stdout.contains(env!("CARGO_PKG_VERSION")),
        "-V should print the version\n{out}"
    );
    let out = Sandbox::new(h).run_args(&["--version"]);
    out.ok();
    assert!(out.stdout.contains(env!("CARGO_PKG_VERSION")), "{out}");
    let out = Sandbox::new(h).run_args(&["-h"]);
    out.ok();
    let text = out.stdout.to_lowercase();
    for word in [
        "usage",
        "--write",
        "--uid-map",
        "--net",
        "--mount-helper",
        "--check",
    ] {
        assert!(text.contains(word), "-h should mention {word}\n{out}");
    }
}

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

fn sigterm_reaches_the_build_once(h: Helper) {
    check_signal_forwarded_once(h, libc::SIGTERM, "TERM");
}

fn sigint_reaches_the_build_once(h: Helper) {
    check_signal_forwarded_once(h, libc::SIGINT, "INT");
}

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

// =============================================================================================
// The file system inside

fn root_is_the_fuse_mirror(h: Helper) {
    let out = Sandbox::new(h).run(&["cat", "/proc/self/mountinfo"]);
    out.ok();
    let root = out
        .stdout
        .lines()
        .rfind(|l| mountinfo_mountpoint(l) == Some("/"))
        .unwrap_or_else(|| panic!("no / mount inside\n{out}"));
    let fstype = mountinfo_fstype(root).unwrap_or_default();
    assert!(
        fstype.starts_with("fuse"),
        "/ inside should be the FUSE mirror, is {fstype:?}: {root}\n{out}"
    );
    let proc_line = out
        .stdout
        .lines()
        .rfind(|l| mountinfo_mountpoint(l) == Some("/proc"));
    assert_eq!(
        proc_line.and_then(mountinfo_fstype),
        Some("proc"),
        "a proc on /proc\n{out}"
    );
}

fn dev_is_minimal_and_works(h: Helper) {
    let out = Sandbox::new(h).run_sh(
        r#"set -e
echo x > /dev/null
echo "zero=$(head -c 4 /dev/zero | od -An -tx1 | tr -d ' ')"
echo "random=$(head -c 16 /dev/random | wc -c) urandom=$(head -c 16 /dev/urandom | wc -c)"
if echo x 2>/dev/null > /dev/full; then echo full=writable; else echo full=ENOSPC; fi
echo shm > /dev/shm/fusebox-e2e && echo "shm=$(cat /dev/shm/fusebox-e2e)"
echo "fd=$(readlink /dev/fd) stdin=$(readlink /dev/stdin) stdout=$(readlink /dev/stdout) stderr=$(readlink /dev/stderr)"
test -c /dev/tty && echo tty=char
test -e /dev/ptmx && echo ptmx=yes
echo "blockdevs=$(find /dev -type b | wc -l)"
echo "entries:"; ls -A /dev"#,
    );
    out.ok();
    let s = &out.stdout;
    for want in [
        "zero=00000000",
        "random=16 urandom=16",
        "full=ENOSPC",
        "shm=shm",
        "fd=/proc/self/fd stdin=/proc/self/fd/0 stdout=/proc/self/fd/1 stderr=/proc/self/fd/2",
        "tty=char",
        "ptmx=yes",
        "blockdevs=0",
    ] {
        assert!(
            s.lines().any(|l| l == want),
            "expected the line {want:?}\n{out}"
        );
    }
    let entries: BTreeSet<&str> = s.split("entries:\n").nth(1).unwrap_or("").lines().collect();
    for want in [
        "null", "zero", "full", "random", "urandom", "tty", "pts", "ptmx", "shm", "fd", "stdin",
        "stdout", "stderr",
    ] {
        assert!(
            entries.contains(want),
            "/dev should have {want}: {entries:?}"
        );
    }
    for host_only in ["mem", "kmem", "port", "fuse", "kmsg"] {
        assert!(
            !entries.contains(host_only),
            "/dev should be minimal, has {host_only}: {entries:?}"
        );
    }
    // The tmpfs on /dev/shm is the sandbox's own.
    assert!(
        !Path::new("/dev/shm/fusebox-e2e").exists(),
        "/dev/shm inside should not be the host's"
    );
}

fn sys_is_read_only(h: Helper) {
    let out = Sandbox::new(h).run_sh(
        r#"if touch /sys/fusebox-e2e 2>/dev/null; then echo touch=ok; else echo touch=failed; fi
test -r /sys/kernel/uevent_seqnum -o -d /sys/kernel && echo readable=yes
cat /proc/self/mountinfo"#,
    );
    out.ok();
    assert!(
        out.stdout.contains("touch=failed\n"),
        "touch /sys/x should fail\n{out}"
    );
    assert!(
        out.stdout.contains("readable=yes\n"),
        "/sys should be readable\n{out}"
    );
    let sys = out
        .stdout
        .lines()
        .rfind(|l| mountinfo_mountpoint(l) == Some("/sys"))
        .unwrap_or_else(|| panic!("no /sys mount inside\n{out}"));
    let opts = mountinfo_options(sys).unwrap_or_default();
    assert!(
        opts.split(',').any(|o| o == "ro"),
        "/sys should be mounted ro: {sys}"
    );
}

fn host_files_read_back_identical(h: Helper) {
    let sb = Sandbox::new(h);
    let d = sb.dir();
    native_sh(
        r#"head -c 3000001 /dev/urandom > random.bin
: > empty
truncate -s 20M sparse && printf tail | dd of=sparse bs=1 seek=20000000 conv=notrunc 2>/dev/null
seq 1 200000 > lines.txt"#,
        &[] as &[&str],
        d,
    );
    let mut files: Vec<String> = [
        "/etc/os-release",
        "/etc/passwd",
        "/usr/bin/sh",
        "/bin/ls",
        "/usr/bin/env",
    ]
    .iter()
    .filter(|p| Path::new(p).exists())
    .map(|s| s.to_string())
    .collect();
    files.push(
        std::fs::canonicalize(bin())
            .unwrap()
            .to_string_lossy()
            .into_owned(),
    );
    for f in ["random.bin", "empty", "sparse", "lines.txt"] {
        files.push(d.join(f).to_string_lossy().into_owned());
    }
    let mut args = vec!["sha256sum".to_string(), "--".to_string()];
    args.extend(files.iter().cloned());
    let host = native(&args, d);
    host.ok();
    let inside = sb.run(&args);
    inside.ok();
    assert_eq!(
        inside.stdout, host.stdout,
        "sha256 inside vs host\n{inside}"
    );
    // And through cat + a pipe (read(2) in odd sizes), for the big file.
    let out = sb.run_sh("cat random.bin | dd bs=7777 2>/dev/null | sha256sum");
    out.ok();
    let host_sum = host
        .stdout
        .lines()
        .find(|l| l.ends_with("random.bin"))
        .unwrap()
        .split(' ')
        .next()
        .unwrap();
    assert!(out.stdout.starts_with(host_sum), "{out}");
}

fn stat_matches_the_host(h: Helper) {
    let sb = Sandbox::new(h);
    let d = sb.dir();
    native_sh(
        r#"echo data > old && touch -d '2001-02-03 04:05:06' old
mkdir adir && touch -d '1999-12-31 23:59:59' adir
ln -s old alink
printf 'x%.0s' $(seq 1 5000) > five-k && chmod 0751 five-k"#,
        &[] as &[&str],
        d,
    );
    let mut args: Vec<String> = ["stat", "-c", "%n %s %f %Y"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    for p in ["/etc/os-release", "/usr/bin/sh", "/usr/bin", "/etc", "/"] {
        args.push(p.into());
    }
    for p in ["old", "adir", "alink", "five-k"] {
        args.push(d.join(p).to_string_lossy().into_owned());
    }
    let host = native(&args, d);
    host.ok();
    let inside = sb.run(&args);
    inside.ok();
    assert_eq!(
        inside.stdout, host.stdout,
        "stat -c '%n %s %f %Y' inside vs host\n{inside}"
    );
}

fn hard_links_share_an_inode(h: Helper) {
    let sb = Sandbox::new(h);
    let d = sb.dir();
    native_sh("echo a > a && ln a b && echo c > c", &[] as &[&str], d);
    let out = sb.run(&["stat", "-c", "%i %h %n", "a", "b", "c"]);
    out.ok();
    let rows: Vec<Vec<&str>> = out.stdout.lines().map(|l| l.split(' ').collect()).collect();
    assert_eq!(rows.len(), 3, "{out}");
    assert_eq!(
        rows[0][0], rows[1][0],
        "hard links a and b should share an inode number\n{out}"
    );
    assert_ne!(rows[0][0], rows[2][0], "a and c are different files\n{out}");
    assert_eq!(
        (rows[0][1], rows[1][1], rows[2][1]),
        ("2", "2", "1"),
        "link counts\n{out}"
    );
}

/// Paths across the host's file systems for the inode test: a sample of `/`, plus each other
/// host mount under the usual top-level trees (and $FUSEBOX_OTHER_FS).
fn inode_probe_paths() -> Vec<PathBuf> {
    fn sample(dir: &Path, n: usize, out: &mut Vec<PathBuf>) {
        out.push(dir.to_path_buf());
        if let Ok(rd) = std::fs::read_dir(dir) {
            let mut names: Vec<PathBuf> = rd.filter_map(|e| Some(e.ok()?.path())).collect();
            names.sort();
            out.extend(names.into_iter().take(n));
        }
    }
    let mut paths = vec![
        PathBuf::from("/"),
        PathBuf::from("/var"),
        PathBuf::from("/tmp"),
    ];
    for d in ["/usr", "/usr/bin", "/etc"] {
        sample(Path::new(d), 40, &mut paths);
    }
    let prefixes = [
        "/boot", "/home", "/opt", "/run", "/srv", "/tmp", "/usr", "/var",
    ];
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    for line in mountinfo.lines() {
        let (Some(mp), Some(fstype)) = (mountinfo_mountpoint(line), mountinfo_fstype(line)) else {
            continue;
        };
        if fstype.starts_with("fuse") || fstype == "autofs" || mp.contains('\\') {
            continue;
        }
        if prefixes.iter().any(|p| Path::new(mp).starts_with(p)) && std::fs::read_dir(mp).is_ok() {
            sample(Path::new(mp), 20, &mut paths);
        }
    }
    if let Some(other) = std::env::var_os("FUSEBOX_OTHER_FS") {
        sample(Path::new(&other), 100, &mut paths);
    }
    // /dev, /proc and /sys inside are the sandbox's own mounts, not the mirror.
    let own = ["/dev", "/proc", "/sys"];
    let mut seen = BTreeSet::new();
    paths.retain(|p| {
        let s = p.to_string_lossy();
        !own.iter().any(|o| p.starts_with(o))
            && !s.contains(char::is_whitespace)
            && std::fs::symlink_metadata(p).is_ok()
            && seen.insert(p.clone())
    });
    paths
}

fn inode_numbers_distinct_across_host_filesystems(h: Helper) {
    let paths = inode_probe_paths();
    let host: Vec<(u64, u64)> = paths
        .iter()
        .map(|p| {
            let m = std::fs::symlink_metadata(p).unwrap();
            (m.dev(), m.ino())
        })
        .collect();
    let devs: BTreeSet<u64> = host.iter().map(|&(d, _)| d).collect();
    let mut devs_of_ino: HashMap<u64, BTreeSet<u64>> = HashMap::new();
    for &(d, i) in &host {
        devs_of_ino.entry(i).or_default().insert(d);
    }
    let collisions = devs_of_ino.values().filter(|d| d.len() > 1).count();
    eprintln!(
        "inode test: {} paths on {} host file systems, {collisions} host inode numbers used on >1 of them",
        paths.len(),
        devs.len()
    );
    if std::env::var_os("FUSEBOX_OTHER_FS").is_some() || std::env::var_os("CI").is_some() {
        assert!(
            devs.len() >= 2 && collisions >= 1,
            "the walk should cross host file systems with clashing inode numbers (see FUSEBOX_OTHER_FS in scripts/test.sh)"
        );
    }

    let mut args: Vec<String> = vec!["stat".into(), "-c".into(), "%i %n".into(), "--".into()];
    args.extend(paths.iter().map(|p| p.to_string_lossy().into_owned()));
    let out = Sandbox::new(h).timeout(Duration::from_secs(120)).run(&args);
    out.ok();
    let inside: HashMap<&str, u64> = out
        .stdout
        .lines()
        .filter_map(|l| {
            let (ino, name) = l.split_once(' ')?;
            Some((name, ino.parse().ok()?))
        })
        .collect();

    let mut by_host: HashMap<(u64, u64), (u64, &Path)> = HashMap::new();
    let mut by_inside: HashMap<u64, ((u64, u64), &Path)> = HashMap::new();
    let mut errors = Vec::new();
    for (p, &hk) in paths.iter().zip(&host) {
        let Some(&ino) = inside.get(p.to_str().unwrap()) else {
            errors.push(format!("{}: not stat'ed inside", p.display()));
            continue;
        };
        if let Some(&(prev, q)) = by_host.get(&hk) {
            if prev != ino {
                errors.push(format!(
                    "same host file {hk:?} has inode {prev} as {} and {ino} as {}",
                    q.display(),
                    p.display()
                ));
            }
        }
        by_host.insert(hk, (ino, p));
        if let Some(&(prev, q)) = by_inside.get(&ino) {
            if prev != hk {
                errors.push(format!(
                    "inode {ino} inside is both {} (host dev,ino {prev:?}) and {} (host {hk:?})",
                    q.display(),
                    p.display()
                ));
            }
        }
        by_inside.insert(ino, (hk, p));
    }
    assert!(
        errors.is_empty(),
        "{} problems:\n{}\n{out}",
        errors.len(),
        errors.join("\n")
    );
}

fn build_dir_is_writable_and_results_land_on_the_host(h: Helper) {
    let sb = Sandbox::new(h);
    let d = sb.dir().to_path_buf();
    let other = tmpdir(); // elsewhere in /tmp: also in the default write set
    native_sh(
        "echo old > pre-existing && mkdir emptydir",
        &[] as &[&str],
        &d,
    );
    let out = sb.run_sh_args(
        r#"set -e
echo hello > out.txt
echo more >> out.txt
mkdir -p d/e
echo x > d/e/f
mv d/e/f d/e/g
ln -s out.txt link
ln out.txt hard
chmod 0600 out.txt
rm pre-existing
rmdir emptydir
printf 1234567890 > t && truncate -s 4 t
touch -d @1012615322 dated
echo elsewhere > "$1/in-tmp"
echo done"#,
        &[other.path()],
    );
    out.ok();
    let read =
        |p: &str| std::fs::read_to_string(d.join(p)).unwrap_or_else(|e| panic!("{p}: {e}\n{out}"));
    assert_eq!(read("out.txt"), "hello\nmore\n");
    assert_eq!(read("d/e/g"), "x\n");
    assert!(!d.join("d/e/f").exists());
    assert_eq!(
        std::fs::read_link(d.join("link")).unwrap(),
        Path::new("out.txt")
    );
    let m = std::fs::metadata(d.join("out.txt")).unwrap();
    assert_eq!(m.mode() & 0o7777, 0o600, "chmod result");
    assert_eq!(m.nlink(), 2);
    assert_eq!(
        m.ino(),
        std::fs::metadata(d.join("hard")).unwrap().ino(),
        "hard link on the host"
    );
    assert_eq!(
        m.uid(),
        my_uid(),
        "files made inside belong to the user on the host"
    );
    assert!(
        !d.join("pre-existing").exists() && !d.join("emptydir").exists(),
        "rm/rmdir"
    );
    assert_eq!(read("t"), "1234");
    assert_eq!(
        std::fs::metadata(d.join("dated")).unwrap().mtime(),
        1012615322
    );
    assert_eq!(
        std::fs::read_to_string(other.path().join("in-tmp")).unwrap(),
        "elsewhere\n"
    );
}

fn default_write_set_is_cwd_tmp_and_tmpdir(h: Helper) {
    // /tmp itself (not only the cwd below it): what mkstemp, `make -f -` and gcc need.
    let name = unique("/tmp/fusebox-e2e-direct-");
    let out = Sandbox::new(h).run_sh_args(
        r#"set -e; echo x > "$1"; mkdir "$1.d"; echo y > "$1.d/f"; t=$(mktemp); echo "mktemp=$t"; rm "$t""#,
        &[&name],
    );
    let created = std::fs::read_to_string(&name).ok();
    let _ = std::fs::remove_file(&name);
    let _ = std::fs::remove_dir_all(format!("{name}.d"));
    out.ok();
    assert_eq!(created.as_deref(), Some("x\n"), "{out}");
    // $TMPDIR, even outside /tmp (here: in $HOME).
    let hd = home_fixture();
    let tmpdir_path = hd.path().join("sub");
    let out = Sandbox::new(h)
        .env("TMPDIR", &tmpdir_path)
        .run_sh(r#"echo t > "$TMPDIR/made" && mktemp"#);
    out.ok();
    assert_eq!(
        std::fs::read_to_string(tmpdir_path.join("made")).unwrap(),
        "t\n"
    );
    assert!(
        out.stdout.starts_with(tmpdir_path.to_str().unwrap()),
        "mktemp uses $TMPDIR\n{out}"
    );
}

/// A directory in $HOME with a file and a subdir, made on the host; removed on drop.
fn home_fixture() -> tempfile::TempDir {
    let hd = tempfile::Builder::new()
        .prefix(".fusebox-e2e.")
        .tempdir_in(home())
        .unwrap();
    std::fs::write(hd.path().join("file"), "original\n").unwrap();
    std::fs::create_dir(hd.path().join("sub")).unwrap();
    hd
}

fn writes_outside_the_write_set_are_denied(h: Helper) {
    let hd = home_fixture();
    let (f, d) = (hd.path().join("file"), hd.path());
    let mode_before = std::fs::metadata(&f).unwrap().mode();
    // cwd is a temp dir under /tmp, so the default write set is it and /tmp: not $HOME.
    let out = Sandbox::new(h).run_sh_args(
        r#"f=$1 d=$2
try() { name=$1; shift; msg=$("$@" 2>&1 </dev/null); echo "$name|$?|$msg"; }
try overwrite sh -c 'echo evil > "$1"' sh "$f"
try append sh -c 'echo evil >> "$1"' sh "$f"
try create touch "$d/new"
try mkdir mkdir "$d/newdir"
try rm rm -f "$f"
try chmod chmod 0777 "$f"
try rename mv "$f" "$d/moved"
try rmdir rmdir "$d/sub"
try symlink ln -s x "$d/symlink"
try truncate truncate -s 0 "$f""#,
        &[&f, d],
    );
    out.expect_code(1);
    assert!(
        out.stderr.contains("SANDBOX ACCESS VIOLATION SUMMARY"),
        "{out}"
    );
    let rows: Vec<Vec<&str>> = out
        .stdout
        .lines()
        .map(|l| l.splitn(3, '|').collect())
        .collect();
    assert_eq!(rows.len(), 10, "{out}");
    for r in &rows {
        assert_ne!(r[1], "0", "`{}` in $HOME should fail\n{out}", r[0]);
        assert!(
            r[2].contains("Permission denied"),
            "`{}` should fail with EACCES: {:?}\n{out}",
            r[0],
            r[2]
        );
    }
    assert_eq!(
        std::fs::read_to_string(&f).unwrap(),
        "original\n",
        "the host file is unchanged"
    );
    assert_eq!(
        std::fs::metadata(&f).unwrap().mode(),
        mode_before,
        "mode unchanged"
    );
    let names: BTreeSet<String> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        BTreeSet::from(["file".to_string(), "sub".to_string()]),
        "nothing new in $HOME"
    );
    // Writing elsewhere on the host, e.g. /etc or /usr, is refused too.
    let out = Sandbox::new(h).run_sh("echo x > /usr/fusebox-e2e-denied");
    assert_ne!(out.code(), Some(0), "{out}");
    assert!(!Path::new("/usr/fusebox-e2e-denied").exists());
}

fn write_option_adds_a_write_path(h: Helper) {
    let hd = home_fixture();
    let sub = hd.path().join("sub");
    let out = Sandbox::new(h).opt("-w").opt(&sub).run_sh_args(
        r#"echo made > "$1/new" && echo ok
if echo evil > "$2" 2>/dev/null; then echo file=written; else echo file=denied; fi"#,
        &[&sub, &hd.path().join("file")],
    );
    // The refused write is a violation: the summary, and a failure although sh exited 0.
    out.expect_code(1);
    assert!(
        out.stderr.contains("SANDBOX ACCESS VIOLATION SUMMARY"),
        "{out}"
    );
    assert_eq!(out.stdout, "ok\nfile=denied\n", "{out}");
    assert_eq!(std::fs::read_to_string(sub.join("new")).unwrap(), "made\n");
    assert_eq!(
        std::fs::read_to_string(hd.path().join("file")).unwrap(),
        "original\n"
    );
}

// =============================================================================================
// Builds

fn tarball_extraction_keeps_mtimes(h: Helper) {
    let sb = Sandbox::new(h);
    let d = sb.dir();
    native_sh(
        r#"set -e
mkdir -p src/pkg-1.0/lib/deep native inside
cd src/pkg-1.0
echo main > main.c && touch -d '2001-02-03 04:05:06' main.c
echo lib > lib/lib.c && touch -d '1999-01-01 00:00:01' lib/lib.c
echo deep > lib/deep/x.h && touch -d '2010-10-10 10:10:10' lib/deep/x.h
ln -s main.c link.c && touch -h -d '2005-05-05 05:05:05' link.c
printf '#!/bin/sh\necho configured\n' > configure && chmod 755 configure && touch -d '2002-02-02 02:02:02' configure
touch -d '2003-03-03 03:03:03' lib/deep lib
cd .. && touch -d '2004-04-04 04:04:04' pkg-1.0
tar -czf ../pkg-1.0.tar.gz pkg-1.0
cd ../native && tar -xzf ../pkg-1.0.tar.gz"#,
        &[] as &[&str],
        d,
    );
    let listing = "cd \"$1\" && find . -mindepth 1 -printf '%T@ %y %P\\n' | LC_ALL=C sort";
    let native_view = native_sh(listing, &[d.join("native")], d);
    assert!(
        native_view.stdout.contains("981173106"),
        "sanity: old mtimes in the native extraction"
    );

    let out = sb.run_sh("cd inside && tar -xzf ../pkg-1.0.tar.gz && ./pkg-1.0/configure");
    out.ok();
    assert_eq!(out.stdout, "configured\n", "{out}");
    let inside_view = sb.run_sh_args(listing, &[d.join("inside")]);
    inside_view.ok();
    assert_eq!(
        inside_view.stdout, native_view.stdout,
        "mtimes seen inside after extracting inside\n{inside_view}"
    );
    let host_view = native_sh(listing, &[d.join("inside")], d);
    assert_eq!(
        host_view.stdout, native_view.stdout,
        "mtimes on the host after extracting inside"
    );
}

fn autotools_configure_and_make(h: Helper) {
    assert!(
        have("autoreconf"),
        "autoreconf is needed on the host: install autoconf and automake"
    );
    let sb = Sandbox::new(h).timeout(Duration::from_secs(300));
    let d = sb.dir();
    let fixture = fixtures().join("hello-autotools");
    assert!(
        fixture.join("configure.ac").exists(),
        "fixture missing: {}",
        fixture.display()
    );
    native_sh(
        r#"cp -R "$1/." . && autoreconf -i >/dev/null 2>&1"#,
        &[&fixture],
        d,
    );
    assert!(d.join("configure").exists());
    let out = sb.run_sh("./configure && make && make check && ./hello");
    out.ok();
    assert!(
        out.stdout.ends_with("Hello from fusebox-hello 1.0\n"),
        "{out}"
    );
    // The build's results are on the host and run there.
    let host = native(&[d.join("hello")], d);
    host.ok();
    assert_eq!(host.stdout, "Hello from fusebox-hello 1.0\n");
    assert!(d.join("config.log").exists() && d.join("hello.o").exists());
}

fn find_usr_matches_the_host(h: Helper) {
    let tmp = tmpdir();
    let host = native(&["find", "/usr", "-xdev"], tmp.path());
    let out = Sandbox::new(h)
        .timeout(Duration::from_secs(400))
        .run(&["find", "/usr", "-xdev"]);
    assert!(
        !out.stderr.contains("Too many open files"),
        "EMFILE inside\n{out}"
    );
    assert_eq!(
        out.stderr, host.stderr,
        "find's errors inside vs host\n{out}"
    );
    assert_eq!(out.code(), host.code(), "{out}");
    let inside: BTreeSet<&str> = out.stdout.lines().collect();
    let native: BTreeSet<&str> = host.stdout.lines().collect();
    let missing: Vec<_> = native.difference(&inside).take(10).collect();
    let extra: Vec<_> = inside.difference(&native).take(10).collect();
    assert_eq!(
        out.stdout.lines().count(),
        host.stdout.lines().count(),
        "find /usr -xdev | wc -l inside vs host; missing inside: {missing:?}; extra inside: {extra:?}"
    );
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing {missing:?} extra {extra:?}"
    );
}

// =============================================================================================
// Options

fn ip_tool() -> String {
    find_tool(
        &["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"],
        "iproute2",
    )
}

fn proc_net_dev_names(s: &str) -> Vec<String> {
    s.lines()
        .filter_map(|l| Some(l.split_once(':')?.0.trim().to_string()))
        .collect()
}

fn net_none_has_only_lo_up(h: Helper) {
    let ip = ip_tool();
    let out = Sandbox::new(h).opts(&["--net", "none"]).run_sh_args(
        r#""$1" -o link; echo ===; tail -n +3 /proc/net/dev; echo ===; readlink /proc/self/ns/net"#,
        &[&ip],
    );
    out.ok();
    let parts: Vec<&str> = out.stdout.split("===\n").collect();
    assert_eq!(parts.len(), 3, "{out}");
    let links: Vec<&str> = parts[0].lines().collect();
    assert_eq!(
        links.len(),
        1,
        "only lo should exist with --net none\n{out}"
    );
    let lo = links[0];
    assert!(lo.contains(" lo:"), "{out}");
    let flags = lo
        .split('<')
        .nth(1)
        .and_then(|s| s.split('>').next())
        .unwrap_or("");
    assert!(
        flags.split(',').any(|f| f == "UP"),
        "lo should be UP, flags <{flags}>\n{out}"
    );
    assert_eq!(proc_net_dev_names(parts[1]), vec!["lo"], "{out}");
    let host_ns = std::fs::read_link("/proc/self/ns/net").unwrap();
    assert_ne!(
        parts[2].trim(),
        host_ns.to_str().unwrap(),
        "a new net namespace\n{out}"
    );
    // Loopback works.
    let out = Sandbox::new(h)
        .opts(&["--net", "none"])
        .run_sh_args(r#""$1" -o addr show lo"#, &[&ip]);
    out.ok();
    assert!(out.stdout.contains("127.0.0.1"), "lo has 127.0.0.1\n{out}");
}

fn net_host_shares_the_host_network(h: Helper) {
    let out = Sandbox::new(h)
        .opts(&["--net", "host"])
        .run_sh("readlink /proc/self/ns/net; echo ===; tail -n +3 /proc/net/dev");
    out.ok();
    let (ns, devs) = out
        .stdout
        .split_once("===\n")
        .unwrap_or_else(|| panic!("{out}"));
    let host_ns = std::fs::read_link("/proc/self/ns/net").unwrap();
    assert_eq!(
        ns.trim(),
        host_ns.to_str().unwrap(),
        "--net host: the host's net namespace\n{out}"
    );
    let host_devs = proc_net_dev_names(
        &std::fs::read_to_string("/proc/net/dev")
            .unwrap()
            .lines()
            .skip(2)
            .collect::<Vec<_>>()
            .join("\n"),
    );
    let inside_devs = proc_net_dev_names(devs);
    assert_eq!(inside_devs, host_devs, "{out}");
}

fn uid_map_self_and_root(h: Helper) {
    let out = Sandbox::new(h).run_sh("id -u; id -g");
    out.ok();
    assert_eq!(
        out.stdout,
        format!("{}\n{}\n", my_uid(), my_gid()),
        "default --uid-map self\n{out}"
    );
    let out = Sandbox::new(h)
        .opts(&["--uid-map", "self"])
        .run(&["id", "-u"]);
    out.ok();
    assert_eq!(out.stdout.trim(), my_uid().to_string(), "{out}");
    let sb = Sandbox::new(h).opts(&["--uid-map", "root"]);
    let out = sb.run_sh("id -u && touch made-as-root");
    out.ok();
    assert_eq!(out.stdout.trim(), "0", "--uid-map root\n{out}");
    let m = std::fs::metadata(sb.dir().join("made-as-root")).unwrap();
    assert_eq!(m.uid(), my_uid(), "root inside is the user outside");
}

fn hostname_and_ipc_options(h: Helper) {
    let host_name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let out = Sandbox::new(h)
        .opts(&["--hostname", "fusebox-e2e-host"])
        .run(&["uname", "-n"]);
    out.ok();
    assert_eq!(out.stdout, "fusebox-e2e-host\n", "{out}");
    assert_eq!(
        std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap(),
        host_name,
        "host unchanged"
    );

    let host_ipc = std::fs::read_link("/proc/self/ns/ipc").unwrap();
    let out = Sandbox::new(h).run(&["readlink", "/proc/self/ns/ipc"]);
    out.ok();
    assert_ne!(
        out.stdout.trim(),
        host_ipc.to_str().unwrap(),
        "by default: a new IPC namespace\n{out}"
    );
    let out = Sandbox::new(h)
        .opt("--unshare-ipc")
        .run(&["readlink", "/proc/self/ns/ipc"]);
    out.ok();
    assert_ne!(
        out.stdout.trim(),
        host_ipc.to_str().unwrap(),
        "--unshare-ipc (the default) still accepted\n{out}"
    );
    let out = Sandbox::new(h)
        .opt("--share-ipc")
        .run(&["readlink", "/proc/self/ns/ipc"]);
    out.ok();
    assert_eq!(
        out.stdout.trim(),
        host_ipc.to_str().unwrap(),
        "--share-ipc: the host's\n{out}"
    );
}

fn check_passes_here(h: Helper) {
    let out = Sandbox::new(h).run_args(&["--check"]);
    out.ok();
    assert!(
        out.stdout.lines().count() >= 3,
        "--check prints one line per prerequisite\n{out}"
    );
    assert!(!out.stderr.contains("fusebox-run:"), "{out}");
    // Where the tests run, everything is in place (CI makes /dev/fuse 0666, installs fuse3).
    let failing: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.starts_with("FAIL"))
        .collect();
    assert!(
        failing.is_empty(),
        "--check should find nothing to fix here: {failing:#?}\n{out}"
    );
}

/// With /dev/fuse unusable (simulated with FUSEBOX_DEV_FUSE), `--check` names it and the fix.
/// The direct helper then cannot start a sandbox, so `--check --mount-helper direct` must exit
/// non-zero; with fusermount3 (installed, and unaffected by the override) it can.
fn check_names_the_dev_fuse_fix(h: Helper) {
    let fake = "/nonexistent/fusebox-e2e/fuse";
    let out = Sandbox::new(h)
        .env("FUSEBOX_DEV_FUSE", fake)
        .run_args(&["--check"]);
    assert_ne!(out.code(), Some(2), "not a usage error\n{out}");
    let line = out
        .stdout
        .lines()
        .chain(out.stderr.lines())
        .find(|l| l.contains("FAIL") && (l.contains("/dev/fuse") || l.contains(fake)))
        .unwrap_or_else(|| panic!("a FAIL line should name /dev/fuse\n{out}"));
    assert!(
        line.contains("fix:"),
        "the /dev/fuse line should give the fix: {line}\n{out}"
    );
    // A device that exists but that we may not open: the fix is chmod.
    let sb = Sandbox::new(h);
    let locked = sb.dir().join("fuse-locked");
    std::fs::write(&locked, "").unwrap();
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
    if my_uid() != 0 {
        let out2 = sb.env("FUSEBOX_DEV_FUSE", &locked).run_args(&["--check"]);
        let text = format!("{}{}", out2.stdout, out2.stderr);
        assert!(
            text.lines()
                .any(|l| l.contains("FAIL") && l.contains("chmod 0666")),
            "an unusable /dev/fuse: the fix `chmod 0666 …`\n{out2}"
        );
    }
    match h {
        Helper::Direct => assert_ne!(
            out.code(),
            Some(0),
            "--mount-helper direct --check must fail when /dev/fuse is unusable\n{out}"
        ),
        Helper::Fusermount3 => {
            out.ok();
        }
    }
}

// =============================================================================================
// A terminal

fn interactive_shell_has_job_control(h: Helper) {
    assert!(
        Path::new("/usr/bin/script").exists() || have("script"),
        "install util-linux (script)"
    );
    // `script` gives fusebox-run a pty (in a session of its own, out of reach of our guard):
    // the marker in bash's arguments finds what is left if the test fails.
    let marker = unique("fusebox-e2e-tty-");
    let cmd = format!(
        "'{}' --mount-helper {} -- bash --norc --noprofile -i -s {marker}",
        bin().display(),
        h.name()
    );
    let tmp = tmpdir();
    let mut c = std::process::Command::new("script");
    c.args(["-qec", &cmd, "/dev/null"])
        .current_dir(tmp.path())
        .env("TERM", "dumb")
        .env("PS1", "e2e$ ")
        .env_remove("TMPDIR");
    let out = {
        let mut run = spawn_command(c, true, Duration::from_secs(60));
        let prompt = run.wait_for("the shell's prompt", Duration::from_secs(30), |r| {
            !r.stdout_so_far().is_empty()
        });
        std::thread::sleep(Duration::from_millis(500));
        if prompt {
            // MON""ITOR and JOBS-$((1+1)): the echo of the input differs from the output.
            run.write_stdin(
                b"case $- in *m*) echo MON\"\"ITOR=on;; *) echo MON\"\"ITOR=off;; esac\n\
                  test -t 0 && test -t 1 && echo STDIN-IS-A-T\"\"TY\n\
                  sleep 300 &\n\
                  jobs\n\
                  kill %1; wait\n\
                  (sleep 2; echo RES\"\"UMED-OK)\n",
            );
            // The terminal turns ^Z and ^C into signals as they are typed: wait until
            // the foreground job runs before typing them.
            std::thread::sleep(Duration::from_millis(700));
            run.write_stdin(b"\x1a");
            std::thread::sleep(Duration::from_millis(500));
            run.write_stdin(b"jobs; echo STOP\"\"PED-$?\nfg\n");
            std::thread::sleep(Duration::from_secs(3));
            run.write_stdin(
                b"sh -c 'trap \"echo GOT-\"\"INT\" INT; sleep 3; echo AFTER-\"\"INT'\n",
            );
            std::thread::sleep(Duration::from_millis(700));
            run.write_stdin(b"\x03");
            std::thread::sleep(Duration::from_millis(500));
            run.write_stdin(b"echo JOBS-$((1+1))\nexit 5\n");
        }
        let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run.wait()));
        let left: Vec<_> = procs_matching(&marker)
            .into_iter()
            .filter(|(_, c)| !c.starts_with("/usr/bin/fusermount"))
            .collect();
        kill_pids(&left);
        match out {
            Ok(out) => out,
            Err(e) => std::panic::resume_unwind(e),
        }
    };
    let s = &out.stdout;
    assert!(
        s.contains("MONITOR=on"),
        "job control should be on in an interactive shell\n{out}"
    );
    assert!(
        !s.contains("no job control") && !s.contains("cannot set terminal process group"),
        "{out}"
    );
    assert!(
        s.contains("STDIN-IS-A-TTY"),
        "the build's stdin and stdout should be a tty\n{out}"
    );
    assert!(
        s.contains("[1]+") && s.contains("Running"),
        "`jobs` should list the sleep\n{out}"
    );
    assert!(
        s.contains("Stopped") && s.contains("STOPPED-0"),
        "Ctrl-Z should stop the foreground job\n{out}"
    );
    assert!(s.contains("RESUMED-OK"), "fg should resume it\n{out}");
    assert_eq!(
        s.matches("GOT-INT").count(),
        1,
        "Ctrl-C should arrive exactly once\n{out}"
    );
    assert!(s.contains("AFTER-INT"), "{out}");
    assert!(s.contains("JOBS-2"), "{out}");
    out.expect_code(5);
}

/// A terminal's Ctrl-C goes to the whole foreground process group, which a
/// non-interactive build shares with fusebox-run: fusebox-run must not forward it again.
fn ctrl_c_on_a_terminal_arrives_once(h: Helper) {
    let marker = unique("fusebox-e2e-ctrlc-");
    let tmp = tmpdir();
    // A handler per delivery (a shell's trap would merge two close SIGINTs into one).
    let counter = tmp.path().join("count-sigint.py");
    std::fs::write(
        &counter,
        "import signal, sys, time\n\
         got = []\n\
         signal.signal(signal.SIGINT, lambda s, f: got.append(s))\n\
         time.sleep(3)\n\
         print('GOT-%d' % len(got))\n\
         sys.exit(4)\n",
    )
    .unwrap();
    let cmd = format!(
        // exec: the shell `script` starts would itself die of the SIGINT after its child.
        "exec '{}' --mount-helper {} -- python3 '{}' {marker}",
        bin().display(),
        h.name(),
        counter.display()
    );
    let mut c = std::process::Command::new("script");
    c.args(["-qec", &cmd, "/dev/null"])
        .current_dir(tmp.path())
        .env("TERM", "dumb")
        .env_remove("TMPDIR");
    let out = {
        let mut run = spawn_command(c, true, Duration::from_secs(60));
        std::thread::sleep(Duration::from_millis(1500));
        run.write_stdin(b"\x03");
        let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run.wait()));
        kill_pids(&procs_matching(&marker));
        match out {
            Ok(out) => out,
            Err(e) => std::panic::resume_unwind(e),
        }
    };
    assert!(
        out.stdout.contains("GOT-1"),
        "the build should see Ctrl-C exactly once\n{out}"
    );
    out.expect_code(4);
}

/// A change made on the host while the build runs — new contents of a file the build has
/// read, a file the build has looked for in vain — is seen: at once with `--cache-ttl 0`,
/// within a second (the longest attributes and absences are cached) by default.
fn host_changes_are_seen_within_a_second(h: Helper) {
    for (ttl, settle) in [(Some("0"), ""), (None, "sleep 1.2")] {
        let mut sb = Sandbox::new(h);
        if let Some(ttl) = ttl {
            sb = sb.opt("--cache-ttl").opt(ttl);
        }
        let dir = sb.dir().to_path_buf();
        std::fs::write(dir.join("f"), "old\n").unwrap();
        let script = format!(
            r#"cat f; [ -e go ] || echo no-go-yet; touch ready
while [ ! -e go ]; do sleep 0.05; done
{settle}
cat f"#
        );
        let mut run = sb.spawn_sh_args(&script, &[] as &[&str]);
        let ready = run.wait_for("the build to read f", Duration::from_secs(30), |_| {
            dir.join("ready").exists()
        });
        assert!(ready, "the build never got ready: {}", run.stderr_so_far());
        std::fs::write(dir.join("f"), "new contents\n").unwrap();
        std::fs::write(dir.join("go"), "").unwrap();
        let out = run.wait();
        out.ok();
        assert_eq!(
            out.stdout_lines(),
            ["old", "no-go-yet", "new contents"],
            "--cache-ttl {ttl:?}: the host's changes should be seen\n{out}"
        );
    }
}

/// `--share DIR`: a FIFO and a Unix socket under DIR connect the build to processes on
/// the host (through the mirror alone they cannot); DIR stays unchangeable.
fn share_connects_fifos_and_sockets_to_the_host(h: Helper) {
    use std::io::{BufRead, Read, Write};
    use std::os::unix::net::UnixListener;
    let sb = Sandbox::new(h);
    let ipc = sb.dir().join("ipc");
    std::fs::create_dir(&ipc).unwrap();
    let fifo = ipc.join("in");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success(), "mkfifo");
    let listener = UnixListener::bind(ipc.join("sock")).unwrap();
    // The host's ends, each in a thread (the hang guard of the run bounds them).
    let fifo_reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            let mut got = String::new();
            std::fs::File::open(&fifo)
                .and_then(|mut f| f.read_to_string(&mut got))
                .map(|_| got)
        })
    };
    let server = std::thread::spawn(move || -> std::io::Result<String> {
        let (mut conn, _) = listener.accept()?;
        let mut line = String::new();
        std::io::BufReader::new(conn.try_clone()?).read_line(&mut line)?;
        conn.write_all(format!("host got {line}").as_bytes())?;
        Ok(line)
    });
    let out = sb.opt("--share").opt(&ipc).run_sh_args(
        r#"echo through-the-fifo > "$1/in"
python3 -c 'import socket,sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1] + "/sock")
s.sendall(b"hello\n"); print(s.makefile().readline().strip())' "$1"
touch "$1/new" 2>/dev/null && echo created || echo refused"#,
        &[&ipc],
    );
    out.ok();
    let fifo_got = fifo_reader.join().unwrap().unwrap();
    let socket_got = server.join().unwrap().unwrap();
    assert_eq!(
        fifo_got, "through-the-fifo\n",
        "the host should read the FIFO\n{out}"
    );
    assert_eq!(
        socket_got, "hello\n",
        "the host should get the connection\n{out}"
    );
    assert_eq!(out.stdout_lines(), ["host got hello", "refused"], "{out}");
    assert!(
        !ipc.join("new").exists(),
        "nothing may be created under a share"
    );
}

// =============================================================================================

macro_rules! e2e_tests {
    (
        plain: [$($p:ident),* $(,)?],
        shared: [$($s:ident),* $(,)?],
        exclusive: [$($x:ident),* $(,)?] $(,)?
    ) => {
        e2e_tests!(@mod direct Direct [$($p),*] [$($s),*] [$($x),*]);
        e2e_tests!(@mod fusermount3 Fusermount3 [$($p),*] [$($s),*] [$($x),*]);
    };
    (@mod $m:ident $h:ident [$($p:ident),*] [$($s:ident),*] [$($x:ident),*]) => {
        mod $m {
            use crate::common::{exclusive, require_working, shared, Helper};
            $(
                #[test]
                fn $p() {
                    let _g = shared();
                    crate::$p(Helper::$h)
                }
            )*
            $(
                #[test]
                fn $s() {
                    let _g = shared();
                    require_working(Helper::$h);
                    crate::$s(Helper::$h)
                }
            )*
            $(
                #[test]
                fn $x() {
                    let _g = exclusive();
                    require_working(Helper::$h);
                    crate::$x(Helper::$h)
                }
            )*
        }
    };
}

e2e_tests! {
    // No sandbox needs to start for these.
    plain: [
        bad_option_is_a_usage_error,
        setup_failure_is_125,
        version_and_help,
        check_passes_here,
        check_names_the_dev_fuse_fix,
    ],
    shared: [
        exit_code_is_the_commands,
        killed_by_signal_is_128_plus_n,
        missing_command_is_127,
        non_executable_command_is_126,
        stdin_and_cwd_pass_through,
        pid_namespace_holds_only_the_sandbox,
        background_job_does_not_keep_the_sandbox,
        sigterm_reaches_the_build_once,
        sigint_reaches_the_build_once,
        other_forwarded_signals_reach_the_build_once,
        root_is_the_fuse_mirror,
        dev_is_minimal_and_works,
        sys_is_read_only,
        host_files_read_back_identical,
        stat_matches_the_host,
        hard_links_share_an_inode,
        inode_numbers_distinct_across_host_filesystems,
        build_dir_is_writable_and_results_land_on_the_host,
        default_write_set_is_cwd_tmp_and_tmpdir,
        writes_outside_the_write_set_are_denied,
        write_option_adds_a_write_path,
        tarball_extraction_keeps_mtimes,
        autotools_configure_and_make,
        find_usr_matches_the_host,
        host_changes_are_seen_within_a_second,
        share_connects_fifos_and_sockets_to_the_host,
        net_none_has_only_lo_up,
        net_host_shares_the_host_network,
        uid_map_self_and_root,
        hostname_and_ipc_options,
        interactive_shell_has_job_control,
        ctrl_c_on_a_terminal_arrives_once,
        // The access policy (tests/e2e/policy.rs).
        policy_write_ops_allowed_under_write,
        policy_write_ops_denied_are_refused_and_logged,
        policy_write_ops_predicted_fail_quietly,
        policy_o_tmpfile_is_judged_on_its_directory,
        policy_deny_refuses_reads_and_writes_under_it,
        policy_read_list_limits_reads,
        policy_gentoo_quirks,
        policy_log_format_is_gentoos,
        policy_log_only_on_violation_and_stale_log_removed,
        policy_default_log_path,
        policy_log_is_seen_at_once_inside,
        policy_summary_and_exit_status,
        policy_verbose_prints_each_denial_as_it_happens,
        policy_audit_lets_operations_succeed,
        policy_file_entries_work_like_options,
        // Gentoo mode (tests/e2e/gentoo.rs).
        gentoo_version_and_nesting,
        gentoo_portage_style_launch,
        gentoo_flag_with_caller_lists,
        gentoo_live_addwrite_in_the_shell,
        gentoo_live_sandbox_on_toggles,
        gentoo_live_subshell_scope,
        gentoo_live_no_escape,
        gentoo_live_declarations_follow_the_lock,
        gentoo_debug_log,
        // Real Portage (tests/e2e/portage.rs).
        portage_clean_ebuild_installs,
        portage_writes_outside_fail_the_phase,
        portage_addwrite_and_addpredict,
        portage_static_program_is_caught,
        portage_fusebox_opts_isolate_the_network,
        policy_file_errors_are_usage_errors,
        policy_escape_hard_link_and_rename_into_build_dir,
        policy_escape_symlink_in_build_dir,
        policy_escape_dir_swapped_for_symlink,
        policy_escape_through_proc_links,
        policy_escape_root_cannot_unmount_the_mirror,
        control_file_adds_a_write_path_and_lock_refuses_changes,
        lock_option_refuses_changes_from_the_start,
        learn_then_policy_gives_a_clean_run,
        learn_o_tmpfile_allows_its_directory_itself,
        trace_records_each_operation,
        // File-system integrity through the mirror (tests/e2e/integrity.rs).
        integrity_utime_omit_leaves_the_other_time_alone,
        integrity_hard_link_attributes_are_never_stale,
        integrity_created_files_belong_to_the_user,
        integrity_fallocate_modes_match_the_host,
        integrity_o_tmpfile_in_the_build_dir,
        integrity_unlinked_but_open_file_still_works,
        integrity_rename_over_an_open_file,
        integrity_large_sparse_file,
        integrity_concurrent_o_append_loses_nothing,
        integrity_reused_inode_number_is_a_new_directory,
        integrity_fstat_of_an_open_file_during_renames,
        integrity_hard_link_renamed_away_leaves_no_stale_path,
        // Stress tests of the mirror, short (tests/e2e/stress.rs; scripts/stress.sh: long).
        stress_fsx_matches_its_model_and_the_host,
        stress_names_tree_stays_consistent,
        stress_race_lookups_stay_consistent_and_memory_bounded,
        // issue 12: the record cannot be silenced, erased, stalled or forged
        // (tests/e2e/record.rs).
        record_planted_default_log_names_silence_nothing,
        record_the_build_cannot_touch_its_log,
        record_the_default_log_directory_is_out_of_reach,
        record_the_mount_staging_directory_is_out_of_reach,
        record_gentoo_sandbox_log_cannot_be_silenced,
        record_planted_log_targets_are_refused_at_start,
        record_sigterm_ends_a_stalled_teardown,
        record_newlines_and_escapes_cannot_forge_the_record,
        record_a_broken_stderr_changes_nothing,
        record_a_full_disk_is_reported_and_ends_at_a_boundary,
        record_log_never_replaces_what_is_not_a_log,
        record_learn_is_checked_first_and_never_lost,
        record_precreated_names_do_not_stop_runs,
        record_ignored_signals_stay_ignored,
        record_trace_to_stdout_and_inherited_fds,
        // issue 16: first contact and packaging (tests/e2e/packaging.rs).
        usage_errors_exit_2_in_one_line,
        fusebox_opts_apply_in_plain_mode,
        write_options_add_to_the_defaults_and_no_default_write_empties_them,
        a_stale_or_relative_tmpdir_falls_back_to_tmp_with_a_warning,
        a_warning_on_a_closed_stderr_does_not_stop_the_run,
        a_cwd_of_root_or_home_is_warned_about,
        policy_file_comment_after_a_blank_is_not_part_of_the_path,
        learn_keeps_the_users_deny_entries,
        learn_widens_to_the_file_under_home_and_says_why,
        test_command_without_fuse_stops_at_once_naming_the_fix,
        // issue 11: isolation (tests/e2e/isolation.rs)
        isolation_tiocsti_is_refused_on_a_terminal,
        isolation_kill_0_stays_inside,
        isolation_ancestor_rename_cannot_carry_a_denied_entry,
        isolation_keyring_and_ipc_are_the_sandboxs_own,
        isolation_control_handles_are_bounded,
        isolation_ancestor_rename_against_gentoo_sandbox_deny,
        isolation_ctrl_z_stops_the_sandbox_as_a_job,
        // issue 17: the secrets set (tests/e2e/secrets.rs).
        secrets_reads_are_refused_and_reported,
        secrets_read_option_and_no_default_deny,
        secrets_writes_links_and_renames_are_refused,
        secrets_renaming_an_ancestor_opens_no_way,
        secrets_key_swapped_for_a_symlink,
        secrets_show_defaults_and_bad_options,
        secrets_ordinary_builds_have_no_violation,
        secrets_learn_comments_a_secret_it_re_allows,
        secrets_audit_still_refuses_them,
        secrets_gentoo_mode_only_on_request,
        // issue 15: the footprint report (tests/e2e/report.rs).
        report_json_shows_the_sample_build,
        report_txt_shows_the_sample_build,
        report_html_in_a_real_browser_shows_the_sample_build,
        report_escapes_hostile_names,
        report_from_a_saved_trace,
        report_footprint_line_on_a_terminal,
        report_replaces_a_fifo_or_symlink_the_build_planted,
        report_portage_undeclared_dependencies,
        report_with_stderr_closed,
        // issue 14: the mirror's request counts (tests/e2e/stats.rs).
        stats_counts_requests_by_opcode,
        stats_file_is_checked_before_the_build_runs,
    ],
    // These count host-wide FUSE mounts and fusebox processes: they run alone.
    exclusive: [
        sigkill_of_fusebox_kills_the_whole_sandbox,
        // issue 11: isolation (tests/e2e/isolation.rs)
        isolation_staging_cannot_be_moved_or_killed,
        isolation_another_sandboxs_mirror_is_unreachable,
        isolation_a_moved_mount_is_still_unmounted,
        isolation_a_failed_teardown_fails_the_run,
    ],
}

/// issue 16: the Gentoo ebuild, built and merged by real Portage offline. Once, not per
/// helper: it is a release build of fusebox (tests/e2e/packaging.rs).
#[test]
fn packaging_ebuild_merges_fusebox_offline_in_the_prefix() {
    let _g = shared();
    ebuild_merges_fusebox_offline_in_the_prefix();
}
