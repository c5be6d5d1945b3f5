//! How fusebox was asked to be Gentoo's sandbox: by its name, or by `--gentoo`.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

use clap::Parser;

use super::conf;
use crate::cli::Args;

/// The name that makes fusebox behave as Gentoo's sandbox when it is run under it.
pub const SANDBOX_NAME: &str = "sandbox";

/// How fusebox was asked to be Gentoo's sandbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invocation {
    /// The path it was run as: `${EPREFIX}/usr/bin/sandbox` tells EPREFIX.
    pub invoked_as: PathBuf,
    /// fusebox options given before `--gentoo`.
    pub fusebox_args: Vec<OsString>,
    /// sandbox's own arguments.
    pub sandbox_args: Vec<OsString>,
}

impl Invocation {
    /// Gentoo mode, if asked for: the file executed (`executed`, see
    /// [`crate::sys::exec_filename`]) or argv[0] is named `sandbox`, or `--gentoo` comes
    /// after fusebox options only (everything after it is sandbox's). The executed file decides
    /// for Portage, which runs `${EPREFIX}/usr/bin/sandbox` with argv[0]
    /// `[cat/pkg-1] sandbox`.
    pub fn detect(argv: &[OsString], executed: Option<&Path>) -> Option<Invocation> {
        let (argv0, rest) = argv.split_first()?;
        let named = |p: &Path| p.file_name() == Some(OsStr::new(SANDBOX_NAME));
        let invoked_as = executed.map_or_else(|| PathBuf::from(argv0), Path::to_path_buf);
        if named(&invoked_as) || named(Path::new(argv0)) {
            return Some(Invocation {
                invoked_as,
                fusebox_args: Vec::new(),
                sandbox_args: rest.to_vec(),
            });
        }
        let at = rest
            .iter()
            .take_while(|a| a.as_os_str() != "--")
            .position(|a| a == "--gentoo")?;
        // `fusebox-run make --gentoo` runs `make --gentoo`: a command came first.
        let before =
            std::iter::once(OsString::from("fusebox-run")).chain(rest[..=at].iter().cloned());
        if Args::try_parse_from(before).is_ok_and(|args| !args.command.is_empty()) {
            return None;
        }
        Some(Invocation {
            invoked_as,
            fusebox_args: rest[..at].to_vec(),
            sandbox_args: rest[at + 1..].to_vec(),
        })
    }

    /// `${EPREFIX}/etc`: from the link's place when fusebox runs as
    /// `EPREFIX/usr/bin/sandbox`, else `/etc`.
    pub fn etc_dir(&self) -> PathBuf {
        self.eprefix().join("etc")
    }

    /// `${EPREFIX}/usr`, the prefix Gentoo's 00default is made with.
    pub fn usr_dir(&self) -> PathBuf {
        self.eprefix().join("usr")
    }

    fn eprefix(&self) -> PathBuf {
        conf::eprefix_of(&self.invoked_as).unwrap_or_else(|| PathBuf::from("/"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    fn detection_by_name_or_by_flag() {
        let inv = Invocation::detect(&os(&["/p/usr/bin/sandbox", "-c", "x"]), None).unwrap();
        assert_eq!(inv.sandbox_args, os(&["-c", "x"]));
        assert_eq!(inv.etc_dir(), Path::new("/p/etc"));
        assert_eq!(inv.usr_dir(), Path::new("/p/usr"));
        let inv = Invocation::detect(&os(&["sandbox"]), None).unwrap();
        assert_eq!(inv.etc_dir(), Path::new("/etc"));
        let argv = os(&["fusebox-run", "--net", "none", "--gentoo", "-V"]);
        let inv = Invocation::detect(&argv, Some(Path::new("/bin/fusebox-run"))).unwrap();
        assert_eq!(inv.fusebox_args, os(&["--net", "none"]));
        assert_eq!(inv.sandbox_args, os(&["-V"]));
        assert_eq!(
            Invocation::detect(&os(&["fusebox-run", "make"]), None),
            None
        );
        assert_eq!(
            Invocation::detect(&os(&["fusebox-run", "--", "x", "--gentoo"]), None),
            None
        );
    }

    /// Portage runs the link with argv[0] `[cat/pkg-1] sandbox`: the executed file counts.
    #[test]
    fn portage_s_argv0_does_not_hide_the_link() {
        let argv = os(&[
            "[app-misc/foo-1] sandbox",
            "/p/usr/lib/portage/bin/ebuild.sh unpack",
        ]);
        let inv = Invocation::detect(&argv, Some(Path::new("/p/usr/bin/sandbox"))).unwrap();
        assert_eq!(
            inv.sandbox_args,
            os(&["/p/usr/lib/portage/bin/ebuild.sh unpack"])
        );
        assert_eq!(inv.etc_dir(), Path::new("/p/etc"));
        let executed = Path::new("/home/me/bin/fusebox-run");
        assert_eq!(Invocation::detect(&argv, Some(executed)), None);
    }
}
