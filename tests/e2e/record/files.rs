//! fusebox's own files: `--log` and `--learn` never replace what is not theirs, and names
//! others pre-created in a shared directory stop no run.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use super::*;
use crate::common::*;

// =============================================================================================
// fusebox's own options never destroy data.

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
// Others' interference: nothing guessable in a shared directory.

e2e!(shared, record_precreated_names_do_not_stop_runs);
/// The old default names pre-created by someone else's hand (here the same user's:
/// one test user cannot be two) do not stop a run, and the default log is private.
fn record_precreated_names_do_not_stop_runs(h: Helper) {
    let me = my_uid();
    // Not the pids the other test plants symlinks for, nor those of this test's other
    // helper (all run in this process, maybe at once: one would remove what the other
    // planted before reading it back).
    let base = std::process::id() as i32
        + match h {
            Helper::Direct => 1000,
            Helper::Fusermount3 => 1400,
        };
    let mut planted = Vec::new();
    for pid in base..base + 400 {
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
