//! First contact and packaging (issue 16): the conventions a new user expects, a
//! `--learn` they can trust, the README's test command on a machine that lacks
//! something, and the Gentoo ebuild built and merged by real Portage, offline.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::*;

/// One line on stderr, starting `fusebox-run:`, and status 2.
#[track_caller]
fn expect_usage_error(out: &Out, names: &str) {
    out.expect_code(2);
    let err = out.stderr.trim();
    assert!(
        err.starts_with("fusebox-run:") && err.lines().count() == 1,
        "one line starting fusebox-run:\n{out}"
    );
    assert!(
        err.contains(names),
        "the error should name {names:?}\n{out}"
    );
}

e2e!(shared, usage_errors_exit_2_in_one_line);
fn usage_errors_exit_2_in_one_line(h: Helper) {
    let cases: &[(&[&str], &str)] = &[
        (
            &["-w", "/nonexistent/fusebox-e2e"],
            "/nonexistent/fusebox-e2e",
        ),
        (&["--share", "/nonexistent/fusebox-e2e"], "--share"),
        (&["--share", "/"], "--share"),
        (&["--hostname", "a b"], "--hostname"),
    ];
    for (opts, names) in cases {
        let out = Sandbox::new(h).opts(opts).run(&["/bin/true"]);
        expect_usage_error(&out, names);
    }
    let out = Sandbox::new(h).run_args(&["--log", "/tmp/x.log", "--gentoo", "/bin/true"]);
    expect_usage_error(&out, "--log");
    let out = Sandbox::new(h)
        .opt("--hostname")
        .opt("x".repeat(100))
        .run(&["/bin/true"]);
    expect_usage_error(&out, "--hostname");
    // A word of FUSEBOX_OPTS is named as coming from it, with an escape sequence in
    // it printed escaped (the line stays one line and harmless on a terminal).
    for (opts, names) in [
        ("--bogus", "FUSEBOX_OPTS"),
        ("make -j2", "options only"),
        ("--net 'none", "unterminated"),
        ("--cache-ttl \x1b[31mred", "FUSEBOX_OPTS"),
    ] {
        let out = Sandbox::new(h)
            .env("FUSEBOX_OPTS", opts)
            .run(&["/bin/true"]);
        expect_usage_error(&out, names);
        assert!(!out.stderr.contains('\x1b'), "escaped\n{out}");
    }
}

e2e!(shared, fusebox_opts_apply_in_plain_mode);
fn fusebox_opts_apply_in_plain_mode(h: Helper) {
    let hd = tempfile::Builder::new()
        .prefix(".fusebox-e2e.")
        .tempdir_in(home())
        .unwrap();
    let opts = format!("--net none -w '{}'", hd.path().display());
    let out = Sandbox::new(h).env("FUSEBOX_OPTS", &opts).run_sh_args(
        r#"echo made > "$1/new" && sed -n 's/^ *\([^ :]*\):.*/\1/p' /proc/net/dev"#,
        &[hd.path()],
    );
    out.ok();
    assert_eq!(
        out.stdout, "lo\n",
        "only lo: --net none came through\n{out}"
    );
    assert!(hd.path().join("new").exists());
    // The command line overrides a single-valued option of FUSEBOX_OPTS.
    let out = Sandbox::new(h)
        .env("FUSEBOX_OPTS", "--net none")
        .opts(&["--net", "host"])
        .run(&["cat", "/proc/net/dev"]);
    out.ok();
    assert!(
        out.stdout.lines().count() > 3,
        "--net host should win\n{out}"
    );
}

