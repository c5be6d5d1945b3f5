//! What the files of `src/` use of each other, read by a small scanner (not the
//! compiler): every path a module names from `crate::`, `super::`, `self::`, a child
//! module or one of its imports, in a `use` or in code, followed down the module tree
//! and through imports to the file that defines the item.
//!
//! `mod` declarations make the tree and are no dependency, so a `#[cfg(test)] mod
//! tests;` file may `use super::*`; likewise a re-export (`pub use`) is a door, not a
//! dependency, unless the module's own code uses the name too. Comments and literals
//! are skipped.

use std::collections::{BTreeMap, BTreeSet};
use std::iter::Peekable;
use std::path::Path;

/// A file, named by its path under `src/`.
pub type File = String;

/// A module, named by its path from the crate root (`[]` is the root).
type ModPath = Vec<String>;

/// Which file uses which, each pair with the first path that says so.
pub type Dependencies = BTreeMap<(File, File), String>;

#[derive(Default)]
struct Module {
    file: File,
    children: BTreeSet<String>,
    /// What its `use`s bind: each name, and the path as written.
    imports: BTreeMap<String, Vec<String>>,
    /// The identifiers its code names (outside `use`): is a re-export used here too?
    names: BTreeSet<String>,
}

/// A path that a module names.
struct Reference {
    scope: ModPath,
    path: Vec<String>,
    kind: Kind,
}

enum Kind {
    /// In code: it may start with a name the module imported.
    Code,
    Import,
    /// A `pub use` binding this name.
    ReExport(String),
}

/// The crate as the scanner sees it.
#[derive(Default)]
pub struct Crate {
    modules: BTreeMap<ModPath, Module>,
    references: Vec<Reference>,
}

impl Crate {
    pub fn read(src: &Path) -> Crate {
        Crate::from_files(|file| std::fs::read_to_string(src.join(file)).ok())
    }

    /// The crate whose files (by path under `src/`) `read` gives, from `lib.rs`.
    fn from_files(read: impl Fn(&str) -> Option<String>) -> Crate {
        let mut crate_ = Crate::default();
        let mut pending = vec![(Vec::new(), "lib.rs".to_owned())];
        while let Some((module, file)) = pending.pop() {
            let text = read(&file).unwrap_or_else(|| panic!("no file {file}"));
            let dir = match file.strip_suffix("mod.rs") {
                _ if file == "lib.rs" => String::new(),
                Some(dir) => dir.to_owned(),
                None => format!("{}/", file.trim_end_matches(".rs")),
            };
            for child in crate_.scan(module, &file, &tokens(&text)) {
                let flat = format!("{dir}{}.rs", child.last().unwrap());
                let nested = format!("{dir}{}/mod.rs", child.last().unwrap());
                pending.push((child, if read(&flat).is_some() { flat } else { nested }));
            }
        }
        crate_
    }

    /// Records the modules and references of `file`, module `module`; returns the child
    /// modules that have files of their own.
    fn scan(&mut self, module: ModPath, file: &str, tokens: &[String]) -> Vec<ModPath> {
        let mut own_files = Vec::new();
        let new_module = || Module {
            file: file.to_owned(),
            ..Module::default()
        };
        self.modules.insert(module.clone(), new_module());
        // The modules open here: the file's, then inline ones with their brace depth.
        let mut scopes = vec![(module, 0)];
        let (mut depth, mut i) = (0, 0);
        while let Some(token) = tokens.get(i) {
            let at = |k: usize| tokens.get(k).map_or("", String::as_str);
            let scope = scopes.last().unwrap().0.clone();
            i += 1;
            match token.as_str() {
                "{" => depth += 1,
                "}" => {
                    if scopes.len() > 1 && scopes.last().unwrap().1 == depth {
                        scopes.pop();
                    }
                    depth -= 1;
                }
                "mod" if is_ident(at(i)) && matches!(at(i + 1), ";" | "{") => {
                    let child = [&scope[..], &tokens[i..=i]].concat();
                    self.module(&scope).children.insert(tokens[i].clone());
                    if at(i + 1) == ";" {
                        own_files.push(child);
                    } else {
                        depth += 1;
                        self.modules.insert(child.clone(), new_module());
                        scopes.push((child, depth));
                    }
                    i += 2;
                }
                "use" if at(i) != "<" => {
                    let end = i + tokens[i..].iter().position(|t| t == ";").unwrap();
                    let back = |k: usize| at(i.wrapping_sub(k));
                    let public = back(2) == "pub" || back(2) == ")" && back(5) == "pub";
                    for (path, name) in use_tree(&tokens[i..end]) {
                        if let Some(name) = &name {
                            let imports = &mut self.module(&scope).imports;
                            imports.entry(name.clone()).or_insert_with(|| path.clone());
                        }
                        let kind = match name {
                            Some(name) if public => Kind::ReExport(name),
                            _ => Kind::Import,
                        };
                        let scope = scope.clone();
                        self.references.push(Reference { scope, path, kind });
                    }
                    i = end + 1;
                }
                name if is_ident(name) => {
                    self.module(&scope).names.insert(name.to_owned());
                    // A path in code, from its start: `a::b::c`.
                    if at(i) == "::" && at(i.wrapping_sub(2)) != "::" {
                        let mut path = vec![name.to_owned()];
                        while at(i) == "::" && is_ident(at(i + 1)) {
                            path.push(tokens[i + 1].clone());
                            i += 2;
                        }
                        let kind = Kind::Code;
                        self.references.push(Reference { scope, path, kind });
                    }
                }
                _ => {}
            }
        }
        own_files
    }

