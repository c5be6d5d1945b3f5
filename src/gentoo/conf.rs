//! `${EPREFIX}/etc/sandbox.conf` and `${EPREFIX}/etc/sandbox.d/*`, read as Gentoo's
//! sandbox reads them, with built-in copies of what Gentoo installs there so that
//! fusebox behaves the same on a system that has none of these files.
//!
//! The format is Gentoo's `rc_get_cnf_entry` (sandbox-2.x, `libsbutil/src/config.c`):
//!
//! - one `KEY=value` a line; spaces and tabs before KEY are skipped; KEY is everything
//!   before the first `=` and must equal the wanted name exactly (so `#KEY=…` and
//!   `export KEY=…` are never read);
//! - the value is the first non-empty piece of the rest of the line split at `"` and
//!   `'`: `KEY="a:b"`, `KEY='a:b'` and `KEY=a:b` all give `a:b`, and whatever follows
//!   a closing quote is ignored;
//! - for the four access lists (`SANDBOX_READ`, …) every assignment *adds*: the values
//!   are joined with `:` in file order. For the other keys the last assignment wins,
//!   and an empty one (`KEY=""`) unsets.
//!
//! Which files count (`src/environ.c`, `setup_access_var`): sandbox.conf always adds
//! to an access list; the files of sandbox.d — regular files (or links to them) whose
//! names do not start with `.`, in byte order of their names — add only to a list the
//! environment does not set. The non-access keys (`SANDBOX_VERBOSE`, …) come from
//! sandbox.conf alone, and only when the environment does not set them.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use crate::policy::List;

/// The keys of the four access lists, as Gentoo names them.
pub fn list_key(list: List) -> &'static str {
    match list {
        List::Read => "SANDBOX_READ",
        List::Write => "SANDBOX_WRITE",
        List::Predict => "SANDBOX_PREDICT",
        List::Deny => "SANDBOX_DENY",
    }
}

/// What Gentoo's sandbox.conf grants every sandbox: the fd directories, the common
/// device nodes, the terminals, /dev/shm, the temporary directories and the shell's
/// history. Portage relies on these and sets none of them itself. The file is installed
/// unchanged under Prefix (its paths are not prefixed).
const BUILTIN_SANDBOX_CONF: &str = "\
SANDBOX_WRITE=\"/dev/fd:/proc/self/fd\"
SANDBOX_WRITE=\"/dev/zero:/dev/null:/dev/full\"
SANDBOX_WRITE=\"/dev/console:/dev/tty:/dev/vc/:/dev/pty:/dev/tts\"
SANDBOX_WRITE=\"/dev/ptmx:/dev/pts/:/dev/shm\"
SANDBOX_WRITE=\"/tmp/:/var/tmp/:/usr/tmp/\"
SANDBOX_WRITE=\"${HOME}/.bash_history\"
";

/// The name of the file Gentoo installs in sandbox.d (`etc/sandbox.d/00default.in`).
pub const DEFAULT_CONFD_NAME: &str = "00default";

/// What Gentoo's sandbox.d/00default holds, for an install whose `--prefix` is
/// `usr_prefix` (`${EPREFIX}/usr`): everything readable, the interactive shell's
/// directory writable, the `conftest`/`cf` scratch names of old configure scripts
/// writable, and writes under `$HOME` predicted (refused without a violation).
pub fn builtin_00default(usr_prefix: &Path) -> String {
    let p = usr_prefix.to_string_lossy();
    let p = p.trim_end_matches('/');
    let scratch: Vec<String> = ["conftest", "cf"]
        .iter()
        .flat_map(|name| {
            ["tmp", "lib", "lib32", "lib64"]
                .iter()
                .map(move |dir| format!("{p}/{dir}/{name}"))
        })
        .collect();
    format!(
        "SANDBOX_READ=\"/\"\n\
         SANDBOX_WRITE=\"${{SANDBOX_WORKDIR}}\"\n\
         SANDBOX_WRITE=\"{}\"\n\
         SANDBOX_PREDICT=\"${{HOME}}\"\n",
        scratch.join(":")
    )
}