e2e!(
    shared,
    write_options_add_to_the_defaults_and_no_default_write_empties_them
);
fn write_options_add_to_the_defaults_and_no_default_write_empties_them(h: Helper) {
    let hd = tempfile::Builder::new()
        .prefix(".fusebox-e2e.")
        .tempdir_in(home())
        .unwrap();
    let extra = hd.path();
    // -w adds: the cwd and /tmp stay writable (Python's tempfile in /tmp is the case a
    // new user hit).
    let sb = Sandbox::new(h).opt("-w").opt(extra);
    let tmp_file = format!("/tmp/{}", unique("fusebox-e2e-add."));
    let out = sb.run_sh_args(
        r#"echo a > "$1/x" && echo b > ./y && echo c > "$2" && rm "$2" && echo ok"#,
        &[extra, Path::new(&tmp_file)],
    );
    out.ok();
    assert_eq!(out.stdout, "ok\n", "{out}");
    // --no-default-write: only the -w paths.
    let log = tmpdir();
    let sb = Sandbox::new(h)
        .opts(&["--no-default-write", "-w"])
        .opt(extra)
        .opt("--log")
        .opt(log.path().join("log"));
    let out = sb.run_sh_args(
        r#"echo a > "$1/z" || exit 9
if echo b > ./y 2>/dev/null; then echo cwd=written; else echo cwd=denied; fi"#,
        &[extra],
    );
    out.expect_code(1);
    assert_eq!(out.stdout, "cwd=denied\n", "{out}");
    assert!(!sb.dir().join("y").exists());
    assert!(extra.join("z").exists());
}

e2e!(
    shared,
    a_stale_or_relative_tmpdir_falls_back_to_tmp_with_a_warning
);
fn a_stale_or_relative_tmpdir_falls_back_to_tmp_with_a_warning(h: Helper) {
    for bad in [
        "/nonexistent/fusebox-e2e-tmp",
        "relative/tmp",
        "/tmp/new\nline",
    ] {
        let out = Sandbox::new(h).env("TMPDIR", bad).run(&["/bin/true"]);
        out.ok();
        let warnings: Vec<&str> = out.stderr.lines().collect();
        assert_eq!(warnings.len(), 1, "one warning line\n{out}");
        assert!(
            warnings[0].starts_with("fusebox-run: warning: TMPDIR=")
                && warnings[0].contains("using /tmp"),
            "{out}"
        );
        assert!(
            warnings[0].contains(&bad.escape_debug().to_string()),
            "{out}"
        );
    }
}

e2e!(shared, a_warning_on_a_closed_stderr_does_not_stop_the_run);
/// A warning on a closed stderr costs the line, not the run.
fn a_warning_on_a_closed_stderr_does_not_stop_the_run(h: Helper) {
    let t = tmpdir();
    let out = native_sh(
        r#"TMPDIR=/nonexistent/fusebox-e2e "$1" --mount-helper "$2" -- sh -c 'echo ran' 2>&-; echo "status $?""#,
        &[bin().to_str().unwrap(), h.name()],
        t.path(),
    );
    assert_eq!(out.stdout, "ran\nstatus 0\n", "{out}");
}

e2e!(shared, a_cwd_of_root_or_home_is_warned_about);
fn a_cwd_of_root_or_home_is_warned_about(h: Helper) {
    let fake_home = tempfile::Builder::new()
        .prefix(".fusebox-e2e-home.")
        .tempdir_in(home())
        .unwrap();
    for cwd in [Path::new("/"), fake_home.path()] {
        let out = Sandbox::new(h)
            .cwd(cwd)
            .env("HOME", fake_home.path())
            .run(&["/bin/true"]);
        out.ok();
        assert!(
            out.stderr
                .contains("fusebox-run: warning: the current directory")
                && out.stderr.contains("--no-default-write"),
            "{out}"
        );
    }
    // Not writable by default: no warning; a build dir of its own: no warning.
    let out = Sandbox::new(h)
        .cwd("/")
        .opt("--no-default-write")
        .run(&["/bin/true"]);
    out.ok();
    assert_eq!(out.stderr, "", "{out}");
    let out = Sandbox::new(h)
        .env("HOME", fake_home.path())
        .run(&["/bin/true"]);
    assert_eq!(out.stderr, "", "{out}");
}

