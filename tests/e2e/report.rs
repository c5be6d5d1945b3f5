//! `--report` (issue 15): the footprint report of a sample build in each format, read
//! back as a person would read it (the page through a real browser), hostile names,
//! reports from a saved trace, the one-line footprint on a terminal, and a report file
//! the build swapped for a FIFO or a symlink.
//!
//! The sample build compiles a C file against a library header (`<stdio.h>`: Debian's
//! `libc6-dev` owns it), writes in its build directory and in /tmp (outside it but
//! writable), and tries one write outside everything it may write.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

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
    let schema = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/report.schema.json");
    let script = "import json, sys, jsonschema\n\
                  schema = json.load(open(sys.argv[1]))\n\
                  jsonschema.Draft202012Validator.check_schema(schema)\n\
                  jsonschema.Draft202012Validator(schema).validate(json.load(open(sys.argv[2])))\n\
                  print('valid')\n";
    let out = native(&["python3", "-c", script, schema, s(file)], Path::new("/"));
    assert_eq!(
        out.code(),
        Some(0),
        "the report does not match its schema (python3-jsonschema is needed)\n{out}"
    );
}

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

/// The headless browser: Debian's chromium (its launcher script is only a wrapper).
fn chromium() -> String {
    find_tool(
        &[
            "/usr/lib/chromium/chromium",
            "/usr/bin/chromium",
            "/usr/bin/chromium-browser",
        ],
        "chromium",
    )
}

/// A Chromium profile with JavaScript blocked (the content setting a user turns off),
/// checked on a canary page whose script would change its text.
fn browser_profile(work: &Path) -> PathBuf {
    let profile = work.join("profile");
    std::fs::create_dir_all(profile.join("Default")).unwrap();
    std::fs::write(
        profile.join("Default/Preferences"),
        r#"{"profile":{"default_content_setting_values":{"javascript":2}}}"#,
    )
    .unwrap();
    let canary = work.join("canary.html");
    std::fs::write(
        &canary,
        "<p id=c>script-did-not-run</p><script>document.getElementById('c').textContent='script-ran'</script>",
    )
    .unwrap();
    let dom = chromium_run(&profile, &["--dump-dom"], &canary);
    assert!(
        dom.stdout.contains("<p id=\"c\">script-did-not-run</p>"),
        "JavaScript is not off in the test browser\n{dom}"
    );
    profile
}

/// Runs its arguments as a child subreaper and waits for every descendant: Chromium
/// leaves helper processes behind, which would otherwise linger as the test user's.
const REAPER: &str = "import ctypes, os, subprocess, sys\n\
                      ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER\n\
                      code = subprocess.call(sys.argv[1:])\n\
                      while True:\n    try:\n        os.wait()\n    except ChildProcessError:\n        break\n\
                      sys.exit(code)\n";

/// Headless Chromium with `profile`, `args`, on `page`.
fn chromium_run(profile: &Path, args: &[&str], page: &Path) -> Out {
    let mut c = Command::new("python3");
    c.args(["-c", REAPER]).arg(chromium());
    c.args([
        "--headless=new",
        "--disable-gpu",
        "--no-sandbox",
        "--no-first-run",
        "--disable-breakpad",
        "--disable-crash-reporter",
    ])
    .arg(format!("--user-data-dir={}", s(profile)))
    .args(args)
    .arg(format!("file://{}", s(page)))
    .env("HOME", profile.parent().unwrap());
    spawn_command(c, false, Duration::from_secs(120)).wait()
}

/// `page` as a real browser renders it with JavaScript off: printed to PDF by
/// headless Chromium, then the PDF's text (poppler's pdftotext), [`squeeze`]d.
fn rendered_text(page: &Path) -> String {
    let work = tmpdir();
    let profile = browser_profile(work.path());
    let pdf = work.path().join("page.pdf");
    let print = format!("--print-to-pdf={}", s(&pdf));
    let out = chromium_run(&profile, &["--no-pdf-header-footer", &print], page);
    assert!(pdf.is_file(), "chromium printed nothing\n{out}");
    let pdftotext = find_tool(&["/usr/bin/pdftotext"], "poppler-utils");
    let text = native(&[pdftotext.as_str(), s(&pdf), "-"], Path::new("/"));
    assert_eq!(text.code(), Some(0), "{text}");
    squeeze(&text.stdout)
}

/// The DOM Chromium built from `page` (JavaScript off): what the parser made of it.
fn rendered_dom(page: &Path) -> String {
    let work = tmpdir();
    let profile = browser_profile(work.path());
    let out = chromium_run(&profile, &["--dump-dom"], page);
    assert!(out.stdout.contains("</html>"), "no DOM\n{out}");
    out.stdout
}

/// `s` without whitespace and hyphens: the page wraps long paths anywhere, and
/// pdftotext drops the hyphen of a name cut at one.
fn squeeze(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect()
}

