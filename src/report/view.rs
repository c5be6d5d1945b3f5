//! A finished [`Footprint`] turned into what the renderers show: the directory tree
//! rolled up and trimmed, file sizes looked up, owners found, lists sorted and capped.
//! Everything a renderer needs is here; the renderers are pure functions of it.

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::model::{
    ChangeSeen, DirCounts, FileUse, Footprint, Process, Program, Refusal, Totals, parent,
};
use super::packages::{self, Databases, Owners, PackageUse};
use super::portage::{self, Declarations};

/// Directories shown in the tree at most; the rest are counted in their parent.
pub const MAX_TREE_NODES: usize = 3_000;
/// Programs listed at most (the most run first).
pub const MAX_PROGRAMS_SHOWN: usize = 500;
/// Processes shown at most (in order of appearance).
pub const MAX_PROCESSES_SHOWN: usize = 300;

/// What the report is about, besides the events.
#[derive(Clone, Debug, Default)]
pub struct Context {
    /// The command that ran, or where the trace came from.
    pub title: String,
    pub exit_code: Option<i32>,
    pub databases: Databases,
    /// Gentoo mode: the package and its declared dependencies.
    pub declarations: Option<Declarations>,
    /// A path to the host's `/` to look files up under (`/proc/self/fd/N`), when
    /// fusebox-run's own mount namespace may differ from the host's.
    pub host_root: Option<std::path::PathBuf>,
}

/// One directory of the tree, with everything under it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TreeNode {
    pub path: Vec<u8>,
    /// What is shown: the path relative to the parent node (chains of directories
    /// with nothing of their own are merged: `usr/lib/gcc/x86_64-linux-gnu/12`).
    pub label: Vec<u8>,
    /// This directory's own entries.
    pub own: DirCounts,
    /// This directory and everything below it.
    pub total: DirCounts,
    /// Size of the distinct files used below it, as they are when the report is made.
    pub bytes: u64,
    pub children: Vec<TreeNode>,
    /// Subdirectories not shown (the tree is capped), counted in `total`.
    pub hidden: u64,
}

/// The changes to one path outside the build directory, for people: a compiler's
/// temporary file is one line (`created, written, deleted`), not three.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangeGroup {
    /// In the order they first happened.
    pub changes: Vec<super::event::Change>,
    pub path: Vec<u8>,
    /// A rename's or link's new name (those are never grouped).
    pub path2: Option<Vec<u8>>,
}

impl ChangeGroup {
    /// `created, written, deleted`.
    pub fn names(&self) -> String {
        let names: Vec<&str> = self.changes.iter().map(|c| c.name()).collect();
        names.join(", ")
    }
}

/// `changes` grouped by path, in the order each path first changed.
pub fn group_changes(changes: &[ChangeSeen]) -> Vec<ChangeGroup> {
    let mut groups: Vec<ChangeGroup> = Vec::new();
    let mut at: HashMap<&[u8], usize> = HashMap::new();
    for c in changes {
        if c.path2.is_none()
            && let Some(&i) = at.get(c.path.as_slice())
        {
            groups[i].changes.push(c.change);
            continue;
        }
        if c.path2.is_none() {
            at.insert(&c.path, groups.len());
        }
        groups.push(ChangeGroup {
            changes: vec![c.change],
            path: c.path.clone(),
            path2: c.path2.clone(),
        });
    }
    groups
}

/// The packages the build used but does not declare (Gentoo mode).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Undeclared {
    pub package: String,
    pub declared: Vec<String>,
    pub packages: Vec<PackageUse>,
}

/// Everything the report shows, in the order it shows it.
#[derive(Clone, Debug)]
pub struct Report {
    pub title: String,
    pub build_dir: Vec<u8>,
    pub exit_code: Option<i32>,
    pub events: u64,
    pub failed: u64,
    pub totals: Totals,
    pub refused: Vec<Refusal>,
    pub refused_total: u64,
    pub changes: Vec<ChangeSeen>,
    pub changes_total: u64,
    pub tree: TreeNode,
    pub programs: Vec<(Vec<u8>, Program)>,
    pub programs_total: u64,
    pub processes: Vec<Process>,
    pub processes_total: u64,
    pub owners: Owners,
    pub undeclared: Option<Undeclared>,
}

