//! Real Portage under fusebox: the issue's acceptance cases.
//!
//! Portage 3.0.83 from its sdist is installed Prefix-style into a directory of the
//! test user's (`scripts/portage-prefix.sh --install-only`, once per mount helper and
//! test process), `${EPREFIX}/usr/bin/sandbox` is a link to the fusebox-run under
//! test, and each case runs `python3 ${EPREFIX}/usr/bin/ebuild …/X-1.ebuild clean
//! install` with `FEATURES=sandbox` on an ebuild of a tiny repository written here:
//!
//! | ebuild | src_compile | expected |
//! |---|---|---|
//! | `app-misc/clean-1` | compiles a C file, asks `has_version` (Portage's IPC) | installed, empty log |
//! | `app-misc/bad-cmd-1` | `touch` outside | phase fails, one log block |
//! | `app-misc/bad-redir-1` | `echo x >` outside, in the ebuild's shell | phase fails, one log block |
//! | `app-misc/addwrite-1` | `addwrite` then writes; `addpredict` then writes | installed, empty log |
//! | `app-misc/static-1` | a static busybox `touch`es outside | phase fails, one log block |
//! | `app-misc/netcheck-1` | lists the network interfaces it sees | only `lo` with `--net none` |
//!
//! "Outside" is a directory under the test user's real home: writable on the host,
//! in none of the sandbox's lists (Portage sets the phases' `HOME` to
//! `${PORTAGE_BUILDDIR}/homedir`). Its path reaches the ebuilds as a make.conf
//! variable: Portage passes make.conf to the ebuild's shell, not to `sandbox`.
//!
//! The whole Portage install, the tiny repository and the "outside" directory live in
//! one directory under `$HOME`, so that neither Gentoo's default write list (`/tmp`,
//! `/var/tmp`) nor fusebox's covers it: the build dir is writable only because
//! ebuild.sh's own `addwrite "${PORTAGE_TMPDIR}/portage"` reaches fusebox. It is
//! removed when the test process exits.
//!
//! The sdist comes from `FUSEBOX_PORTAGE_SDIST` (CI downloads it once, as root, and
//! scripts/test.sh stages it); without it the script downloads it into
//! `~/.cache/fusebox-portage`. Installing needs meson, ninja and python3 (pip only to
//! download); the static case needs Debian's busybox-static.
//!
//! Here, the install the cases share (report/portage.rs uses it too); the cases are in
//! cases.rs.

mod cases;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use crate::common::*;

/// Hang guard of one `ebuild … clean install` (a few seconds when all is well).
const EBUILD_TIMEOUT: Duration = Duration::from_secs(300);

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// One Portage install, with its repository and the directory its ebuilds try to
/// write to.
pub(crate) struct Prefix {
    /// `EPREFIX`: Portage, its configuration and its build directories.
    pub(crate) eprefix: PathBuf,
    /// The repository `fbtest`.
    pub(crate) repo: PathBuf,
    /// Writable on the host, in none of the sandbox's lists (`FBTEST_OUTSIDE`).
    outside: PathBuf,
    /// What `python3 ${EPREFIX}/usr/bin/ebuild` needs as `PYTHONPATH`.
    pub(crate) pythonpath: String,
}

/// The install for helper `h`, made once per test process (installs are serialised:
/// they share the sdist's download cache). A failed install fails every Portage test
/// of that helper with the same message, at once.
pub(crate) fn prefix(h: Helper) -> &'static Prefix {
    static DIRECT: OnceLock<Result<Prefix, String>> = OnceLock::new();
    static FUSERMOUNT3: OnceLock<Result<Prefix, String>> = OnceLock::new();
    static INSTALLING: Mutex<()> = Mutex::new(());
    let cell = match h {
        Helper::Direct => &DIRECT,
        Helper::Fusermount3 => &FUSERMOUNT3,
    };
    let made = cell.get_or_init(|| {
        let _one_at_a_time = INSTALLING.lock().unwrap_or_else(|e| e.into_inner());
        std::panic::catch_unwind(|| install(h)).map_err(|e| {
            e.downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default()
        })
    });
    match made {
        Ok(p) => p,
        Err(e) => panic!(
            "installing Portage for --mount-helper {} failed:\n{e}",
            h.name()
        ),
    }
}

/// Directories to remove when the test process exits (the prefixes live in statics,
/// which are never dropped).
static TO_REMOVE: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

extern "C" fn remove_at_exit() {
    let dirs = std::mem::take(&mut *TO_REMOVE.lock().unwrap_or_else(|e| e.into_inner()));
    for d in dirs {
        let _ = std::fs::remove_dir_all(d);
    }
}

