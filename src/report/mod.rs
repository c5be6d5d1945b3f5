//! The footprint report (`--report FILE`): what a build read, wrote, ran and was
//! refused, and which installed packages it used, at a glance.
//!
//! The trace's event stream ([`crate::audit::Tracer`]) feeds a [`Collector`], which
//! aggregates as events arrive ([`model`]): nothing is stored per event. After the
//! run the aggregate becomes a [`view::Report`] (tree rolled up, sizes, package owners
//! from [`packages`], Gentoo's undeclared dependencies from [`portage`]), which one
//! pure renderer per format turns into text: [`html`], [`json`], [`text`] (numbers as
//! people read them: [`figures`]). A saved `--trace` can be read back into the same
//! aggregate ([`trace_in`]).

pub mod escape;
pub mod event;
pub mod figures;
pub mod html;
pub mod json;
pub mod model;
pub mod packages;
pub mod portage;
pub mod run;
pub mod text;
pub mod trace_in;
pub mod view;

use std::path::{Path, PathBuf};

use crate::audit::{Observer, Traced};
use event::Event;
pub use figures::{bytes, footprint_line, thousands};
use model::{Footprint, Totals};
pub use view::{Context, Report};

/// The report's format, from the file name's extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Html,
    Json,
    Text,
}

impl Format {
    /// `.html`/`.htm`, `.json` or `.txt`; anything else is an error that says so.
    pub fn of(path: &Path) -> Result<Format, String> {
        match path.extension().and_then(|e| e.to_str()) {
            Some("html" | "htm") => Ok(Format::Html),
            Some("json") => Ok(Format::Json),
            Some("txt") => Ok(Format::Text),
            _ => Err(format!(
                "--report {}: name the file .html, .json or .txt (the format follows the extension)",
                path.display()
            )),
        }
    }
}

/// The report in `format`.
pub fn render(report: &Report, format: Format) -> String {
    match format {
        Format::Html => html::render(report),
        Format::Json => json::render(report),
        Format::Text => text::render(report),
    }
}

/// Where a run's report goes and what it covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportPlan {
    pub file: PathBuf,
    pub format: Format,
    /// Changes outside it are listed one by one; files inside it are the build's own.
    pub build_dir: PathBuf,
    /// Gentoo mode: one report per package, over all its phases.
    pub portage: Option<PortageBuild>,
}

/// A Portage package build, as the phase's environment describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortageBuild {
    /// `CATEGORY/PF`.
    pub package: String,
    /// `${T}`: the report, the phases' accumulated events and Portage's saved
    /// environment are there.
    pub temp: PathBuf,
    /// `${EPREFIX}`: its `var/db/pkg` and `etc/portage/make.profile`.
    pub eprefix: PathBuf,
    /// The first sandboxed phase (`unpack`): the events of an earlier build of the
    /// same package are dropped.
    pub first_phase: bool,
}

impl PortageBuild {
    /// Every phase's events, appended to by each phase's sandbox.
    pub fn events_file(&self) -> PathBuf {
        self.temp.join("fusebox-report.trace")
    }

    /// Portage's saved ebuild environment (`DEPEND`…).
    pub fn environment_file(&self) -> PathBuf {
        self.temp.join("environment")
    }

    pub fn profile(&self) -> PathBuf {
        self.eprefix.join("etc/portage/make.profile")
    }
}

/// Aggregates the events of a run as the trace's writer thread hands them over.
#[derive(Debug)]
pub struct Collector {
    pub footprint: Footprint,
}

impl Collector {
    pub fn new(build_dir: &Path) -> Collector {
        use std::os::unix::ffi::OsStrExt;
        Collector {
            footprint: Footprint::new(build_dir.as_os_str().as_bytes()),
        }
    }
}

impl Observer for Collector {
    fn observe(&mut self, e: &Traced, cmdline: &str) {
        use std::os::unix::ffi::OsStrExt;
        self.footprint.add(&Event {
            pid: e.pid,
            cmdline,
            op: e.op,
            path: e.path.as_os_str().as_bytes(),
            path2: e.path2.as_ref().map(|p| p.as_os_str().as_bytes()),
            verdict: e.verdict,
            errno: e.errno,
        });
    }
}

