//! A process's Gentoo settings: `SANDBOX_ACTIVE`, `SANDBOX_ON`, the four lists and
//! `SANDBOX_DEBUG`, as
//! its environment holds them ([`Vars`]) and as Gentoo's libsandbox keeps them for the
//! process ([`Settings`]). Pure: no I/O.
//!
//! Sources (sandbox-2.x): `libsandbox/libsandbox.c` — `is_sandbox_on` (checking needs
//! `SANDBOX_ACTIVE=armedandready`, and "once you go active, you never go back"; an unset
//! `SANDBOX_ON` keeps the previous value), `sb_process_env_settings` (an unset list keeps
//! the previous value), `sb_new_envp` (at exec, a process that checks puts back whichever
//! of its variables the new environment lacks: `env -i` does not escape).

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;

use crate::gentoo::env::{ACTIVE_VALUE, Switch};
use crate::policy::List;

/// The variables a live process's settings are made of, in the order a declaration
/// lists them.
pub const NAMES: [&str; 7] = [
    "SANDBOX_ON",
    "SANDBOX_ACTIVE",
    "SANDBOX_READ",
    "SANDBOX_WRITE",
    "SANDBOX_PREDICT",
    "SANDBOX_DENY",
    "SANDBOX_DEBUG",
];

/// What an environment (or a shell's declaration) says: each variable's value, `None`
/// when it is not set. Set-but-empty is not unset: `SANDBOX_WRITE=` means nothing is
/// writable.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Vars {
    pub on: Option<OsString>,
    pub active: Option<OsString>,
    /// READ, WRITE, PREDICT, DENY (the order of [`List::ALL`]).
    pub lists: [Option<OsString>; 4],
    pub debug: Option<OsString>,
}

/// A variable name that is none of [`NAMES`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownName;

impl Vars {
    /// The variables of a `/proc/PID/environ` (`NAME=VALUE` entries, each ended by a
    /// NUL). The first entry of a name wins, as `getenv` finds it.
    pub fn from_environ(environ: &[u8]) -> Vars {
        let mut vars = Vars::default();
        let mut seen = [false; NAMES.len()];
        for entry in environ.split(|&b| b == 0) {
            let Some(eq) = entry.iter().position(|&b| b == b'=') else {
                continue;
            };
            let Some(i) = name_index(&entry[..eq]) else {
                continue;
            };
            if !std::mem::replace(&mut seen[i], true) {
                *vars.slot(i) = Some(OsStr::from_bytes(&entry[eq + 1..]).to_os_string());
            }
        }
        vars
    }

    /// The variables of an environment given as (name, value) pairs; other names are
    /// ignored.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a OsStr, &'a OsStr)>) -> Vars {
        let mut vars = Vars::default();
        for (name, value) in pairs {
            let _ = vars.set(name.as_bytes(), value);
        }
        vars
    }

    /// Sets `name` (one of [`NAMES`]) to `value`.
    pub fn set(&mut self, name: &[u8], value: &OsStr) -> Result<(), UnknownName> {
        let i = name_index(name).ok_or(UnknownName)?;
        *self.slot(i) = Some(value.to_os_string());
        Ok(())
    }

    /// The value of `list`'s variable.
    pub fn list(&self, list: List) -> Option<&OsStr> {
        self.lists[list_slot(list)].as_deref()
    }

    fn slot(&mut self, i: usize) -> &mut Option<OsString> {
        match i {
            0 => &mut self.on,
            1 => &mut self.active,
            6 => &mut self.debug,
            _ => &mut self.lists[i - 2],
        }
    }
}

/// The index in [`NAMES`] of `name`.
fn name_index(name: &[u8]) -> Option<usize> {
    NAMES.iter().position(|n| n.as_bytes() == name)
}

/// Where `list`'s value sits in [`Vars::lists`] and [`Settings::lists`].
fn list_slot(list: List) -> usize {
    List::ALL
        .iter()
        .position(|&l| l == list)
        .unwrap_or_default()
}

/// A process's settings as libsandbox keeps them: whether it is inside the sandbox
/// (`active`), whether checking is on, and the raw value of each list. Equal settings
/// make equal policies, so they key the cache of compiled states.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Settings {
    pub active: bool,
    pub on: bool,
    /// READ, WRITE, PREDICT, DENY (the order of [`List::ALL`]); `None` for a list never
    /// set.
    pub lists: [Option<OsString>; 4],
    /// `SANDBOX_DEBUG`: each checked operation is also written to the debug log.
    pub debug: bool,
}

impl Settings {
    /// Whether operations are checked: `SANDBOX_ACTIVE=armedandready` and `SANDBOX_ON`
    /// on. When not, everything is allowed and nothing is logged.
    pub fn checking(&self) -> bool {
        self.active && self.on
    }

    /// Whether its checked operations go to the debug log (`check_syscall`: only a
    /// checking process gets that far).
    pub fn debugging(&self) -> bool {
        self.checking() && self.debug
    }

    /// The raw value of `list`.
    pub fn list(&self, list: List) -> Option<&OsStr> {
        self.lists[list_slot(list)].as_deref()
    }