fn remove_when_the_process_exits(dir: PathBuf) {
    static REGISTERED: OnceLock<()> = OnceLock::new();
    REGISTERED.get_or_init(|| {
        // SAFETY: atexit with a plain extern "C" function that never unwinds
        // (it ignores every error).
        let r = unsafe { libc::atexit(remove_at_exit) };
        assert_eq!(r, 0, "atexit failed");
    });
    TO_REMOVE
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(dir);
}

/// The output of a host command, which must succeed.
fn host_output(args: &[&str]) -> String {
    let out = native(args, Path::new("/"));
    assert_eq!(out.code(), Some(0), "{out}");
    out.stdout.trim().to_string()
}

fn install(h: Helper) -> Prefix {
    for (tool, package) in [("meson", "meson"), ("ninja", "ninja-build")] {
        assert!(
            have(tool),
            "`{tool}` is needed to install Portage: install the `{package}` package"
        );
    }
    let root = tempfile::Builder::new()
        .prefix("fusebox-e2e-portage.")
        .tempdir_in(home())
        .expect("a directory under $HOME")
        .keep();
    remove_when_the_process_exits(root.clone());
    let eprefix = root.join("prefix");
    let outside = root.join("outside");
    for d in ["addwrite", "addpredict"] {
        std::fs::create_dir_all(outside.join(d)).unwrap();
    }

    // Portage itself, its bin/bash and bin/mv, the repository's profile and eclass.
    let mut c = Command::new("bash");
    c.arg(scripts().join("portage-prefix.sh"))
        .arg("--install-only")
        .arg(&eprefix);
    match std::env::var_os("FUSEBOX_PORTAGE_SDIST") {
        Some(sdist) if !sdist.is_empty() => {
            c.env("PORTAGE_SDIST", sdist);
        }
        _ => {
            c.env_remove("PORTAGE_SDIST");
        }
    }
    let out = spawn_command(c, false, Duration::from_secs(600)).wait();
    assert_eq!(
        out.code(),
        Some(0),
        "portage-prefix.sh --install-only\n{out}"
    );
    let pythonpath = out
        .stdout
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("PYTHONPATH="))
        .unwrap_or_else(|| panic!("no PYTHONPATH= line\n{out}"))
        .to_string();

    // The sandbox: fusebox, with this helper (Portage passes no options of ours, so
    // they come from sandbox.d), and for one helper without the network, as a Prefix
    // user would isolate builds.
    std::os::unix::fs::symlink(bin(), eprefix.join("usr/bin/sandbox")).unwrap();
    std::fs::create_dir_all(eprefix.join("etc/sandbox.d")).unwrap();
    std::fs::write(
        eprefix.join("etc/sandbox.d/50fusebox"),
        format!(
            // One footprint report per package (issue 15, tests/e2e/report/portage.rs).
            "FUSEBOX_OPTS=\"--mount-helper {}{} --report fusebox-report.json\"\n",
            h.name(),
            if net_none(h) { " --net none" } else { "" }
        ),
    )
    .unwrap();

    let busybox = find_tool(&["/bin/busybox", "/usr/bin/busybox"], "busybox-static");
    std::fs::write(
        eprefix.join("etc/portage/make.conf"),
        format!(
            r#"FEATURES="sandbox -usersandbox -userpriv -usersync -userfetch -ipc-sandbox -network-sandbox -pid-sandbox -mount-sandbox -news"
PORTAGE_USERNAME="{user}"
PORTAGE_GRPNAME="{group}"
PORTAGE_TMPDIR="{p}/var/tmp"
DISTDIR="{p}/var/cache/distfiles"
PKGDIR="{p}/var/cache/binpkgs"
PORTAGE_LOGDIR=""
NOCOLOR="true"
FBTEST_OUTSIDE="{outside}"
FBTEST_BUSYBOX="{busybox}"
"#,
            user = host_output(&["id", "-un"]),
            group = host_output(&["id", "-gn"]),
            p = s(&eprefix),
            outside = s(&outside),
        ),
    )
    .unwrap();

    crate::report::portage::install_fake_library(&eprefix);
    let repo = eprefix.join("var/db/repos/fbtest");
    for (name, body) in EBUILDS.iter().chain(crate::report::portage::EBUILDS) {
        let dir = repo.join("app-misc").join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join(format!("{name}-1.ebuild")),
            format!("{EBUILD_HEADER}{body}"),
        )
        .unwrap();
    }
    Prefix {
        eprefix,
        repo,
        outside,
        pythonpath,
    }
}

const EBUILD_HEADER: &str = r#"EAPI=8
inherit fbtest
DESCRIPTION="fusebox's test package"
HOMEPAGE="https://example.invalid/"
LICENSE="MIT"
SLOT="0"
KEYWORDS="~amd64 ~arm64"
S=${WORKDIR}

"#;

