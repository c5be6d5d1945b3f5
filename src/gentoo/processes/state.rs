//! Settings compiled into what the mirror checks against: each distinct [`Settings`]
//! once, since most processes of a build share identical lists.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use super::settings::Settings;
use crate::gentoo::env::split_list;
use crate::policy::{List, Policy};

/// A process's state as the mirror judges it.
#[derive(Debug, PartialEq, Eq)]
pub struct ProcessState {
    /// Whether its operations are checked at all (see [`Settings::checking`]).
    pub on: bool,
    /// Its four lists as a policy (empty when not checking: nothing to match).
    pub policy: Policy,
    /// Whether its checked operations also go to the debug log (`SANDBOX_DEBUG`).
    pub debug: bool,
    /// What it was made from.
    pub settings: Settings,
}

/// More distinct settings than this and the cache starts afresh: a build that keeps
/// making new lists must not grow the daemon without bound.
const CACHE_LIMIT: usize = 512;

/// Finds an entry's realpath the way the mirror resolves paths.
pub type Realpath = Box<dyn Fn(&Path) -> Option<PathBuf> + Send + Sync>;

/// Turns settings into states, remembering each.
pub struct StateCompiler {
    /// Relative list entries are taken from here (the launch's directory).
    cwd: PathBuf,
    realpath: Realpath,
    cache: Mutex<HashMap<Settings, Arc<ProcessState>>>,
}

impl std::fmt::Debug for StateCompiler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateCompiler")
            .field("cwd", &self.cwd)
            .finish_non_exhaustive()
    }
}

impl StateCompiler {
    pub fn new(cwd: PathBuf, realpath: Realpath) -> StateCompiler {
        StateCompiler {
            cwd,
            realpath,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The state for `settings`, compiled at its first use. The compilation (realpaths:
    /// I/O) runs without the cache's lock; two threads may compile the same settings
    /// at once, and either result is right.
    pub fn state(&self, settings: Settings) -> Arc<ProcessState> {
        if let Some(state) = self.lock().get(&settings) {
            return state.clone();
        }
        let state = Arc::new(self.compile(settings.clone()));
        let mut cache = self.lock();
        if cache.len() >= CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(settings, state.clone());
        state
    }

    /// Each list split as the launch splits it (colons; relative entries from the
    /// launch's directory), each entry matched as given and as its realpath, like
    /// every other policy entry. An entry a policy cannot hold (relative after all,
    /// or not representable) is skipped: it could only widen the lists.
    fn compile(&self, settings: Settings) -> ProcessState {
        let mut policy = Policy::empty();
        if settings.checking() {
            for list in List::ALL {
                let Some(value) = settings.list(list) else {
                    continue;
                };
                for path in split_list(value, &self.cwd) {
                    let _ = policy.add_resolving(list, &path, &self.realpath);
                }
            }
        }
        ProcessState {
            on: settings.checking(),
            policy,
            debug: settings.debugging(),
            settings,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Settings, Arc<ProcessState>>> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gentoo::processes::Vars;
    use crate::policy::{Access, Verdict};
    use std::ffi::OsStr;

    fn settings(pairs: &[(&str, &str)]) -> Settings {
        Settings::default().after_exec(&Vars::from_pairs(
            pairs.iter().map(|(k, v)| (OsStr::new(k), OsStr::new(v))),
        ))
    }

    fn compiler() -> StateCompiler {
        StateCompiler::new(
            PathBuf::from("/work"),
            Box::new(|p: &Path| (p == Path::new("/link")).then(|| PathBuf::from("/real"))),
        )
    }

    const ON: [(&str, &str); 2] = [("SANDBOX_ON", "1"), ("SANDBOX_ACTIVE", "armedandready")];

    #[test]
    fn lists_become_a_policy() {
        let mut pairs = ON.to_vec();
        pairs.extend([
            ("SANDBOX_READ", "/"),
            ("SANDBOX_WRITE", "/tmp::rel:/link"),
            ("SANDBOX_PREDICT", "/home"),
            ("SANDBOX_DENY", "/secret"),
        ]);
        let state = compiler().state(settings(&pairs));
        assert!(state.on);
        let p = &state.policy;
        assert_eq!(p.check(Access::Write, Path::new("/tmp/x")), Verdict::Allow);
        assert_eq!(
            p.check(Access::Write, Path::new("/work/rel")),
            Verdict::Allow
        );
        assert_eq!(p.check(Access::Write, Path::new("/real/x")), Verdict::Allow);
        assert_eq!(
            p.check(Access::Write, Path::new("/home/x")),
            Verdict::Predict
        );
        assert_eq!(p.check(Access::Read, Path::new("/secret/x")), Verdict::Deny);
        assert_eq!(p.check(Access::Write, Path::new("/etc/x")), Verdict::Deny);
    }

    #[test]
    fn off_states_are_not_compiled() {
        let state = compiler().state(settings(&[
            ("SANDBOX_ON", "0"),
            ("SANDBOX_ACTIVE", "armedandready"),
            ("SANDBOX_WRITE", "/tmp"),
        ]));
        assert!(!state.on);
        assert!(state.policy.entries().is_empty());
    }

    #[test]
    fn equal_settings_share_one_state() {
        let c = compiler();
        let mut pairs = ON.to_vec();
        pairs.push(("SANDBOX_WRITE", "/a"));
        let a = c.state(settings(&pairs));
        let b = c.state(settings(&pairs));
        assert!(Arc::ptr_eq(&a, &b));
        pairs.push(("SANDBOX_READ", "/"));
        assert!(!Arc::ptr_eq(&a, &c.state(settings(&pairs))));
    }

    #[test]
    fn the_cache_is_bounded() {
        let c = compiler();
        for i in 0..CACHE_LIMIT + 10 {
            let write = format!("/w{i}");
            let mut pairs = ON.to_vec();
            pairs.push(("SANDBOX_WRITE", &write));
            c.state(settings(&pairs));
        }
        assert!(c.lock().len() <= CACHE_LIMIT);
    }
}
