//! The shell startup file that keeps fusebox told of a running shell's `SANDBOX_*`
//! variables.
//!
//! fusebox reads a program's variables from its environment when it starts. A shell
//! changes its own later (Portage's ebuild.sh runs `addwrite`, `export SANDBOX_ON=0`
//! in the shell that then writes files itself), and those changes reach no
//! environment fusebox can read. So in Gentoo mode `BASH_ENV` names this file (served
//! by the mirror as `/.fusebox-bashrc`), which every non-interactive bash sources at
//! start: a `DEBUG` trap compares the variables before each simple command and, when
//! they changed, declares them to `/dev/fusebox` from the shell's own pid (see
//! [`super::declaration`] for the declaration's form). The trap runs *before* a
//! command, so `export SANDBOX_ON=0; echo x > /forbidden` declares the change before
//! the redirection is made.
//!
//! Written to be harmless in any bash script: it prints nothing (the trap's stderr is
//! closed, which also keeps `set -x` from tracing it), the trap always succeeds
//! (`set -e`, and `extdebug`, under which a failing DEBUG trap would skip the command,
//! as Portage's isolated-functions.sh sets it), unset variables are read as `${V-}`
//! (`set -u`), `$?`, `$_` and `PIPESTATUS` are bash's to keep across a trap, and the
//! declaration appends (`set -C`). Its names start with three underscores, which
//! Portage leaves out of the environment it saves between phases; Portage also unsets
//! that namespace in the subshell that saves it, where the trap then does nothing
//! (with its function gone, a failing trap would have skipped `declare -p`, and the
//! saved environment would be empty). `functrace` makes
//! functions, command substitutions and subshells run the trap too: `addwrite` is a
//! function, and a subshell's `export` is the subshell's alone. A check costs a few
//! tens of microseconds per command; a declaration, one open and write of the control
//! file.

/// The file's text (`fusebox-bashrc.bash` beside this file, checked by shellcheck in
/// the test suite).
pub const BASHRC: &str = include_str!("fusebox-bashrc.bash");

/// Its name in the mirror's root, which serves it as a read-only virtual file.
pub const NAME: &str = ".fusebox-bashrc";

/// Where the build finds it: `BASH_ENV`'s value.
pub fn path() -> String {
    format!("/{NAME}")
}

#[cfg(test)]
mod tests {
    use super::super::declaration;
    use super::super::settings::Vars;
    use super::*;
    use crate::policy::List;
    use std::ffi::OsStr;
    use std::path::Path;
    use std::process::{Command as Process, Output};

    /// Runs `script` with bash, the startup file declaring to a file of `dir` instead
    /// of /dev/fusebox, with `env` (and nothing else of the SANDBOX_* kind).
    fn bash(dir: &Path, script: &str, env: &[(&str, &str)]) -> (Output, Vec<Vars>) {
        let control = dir.join("control");
        std::fs::write(&control, b"").unwrap();
        let rc = dir.join("rc");
        let text = BASHRC.replace("/dev/fusebox", control.to_str().unwrap());
        std::fs::write(&rc, text).unwrap();
        let mut cmd = Process::new("bash");
        cmd.arg("-c").arg(script).env("BASH_ENV", &rc);
        for name in super::super::settings::NAMES {
            cmd.env_remove(name);
        }
        cmd.envs(env.iter().copied());
        let out = cmd.output().unwrap();
        let written = std::fs::read(&control).unwrap();
        (out, declarations_in(&written))
    }

    /// The declarations written one after the other in `stream`.
    fn declarations_in(mut stream: &[u8]) -> Vec<Vars> {
        let mut all = Vec::new();
        while !stream.is_empty() {
            let bad = |stream: &[u8]| -> ! { panic!("{:?}", String::from_utf8_lossy(stream)) };
            let len = declaration::complete(stream).unwrap_or_else(|| bad(stream));
            all.push(declaration::parse(&stream[..len]).unwrap_or_else(|_| bad(stream)));
            stream = &stream[len..];
        }
        all
    }

    const ARMED: (&str, &str) = ("SANDBOX_ACTIVE", "armedandready");

    fn write_list(vars: &Vars) -> Option<&OsStr> {
        vars.list(List::Write)
    }

    #[test]
    fn nothing_is_declared_while_nothing_changes() {
        let dir = tempfile::tempdir().unwrap();
        let (out, declared) = bash(
            dir.path(),
            "for i in 1 2 3; do x=$i; done; echo ok",
            &[ARMED, ("SANDBOX_WRITE", "/w")],
        );
        assert_eq!(out.stdout, b"ok\n");
        assert!(out.stderr.is_empty(), "{out:?}");
        assert!(declared.is_empty(), "{declared:?}");
    }

