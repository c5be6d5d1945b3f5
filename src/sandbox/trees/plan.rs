//! Which host trees the kernel serves in the sandbox, decided once from the policy before
//! anything is mounted. Pure: the host is asked only whether a path exists as named.

use std::path::{Path, PathBuf};

pub use crate::policy::path::covers;
use crate::policy::{Access, List, Policy, Verdict};

/// The sandbox's own mounts: a tree at, above or below one is never bound.
const SANDBOX_MOUNTS: [&str; 3] = ["/proc", "/dev", "/sys"];

/// The trees the kernel serves, and the holes in them the mirror keeps.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TreePlan {
    /// System trees, bound read-only: reads there are not judged (the policy lets
    /// every read), writes are refused by the kernel and judged by the notifier.
    pub read_only: Vec<PathBuf>,
    /// The write set's tree the build runs in, bound read-write: nothing in it is
    /// refused, so nothing needs judging. (Only that one: a hard link or a rename
    /// between two binds fails with EXDEV, so each further tree would add a boundary.)
    pub read_write: Vec<PathBuf>,
    /// Paths inside a read-only tree that are or hold a policy entry, served by the
    /// mirror again (mounted over the bind), so that entry holds.
    pub carve_outs: Vec<PathBuf>,
}

impl TreePlan {
    /// Whether the kernel serves nothing: the whole sandbox is the mirror.
    pub fn is_empty(&self) -> bool {
        self.read_only.is_empty() && self.read_write.is_empty()
    }

    /// Every bound tree, read-only ones first, and whether it is read-only.
    pub fn trees(&self) -> Vec<(PathBuf, bool)> {
        let read_only = self.read_only.iter().map(|t| (t.clone(), true));
        let read_write = self.read_write.iter().map(|t| (t.clone(), false));
        read_only.chain(read_write).collect()
    }
}

/// What the plan asks of the host.
pub trait HostDirs: Send + Sync {
    /// Whether `path` exists and is its own realpath (no symlink on the way).
    fn is_real(&self, path: &Path) -> bool;
    /// [`HostDirs::is_real`], and a directory.
    fn is_real_dir(&self, path: &Path) -> bool;
}

/// The host as the calling process sees it.
pub struct Host;

impl HostDirs for Host {
    fn is_real(&self, path: &Path) -> bool {
        std::fs::canonicalize(path).is_ok_and(|real| real == path)
    }

    fn is_real_dir(&self, path: &Path) -> bool {
        self.is_real(path) && path.is_dir()
    }
}

/// Where a build runs and what the kernel may serve.
pub struct Scene<'a> {
    /// The policy, fusebox's reports protected.
    pub policy: &'a Policy,
    /// The places fusebox stages its own mounts in: those stay on the mirror, which
    /// hides them.
    pub guarded: &'a [PathBuf],
    /// The trees offered read-only: what every exec and every compile reads.
    pub system: &'a [PathBuf],
    /// Where the build starts.
    pub cwd: &'a Path,
}

/// The plan for `scene`.
pub fn plan(scene: &Scene<'_>, host: &dyn HostDirs) -> TreePlan {
    let Scene {
        policy,
        guarded,
        system,
        cwd,
    } = *scene;
    let mut plan = TreePlan::default();
    for tree in outermost(system.to_vec()) {
        if let Some(carve_outs) = read_only_tree(policy, guarded, host, &tree) {
            plan.read_only.push(tree);
            plan.carve_outs.extend(carve_outs);
        }
    }
    let mut around_cwd: Vec<&PathBuf> = (policy.prefixes(List::Write).iter())
        .filter(|tree| covers(tree, cwd))
        .collect();
    // The outermost that can be bound.
    around_cwd.sort_by_key(|p| p.components().count());
    plan.read_write.extend(
        around_cwd
            .into_iter()
            .find(|tree| read_write_tree(scene, host, tree))
            .cloned(),
    );
    plan
}

/// A system tree's carve-outs, when it can be bound read-only: every read in it is
/// allowed, no write is, and whatever entry lies inside sits in a directory the
/// mirror can serve again.
fn read_only_tree(
    policy: &Policy,
    guarded: &[PathBuf],
    host: &dyn HostDirs,
    tree: &Path,
) -> Option<Vec<PathBuf>> {
    let allowed = policy.check(Access::Read, tree) == Verdict::Allow
        && !SANDBOX_MOUNTS.iter().any(|m| overlap(Path::new(m), tree))
        && policy.check(Access::Write, tree) != Verdict::Allow
        && host.is_real_dir(tree)
        && !guarded.iter().any(|g| overlap(g, tree));
    if !allowed {
        return None;
    }
    let mut carve_outs: Vec<PathBuf> = Vec::new();
    for entry in entries(policy, &[List::Write, List::Deny, List::Predict], guarded) {
        if entry == tree || !covers(tree, entry) {
            continue;
        }
        let point = carve_point(host, tree, entry);
        if point == tree {
            return None;
        }
        carve_outs.push(point);
    }
    Some(outermost(carve_outs))
}

