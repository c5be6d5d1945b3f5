//! The HTML report as a person sees it: rendered by a real browser (headless Chromium, with
//! JavaScript off), with hostile names shown as text, never as markup.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use super::*;
use crate::common::*;

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