/// The configuration files' contents: sandbox.conf and the files of sandbox.d, in the
/// order Gentoo reads them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConfFiles {
    /// sandbox.conf.
    pub conf: Vec<u8>,
    /// The files of sandbox.d: (name, contents), sorted by name.
    pub confd: Vec<(OsString, Vec<u8>)>,
}

impl ConfFiles {
    /// Reads `etc/sandbox.conf` and `etc/sandbox.d/*`; what is missing is replaced by
    /// the built-in copy of what Gentoo installs (sandbox.conf, sandbox.d/00default
    /// with `usr_prefix` as its prefix). Unreadable files are skipped, as Gentoo does.
    pub fn read(etc: &Path, usr_prefix: &Path) -> ConfFiles {
        let conf = match std::fs::read(etc.join("sandbox.conf")) {
            Ok(text) => text,
            Err(_) => BUILTIN_SANDBOX_CONF.as_bytes().to_vec(),
        };
        let mut confd = Vec::new();
        if let Ok(dir) = std::fs::read_dir(etc.join("sandbox.d")) {
            for entry in dir.flatten() {
                let name = entry.file_name();
                // std::fs::metadata follows a symlink, as Gentoo's rc_is_file does.
                let is_file = std::fs::metadata(entry.path()).is_ok_and(|m| m.is_file());
                if !is_file || name.as_bytes().starts_with(b".") {
                    continue;
                }
                if let Ok(text) = std::fs::read(entry.path()) {
                    confd.push((name, text));
                }
            }
        }
        ConfFiles::with_defaults(conf, confd, usr_prefix)
    }

    /// `conf` and `confd` as read, with the built-in 00default when sandbox.d has no
    /// file of that name, sorted by name.
    pub fn with_defaults(
        conf: Vec<u8>,
        mut confd: Vec<(OsString, Vec<u8>)>,
        usr_prefix: &Path,
    ) -> ConfFiles {
        if !confd.iter().any(|(name, _)| name == DEFAULT_CONFD_NAME) {
            confd.push((
                DEFAULT_CONFD_NAME.into(),
                builtin_00default(usr_prefix).into_bytes(),
            ));
        }
        confd.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        ConfFiles { conf, confd }
    }

    /// Only the built-in copies: what an install without configuration files reads.
    pub fn builtin(usr_prefix: &Path) -> ConfFiles {
        ConfFiles::with_defaults(
            BUILTIN_SANDBOX_CONF.as_bytes().to_vec(),
            Vec::new(),
            usr_prefix,
        )
    }

    /// A non-access key's value from sandbox.conf (the last assignment), if any.
    pub fn setting(&self, key: &str) -> Option<OsString> {
        last_value(&self.conf, key)
    }

    /// A key of fusebox's own (`FUSEBOX_OPTS`): the last assignment in sandbox.conf
    /// and then the files of sandbox.d, so that it can live in a file of its own there.
    pub fn fusebox_setting(&self, key: &str) -> Option<OsString> {
        std::iter::once(&self.conf)
            .chain(self.confd.iter().map(|(_, text)| text))
            .filter_map(|text| assignments(text, key).last())
            .next_back()
            .flatten()
            .map(|v| OsStr::from_bytes(v).to_os_string())
    }

    /// What sandbox.conf adds to `list`, joined with `:` (`None` when it names none).
    pub fn conf_list(&self, list: List) -> Option<OsString> {
        joined_values(&self.conf, list_key(list))
    }

    /// What the files of sandbox.d add to `list`, joined with `:` in file order.
    pub fn confd_list(&self, list: List) -> Option<OsString> {
        let parts: Vec<OsString> = self
            .confd
            .iter()
            .filter_map(|(_, text)| joined_values(text, list_key(list)))
            .collect();
        join_colon(parts)
    }
}