    /// The settings of the program a process with these settings runs with `execve`,
    /// given the environment it passes (`env`).
    ///
    /// A process that checks puts back what `env` lacks (`sb_new_envp`): `SANDBOX_ON=1`,
    /// `SANDBOX_ACTIVE`, its lists and `SANDBOX_DEBUG`. The new program then starts from its environment
    /// alone: checking unless `SANDBOX_ON` is set to something else than on. One rule is
    /// stricter than Gentoo's: a checked process whose new program would not be
    /// active (`SANDBOX_ACTIVE=other`) keeps these settings: nobody leaves the
    /// sandbox by changing a variable only the sandbox sets.
    pub fn after_exec(&self, env: &Vars) -> Settings {
        let mut env = env.clone();
        if self.checking() {
            env.on.get_or_insert_with(|| "1".into());
            env.active.get_or_insert_with(|| ACTIVE_VALUE.into());
            for (mine, theirs) in self.lists.iter().zip(env.lists.iter_mut()) {
                if theirs.is_none() {
                    theirs.clone_from(mine);
                }
            }
            env.debug
                .get_or_insert_with(|| if self.debug { "1" } else { "0" }.into());
        }
        let next = Settings {
            active: env.active.as_deref() == Some(OsStr::new(ACTIVE_VALUE)),
            on: Switch::of(env.on.as_deref()) == Switch::On,
            lists: env.lists,
            debug: Switch::of(env.debug.as_deref()) == Switch::On,
        };
        if self.checking() && !next.active {
            return self.clone();
        }
        next
    }

