//! The other lists: DENY refuses reads and writes under it, READ limits reads, and Gentoo's
//! quirks.

use std::path::Path;

use super::*;
use crate::common::*;

// =============================================================================================
// DENY

e2e!(shared, policy_deny_refuses_reads_and_writes_under_it);
fn policy_deny_refuses_reads_and_writes_under_it(h: Helper) {
    let sb = Sandbox::new(h);
    let d = sb.dir().to_path_buf();
    let logdir = tmpdir();
    let log = logdir.path().join("log");
    native_sh(
        r#"set -e
mkdir secret pub
echo secret > secret/file
echo public > pub/file
ln -s file secret/link
cp /bin/true secret/prog"#,
        &[] as &[&str],
        &d,
    );
    let before = snapshot(&d);
    // The cwd (in the default write set) with a denied dir inside.
    let sb = sb
        .opt("--log")
        .opt(&log)
        .opt("--deny")
        .opt(d.join("secret"));
    let out = sb.run_sh(&format!(
        r#"{TRY_FN}try cat cat secret/file
try write sh -c 'echo evil > secret/file'
try create sh -c 'echo evil > secret/new'
try mkdir mkdir secret/dir
try ls-secret ls secret
try readlink readlink -v secret/link
try exec ./secret/prog
try ls-parent sh -c 'ls | tr "\n" " "'
try stat stat -c %s secret/file
try test-e test -e secret/file
try cat-pub cat pub/file
try write-pub sh -c 'echo more >> pub/file && cat pub/file | tr "\n" " "'
exit 0"#
    ));
    out.expect_code(1);
    let t = Tried::parse(&out);
    for name in [
        "cat",
        "write",
        "create",
        "mkdir",
        "ls-secret",
        "readlink",
        "exec",
    ] {
        t.expect_err(name, EACCES, &out);
    }
    for name in ["ls-parent", "stat", "test-e", "cat-pub", "write-pub"] {
        t.expect_ok(name, &out);
    }
    assert_eq!(t.get("ls-parent", &out).1, "pub secret ", "{out}");
    assert_eq!(t.get("stat", &out).1, "7", "{out}");
    assert_eq!(t.get("cat-pub", &out).1, "public", "{out}");
    assert_eq!(t.get("write-pub", &out).1, "public more ", "{out}");
    let mut after = snapshot(&d);
    after.remove("pub/file");
    let mut before = before;
    before.remove("pub/file");
    assert_eq!(after, before, "nothing under secret changed\n{out}");
    let blocks = log_blocks(&read_log(&log));
    for (f, rel) in [
        ("open_rd", "secret/file"),
        ("open_wr", "secret/file"),
        ("open_wr_creat", "secret/new"),
        ("mkdir", "secret/dir"),
        ("opendir", "secret"),
        ("readlink", "secret/link"),
    ] {
        assert!(
            has_block(&blocks, f, &d.join(rel)),
            "the log should have `F: {f}` on {rel}: {blocks:#?}\n{out}"
        );
    }
    assert!(
        blocks
            .iter()
            .all(|b| b["P"].starts_with(s(&d.join("secret")))),
        "only paths under the denied dir are reported: {blocks:#?}"
    );
}

// =============================================================================================
// READ