    fn module(&mut self, scope: &ModPath) -> &mut Module {
        self.modules.get_mut(scope).unwrap()
    }

    /// Every file → file dependency.
    pub fn dependencies(&self) -> Dependencies {
        let mut found = Dependencies::new();
        for r in &self.references {
            let module = &self.modules[&r.scope];
            let path = match &r.kind {
                Kind::ReExport(name) if !module.names.contains(name) => continue,
                Kind::Code => self.absolute(&r.scope, &r.path),
                Kind::Import | Kind::ReExport(_) => self.absolute_import(&r.scope, &r.path),
            };
            if let Some(target) = path.and_then(|path| self.file_of(&path, 0))
                && target != module.file
            {
                let via = || r.path.join("::");
                found
                    .entry((module.file.clone(), target))
                    .or_insert_with(via);
            }
        }
        found
    }

    /// `path` as named in the code of `scope`, from the crate root; `None` when it
    /// leads out of the crate (another crate, a local name).
    fn absolute(&self, scope: &ModPath, path: &[String]) -> Option<Vec<String>> {
        let (first, rest) = path.split_first()?;
        match self.modules[scope].imports.get(first) {
            Some(import) => self.absolute_import(scope, &[import, rest].concat()),
            None => self.absolute_import(scope, path),
        }
    }

    /// `path` as written in a `use` of `scope`, from the crate root.
    fn absolute_import(&self, scope: &ModPath, path: &[String]) -> Option<Vec<String>> {
        let (first, mut rest) = path.split_first()?;
        let mut base = match first.as_str() {
            "crate" => Vec::new(),
            "self" => scope.clone(),
            "super" => scope[..scope.len().checked_sub(1)?].to_vec(),
            child if self.modules[scope].children.contains(child) => [scope, &path[..1]].concat(),
            _ => return None,
        };
        while rest.first().is_some_and(|s| s == "super") {
            base.pop()?;
            rest = &rest[1..];
        }
        Some([&base, rest].concat())
    }

    /// The file that defines the item at `path` (from the crate root): down the module
    /// tree, through imports, to the module that holds it; `None` out of the crate.
    fn file_of(&self, path: &[String], hops: usize) -> Option<File> {
        let mut at: ModPath = Vec::new();
        for (i, segment) in path.iter().enumerate() {
            let module = &self.modules[&at];
            if module.children.contains(segment) {
                at.push(segment.clone());
            } else if let Some(import) = module.imports.get(segment).filter(|_| hops < 16) {
                let import = self.absolute_import(&at, import)?;
                return self.file_of(&[&import, &path[i + 1..]].concat(), hops + 1);
            } else {
                break;
            }
        }
        Some(self.modules[&at].file.clone())
    }
}

/// The leaves of a `use` tree (its tokens, between `use` and `;`): each full path, and
/// the name it binds (none for `*` and `_`).
fn use_tree(tokens: &[String]) -> Vec<(Vec<String>, Option<String>)> {
    let mut leaves = Vec::new();
    let mut tokens = tokens.iter().map(String::as_str).peekable();
    read_tree(&mut tokens, &[], &mut leaves);
    leaves
}

/// Reads one tree below `prefix`: a path, then `{…}`, `as NAME` or nothing.
fn read_tree<'a>(
    tokens: &mut Peekable<impl Iterator<Item = &'a str>>,
    prefix: &[String],
    leaves: &mut Vec<(Vec<String>, Option<String>)>,
) {
    let mut path = prefix.to_vec();
    let mut alias = None;
    while let Some(token) = tokens.next_if(|&t| t != "," && t != "}") {
        match token {
            "::" => {}
            "{" => {
                while tokens.peek().is_some_and(|&t| t != "}") {
                    read_tree(tokens, &path, leaves);
                    tokens.next_if_eq(&",");
                }
                tokens.next();
                return;
            }
            "as" => alias = tokens.next(),
            // `a::{self}` is `a`.
            "self" if !path.is_empty() => {}
            segment => path.push(segment.to_owned()),
        }
    }
    let name = match alias.or(path.last().map(String::as_str)) {
        None | Some("*" | "_") => None,
        Some(name) => Some(name.to_owned()),
    };
    if !path.is_empty() {
        leaves.push((path, name));
    }
}

fn is_ident(token: &str) -> bool {
    token.starts_with(|c: char| c.is_alphabetic() || c == '_')
}

