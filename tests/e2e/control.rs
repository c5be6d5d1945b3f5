//! The policy at run time: the control file /dev/fusebox and --lock, --learn, --trace.

use std::path::Path;

use crate::common::*;

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// Two directories under a temp dir: `build` (the write set) and `other` (not in it).
fn build_and_other() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let t = tmpdir();
    let (build, other) = (t.path().join("build"), t.path().join("other"));
    std::fs::create_dir(&build).unwrap();
    std::fs::create_dir(&other).unwrap();
    (t, build, other)
}

e2e!(
    shared,
    control_file_adds_a_write_path_and_lock_refuses_changes
);
fn control_file_adds_a_write_path_and_lock_refuses_changes(h: Helper) {
    let (t, build, other) = build_and_other();
    let third = t.path().join("third");
    std::fs::create_dir(&third).unwrap();
    let out = Sandbox::new(h)
        .opt("--no-default-write")
        .opt("-w")
        .opt(&build)
        .run_sh_args(
            r#"o=$1 t=$2
test -c /dev/fusebox || test -f /dev/fusebox || { echo no-control-file; exit 9; }
echo before > "$o/f" 2>/dev/null && echo before-written || echo before-denied
echo "addwrite $o" > /dev/fusebox && echo added
echo after > "$o/f" && echo after-written
echo lock > /dev/fusebox && echo locked
echo "addwrite $t" > /dev/fusebox 2>/dev/null && echo changed-after-lock || echo refused
echo x > "$t/f" 2>/dev/null && echo third-written || echo third-denied
python3 -c 'import os, sys
fd = os.open("/dev/fusebox", os.O_WRONLY)
for line in (b"addwrite /tmp\n", b"nonsense\n"):
    try:
        os.write(fd, line)
    except OSError as e:
        print(line.split()[0].decode(), os.strerror(e.errno))'
cat /dev/fusebox"#,
            &[&other, &third],
        );
    let lines = out.stdout_lines();
    for expected in [
        "before-denied",
        "added",
        "after-written",
        "locked",
        "refused",
        "third-denied",
        "addwrite Operation not permitted",
        "nonsense Invalid argument",
    ] {
        assert!(lines.contains(&expected), "missing {expected:?}\n{out}");
    }
    assert!(
        lines.contains(&format!("write {}", s(&other)).as_str()),
        "reading /dev/fusebox shows the added path\n{out}"
    );
    assert!(
        !lines.contains(&format!("write {}", s(&third)).as_str()),
        "the refused path is not in the policy\n{out}"
    );
    assert_eq!(std::fs::read_to_string(other.join("f")).unwrap(), "after\n");
    assert!(!third.join("f").exists());
    // The two refused writes were violations.
    out.expect_code(1);
}

e2e!(shared, lock_option_refuses_changes_from_the_start);
fn lock_option_refuses_changes_from_the_start(h: Helper) {
    let (_t, build, other) = build_and_other();
    let out = Sandbox::new(h)
        .opt("--lock")
        .opt("--no-default-write")
        .opt("-w")
        .opt(&build)
        .run_sh_args(
            r#"echo "addwrite $1" > /dev/fusebox 2>/dev/null && echo changed || echo refused
cat /dev/fusebox"#,
            &[&other],
        );
    out.ok();
    assert_eq!(out.stdout_lines()[0], "refused", "{out}");
    assert!(!out.stdout.contains(s(&other)), "{out}");
}

e2e!(shared, learn_then_policy_gives_a_clean_run);
fn learn_then_policy_gives_a_clean_run(h: Helper) {
    let (t, build, other) = build_and_other();
    let learned = t.path().join("learned.policy");
    let script = r#"mkdir -p "$1/cache/deep" && echo x > "$1/cache/deep/file" && echo y > "$1/top" && echo built"#;
    // Only the build dir is writable (-w adds to the defaults, which hold /tmp).
    let first = Sandbox::new(h)
        .opt("--no-default-write")
        .opt("-w")
        .opt(&build)
        .opt("--learn")
        .opt(&learned)
        .run_sh_args(script, &[&other]);
    // Learning lets the build through, and reports what it needed.
    first.expect_code(1);
    assert_eq!(first.stdout, "built\n", "{first}");
    let policy = std::fs::read_to_string(&learned).unwrap();
    assert!(
        policy.contains(&format!("write {}\n", s(&build))),
        "{policy}"
    );
    assert!(
        policy.contains(&format!("write {}\n", s(&other))),
        "the file and the mkdir in {} are learned\n{policy}",
        other.display()
    );
    std::fs::remove_dir_all(&other).unwrap();
    std::fs::create_dir(&other).unwrap();
    let second = Sandbox::new(h)
        .opt("--policy")
        .opt(&learned)
        .run_sh_args(script, &[&other]);
    second.ok();
    assert_eq!(second.stdout, "built\n", "{second}");
    assert!(
        !second.stderr.contains("SANDBOX ACCESS VIOLATION SUMMARY"),
        "{second}"
    );
    assert_eq!(std::fs::read_to_string(other.join("top")).unwrap(), "y\n");
}

