//! Signals: SIGTERM ends a teardown stalled on an unread pipe, and signals the caller ignores
//! (nohup) stay ignored.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::*;
use crate::common::*;

// =============================================================================================
// A stalled fusebox-run: signals end it during teardown.

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
// nohup.

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