e2e!(shared, report_html_in_a_real_browser_shows_the_sample_build);
fn report_html_in_a_real_browser_shows_the_sample_build(h: Helper) {
    let run = sample(h, "html", &[]);
    let size = std::fs::metadata(&run.report).unwrap().len();
    assert!(size < 1 << 20, "{size} bytes for a tiny build");
    let page = std::fs::read_to_string(&run.report).unwrap();
    assert!(
        !page.contains("<script") && !page.contains("src=\"http"),
        "the page must be self-contained and script-free"
    );
    let text = rendered_text(&run.report);
    let at = |needle: &str| {
        let needle = squeeze(needle);
        text.find(&needle)
            .unwrap_or_else(|| panic!("{needle:?} not in the rendered page:\n{text}"))
    };
    let refused = at(&format!("REFUSED open_wr_creat {}", s(&run.refused)));
    let changes = at("Changed outside the build directory");
    let written = at(&format!("created {}", s(&run.written)));
    let tree = at("Directories");
    let include = at("include read");
    let programs = at("Programs run");
    let packages = at("Packages used");
    let libc_dev = at("libc6-dev (dpkg)");
    assert!(
        refused < changes && changes < written && written < tree,
        "{text}"
    );
    assert!(tree < include && include < programs, "{text}");
    // (The compiler's temporary files, /tmp/ccXXXXXX, may start with "cc1" too.)
    assert!(text[programs..packages].contains("/cc1"), "{text}");
    assert!(packages < libc_dev, "{text}");
}