impl Report {
    pub fn assemble(fp: Footprint, ctx: Context) -> Report {
        let totals = fp.totals();
        let sizes = sizes(&fp, ctx.host_root.as_deref());
        let tree = tree(&fp, &sizes);
        let used: Vec<&[u8]> = fp
            .files
            .iter()
            .filter(|(path, used)| {
                (used.has(FileUse::READ) || used.has(FileUse::EXECUTED)) && !fp.in_build_dir(path)
            })
            .map(|(path, _)| &**path)
            // A symlink to a directory (`/lib`) is read to be followed: the files
            // under it are what was used, and every package lists the directory.
            .filter(|path| !host_path(ctx.host_root.as_deref(), path).is_dir())
            .collect();
        let owners = packages::owners(&used, &ctx.databases);
        let undeclared = ctx.declarations.as_ref().map(|d| Undeclared {
            package: d.package.clone(),
            declared: d.declared.iter().cloned().collect(),
            packages: portage::undeclared(&owners, d)
                .into_iter()
                .cloned()
                .collect(),
        });
        let mut programs: Vec<(Vec<u8>, Program)> = fp
            .programs
            .iter()
            .map(|(p, v)| (p.to_vec(), v.clone()))
            .collect();
        programs.sort_by(|a, b| b.1.runs.cmp(&a.1.runs).then_with(|| a.0.cmp(&b.0)));
        let programs_total = programs.len() as u64;
        programs.truncate(MAX_PROGRAMS_SHOWN);
        let mut processes: Vec<Process> = fp.processes.values().cloned().collect();
        processes.sort_by_key(|p| p.order);
        let processes_total = processes.len() as u64 + fp.processes_dropped;
        processes.truncate(MAX_PROCESSES_SHOWN);
        Report {
            title: ctx.title,
            exit_code: ctx.exit_code,
            events: fp.events,
            failed: fp.failed,
            totals,
            refused_total: fp.refused_total,
            changes_total: fp.changes_total,
            tree,
            programs,
            programs_total,
            processes,
            processes_total,
            owners,
            undeclared,
            build_dir: fp.build_dir,
            refused: fp.refused,
            changes: fp.changes,
        }
    }
}

/// The size of each distinct file, per directory.
fn sizes<'a>(fp: &'a Footprint, root: Option<&Path>) -> HashMap<&'a [u8], u64> {
    let mut by_dir: HashMap<&[u8], u64> = HashMap::new();
    for path in fp.files.keys() {
        let size = std::fs::metadata(host_path(root, path))
            .ok()
            .filter(|m| m.is_file())
            .map_or(0, |m| m.len());
        *by_dir.entry(parent(path)).or_default() += size;
    }
    by_dir
}

/// `path` as fusebox-run reaches it: under `root` (the host's `/`) when given.
fn host_path(root: Option<&Path>, path: &[u8]) -> std::path::PathBuf {
    let path = Path::new(OsStr::from_bytes(path));
    match root {
        Some(root) => root.join(path.strip_prefix("/").unwrap_or(path)),
        None => path.to_path_buf(),
    }
}

/// The directory tree of `fp`, rolled up, chains merged, capped at
/// [`MAX_TREE_NODES`].
fn tree(fp: &Footprint, sizes: &HashMap<&[u8], u64>) -> TreeNode {
    // Every directory and its ancestors, with their own figures.
    let mut own: BTreeMap<Vec<u8>, (DirCounts, u64)> = BTreeMap::new();
    own.insert(b"/".to_vec(), Default::default());
    for (dir, counts) in &fp.dirs {
        if !dir.starts_with(b"/") {
            continue;
        }
        let bytes = sizes.get(&**dir).copied().unwrap_or(0);
        own.insert(dir.to_vec(), (*counts, bytes));
    }
    let dirs: Vec<Vec<u8>> = own.keys().cloned().collect();
    for dir in dirs {
        let mut d: &[u8] = &dir;
        while d != b"/" {
            d = parent(d);
            own.entry(d.to_vec()).or_default();
        }
    }
    let mut children: HashMap<Vec<u8>, Vec<Vec<u8>>> = HashMap::new();
    for dir in own.keys().filter(|d| d.as_slice() != b"/") {
        children
            .entry(parent(dir).to_vec())
            .or_default()
            .push(dir.clone());
    }
    let mut budget = MAX_TREE_NODES;
    build_node(b"/", b"/", &own, &children, &mut budget)
}

fn build_node(
    path: &[u8],
    label: &[u8],
    own: &BTreeMap<Vec<u8>, (DirCounts, u64)>,
    children: &HashMap<Vec<u8>, Vec<Vec<u8>>>,
    budget: &mut usize,
) -> TreeNode {
    let (counts, bytes) = own.get(path).copied().unwrap_or_default();
    let mut node = TreeNode {
        path: path.to_vec(),
        label: label.to_vec(),
        own: counts,
        total: counts,
        bytes,
        ..TreeNode::default()
    };
    *budget = budget.saturating_sub(1);
    for child in children.get(path).into_iter().flatten() {
        // Merge a chain of directories that have nothing of their own.
        let mut shown = child.clone();
        while own
            .get(&shown)
            .is_some_and(|(c, _)| *c == DirCounts::default())
            && let Some([only]) = children.get(&shown).map(Vec::as_slice)
        {
            shown = only.clone();
        }
        let label = if path == b"/" {
            &shown[1..]
        } else {
            &shown[path.len() + 1..]
        };
        let built = *budget > 0;
        let sub = if built {
            build_node(&shown, label, own, children, budget)
        } else {
            summed(&shown, own, children)
        };
        add(&mut node.total, &sub.total);
        node.bytes += sub.bytes;
        if built {
            node.children.push(sub);
        } else {
            node.hidden += 1;
        }
    }
    node
}

