//! Which installed package owns each file a build used: dpkg's database
//! (`/var/lib/dpkg/info/*.list`, Debian and Ubuntu) and Portage's
//! (`${EPREFIX}/var/db/pkg/CAT/PF/CONTENTS`, Gentoo and Gentoo Prefix).
//!
//! The databases are read once per report, streaming, and only the files the build
//! used are kept: a lookup table of the used paths is built first, and every line of
//! every list is checked against it. Package lists name files by the path they were
//! installed under, which on a merged-/usr system is often not the one the kernel
//! resolves (`/lib/x86_64-linux-gnu/libc.so.6` is opened as `/usr/lib/…`): a listed
//! file whose *name* was used but whose path was not is tried again with its
//! directory's symlinks resolved (once per directory).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use super::model::parent;

/// Files kept one by one per package (all are counted).
pub const FILES_PER_PACKAGE: usize = 50;
/// Unowned files kept one by one.
pub const MAX_UNOWNED: usize = 500;

/// Where the package databases are.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Databases {
    /// dpkg's `info` directories (`/var/lib/dpkg/info`).
    pub dpkg: Vec<PathBuf>,
    /// Portage's installed-package databases (`${EPREFIX}/var/db/pkg`).
    pub portage: Vec<PathBuf>,
}

impl Databases {
    /// The host's: dpkg's and Portage's under `/` and under each of `eprefixes`, those
    /// that exist.
    pub fn find(eprefixes: &[PathBuf]) -> Databases {
        Self::find_under(None, eprefixes)
    }

    /// [`Databases::find`], reached through `root` (a path to the host's `/`, such
    /// as `/proc/self/fd/N`) when given.
    pub fn find_under(root: Option<&Path>, eprefixes: &[PathBuf]) -> Databases {
        let host = |path: &Path| match root {
            Some(root) => root.join(path.strip_prefix("/").unwrap_or(path)),
            None => path.to_path_buf(),
        };
        let dpkg = host(Path::new("/var/lib/dpkg/info"));
        let mut portage: Vec<PathBuf> = vec![host(Path::new("/var/db/pkg"))];
        for prefix in eprefixes {
            let db = host(&prefix.join("var/db/pkg"));
            if !portage.contains(&db) {
                portage.push(db);
            }
        }
        Databases {
            dpkg: vec![dpkg].into_iter().filter(|d| d.is_dir()).collect(),
            portage: portage.into_iter().filter(|d| d.is_dir()).collect(),
        }
    }
}

/// Which database a package comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Db {
    Dpkg,
    Portage,
}

impl Db {
    pub fn name(self) -> &'static str {
        match self {
            Db::Dpkg => "dpkg",
            Db::Portage => "portage",
        }
    }
}

/// One package the build used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PackageUse {
    pub db: Db,
    /// `libc6-dev` (dpkg, architecture dropped) or `sys-libs/glibc-2.39-r6` (Portage).
    pub name: String,
    /// The first [`FILES_PER_PACKAGE`] files used, sorted.
    pub files: Vec<Vec<u8>>,
    pub file_count: u64,
}

/// The owners of the used files.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Owners {
    /// By database, then name.
    pub packages: Vec<PackageUse>,
    /// Files no package owns (first [`MAX_UNOWNED`], sorted).
    pub unowned: Vec<Vec<u8>>,
    pub unowned_count: u64,
    /// Package lists read.
    pub lists_read: u64,
}

/// The owners of `used` (absolute paths) according to `dbs`.
pub fn owners(used: &[&[u8]], dbs: &Databases) -> Owners {
    let mut finder = Finder::new(used);
    for dir in &dbs.dpkg {
        for list in entries(dir).filter(|p| p.extension().is_some_and(|e| e == "list")) {
            let Some(stem) = list.file_stem().and_then(|s| s.to_str()) else {
                continue;
            };
            let name = stem.split(':').next().unwrap_or(stem).to_owned();
            finder.read_list(&list, (Db::Dpkg, name), dpkg_line);
        }
    }
    for db in &dbs.portage {
        for category in entries(db) {
            for package in entries(&category) {
                let (Some(cat), Some(pf)) = (
                    category.file_name().and_then(|s| s.to_str()),
                    package.file_name().and_then(|s| s.to_str()),
                ) else {
                    continue;
                };
                let contents = package.join("CONTENTS");
                finder.read_list(
                    &contents,
                    (Db::Portage, format!("{cat}/{pf}")),
                    contents_line,
                );
            }
        }
    }
    finder.finish()
}