/// The value of each assignment to `key` in `text`, in order; `None` for an
/// assignment with an empty value.
fn assignments<'a>(text: &'a [u8], key: &'a str) -> impl Iterator<Item = Option<&'a [u8]>> + 'a {
    text.split(|&b| b == b'\n').filter_map(move |line| {
        let line = trim_start_blanks(line);
        let eq = line.iter().position(|&b| b == b'=');
        let (name, rest) = match eq {
            Some(i) => (&line[..i], &line[i + 1..]),
            None => (line, &[][..]),
        };
        if name != key.as_bytes() {
            return None;
        }
        Some(
            rest.split(|&b| b == b'"' || b == b'\'')
                .find(|piece| !piece.is_empty()),
        )
    })
}

fn trim_start_blanks(line: &[u8]) -> &[u8] {
    let start = line
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .unwrap_or(line.len());
    &line[start..]
}

/// The last assignment wins; an empty one unsets.
fn last_value(text: &[u8], key: &str) -> Option<OsString> {
    assignments(text, key)
        .last()
        .flatten()
        .map(|v| OsStr::from_bytes(v).to_os_string())
}

/// Every non-empty assignment, joined with `:`.
fn joined_values(text: &[u8], key: &str) -> Option<OsString> {
    let parts: Vec<OsString> = assignments(text, key)
        .flatten()
        .map(|v| OsStr::from_bytes(v).to_os_string())
        .collect();
    join_colon(parts)
}

/// `parts` joined with `:`, `None` when there are none.
pub fn join_colon(parts: Vec<OsString>) -> Option<OsString> {
    if parts.is_empty() {
        return None;
    }
    let mut out = Vec::new();
    for (i, part) in parts.into_iter().enumerate() {
        if i > 0 {
            out.push(b':');
        }
        out.extend_from_slice(part.as_bytes());
    }
    Some(OsString::from_vec(out))
}

/// Replaces each `${NAME}` in `value` by the variable's value (empty when unset), as
/// Gentoo's `subst_env_vars` does: only the braced form, no nesting, no commands; a `$`
/// not followed by `{`, or with no `}` after it, stays as it is (Gentoo's loop loses the
/// text before such a `$`, a slip not copied here).
pub fn substitute(value: &OsStr, lookup: impl Fn(&OsStr) -> Option<OsString>) -> OsString {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut rest = bytes;
    while let Some(dollar) = rest.iter().position(|&b| b == b'$') {
        let after = &rest[dollar..];
        let close = after.iter().position(|&b| b == b'}');
        match close {
            Some(close) if after.get(1) == Some(&b'{') => {
                out.extend_from_slice(&rest[..dollar]);
                let name = &after[2..close];
                if !name.is_empty() {
                    if let Some(v) = lookup(OsStr::from_bytes(name)) {
                        out.extend_from_slice(v.as_bytes());
                    }
                }
                rest = &after[close + 1..];
            }
            _ => {
                out.extend_from_slice(&rest[..=dollar]);
                rest = &rest[dollar + 1..];
            }
        }
    }
    out.extend_from_slice(rest);
    OsString::from_vec(out)
}

