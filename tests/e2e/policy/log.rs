//! What a violation leaves: the log file (Gentoo's format, its default path, seen at once
//! inside), the summary and the exit status, `-v` as it happens, and `--audit`.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::*;
use crate::common::*;

// =============================================================================================
// The log file

e2e!(shared, policy_log_format_is_gentoos);
fn policy_log_format_is_gentoos(h: Helper) {
    let logdir = tmpdir();
    let log = logdir.path().join("sandbox.log");
    let target = format!("/etc/{}", unique("fusebox-e2e-"));
    let out = Sandbox::new(h)
        .opt("--log")
        .opt(&log)
        .run(&["mkdir", &target]);
    out.expect_code(1);
    let expected = format!(
        "{LOG_HEADER}\nF: mkdir\nS: deny\nP: {target}\nA: {target}\nR: {target}\nC: mkdir {target} \n"
    );
    assert_eq!(read_log(&log), expected, "the whole log\n{out}");
    assert!(!Path::new(&target).exists());

    // A relative path: P as passed is the absolute one the mirror saw; A and R agree.
    let sb = Sandbox::new(h);
    let hd = tmpdir();
    let out = sb
        .opt("--log")
        .opt(&log)
        .opt("--no-default-write")
        .opt("-w")
        .opt(logdir.path())
        .cwd(hd.path())
        .run(&["touch", "rel-file"]);
    out.expect_code(1);
    let blocks = log_blocks(&read_log(&log));
    assert_eq!(
        blocks.len(),
        1,
        "a stale log is replaced, not appended to: {blocks:#?}"
    );
    let b = &blocks[0];
    let abs = hd.path().join("rel-file");
    assert_eq!(b["F"], "open_wr_creat");
    assert_eq!(b["A"], s(&abs));
    assert_eq!(b["R"], s(&abs));
    assert_eq!(b["C"], "touch rel-file ");
}

e2e!(shared, policy_log_only_on_violation_and_stale_log_removed);
fn policy_log_only_on_violation_and_stale_log_removed(h: Helper) {
    let logdir = tmpdir();
    let log = logdir.path().join("sandbox.log");
    let out = Sandbox::new(h).opt("--log").opt(&log).run(&["true"]);
    out.ok();
    assert!(!log.exists(), "no violation: no log\n{out}");
    // A stale log from an earlier run is removed at start (any other file is refused:
    // tests/e2e/record/files.rs).
    let stale = format!("{LOG_HEADER}\nF: mkdir\nS: deny\nP: /STALE\nA: /STALE\nR: /STALE\nC: x\n");
    std::fs::write(&log, &stale).unwrap();
    let out = Sandbox::new(h).opt("--log").opt(&log).run_sh("echo ok");
    out.ok();
    assert!(!log.exists(), "the stale log should be removed\n{out}");
    std::fs::write(&log, &stale).unwrap();
    let out = Sandbox::new(h)
        .opt("--log")
        .opt(&log)
        .run_sh("mkdir /etc/fusebox-e2e-stale 2>/dev/null; exit 0");
    out.expect_code(1);
    let text = read_log(&log);
    assert!(!text.contains("STALE"), "{text}");
    assert_eq!(log_blocks(&text).len(), 1, "{text}");
}

e2e!(shared, policy_log_is_seen_at_once_inside);
/// Portage tests `[[ -s ${SANDBOX_LOG} ]]` inside the sandbox after each phase: the log
/// fusebox writes on the host must be seen at once, however long the kernel caches other
/// answers — also through a symlinked directory, and after an earlier "no such file".
fn policy_log_is_seen_at_once_inside(h: Helper) {
    let sb = Sandbox::new(h);
    let dir = sb.dir().to_path_buf();
    std::fs::create_dir(dir.join("real")).unwrap();
    std::os::unix::fs::symlink("real", dir.join("via-link")).unwrap();
    for log_dir in ["real", "via-link"] {
        let log = dir.join(log_dir).join("sandbox.log");
        let out = Sandbox::new(h)
            .cwd(&dir)
            .opt("--log")
            .opt(&log)
            .run_sh_args(
                r#"log=$1
[ -e "$log" ] || echo absent-before
mkdir /etc/fusebox-e2e-seen-1 2>/dev/null
[ -s "$log" ] && echo present-after-1
echo "blocks-1 $(grep -c '^F:' "$log")"
mkdir /etc/fusebox-e2e-seen-2 2>/dev/null
echo "blocks-2 $(grep -c '^F:' "$log")"
echo "size $(stat -c %s "$log")"
exit 0"#,
                &[&log],
            );
        out.expect_code(1);
        let on_host = std::fs::metadata(&log).unwrap().len();
        for line in [
            "absent-before".to_string(),
            "present-after-1".to_string(),
            "blocks-1 1".to_string(),
            "blocks-2 2".to_string(),
            format!("size {on_host}"),
        ] {
            assert!(
                out.stdout_lines().contains(&line.as_str()),
                "log in {log_dir}/: the build should see {line:?}\n{out}"
            );
        }
    }
}