    /// The settings of a process that is still running the same program after it
    /// changed its variables to `vars` (a shell's `export`): active once seen active,
    /// and a variable it unset keeps its previous value (`is_sandbox_on`,
    /// `sb_process_env_settings`).
    pub fn after_declaration(&self, vars: &Vars) -> Settings {
        let mut lists = self.lists.clone();
        for (mine, theirs) in lists.iter_mut().zip(vars.lists.iter()) {
            if theirs.is_some() {
                mine.clone_from(theirs);
            }
        }
        Settings {
            active: self.active || vars.active.as_deref() == Some(OsStr::new(ACTIVE_VALUE)),
            on: Switch::of(vars.on.as_deref()).or(self.on),
            lists,
            debug: Switch::of(vars.debug.as_deref()).or(self.debug),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vars {
        Vars::from_pairs(pairs.iter().map(|(k, v)| (OsStr::new(k), OsStr::new(v))))
    }

    fn environ(pairs: &[&str]) -> Vec<u8> {
        let mut out = Vec::new();
        for p in pairs {
            out.extend_from_slice(p.as_bytes());
            out.push(0);
        }
        out
    }

    fn write(s: &Settings) -> Option<&str> {
        s.list(List::Write).and_then(OsStr::to_str)
    }

    /// What fusebox's Gentoo mode exports at launch.
    fn launched() -> Settings {
        Settings::default().after_exec(&vars(&[
            ("SANDBOX_ON", "1"),
            ("SANDBOX_ACTIVE", "armedandready"),
            ("SANDBOX_READ", "/"),
            ("SANDBOX_WRITE", "/dev/null:/tmp"),
        ]))
    }

    #[test]
    fn environ_bytes_give_the_sandbox_variables() {
        let v = Vars::from_environ(&environ(&[
            "PATH=/bin",
            "SANDBOX_ON=0",
            "SANDBOX_WRITE=/a:/b=c",
            "SANDBOX_WRITE=/second",
            "SANDBOX_DENY=",
            "NOEQUALS",
            "SANDBOX_ACTIVE=armedandready",
        ]));
        assert_eq!(v.on.as_deref(), Some(OsStr::new("0")));
        assert_eq!(v.active.as_deref(), Some(OsStr::new("armedandready")));
        // The first of two entries is what getenv finds.
        assert_eq!(v.list(List::Write), Some(OsStr::new("/a:/b=c")));
        assert_eq!(v.list(List::Deny), Some(OsStr::new("")));
        assert_eq!(v.list(List::Read), None);
        assert_eq!(Vars::from_environ(b""), Vars::default());
        // Bytes that are not UTF-8 are kept as they are.
        let v = Vars::from_environ(b"SANDBOX_READ=/\xff\0");
        assert_eq!(v.list(List::Read).unwrap().as_bytes(), b"/\xff");
    }

    #[test]
    fn unknown_names_are_refused() {
        let mut v = Vars::default();
        assert_eq!(v.set(b"PATH", OsStr::new("/bin")), Err(UnknownName));
        assert_eq!(v.set(b"SANDBOX_PREDICT", OsStr::new("/p")), Ok(()));
        assert_eq!(v.list(List::Predict), Some(OsStr::new("/p")));
    }

    #[test]
    fn checking_needs_active_and_on() {
        let s = launched();
        assert!(s.active && s.on && s.checking());
        assert_eq!(write(&s), Some("/dev/null:/tmp"));
        let not_active = Settings::default().after_exec(&vars(&[("SANDBOX_ON", "1")]));
        assert!(!not_active.checking());
        let wrong_value = Settings::default()
            .after_exec(&vars(&[("SANDBOX_ON", "1"), ("SANDBOX_ACTIVE", "yes")]));
        assert!(!wrong_value.checking());
        // SANDBOX_ON is read as Gentoo reads it: 1, true, yes (any case).
        for (value, on) in [("yes", true), ("TRUE", true), ("0", false), ("on", false)] {
            let s = launched().after_exec(&vars(&[("SANDBOX_ON", value)]));
            assert_eq!(s.checking(), on, "{value}");
        }
    }

    #[test]
    fn a_program_started_with_its_own_values_takes_them() {
        let s = launched().after_exec(&vars(&[
            ("SANDBOX_ON", "1"),
            ("SANDBOX_ACTIVE", "armedandready"),
            ("SANDBOX_WRITE", "/dev/null:/tmp:/build"),
        ]));
        assert_eq!(write(&s), Some("/dev/null:/tmp:/build"));
        // The list the environment does not name is put back.
        assert_eq!(s.list(List::Read), Some(OsStr::new("/")));
        let off = launched().after_exec(&vars(&[
            ("SANDBOX_ON", "0"),
            ("SANDBOX_ACTIVE", "armedandready"),
        ]));
        assert!(off.active && !off.checking());
    }

    /// `env -i cmd`, `env -u SANDBOX_ON cmd`, `SANDBOX_ACTIVE=x cmd`: still checked.
    #[test]
    fn a_checked_process_cannot_shed_the_sandbox_at_exec() {
        assert_eq!(launched().after_exec(&Vars::default()), launched());
        let s = launched().after_exec(&vars(&[("SANDBOX_ACTIVE", "armedandready")]));
        assert!(s.checking());
        assert_eq!(
            launched().after_exec(&vars(&[("SANDBOX_ACTIVE", "disarmed")])),
            launched()
        );
        // Emptying a list is a change the process may make (it names the variable).
        let s = launched().after_exec(&vars(&[("SANDBOX_WRITE", "")]));
        assert_eq!(write(&s), Some(""));
        assert!(s.checking());
    }

    /// A process with checking off puts nothing back (`sb_new_envp`): its program
    /// checks only if its own environment says so.
    #[test]
    fn an_unchecked_process_passes_only_what_it_exports() {
        let off = launched().after_exec(&vars(&[("SANDBOX_ON", "0")]));
        assert!(!off.checking());
        let child = off.after_exec(&Vars::default());
        assert!(!child.checking());
        assert_eq!(child.list(List::Write), None);
        let child = off.after_exec(&vars(&[
            ("SANDBOX_ON", "1"),
            ("SANDBOX_ACTIVE", "armedandready"),
            ("SANDBOX_WRITE", "/w"),
        ]));
        assert!(child.checking());
        assert_eq!(write(&child), Some("/w"));
    }

    #[test]
    fn a_declaration_changes_what_it_names() {
        let s = launched().after_declaration(&vars(&[
            ("SANDBOX_WRITE", "/dev/null:/tmp:/var/tmp/portage"),
            ("SANDBOX_ACTIVE", "armedandready"),
        ]));
        assert!(s.checking());
        assert_eq!(write(&s), Some("/dev/null:/tmp:/var/tmp/portage"));
        assert_eq!(s.list(List::Read), Some(OsStr::new("/")));
        let off = s.after_declaration(&vars(&[("SANDBOX_ON", "0")]));
        assert!(off.active && !off.checking());
        let on = off.after_declaration(&vars(&[("SANDBOX_ON", "1")]));
        assert_eq!(on, s);
        // Unset variables keep their value; active stays active.
        assert_eq!(s.after_declaration(&Vars::default()), s);
        let inactive = Settings::default().after_declaration(&vars(&[("SANDBOX_ON", "1")]));
        assert!(!inactive.checking());
    }

    /// Portage's ebuild.sh exports SANDBOX_DEBUG=1 in the shell (PORTAGE_DEBUG=1); the
    /// programs it runs keep it unless they say otherwise.
    #[test]
    fn debug_follows_the_same_rules() {
        assert!(!launched().debugging());
        let debugging = launched().after_declaration(&vars(&[("SANDBOX_DEBUG", "1")]));
        assert!(debugging.debugging());
        assert!(debugging.after_declaration(&Vars::default()).debugging());
        assert!(debugging.after_exec(&Vars::default()).debugging());
        let quiet = debugging.after_exec(&vars(&[("SANDBOX_DEBUG", "no")]));
        assert!(!quiet.debugging() && quiet.checking());
        // Only a checking process writes to the debug log.
        let off = debugging.after_declaration(&vars(&[("SANDBOX_ON", "0")]));
        assert!(off.debug && !off.debugging());
        assert!(
            !Settings::default()
                .after_exec(&vars(&[("SANDBOX_DEBUG", "1")]))
                .debugging()
        );
        assert_eq!(
            Vars::from_environ(b"SANDBOX_DEBUG=yes\0").debug.as_deref(),
            Some(OsStr::new("yes"))
        );
    }
}
