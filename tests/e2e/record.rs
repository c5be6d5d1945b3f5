//! The record (issue 12): a hostile build can neither silence, erase, stall nor forge
//! what fusebox reports. Each test is one of the issue's cases, tried the way a hostile
//! build or a careless user would; in each the refused operations are in the summary,
//! the exit status is 1 (or the build's own failure), and fusebox-run ends within
//! seconds.
//!
//! A "full disk" is a file size limit here (`ulimit -f`, SIGXFSZ ignored): writes past
//! it fail (EFBIG) after a partial write, exactly as on a full disk, and an
//! unprivileged test can set it.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

/// "Within seconds": what every run here must take at most (they take about one).
const PROMPT: Duration = Duration::from_secs(20);

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// A directory under the test user's home: in no write list of fusebox's defaults.
fn outside() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("fusebox-e2e-record.")
        .tempdir_in(home())
        .unwrap()
}

/// The log's blocks (each its lines), checking that the log is whole: the header,
/// then blocks of exactly F, S, P, A, R, C.
fn whole_blocks(log: &str) -> Vec<Vec<&str>> {
    assert!(log.starts_with(LOG_HEADER), "no header:\n{log}");
    assert!(log.ends_with('\n'), "the log ends mid-line:\n{log}");
    let blocks: Vec<Vec<&str>> = log[LOG_HEADER.len()..]
        .split("\n\n")
        .map(|b| b.trim_start_matches('\n').lines().collect())
        .filter(|b: &Vec<&str>| !b.is_empty())
        .collect();
    for b in &blocks {
        let keys: Vec<&str> = b.iter().map(|l| l.split(": ").next().unwrap()).collect();
        assert_eq!(
            keys,
            ["F", "S", "P", "A", "R", "C"],
            "a broken block: {b:?}\n{log}"
        );
        assert_eq!(b[1], "S: deny", "{log}");
    }
    blocks
}

/// Whether the summary on stderr lists a denied `op` on `path`.
fn summary_has(stderr: &str, op: &str, path: &str) -> bool {
    stderr.contains(" * ----------------------- SANDBOX ACCESS VIOLATION SUMMARY")
        && stderr.contains(&format!("F: {op}\nS: deny\nP: {path}\n"))
}

#[track_caller]
fn prompt(out: &Out) {
    assert!(out.elapsed < PROMPT, "took {:?}\n{out}", out.elapsed);
}

/// `fusebox-run --mount-helper H ARGS…` started by bash after `setup` (shell code: a
/// signal disposition, a limit, a redirection), in `cwd`, without TMPDIR. A `setup` that
/// puts a process substitution in front of stderr sets `p=$!`: bash then waits for it
/// to pass everything on before it exits.
fn through_bash(h: Helper, setup: &str, args: &[&OsStr], cwd: &Path) -> Command {
    let mut c = Command::new("bash");
    c.arg("-c")
        .arg(format!(
            "{setup}\n\"$@\"; rc=$?; exec 2>&-; [ -z \"${{p-}}\" ] || wait \"$p\"; exit $rc"
        ))
        .arg("bash")
        .arg(bin())
        .arg("--mount-helper")
        .arg(h.name())
        .args(args)
        .current_dir(cwd)
        .env_remove("TMPDIR");
    c
}

fn os<'a>(args: &[&'a str]) -> Vec<&'a OsStr> {
    args.iter().map(|a| OsStr::new(*a)).collect()
}

// =============================================================================================
// 1. Uncounted violations: what is planted at the log path cannot silence the run.

e2e!(shared, record_planted_default_log_names_silence_nothing);
/// The old default log names (`/tmp/fusebox-UID-PID.log`) planted as symlinks to
/// /dev/null for a range of pids, then an `--audit` run that writes outside: the write
/// happens (audit), and is reported all the same, in a log in a fresh private
/// directory.
fn record_planted_default_log_names_silence_nothing(h: Helper) {
    let out_dir = outside();
    let target = out_dir.path().join("written");
    let me = my_uid();
    let base = std::process::id() as i32;
    let mut planted = Vec::new();
    for pid in base..base + 400 {
        let p = PathBuf::from(format!("/tmp/fusebox-{me}-{pid}.log"));
        if std::os::unix::fs::symlink("/dev/null", &p).is_ok() {
            planted.push(p);
        }
    }
    let out = Sandbox::new(h)
        .opt("--audit")
        .run_sh_args("echo x > \"$1\"", &[&target]);
    for p in &planted {
        let _ = std::fs::remove_file(p);
    }
    out.expect_code(1);
    prompt(&out);
    assert!(target.exists(), "--audit lets it through\n{out}");
    assert!(
        summary_has(&out.stderr, "open_wr_creat", s(&target)),
        "{out}"
    );
    let log = log_file_named_in(&out.stderr);
    let dir = log.parent().unwrap();
    let dir_meta = std::fs::symlink_metadata(dir).unwrap();
    assert!(dir_meta.is_dir() && dir_meta.permissions().mode() & 0o777 == 0o700);
    let log_meta = std::fs::symlink_metadata(&log).unwrap();
    assert!(log_meta.is_file(), "{out}");
    assert_eq!(log_meta.permissions().mode() & 0o777, 0o600);
    assert_eq!(
        whole_blocks(&std::fs::read_to_string(&log).unwrap()).len(),
        1
    );
    std::fs::remove_dir_all(dir).unwrap();
}

