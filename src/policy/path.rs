//! Path helpers for policy entries: lexical normalisation, whole-component prefix
//! matching, and the one piece of I/O the policy does (resolving an entry's realpath).

use std::os::unix::ffi::OsStrExt;
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
/// absolute path. Allocation-free: it runs on every FUSE request, for every entry.
///
/// Both are taken as normalised (what [`normalise`] and the mirror produce; a trailing
/// slash is tolerated), so bytes are compared rather than components: with the secrets
/// set's ~75 DENY entries, `Path::starts_with` made each check cost ~11 µs instead of
/// well under one.
pub fn covers(prefix: &Path, path: &Path) -> bool {
    let prefix = prefix.as_os_str().as_bytes();
    let path = path.as_os_str().as_bytes();
    let prefix = match prefix.iter().rposition(|&b| b != b'/') {
        Some(last) => &prefix[..=last],
        // `/` (or `//`) covers every absolute path.
        None => return !prefix.is_empty() && path.first() == Some(&b'/'),
    };
    path.starts_with(prefix) && path.get(prefix.len()).is_none_or(|&b| b == b'/')
}

/// The realpath of an existing entry, `None` when it does not exist (yet) or cannot be
/// resolved. Gentoo stores both spellings of each entry because the build reaches a
/// path through whichever one it was given, and the mirror reports the resolved one.
///
/// Most entries asked about (the secrets set's ~75) do not exist: one `lstat` answers
/// for them, where `realpath(3)` would read every existing ancestor as a link first.
pub fn realpath(path: &Path) -> Option<PathBuf> {
    std::fs::symlink_metadata(path).ok()?;
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
        // Entries from a policy file may keep a trailing slash.
        assert!(covers(Path::new("/foo/"), Path::new("/foo/bar")));
        assert!(!covers(Path::new("/foo/"), Path::new("/foobar")));
        assert!(covers(Path::new("//"), Path::new("/x")));
        assert!(!covers(Path::new(""), Path::new("/x")));
    }

    #[test]
    fn covers_agrees_with_components_on_normalised_paths() {
        let paths = [
            "/", "/a", "/ab", "/a/b", "/a/bc", "/a/b/c", "/b", "/a b", "/a/b c/d", "/é/ü",
        ];
        for prefix in paths {
            for path in paths {
                assert_eq!(
                    covers(Path::new(prefix), Path::new(path)),
                    Path::new(path).starts_with(prefix),
                    "{prefix} {path}"
                );
            }
        }
    }
}
