//! The architecture's rules (docs/architecture.md), checked on the source itself:
//!
//! - no source file is over [`MAX_LINES`] lines;
//! - the mirror knows no front end: nothing under `src/mirror/` uses `src/gentoo/`;
//! - no import cycle between the files of `src/` (what a file uses: [`source`]).

mod source;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use source::{Crate, Dependencies, File};

/// More than this and a file holds more than one concern: split it.
const MAX_LINES: usize = 600;

/// The files that are code (fixtures are data).
const SOURCE_EXTENSIONS: [&str; 4] = ["rs", "sh", "bash", "py"];

#[test]
fn no_file_of_src_is_over_600_lines() {
    assert_short("src");
}

#[test]
fn no_file_of_tests_or_scripts_is_over_600_lines() {
    assert_short("tests");
    assert_short("scripts");
}

#[test]
fn the_mirror_uses_no_front_end() {
    let wrong: Vec<String> = Crate::read(&root().join("src"))
        .dependencies()
        .into_iter()
        .filter(|((from, to), _)| from.starts_with("mirror/") && to.starts_with("gentoo/"))
        .map(|((from, to), via)| format!("{from} → {to} ({via})"))
        .collect();
    assert!(
        wrong.is_empty(),
        "src/mirror/ uses src/gentoo/:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn no_import_cycle_between_files() {
    let dependencies = Crate::read(&root().join("src")).dependencies();
    let cycles: Vec<String> = find_cycles(&dependencies)
        .iter()
        .map(|cycle| {
            let mut line = cycle[0].clone();
            for pair in cycle.windows(2) {
                let via = &dependencies[&(pair[0].clone(), pair[1].clone())];
                line += &format!(" → {} ({via})", pair[1]);
            }
            line
        })
        .collect();
    assert!(
        cycles.is_empty(),
        "import cycles in src/:\n{}",
        cycles.join("\n")
    );
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Fails naming every source file under `dir` (from the crate's root) over the limit.
fn assert_short(dir: &str) {
    let mut long = Vec::new();
    let mut pending = vec![root().join(dir)];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let is_source = |e: &std::ffi::OsStr| SOURCE_EXTENSIONS.iter().any(|s| e == *s);
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(is_source) {
                let lines = std::fs::read_to_string(&path).unwrap().lines().count();
                if lines > MAX_LINES {
                    let name = path.strip_prefix(root()).unwrap_or(&path).display();
                    long.push(format!("{name} ({lines} lines)"));
                }
            }
        }
    }
    long.sort();
    assert!(
        long.is_empty(),
        "over {MAX_LINES} lines:\n{}",
        long.join("\n")
    );
}

/// The dependency cycles: one for each dependency that closes one in a depth-first
/// walk, so every knot of files shows at least one.
fn find_cycles(dependencies: &Dependencies) -> Vec<Vec<File>> {
    let mut graph: BTreeMap<&File, Vec<&File>> = BTreeMap::new();
    for (from, to) in dependencies.keys() {
        graph.entry(from).or_default().push(to);
    }
    let mut seen = BTreeSet::new();
    let mut cycles = Vec::new();
    for &start in graph.keys() {
        walk(start, &graph, &mut Vec::new(), &mut seen, &mut cycles);
    }
    cycles
}

/// Depth first from `node`, `stack` the way to it.
fn walk<'a>(
    node: &'a File,
    graph: &BTreeMap<&'a File, Vec<&'a File>>,
    stack: &mut Vec<&'a File>,
    seen: &mut BTreeSet<&'a File>,
    cycles: &mut Vec<Vec<File>>,
) {
    if let Some(at) = stack.iter().position(|&n| n == node) {
        cycles.push(
            stack[at..]
                .iter()
                .chain([&node])
                .map(|n| n.to_string())
                .collect(),
        );
        return;
    }
    if !seen.insert(node) {
        return;
    }
    stack.push(node);
    for &next in graph.get(node).into_iter().flatten() {
        walk(next, graph, stack, seen, cycles);
    }
    stack.pop();
}

#[test]
fn two_files_that_use_each_other_are_a_cycle() {
    let dependencies = [("a.rs", "b.rs"), ("b.rs", "a.rs")].map(edge).into();
    assert_eq!(find_cycles(&dependencies), [["a.rs", "b.rs", "a.rs"]]);
}

#[test]
fn a_longer_cycle_is_shown_whole() {
    let dependencies = [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")]
        .map(edge)
        .into();
    assert_eq!(find_cycles(&dependencies), [["a", "b", "c", "a"]]);
}

fn edge((from, to): (&str, &str)) -> ((File, File), String) {
    ((from.to_owned(), to.to_owned()), String::new())
}