/// `${EPREFIX}` from the path `sandbox` was run as: `P/usr/bin/sandbox` gives `P`
/// (`/` for `/usr/bin/sandbox`). Gentoo's sandbox has its configuration directory
/// compiled in (`--sysconfdir=${EPREFIX}/etc`); fusebox finds it the way a relocatable
/// install would, from where its `sandbox` link lives. `None` for any other path.
pub fn eprefix_of(invoked: &Path) -> Option<PathBuf> {
    let bin = invoked.parent()?;
    let usr = bin.parent()?;
    let prefix = usr.parent()?;
    let named = |p: &Path, name: &str| p.file_name() == Some(OsStr::new(name));
    (named(bin, "bin") && named(usr, "usr") && invoked.is_absolute()).then(|| prefix.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(s: &str) -> OsString {
        OsString::from(s)
    }

    #[test]
    fn quoted_and_bare_values_read_alike() {
        let text = b"A=\"x:y\"\n  B='z'\n\tC=bare value\nD=\"q\" # trailing\n";
        assert_eq!(last_value(text, "A"), Some(os("x:y")));
        assert_eq!(last_value(text, "B"), Some(os("z")));
        assert_eq!(last_value(text, "C"), Some(os("bare value")));
        assert_eq!(last_value(text, "D"), Some(os("q")));
    }

    #[test]
    fn keys_match_exactly() {
        let text = b"#SANDBOX_VERBOSE=\"yes\"\nexport SANDBOX_DEBUG=1\nSANDBOX_VERBOSE =no\n";
        assert_eq!(last_value(text, "SANDBOX_VERBOSE"), None);
        assert_eq!(last_value(text, "SANDBOX_DEBUG"), None);
    }

    #[test]
    fn settings_take_the_last_assignment_and_empty_unsets() {
        assert_eq!(last_value(b"V=\"1\"\nV=\"0\"\n", "V"), Some(os("0")));
        assert_eq!(last_value(b"V=\"1\"\nV=\"\"\n", "V"), None);
        assert_eq!(last_value(b"V=\"\"\nV=\"yes\"\n", "V"), Some(os("yes")));
    }

    #[test]
    fn lists_stack_and_skip_empty_assignments() {
        let text = b"W=\"/a:/b\"\nW=\"\"\n# W=\"/no\"\nW='/c'\n";
        assert_eq!(joined_values(text, "W"), Some(os("/a:/b:/c")));
        assert_eq!(joined_values(text, "R"), None);
    }

    #[test]
    fn the_builtin_conf_grants_devices_ttys_shm_fds_and_temp_dirs() {
        let files = ConfFiles::builtin(Path::new("/usr"));
        let write = files.conf_list(List::Write).unwrap();
        let write = write.to_str().unwrap();
        for path in [
            "/dev/null",
            "/dev/zero",
            "/dev/full",
            "/dev/tty",
            "/dev/pts/",
            "/dev/ptmx",
            "/dev/shm",
            "/dev/fd",
            "/proc/self/fd",
            "/tmp/",
            "/var/tmp/",
            "${HOME}/.bash_history",
        ] {
            assert!(write.split(':').any(|p| p == path), "{path} in {write}");
        }
        assert_eq!(files.conf_list(List::Read), None);
        assert_eq!(files.setting("SANDBOX_VERBOSE"), None);
    }

    #[test]
    fn the_builtin_00default_is_prefixed() {
        let files = ConfFiles::builtin(Path::new("/home/me/gentoo/usr"));
        assert_eq!(files.confd_list(List::Read), Some(os("/")));
        assert_eq!(files.confd_list(List::Predict), Some(os("${HOME}")));
        let write = files.confd_list(List::Write).unwrap();
        let write = write.to_str().unwrap();
        assert!(write.starts_with("${SANDBOX_WORKDIR}:/home/me/gentoo/usr/tmp/conftest:"));
        assert!(write.ends_with(":/home/me/gentoo/usr/lib64/cf"), "{write}");
        assert_eq!(write.split(':').count(), 9);
    }

    #[test]
    fn confd_files_are_read_in_name_order_and_an_installed_00default_replaces_ours() {
        let confd = vec![
            (os("50local"), b"SANDBOX_WRITE=\"/opt/b\"\n".to_vec()),
            (os("10ccache"), b"SANDBOX_WRITE=\"/opt/a\"\n".to_vec()),
            (os("00default"), b"SANDBOX_READ=\"/usr\"\n".to_vec()),
        ];
        let files = ConfFiles::with_defaults(Vec::new(), confd, Path::new("/usr"));
        assert_eq!(files.confd_list(List::Write), Some(os("/opt/a:/opt/b")));
        assert_eq!(files.confd_list(List::Read), Some(os("/usr")));
        let confd = vec![(os("10ccache"), b"SANDBOX_WRITE=\"/opt/a\"\n".to_vec())];
        let files = ConfFiles::with_defaults(Vec::new(), confd, Path::new("/usr"));
        let write = files.confd_list(List::Write).unwrap();
        assert!(write.to_str().unwrap().starts_with("${SANDBOX_WORKDIR}:"));
        assert!(write.to_str().unwrap().ends_with(":/opt/a"));
    }

    #[test]
    fn fusebox_settings_may_live_in_sandbox_d() {
        let confd = vec![
            (os("50fusebox"), b"FUSEBOX_OPTS=\"--net none\"\n".to_vec()),
            (os("60other"), b"SANDBOX_WRITE=\"/x\"\n".to_vec()),
        ];
        let files =
            ConfFiles::with_defaults(b"FUSEBOX_OPTS=\"-v\"\n".to_vec(), confd, Path::new("/usr"));
        assert_eq!(
            files.fusebox_setting("FUSEBOX_OPTS"),
            Some(os("--net none"))
        );
        // Gentoo's own keys are read from sandbox.conf alone.
        assert_eq!(files.setting("FUSEBOX_OPTS"), Some(os("-v")));
        assert_eq!(
            ConfFiles::builtin(Path::new("/usr")).fusebox_setting("FUSEBOX_OPTS"),
            None
        );
    }

    #[test]
    fn files_on_disk_are_read_hidden_ones_skipped() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("sandbox.conf"), "SANDBOX_VERBOSE=\"no\"\n").unwrap();
        std::fs::create_dir(dir.path().join("sandbox.d")).unwrap();
        let d = dir.path().join("sandbox.d");
        std::fs::write(d.join("20x"), "SANDBOX_DENY=\"/secret\"\n").unwrap();
        std::fs::write(d.join(".hidden"), "SANDBOX_DENY=\"/hidden\"\n").unwrap();
        std::fs::create_dir(d.join("30dir")).unwrap();
        let files = ConfFiles::read(dir.path(), Path::new("/usr"));
        assert_eq!(files.setting("SANDBOX_VERBOSE"), Some(os("no")));
        // The installed sandbox.conf replaces the built-in one entirely.
        assert_eq!(files.conf_list(List::Write), None);
        assert_eq!(files.confd_list(List::Deny), Some(os("/secret")));
        let names: Vec<_> = files.confd.iter().map(|(n, _)| n.clone()).collect();
        assert_eq!(names, [os("00default"), os("20x")]);

        let empty = tempfile::tempdir().unwrap();
        assert_eq!(
            ConfFiles::read(empty.path(), Path::new("/usr")),
            ConfFiles::builtin(Path::new("/usr"))
        );
    }

    #[test]
    fn substitution_is_braced_only() {
        let env = |name: &OsStr| match name.to_str() {
            Some("HOME") => Some(os("/home/me")),
            _ => None,
        };
        let sub = |s: &str| substitute(OsStr::new(s), env);
        assert_eq!(sub("${HOME}/.bash_history"), "/home/me/.bash_history");
        assert_eq!(sub("${UNSET}:/x"), ":/x");
        assert_eq!(sub("$HOME:${HOME"), "$HOME:${HOME");
        assert_eq!(sub("a${}b"), "ab");
        assert_eq!(sub("$${HOME}"), "$/home/me");
    }

    #[test]
    fn eprefix_comes_from_the_link_s_place() {
        assert_eq!(
            eprefix_of(Path::new("/home/me/gentoo/usr/bin/sandbox")),
            Some(PathBuf::from("/home/me/gentoo"))
        );
        assert_eq!(
            eprefix_of(Path::new("/usr/bin/sandbox")),
            Some(PathBuf::from("/"))
        );
        assert_eq!(eprefix_of(Path::new("/opt/bin/sandbox")), None);
        assert_eq!(eprefix_of(Path::new("sandbox")), None);
        assert_eq!(eprefix_of(Path::new("usr/bin/sandbox")), None);
    }
}
