//! Path helpers for policy entries: lexical normalisation, whole-component prefix
//! matching, and the one piece of I/O the policy does (resolving an entry's realpath).

use std::path::{Component, Path, PathBuf};

/// `path` made lexically normal: `.` dropped, `..` applied (never above `/`), repeated
/// and trailing slashes gone. `None` for a relative path: a policy entry must not
/// depend on whichever directory the caller happens to be in.
///
/// This is Gentoo's `sb_abspathat` for absolute input: it does not follow symlinks,
/// so `/a/link/..` is `/a`; the realpath stored beside it covers the other reading.
pub fn normalise(path: &Path) -> Option<PathBuf> {
    if !path.has_root() {
        return None;
    }
    let mut out = PathBuf::from("/");
    for c in path.components() {
        match c {
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(name) => out.push(name),
            // Only on Windows.
            Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// Whether the entry `prefix` covers `path`: equal to it or an ancestor of it, by whole
/// components, so `/foo` covers `/foo/bar` but never `/foobar`, and `/` covers every
/// absolute path. Allocation-free: it runs on every FUSE request.
pub fn covers(prefix: &Path, path: &Path) -> bool {
    path.starts_with(prefix)
}

/// The realpath of an existing entry, `None` when it does not exist (yet) or cannot be
/// resolved. Gentoo stores both spellings of each entry because the build reaches a
/// path through whichever one it was given, and the mirror reports the resolved one.
pub fn realpath(path: &Path) -> Option<PathBuf> {
    std::fs::canonicalize(path).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> Option<String> {
        normalise(Path::new(s)).map(|p| p.to_string_lossy().into_owned())
    }

    #[test]
    fn normalise_drops_dots_and_slashes() {
        assert_eq!(norm("/").as_deref(), Some("/"));
        assert_eq!(norm("//").as_deref(), Some("/"));
        assert_eq!(norm("/foo/").as_deref(), Some("/foo"));
        assert_eq!(norm("/foo//bar/./baz/").as_deref(), Some("/foo/bar/baz"));
        assert_eq!(norm("/foo/bar/../baz").as_deref(), Some("/foo/baz"));
        assert_eq!(norm("/../..").as_deref(), Some("/"));
        assert_eq!(norm("/a b/c ").as_deref(), Some("/a b/c "));
    }

    #[test]
    fn normalise_rejects_relative() {
        assert_eq!(norm("foo"), None);
        assert_eq!(norm("./foo"), None);
        assert_eq!(norm(""), None);
    }

    #[test]
    fn covers_whole_components_only() {
        let foo = Path::new("/foo");
        assert!(covers(foo, Path::new("/foo")));
        assert!(covers(foo, Path::new("/foo/bar")));
        assert!(covers(foo, Path::new("/foo/")));
        assert!(!covers(foo, Path::new("/foobar")));
        assert!(!covers(foo, Path::new("/fo")));
        assert!(!covers(foo, Path::new("/")));
        assert!(covers(Path::new("/"), Path::new("/")));
        assert!(covers(Path::new("/"), Path::new("/anything/at/all")));
        assert!(!covers(Path::new("/"), Path::new("relative")));
    }
}
