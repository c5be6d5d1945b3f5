//! What a rename carries with it.
//!
//! A rename (or exchange) is judged on its two names, but it moves the whole tree below
//! them: with `DENY /src/cfg/keys` and `/src` writable, `mv cfg cfg2` would make the
//! denied file `cfg2/keys/k`, readable and writable, and `mv cfg2 cfg` would put it
//! back. So renaming, exchanging or linking a name is also judged as a write to every
//! guarded entry at or below either name: DENY and PREDICT entries (fusebox's lists
//! and, in Gentoo mode, the process's own), and any list of paths the build must never
//! change (fusebox's staging directories). The entry is what gets reported.
//!
//! [`entries_moved_by`] is the one rule, over any list of paths: to guard a new list
//! (files fusebox writes while the build runs, say), pass its paths to it where the
//! mirror judges a rename ([`crate::mirror`]'s `Resolver::judge_moved`).

use std::path::Path;

use super::path::covers;

/// The entries of `guarded` that renaming `name` would move (or replace): those equal
/// to it or below it, by whole components. Allocation-free.
pub fn entries_moved_by<'a, P: AsRef<Path> + ?Sized + 'a>(
    name: &'a Path,
    guarded: impl IntoIterator<Item = &'a P> + 'a,
) -> impl Iterator<Item = &'a Path> + 'a {
    guarded
        .into_iter()
        .map(AsRef::as_ref)
        .filter(move |entry| covers(name, entry))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn moved<'a>(name: &'a str, guarded: &'a [PathBuf]) -> Vec<&'a Path> {
        entries_moved_by(Path::new(name), guarded).collect()
    }

    #[test]
    fn an_ancestor_or_the_entry_itself_moves_it() {
        let guarded = [PathBuf::from("/src/cfg/keys"), PathBuf::from("/etc/shadow")];
        assert_eq!(moved("/src/cfg", &guarded), [Path::new("/src/cfg/keys")]);
        assert_eq!(moved("/src", &guarded), [Path::new("/src/cfg/keys")]);
        assert_eq!(
            moved("/src/cfg/keys", &guarded),
            [Path::new("/src/cfg/keys")]
        );
        assert_eq!(moved("/", &guarded).len(), 2);
    }

    #[test]
    fn siblings_and_descendants_do_not() {
        let guarded = [PathBuf::from("/src/cfg/keys")];
        assert!(moved("/src/cfg2", &guarded).is_empty());
        assert!(moved("/src/cf", &guarded).is_empty());
        assert!(moved("/src/cfg/keys2", &guarded).is_empty());
        assert!(moved("/src/cfg/keys/k", &guarded).is_empty());
    }
}