/// Whether a write-set tree can be bound read-write: everything in it may be read and
/// written, and no entry, report or staging place lies inside (the build could rename
/// its way around a hole in a tree it can write).
fn read_write_tree(scene: &Scene<'_>, host: &dyn HostDirs, tree: &Path) -> bool {
    let Scene {
        policy,
        guarded,
        system,
        ..
    } = *scene;
    let special = |p: &Path| {
        SANDBOX_MOUNTS.iter().any(|m| overlap(Path::new(m), p))
            || system.iter().any(|s| overlap(s, p))
    };
    tree != Path::new("/")
        && !special(tree)
        && policy.check(Access::Read, tree) == Verdict::Allow
        && policy.check(Access::Write, tree) == Verdict::Allow
        && host.is_real_dir(tree)
        && !guarded.iter().any(|g| overlap(g, tree))
        && !entries(policy, &[List::Deny, List::Predict], &[]).any(|e| covers(tree, e))
}

/// The prefixes of `lists`, the protected reports and `extra`.
fn entries<'a>(
    policy: &'a Policy,
    lists: &'a [List],
    extra: &'a [PathBuf],
) -> impl Iterator<Item = &'a Path> + 'a {
    lists
        .iter()
        .flat_map(|l| policy.prefixes(*l))
        .chain(policy.protected())
        .chain(extra)
        .map(PathBuf::as_path)
}

/// Where the mirror must serve `entry` (inside `tree`) again: the entry itself when it
/// exists, else the deepest real directory above it; `tree` when nothing nearer exists.
pub fn carve_point(host: &dyn HostDirs, tree: &Path, entry: &Path) -> PathBuf {
    entry
        .ancestors()
        .take_while(|a| covers(tree, a))
        .find(|a| *a == tree || host.is_real(a))
        .unwrap_or(tree)
        .to_path_buf()
}

/// `paths` without those inside another of them, sorted.
fn outermost(mut paths: Vec<PathBuf>) -> Vec<PathBuf> {
    paths.sort();
    paths.dedup();
    let kept: Vec<PathBuf> = paths
        .iter()
        .filter(|p| !paths.iter().any(|q| q != *p && covers(q, p)))
        .cloned()
        .collect();
    kept
}