/// The entries of `dir`, sorted (so the first owner found is the same every run).
fn entries(dir: &Path) -> impl Iterator<Item = PathBuf> {
    let mut all: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    all.sort();
    all.into_iter()
}

/// A line of a dpkg `.list`: the path itself.
fn dpkg_line(line: &[u8]) -> Option<&[u8]> {
    line.starts_with(b"/").then_some(line)
}

/// A line of Portage's CONTENTS: `obj PATH MD5 MTIME`, `sym PATH -> TARGET MTIME`,
/// `dir PATH`, `dev PATH`, `fif PATH`. Paths may hold spaces, so the fixed fields
/// are taken from the right.
fn contents_line(line: &[u8]) -> Option<&[u8]> {
    let (kind, rest) = (line.get(..4)?, line.get(4..)?);
    match kind {
        b"obj " => {
            let mut fields = rest.rsplitn(3, |&b| b == b' ');
            let (_mtime, _md5) = (fields.next()?, fields.next()?);
            fields.next()
        }
        b"sym " => {
            let arrow = rest.windows(4).position(|w| w == b" -> ")?;
            Some(&rest[..arrow])
        }
        b"dir " | b"dev " | b"fif " => Some(rest),
        _ => None,
    }
}

struct Finder<'a> {
    /// Each used path → the index of its owner in `names`.
    used: HashMap<&'a [u8], Option<usize>>,
    /// The names (last components) of the used paths.
    used_names: HashSet<&'a [u8]>,
    /// Directories as listed → as resolved (None: unchanged or unresolvable).
    resolved: HashMap<Vec<u8>, Option<Vec<u8>>>,
    names: Vec<(Db, String)>,
    lists_read: u64,
}

impl<'a> Finder<'a> {
    fn new(used: &[&'a [u8]]) -> Self {
        Finder {
            used: used.iter().map(|p| (*p, None)).collect(),
            used_names: used.iter().map(|p| name_of(p)).collect(),
            resolved: HashMap::new(),
            names: Vec::new(),
            lists_read: 0,
        }
    }

    fn read_list(
        &mut self,
        list: &Path,
        package: (Db, String),
        line_path: fn(&[u8]) -> Option<&[u8]>,
    ) {
        let Ok(file) = std::fs::File::open(list) else {
            return;
        };
        self.lists_read += 1;
        let index = self.names.len();
        self.names.push(package);
        let mut reader = BufReader::with_capacity(1 << 16, file);
        let mut line = Vec::new();
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            if line.last() == Some(&b'\n') {
                line.pop();
            }
            if let Some(path) = line_path(&line) {
                self.claim(path, index);
            }
        }
    }

    /// Records package `index` as the owner of `path` (as listed, or resolved) if the
    /// build used it and no earlier package claimed it.
    fn claim(&mut self, path: &[u8], index: usize) {
        if let Some(owner) = self.used.get_mut(path) {
            owner.get_or_insert(index);
            return;
        }
        if !self.used_names.contains(name_of(path)) {
            return;
        }
        let dir = parent(path);
        let resolved = self
            .resolved
            .entry(dir.to_vec())
            .or_insert_with(|| resolve_dir(dir));
        if let Some(real_dir) = resolved {
            let mut real = real_dir.clone();
            if real != b"/" {
                real.push(b'/');
            }
            real.extend_from_slice(name_of(path));
            if let Some(owner) = self.used.get_mut(real.as_slice()) {
                owner.get_or_insert(index);
            }
        }
    }

