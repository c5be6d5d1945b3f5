//! `--report` (issue 15): the footprint report of a sample build in each format, read
//! back as a person would read it (the page through a real browser), hostile names,
//! reports from a saved trace, the one-line footprint on a terminal, a report file
//! the build swapped for a FIFO or a symlink, and real Portage's undeclared dependencies:
//! in the files below; here, the sample build they share.
//!
//! The sample build compiles a C file against a library header (`<stdio.h>`: Debian's
//! `libc6-dev` owns it), writes in its build directory and in /tmp (outside it but
//! writable), and tries one write outside everything it may write.

mod browser;
mod formats;
mod output;
pub mod portage;

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::*;

/// The sample build: `$1` is the /tmp file it writes, `$2` the refused path.
const SAMPLE: &str = r#"printf '#include <stdio.h>\nint main(void) { puts("hi"); return 0; }\n' > hello.c
cc -o hello hello.c || exit 1
echo out > "$1"
touch "$2" 2>/dev/null && exit 1
exit 0"#;

/// What the sample run left: the report's path, the /tmp file and the refused path.
struct Sample {
    dir: tempfile::TempDir,
    report: PathBuf,
    written: PathBuf,
    refused: PathBuf,
}

impl Drop for Sample {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.written);
    }
}

/// Runs the sample build under `--report report.EXT` (with `extra` options) and
/// checks it ran as it should (1: the refused write is a violation).
fn sample(h: Helper, ext: &str, extra: &[&str]) -> Sample {
    let sb = Sandbox::new(h);
    let dir = tmpdir();
    let sb = sb.cwd(dir.path());
    let report = dir.path().join(format!("report.{ext}"));
    let written = PathBuf::from(format!("/tmp/{}", unique("fusebox-report-written.")));
    let refused = home().join(unique("fusebox-report-refused."));
    let mut opts = vec!["--report".to_string(), report.display().to_string()];
    opts.extend(extra.iter().map(|s| s.to_string()));
    let opts: Vec<&str> = opts.iter().map(String::as_str).collect();
    let out = sb.opts(&opts).run_sh_args(
        SAMPLE,
        &[written.to_str().unwrap(), refused.to_str().unwrap()],
    );
    out.expect_code(1);
    assert!(!refused.exists(), "the refused write happened");
    assert!(report.is_file(), "no report\n{out}");
    Sample {
        dir,
        report,
        written,
        refused,
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `doc`'s tree has a node for `path`.
fn tree_has(node: &Value, path: &str) -> bool {
    node["path"] == path
        || node["children"]
            .as_array()
            .is_some_and(|c| c.iter().any(|n| tree_has(n, path)))
}

/// Validates `doc` against docs/report.schema.json with python3-jsonschema.
fn validate_schema(file: &Path) {
    let schema = docs().join("report.schema.json");
    let script = "import json, sys, jsonschema\n\
                  schema = json.load(open(sys.argv[1]))\n\
                  jsonschema.Draft202012Validator.check_schema(schema)\n\
                  jsonschema.Draft202012Validator(schema).validate(json.load(open(sys.argv[2])))\n\
                  print('valid')\n";
    let out = native(
        &["python3", "-c", script, s(&schema), s(file)],
        Path::new("/"),
    );
    assert_eq!(
        out.code(),
        Some(0),
        "the report does not match its schema (python3-jsonschema is needed)\n{out}"
    );
}
