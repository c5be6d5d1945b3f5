//! The `SANDBOX_*` environment: what Gentoo's sandbox reads from it, and how.
//!
//! Sources: sandbox-2.x `libsbutil/sbutil.h` (the names), `libsbutil/environment.c`
//! (what "on" and "off" mean), `libsbutil/get_sandbox_log.c` (the log's default
//! place), `libsandbox/libsandbox.c` (`init_env_entries`: how a list is split, and
//! `is_sandbox_on`: when checking happens) and `src/sandbox.c` (refusing to nest).

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// The value the sandbox exports as `SANDBOX_ACTIVE`; a process seeing it knows it
/// runs inside a sandbox.
pub const ACTIVE_VALUE: &str = "armedandready";

/// Where Gentoo's sandbox logs when `SANDBOX_LOG` is not set and it may write there.
/// Not prefixed under Gentoo Prefix: an unprivileged user cannot write it, so the log
/// goes to the temporary directory instead.
pub const SYSTEM_LOG_DIR: &str = "/var/log/sandbox";

/// The message, word for word, with which Gentoo's sandbox refuses to start inside
/// another (`src/sandbox.c`, `main`).
pub const NESTED_MESSAGE: &str =
    "not launching a new sandbox as one is already running in this process hierarchy";

/// A snapshot of the environment fusebox was started with.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Environment(BTreeMap<OsString, OsString>);

impl Environment {
    /// This process's environment.
    pub fn current() -> Environment {
        Environment(std::env::vars_os().collect())
    }

    pub fn get(&self, name: impl AsRef<OsStr>) -> Option<&OsStr> {
        self.0.get(name.as_ref()).map(OsString::as_os_str)
    }

    pub fn is_set(&self, name: &str) -> bool {
        self.0.contains_key(OsStr::new(name))
    }

    pub fn set(&mut self, name: impl Into<OsString>, value: impl Into<OsString>) {
        self.0.insert(name.into(), value.into());
    }

    pub fn remove(&mut self, name: &str) {
        self.0.remove(OsStr::new(name));
    }

    /// Whether `name` is on (see [`Switch`]).
    pub fn switch(&self, name: &str) -> Switch {
        Switch::of(self.get(name))
    }
}

impl<K: Into<OsString>, V: Into<OsString>> FromIterator<(K, V)> for Environment {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Environment(
            iter.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }
}

/// A boolean variable as Gentoo reads it (`is_env_set_on`): `1`, `true` and `yes`
/// (any case) are on; anything else that is set is off; unset is unset, which leaves a
/// previous setting as it was. So `SANDBOX_ON=0` and `SANDBOX_ON=maybe` both stop the
/// checks, while `SANDBOX_VERBOSE=no` and `SANDBOX_VERBOSE=` both silence them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Switch {
    On,
    Off,
    Unset,
}

impl Switch {
    pub fn of(value: Option<&OsStr>) -> Switch {
        match value {
            None => Switch::Unset,
            Some(v) if is_on(v) => Switch::On,
            Some(_) => Switch::Off,
        }
    }

    /// On or off, with `default` for unset.
    pub fn or(self, default: bool) -> bool {
        match self {
            Switch::On => true,
            Switch::Off => false,
            Switch::Unset => default,
        }
    }
}

/// `1`, `true`, `yes`, in any case.
pub fn is_on(value: &OsStr) -> bool {
    ["1", "true", "yes"]
        .iter()
        .any(|t| value.as_bytes().eq_ignore_ascii_case(t.as_bytes()))
}

/// The paths of a `SANDBOX_READ`-style list: split at `:`, empty entries skipped (as
/// `strtok` does), relative ones taken from `cwd` as libsandbox's `sb_abspathat` does.
/// A path cannot contain `:` in these lists; Gentoo has no escape for it either.
pub fn split_list(value: &OsStr, cwd: &Path) -> Vec<PathBuf> {
    value
        .as_bytes()
        .split(|&b| b == b':')
        .filter(|entry| !entry.is_empty())
        .map(|entry| cwd.join(OsStr::from_bytes(entry)))
        .collect()
}

/// Refuses to start inside another sandbox, Gentoo's or ours: `SANDBOX_ACTIVE` set at
/// all (whatever its value) means one is running in this process hierarchy.
pub fn refuse_nesting(env: &Environment) -> Result<(), &'static str> {
    if env.is_set("SANDBOX_ACTIVE") {
        Err(NESTED_MESSAGE)
    } else {
        Ok(())
    }
}

/// The violation log: `SANDBOX_LOG` as given (relative to `cwd`), else
/// `DIR/sandbox-PID.log` where DIR is [`SYSTEM_LOG_DIR`] when writable, else the
/// temporary directory (`get_sandbox_log`). Portage always sets `SANDBOX_LOG`
/// (`${T}/sandbox.log`), so the default matters for interactive use.
pub fn log_path(env: &Environment, host: &HostFacts, cwd: &Path) -> PathBuf {
    named_log(env.get("SANDBOX_LOG"), "sandbox-", host, cwd)
}

/// The debug log, likewise from `SANDBOX_DEBUG_LOG` or `DIR/sandbox-debug-PID.log`.
pub fn debug_log_path(env: &Environment, host: &HostFacts, cwd: &Path) -> PathBuf {
    named_log(env.get("SANDBOX_DEBUG_LOG"), "sandbox-debug-", host, cwd)
}