/// The totals of `path`'s whole subtree, without building its nodes.
fn summed(
    path: &[u8],
    own: &BTreeMap<Vec<u8>, (DirCounts, u64)>,
    children: &HashMap<Vec<u8>, Vec<Vec<u8>>>,
) -> TreeNode {
    let (counts, bytes) = own.get(path).copied().unwrap_or_default();
    let mut node = TreeNode {
        path: path.to_vec(),
        total: counts,
        bytes,
        ..TreeNode::default()
    };
    for child in children.get(path).into_iter().flatten() {
        let sub = summed(child, own, children);
        add(&mut node.total, &sub.total);
        node.bytes += sub.bytes;
    }
    node
}

fn add(to: &mut DirCounts, from: &DirCounts) {
    to.read += from.read;
    to.written += from.written;
    to.executed += from.executed;
    to.ops += from.ops;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::Op;
    use crate::policy::Verdict;
    use crate::report::event::Event;

    fn add_op(fp: &mut Footprint, op: Op, path: &str) {
        fp.add(&Event {
            pid: 1,
            cmdline: "sh",
            op,
            path: path.as_bytes(),
            path2: None,
            verdict: Verdict::Allow,
            errno: 0,
        });
    }

    #[test]
    fn changes_are_grouped_by_path_but_renames_stand_alone() {
        use crate::report::event::Change;
        let c = |change, path: &str, path2: Option<&str>| ChangeSeen {
            change,
            path: path.into(),
            path2: path2.map(Into::into),
        };
        let groups = group_changes(&[
            c(Change::Created, "/tmp/cc1.s", None),
            c(Change::Created, "/tmp/out", None),
            c(Change::Written, "/tmp/cc1.s", None),
            c(Change::Renamed, "/tmp/out", Some("/tmp/final")),
            c(Change::Deleted, "/tmp/cc1.s", None),
        ]);
        let shown: Vec<_> = groups
            .iter()
            .map(|g| (g.names(), String::from_utf8_lossy(&g.path).into_owned()))
            .collect();
        assert_eq!(
            shown,
            [
                ("created, written, deleted".into(), "/tmp/cc1.s".into()),
                ("created".into(), "/tmp/out".into()),
                ("renamed".into(), "/tmp/out".into()),
            ]
        );
        assert_eq!(groups[2].path2.as_deref(), Some(&b"/tmp/final"[..]));
    }

    #[test]
    fn the_tree_rolls_up_and_merges_chains() {
        let mut fp = Footprint::new(b"/w");
        add_op(
            &mut fp,
            Op::OpenRd,
            "/usr/lib/gcc/x86_64/12/include/stddef.h",
        );
        add_op(&mut fp, Op::OpenRd, "/usr/include/stdio.h");
        add_op(&mut fp, Op::OpenWrCreat, "/w/a.o");
        let report = Report::assemble(fp, Context::default());
        let root = &report.tree;
        assert_eq!(root.total.read, 2);
        assert_eq!(root.total.written, 1);
        let labels: Vec<_> = root
            .children
            .iter()
            .map(|c| String::from_utf8_lossy(&c.label).into_owned())
            .collect();
        assert_eq!(labels, ["usr", "w"]);
        let usr = &root.children[0];
        let labels: Vec<_> = usr
            .children
            .iter()
            .map(|c| String::from_utf8_lossy(&c.label).into_owned())
            .collect();
        assert_eq!(labels, ["include", "lib/gcc/x86_64/12/include"]);
    }

    #[test]
    fn the_tree_is_capped_but_counts_everything() {
        let mut fp = Footprint::new(b"/w");
        for i in 0..(MAX_TREE_NODES + 500) {
            add_op(&mut fp, Op::OpenRd, &format!("/d/{i:05}/f"));
        }
        let report = Report::assemble(fp, Context::default());
        fn count(n: &TreeNode) -> usize {
            1 + n.children.iter().map(count).sum::<usize>()
        }
        assert!(count(&report.tree) <= MAX_TREE_NODES + 1);
        assert_eq!(report.tree.total.read, (MAX_TREE_NODES + 500) as u64);
        let d = &report.tree.children[0];
        assert!(d.hidden > 0);
        assert_eq!(
            d.children.len() as u64 + d.hidden,
            (MAX_TREE_NODES + 500) as u64
        );
    }
}
