//! Gentoo mode's "undeclared dependencies": the installed Portage packages a build
//! used that its ebuild does not declare.
//!
//! Where the declarations are: Portage saves the ebuild's shell environment in
//! `${T}/environment` after `setup`, before the first sandboxed phase, with
//! `declare DEPEND="…"`, `BDEPEND`, `RDEPEND`, `IDEPEND` and `PDEPEND` as the ebuild
//! and its eclasses set them (checked with Portage 3.0.83; `build-info/` only gets
//! them after `src_install`). The sandbox's environment names the package
//! (`CATEGORY`, `PF`) and `T`. The profile's `@system` set (`*cat/pkg` lines of its
//! `packages` files) is implicitly available and is not reported.

use std::collections::BTreeSet;
use std::path::Path;

use super::packages::{Db, Owners, PackageUse};

/// The dependency variables of an ebuild, all of which count as declared.
pub const DEPEND_VARS: [&str; 5] = ["BDEPEND", "DEPEND", "RDEPEND", "IDEPEND", "PDEPEND"];

/// The `cat/pn` names the dependency variables in a saved bash environment declare.
pub fn declared_in_environment(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for var in DEPEND_VARS {
        if let Some(value) = declared_value(text, var) {
            names.extend(atom_names(&value));
        }
    }
    names
}

/// The value of `declare [-flags] NAME="…"` in `text` (bash's `declare -p` output),
/// with bash's double-quote escapes undone.
fn declared_value(text: &str, name: &str) -> Option<String> {
    for (at, _) in text.match_indices("declare ") {
        if at > 0 && !text[..at].ends_with('\n') {
            continue;
        }
        let mut rest = &text[at + "declare ".len()..];
        while let Some(after_flags) = rest.strip_prefix('-') {
            rest = after_flags.split_once(' ')?.1;
        }
        let Some(quoted) = rest.strip_prefix(name).and_then(|r| r.strip_prefix("=\"")) else {
            continue;
        };
        let mut value = String::new();
        let mut chars = quoted.chars();
        while let Some(c) = chars.next() {
            match c {
                '"' => return Some(value),
                '\\' => match chars.next() {
                    Some(e @ ('"' | '\\' | '$' | '`')) => value.push(e),
                    Some('\n') => {}
                    Some(other) => {
                        value.push('\\');
                        value.push(other);
                    }
                    None => return None,
                },
                c => value.push(c),
            }
        }
        return None;
    }
    None
}

/// The `cat/pn` of each atom in a dependency string: `|| ( … )` groups and `use? ( … )`
/// conditionals are flattened (any alternative counts as declared), blockers skipped,
/// operators, versions, slots and USE dependencies stripped.
pub fn atom_names(depend: &str) -> impl Iterator<Item = String> + '_ {
    depend.split_whitespace().filter_map(|token| {
        if matches!(token, "||" | "(" | ")") || token.ends_with('?') || token.starts_with('!') {
            return None;
        }
        let versioned = token.starts_with(['<', '>', '=', '~']);
        let bare = token.trim_start_matches(['<', '>', '=', '~']);
        let bare = bare.split(['[', ':']).next().unwrap_or(bare);
        let bare = bare.trim_end_matches('*');
        let name = if versioned { package_name(bare) } else { bare };
        name.contains('/').then(|| name.to_owned())
    })
}

/// `cat/pn` of `cat/pf` (`dev-libs/foo-bar-1.2.3_p1-r2` → `dev-libs/foo-bar`): the
/// version starts at the first `-` followed by a valid version.
pub fn package_name(cpv: &str) -> &str {
    for (at, _) in cpv.match_indices('-') {
        if is_version(&cpv[at + 1..]) {
            return &cpv[..at];
        }
    }
    cpv
}

/// PMS 3.2: `1.2.3[a-z]{_suffix[N]}[-rN]`.
fn is_version(v: &str) -> bool {
    let (v, revision) = match v.rsplit_once("-r") {
        Some((v, r)) if !r.is_empty() && r.bytes().all(|b| b.is_ascii_digit()) => (v, Some(r)),
        _ => (v, None),
    };
    let _ = revision;
    let mut parts = v.split('_');
    let numbers = parts.next().unwrap_or("");
    let numbers = numbers
        .strip_suffix(|c: char| c.is_ascii_lowercase())
        .unwrap_or(numbers);
    let numeric = !numbers.is_empty()
        && numbers
            .split('.')
            .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    numeric
        && parts.all(|suffix| {
            let word = suffix.trim_end_matches(|c: char| c.is_ascii_digit());
            matches!(word, "alpha" | "beta" | "pre" | "rc" | "p")
        })
}

/// The profile's `@system` packages (`cat/pn`): `*` lines of the `packages` files of
/// `profile` and its parents (a missing profile gives none).
pub fn system_set(profile: &Path) -> BTreeSet<String> {
    let mut set = BTreeSet::new();
    let mut seen = BTreeSet::new();
    collect_system(profile, &mut set, &mut seen, 0);
    set
}