    /// Portage's addwrite is a function; the change is declared before the next
    /// command, by the shell; a subshell declares its own; a command substitution too.
    #[test]
    fn changes_are_declared_before_the_next_command() {
        let dir = tempfile::tempdir().unwrap();
        let script = r#"
addwrite() { export SANDBOX_WRITE="${SANDBOX_WRITE}:$1"; }
addwrite /x
true
( export SANDBOX_WRITE=/sub; true )
v=$(export SANDBOX_ON=0; echo cs)
echo "$v"
"#;
        let (out, declared) = bash(dir.path(), script, &[ARMED, ("SANDBOX_WRITE", "/w")]);
        assert_eq!(out.stdout, b"cs\n");
        assert!(out.stderr.is_empty(), "{out:?}");
        let writes: Vec<_> = declared.iter().map(write_list).collect();
        assert_eq!(
            writes,
            [
                Some(OsStr::new("/w:/x")),
                Some(OsStr::new("/sub")),
                Some(OsStr::new("/w:/x")),
            ]
        );
        let last = &declared[2];
        assert_eq!(last.on.as_deref(), Some(OsStr::new("0")));
        assert_eq!(last.active.as_deref(), Some(OsStr::new("armedandready")));
        // Unset variables are not declared (they keep their values).
        assert_eq!(last.list(List::Read), None);
    }

    /// set -eu, set -x, set -C, extdebug, $?, $_, PIPESTATUS: the script sees none of
    /// the trap.
    #[test]
    fn scripts_do_not_notice_it() {
        let dir = tempfile::tempdir().unwrap();
        let script = r#"
set -euC
shopt -s extdebug
false | true; echo "pipestatus ${PIPESTATUS[*]}"
echo a b; echo "underscore $_"
(exit 3) || echo "status $?"
export SANDBOX_ON=0
echo "ran after the change"
set -x
export SANDBOX_WRITE=/traced
: traced
set +x
echo end
"#;
        let (out, declared) = bash(dir.path(), script, &[ARMED]);
        let stdout = String::from_utf8(out.stdout.clone()).unwrap();
        assert_eq!(
            stdout,
            "pipestatus 1 0\na b\nunderscore b\nstatus 3\nran after the change\nend\n"
        );
        assert!(out.status.success(), "{out:?}");
        let stderr = String::from_utf8(out.stderr.clone()).unwrap();
        assert_eq!(
            stderr,
            "+ export SANDBOX_WRITE=/traced\n+ SANDBOX_WRITE=/traced\n+ : traced\n+ set +x\n"
        );
        assert_eq!(declared.len(), 2, "{declared:?}");
    }

    /// Portage's __save_ebuild_env unsets every `___*` function and variable in its
    /// subshell, under extdebug and with SANDBOX_* changes; nothing may be skipped,
    /// and the main shell goes on declaring.
    #[test]
    fn portage_clearing_its_namespace_skips_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let script = r#"
set -u
shopt -s extdebug
save() (
    while IFS=' ' read -r _ _ REPLY; do
        if [[ ${REPLY} == ___* ]]; then unset -f "${REPLY}"; fi
    done < <(declare -F)
    unset -v "${!___@}"
    export SANDBOX_WRITE=/in-the-subshell
    echo declare-p-ran
)
save
export SANDBOX_ON=0
echo after
"#;
        let (out, declared) = bash(dir.path(), script, &[ARMED]);
        assert_eq!(out.stdout, b"declare-p-ran\nafter\n", "{out:?}");
        assert!(out.status.success(), "{out:?}");
        assert!(out.stderr.is_empty(), "{out:?}");
        assert_eq!(declared.len(), 1, "{declared:?}");
        assert_eq!(write_list(&declared[0]), None);
    }

    /// What Portage's pre_source_sandbox does with PORTAGE_DEBUG=1.
    #[test]
    fn a_debug_switch_is_declared() {
        let dir = tempfile::tempdir().unwrap();
        let script = "export SANDBOX_DEBUG=1\ntrue\n";
        let (out, declared) = bash(dir.path(), script, &[ARMED]);
        assert!(out.status.success(), "{out:?}");
        let [vars] = declared.as_slice() else {
            panic!("{declared:?}")
        };
        assert_eq!(vars.debug.as_deref(), Some(OsStr::new("1")));
    }

    #[test]
    fn it_is_served_at_the_root() {
        assert_eq!(path(), "/.fusebox-bashrc");
    }
}