e2e!(shared, learn_o_tmpfile_allows_its_directory_itself);
/// O_TMPFILE writes in its directory: --learn allows that directory, not its parent.
fn learn_o_tmpfile_allows_its_directory_itself(h: Helper) {
    let (t, build, other) = build_and_other();
    let tmpdir_inside = other.join("tmp");
    std::fs::create_dir(&tmpdir_inside).unwrap();
    let learned = t.path().join("learned.policy");
    let script = r#"
import os, sys
fd = os.open(sys.argv[1], os.O_TMPFILE | os.O_RDWR, 0o600)
os.write(fd, b"scratch")
print("made")
"#;
    // Only the build dir is writable (-w adds to the defaults, which hold /tmp).
    let first = Sandbox::new(h)
        .opt("--no-default-write")
        .opt("-w")
        .opt(&build)
        .opt("--learn")
        .opt(&learned)
        .run(&["python3", "-c", script, s(&tmpdir_inside)]);
    first.expect_code(1);
    assert_eq!(first.stdout, "made\n", "{first}");
    let policy = std::fs::read_to_string(&learned).unwrap();
    assert!(
        policy.contains(&format!("write {}\n", s(&tmpdir_inside))),
        "{policy}"
    );
    assert!(
        !policy.contains(&format!("write {}\n", s(&other))),
        "not the directory above\n{policy}"
    );
    let second = Sandbox::new(h).opt("--policy").opt(&learned).run(&[
        "python3",
        "-c",
        script,
        s(&tmpdir_inside),
    ]);
    second.ok();
    assert_eq!(second.stdout, "made\n", "{second}");
    assert_eq!(
        std::fs::read_dir(&tmpdir_inside).unwrap().count(),
        0,
        "nothing left behind"
    );
}

/// The fields of one trace line, by plain string search (the lines are flat JSON
/// objects with string and number values).
fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let start = line.find(&format!("\"{key}\":"))? + key.len() + 3;
    let rest = &line[start..];
    if let Some(rest) = rest.strip_prefix('"') {
        rest.find('"').map(|end| &rest[..end])
    } else {
        rest.find([',', '}']).map(|end| &rest[..end])
    }
}

e2e!(shared, trace_records_each_operation);
fn trace_records_each_operation(h: Helper) {
    let (t, build, other) = build_and_other();
    let trace = t.path().join("trace.jsonl");
    let out = Sandbox::new(h)
        .opt("--no-default-write")
        .opt("-w")
        .opt(&build)
        .opt("--trace")
        .opt(&trace)
        .cwd(&build)
        .run_sh_args(
            r#"mkdir made && mv made moved && echo x > "$1/refused"; cat moved 2>/dev/null; true"#,
            &[&other],
        );
    out.expect_code(1);
    let text = std::fs::read_to_string(&trace).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(!lines.is_empty(), "empty trace");
    for line in &lines {
        assert!(
            line.starts_with("{\"time\":\"") && line.ends_with('}'),
            "{line}"
        );
        let pid: u32 = field(line, "pid").unwrap().parse().unwrap();
        assert!(pid > 1, "{line}");
    }
    let find = |op: &str, path: &Path| {
        lines
            .iter()
            .copied()
            .find(|l| field(l, "op") == Some(op) && field(l, "path") == Some(s(path)))
            .unwrap_or_else(|| panic!("no {op} of {}\n{text}", path.display()))
    };
    let mkdir = find("mkdir", &build.join("made"));
    assert_eq!(field(mkdir, "verdict"), Some("allow"));
    assert_eq!(field(mkdir, "errno"), Some("0"));
    assert_eq!(
        field(mkdir, "cmdline"),
        Some("mkdir made "),
        "the command line is the mkdir's\n{mkdir}"
    );
    let rename = find("rename", &build.join("made"));
    assert_eq!(field(rename, "path2"), Some(s(&build.join("moved"))));
    assert_eq!(field(rename, "cmdline"), Some("mv made moved "));
    assert_ne!(field(rename, "pid"), field(mkdir, "pid"), "two processes");
    // What the policy does not judge is traced too, allowed.
    let lookup = find("lookup", &build.join("moved"));
    assert_eq!(field(lookup, "verdict"), Some("allow"));
    let refused = find("open_wr_creat", &other.join("refused"));
    assert_eq!(field(refused, "verdict"), Some("deny"));
    assert_eq!(field(refused, "errno"), Some("13"));
    let exec = lines
        .iter()
        .find(|l| {
            field(l, "op") == Some("execve")
                && field(l, "path").is_some_and(|p| p.ends_with("/mkdir"))
        })
        .unwrap_or_else(|| panic!("no execve of mkdir\n{text}"));
    assert_eq!(
        field(exec, "pid"),
        field(mkdir, "pid"),
        "mkdir was run by that process"
    );
}
