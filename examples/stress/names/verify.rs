//! The check of the tree after the workers: a walk that stats every entry, reads every
//! file, and matches link counts with the names found. It ends with a digest of what it
//! saw (names, ids, sizes, link counts — not inode numbers, which the mirror renumbers),
//! so that the same walk natively on the host can be compared with the one inside.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use anyhow::{Context, Result, bail};

use crate::content::{FileId, Reading, check_stream, fnv64};

/// A regular file (one inode), with every name it was found under.
struct FileSeen {
    names: Vec<String>,
    nlink: u64,
    len: u64,
    id: Option<FileId>,
}

struct DirSeen {
    path: String,
    nlink: u64,
    subdirs: u64,
}

#[derive(Default)]
struct Walk {
    files: BTreeMap<(u64, u64), FileSeen>,
    dirs: Vec<DirSeen>,
    problems: Vec<String>,
}

/// How many problems are printed (all are counted).
const SHOWN_PROBLEMS: usize = 30;

/// Walks and checks the tree at `root`; prints what it found and the digest.
pub fn check(root: &Path) -> Result<()> {
    let mut walk = Walk::default();
    let meta = std::fs::symlink_metadata(root)
        .with_context(|| format!("cannot stat the tree {}", root.display()))?;
    walk.dir(root, ".", meta.nlink());
    walk.check_links();
    walk.check_unique_ids();
    let names: usize = walk.files.values().map(|f| f.names.len()).sum();
    println!(
        "stress names: tree: {} files under {names} names, {} directories, digest={:016x}",
        walk.files.len(),
        walk.dirs.len(),
        fnv64(walk.digest_text().as_bytes())
    );
    if walk.problems.is_empty() {
        println!("stress names: ok: the tree is consistent");
        return Ok(());
    }
    for p in walk.problems.iter().take(SHOWN_PROBLEMS) {
        println!("stress names: FAIL: {p}");
    }
    bail!(
        "names: the tree has {} problems (first {} shown)",
        walk.problems.len(),
        walk.problems.len().min(SHOWN_PROBLEMS)
    )
}

impl Walk {
    /// Walks directory `dir` (`rel` below the root; its own link count `nlink`).
    fn dir(&mut self, dir: &Path, rel: &str, nlink: u64) {
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) => return self.problem(format!("{rel}: cannot list: {e}")),
        };
        let mut subdirs = 0;
        for entry in entries {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => return self.problem(format!("{rel}: listing failed: {e}")),
            };
            let name = entry.file_name().to_string_lossy().into_owned();
            let child = match rel {
                "." => name,
                _ => format!("{rel}/{name}"),
            };
            let meta = match std::fs::symlink_metadata(entry.path()) {
                Ok(m) => m,
                Err(e) => {
                    self.problem(format!("{child}: listed but cannot be stat'ed: {e}"));
                    continue;
                }
            };
            if meta.is_dir() {
                subdirs += 1;
                self.dir(&entry.path(), &child, meta.nlink());
            } else if meta.is_file() {
                self.file(&entry.path(), child, &meta);
            } else {
                self.problem(format!("{child}: neither a file nor a directory: {meta:?}"));
            }
        }
        self.dirs.push(DirSeen {
            path: rel.to_string(),
            nlink,
            subdirs,
        });
    }

    /// A file name: the first name of an inode reads and checks its contents.
    fn file(&mut self, path: &Path, rel: String, meta: &std::fs::Metadata) {
        let key = (meta.dev(), meta.ino());
        if let Some(seen) = self.files.get_mut(&key) {
            seen.names.push(rel);
            return;
        }
        let id = match std::fs::read(path) {
            Err(e) => {
                self.problem(format!("{rel}: cannot read: {e}"));
                None
            }
            Ok(data) if data.len() as u64 != meta.len() => {
                self.problem(format!(
                    "{rel}: read {} bytes, stat says {}",
                    data.len(),
                    meta.len()
                ));
                None
            }
            Ok(data) => match check_stream(&data, Reading::Settled) {
                Ok(Some(id)) => Some(id),
                Ok(None) => {
                    self.problem(format!(
                        "{rel}: {} bytes, too short for a header",
                        data.len()
                    ));
                    None
                }
                Err(bad) => {
                    self.problem(format!("{rel}: {bad}"));
                    None
                }
            },
        };
        self.files.insert(
            key,
            FileSeen {
                names: vec![rel],
                nlink: meta.nlink(),
                len: meta.len(),
                id,
            },
        );
    }

    /// Every file's link count is the number of names it was found under (the workers
    /// link only within the tree), and every directory's is 2 plus its subdirectories.
    fn check_links(&mut self) {
        let mut problems = Vec::new();
        for f in self.files.values() {
            if f.nlink != f.names.len() as u64 {
                problems.push(format!(
                    "a file has link count {} but {} names: {:?}",
                    f.nlink,
                    f.names.len(),
                    f.names
                ));
            }
        }
        for d in &self.dirs {
            if d.nlink != 2 + d.subdirs {
                problems.push(format!(
                    "directory {} has link count {} but {} subdirectories",
                    d.path, d.nlink, d.subdirs
                ));
            }
        }
        self.problems.extend(problems);
    }

    /// Each id was written into one new inode: two inodes with one id mean a file was
    /// duplicated, or one inode shown under two identities.
    fn check_unique_ids(&mut self) {
        let mut by_id: BTreeMap<FileId, Vec<&str>> = BTreeMap::new();
        for f in self.files.values() {
            if let Some(id) = f.id {
                by_id.entry(id).or_default().push(&f.names[0]);
            }
        }
        let dups: Vec<String> = by_id
            .iter()
            .filter(|(_, names)| names.len() > 1)
            .map(|(id, names)| {
                format!(
                    "file id {id} found as {} different inodes: {names:?}",
                    names.len()
                )
            })
            .collect();
        self.problems.extend(dups);
    }

    /// One line per inode and directory, sorted: what the digest is taken of.
    fn digest_text(&self) -> String {
        let mut lines: Vec<String> = self
            .files
            .values()
            .map(|f| {
                let mut names = f.names.clone();
                names.sort();
                let id = f.id.map_or("?".to_string(), |id| id.to_string());
                format!(
                    "f {} id={id} len={} nlink={}",
                    names.join(","),
                    f.len,
                    f.nlink
                )
            })
            .chain(
                self.dirs
                    .iter()
                    .map(|d| format!("d {} nlink={}", d.path, d.nlink)),
            )
            .collect();
        lines.sort();
        lines.join("\n")
    }

    fn problem(&mut self, p: String) {
        self.problems.push(p);
    }
}
