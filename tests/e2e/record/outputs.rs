//! fusebox-run's outputs when they are hard to write: a broken stderr, a full disk (silent
//! trace loss, the violation log), and the trace to stdout or an inherited descriptor.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::*;
use crate::common::*;

// =============================================================================================
// Broken stderr.

/// Runs the sandbox with stderr `err`; the build makes two refused writes and then one
/// allowed write (the mirror must keep serving). Returns the exit status.
fn with_stderr(h: Helper, verbose: bool, err: Stdio, dir: &Path) -> (Option<i32>, Duration) {
    let mut c = Command::new(bin());
    c.args(["--mount-helper", h.name()]);
    if verbose {
        c.arg("-v");
    }
    c.args(["--log", "log", "--", "sh", "-c"])
        .arg("touch /etc/fusebox-e2e-e1 /etc/fusebox-e2e-e2 2>/dev/null; echo ok > done")
        .current_dir(dir)
        .env_remove("TMPDIR")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(err);
    let started = Instant::now();
    let mut child = c.spawn().unwrap();
    let ended = wait_until(PROMPT, || child.try_wait().unwrap().is_some());
    if !ended {
        let _ = child.kill();
    }
    let status = child.wait().unwrap();
    assert!(ended, "hung with a broken stderr");
    (status.code(), started.elapsed())
}

e2e!(shared, record_a_broken_stderr_changes_nothing);
fn record_a_broken_stderr_changes_nothing(h: Helper) {
    for verbose in [true, false] {
        for kind in ["closed pipe", "/dev/full"] {
            let t = tmpdir();
            let err = match kind {
                "closed pipe" => {
                    let (reader, writer) = nix::unistd::pipe().unwrap();
                    drop(reader);
                    Stdio::from(writer)
                }
                _ => Stdio::from(
                    std::fs::OpenOptions::new()
                        .write(true)
                        .open("/dev/full")
                        .unwrap(),
                ),
            };
            let (code, took) = with_stderr(h, verbose, err, t.path());
            let what = format!("-v {verbose}, stderr {kind}");
            assert_eq!(code, Some(1), "{what}");
            assert!(took < PROMPT, "{what}: {took:?}");
            let done = std::fs::read_to_string(t.path().join("done"));
            assert_eq!(
                done.ok().as_deref(),
                Some("ok\n"),
                "{what}: the mirror stopped"
            );
            let log = std::fs::read_to_string(t.path().join("log")).unwrap();
            assert_eq!(whole_blocks(&log).len(), 2, "{what}\n{log}");
        }
    }
    // A stderr nobody reads: the -v lines and the summary (far more than a pipe holds)
    // are dropped after a short wait, the build goes on, the run ends.
    let t = tmpdir();
    let (reader, writer) = nix::unistd::pipe().unwrap();
    let long = "x".repeat(200);
    let mut c = Command::new(bin());
    c.args([
        "--mount-helper",
        h.name(),
        "-v",
        "--log",
        "log",
        "--",
        "sh",
        "-c",
    ])
    .arg(format!(
        "for i in $(seq 1 600); do touch /etc/{long}$i 2>/dev/null; done; echo ok > done"
    ))
    .current_dir(t.path())
    .env_remove("TMPDIR")
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(Stdio::from(writer));
    let mut child = c.spawn().unwrap();
    let ended = wait_until(Duration::from_secs(60), || {
        child.try_wait().unwrap().is_some()
    });
    if !ended {
        let _ = child.kill();
    }
    let status = child.wait().unwrap();
    drop(reader);
    assert!(ended, "a stderr nobody reads stalled the run");
    assert_eq!(status.code(), Some(1));
    assert!(t.path().join("done").exists());
    let log = std::fs::read_to_string(t.path().join("log")).unwrap();
    assert_eq!(whole_blocks(&log).len(), 600);

    // A clean build keeps its status whatever stderr is.
    let t = tmpdir();
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let mut c = Command::new(bin());
    c.args(["--mount-helper", h.name(), "-v", "--", "true"])
        .current_dir(t.path())
        .stderr(full);
    assert_eq!(c.status().unwrap().code(), Some(0));
}

// =============================================================================================
// Silent trace loss, and the violation log on a full disk.

/// A 1 KiB file size limit for fusebox-run, SIGXFSZ ignored (writes past it fail with
/// EFBIG); its stderr goes through a `cat` started before the limit, so that the test
/// sees all of it.
const FULL_DISK_1K: &str = "exec 3>&2 2> >(cat >&3); p=$!; exec 3>&-; trap '' XFSZ; ulimit -f 1";

