//! The `.html` report: one self-contained page. No script, no network, no external
//! file: inline CSS, and `<details>` for the expandable tree, so it reads the same
//! with JavaScript off and can be mailed. Every path and command line goes through
//! [`display`] then [`html`]: a name holding `<script>` is text, never markup.

use std::fmt::Write as _;

use super::escape::{display, html};
use super::figures::{bytes, footprint_line, thousands};
use super::model::Process;
use super::packages::PackageUse;
use super::view::{Report, TreeNode, group_changes};

/// Tree levels shown open (deeper ones are one click away).
const OPEN_DEPTH: usize = 3;

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;max-width:80em;color:#222}\
h1{font-size:1.3em}h2{font-size:1.1em;margin-top:1.6em;border-bottom:1px solid #ccc}\
code,.p{font-family:ui-monospace,monospace;overflow-wrap:anywhere}\
.refused{background:#fde8e8;border:2px solid #c00;padding:.5em 1em}\
.refused h2{color:#a00;border:0;margin-top:.3em}\
.ok{color:#070}.n{color:#555;font-variant-numeric:tabular-nums}\
details{margin-left:1.2em}summary{cursor:pointer}\
table{border-collapse:collapse}td,th{padding:.1em .6em;text-align:left;vertical-align:top}\
tr:nth-child(even){background:#f4f4f4}.more{color:#777;font-style:italic}";

fn p(bytes: &[u8]) -> String {
    html(&display(bytes))
}

fn t(text: &str) -> String {
    html(&display(text.as_bytes()))
}

pub fn render(r: &Report) -> String {
    let mut o = String::with_capacity(64 * 1024);
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\
         <title>fusebox report: {}</title><style>{STYLE}</style></head><body>\n",
        t(&r.title)
    );
    let _ = writeln!(o, "<h1>fusebox report: <code>{}</code></h1>", t(&r.title));
    let _ = write!(o, "<p>Build directory <code>{}</code>", p(&r.build_dir));
    if let Some(code) = r.exit_code {
        let _ = write!(o, " · exit status {code}");
    }
    let _ = writeln!(
        o,
        "</p>\n<p><b>{}</b></p>\n<p class=\"n\">{} operations, {} failed (no such file…)</p>",
        html(&footprint_line(&r.totals)),
        thousands(r.events),
        thousands(r.failed)
    );
    refused(&mut o, r);
    changes(&mut o, r);
    let _ = writeln!(
        o,
        "<h2 id=\"tree\">Directories</h2>\n<p class=\"n\">Per directory and everything \
         below it: distinct files read, written and run, their size now, and operations.</p>"
    );
    tree(&mut o, &r.tree, 0);
    programs(&mut o, r);
    processes(&mut o, r);
    packages(&mut o, r);
    undeclared(&mut o, r);
    o.push_str("</body></html>\n");
    o
}

fn more(o: &mut String, total: u64, shown: usize) {
    if total > shown as u64 {
        let _ = writeln!(
            o,
            "<p class=\"more\">… and {} more (not listed)</p>",
            thousands(total - shown as u64)
        );
    }
}

fn refused(o: &mut String, r: &Report) {
    if r.refused_total == 0 {
        let _ = writeln!(
            o,
            "<h2 id=\"refused\">Refused</h2><p class=\"ok\">Nothing was refused.</p>"
        );
        return;
    }
    let _ = writeln!(
        o,
        "<section class=\"refused\"><h2 id=\"refused\">Refused ({})</h2>\
         <table><tr><th>verdict</th><th>operation</th><th>path</th><th>process</th></tr>",
        thousands(r.refused_total)
    );
    for v in &r.refused {
        let verdict = if v.predicted { "predicted" } else { "REFUSED" };
        let mut path = p(&v.path);
        if let Some(p2) = &v.path2 {
            path = format!("{path} → {}", p(p2));
        }
        let _ = writeln!(
            o,
            "<tr><td><b>{verdict}</b></td><td>{}</td><td class=\"p\">{path}</td><td class=\"p\">{} {}</td></tr>",
            v.op,
            v.pid,
            t(&v.cmdline)
        );
    }
    o.push_str("</table>");
    more(o, r.refused_total, r.refused.len());
    o.push_str("</section>\n");
}

fn changes(o: &mut String, r: &Report) {
    let _ = writeln!(
        o,
        "<h2 id=\"changes\">Changed outside the build directory ({})</h2>",
        thousands(r.changes_total)
    );
    if r.changes.is_empty() {
        o.push_str("<p class=\"ok\">Nothing.</p>\n");
        return;
    }
    o.push_str("<table><tr><th>change</th><th>path</th></tr>\n");
    for c in group_changes(&r.changes) {
        let mut path = p(&c.path);
        if let Some(p2) = &c.path2 {
            path = format!("{path} → {}", p(p2));
        }
        let _ = writeln!(
            o,
            "<tr><td>{}</td><td class=\"p\">{path}</td></tr>",
            c.names()
        );
    }
    o.push_str("</table>\n");
    more(o, r.changes_total, r.changes.len());
}

fn tree(o: &mut String, n: &TreeNode, depth: usize) {
    let c = &n.total;
    let label = format!(
        "<code>{}</code> <span class=\"n\">read {} · written {} · run {} · {} · {} ops</span>",
        p(&n.label),
        thousands(c.read),
        thousands(c.written),
        thousands(c.executed),
        bytes(n.bytes),
        thousands(c.ops)
    );
    if n.children.is_empty() && n.hidden == 0 {
        let _ = writeln!(o, "<div style=\"margin-left:1.2em\">{label}</div>");
        return;
    }
    let open = if depth < OPEN_DEPTH { " open" } else { "" };
    let _ = writeln!(o, "<details{open}><summary>{label}</summary>");
    for child in &n.children {
        tree(o, child, depth + 1);
    }
    if n.hidden > 0 {
        let _ = writeln!(
            o,
            "<div class=\"more\" style=\"margin-left:1.2em\">… {} more directories</div>",
            thousands(n.hidden)
        );
    }
    o.push_str("</details>\n");
}

fn programs(o: &mut String, r: &Report) {
    let _ = writeln!(
        o,
        "<h2 id=\"programs\">Programs run ({})</h2>\n<table><tr><th>runs</th><th>program</th><th>started by</th></tr>",
        thousands(r.programs_total)
    );
    for (path, prog) in &r.programs {
        let by: Vec<String> = prog.started_by.iter().map(|c| t(c)).collect();
        let _ = writeln!(
            o,
            "<tr><td class=\"n\">{}</td><td class=\"p\">{}</td><td class=\"p\">{}</td></tr>",
            thousands(prog.runs),
            p(path),
            by.join("<br>")
        );
    }
    o.push_str("</table>\n");
    more(o, r.programs_total, r.programs.len());
}

fn processes(o: &mut String, r: &Report) {
    let _ = writeln!(
        o,
        "<h2 id=\"processes\">Processes ({})</h2>",
        thousands(r.processes_total)
    );
    for proc in &r.processes {
        process(o, proc);
    }
    more(o, r.processes_total, r.processes.len());
}

fn process(o: &mut String, proc: &Process) {
    let _ = write!(
        o,
        "<details><summary><span class=\"n\">{}</span> <code>{}</code> \
         <span class=\"n\">read {} · changed {} · ran {} · refused {}</span></summary><ul>",
        proc.pid,
        t(&proc.cmdline),
        thousands(proc.reads),
        thousands(proc.changes),
        thousands(proc.execs),
        thousands(proc.refused)
    );
    for (effect, path) in &proc.sample {
        let _ = write!(o, "<li>{} <code>{}</code></li>", effect.name(), p(path));
    }
    o.push_str("</ul></details>\n");
}

fn package_list(o: &mut String, list: &[PackageUse]) {
    o.push_str("<table><tr><th>package</th><th>files used</th></tr>\n");
    for pkg in list {
        let _ = write!(
            o,
            "<tr><td><b>{}</b> <span class=\"n\">({})</span></td><td><details><summary>{} file(s)</summary>",
            t(&pkg.name),
            pkg.db.name(),
            thousands(pkg.file_count)
        );
        for f in &pkg.files {
            let _ = write!(o, "<div class=\"p\">{}</div>", p(f));
        }
        more(o, pkg.file_count, pkg.files.len());
        o.push_str("</details></td></tr>\n");
    }
    o.push_str("</table>\n");
}

fn packages(o: &mut String, r: &Report) {
    let _ = writeln!(
        o,
        "<h2 id=\"packages\">Packages used ({})</h2>\n<p class=\"n\">Files read or run outside \
         the build directory, by the installed package that owns them.</p>",
        r.owners.packages.len()
    );
    package_list(o, &r.owners.packages);
    let _ = write!(
        o,
        "<details><summary>Owned by no package: {} files</summary>",
        thousands(r.owners.unowned_count)
    );
    for f in &r.owners.unowned {
        let _ = write!(o, "<div class=\"p\">{}</div>", p(f));
    }
    more(o, r.owners.unowned_count, r.owners.unowned.len());
    o.push_str("</details>\n");
}

fn undeclared(o: &mut String, r: &Report) {
    let Some(u) = &r.undeclared else { return };
    let _ = writeln!(
        o,
        "<h2 id=\"undeclared\">Undeclared dependencies of {} ({})</h2>",
        t(&u.package),
        u.packages.len()
    );
    if u.packages.is_empty() {
        o.push_str("<p class=\"ok\">None: every installed package it used is declared.</p>\n");
    } else {
        package_list(o, &u.packages);
    }
    let declared: Vec<String> = u.declared.iter().map(|d| t(d)).collect();
    let _ = writeln!(
        o,
        "<p class=\"n\">Declared (BDEPEND, DEPEND, RDEPEND, IDEPEND, PDEPEND): <code>{}</code></p>",
        declared.join(" ")
    );
}