    fn finish(self) -> Owners {
        let mut by_package: BTreeMap<(Db, &str), Vec<&[u8]>> = BTreeMap::new();
        let mut unowned: Vec<&[u8]> = Vec::new();
        for (path, owner) in &self.used {
            match owner {
                Some(i) => {
                    let (db, name) = &self.names[*i];
                    by_package
                        .entry((*db, name.as_str()))
                        .or_default()
                        .push(path);
                }
                None => unowned.push(path),
            }
        }
        unowned.sort_unstable();
        let packages = by_package
            .into_iter()
            .map(|((db, name), mut files)| {
                files.sort_unstable();
                PackageUse {
                    db,
                    name: name.to_owned(),
                    file_count: files.len() as u64,
                    files: files
                        .iter()
                        .take(FILES_PER_PACKAGE)
                        .map(|f| f.to_vec())
                        .collect(),
                }
            })
            .collect();
        Owners {
            packages,
            unowned_count: unowned.len() as u64,
            unowned: unowned
                .iter()
                .take(MAX_UNOWNED)
                .map(|f| f.to_vec())
                .collect(),
            lists_read: self.lists_read,
        }
    }
}

fn name_of(path: &[u8]) -> &[u8] {
    match path.iter().rposition(|&b| b == b'/') {
        Some(i) => &path[i + 1..],
        None => path,
    }
}

/// `dir` with its symlinks resolved, when that changes it.
fn resolve_dir(dir: &[u8]) -> Option<Vec<u8>> {
    let real = std::fs::canonicalize(Path::new(std::ffi::OsStr::from_bytes(dir))).ok()?;
    let real = real.into_os_string().into_vec();
    (real != dir).then_some(real)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contents_lines() {
        assert_eq!(
            contents_line(b"obj /usr/include/a b.h 0123abcd 1700000000"),
            Some(&b"/usr/include/a b.h"[..])
        );
        assert_eq!(
            contents_line(b"sym /usr/lib/libz.so -> libz.so.1 1700000000"),
            Some(&b"/usr/lib/libz.so"[..])
        );
        assert_eq!(
            contents_line(b"dir /usr/include"),
            Some(&b"/usr/include"[..])
        );
        assert_eq!(contents_line(b"obj /x"), None);
        assert_eq!(contents_line(b"bogus"), None);
        assert_eq!(dpkg_line(b"/."), Some(&b"/."[..]));
        assert_eq!(dpkg_line(b"junk"), None);
    }

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn owners_from_both_databases_through_symlinked_directories() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path();
        let real = root.join("usr/lib");
        std::fs::create_dir_all(&real).unwrap();
        std::os::unix::fs::symlink("usr/lib", root.join("lib")).unwrap();
        let r = root.to_str().unwrap();
        let dpkg = root.join("dpkg/info");
        write(
            &dpkg.join("libc6:amd64.list"),
            &format!("/.\n{r}/lib\n{r}/lib/libc.so.6\n"),
        );
        write(&dpkg.join("zlib1g-dev.list"), "/usr/include/zlib.h\n");
        write(&dpkg.join("notes.md5sums"), "/usr/include/other.h\n");
        let vdb = root.join("prefix/var/db/pkg");
        write(
            &vdb.join("dev-libs/fakelib-1/CONTENTS"),
            "dir /p/usr/include\nobj /p/usr/include/fake lib.h d41d8cd98f00b204e9800998ecf8427e 1700000000\n",
        );
        let libc = format!("{r}/usr/lib/libc.so.6");
        let used: Vec<&[u8]> = vec![
            libc.as_bytes(),
            b"/usr/include/zlib.h",
            b"/p/usr/include/fake lib.h",
            b"/usr/include/other.h",
        ];
        let o = owners(
            &used,
            &Databases {
                dpkg: vec![dpkg],
                portage: vec![vdb],
            },
        );
        let names: Vec<_> = o
            .packages
            .iter()
            .map(|p| (p.db, p.name.as_str(), p.file_count))
            .collect();
        assert_eq!(
            names,
            [
                (Db::Dpkg, "libc6", 1),
                (Db::Dpkg, "zlib1g-dev", 1),
                (Db::Portage, "dev-libs/fakelib-1", 1)
            ]
        );
        assert_eq!(o.packages[0].files, [libc.as_bytes().to_vec()]);
        assert_eq!(o.unowned, [b"/usr/include/other.h".to_vec()]);
        assert_eq!(o.lists_read, 3);
    }
}