e2e!(
    shared,
    record_a_full_disk_is_reported_and_ends_at_a_boundary
);
fn record_a_full_disk_is_reported_and_ends_at_a_boundary(h: Helper) {
    let t = tmpdir();
    // The log: 12 refused writes, about 1.4 KiB of log; the limit is 1 KiB.
    let log = t.path().join("log");
    let c = through_bash(
        h,
        FULL_DISK_1K,
        &os(&[
            "--log",
            s(&log),
            "--",
            "sh",
            "-c",
            "for i in 1 2 3 4 5 6 7 8 9 10 11 12; do touch /etc/fusebox-e2e-full$i 2>/dev/null; done",
        ]),
        t.path(),
    );
    let out = spawn_command(c, false, DEFAULT_TIMEOUT).wait();
    out.expect_code(1);
    prompt(&out);
    let failure = format!("fusebox-run: cannot write the violation log {}: ", s(&log));
    assert!(out.stderr.contains(&failure), "{out}");
    // Every violation is in the summary, the log holds whole blocks only.
    for i in 1..=12 {
        let p = format!("/etc/fusebox-e2e-full{i}");
        assert!(summary_has(&out.stderr, "open_wr_creat", &p), "{p}\n{out}");
    }
    let text = std::fs::read_to_string(&log).unwrap();
    let kept = whole_blocks(&text).len();
    assert!(kept > 0 && kept < 12, "{kept} blocks\n{text}");

    // The trace: a directory walk's worth of lines past the limit.
    let trace = t.path().join("trace");
    let c = through_bash(
        h,
        &FULL_DISK_1K.replace("-f 1", "-f 8"),
        &os(&[
            "--trace",
            s(&trace),
            "--",
            "sh",
            "-c",
            "ls -R /usr/share > /dev/null 2>&1; exit 0",
        ]),
        t.path(),
    );
    let out = spawn_command(c, false, DEFAULT_TIMEOUT).wait();
    out.expect_code(1);
    prompt(&out);
    let failure = format!("fusebox-run: cannot write the trace {}: ", s(&trace));
    assert!(out.stderr.contains(&failure), "{out}");
    let text = std::fs::read_to_string(&trace).unwrap();
    assert!(
        !text.is_empty() && text.ends_with("}\n"),
        "a cut line:\n{text}"
    );
    assert!(
        text.lines()
            .all(|l| l.starts_with("{\"time\":") && l.ends_with('}'))
    );

    // A real full disk: a 16 KiB tmpfs, mounted in a user namespace of our own (the
    // direct mount works there; the setuid fusermount3 does not).
    if h == Helper::Direct {
        let small = tmpdir();
        let log = small.path().join("log");
        let trace = small.path().join("trace");
        let mut c = Command::new("unshare");
        c.args(["-Urm", "bash", "-c"])
            .arg(r#"mount -t tmpfs -o size=16k tmpfs "$1" && shift && exec "$@""#)
            .arg("bash")
            .arg(small.path())
            .arg(bin())
            .args([
                "--mount-helper",
                "direct",
                "--log",
                s(&log),
                "--trace",
                s(&trace),
            ])
            .args(["--", "sh", "-c"])
            .arg("for i in $(seq 1 100); do touch /etc/fusebox-e2e-enospc$i 2>/dev/null; done")
            .current_dir(t.path())
            .env_remove("TMPDIR");
        let out = spawn_command(c, false, DEFAULT_TIMEOUT).wait();
        out.expect_code(1);
        prompt(&out);
        for what in ["violation log", "trace"] {
            assert!(
                out.stderr
                    .contains(&format!("fusebox-run: cannot write the {what} ")),
                "{out}"
            );
        }
        assert!(out.stderr.contains("No space left on device"), "{out}");
        assert!(
            summary_has(&out.stderr, "open_wr_creat", "/etc/fusebox-e2e-enospc100"),
            "{out}"
        );
    }

    // A trace that is no file at all is refused at start, the build not run.
    let out = Sandbox::new(h)
        .opt("--trace")
        .opt("/dev/full")
        .run(&["touch", "ran"]);
    out.expect_code(125);
    assert!(out.stderr.contains("--trace /dev/full"), "{out}");
}

// =============================================================================================
// Issue 16 (its output-file part): `--trace -`, /dev/stdout and inherited descriptors.

e2e!(shared, record_trace_to_stdout_and_inherited_fds);
fn record_trace_to_stdout_and_inherited_fds(h: Helper) {
    let sb_dir = tmpdir();
    let sb = Sandbox::new(h).cwd(sb_dir.path());
    let out = sb.opt("--trace").opt("-").run(&["cat", "/etc/passwd"]);
    out.ok();
    assert!(!sb_dir.path().join("-").exists(), "a file named -");
    let json: Vec<&str> = out
        .stdout_lines()
        .into_iter()
        .filter(|l| l.starts_with('{'))
        .collect();
    assert!(
        json.iter().any(|l| l.contains("\"path\":\"/etc/passwd\"")),
        "{out}"
    );

    let out = Sandbox::new(h)
        .opt("--trace")
        .opt("/dev/stdout")
        .run(&["true"]);
    out.ok();
    assert!(
        out.stdout.lines().any(|l| l.contains("\"op\":\"execve\"")),
        "{out}"
    );

    let t = tmpdir();
    let file = t.path().join("fd7.json");
    let c = through_bash(
        h,
        &format!("exec 7> '{}'", s(&file)),
        &os(&["--trace", "/dev/fd/7", "--", "true"]),
        t.path(),
    );
    spawn_command(c, false, DEFAULT_TIMEOUT).wait().ok();
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.lines().count() > 0 && text.ends_with("}\n"), "{text}");

    // The build may read a trace file, never change it.
    let sb_dir = tmpdir();
    let sb = Sandbox::new(h).cwd(sb_dir.path());
    let trace = sb.dir().join("t.json");
    let out = sb.opt("--trace").opt(&trace).run_sh_args(
        r#"cat "$1" > /dev/null && echo read; true > "$1"; rm -f "$1"; exit 0"#,
        &[&trace],
    );
    out.expect_code(1);
    assert_eq!(out.stdout, "read\n", "{out}");
    assert!(summary_has(&out.stderr, "unlink", s(&trace)), "{out}");
    assert!(std::fs::metadata(&trace).unwrap().len() > 0);
}