/// `--report FILE --from-trace TRACE`: the report of a saved trace, about a build in
/// `plan.build_dir`, with the packages of this host (and of `$EPREFIX` when set).
/// Returns the footprint's totals.
pub fn from_trace(
    trace: &Path,
    plan: &ReportPlan,
    eprefix: Option<PathBuf>,
) -> anyhow::Result<Totals> {
    use anyhow::Context as _;
    use std::os::unix::ffi::OsStrExt;
    // A pipe is fine (`--from-trace /dev/stdin`): the trace is the user's own input.
    let input = std::fs::File::open(trace)
        .with_context(|| format!("--from-trace {}: cannot read it", trace.display()))?;
    let mut footprint = Footprint::new(plan.build_dir.as_os_str().as_bytes());
    trace_in::read_trace(
        std::io::BufReader::with_capacity(1 << 16, input),
        &mut footprint,
    )
    .with_context(|| format!("--from-trace {}", trace.display()))?;
    let totals = footprint.totals();
    let context = Context {
        title: format!("trace {}", trace.display()),
        databases: packages::Databases::find(&eprefix.into_iter().collect::<Vec<_>>()),
        ..Context::default()
    };
    let report = Report::assemble(footprint, context);
    let file = crate::audit::HostFile::new(&plan.file)
        .with_context(|| format!("--report {}: no such directory", plan.file.display()))?;
    file.replace(render(&report, plan.format).as_bytes())
        .with_context(|| format!("cannot write the report {}", plan.file.display()))?;
    Ok(totals)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::Op;
    use crate::policy::Verdict;

    #[test]
    fn formats_follow_the_extension() {
        assert_eq!(Format::of(Path::new("r.html")), Ok(Format::Html));
        assert_eq!(Format::of(Path::new("/x/r.json")), Ok(Format::Json));
        assert_eq!(Format::of(Path::new("r.txt")), Ok(Format::Text));
        assert!(
            Format::of(Path::new("r.pdf"))
                .unwrap_err()
                .contains(".html")
        );
        assert!(Format::of(Path::new("report")).is_err());
    }

    /// A sample run through every renderer: hostile names stay inert, the sections
    /// come in order.
    fn sample() -> Report {
        let mut fp = Footprint::new(b"/w");
        let mut add = |op, path: &'static [u8], verdict, cmdline| {
            fp.add(&Event {
                pid: 9,
                cmdline,
                op,
                path,
                path2: None,
                verdict,
                errno: if verdict == Verdict::Allow { 0 } else { 13 },
            })
        };
        add(Op::OpenWrCreat, b"/etc/evil", Verdict::Deny, "sh -c touch");
        add(Op::Execve, b"/usr/bin/cc", Verdict::Allow, "make");
        add(Op::OpenRd, b"/usr/include/stdio.h", Verdict::Allow, "cc");
        add(
            Op::OpenWrCreat,
            b"/w/<script>alert(1)\n\x1b[2J\xff",
            Verdict::Allow,
            "cc",
        );
        add(Op::OpenWrCreat, b"/tmp/out", Verdict::Allow, "cc");
        Report::assemble(
            fp,
            Context {
                title: "make <b>".into(),
                ..Context::default()
            },
        )
    }

    #[test]
    fn html_is_inert_and_ordered() {
        let page = render(&sample(), Format::Html);
        assert!(!page.contains("<script"), "{page}");
        assert!(!page.contains('\u{1b}'));
        assert!(page.contains("&lt;script&gt;alert(1)\\n\\x1b[2J\\xff"));
        assert!(page.contains("make &lt;b&gt;"));
        let at = |s: &str| page.find(s).unwrap_or_else(|| panic!("{s} missing"));
        assert!(at("id=\"refused\"") < at("id=\"changes\""));
        assert!(at("id=\"changes\"") < at("id=\"tree\""));
        assert!(at("id=\"tree\"") < at("id=\"programs\""));
        assert!(at("id=\"programs\"") < at("id=\"processes\""));
        assert!(at("id=\"processes\"") < at("id=\"packages\""));
        assert!(!page.contains("http://") && !page.contains("https://"));
    }

    #[test]
    fn text_has_no_control_characters() {
        let text = render(&sample(), Format::Text);
        assert!(text.contains("REFUSED open_wr_creat /etc/evil"), "{text}");
        assert!(text.contains("<script>alert(1)\\n\\x1b[2J\\xff"));
        assert!(!text.chars().any(|c| c.is_control() && c != '\n'));
    }

    #[test]
    fn json_parses_and_keeps_exact_bytes() {
        let doc: serde_json::Value =
            serde_json::from_str(&render(&sample(), Format::Json)).unwrap();
        assert_eq!(doc["fusebox_report"], 1);
        assert_eq!(doc["refused"][0]["path"], "/etc/evil");
        assert_eq!(doc["totals"]["refused"], 1);
        assert_eq!(doc["changes"][0]["path"], "/tmp/out");
        assert_eq!(doc["programs"][0]["path"], "/usr/bin/cc");
        let w = doc["tree"]["children"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["label"] == "w")
            .unwrap_or_else(|| panic!("{:#}", doc["tree"]));
        assert_eq!(w["written"], 1);
        let hostile = &doc["processes"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|p| p["sample"].as_array().unwrap().iter())
            .find(|s| s.get("path_hex").is_some())
            .unwrap()["path_hex"];
        assert!(hostile.as_str().unwrap().ends_with("1b5b324aff"));
    }
}