fn collect_system(
    profile: &Path,
    set: &mut BTreeSet<String>,
    seen: &mut BTreeSet<std::path::PathBuf>,
    depth: u32,
) {
    let Ok(real) = std::fs::canonicalize(profile) else {
        return;
    };
    if depth > 32 || !seen.insert(real.clone()) {
        return;
    }
    if let Ok(parents) = std::fs::read_to_string(real.join("parent")) {
        for line in parents
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            collect_system(&real.join(line), set, seen, depth + 1);
        }
    }
    if let Ok(packages) = std::fs::read_to_string(real.join("packages")) {
        for line in packages.lines().map(str::trim) {
            if let Some(atom) = line.strip_prefix('*') {
                set.extend(atom_names(atom));
            } else if let Some(atom) = line.strip_prefix("-*") {
                for name in atom_names(atom) {
                    set.remove(&name);
                }
            }
        }
    }
}

/// The package being built and what it declares.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Declarations {
    /// `cat/pf`.
    pub package: String,
    /// `cat/pn` of every atom in its dependency variables.
    pub declared: BTreeSet<String>,
    /// `cat/pn` of the profile's system set.
    pub system: BTreeSet<String>,
}

/// The Portage packages of `owners` that are neither declared, in the system set,
/// nor the package itself.
pub fn undeclared<'a>(owners: &'a Owners, d: &Declarations) -> Vec<&'a PackageUse> {
    let own = package_name(&d.package);
    owners
        .packages
        .iter()
        .filter(|p| p.db == Db::Portage)
        .filter(|p| {
            let name = package_name(&p.name);
            name != own && !d.declared.contains(name) && !d.system.contains(name)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_without_versions() {
        assert_eq!(package_name("dev-libs/foo-1"), "dev-libs/foo");
        assert_eq!(
            package_name("dev-libs/foo-bar-1.2.3_p1-r2"),
            "dev-libs/foo-bar"
        );
        assert_eq!(package_name("x11-libs/gtk+-3.24.41"), "x11-libs/gtk+");
        assert_eq!(
            package_name("dev-lang/python-3.12.3_rc1"),
            "dev-lang/python"
        );
        assert_eq!(package_name("app-misc/foo-2a"), "app-misc/foo");
        assert_eq!(package_name("media-libs/libsdl2"), "media-libs/libsdl2");
        assert_eq!(
            package_name("sys-libs/ncurses-compat-6"),
            "sys-libs/ncurses-compat"
        );
    }

    #[test]
    fn atoms() {
        let got: Vec<_> = atom_names(
            ">=dev-libs/a-1.2:0= || ( b/c d/e[foo] ) ssl? ( dev-libs/openssl:= ) \
             !app-misc/blocked =sys-libs/z-1* ~x/y-2 virtual/pkgconfig",
        )
        .collect();
        assert_eq!(
            got,
            [
                "dev-libs/a",
                "b/c",
                "d/e",
                "dev-libs/openssl",
                "sys-libs/z",
                "x/y",
                "virtual/pkgconfig"
            ]
        );
    }

    #[test]
    fn declarations_from_a_saved_environment() {
        let env = "declare BDEPEND=\"virtual/pkgconfig\"\n\
                   declare -- DEPEND=\"dev-libs/fakelib\n\tsys-libs/zlib\"\n\
                   declare -x XDEPEND=\"not/this\"\n\
                   declare RDEPEND=\"\"\n\
                   echo declare PDEPEND=\\\"no/no\\\"\n";
        let got = declared_in_environment(env);
        assert_eq!(
            got.into_iter().collect::<Vec<_>>(),
            ["dev-libs/fakelib", "sys-libs/zlib", "virtual/pkgconfig"]
        );
        assert_eq!(
            declared_value("declare -- X=\"a\\\"b\\\\c\"", "X").unwrap(),
            "a\"b\\c"
        );
        assert_eq!(declared_value("declare X=\"unterminated", "X"), None);
    }

    #[test]
    fn system_set_follows_parents() {
        let t = tempfile::tempdir().unwrap();
        let base = t.path().join("base");
        let leaf = t.path().join("leaf");
        std::fs::create_dir_all(&base).unwrap();
        std::fs::create_dir_all(&leaf).unwrap();
        std::fs::write(
            base.join("packages"),
            "*sys-libs/glibc\n*app-shells/bash\nsys-apps/notsys\n",
        )
        .unwrap();
        std::fs::write(leaf.join("parent"), "../base\n").unwrap();
        std::fs::write(
            leaf.join("packages"),
            "-*app-shells/bash\n*>=sys-devel/gcc-13\n",
        )
        .unwrap();
        let set = system_set(&leaf);
        assert_eq!(
            set.into_iter().collect::<Vec<_>>(),
            ["sys-devel/gcc", "sys-libs/glibc"]
        );
    }

    #[test]
    fn undeclared_skips_declared_system_and_self() {
        let pkg = |db, name: &str| PackageUse {
            db,
            name: name.into(),
            files: vec![],
            file_count: 1,
        };
        let owners = Owners {
            packages: vec![
                pkg(Db::Dpkg, "libc6-dev"),
                pkg(Db::Portage, "dev-libs/fakelib-1"),
                pkg(Db::Portage, "sys-libs/glibc-2.39"),
                pkg(Db::Portage, "app-misc/me-1"),
                pkg(Db::Portage, "dev-libs/other-2-r1"),
            ],
            ..Owners::default()
        };
        let d = Declarations {
            package: "app-misc/me-1".into(),
            declared: ["dev-libs/other".to_string()].into(),
            system: ["sys-libs/glibc".to_string()].into(),
        };
        let names: Vec<_> = undeclared(&owners, &d)
            .iter()
            .map(|p| p.name.as_str())
            .collect();
        assert_eq!(names, ["dev-libs/fakelib-1"]);
    }
}