/// The test ebuilds: (name, everything after the header). The violating ones do not
/// `die`: the phase must fail because of the sandbox alone.
const EBUILDS: &[(&str, &str)] = &[
    (
        "clean",
        r#"src_unpack() {
	printf '#include <stdio.h>\nint main(void) { puts("%s"); return 0; }\n' \
		"$(fbtest_greeting)" > clean.c || die
}

src_compile() {
	${CC:-cc} ${CFLAGS} -o clean clean.c || die
	# has_version asks Portage over its IPC FIFOs (${PORTAGE_BUILDDIR}/.ipc): 1 is
	# "not installed", anything else an error.
	has_version app-misc/clean
	local r=$?
	einfo "has_version: ${r}"
	[[ ${r} == 1 ]] || die "has_version: ${r}"
}

src_install() {
	dobin clean
}
"#,
    ),
    (
        "bad-cmd",
        r#"src_compile() {
	touch "${FBTEST_OUTSIDE}/bad-cmd"
	einfo "touch: $?"
}
"#,
    ),
    (
        "bad-redir",
        r#"src_compile() {
	echo x > "${FBTEST_OUTSIDE}/bad-redir"
	einfo "redirection: $?"
}
"#,
    ),
    (
        "addwrite",
        r#"src_compile() {
	addwrite "${FBTEST_OUTSIDE}/addwrite"
	echo x > "${FBTEST_OUTSIDE}/addwrite/by-redir" || die
	touch "${FBTEST_OUTSIDE}/addwrite/by-cmd" || die
	addpredict "${FBTEST_OUTSIDE}/addpredict"
	echo x > "${FBTEST_OUTSIDE}/addpredict/by-redir"
	einfo "predicted redirection: $?"
	touch "${FBTEST_OUTSIDE}/addpredict/by-cmd"
	einfo "predicted touch: $?"
}
"#,
    ),
    (
        "netcheck",
        r#"src_compile() {
	# The network interfaces this process sees, by name (its network namespace's).
	local names=$(sed -n 's/^ *\([^ :]*\):.*/\1/p' /proc/net/dev | LC_ALL=C sort | tr '\n' ' ')
	einfo "interfaces: ${names}"
}
"#,
    ),
    (
        "static",
        r#"src_compile() {
	"${FBTEST_BUSYBOX}" touch "${FBTEST_OUTSIDE}/static"
	einfo "busybox touch: $?"
}
"#,
    ),
];

impl Prefix {
    /// `python3 ${EPREFIX}/usr/bin/ebuild …/NAME-1.ebuild clean install`, in a clean
    /// environment.
    pub(crate) fn ebuild(&self, name: &str) -> Out {
        let mut c = Command::new("python3");
        c.arg(self.eprefix.join("usr/bin/ebuild"))
            .arg(self.repo.join(format!("app-misc/{name}/{name}-1.ebuild")))
            .args(["clean", "install"])
            .current_dir(&self.eprefix)
            .env_clear();
        for keep in ["PATH", "HOME", "USER", "LOGNAME", "LANG"] {
            if let Some(v) = std::env::var_os(keep) {
                c.env(keep, v);
            }
        }
        c.env("PYTHONPATH", &self.pythonpath).env(
            "PORTAGE_REPOSITORIES",
            format!(
                "[DEFAULT]\nmain-repo = fbtest\n[fbtest]\nlocation = {}\n",
                s(&self.repo)
            ),
        );
        spawn_command(c, false, EBUILD_TIMEOUT).wait()
    }

    /// `${PORTAGE_BUILDDIR}` of NAME-1.
    pub(crate) fn builddir(&self, name: &str) -> PathBuf {
        self.eprefix
            .join(format!("var/tmp/portage/app-misc/{name}-1"))
    }

    /// `${ED}` of NAME-1: the image, with EPREFIX inside it.
    fn image(&self, name: &str) -> PathBuf {
        let rel = self.eprefix.strip_prefix("/").unwrap();
        self.builddir(name).join("image").join(rel)
    }

    /// The sandbox logs of NAME-1's `${T}` that are not empty: (file name, text).
    fn nonempty_sandbox_logs(&self, name: &str) -> Vec<(String, String)> {
        let t = self.builddir(name).join("temp");
        let mut logs: Vec<(String, String)> = std::fs::read_dir(&t)
            .unwrap_or_else(|e| panic!("{}: {e}", t.display()))
            .filter_map(|e| {
                let e = e.ok()?;
                let file = e.file_name().into_string().ok()?;
                (file.starts_with("sandbox") && file.ends_with(".log")).then_some(file)
            })
            .map(|file| {
                let text = std::fs::read_to_string(t.join(&file)).unwrap();
                (file, text)
            })
            .filter(|(_, text)| !text.is_empty())
            .collect();
        logs.sort();
        logs
    }
}

/// Whether `h`'s Prefix gives fusebox `--net none` (in its sandbox.d).
fn net_none(h: Helper) -> bool {
    h == Helper::Fusermount3
}