/// The tokens of Rust source: identifiers, `::`, and other punctuation one character
/// each; comments, literals and lifetimes left out.
fn tokens(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let at = |k: usize| chars.get(k).copied().unwrap_or('\0');
    let after = |from: usize, end: &dyn Fn(usize) -> bool| {
        (from..chars.len())
            .find(|&k| end(k))
            .map_or(chars.len(), |k| k + 1)
    };
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let start = i;
        i += 1;
        match chars[start] {
            '/' if at(i) == '/' => i = after(i, &|k| chars[k] == '\n'),
            '/' if at(i) == '*' => i = after(i + 2, &|k| chars[k - 1] == '*' && chars[k] == '/'),
            '"' => i = string_end(&chars, i, None),
            'r' | 'b' if raw_string(&chars, start).is_some() => {
                let (quote, hashes) = raw_string(&chars, start).unwrap();
                i = string_end(&chars, quote + 1, Some(hashes));
            }
            // A character ('x', '\n', '\''), else a lifetime's quote.
            '\'' if at(i) == '\\' => i = after(i + 2, &|k| chars[k] == '\''),
            '\'' if at(i + 1) == '\'' => i += 2,
            ':' if at(i) == ':' => {
                out.push("::".to_owned());
                i += 1;
            }
            c if c.is_alphanumeric() || c == '_' => {
                while at(i).is_alphanumeric() || at(i) == '_' {
                    i += 1;
                }
                if !c.is_ascii_digit() {
                    out.push(chars[start..i].iter().collect());
                }
            }
            c if c.is_whitespace() => {}
            c => out.push(c.to_string()),
        }
    }
    out
}

/// The raw string starting at `start` (`r"`, `r#"`, `br"`…): its quote and its `#`s.
fn raw_string(chars: &[char], start: usize) -> Option<(usize, usize)> {
    let before = start.checked_sub(1).map(|k| chars[k]);
    if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
        return None;
    }
    let r = start + usize::from(chars[start] == 'b');
    let hashes = chars
        .get(r + 1..)?
        .iter()
        .take_while(|&&c| c == '#')
        .count();
    let quote = r + 1 + hashes;
    (chars.get(r) == Some(&'r') && chars.get(quote) == Some(&'"')).then_some((quote, hashes))
}

/// Where the string whose body starts at `i` ends: at `"` (and `hashes` `#`s for a raw
/// string, which has no escapes).
fn string_end(chars: &[char], mut i: usize, hashes: Option<usize>) -> usize {
    let closing = hashes.unwrap_or(0);
    while i < chars.len() {
        match chars[i] {
            '\\' if hashes.is_none() => i += 2,
            '"' if chars
                .get(i + 1..i + 1 + closing)
                .is_some_and(|h| h.iter().all(|&c| c == '#')) =>
            {
                return i + 1 + closing;
            }
            _ => i += 1,
        }
    }
    i
}

/// The dependencies of a crate made of `files`: (path under `src/`, text).
fn dependencies_of(files: &[(&str, &str)]) -> Vec<(File, File)> {
    let files: BTreeMap<&str, &str> = files.iter().copied().collect();
    let crate_ = Crate::from_files(|file| files.get(file).map(|text| text.to_string()));
    crate_.dependencies().into_keys().collect()
}

fn pair(from: &str, to: &str) -> (File, File) {
    (from.to_owned(), to.to_owned())
}

#[test]
fn files_that_use_each_other() {
    let found = dependencies_of(&[
        ("lib.rs", "mod a;\npub mod b;"),
        ("a.rs", "use crate::b::{self, B};\npub struct A;"),
        (
            "b.rs",
            "pub struct B(super::a::A);\n#[cfg(test)]\nmod tests { use super::*; }",
        ),
    ]);
    assert_eq!(found, [pair("a.rs", "b.rs"), pair("b.rs", "a.rs")]);
}

#[test]
fn paths_lead_through_imports_to_the_file_that_defines_the_item() {
    let found = dependencies_of(&[
        ("lib.rs", "pub mod p;\nmod q;"),
        (
            "p/mod.rs",
            "mod list;\nmod user;\npub use list::{List as L};\npub use user::f;\n\
             pub const FIRST: L = L::Read;",
        ),
        (
            "p/list.rs",
            "pub enum List { Read }\nfn g() -> char { '{' }",
        ),
        // Through the re-export: p/mod.rs, whose own code uses `L` but not `f`, is no
        // cycle.
        (
            "p/user.rs",
            "use super::L;\npub fn f() -> L { L::Read }\n#[cfg(test)]\nmod tests;",
        ),
        (
            "p/user/tests.rs",
            "use super::*;\n// crate::q::gone, \"crate::q::gone\"\n",
        ),
        (
            "q.rs",
            "fn f() { let _ = r#\"crate::q\"#; self::super::p::f(); }",
        ),
    ]);
    let want = [
        pair("p/mod.rs", "p/list.rs"),
        pair("p/user.rs", "p/list.rs"),
        pair("p/user/tests.rs", "p/user.rs"),
        pair("q.rs", "p/user.rs"),
    ];
    assert_eq!(found, want);
}
