//! `--policy FILE`: its entries work like the options, and its errors are usage errors.

use super::*;
use crate::common::*;

// =============================================================================================
// --policy FILE

e2e!(shared, policy_file_entries_work_like_options);
fn policy_file_entries_work_like_options(h: Helper) {
    let t = tmpdir();
    let p = t.path();
    native_sh(
        "mkdir -p a/secret p other && echo s > a/secret/file && echo o > other/file",
        &[] as &[&str],
        p,
    );
    let policy = p.join("policy");
    std::fs::write(
        &policy,
        format!(
            "# fusebox e2e policy\n\nwrite {0}/a\n  # indented comment\ndeny {0}/a/secret\npredict {0}/p\n",
            p.display()
        ),
    )
    .unwrap();
    let log = p.join("log");
    // Policy files add to the defaults (which hold /tmp, where P is): start empty.
    let out = Sandbox::new(h)
        .opt("--no-default-write")
        .opt("--policy")
        .opt(&policy)
        .opt("--log")
        .opt(&log)
        .run_sh_args(
            &format!(
                r#"{TRY_FN}T=$1
try write sh -c 'echo x > "$1/a/new"' sh "$T"
try deny-write sh -c 'echo x > "$1/a/secret/new"' sh "$T"
try deny-read cat "$T/a/secret/file"
try predict sh -c 'echo x > "$1/p/new"' sh "$T"
try other sh -c 'echo x > "$1/other/new"' sh "$T"
try read cat "$T/other/file"
exit 0"#
            ),
            &[p],
        );
    out.expect_code(1);
    let tr = Tried::parse(&out);
    tr.expect_ok("write", &out);
    tr.expect_ok("read", &out);
    for n in ["deny-write", "deny-read", "predict", "other"] {
        tr.expect_err(n, EACCES, &out);
    }
    assert!(p.join("a/new").exists());
    for rel in ["a/secret/new", "p/new", "other/new"] {
        assert!(!p.join(rel).exists(), "{rel} should not exist");
    }
    let blocks = log_blocks(&read_log(&log));
    let got: Vec<(String, String)> = blocks
        .iter()
        .map(|b| (b["F"].clone(), b["P"].clone()))
        .collect();
    let want: Vec<(String, String)> = [
        ("open_wr_creat", "a/secret/new"),
        ("open_rd", "a/secret/file"),
        ("open_wr_creat", "other/new"),
    ]
    .iter()
    .map(|(f, rel)| (f.to_string(), s(&p.join(rel)).to_string()))
    .collect();
    assert_eq!(
        got, want,
        "the violations (the predicted one not among them)\n{out}"
    );
}

e2e!(shared, policy_file_errors_are_usage_errors);
fn policy_file_errors_are_usage_errors(h: Helper) {
    let t = tmpdir();
    let expect = |content: &str, want: &[&str]| {
        let f = t.path().join("policy");
        std::fs::write(&f, content).unwrap();
        let out = Sandbox::new(h).opt("--policy").opt(&f).run(&["true"]);
        out.expect_code(2);
        let err = out.stderr.trim();
        assert!(
            err.starts_with("fusebox-run:") && err.lines().count() == 1,
            "one line\n{out}"
        );
        for w in want {
            assert!(err.contains(w), "the error should contain {w:?}\n{out}");
        }
    };
    expect(
        &format!("# ok\nwrite {}\nfrobnicate /x\n", t.path().display()),
        &["line 3"],
    );
    expect("\n\nread relative/path\n", &["line 3", "relative/path"]);
    expect("deny\n", &["line 1"]);
    // A missing file.
    let out = Sandbox::new(h)
        .opt("--policy")
        .opt(t.path().join("no-such-policy"))
        .run(&["true"]);
    out.expect_code(2);
}