e2e!(
    shared,
    policy_file_comment_after_a_blank_is_not_part_of_the_path
);
fn policy_file_comment_after_a_blank_is_not_part_of_the_path(h: Helper) {
    let hd = tempfile::Builder::new()
        .prefix(".fusebox-e2e.")
        .tempdir_in(home())
        .unwrap();
    let t = tmpdir();
    let policy = t.path().join("policy");
    std::fs::write(
        &policy,
        format!("write {}  # the build's cache\n", hd.path().display()),
    )
    .unwrap();
    let out = Sandbox::new(h)
        .opt("--policy")
        .opt(&policy)
        .run_sh_args(r#"echo x > "$1/f" && echo ok"#, &[hd.path()]);
    out.ok();
    assert_eq!(out.stdout, "ok\n", "{out}");
}

/// Runs `script` with `--learn` and HOME set to a home of its own; returns the learned
/// policy and the home.
fn learn_run(h: Helper, opts: &[&str], script: &str) -> (String, tempfile::TempDir, Out) {
    let fake_home = tempfile::Builder::new()
        .prefix(".fusebox-e2e-home.")
        .tempdir_in(home())
        .unwrap();
    let t = tmpdir();
    let learned = t.path().join("learned");
    let out = Sandbox::new(h)
        .env("HOME", fake_home.path())
        .opts(opts)
        .opt("--learn")
        .opt(&learned)
        .opt("--log")
        .opt(t.path().join("log"))
        .run_sh_args(script, &[fake_home.path()]);
    let text = std::fs::read_to_string(&learned).unwrap_or_else(|e| panic!("{e}\n{out}"));
    (text, fake_home, out)
}

e2e!(shared, learn_keeps_the_users_deny_entries);
fn learn_keeps_the_users_deny_entries(h: Helper) {
    let fake_home = tempfile::Builder::new()
        .prefix(".fusebox-e2e-secret.")
        .tempdir_in(home())
        .unwrap();
    std::fs::write(fake_home.path().join("key"), "secret\n").unwrap();
    let secret = fake_home.path().to_str().unwrap().to_owned();
    let (text, _home, out) = learn_run(
        h,
        &["--deny", &secret],
        &format!("cat '{secret}/key' >/dev/null; true"),
    );
    assert!(
        text.lines().any(|l| l == format!("deny {secret}")),
        "the deny is kept\n{text}\n{out}"
    );
    assert!(
        text.contains("# kept: this deny refused open_rd"),
        "and says what it refused\n{text}"
    );
    assert!(
        !text
            .lines()
            .any(|l| l.starts_with("read ") && l.contains(&secret)),
        "nothing re-allows it\n{text}"
    );
}

e2e!(shared, learn_widens_to_the_file_under_home_and_says_why);
fn learn_widens_to_the_file_under_home_and_says_why(h: Helper) {
    let (text, fake_home, out) = learn_run(
        h,
        &[],
        r#"echo x > "$1/.dotfile"; mkdir "$1/.newdir"; echo y > "$1/.newdir/a"; echo z > "$1/.newdir/b"
echo q > "$1/$(printf 'evil\nname')"; true"#,
    );
    // A name a policy file cannot hold is not learned (never widened to all of $HOME),
    // and said so, escaped.
    assert!(
        text.contains("# not learned (a policy file cannot hold its name): open_wr_creat ")
            && text.contains("evil\\nname"),
        "{text}"
    );
    let home = fake_home.path().to_str().unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let entry = |want: &str| {
        let i = lines
            .iter()
            .position(|l| *l == want)
            .unwrap_or_else(|| panic!("no line {want:?}\n{text}\n{out}"));
        lines[i - 1]
    };
    assert_eq!(
        entry(&format!("write {home}/.dotfile")),
        format!("# why: open_wr_creat {home}/.dotfile (1 refusal)")
    );
    // The directory the build created is learned whole, with its three refusals.
    assert_eq!(
        entry(&format!("write {home}/.newdir")),
        format!("# why: mkdir {home}/.newdir (3 refusals)")
    );
    assert!(
        !lines.contains(&format!("write {home}").as_str()),
        "never all of $HOME\n{text}"
    );
    // Run again with it: no violation.
    let t = tmpdir();
    let policy = t.path().join("p");
    std::fs::write(&policy, &text).unwrap();
    std::fs::remove_dir_all(fake_home.path().join(".newdir")).unwrap();
    let out = Sandbox::new(h)
        .env("HOME", fake_home.path())
        .opt("--policy")
        .opt(&policy)
        .run_sh_args(
            r#"echo x > "$1/.dotfile" && mkdir "$1/.newdir" && echo y > "$1/.newdir/a""#,
            &[fake_home.path()],
        );
    out.ok();
}

e2e!(
    shared,
    test_command_without_fuse_stops_at_once_naming_the_fix
);
/// The README's test command, as a user without /dev/fuse and without fusermount3:
/// stopped in seconds, before building, with the check's lines and the fix.
fn test_command_without_fuse_stops_at_once_naming_the_fix(_h: Helper) {
    let t = tmpdir();
    let copy = t.path().join("scripts");
    std::fs::create_dir(&copy).unwrap();
    for f in ["test.sh", "prereqs.sh"] {
        std::fs::copy(scripts().join(f), copy.join(f)).unwrap();
    }
    let started = Instant::now();
    let mut c = Command::new("bash");
    c.arg(copy.join("test.sh"))
        .current_dir(t.path())
        .env("FUSEBOX_DEV_FUSE", "/nonexistent/fusebox-e2e/fuse")
        .env(
            "FUSEBOX_FUSERMOUNT3",
            "/nonexistent/fusebox-e2e/fusermount3",
        );
    let out = spawn_command(c, false, Duration::from_secs(60)).wait();
    let took = started.elapsed();
    assert_ne!(out.code(), Some(0), "{out}");
    assert!(took < Duration::from_secs(10), "took {took:?}\n{out}");
    assert!(
        out.stderr.contains("FAIL  FUSE:") && out.stderr.contains("sudo chmod 0666 /dev/fuse"),
        "the check's line, with its fix\n{out}"
    );
    assert!(out.stderr.contains("sudo bash"), "the one command\n{out}");
    assert!(!out.stderr.contains("cargo build"), "nothing built\n{out}");
    assert!(!t.path().join("target").exists(), "nothing built\n{out}");
}

/// Where test.sh staged a file or directory for the packaging test.
fn staged(var: &str) -> PathBuf {
    let p = std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| panic!("{var} is not set: run the e2e tests through scripts/test.sh"));
    PathBuf::from(p)
}