e2e!(shared, record_the_default_log_directory_is_out_of_reach);
/// The build finds its default log's private directory (it may list `$TMPDIR`) and
/// attacks it: a symlink, a FIFO or a directory at the log's name, a file beside it,
/// the directory removed or renamed. All refused and reported; the log survives whole.
fn record_the_default_log_directory_is_out_of_reach(h: Helper) {
    let td = tmpdir();
    let script = r#"touch /etc/fusebox-e2e-record-default 2>/dev/null
for d in "$TMPDIR"/fusebox-$(id -u)-*; do
  L=$d/violations.log
  cat "$L" > /dev/null && echo read-ok
  ln -sfn /dev/null "$L" && echo SYMLINKED
  mkfifo "$d/fifo" && echo FIFO
  mkdir "$d/dir" && echo DIR
  touch "$d/beside" && echo BESIDE
  rm -rf "$d" && echo REMOVED
  mv "$d" "$d.moved" && echo RENAMED
done 2>/dev/null
exit 0"#;
    let out = Sandbox::new(h)
        .env("TMPDIR", td.path())
        .env_remove("XDG_RUNTIME_DIR")
        .run_sh(script);
    out.expect_code(1);
    prompt(&out);
    assert_eq!(out.stdout, "read-ok\n", "{out}");
    let log = log_file_named_in(&out.stderr);
    assert_eq!(log.parent().unwrap().parent(), Some(td.path()), "{out}");
    let text = std::fs::read_to_string(&log).unwrap();
    let blocks = whole_blocks(&text);
    for op in [
        "symlink",
        "rename",
        "mkfifo",
        "mkdir",
        "open_wr_creat",
        "unlink",
    ] {
        assert!(
            blocks.iter().any(|b| b[0] == format!("F: {op}")),
            "{op}\n{text}"
        );
    }
    assert_eq!(out.stderr.matches("\nF: ").count(), blocks.len(), "{out}");
}

