//! The sample build's report as JSON (checked against its schema) and as text, and the same
//! report made later from a saved trace.

use serde_json::Value;

use super::*;
use crate::common::*;

e2e!(shared, report_json_shows_the_sample_build);
fn report_json_shows_the_sample_build(h: Helper) {
    let run = sample(h, "json", &[]);
    validate_schema(&run.report);
    let doc: Value = serde_json::from_slice(&std::fs::read(&run.report).unwrap()).unwrap();
    // 1. The refused write, with its command line.
    assert_eq!(doc["refused"][0]["path"], s(&run.refused), "{doc:#}");
    assert!(
        doc["refused"][0]["cmdline"]
            .as_str()
            .unwrap()
            .starts_with("touch ")
    );
    assert_eq!(doc["totals"]["refused"], 1);
    // 2. The change outside the build directory.
    assert!(
        doc["changes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["path"] == s(&run.written) && c["change"] == "created"),
        "{:#}",
        doc["changes"]
    );
    assert!(
        !doc["changes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["path"].as_str().unwrap().starts_with(s(run.dir.path()))),
        "the build directory's own files are not changes outside it"
    );
    // 3. The header's directory in the tree; the build dir's writes counted.
    assert!(tree_has(&doc["tree"], "/usr/include"), "{:#}", doc["tree"]);
    assert!(doc["totals"]["files_written"].as_u64().unwrap() >= 2);
    // 4. The compiler among the programs, started by the shell.
    let programs = doc["programs"].as_array().unwrap();
    let cc1 = programs
        .iter()
        .find(|p| p["path"].as_str().unwrap().ends_with("/cc1"))
        .unwrap_or_else(|| panic!("no cc1 among {programs:#?}"));
    assert!(cc1["runs"].as_u64().unwrap() >= 1);
    assert!(
        programs.iter().any(|p| p["started_by"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c.as_str().unwrap().starts_with("sh -c"))),
        "{programs:#?}"
    );
    // 5. The header's package.
    let libc_dev = doc["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "libc6-dev")
        .unwrap_or_else(|| panic!("no libc6-dev in {:#}", doc["packages"]));
    assert_eq!(libc_dev["db"], "dpkg");
    assert!(
        libc_dev["files"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f == "/usr/include/stdio.h")
    );
    // The per-process view: the process that compiled read the header.
    assert!(doc["processes"].as_array().unwrap().iter().any(|p| {
        p["cmdline"].as_str().unwrap().contains("cc1") && p["reads"].as_u64().unwrap() > 0
    }));
    assert!(doc["undeclared"].is_null());
}

e2e!(shared, report_txt_shows_the_sample_build);
fn report_txt_shows_the_sample_build(h: Helper) {
    let run = sample(h, "txt", &[]);
    let text = std::fs::read_to_string(&run.report).unwrap();
    let at = |needle: &str| {
        text.find(needle)
            .unwrap_or_else(|| panic!("{needle:?} missing from\n{text}"))
    };
    let refused = at(&format!("REFUSED open_wr_creat {}", s(&run.refused)));
    let changes = at("CHANGED OUTSIDE THE BUILD DIRECTORY");
    let written = at(&format!("created  {}", s(&run.written)));
    let tree = at("\nDIRECTORIES");
    let include = at("      include  r ");
    let programs = at("\nPROGRAMS RUN");
    let packages = at("\nPACKAGES USED");
    let libc_dev = at("  libc6-dev (dpkg)");
    assert!(
        refused < changes && changes < written && written < tree,
        "{text}"
    );
    assert!(tree < include && include < programs, "{text}");
    // (The compiler's temporary files, /tmp/ccXXXXXX, may start with "cc1" too.)
    assert!(text[programs..packages].contains("/cc1 "), "{text}");
    assert!(packages < libc_dev, "{text}");
    assert!(text[libc_dev..].contains("/usr/include/stdio.h"));
}

e2e!(shared, report_from_a_saved_trace);
/// A saved trace gives the same report as the live run; a bad one is refused with
/// the line at fault.
fn report_from_a_saved_trace(h: Helper) {
    let run = sample(h, "json", &["--trace", "trace.jsonl"]);
    let dir = run.dir.path();
    let after = dir.join("after.json");
    let out = native(
        &[
            s(&bin()),
            "--report",
            s(&after),
            "--from-trace",
            "trace.jsonl",
        ],
        dir,
    );
    assert_eq!(out.code(), Some(0), "{out}");
    let live: Value = serde_json::from_slice(&std::fs::read(&run.report).unwrap()).unwrap();
    let later: Value = serde_json::from_slice(&std::fs::read(&after).unwrap()).unwrap();
    validate_schema(&after);
    for key in ["refused", "changes", "programs", "packages"] {
        assert_eq!(live[key], later[key], "{key}");
    }
    assert_eq!(live["totals"]["files_read"], later["totals"]["files_read"]);
    assert_eq!(later["exit_code"], Value::Null);

    // Bad input: one line saying what is wrong, exit 1, and no report.
    std::fs::write(dir.join("bad.jsonl"), "{\"op\":\"open_rd\"}\nnot json\n").unwrap();
    let bad = dir.join("bad.txt");
    let out = native(
        &[s(&bin()), "--report", s(&bad), "--from-trace", "bad.jsonl"],
        dir,
    );
    assert_eq!(out.code(), Some(1), "{out}");
    assert!(
        out.stderr.contains("bad.jsonl: line 1: no \"verdict\""),
        "{out}"
    );
    assert_eq!(out.stderr.lines().count(), 1, "{out}");
    assert!(!bad.exists());
    let out = native(
        &[
            s(&bin()),
            "--report",
            "r.pdf",
            "--from-trace",
            "trace.jsonl",
        ],
        dir,
    );
    assert_eq!(out.code(), Some(1), "{out}");
    assert!(out.stderr.contains(".html, .json or .txt"), "{out}");
    let out = native(&[s(&bin()), "--from-trace", "trace.jsonl"], dir);
    assert_eq!(out.code(), Some(2), "--from-trace needs --report\n{out}");
}
