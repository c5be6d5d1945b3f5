//! Where the report goes: the one-line footprint on a terminal, a report file the build
//! swapped for a FIFO or a symlink, and a run whose stderr is closed.

use std::path::Path;
use std::time::Duration;

use super::*;
use crate::common::*;

e2e!(shared, report_footprint_line_on_a_terminal);
/// The one-line footprint: on a terminal (util-linux `script` gives the run one), when
/// the mirror sees every access (`--full-mirror`); not with -q, not when stderr is not a
/// terminal, not when the kernel serves /usr and the build directory (it would miss them).
fn report_footprint_line_on_a_terminal(h: Helper) {
    let sb = Sandbox::new(h);
    let script = find_tool(&["/usr/bin/script"], "util-linux");
    let run_with = |opts: &str| {
        let mut cmd = format!(
            "{} --mount-helper {} {opts} -- sh -c 'cat /etc/hostname >/dev/null; echo x > made'",
            s(&bin()),
            h.name(),
        );
        cmd.push_str(" 2>&1");
        native(&[script.as_str(), "-qec", &cmd, "/dev/null"], sb.dir())
    };
    let run = |quiet: bool| {
        run_with(if quiet {
            "--full-mirror -q"
        } else {
            "--full-mirror"
        })
    };
    let out = run(false);
    assert_eq!(out.code(), Some(0), "{out}");
    let line = out
        .stdout
        .lines()
        .find(|l| l.starts_with("read "))
        .unwrap_or_else(|| panic!("no footprint line\n{out}"));
    assert!(
        line.contains(" files in ") && line.contains(" · wrote 1 · ran "),
        "{line}"
    );
    assert!(line.trim_end().ends_with("· 0 refused"), "{line}");
    let quiet = run(true);
    assert_eq!(quiet.code(), Some(0), "{quiet}");
    assert!(!quiet.stdout.contains("refused"), "-q\n{quiet}");
    let trees = run_with("");
    assert_eq!(trees.code(), Some(0), "{trees}");
    assert!(
        !trees.stdout.contains("refused"),
        "kernel-served trees\n{trees}"
    );
    let plain = sb.run(&["true"]);
    plain.ok();
    assert!(!plain.stderr.contains("refused"), "not a terminal\n{plain}");
}

e2e!(shared, report_replaces_a_fifo_or_symlink_the_build_planted);
/// The build swaps the report's file for a FIFO, then for a symlink to a file of the
/// user's: the report replaces either, never blocks on the FIFO nor writes through
/// the link.
fn report_replaces_a_fifo_or_symlink_the_build_planted(h: Helper) {
    let dir = tmpdir();
    let dir = dir.path();
    let victim = dir.join("victim");
    std::fs::write(&victim, "keep me").unwrap();
    let report = dir.join("r.txt");
    // Planted before the run (by anyone who could write there): replaced, never opened.
    for plant in [
        format!("mkfifo {}", s(&report)),
        format!("ln -s {} {}", s(&victim), s(&report)),
    ] {
        let _ = std::fs::remove_file(&report);
        native_sh(&plant, &[] as &[&str], dir).ok();
        Sandbox::new(h)
            .opts(&["--report", "r.txt"])
            .cwd(dir)
            .timeout(Duration::from_secs(60))
            .run(&["true"])
            .ok();
        assert_report_replaced(&report, &victim, &plant);
    }
    // Planted by the build itself: the report is fusebox's, so that is a refused and
    // reported write, and the report is written all the same.
    for plant in [
        "mkfifo r.txt".to_string(),
        format!("ln -s {} r.txt", s(&victim)),
    ] {
        let _ = std::fs::remove_file(&report);
        let out = Sandbox::new(h)
            .opts(&["--report", "r.txt"])
            .cwd(dir)
            .timeout(Duration::from_secs(60))
            .run_sh(&plant);
        out.expect_code(1);
        assert!(
            out.stderr.contains(&format!("P: {}\n", s(&report))),
            "{out}"
        );
        assert_report_replaced(&report, &victim, &plant);
    }
}

fn assert_report_replaced(report: &Path, victim: &Path, plant: &str) {
    let meta = std::fs::symlink_metadata(report).unwrap();
    assert!(meta.is_file(), "{plant}: {meta:?}");
    let text = std::fs::read_to_string(report).unwrap();
    assert!(text.starts_with("fusebox report: "), "{text}");
    assert_eq!(std::fs::read_to_string(victim).unwrap(), "keep me");
}

e2e!(shared, report_with_stderr_closed);
/// With stderr closed, the run still writes its report and keeps the build's status.
fn report_with_stderr_closed(h: Helper) {
    let dir = tmpdir();
    let cmd = format!(
        "{} --mount-helper {} --report r.txt -- sh -c 'echo x > made; exit 3' 2>&-",
        s(&bin()),
        h.name()
    );
    let out = native(&["sh", "-c", &cmd], dir.path());
    assert_eq!(out.code(), Some(3), "{out}");
    let text = std::fs::read_to_string(dir.path().join("r.txt")).unwrap();
    assert!(text.contains("exit status: 3"), "{text}");
}