/// Whether one of `a` and `b` covers the other.
pub fn overlap(a: &Path, b: &Path) -> bool {
    covers(a, b) || covers(b, a)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A host where the listed paths, and nothing else, are real directories.
    struct Dirs(Vec<&'static str>);

    impl HostDirs for Dirs {
        fn is_real(&self, path: &Path) -> bool {
            self.is_real_dir(path) || path == Path::new("/usr/lib/secret.key")
        }

        fn is_real_dir(&self, path: &Path) -> bool {
            self.0.iter().any(|d| Path::new(d) == path)
        }
    }

    fn host() -> Dirs {
        Dirs(vec![
            "/usr",
            "/usr/lib",
            "/usr/local",
            "/home/u/src",
            "/home/u/src/sub",
            "/tmp",
        ])
    }

    fn policy(entries: &[(List, &str)]) -> Policy {
        let mut p = Policy::default();
        for (list, path) in entries {
            p.add_resolving(*list, Path::new(path), |_| None).unwrap();
        }
        p
    }

    fn paths(v: &[&str]) -> Vec<PathBuf> {
        v.iter().map(PathBuf::from).collect()
    }

    const GUARDED: [&str; 1] = ["/tmp/fusebox-1000"];

    const CWD: &str = "/home/u/src/sub";

    fn plan_in(p: &Policy, cwd: &str, host: &Dirs) -> TreePlan {
        let scene = Scene {
            policy: p,
            guarded: &paths(&GUARDED),
            system: &paths(&["/usr"]),
            cwd: Path::new(cwd),
        };
        plan(&scene, host)
    }

    fn plan_of(p: &Policy) -> TreePlan {
        plan_in(p, CWD, &host())
    }

    #[test]
    fn the_default_policy_binds_usr_and_the_build_directory() {
        let p = policy(&[(List::Write, "/home/u/src"), (List::Write, "/tmp")]);
        let plan = plan_of(&p);
        assert_eq!(plan.read_only, paths(&["/usr"]));
        assert!(plan.carve_outs.is_empty());
        assert_eq!(plan.read_write, paths(&["/home/u/src"]));
        // /tmp holds fusebox's staging place: it stays on the mirror.
        let in_tmp = plan_in(&p, "/tmp/b", &host());
        assert!(in_tmp.read_write.is_empty());
    }

    #[test]
    fn an_entry_inside_usr_is_carved_out_where_it_exists() {
        let p = policy(&[
            (List::Deny, "/usr/lib/secret.key"),
            (List::Write, "/usr/local/cache/new"),
        ]);
        let plan = plan_of(&p);
        assert_eq!(plan.read_only, paths(&["/usr"]));
        assert_eq!(
            plan.carve_outs,
            paths(&["/usr/lib/secret.key", "/usr/local"])
        );
        // One inside another's carve-out adds nothing.
        let p = policy(&[
            (List::Predict, "/usr/lib/x/y"),
            (List::Deny, "/usr/lib/secret.key"),
        ]);
        assert_eq!(plan_of(&p).carve_outs, paths(&["/usr/lib"]));
    }

    #[test]
    fn usr_stays_on_the_mirror_when_an_entry_has_no_directory_below_it() {
        for entry in [(List::Deny, "/usr/nothing"), (List::Write, "/usr/newdir/x")] {
            assert!(plan_of(&policy(&[entry])).read_only.is_empty(), "{entry:?}");
        }
        // Writable, unreadable or fully denied: not a read-only tree.
        for entry in [(List::Write, "/usr"), (List::Deny, "/"), (List::Write, "/")] {
            assert!(plan_of(&policy(&[entry])).read_only.is_empty(), "{entry:?}");
        }
        let mut unreadable = Policy::empty();
        unreadable
            .add_resolving(List::Read, Path::new("/home"), |_| None)
            .unwrap();
        assert!(plan_of(&unreadable).read_only.is_empty());
    }

    #[test]
    fn a_write_tree_with_anything_guarded_inside_stays_on_the_mirror() {
        let build = (List::Write, "/home/u/src");
        for inside in [
            (List::Deny, "/home/u/src/.env"),
            (List::Predict, "/home/u/src/sub/probe"),
        ] {
            assert!(
                plan_of(&policy(&[build, inside])).read_write.is_empty(),
                "{inside:?}"
            );
        }
        let mut p = policy(&[build]);
        p.protect(Path::new("/home/u/src/violations.log"));
        assert!(plan_of(&p).read_write.is_empty());
        // A deny above it refuses the whole tree; a read set without it too.
        assert!(
            plan_of(&policy(&[build, (List::Deny, "/home")]))
                .read_write
                .is_empty()
        );
        let mut narrow = Policy::empty();
        narrow
            .add_resolving(List::Write, Path::new("/home/u/src"), |_| None)
            .unwrap();
        assert!(plan_of(&narrow).read_write.is_empty());
    }

    #[test]
    fn only_the_outermost_tree_around_the_build_directory_is_bound() {
        let p = policy(&[
            (List::Write, "/home/u/src/sub"),
            (List::Write, "/home/u/src"),
            (List::Write, "/usr/local"),
            (List::Write, "/dev/null"),
            (List::Write, "/"),
        ]);
        assert_eq!(plan_of(&p).read_write, paths(&["/home/u/src"]));
        // A deny in the outer one leaves the inner.
        let p = policy(&[
            (List::Write, "/home/u/src/sub"),
            (List::Write, "/home/u/src"),
            (List::Deny, "/home/u/src/.env"),
        ]);
        assert_eq!(plan_of(&p).read_write, paths(&["/home/u/src/sub"]));
        // Nothing around the build directory: nothing bound read-write.
        let p = policy(&[(List::Write, "/tmp")]);
        assert!(plan_of(&p).read_write.is_empty());
    }

    #[test]
    fn no_write_tree_at_or_around_a_sandbox_mount_or_a_system_tree() {
        let host = Dirs(vec!["/dev/shm", "/proc/sys", "/usr/local", "/"]);
        for tree in ["/dev/shm", "/proc/sys", "/usr/local"] {
            let p = policy(&[(List::Write, tree)]);
            assert!(plan_in(&p, tree, &host).read_write.is_empty(), "{tree}");
        }
    }
}