e2e!(shared, policy_default_log_path);
fn policy_default_log_path(h: Helper) {
    // violations.log in a new 0700 directory: under $XDG_RUNTIME_DIR when that is
    // private, else under $TMPDIR (fusebox-UID-XXXXXX), else /tmp.
    let runtime = tmpdir();
    std::fs::set_permissions(runtime.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let td = tmpdir();
    let cases: [(Option<&Path>, Option<&Path>, PathBuf, String); 3] = [
        (
            Some(runtime.path()),
            Some(td.path()),
            runtime.path().to_path_buf(),
            "fusebox-".into(),
        ),
        (
            None,
            Some(td.path()),
            td.path().to_path_buf(),
            format!("fusebox-{}-", my_uid()),
        ),
        (
            None,
            None,
            PathBuf::from("/tmp"),
            format!("fusebox-{}-", my_uid()),
        ),
    ];
    for (xdg, tmp, parent, prefix) in cases {
        let mut sb = Sandbox::new(h).env_remove("XDG_RUNTIME_DIR");
        if let Some(x) = xdg {
            sb = sb.env("XDG_RUNTIME_DIR", x);
        }
        if let Some(t) = tmp {
            sb = sb.env("TMPDIR", t);
        }
        let out = sb.run(&["mkdir", "/etc/fusebox-e2e-default-log"]);
        out.expect_code(1);
        let line = out
            .stderr
            .lines()
            .find_map(|l| l.strip_prefix(" * LOG FILE: \""))
            .unwrap_or_else(|| panic!("no LOG FILE line\n{out}"));
        let log = PathBuf::from(line.trim_end_matches('"'));
        let dir = log.parent().unwrap().to_path_buf();
        let text = std::fs::read_to_string(&log);
        let mode = std::fs::metadata(&dir).map(|m| m.permissions().mode() & 0o777);
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(dir.parent(), Some(parent.as_path()), "{out}");
        let name = dir.file_name().unwrap().to_str().unwrap();
        assert!(
            name.starts_with(&prefix) && name.len() == prefix.len() + 6,
            "{out}"
        );
        assert_eq!(log.file_name().unwrap(), "violations.log");
        assert_eq!(mode.ok(), Some(0o700), "{out}");
        assert!(log_blocks(&text.unwrap()).len() == 1, "{out}");
    }
    // A $XDG_RUNTIME_DIR others can enter is not used.
    let open_dir = tmpdir();
    std::fs::set_permissions(open_dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = Sandbox::new(h)
        .env("XDG_RUNTIME_DIR", open_dir.path())
        .env("TMPDIR", td.path())
        .run(&["mkdir", "/etc/fusebox-e2e-default-log"]);
    out.expect_code(1);
    assert!(
        out.stderr
            .contains(&format!(" * LOG FILE: \"{}/", s(td.path()))),
        "{out}"
    );
}

// =============================================================================================
// Summary and exit status

e2e!(shared, policy_summary_and_exit_status);
fn policy_summary_and_exit_status(h: Helper) {
    let logdir = tmpdir();
    let log = logdir.path().join("log");
    let out = Sandbox::new(h)
        .opt("--log")
        .opt(&log)
        .run_sh("mkdir /etc/fusebox-e2e-summary 2>/dev/null; exit 0");
    out.expect_code(1);
    let content = read_log(&log);
    let expected = format!(
        "{SUMMARY_FIRST}\n * LOG FILE: \"{}\"\n * \n{content}{}\n",
        log.display(),
        summary_last()
    );
    assert_eq!(out.stderr, expected, "the whole summary on stderr\n{out}");
    assert!(
        content.contains("P: /etc/fusebox-e2e-summary\n"),
        "{content}"
    );

    // The build's own failure status wins.
    let out = Sandbox::new(h)
        .opt("--log")
        .opt(&log)
        .run_sh("mkdir /etc/fusebox-e2e-summary 2>/dev/null; exit 3");
    out.expect_code(3);
    assert!(out.stderr.starts_with(SUMMARY_FIRST), "{out}");

    // No violation: the build's status, no summary.
    let out = Sandbox::new(h).opt("--log").opt(&log).run_sh("exit 5");
    out.expect_code(5);
    assert_eq!(out.stderr, "", "{out}");
    let out = Sandbox::new(h).opt("--log").opt(&log).run_sh("echo fine");
    out.ok();
    assert_eq!(out.stderr, "", "{out}");
}

// =============================================================================================
// -v

e2e!(shared, policy_verbose_prints_each_denial_as_it_happens);
fn policy_verbose_prints_each_denial_as_it_happens(h: Helper) {
    let logdir = tmpdir();
    let target = format!("/etc/{}", unique("fusebox-e2e-v-"));
    let out = Sandbox::new(h)
        .opt("-v")
        .opt("--log")
        .opt(logdir.path().join("log"))
        .run_sh_args(
            r#"mkdir "$1" 2>/dev/null; echo after-mkdir >&2; echo x 2>/dev/null > /etc/passwd; echo after-write >&2"#,
            &[&target],
        );
    out.expect_code(1);
    let lines: Vec<&str> = out.stderr.lines().collect();
    let pos = |l: &str| {
        lines
            .iter()
            .position(|x| *x == l)
            .unwrap_or_else(|| panic!("no stderr line {l:?}\n{out}"))
    };
    let mkdir_line = format!(" * ACCESS DENIED:  mkdir:              {target}");
    let write_line = " * ACCESS DENIED:  open_wr:            /etc/passwd";
    let (m, a1, w, a2, sum) = (
        pos(&mkdir_line),
        pos("after-mkdir"),
        pos(write_line),
        pos("after-write"),
        pos(SUMMARY_FIRST),
    );
    assert!(
        m < a1 && a1 < w && w < a2 && a2 < sum,
        "each ACCESS DENIED line should come as it happens, before the summary\n{out}"
    );
    // Without -v: no such line.
    let out = Sandbox::new(h)
        .opt("--log")
        .opt(logdir.path().join("log"))
        .run_sh("mkdir /etc/fusebox-e2e-quiet 2>/dev/null; exit 0");
    out.expect_code(1);
    assert!(!out.stderr.contains("ACCESS DENIED"), "{out}");
}

// =============================================================================================
// --audit

e2e!(shared, policy_audit_lets_operations_succeed);
fn policy_audit_lets_operations_succeed(h: Helper) {
    let t = tmpdir();
    let (a, d) = (t.path().join("A"), t.path().join("D"));
    std::fs::create_dir(&a).unwrap();
    std::fs::create_dir(&d).unwrap();
    std::fs::write(d.join("f"), "original\n").unwrap();
    let log = t.path().join("log");
    let out = Sandbox::new(h)
        .opt("--audit")
        .opt("--log")
        .opt(&log)
        .opt("--no-default-write")
        .opt("-w")
        .opt(&a)
        .run_sh_args(
            r#"set -e; echo audited > "$1/f"; mkdir "$1/newdir"; echo made > "$2/ok"; echo done"#,
            &[&d, &a],
        );
    out.expect_code(1);
    assert_eq!(out.stdout, "done\n", "{out}");
    assert_eq!(
        std::fs::read_to_string(d.join("f")).unwrap(),
        "audited\n",
        "the write happened"
    );
    assert!(d.join("newdir").is_dir(), "the mkdir happened");
    assert_eq!(std::fs::read_to_string(a.join("ok")).unwrap(), "made\n");
    assert!(has_summary(&out), "{out}");
    let blocks = log_blocks(&read_log(&log));
    assert!(has_block(&blocks, "open_wr", &d.join("f")), "{blocks:#?}");
    assert!(
        has_block(&blocks, "mkdir", &d.join("newdir")),
        "{blocks:#?}"
    );
    // Only the writes outside A (an O_TRUNC open that succeeds may also show as truncate).
    for b in &blocks {
        let f = d.join("f");
        let f = s(&f);
        let ok = (b["F"] == "open_wr" || b["F"] == "truncate") && b["P"] == f
            || b["F"] == "mkdir" && b["P"] == s(&d.join("newdir"));
        assert!(ok, "unexpected violation {b:?}: {blocks:#?}");
    }
}