fn named_log(given: Option<&OsStr>, stem: &str, host: &HostFacts, cwd: &Path) -> PathBuf {
    if let Some(given) = given {
        return cwd.join(given);
    }
    let dir = if host.system_log_dir_writable {
        Path::new(SYSTEM_LOG_DIR)
    } else {
        host.tmp_dir.as_path()
    };
    dir.join(format!("{stem}{}.log", host.pid))
}

/// What the launch needs to know of the host, gathered once (the rest is pure).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostFacts {
    /// The sandbox's pid, which names the default logs.
    pub pid: u32,
    /// `realpath($TMPDIR)`, else `realpath(/tmp)` (`get_tmp_dir`); exported as TMPDIR.
    pub tmp_dir: PathBuf,
    /// Whether [`SYSTEM_LOG_DIR`] is writable by us (`access(W_OK)`).
    pub system_log_dir_writable: bool,
}

impl HostFacts {
    pub fn gather(env: &Environment) -> HostFacts {
        let tmp = env
            .get("TMPDIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/tmp"));
        let tmp_dir = std::fs::canonicalize(&tmp)
            .or_else(|_| std::fs::canonicalize("/tmp"))
            .unwrap_or_else(|_| PathBuf::from("/tmp"));
        HostFacts {
            pid: std::process::id(),
            tmp_dir,
            system_log_dir_writable: nix::unistd::access(
                SYSTEM_LOG_DIR,
                nix::unistd::AccessFlags::W_OK,
            )
            .is_ok(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Environment {
        pairs.iter().map(|&(k, v)| (k, v)).collect()
    }

    fn host() -> HostFacts {
        HostFacts {
            pid: 4242,
            tmp_dir: PathBuf::from("/var/tmp/me"),
            system_log_dir_writable: false,
        }
    }

    #[test]
    fn switches_read_as_gentoo_reads_them() {
        for on in ["1", "true", "yes", "YES", "True"] {
            assert_eq!(Switch::of(Some(OsStr::new(on))), Switch::On, "{on}");
        }
        for off in ["0", "false", "no", "", "2", "on", "maybe"] {
            assert_eq!(Switch::of(Some(OsStr::new(off))), Switch::Off, "{off}");
        }
        assert_eq!(Switch::of(None), Switch::Unset);
        assert!(Switch::Unset.or(true));
        assert!(!Switch::Off.or(true));
        let e = env(&[("SANDBOX_ON", "0"), ("SANDBOX_VERBOSE", "yes")]);
        assert_eq!(e.switch("SANDBOX_ON"), Switch::Off);
        assert_eq!(e.switch("SANDBOX_VERBOSE"), Switch::On);
        assert_eq!(e.switch("SANDBOX_DEBUG"), Switch::Unset);
    }

    #[test]
    fn lists_split_at_colons_skipping_empty_entries() {
        let cwd = Path::new("/work");
        assert_eq!(
            split_list(OsStr::new(":/a::/b/:rel:"), cwd),
            [
                PathBuf::from("/a"),
                PathBuf::from("/b/"),
                PathBuf::from("/work/rel")
            ]
        );
        assert!(split_list(OsStr::new(""), cwd).is_empty());
        assert!(split_list(OsStr::new(":::"), cwd).is_empty());
    }

    #[test]
    fn nesting_is_refused_whatever_sandbox_active_holds() {
        assert!(refuse_nesting(&env(&[])).is_ok());
        assert_eq!(
            refuse_nesting(&env(&[("SANDBOX_ACTIVE", "armedandready")])),
            Err(NESTED_MESSAGE)
        );
        assert!(refuse_nesting(&env(&[("SANDBOX_ACTIVE", "")])).is_err());
        // SANDBOX_ON alone is not a running sandbox.
        assert!(refuse_nesting(&env(&[("SANDBOX_ON", "1")])).is_ok());
    }

    #[test]
    fn the_log_is_sandbox_log_or_a_pid_named_file() {
        let cwd = Path::new("/work");
        let given = env(&[("SANDBOX_LOG", "/var/tmp/portage/a/b/temp/sandbox.log")]);
        assert_eq!(
            log_path(&given, &host(), cwd),
            Path::new("/var/tmp/portage/a/b/temp/sandbox.log")
        );
        assert_eq!(
            log_path(&env(&[("SANDBOX_LOG", "rel.log")]), &host(), cwd),
            Path::new("/work/rel.log")
        );
        assert_eq!(
            log_path(&env(&[]), &host(), cwd),
            Path::new("/var/tmp/me/sandbox-4242.log")
        );
        let root = HostFacts {
            system_log_dir_writable: true,
            ..host()
        };
        assert_eq!(
            log_path(&env(&[]), &root, cwd),
            Path::new("/var/log/sandbox/sandbox-4242.log")
        );
        assert_eq!(
            debug_log_path(&env(&[]), &host(), cwd),
            Path::new("/var/tmp/me/sandbox-debug-4242.log")
        );
        assert_eq!(
            debug_log_path(&env(&[("SANDBOX_DEBUG_LOG", "/d.log")]), &host(), cwd),
            Path::new("/d.log")
        );
    }
}
