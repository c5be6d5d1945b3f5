//! The violation log can be neither silenced nor forged: what is planted at its path, or done
//! to it and its directory, is refused and reported; newlines and escape sequences in
//! arguments and names cannot forge entries.

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::PathBuf;

use super::*;
use crate::common::*;

// =============================================================================================
// Uncounted violations: what is planted at the log path cannot silence the run.

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

e2e!(
    shared,
    record_the_default_log_directory_goes_with_a_clean_run
);
/// The default log's private directory is made at start and removed at the end when no
/// violation filled it: a thousand clean builds leave nothing in `$TMPDIR`. A refused
/// write keeps it, with the log the summary names.
fn record_the_default_log_directory_goes_with_a_clean_run(h: Helper) {
    let td = tmpdir();
    let entries = || {
        std::fs::read_dir(td.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect::<Vec<_>>()
    };
    let sandbox = || {
        Sandbox::new(h)
            .env("TMPDIR", td.path())
            .env_remove("XDG_RUNTIME_DIR")
    };
    let out = sandbox().run_sh("echo built");
    out.expect_code(0);
    assert_eq!(entries(), Vec::<PathBuf>::new(), "{out}");
    let out = sandbox().run_sh("touch /etc/fusebox-e2e-record-kept 2>/dev/null; exit 0");
    out.expect_code(1);
    let log = log_file_named_in(&out.stderr);
    assert_eq!(entries(), vec![log.parent().unwrap().to_owned()], "{out}");
    assert!(log.is_file(), "{out}");
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
// Forged entries: newlines and escape sequences in arguments and names.

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