e2e!(shared, policy_read_list_limits_reads);
fn policy_read_list_limits_reads(h: Helper) {
    let sb = Sandbox::new(h);
    let t = tmpdir();
    let d = t.path();
    let log = d.join("log");
    native_sh(
        "mkdir in out && echo inside > in/f && echo outside > out/f",
        &[] as &[&str],
        d,
    );
    // What sh, cat and the dynamic loader need, the build's cwd, and the readable dir.
    let cwd = sb.dir().to_path_buf();
    // --read adds to the default (all of /): --no-default-read starts from nothing.
    let mut sb = sb
        .opt("--no-default-read")
        .opt("--log")
        .opt(&log)
        .opt("--read")
        .opt(cwd);
    for p in [
        "/usr", "/bin", "/lib", "/lib64", "/lib32", "/libx32", "/etc",
    ] {
        if Path::new(p).exists() {
            sb = sb.opt("--read").opt(p);
        }
    }
    let out = sb.opt("--read").opt(d.join("in")).run_sh_args(
        &format!("{TRY_FN}try in cat \"$1/in/f\"\ntry out cat \"$1/out/f\"\nexit 0"),
        &[d],
    );
    out.expect_code(1);
    let tr = Tried::parse(&out);
    tr.expect_ok("in", &out);
    assert_eq!(tr.get("in", &out).1, "inside", "{out}");
    tr.expect_err("out", EACCES, &out);
    let blocks = log_blocks(&read_log(&log));
    assert!(
        has_block(&blocks, "open_rd", &d.join("out/f")),
        "the log should have `F: open_rd` on out/f: {blocks:#?}\n{out}"
    );
    assert_eq!(
        blocks.len(),
        1,
        "only that read is a violation: {blocks:#?}\n{out}"
    );
}

// =============================================================================================
// Gentoo quirks

e2e!(shared, policy_gentoo_quirks);
fn policy_gentoo_quirks(h: Helper) {
    // EEXIST and ENOENT are answered before the policy: no violation.
    let logdir = tmpdir();
    let log = logdir.path().join("log");
    let out = Sandbox::new(h).opt("--log").opt(&log).run_sh(&format!(
        r#"{TRY_FN}try mkdir-existing mkdir /etc
try no-parent sh -c 'echo x > /nonexistent-fusebox-e2e/dir/file'
try no-parent-touch touch /nonexistent-fusebox-e2e/dir/file
try mkdir-p mkdir -p /etc /usr/bin
exit 0"#
    ));
    out.expect_code(0);
    let t = Tried::parse(&out);
    t.expect_err("mkdir-existing", "File exists", &out);
    t.expect_err("no-parent", "", &out);
    t.expect_err("no-parent-touch", "No such file or directory", &out);
    t.expect_ok("mkdir-p", &out);
    assert!(!has_summary(&out), "{out}");
    assert!(!log.exists(), "EEXIST/ENOENT are no violations\n{out}");

    // access(W_OK) of a protected file is refused: `test -w` is false.
    let out = Sandbox::new(h)
        .opt("--log")
        .opt(&log)
        .run_sh("if test -w /etc/passwd; then echo writable; else echo not-writable; fi; test -r /etc/passwd && echo readable");
    assert_eq!(out.stdout, "not-writable\nreadable\n", "{out}");

    // Whole path components: -w T/foo covers T/foo/x, never T/foobar/x.
    let t = tmpdir();
    let (dir_foo, foobar) = (t.path().join("foo"), t.path().join("foobar"));
    std::fs::create_dir(&dir_foo).unwrap();
    std::fs::create_dir(&foobar).unwrap();
    let log2 = logdir.path().join("log2");
    let out = Sandbox::new(h)
        .opt("--log")
        .opt(&log2)
        .opt("--no-default-write").opt("-w")
        .opt(&dir_foo)
        .run_sh_args(
            &format!("{TRY_FN}try foo sh -c 'echo x > \"$1/x\"' sh \"$1\"\ntry foobar sh -c 'echo x > \"$1/x\"' sh \"$2\"\nexit 0"),
            &[&dir_foo, &foobar],
        );
    out.expect_code(1);
    let tr = Tried::parse(&out);
    tr.expect_ok("foo", &out);
    tr.expect_err("foobar", EACCES, &out);
    assert!(dir_foo.join("x").exists());
    assert!(
        !foobar.join("x").exists(),
        "-w .../foo must not cover .../foobar"
    );
    let blocks = log_blocks(&read_log(&log2));
    assert!(
        has_block(&blocks, "open_wr_creat", &foobar.join("x")),
        "{blocks:#?}"
    );
}