e2e!(shared, record_the_mount_staging_directory_is_out_of_reach);
/// fusermount3's staging directory (on the host, in the private `/tmp/fusebox-UID` when
/// there is no `$XDG_RUNTIME_DIR`; never in `$TMPDIR`) holds the mirror's mountpoint:
/// the build can neither see into it nor rename it. With the direct mount the place
/// may not exist (only another run's fusermount3 mount makes it); where it does, the
/// same holds.
fn record_the_mount_staging_directory_is_out_of_reach(h: Helper) {
    let td = tmpdir();
    let script = r#"d=/tmp/fusebox-$(id -u)
if [ -d "$d" ]; then
  echo parent
  mv "$d" "$d.moved" 2>/dev/null && echo RENAMED
fi
n=0
for x in "$d"/* "$TMPDIR"/fusebox-??????; do [ -e "$x" ] && n=$((n+1)); done
echo "visible=$n"
exit 0"#;
    let out = Sandbox::new(h)
        .env("TMPDIR", td.path())
        .env_remove("XDG_RUNTIME_DIR")
        .run_sh(script);
    prompt(&out);
    assert!(!out.stdout.contains("RENAMED"), "{out}");
    assert!(out.stdout.ends_with("visible=0\n"), "{out}");
    if h == Helper::Fusermount3 {
        out.expect_code(1);
        assert_eq!(out.stdout, "parent\nvisible=0\n", "{out}");
        assert!(out.stderr.contains("F: rename\n"), "{out}");
        assert!(!out.stderr.contains("warning"), "{out}");
    }
}

/// The log path the summary names.
fn log_file_named_in(stderr: &str) -> PathBuf {
    let line = stderr
        .lines()
        .find_map(|l| l.strip_prefix(" * LOG FILE: \""))
        .unwrap_or_else(|| panic!("no LOG FILE line:\n{stderr}"));
    PathBuf::from(line.trim_end_matches('"'))
}

e2e!(shared, record_the_build_cannot_touch_its_log);
/// The build, inside, tries every way to undo its log (`--log` in its own write area):
/// write, truncate, chmod, rename, delete, and replace it with a symlink, a FIFO or a
/// directory. Each is refused and reported; the log on the host holds every block.
fn record_the_build_cannot_touch_its_log(h: Helper) {
    let sb_dir = tmpdir();
    let sb = Sandbox::new(h).cwd(sb_dir.path());
    let log = sb.dir().join("build.log");
    let script = r#"L=$1
touch /etc/fusebox-e2e-record-first 2>/dev/null
cat "$L" > /dev/null && echo read-ok
echo forged >> "$L" && echo WROTE
true > "$L" && echo TRUNCATED
chmod 0 "$L" && echo CHMODDED
mv "$L" "$L.moved" && echo RENAMED
rm -f "$L"; [ -e "$L" ] || echo DELETED
ln -sfn /dev/null "$L" && echo SYMLINKED
mkfifo "$L.fifo" && mv -T "$L.fifo" "$L" && echo FIFO
mkdir "$L.d" && mv -T "$L.d" "$L" && echo DIR
touch "$L.other" && ln -f "$L.other" "$L" && echo HARDLINKED
ln "$L" "$L.alias" && echo ALIASED
exit 0"#;
    let out = sb.opt("--log").opt(&log).run_sh_args(script, &[&log]);
    out.expect_code(1);
    prompt(&out);
    assert_eq!(out.stdout, "read-ok\n", "only reading may succeed\n{out}");
    let text = std::fs::read_to_string(&log).unwrap();
    let blocks = whole_blocks(&text);
    let logged: Vec<&str> = blocks.iter().map(|b| b[0]).collect();
    for op in ["open_wr", "chmod", "rename", "unlink", "link"] {
        assert!(
            logged.contains(&format!("F: {op}").as_str()),
            "{op}: {text}"
        );
        assert!(out.stderr.contains(&format!("F: {op}\n")), "{op}\n{out}");
    }
    assert!(summary_has(
        &out.stderr,
        "open_wr_creat",
        "/etc/fusebox-e2e-record-first"
    ));
    let meta = std::fs::symlink_metadata(&log).unwrap();
    assert!(meta.is_file() && meta.permissions().mode() & 0o777 == 0o600);
    assert!(!text.lines().any(|l| l == "forged"), "{text}");
    // The summary (from memory) and the log hold the same violations.
    assert_eq!(out.stderr.matches("\nF: ").count(), blocks.len(), "{out}");
}

e2e!(shared, record_gentoo_sandbox_log_cannot_be_silenced);
/// Gentoo mode: the build is told `SANDBOX_LOG` (in `${T}`, writable). `ln -s
/// /dev/null "$SANDBOX_LOG"`, then two refused writes: still exit 1 and a non-empty
/// log for Portage's `[[ -s $SANDBOX_LOG ]]`, even for a process with SANDBOX_ON=0.
fn record_gentoo_sandbox_log_cannot_be_silenced(h: Helper) {
    let t = tmpdir();
    let log = t.path().join("sandbox.log");
    let script = r#"ln -sf /dev/null "$SANDBOX_LOG" 2>/dev/null && echo LINKED
touch /etc/fusebox-e2e-record-g1 2>/dev/null
touch /etc/fusebox-e2e-record-g2 2>/dev/null
SANDBOX_ON=0 rm -f "$SANDBOX_LOG" 2>/dev/null; [ -s "$SANDBOX_LOG" ] && echo still-there
SANDBOX_ON=0 mkfifo "$SANDBOX_LOG.f" && SANDBOX_ON=0 mv -T "$SANDBOX_LOG.f" "$SANDBOX_LOG" 2>/dev/null || echo no-fifo
exit 0"#;
    let out = Sandbox::new(h)
        .env("SANDBOX_LOG", &log)
        .run_args(&["--gentoo", "bash", "-c", script]);
    out.expect_code(1);
    prompt(&out);
    assert_eq!(out.stdout, "still-there\nno-fifo\n", "{out}");
    let text = std::fs::read_to_string(&log).unwrap();
    let blocks = whole_blocks(&text);
    for p in ["/etc/fusebox-e2e-record-g1", "/etc/fusebox-e2e-record-g2"] {
        assert!(blocks.iter().any(|b| b[2] == format!("P: {p}")), "{text}");
        assert!(summary_has(&out.stderr, "open_wr_creat", p), "{out}");
    }
    assert!(text.contains("F: rename\n"), "{text}");
    assert!(text.contains("F: unlink\n"), "{text}");
}

e2e!(shared, record_planted_log_targets_are_refused_at_start);
/// Planted before the run (by an earlier phase, or another process): a symlink, a FIFO
/// or a directory at `SANDBOX_LOG` or `--log` is refused at start with one line naming
/// it (exit 125), never followed, waited on or removed.
fn record_planted_log_targets_are_refused_at_start(h: Helper) {
    let t = tmpdir();
    let victim = t.path().join("victim");
    std::fs::write(&victim, "precious\n").unwrap();
    for (kind, plant) in [
        ("symlink", "ln -s victim sandbox.log"),
        ("FIFO", "mkfifo sandbox.log"),
        ("directory", "mkdir sandbox.log"),
    ] {
        native_sh(
            &format!("rm -rf sandbox.log; {plant}"),
            &[] as &[&str],
            t.path(),
        );
        let log = t.path().join("sandbox.log");
        let marker = t.path().join("ran");
        for gentoo in [true, false] {
            let sb = Sandbox::new(h);
            let out = if gentoo {
                sb.env("SANDBOX_LOG", &log)
                    .run_args(&["--gentoo", "touch", s(&marker)])
            } else {
                sb.opt("--log").opt(&log).run(&["touch", s(&marker)])
            };
            out.expect_code(125);
            prompt(&out);
            assert!(!marker.exists(), "the build ran\n{out}");
            assert_eq!(out.stderr.lines().count(), 1, "{out}");
            assert!(
                out.stderr.contains(s(&log)) && out.stderr.contains(kind),
                "{out}"
            );
            let ft = std::fs::symlink_metadata(&log).unwrap().file_type();
            assert!(
                ft.is_symlink() || ft.is_fifo() || ft.is_dir(),
                "{kind} removed"
            );
        }
    }
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
}

// =============================================================================================
// 2. A stalled fusebox-run: signals end it during teardown.

e2e!(shared, record_sigterm_ends_a_stalled_teardown);
/// The trace goes to an inherited pipe nobody reads: the writer blocks for good, and
/// fusebox-run with it. SIGTERM ends it within seconds, with nothing left behind.
fn record_sigterm_ends_a_stalled_teardown(h: Helper) {
    let marker = unique("fusebox-e2e-stall-");
    let (reader, writer) = nix::unistd::pipe().unwrap();
    let cwd = tmpdir();
    // Some thousands of events: far more than a pipe holds, far fewer than the queue
    // between the mirror and the writer (so the build itself never waits).
    let script =
        format!("ls -la /usr/bin /usr/lib > /dev/null 2>&1; echo > done; sleep 0 {marker}");
    let mut c = Command::new(bin());
    c.args(["--mount-helper", h.name(), "--trace", "/dev/fd/1", "--"])
        .args(["sh", "-c", &script])
        .current_dir(cwd.path())
        .env_remove("TMPDIR")
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(Stdio::null())
        .process_group(0);
    use std::os::unix::process::CommandExt;
    let mut child = c.spawn().unwrap();
    // Let the build end and the writer block on the full pipe.
    let done = cwd.path().join("done");
    let build_ended = wait_until(Duration::from_secs(60), || done.exists());
    assert!(build_ended, "the build did not end");
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        child.try_wait().unwrap().is_none(),
        "fusebox-run did not stall on the pipe"
    );
    let asked = Instant::now();
    // SAFETY: kill(2) on our own unreaped child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let ended = wait_until(PROMPT, || child.try_wait().unwrap().is_some());
    if !ended {
        let _ = child.kill();
    }
    let status = child.wait().unwrap();
    drop(reader);
    assert!(ended, "SIGTERM did not end fusebox-run");
    assert!(
        asked.elapsed() < Duration::from_secs(5),
        "{:?}",
        asked.elapsed()
    );
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(libc::SIGTERM), "{status:?}");
    assert_no_survivors(&marker, Duration::from_secs(10));
}

// =============================================================================================
// 3. Forged entries: newlines and escape sequences in arguments and names.

e2e!(shared, record_newlines_and_escapes_cannot_forge_the_record);
fn record_newlines_and_escapes_cannot_forge_the_record(h: Helper) {
    let sb_dir = tmpdir();
    let sb = Sandbox::new(h).cwd(sb_dir.path());
    let log = sb.dir().join("log");
    let fake = "\n\nF: open_wr\nS: allow\nP: /etc/shadow\nA: /etc/shadow\nR: /etc/shadow\nC: x";
    let name = "/etc/fusebox-e2e-\x1b]0;owned\x07\x1b[2K\u{9b}31m\nF: fake";
    // The shell itself makes the second refused write: its command line holds the fake.
    let out = sb.opt("-v").opt("--log").opt(&log).run_sh_args(
        r#"touch "$2" 2>/dev/null; { echo > /etc/fusebox-e2e-arg; } 2>/dev/null; exit 0"#,
        &[fake, name],
    );
    out.expect_code(1);
    prompt(&out);
    // Nothing raw reaches the terminal: no ESC, BEL or C1, and no line of the fake.
    for bad in ['\x1b', '\x07', '\u{9b}'] {
        assert!(!out.stderr.contains(bad), "{bad:?} on the terminal\n{out}");
    }
    assert!(!out.stderr.contains("\nS: allow"), "{out}");
    assert!(
        out.stderr
            .contains("\\x1b]0;owned\\x07\\x1b[2K\\x9b31m\\nF: fake"),
        "{out}"
    );
    let text = std::fs::read_to_string(&log).unwrap();
    let blocks = whole_blocks(&text);
    assert_eq!(blocks.len(), 2, "{text}");
    assert!(!text.lines().any(|l| l.starts_with("S: allow")), "{text}");
    assert!(
        blocks[0][2].starts_with("P: /etc/fusebox-e2e-\\x1b]0;owned\\x07\\x1b[2K\\xc2\\x9b31m"),
        "{text}"
    );
    assert!(blocks[0][2].ends_with("\\nF: fake"), "{text}");
    assert!(
        blocks[1][5].contains("\\n\\nF: open_wr\\nS: allow\\nP: /etc/shadow"),
        "{text}"
    );
}

// =============================================================================================
// 4. Broken stderr.

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
// 5. Silent trace loss, and the violation log on a full disk.

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
// 6. fusebox's own options never destroy data.

e2e!(shared, record_log_never_replaces_what_is_not_a_log);
fn record_log_never_replaces_what_is_not_a_log(h: Helper) {
    let sb_dir = tmpdir();
    let sb = Sandbox::new(h).cwd(sb_dir.path());
    let makefile = sb.dir().join("Makefile");
    std::fs::write(&makefile, "all:\n\ttrue\n").unwrap();
    let out = sb.opt("--log").opt("Makefile").run(&["touch", "ran"]);
    out.expect_code(125);
    assert_eq!(out.stderr.lines().count(), 1, "{out}");
    assert!(out.stderr.contains("Makefile") && out.stderr.contains("not a sandbox log"));
    assert_eq!(
        std::fs::read_to_string(&makefile).unwrap(),
        "all:\n\ttrue\n"
    );
    assert!(!sb_dir.path().join("ran").exists());
    // A previous sandbox log is replaced by this run's.
    let sb_dir = tmpdir();
    let sb = Sandbox::new(h).cwd(sb_dir.path());
    let log = sb.dir().join("old.log");
    std::fs::write(
        &log,
        format!("{LOG_HEADER}\nF: mkdir\nS: deny\nP: /old\nA: /old\nR: /old\nC: x\n"),
    )
    .unwrap();
    let out = sb
        .opt("--log")
        .opt(&log)
        .run_sh("mkdir /etc/fusebox-e2e-new 2>/dev/null; exit 0");
    out.expect_code(1);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        !text.contains("/old") && text.contains("P: /etc/fusebox-e2e-new\n"),
        "{text}"
    );
}

e2e!(shared, record_learn_is_checked_first_and_never_lost);
/// `--learn` is checked at start (a missing directory or a FIFO fails before the
/// build runs), and a learned path a policy file cannot hold (trailing space,
/// non-UTF-8) widens to its nearest representable ancestor instead of losing
/// everything; the summary is printed, the learned policy then gives a clean run.
fn record_learn_is_checked_first_and_never_lost(h: Helper) {
    let sb_dir = tmpdir();
    let sb = Sandbox::new(h).cwd(sb_dir.path());
    let marker = sb.dir().join("ran");
    let out = sb
        .opt("--learn")
        .opt("/nonexistent-fusebox-dir/p")
        .run(&["touch", s(&marker)]);
    out.expect_code(125);
    assert!(!marker.exists(), "{out}");
    assert!(
        out.stderr.contains("--learn /nonexistent-fusebox-dir/p"),
        "{out}"
    );
    let sb_dir = tmpdir();
    let sb = Sandbox::new(h).cwd(sb_dir.path());
    native_sh("mkfifo fifo", &[] as &[&str], sb.dir());
    let out = sb.opt("--learn").opt("fifo").run(&["true"]);
    out.expect_code(125);
    prompt(&out);

    let o = outside();
    let spaced = o.path().join("sp ");
    let odd = o.path().join(OsStr::from_bytes(b"bad\xff"));
    std::fs::create_dir(&spaced).unwrap();
    std::fs::create_dir(&odd).unwrap();
    let sb_dir = tmpdir();
    let sb = Sandbox::new(h).cwd(sb_dir.path());
    let learned = sb.dir().join("learned.policy");
    let out = sb.opt("--learn").opt(&learned).run_sh_args(
        r#"touch "$1/f" "$2/g"; rm -f "$3"; mkfifo "$3.f" && mv -T "$3.f" "$3"; exit 0"#,
        &[spaced.as_os_str(), odd.as_os_str(), learned.as_os_str()],
    );
    out.expect_code(1);
    prompt(&out);
    // Even under --audit (which --learn implies), the learned file stays fusebox's.
    assert!(summary_has(&out.stderr, "unlink", s(&learned)), "{out}");
    assert!(summary_has(&out.stderr, "rename", s(&learned)), "{out}");
    assert!(std::fs::symlink_metadata(&learned).unwrap().is_file());
    assert!(
        out.stderr.contains("SANDBOX ACCESS VIOLATION SUMMARY"),
        "{out}"
    );
    assert!(out.stderr.contains("bad\\xff/g"), "{out}");
    let text = std::fs::read_to_string(&learned).unwrap();
    assert!(text.contains(&format!("write {}\n", s(o.path()))), "{text}");
    let out = Sandbox::new(h).opt("--policy").opt(&learned).run_sh_args(
        r#"touch "$1/f2" "$2/g2""#,
        &[spaced.as_os_str(), odd.as_os_str()],
    );
    out.ok();
}

// =============================================================================================
// 7. Others' interference: nothing guessable in a shared directory.

e2e!(shared, record_precreated_names_do_not_stop_runs);
/// The old default names pre-created by someone else's hand (here the same user's:
/// one test user cannot be two) do not stop a run, and the default log is private.
fn record_precreated_names_do_not_stop_runs(h: Helper) {
    let me = my_uid();
    let base = std::process::id() as i32;
    let mut planted = Vec::new();
    // Not the pids the other test plants symlinks for (both run in this process).
    for pid in base + 1000..base + 1400 {
        let p = PathBuf::from(format!("/tmp/fusebox-{me}-{pid}.log"));
        if std::fs::symlink_metadata(&p).is_err() && std::fs::write(&p, "not yours\n").is_ok() {
            planted.push(p);
        }
    }
    let out = Sandbox::new(h).run_sh("mkdir /etc/fusebox-e2e-interfere 2>/dev/null; exit 0");
    for p in &planted {
        assert_eq!(std::fs::read_to_string(p).unwrap(), "not yours\n");
        let _ = std::fs::remove_file(p);
    }
    out.expect_code(1);
    let log = log_file_named_in(&out.stderr);
    let meta = std::fs::metadata(&log).unwrap();
    assert_eq!(meta.mode() & 0o077, 0, "the log is readable by others");
    assert_eq!(
        std::fs::metadata(log.parent().unwrap()).unwrap().mode() & 0o077,
        0
    );
    std::fs::remove_dir_all(log.parent().unwrap()).unwrap();
}

// =============================================================================================
// 8. nohup.

e2e!(shared, record_ignored_signals_stay_ignored);
fn record_ignored_signals_stay_ignored(h: Helper) {
    let t = tmpdir();
    let c = through_bash(
        h,
        "trap '' HUP",
        &os(&["--", "sh", "-c", "kill -HUP $$; echo survived"]),
        t.path(),
    );
    let out = spawn_command(c, false, DEFAULT_TIMEOUT).wait();
    out.ok();
    assert_eq!(out.stdout, "survived\n", "{out}");
    // Without nohup, SIGHUP still ends it.
    Sandbox::new(h)
        .run_sh("kill -HUP $$; echo survived")
        .expect_code(129);
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
