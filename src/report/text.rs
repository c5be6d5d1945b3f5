//! The `.txt` report: a plain tree for terminals and CI logs. Every path and command
//! line goes through [`display`], so nothing in it can move a terminal's cursor.

use std::fmt::Write as _;

use super::escape::display;
use super::figures::{bytes, footprint_line, thousands};
use super::view::{Report, TreeNode, group_changes};

/// Processes' samples and packages' files listed per entry.
const LISTED: usize = 12;

pub fn render(r: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "fusebox report: {}", display(r.title.as_bytes()));
    let _ = write!(out, "build directory: {}", display(&r.build_dir));
    if let Some(code) = r.exit_code {
        let _ = write!(out, "   exit status: {code}");
    }
    let _ = writeln!(out, "\n{}", footprint_line(&r.totals));
    let _ = writeln!(
        out,
        "{} operations, {} failed (no such file…)",
        thousands(r.events),
        thousands(r.failed)
    );

    heading(&mut out, "REFUSED", r.refused_total);
    for v in &r.refused {
        let what = if v.predicted { "predicted" } else { "REFUSED" };
        let _ = write!(out, "  {what} {} {}", v.op, display(&v.path));
        if let Some(p2) = &v.path2 {
            let _ = write!(out, " -> {}", display(p2));
        }
        let _ = writeln!(
            out,
            "\n      by pid {}: {}",
            v.pid,
            display(v.cmdline.as_bytes())
        );
    }
    more(&mut out, r.refused_total, r.refused.len());

    heading(
        &mut out,
        "CHANGED OUTSIDE THE BUILD DIRECTORY",
        r.changes_total,
    );
    for c in group_changes(&r.changes) {
        let _ = write!(out, "  {:<8} {}", c.names(), display(&c.path));
        if let Some(p2) = &c.path2 {
            let _ = write!(out, " -> {}", display(p2));
        }
        out.push('\n');
    }
    more(&mut out, r.changes_total, r.changes.len());

    let _ = writeln!(
        out,
        "\nDIRECTORIES (distinct files read, written, run; size; operations)"
    );
    tree(&mut out, &r.tree, 1);

    heading(&mut out, "PROGRAMS RUN", r.programs_total);
    for (path, p) in &r.programs {
        let by: Vec<String> = p.started_by.iter().map(|c| display(c.as_bytes())).collect();
        let _ = writeln!(
            out,
            "  {:>6}×  {}   started by: {}",
            thousands(p.runs),
            display(path),
            by.join(" | ")
        );
    }
    more(&mut out, r.programs_total, r.programs.len());

    heading(&mut out, "PROCESSES", r.processes_total);
    for p in &r.processes {
        let _ = writeln!(
            out,
            "  pid {}: {}\n      read {} · changed {} · ran {} · refused {}",
            p.pid,
            display(p.cmdline.as_bytes()),
            thousands(p.reads),
            thousands(p.changes),
            thousands(p.execs),
            thousands(p.refused)
        );
        for (effect, path) in p.sample.iter().take(LISTED) {
            let _ = writeln!(out, "        {:<8} {}", effect.name(), display(path));
        }
    }
    more(&mut out, r.processes_total, r.processes.len());

    heading(&mut out, "PACKAGES USED", r.owners.packages.len() as u64);
    for p in &r.owners.packages {
        let _ = writeln!(
            out,
            "  {} ({}): {} file(s)",
            display(p.name.as_bytes()),
            p.db.name(),
            thousands(p.file_count)
        );
        for f in p.files.iter().take(LISTED) {
            let _ = writeln!(out, "        {}", display(f));
        }
    }
    let _ = writeln!(
        out,
        "  owned by no package: {} file(s)",
        thousands(r.owners.unowned_count)
    );
    for f in r.owners.unowned.iter().take(LISTED) {
        let _ = writeln!(out, "        {}", display(f));
    }

    if let Some(u) = &r.undeclared {
        heading(
            &mut out,
            &format!(
                "UNDECLARED DEPENDENCIES OF {}",
                display(u.package.as_bytes())
            ),
            u.packages.len() as u64,
        );
        for p in &u.packages {
            let _ = writeln!(out, "  {}", display(p.name.as_bytes()));
            for f in p.files.iter().take(LISTED) {
                let _ = writeln!(out, "        {}", display(f));
            }
        }
        let _ = writeln!(out, "  declared: {}", u.declared.join(" "));
    }
    out
}

fn heading(out: &mut String, title: &str, count: u64) {
    let _ = writeln!(out, "\n{title} ({})", thousands(count));
}

fn more(out: &mut String, total: u64, shown: usize) {
    if total > shown as u64 {
        let _ = writeln!(out, "  … and {} more", thousands(total - shown as u64));
    }
}

fn tree(out: &mut String, node: &TreeNode, depth: usize) {
    let t = &node.total;
    let _ = writeln!(
        out,
        "{:indent$}{}  r {} w {} x {}  {}  {} ops",
        "",
        display(&node.label),
        thousands(t.read),
        thousands(t.written),
        thousands(t.executed),
        bytes(node.bytes),
        thousands(t.ops),
        indent = depth * 2
    );
    for child in &node.children {
        tree(out, child, depth + 1);
    }
    if node.hidden > 0 {
        let _ = writeln!(
            out,
            "{:indent$}… {} more directories",
            "",
            thousands(node.hidden),
            indent = (depth + 1) * 2
        );
    }
}
