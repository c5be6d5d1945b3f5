//! The command line with no sandbox to start: `-V`, `-h`, and `--check`, which names what is
//! missing and the fix.

use std::os::unix::fs::PermissionsExt;

use crate::common::*;

e2e!(plain, version_and_help);
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

e2e!(plain, check_passes_here);
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

e2e!(plain, check_names_the_dev_fuse_fix);
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
