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
            // One footprint report per package (issue 15, tests/e2e/report.rs).
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

    crate::report::install_fake_library(&eprefix);
    let repo = eprefix.join("var/db/repos/fbtest");
    for (name, body) in EBUILDS.iter().chain(crate::report::EBUILDS) {
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

/// One violation block of a Gentoo sandbox log.
#[derive(Debug, PartialEq, Eq)]
struct Block {
    f: String,
    s: String,
    p: String,
    a: String,
    r: String,
    c: String,
}

/// The blocks of a Gentoo-format log (README, "Violation log"), checking its form:
/// the header, then blocks of exactly the lines F, S, P, A, R, C, each after a blank
/// line.
#[track_caller]
fn parse_log(text: &str) -> Vec<Block> {
    let body = text
        .strip_prefix(LOG_HEADER)
        .unwrap_or_else(|| panic!("the log does not start with Gentoo's header:\n{text}"));
    let mut blocks = Vec::new();
    for chunk in body.split_terminator("\n\n") {
        let chunk = chunk.strip_prefix('\n').unwrap_or(chunk);
        let lines: Vec<&str> = chunk.lines().collect();
        let field = |i: usize, key: &str| -> String {
            lines
                .get(i)
                .and_then(|l| l.strip_prefix(key))
                .unwrap_or_else(|| panic!("line {i} of a block is not `{key}…`:\n{text}"))
                .to_string()
        };
        assert_eq!(lines.len(), 6, "a block of other than 6 lines:\n{text}");
        blocks.push(Block {
            f: field(0, "F: "),
            s: field(1, "S: "),
            p: field(2, "P: "),
            a: field(3, "A: "),
            r: field(4, "R: "),
            c: field(5, "C: "),
        });
    }
    assert!(text.ends_with('\n'), "the log does not end a line:\n{text}");
    blocks
}

/// What Portage printed: its own messages and the phases' output.
fn output(out: &Out) -> String {
    format!("{}{}", out.stdout, out.stderr)
}

/// The ebuild exited 1 after its compile phase, because of the sandbox alone: Portage
/// ran the die hooks, never the install phase; `${T}/sandbox.log` holds exactly one
/// block, a denied write of `target`, by a command line containing `by`; the host has
/// no `target`.
#[track_caller]
fn assert_compile_failed_on(p: &Prefix, name: &str, out: &Out, target: &Path, by: &str) {
    assert_eq!(out.code(), Some(1), "the ebuild should fail\n{out}");
    let b = p.builddir(name);
    assert!(
        b.join(".die_hooks").exists(),
        "Portage ran no die hooks\n{out}"
    );
    assert!(
        !b.join(".installed").exists() && !p.image(name).exists(),
        "the install phase ran after the violation\n{out}"
    );
    assert!(
        !target.exists(),
        "{} was written on the host\n{out}",
        target.display()
    );
    let logs = p.nonempty_sandbox_logs(name);
    let names: Vec<&str> = logs.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["sandbox.log"],
        "the non-empty sandbox logs: {logs:#?}\n{out}"
    );
    let text = &logs[0].1;
    let blocks = parse_log(text);
    assert_eq!(
        blocks.len(),
        1,
        "one violation, and only it:\n{text}\n{out}"
    );
    let block = &blocks[0];
    let t = s(target);
    assert!(block.f.starts_with("open_wr"), "{block:?}");
    assert_eq!(block.s, "deny", "{block:?}");
    assert_eq!((&*block.p, &*block.a, &*block.r), (t, t, t), "{block:?}");
    assert!(block.c.contains(by), "C: should name `{by}`: {block:?}");
    // fusebox's summary, for the person reading Portage's output (Portage sends the
    // phases' stderr to its stdout).
    assert!(
        output(out).contains("SANDBOX ACCESS VIOLATION SUMMARY"),
        "no violation summary in Portage's output\n{out}"
    );
}

/// The ebuild installed, and nothing was logged (no sandbox log, or an empty one).
#[track_caller]
fn assert_clean_install(p: &Prefix, name: &str, out: &Out) {
    assert_eq!(out.code(), Some(0), "the ebuild should succeed\n{out}");
    assert!(
        p.builddir(name).join(".installed").exists(),
        "the install phase did not run\n{out}"
    );
    let logs = p.nonempty_sandbox_logs(name);
    assert!(logs.is_empty(), "violations logged:\n{logs:#?}\n{out}");
    assert!(
        !output(out).contains("ACCESS DENIED"),
        "a denial in Portage's output\n{out}"
    );
}

e2e!(shared, portage_clean_ebuild_installs);
/// A clean ebuild: compiles a C program, asks Portage `has_version` over its IPC
/// FIFOs, installs into `${ED}`; nothing is logged.
fn portage_clean_ebuild_installs(h: Helper) {
    let p = prefix(h);
    let out = p.ebuild("clean");
    assert_clean_install(p, "clean", &out);
    let program = p.image("clean").join("usr/bin/clean");
    assert!(
        program.is_file(),
        "no {} in the image\n{out}",
        program.display()
    );
    assert!(
        output(&out).contains("has_version: 1"),
        "has_version did not answer 1\n{out}"
    );
    // The eclass's function made it into the program.
    let ran = native(&[&program], Path::new("/"));
    assert_eq!(ran.stdout, "hello from clean\n", "{ran}");
}