/// The ebuild (packaging/gentoo, an overlay) built from the release tarballs and merged
/// into the test Prefix by real Portage, with no network (a network namespace of its
/// own, `unshare -c -n`), fusebox as Portage's sandbox; then the installed files work.
/// Once, not per helper: it is a release build of fusebox (about 3 minutes on 2 cores).
#[test]
fn packaging_ebuild_merges_fusebox_offline_in_the_prefix() {
    let _g = shared();
    let h = Helper::Direct;
    require_working(h);
    let p = crate::portage::prefix(h);
    let dist = staged("FUSEBOX_DIST");
    let toolchain = staged("FUSEBOX_RUST_TOOLCHAIN");
    let packaging = staged("FUSEBOX_PACKAGING");
    let tarballs: Vec<PathBuf> = std::fs::read_dir(&dist)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|f| {
            f.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("fusebox-")
        })
        .collect();
    assert_eq!(tarballs.len(), 2, "{tarballs:?}");
    let distdir = p.eprefix.join("var/cache/distfiles");
    for f in &tarballs {
        std::fs::copy(f, distdir.join(f.file_name().unwrap())).unwrap();
    }
    // The overlay, its masters the test repository (which has the cargo.eclass
    // stand-in, tests/fixtures/gentoo) instead of ::gentoo.
    let t = tempfile::Builder::new()
        .prefix("fusebox-e2e-overlay.")
        .tempdir_in(home())
        .unwrap();
    let overlay = t.path().join("fusebox");
    let copied = native(
        &[
            "cp",
            "-R",
            packaging.join("gentoo").to_str().unwrap(),
            overlay.to_str().unwrap(),
        ],
        Path::new("/"),
    );
    copied.ok();
    let layout = overlay.join("metadata/layout.conf");
    let conf = std::fs::read_to_string(&layout).unwrap();
    std::fs::write(
        &layout,
        conf.replace("masters = gentoo", "masters = fbtest"),
    )
    .unwrap();
    std::fs::write(overlay.join("profiles/categories"), "sys-apps\n").unwrap();
    std::fs::copy(
        fixtures().join("gentoo/eclass/cargo.eclass"),
        p.repo.join("eclass/cargo.eclass"),
    )
    .unwrap();
    let ebuild = std::fs::read_dir(overlay.join("sys-apps/fusebox"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|f| f.extension().is_some_and(|x| x == "ebuild"))
        .expect("an ebuild");

    let path = format!(
        "{}:{}:/usr/bin:/bin",
        toolchain.join("bin").display(),
        p.eprefix.join("bin").display()
    );
    let mut c = Command::new("unshare");
    c.args(["-c", "-n", "python3"])
        .arg(p.eprefix.join("usr/bin/ebuild"))
        .arg(&ebuild)
        .args(["manifest", "clean", "merge"])
        .current_dir(&p.eprefix)
        .env_clear()
        .env("PATH", path)
        .env("HOME", home())
        .env("PYTHONPATH", &p.pythonpath)
        .env(
            "PORTAGE_REPOSITORIES",
            format!(
                "[DEFAULT]\nmain-repo = fbtest\n[fbtest]\nlocation = {}\n[fusebox]\nlocation = {}\n",
                p.repo.display(),
                overlay.display()
            ),
        );
    for keep in ["USER", "LOGNAME", "LANG"] {
        if let Some(v) = std::env::var_os(keep) {
            c.env(keep, v);
        }
    }
    let out = spawn_command(c, false, Duration::from_secs(1500)).wait();
    assert_eq!(out.code(), Some(0), "ebuild … merge\n{out}");
    let said = format!("{}{}", out.stdout, out.stderr);
    assert!(said.contains(">>> sys-apps/fusebox-"), "merged\n{said}");

    // What was merged works: the binary, its man page, the completions.
    let usr = p.eprefix.join("usr");
    let v = native(
        &[usr.join("bin/fusebox-run").to_str().unwrap(), "--version"],
        Path::new("/"),
    );
    v.ok();
    assert!(v.stdout.starts_with("fusebox-run "), "{v}");
    let man = std::fs::read_dir(usr.join("share/man/man1"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|f| {
            f.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("fusebox-run.1")
        })
        .expect("the man page is installed");
    let page = native(&["man", "-l", man.to_str().unwrap()], Path::new("/"));
    page.ok();
    assert!(page.stdout.contains("EXIT STATUS"), "{page}");
    for f in [
        "share/bash-completion/completions/fusebox-run",
        "share/zsh/site-functions/_fusebox-run",
        "share/fish/vendor_completions.d/fusebox-run.fish",
    ] {
        assert!(usr.join(f).is_file(), "{f} is installed");
    }
    // Portage records it as installed.
    let vdb = p.eprefix.join("var/db/pkg/sys-apps");
    assert!(
        std::fs::read_dir(&vdb).unwrap().any(|e| e
            .unwrap()
            .file_name()
            .to_str()
            .unwrap()
            .starts_with("fusebox-")),
        "in the vdb"
    );
}