e2e!(shared, report_escapes_hostile_names);
/// A name with markup, a newline and an escape sequence, in a directory named with
/// markup too, created outside the build directory (so it is listed one by one) and
/// inside it (so it is in the tree); and a name that is not UTF-8.
fn report_escapes_hostile_names(h: Helper) {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let build = tmpdir();
    let outside = tmpdir();
    let hostile = "<script>alert(1)<!--\n\x1b[31mred";
    let dir_name = "<img src=x onerror=alert(2)>";
    let not_utf8 = OsStr::from_bytes(b"bad\xffbyte");
    for ext in ["html", "txt", "json"] {
        let report = build.path().join(format!("r.{ext}"));
        Sandbox::new(h)
            .opts(&["--report", s(&report)])
            .cwd(build.path())
            .run_sh_args(
                r#"mkdir -p "$1/$3" "$3" && echo x > "$1/$3/$2" && echo y > "$3/$2" && echo z > "$1/$4""#,
                &[outside.path().as_os_str(), OsStr::new(hostile), OsStr::new(dir_name), not_utf8],
            )
            .ok();
        let bytes = std::fs::read(&report).unwrap();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(!bytes.contains(&0x1b), "{ext}: a raw escape sequence");
        match ext {
            "html" => {
                assert!(
                    !text.contains("<script") && !text.contains("<img"),
                    "{text}"
                );
                assert!(text.contains("&lt;script&gt;alert(1)&lt;!--\\n\\x1b[31mred"));
                let dom = rendered_dom(&report);
                assert!(!dom.contains("<script") && !dom.contains("<img"), "{dom}");
                let shown = rendered_text(&report);
                assert!(
                    shown.contains(&squeeze("<script>alert(1)<!--\\n\\x1b[31mred")),
                    "{shown}"
                );
                assert!(shown.contains(&squeeze(dir_name)), "{shown}");
                assert!(shown.contains("bad\\xffbyte"), "{shown}");
            }
            "txt" => {
                assert!(
                    text.contains("<script>alert(1)<!--\\n\\x1b[31mred"),
                    "{text}"
                );
                assert!(!text.contains("alert(1)<!--\n"), "a raw newline in a name");
                assert!(text.contains("/bad\\xffbyte"), "{text}");
            }
            _ => {
                let doc: Value = serde_json::from_str(&text).unwrap();
                let want = format!("{}/{dir_name}/{hostile}", s(outside.path()));
                assert!(
                    doc["changes"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|c| c["path"] == want.as_str()),
                    "{:#}",
                    doc["changes"]
                );
                // Not UTF-8: lossy, and the exact bytes in hex.
                let mut exact = outside.path().as_os_str().as_bytes().to_vec();
                exact.extend_from_slice(b"/bad\xffbyte");
                let hex: String = exact.iter().map(|b| format!("{b:02x}")).collect();
                assert!(
                    doc["changes"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|c| c["path_hex"] == hex.as_str()
                            && c["path"].as_str().unwrap().ends_with("/bad\u{fffd}byte")),
                    "{:#}",
                    doc["changes"]
                );
            }
        }
    }
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

e2e!(shared, report_footprint_line_on_a_terminal);
/// The one-line footprint: on a terminal (util-linux `script` gives the run one), not
/// with -q, not when stderr is not a terminal.
fn report_footprint_line_on_a_terminal(h: Helper) {
    let sb = Sandbox::new(h);
    let script = find_tool(&["/usr/bin/script"], "util-linux");
    let run = |quiet: bool| {
        let mut cmd = format!(
            "{} --mount-helper {} {} -- sh -c 'cat /etc/hostname >/dev/null; echo x > made'",
            s(&bin()),
            h.name(),
            if quiet { "-q" } else { "" }
        );
        cmd.push_str(" 2>&1");
        native(&[script.as_str(), "-qec", &cmd, "/dev/null"], sb.dir())
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

// ---------------------------------------------------------------------------------------------
// Real Portage (the Prefix of tests/e2e/portage.rs, whose sandbox.d gives every package
// build `--report fusebox-report.json`).

/// The test ebuilds of the undeclared-dependency case, added to tests/e2e/portage.rs's
/// repository: both compile against the fake installed library's header; one declares
/// it, the other does not.
pub const EBUILDS: &[(&str, &str)] = &[
    (
        "uses-fakelib",
        r#"src_unpack() {
	printf '#include <fakelib.h>\nint main(void) { return FAKELIB_ANSWER - 42; }\n' > u.c || die
}

src_compile() {
	${CC:-cc} ${CFLAGS} -I"${EPREFIX}/usr/include" -o u u.c || die
}

src_install() {
	dobin u
}
"#,
    ),
    (
        "declares-fakelib",
        r#"DEPEND="dev-libs/fakelib"

src_unpack() {
	printf '#include <fakelib.h>\nint main(void) { return FAKELIB_ANSWER - 42; }\n' > d.c || die
}

src_compile() {
	${CC:-cc} ${CFLAGS} -I"${EPREFIX}/usr/include" -o d d.c || die
}

src_install() {
	dobin d
}
"#,
    ),
];

/// `dev-libs/fakelib-1`, installed in the Prefix as Portage records an installed
/// package (`${EPREFIX}/var/db/pkg/dev-libs/fakelib-1/`), owning one header.
pub fn install_fake_library(eprefix: &Path) {
    let header = eprefix.join("usr/include/fakelib.h");
    std::fs::create_dir_all(header.parent().unwrap()).unwrap();
    std::fs::write(&header, "#define FAKELIB_ANSWER 42\n").unwrap();
    let vdb = eprefix.join("var/db/pkg/dev-libs/fakelib-1");
    std::fs::create_dir_all(&vdb).unwrap();
    for (file, text) in [
        ("CATEGORY", "dev-libs\n".to_string()),
        ("PF", "fakelib-1\n".to_string()),
        ("SLOT", "0\n".to_string()),
        ("EAPI", "8\n".to_string()),
        ("COUNTER", "1\n".to_string()),
        ("repository", "fbtest\n".to_string()),
        (
            "CONTENTS",
            format!(
                "dir {inc}\nobj {h} 0123456789abcdef0123456789abcdef 1700000000\n",
                inc = s(header.parent().unwrap()),
                h = s(&header)
            ),
        ),
    ] {
        std::fs::write(vdb.join(file), text).unwrap();
    }
}

/// The package's report, `${T}/fusebox-report.json`, schema-checked.
fn package_report(p: &crate::portage::Prefix, name: &str) -> Value {
    let file = p.builddir(name).join("temp/fusebox-report.json");
    assert!(file.is_file(), "no {}", file.display());
    validate_schema(&file);
    serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap()
}

e2e!(shared, report_portage_undeclared_dependencies);
/// An ebuild compiling against the header of an installed package it does not declare
/// has that package, and the header, under undeclared dependencies; one that declares
/// it has none. Each report covers every phase of its package.
fn report_portage_undeclared_dependencies(h: Helper) {
    let p = crate::portage::prefix(h);
    let header = p.eprefix.join("usr/include/fakelib.h");

    let out = p.ebuild("uses-fakelib");
    assert_eq!(out.code(), Some(0), "{out}");
    let doc = package_report(p, "uses-fakelib");
    let undeclared = &doc["undeclared"];
    assert_eq!(
        undeclared["package"], "app-misc/uses-fakelib-1",
        "{undeclared:#}"
    );
    let fakelib = undeclared["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "dev-libs/fakelib-1")
        .unwrap_or_else(|| panic!("fakelib not reported as undeclared: {undeclared:#}"));
    assert_eq!(fakelib["db"], "portage");
    assert_eq!(fakelib["files"][0], s(&header));
    // All phases: the source written in unpack, the compiler run in compile, the
    // program installed in install.
    assert!(
        doc["title"]
            .as_str()
            .unwrap()
            .starts_with("app-misc/uses-fakelib-1")
    );
    let programs = doc["programs"].to_string();
    assert!(programs.contains("/cc1\""), "{programs}");
    let tree = doc["tree"].to_string();
    assert!(
        tree.contains("/image"),
        "the install phase is missing: {tree}"
    );
    assert!(
        tree.contains("/work"),
        "the unpack/compile phases are missing: {tree}"
    );
    assert_eq!(doc["totals"]["refused"], 0);

    let out = p.ebuild("declares-fakelib");
    assert_eq!(out.code(), Some(0), "{out}");
    let doc = package_report(p, "declares-fakelib");
    assert_eq!(
        doc["undeclared"]["packages"],
        Value::Array(vec![]),
        "{doc:#}"
    );
    assert!(
        doc["undeclared"]["declared"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d == "dev-libs/fakelib")
    );
    // The package was used all the same.
    assert!(
        doc["packages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "dev-libs/fakelib-1"),
        "{:#}",
        doc["packages"]
    );
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