e2e!(shared, portage_writes_outside_fail_the_phase);
/// src_compile writes outside: by an external command, and by a redirection of the
/// ebuild's own shell. Each fails its phase with one F/S/P/A/R/C block naming the
/// path, and the host is unchanged.
fn portage_writes_outside_fail_the_phase(h: Helper) {
    let p = prefix(h);
    let target = p.outside.join("bad-cmd");
    let out = p.ebuild("bad-cmd");
    assert_compile_failed_on(p, "bad-cmd", &out, &target, "touch");

    let target = p.outside.join("bad-redir");
    let out = p.ebuild("bad-redir");
    // The shell that made the redirection is ebuild.sh's, running the phase.
    assert_compile_failed_on(p, "bad-redir", &out, &target, "ebuild.sh compile");
}

e2e!(shared, portage_addwrite_and_addpredict);
/// `addwrite DIR` in an ebuild lets both a command and a redirection write there;
/// `addpredict DIR` makes writes there fail without a log entry.
fn portage_addwrite_and_addpredict(h: Helper) {
    let p = prefix(h);
    let out = p.ebuild("addwrite");
    assert_clean_install(p, "addwrite", &out);
    for made in ["by-redir", "by-cmd"] {
        let f = p.outside.join("addwrite").join(made);
        assert!(f.is_file(), "no {} on the host\n{out}", f.display());
    }
    let predicted: Vec<_> = std::fs::read_dir(p.outside.join("addpredict"))
        .unwrap()
        .collect();
    assert!(
        predicted.is_empty(),
        "predicted writes reached the host: {predicted:?}\n{out}"
    );
    for line in ["predicted redirection: 1", "predicted touch: 1"] {
        assert!(output(&out).contains(line), "no `{line}`\n{out}");
    }
}

e2e!(shared, portage_static_program_is_caught);
/// A statically linked program (Debian's busybox-static), which an LD_PRELOAD sandbox
/// cannot see into, writes outside: caught like any other.
fn portage_static_program_is_caught(h: Helper) {
    let busybox = find_tool(&["/bin/busybox", "/usr/bin/busybox"], "busybox-static");
    assert!(
        !has_elf_interpreter(Path::new(&busybox)),
        "{busybox} is dynamically linked: install the `busybox-static` package"
    );
    let p = prefix(h);
    let target = p.outside.join("static");
    let out = p.ebuild("static");
    assert_compile_failed_on(p, "static", &out, &target, &busybox);
}

/// Whether `h`'s Prefix gives fusebox `--net none` (in its sandbox.d).
fn net_none(h: Helper) -> bool {
    h == Helper::Fusermount3
}

/// The network interfaces of a `/proc/net/dev`, sorted, each followed by a space.
fn interface_names(proc_net_dev: &str) -> String {
    let mut names: Vec<&str> = proc_net_dev
        .lines()
        .filter_map(|l| l.split_once(':').map(|(name, _)| name.trim()))
        .collect();
    names.sort_unstable();
    names.iter().map(|n| format!("{n} ")).collect()
}

e2e!(shared, portage_fusebox_opts_isolate_the_network);
/// fusebox's own options reach it from `${EPREFIX}/etc/sandbox.d`, which is where a
/// Prefix user puts them (Portage passes neither make.conf's variables nor its
/// caller's environment to `sandbox`): with `FUSEBOX_OPTS="… --net none"` the phases
/// run in a network namespace of their own, with only `lo`; without it they see the
/// host's interfaces.
fn portage_fusebox_opts_isolate_the_network(h: Helper) {
    let host = interface_names(&std::fs::read_to_string("/proc/net/dev").unwrap());
    assert_ne!(
        host, "lo ",
        "the host has no interface but lo: nothing to tell apart"
    );
    let p = prefix(h);
    let out = p.ebuild("netcheck");
    assert_clean_install(p, "netcheck", &out);
    let expected = if net_none(h) { "lo ".to_string() } else { host };
    let line = format!("interfaces: {expected}");
    assert!(output(&out).contains(&line), "no `{line}`\n{out}");
}

/// Whether the ELF file `path` names a program interpreter (PT_INTERP): a statically
/// linked program does not. Reads 64-bit little-endian ELF only, the only kind this
/// suite runs on.
fn has_elf_interpreter(path: &Path) -> bool {
    const PT_INTERP: u32 = 3;
    let data = std::fs::read(path).unwrap();
    assert!(
        data.len() > 64 && data[..4] == *b"\x7fELF" && data[4] == 2 && data[5] == 1,
        "{}: not a 64-bit little-endian ELF file",
        path.display()
    );
    let u16_at = |o: usize| u16::from_le_bytes(data[o..o + 2].try_into().unwrap()) as usize;
    let phoff = u64::from_le_bytes(data[32..40].try_into().unwrap()) as usize;
    let (phentsize, phnum) = (u16_at(54), u16_at(56));
    (0..phnum).any(|i| {
        let o = phoff + i * phentsize;
        u32::from_le_bytes(data[o..o + 4].try_into().unwrap()) == PT_INTERP
    })
}
