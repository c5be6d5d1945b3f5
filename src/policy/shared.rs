//! The policy while the build runs: read on every FUSE request, extended by the control
//! file, frozen by `lock`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use super::{Access, List, Policy, PolicyError, Verdict};

/// Told of each entry the control file is about to add, before the policy changes: what
/// serves paths outside the mirror (the kernel-served trees) must hand a path the entry
/// touches back to the mirror first, or the entry would not hold there.
pub trait ChangeWatcher: Send + Sync + fmt::Debug {
    /// `list` is about to get `given` (normalised) and its realpath `real`. An error
    /// leaves the policy unchanged.
    fn before_add(&self, list: List, given: &Path, real: Option<&Path>) -> Result<(), String>;
}

/// A [`Policy`] shared between the mirror's threads and the control file. `Sync`; wrap
/// it in an `Arc`.
#[derive(Debug)]
pub struct SharedPolicy {
    /// The flag lives under the same lock as the policy so that an `add` racing a
    /// `lock` either lands before it or fails: never after it.
    state: RwLock<State>,
    watcher: OnceLock<Arc<dyn ChangeWatcher>>,
}

#[derive(Debug)]
struct State {
    policy: Policy,
    locked: bool,
}

impl SharedPolicy {
    pub fn new(policy: Policy) -> Self {
        SharedPolicy {
            state: RwLock::new(State {
                policy,
                locked: false,
            }),
            watcher: OnceLock::new(),
        }
    }

    /// Has `watcher` told of every later [`SharedPolicy::add`] (once; a second watcher
    /// is refused and returned).
    pub fn set_watcher(
        &self,
        watcher: Arc<dyn ChangeWatcher>,
    ) -> Result<(), Arc<dyn ChangeWatcher>> {
        self.watcher.set(watcher)
    }

    // A panic while holding the lock cannot leave a half-made entry behind (`insert`
    // pushes whole values), so a poisoned lock is still a consistent policy; the daemon
    // must not panic in turn.
    fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// [`Policy::check`] under a read lock: no allocation.
    pub fn check(&self, access: Access, path: &Path) -> Verdict {
        self.read().policy.check(access, path)
    }

    /// [`Policy::check_with`] `other` under a read lock: no allocation.
    pub fn check_with(&self, other: &Policy, access: Access, path: &Path) -> Verdict {
        self.read().policy.check_with(other, access, path)
    }

    /// [`Policy::refuses_as_protected`] under a read lock.
    pub fn refuses_as_protected(&self, access: Access, path: &Path) -> bool {
        self.read().policy.refuses_as_protected(access, path)
    }

    /// [`Policy::guarded_entries_moved_by`] under a read lock (empty, without
    /// allocating, when no entry is moved).
    pub fn guarded_entries_moved_by(&self, name: &Path) -> Vec<PathBuf> {
        self.read()
            .policy
            .guarded_entries_moved_by(name)
            .map(Path::to_path_buf)
            .collect()
    }

    /// [`Policy::add`], unless the policy is locked.
    pub fn add(&self, list: List, path: &Path) -> Result<(), PolicyError> {
        self.add_resolving(list, path, super::path::realpath)
    }

    /// [`SharedPolicy::add`] with the entry's realpath found by `realpath` (the daemon
    /// resolves through the host root it serves, not through its own mount namespace).
    pub fn add_resolving(
        &self,
        list: List,
        path: &Path,
        realpath: impl Fn(&Path) -> Option<PathBuf>,
    ) -> Result<(), PolicyError> {
        if self.is_locked() {
            return Err(PolicyError::Locked);
        }
        // Resolve the realpath without holding the lock: it is I/O, and every FUSE
        // request waits on the write lock meanwhile.
        let (given, real) = super::prepare(path, realpath)?;
        if let Some(watcher) = self.watcher.get() {
            watcher
                .before_add(list, &given, real.as_deref())
                .map_err(PolicyError::NotApplied)?;
        }
        let mut state = self.write();
        if state.locked {
            return Err(PolicyError::Locked);
        }
        state.policy.insert(list, given, real);
        Ok(())
    }

