//! The `.json` report: the same data as the page, for programs. Its schema is
//! `docs/report.schema.json` (JSON Schema 2020-12), described in the README.
//!
//! Paths follow the trace's rule: a UTF-8 path is a string; one that is not is written
//! lossily (U+FFFD) *and*, where it is an object's `path`/`path2`, its exact bytes
//! follow as `path_hex`/`path2_hex`. Paths in plain lists (a package's files) are
//! lossy only.

use serde_json::{Map, Value, json};

use super::model::{DirCounts, Totals};
use super::packages::PackageUse;
use super::view::{Report, TreeNode};

/// The format's version: bumped on any incompatible change.
pub const VERSION: u64 = 1;

pub fn render(r: &Report) -> String {
    let mut doc = Map::new();
    doc.insert("fusebox_report".into(), json!(VERSION));
    doc.insert("title".into(), json!(r.title));
    put_path(&mut doc, "build_dir", &r.build_dir);
    doc.insert("exit_code".into(), json!(r.exit_code));
    doc.insert("totals".into(), totals(r, &r.totals));
    doc.insert(
        "refused".into(),
        r.refused
            .iter()
            .map(|v| {
                let mut o = Map::new();
                o.insert("op".into(), json!(v.op));
                put_path(&mut o, "path", &v.path);
                if let Some(p2) = &v.path2 {
                    put_path(&mut o, "path2", p2);
                }
                o.insert("pid".into(), json!(v.pid));
                o.insert("cmdline".into(), json!(v.cmdline));
                o.insert("predicted".into(), json!(v.predicted));
                Value::Object(o)
            })
            .collect(),
    );
    doc.insert(
        "changes".into(),
        r.changes
            .iter()
            .map(|c| {
                let mut o = Map::new();
                o.insert("change".into(), json!(c.change.name()));
                put_path(&mut o, "path", &c.path);
                if let Some(p2) = &c.path2 {
                    put_path(&mut o, "path2", p2);
                }
                Value::Object(o)
            })
            .collect(),
    );
    doc.insert("tree".into(), tree(&r.tree));
    doc.insert(
        "programs".into(),
        r.programs
            .iter()
            .map(|(path, p)| {
                let mut o = Map::new();
                put_path(&mut o, "path", path);
                o.insert("runs".into(), json!(p.runs));
                o.insert("started_by".into(), json!(p.started_by));
                Value::Object(o)
            })
            .collect(),
    );
    doc.insert(
        "processes".into(),
        r.processes
            .iter()
            .map(|p| {
                json!({
                    "pid": p.pid,
                    "cmdline": p.cmdline,
                    "reads": p.reads,
                    "changes": p.changes,
                    "execs": p.execs,
                    "refused": p.refused,
                    "sample": p.sample.iter().map(|(effect, path)| {
                        let mut o = Map::new();
                        o.insert("effect".into(), json!(effect.name()));
                        put_path(&mut o, "path", path);
                        Value::Object(o)
                    }).collect::<Vec<_>>(),
                })
            })
            .collect(),
    );
    doc.insert(
        "packages".into(),
        r.owners.packages.iter().map(package).collect(),
    );
    doc.insert(
        "unowned".into(),
        json!({
            "count": r.owners.unowned_count,
            "files": r.owners.unowned.iter().map(|f| lossy(f)).collect::<Vec<_>>(),
        }),
    );
    doc.insert(
        "undeclared".into(),
        match &r.undeclared {
            None => Value::Null,
            Some(u) => json!({
                "package": u.package,
                "declared": u.declared,
                "packages": u.packages.iter().map(package).collect::<Vec<_>>(),
            }),
        },
    );
    let mut text = serde_json::to_string_pretty(&Value::Object(doc)).unwrap_or_default();
    text.push('\n');
    text
}

fn totals(r: &Report, t: &Totals) -> Value {
    json!({
        "operations": r.events,
        "failed": r.failed,
        "files_read": t.read,
        "directories_read": t.read_dirs,
        "files_written": t.written,
        "programs": t.programs,
        "runs": t.runs,
        "refused": t.refused,
        "changed_outside": t.changed_outside,
        "processes": r.processes_total,
    })
}

fn counts(o: &mut Map<String, Value>, c: &DirCounts) {
    o.insert("read".into(), json!(c.read));
    o.insert("written".into(), json!(c.written));
    o.insert("executed".into(), json!(c.executed));
    o.insert("ops".into(), json!(c.ops));
}

fn tree(n: &TreeNode) -> Value {
    let mut o = Map::new();
    put_path(&mut o, "path", &n.path);
    o.insert("label".into(), json!(lossy(&n.label)));
    counts(&mut o, &n.total);
    o.insert("bytes".into(), json!(n.bytes));
    o.insert("hidden".into(), json!(n.hidden));
    o.insert("children".into(), n.children.iter().map(tree).collect());
    Value::Object(o)
}

fn package(p: &PackageUse) -> Value {
    json!({
        "db": p.db.name(),
        "name": p.name,
        "file_count": p.file_count,
        "files": p.files.iter().map(|f| lossy(f)).collect::<Vec<_>>(),
    })
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `key`: the path as a string, plus `key_hex` when it is not UTF-8.
fn put_path(o: &mut Map<String, Value>, key: &str, path: &[u8]) {
    o.insert(key.into(), json!(lossy(path)));
    if std::str::from_utf8(path).is_err() {
        let hex: String = path.iter().map(|b| format!("{b:02x}")).collect();
        o.insert(format!("{key}_hex"), json!(hex));
    }
}