    /// Refuses every later [`SharedPolicy::add`]. Idempotent.
    pub fn lock(&self) {
        self.write().locked = true;
    }

    pub fn is_locked(&self) -> bool {
        self.read().locked
    }

    /// A copy of the current policy.
    pub fn snapshot(&self) -> Policy {
        self.read().policy.clone()
    }

    /// The current policy as policy-file text.
    pub fn render(&self) -> String {
        self.read().policy.render()
    }
}

impl From<Policy> for SharedPolicy {
    fn from(policy: Policy) -> Self {
        SharedPolicy::new(policy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::sync::Arc;

    #[test]
    fn is_send_and_sync() {
        fn assert_sync<T: Send + Sync>() {}
        assert_sync::<SharedPolicy>();
    }

    #[test]
    fn add_takes_effect_for_later_checks() {
        let shared = SharedPolicy::new(Policy::default());
        let path = Path::new("/var/tmp/build/x");
        assert_eq!(shared.check(Access::Write, path), Verdict::Deny);
        shared
            .add(List::Write, Path::new("/var/tmp/build"))
            .unwrap();
        assert_eq!(shared.check(Access::Write, path), Verdict::Allow);
        shared
            .add(List::Deny, Path::new("/var/tmp/build/x"))
            .unwrap();
        assert_eq!(shared.check(Access::Write, path), Verdict::Deny);
    }

    #[test]
    fn locked_policy_refuses_add_and_keeps_its_entries() {
        let shared = SharedPolicy::new(Policy::default());
        shared.add(List::Predict, Path::new("/var/cache")).unwrap();
        shared.lock();
        shared.lock();
        assert!(shared.is_locked());
        assert_eq!(
            shared.add(List::Write, Path::new("/")),
            Err(PolicyError::Locked)
        );
        assert_eq!(
            shared.check(Access::Write, Path::new("/etc")),
            Verdict::Deny
        );
        assert_eq!(
            shared.snapshot().entries(),
            &[
                (List::Read, PathBuf::from("/")),
                (List::Predict, PathBuf::from("/var/cache"))
            ]
        );
        assert_eq!(
            PolicyError::Locked.to_string(),
            "the policy is locked".to_string()
        );
    }

    #[test]
    fn add_reports_bad_paths() {
        let shared = SharedPolicy::new(Policy::empty());
        assert_eq!(
            shared.add(List::Write, Path::new("rel")),
            Err(PolicyError::Relative("rel".into()))
        );
    }

    #[test]
    fn add_through_a_symlink_matches_its_target() {
        let dir = tempfile::tempdir().unwrap();
        let base = std::fs::canonicalize(dir.path()).unwrap();
        std::fs::create_dir(base.join("real")).unwrap();
        std::os::unix::fs::symlink(base.join("real"), base.join("link")).unwrap();
        let shared = SharedPolicy::new(Policy::default());
        shared.add(List::Write, &base.join("link")).unwrap();
        assert_eq!(
            shared.check(Access::Write, &base.join("real/a")),
            Verdict::Allow
        );
        // Rendered as given, not as the realpath.
        assert!(
            shared
                .render()
                .ends_with(&format!("write {}\n", base.join("link").display()))
        );
    }

    #[test]
    fn concurrent_checks_and_adds() {
        let shared = Arc::new(SharedPolicy::new(Policy::default()));
        let threads: Vec<_> = (0..4)
            .map(|i| {
                let s = Arc::clone(&shared);
                std::thread::spawn(move || {
                    let dir = PathBuf::from(format!("/t{i}"));
                    s.add(List::Write, &dir).unwrap();
                    assert_eq!(s.check(Access::Write, &dir.join("f")), Verdict::Allow);
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(shared.snapshot().entries().len(), 5);
    }
}
