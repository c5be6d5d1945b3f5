//! Gentoo sandbox's command line: its few options, then what to run.
//!
//! Source: sandbox-2.x `src/options.c` (`parseargs`, getopt_long with `"+chV"`) and
//! `src/sandbox.c` (`main`, which turns the remaining arguments into bash's argv).

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;

/// What `sandbox ARGS` asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// `-V`/`--version`: print [`version_text`] on stdout, exit 0.
    Version,
    /// `-h`/`--help`: print [`usage_text`] on stdout, exit 0.
    Help,
    /// An option sandbox does not know: the message, then the usage on stderr, exit 1.
    BadOption(String),
    /// Start a sandbox running this.
    Launch(Launch),
}

/// What runs inside the sandbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Launch {
    /// No arguments (or only `-c`): an interactive bash.
    InteractiveShell,
    /// `bash -c` of the arguments joined with single spaces: with `-c`, or when the
    /// only argument is not an executable path. Portage's `sandbox "ebuild.sh phase"`
    /// takes this road.
    BashC(OsString),
    /// The arguments, run as they are (found in PATH like execvp).
    Exec(Vec<OsString>),
}

/// The long options of Gentoo's sandbox. `--ns-*` switch its optional namespaces;
/// fusebox always uses its own, so they are accepted and change nothing.
const LONG_OPTIONS: &[&str] = &[
    "ns-on",
    "ns-off",
    "ns-cgroup-on",
    "ns-cgroup-off",
    "ns-ipc-on",
    "ns-ipc-off",
    "ns-mnt-on",
    "ns-mnt-off",
    "ns-net-on",
    "ns-net-off",
    "ns-pid-on",
    "ns-pid-off",
    "ns-sysv-on",
    "ns-sysv-off",
    "ns-time-on",
    "ns-time-off",
    "ns-user-on",
    "ns-user-off",
    "ns-uts-on",
    "ns-uts-off",
    "bash",
    "help",
    "version",
];

/// Parses sandbox's arguments (without argv[0]) the way getopt_long with `"+chV"`
/// does, then applies sandbox's rules for what to run:
///
/// - Options stop at the first argument that is not one (`+`), or after `--`; a lone
///   `-` is an argument. Short options may be bundled (`-cV`); a long option may be
///   abbreviated to any unambiguous prefix (`--vers`) and takes no `=value`.
/// - `-V`/`--version` and `-h`/`--help` act as soon as they are seen, so
///   `sandbox -V -x` prints the version and `sandbox -x -V` is a usage error.
/// - No arguments left → an interactive shell (also with `-c`).
/// - `-c`/`--bash` → `bash -c` of the arguments joined with spaces.
/// - Exactly one argument that is not an executable path → the same `bash -c`, so
///   `sandbox "make -j2"` and `sandbox make` both go through the shell. The test is
///   `access(arg, X_OK)` from the current directory, without a PATH search:
///   `is_executable` answers it.
/// - Otherwise the arguments are the command, run as they are.
pub fn parse(args: &[OsString], is_executable: impl Fn(&OsStr) -> bool) -> Action {
    let mut use_bash = false;
    let mut i = 0;
    while i < args.len() {
        let arg = args[i].as_bytes();
        if arg == b"--" {
            i += 1;
            break;
        }
        if let Some(long) = arg.strip_prefix(b"--") {
            match long_option(long) {
                Ok("bash") => use_bash = true,
                Ok("help") => return Action::Help,
                Ok("version") => return Action::Version,
                Ok(_) => {}
                Err(message) => return Action::BadOption(message),
            }
        } else if arg.len() > 1 && arg[0] == b'-' {
            for &flag in &arg[1..] {
                match flag {
                    b'c' => use_bash = true,
                    b'h' => return Action::Help,
                    b'V' => return Action::Version,
                    other => {
                        return Action::BadOption(format!(
                            "invalid option -- '{}'",
                            char::from(other).escape_default()
                        ));
                    }
                }
            }
        } else {
            break;
        }
        i += 1;
    }
    let rest = &args[i..];
    if rest.is_empty() {
        return Action::Launch(Launch::InteractiveShell);
    }
    if !use_bash && rest.len() == 1 && !is_executable(&rest[0]) {
        use_bash = true;
    }
    if use_bash {
        Action::Launch(Launch::BashC(join_with_spaces(rest)))
    } else {
        Action::Launch(Launch::Exec(rest.to_vec()))
    }
}

/// The long option `name` (after `--`) stands for: itself, or the one option it is an
/// unambiguous prefix of.
fn long_option(name: &[u8]) -> Result<&'static str, String> {
    let shown = String::from_utf8_lossy(name);
    if let Some(eq) = name.iter().position(|&b| b == b'=') {
        let base = String::from_utf8_lossy(&name[..eq]);
        return match long_option(&name[..eq]) {
            Ok(option) => Err(format!("option '--{option}' doesn't allow an argument")),
            Err(_) => Err(format!("unrecognized option '--{base}'")),
        };
    }
    if let Some(exact) = LONG_OPTIONS.iter().find(|o| o.as_bytes() == name) {
        return Ok(exact);
    }
    let candidates: Vec<&'static str> = LONG_OPTIONS
        .iter()
        .copied()
        .filter(|o| !name.is_empty() && o.as_bytes().starts_with(name))
        .collect();
    match candidates.as_slice() {
        [one] => Ok(one),
        [] => Err(format!("unrecognized option '--{shown}'")),
        several => Err(format!(
            "option '--{shown}' is ambiguous; possibilities: {}",
            several
                .iter()
                .map(|o| format!("'--{o}'"))
                .collect::<Vec<_>>()
                .join(" ")
        )),
    }
}

fn join_with_spaces(args: &[OsString]) -> OsString {
    let mut out = OsString::new();
    for (i, arg) in args.iter().enumerate() {
        if i > 0 {
            out.push(" ");
        }
        out.push(arg);
    }
    out
}

/// `sandbox --version`. The first line names Gentoo's path sandbox, as Gentoo's own
/// does: tools decide from it that a sandbox is there (pkgcore's `is_sandbox_capable`
/// wants exit status 0 and "gentoo", in any case, on stdout); the rest says what
/// actually answers.
pub fn version_text() -> String {
    format!(
        "Gentoo path sandbox, provided by fusebox {version}\n \
         version: fusebox {version}\n \
         method:  a FUSE mirror of / in user, mount and PID namespaces (no LD_PRELOAD)\n",
        version = env!("CARGO_PKG_VERSION")
    )
}

/// `sandbox --help`.
pub fn usage_text() -> String {
    format!(
        "Usage: sandbox [options] [program [program args...]]\n\
         \n\
         fusebox's Gentoo mode: starts a sandbox session and runs the program in it, as\n\
         Gentoo's sandbox does. Without a program, an interactive shell; with one argument\n\
         that is not an executable path, or with -c, the arguments run through bash -c.\n\
         \n\
         Settings come from SANDBOX_READ, SANDBOX_WRITE, SANDBOX_PREDICT, SANDBOX_DENY,\n\
         SANDBOX_LOG, SANDBOX_VERBOSE and SANDBOX_DEBUG, and from these files when they exist:\n\
         \tEPREFIX/etc/sandbox.conf\n\
         \tEPREFIX/etc/sandbox.d/\n\
         fusebox-run's own options go in FUSEBOX_OPTS (e.g. FUSEBOX_OPTS=\"--net none\").\n\
         \n\
         Options: -[chV]\n\
         \x20 -c, --bash      * Run command through bash shell\n\
         \x20 -h, --help      * Print this help and exit\n\
         \x20 -V, --version   * Print version and exit\n\
         \x20     --ns-*      * Accepted for compatibility; fusebox always uses namespaces\n\
         \n\
         fusebox {}\n",
        env!("CARGO_PKG_VERSION")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    /// `/bin/true` and `./build.sh` are executable; nothing else is.
    fn parse_(list: &[&str]) -> Action {
        parse(&args(list), |a| a == "/bin/true" || a == "./build.sh")
    }

    fn bash_c(s: &str) -> Action {
        Action::Launch(Launch::BashC(s.into()))
    }

    fn exec(list: &[&str]) -> Action {
        Action::Launch(Launch::Exec(args(list)))
    }

    #[test]
    fn no_arguments_is_an_interactive_shell() {
        assert_eq!(parse_(&[]), Action::Launch(Launch::InteractiveShell));
        assert_eq!(parse_(&["-c"]), Action::Launch(Launch::InteractiveShell));
        assert_eq!(parse_(&["--"]), Action::Launch(Launch::InteractiveShell));
    }

    #[test]
    fn portage_s_single_string_goes_through_bash() {
        assert_eq!(
            parse_(&["/usr/lib/portage/bin/ebuild.sh compile"]),
            bash_c("/usr/lib/portage/bin/ebuild.sh compile")
        );
        // One argument that is not an executable path: no PATH search is made.
        assert_eq!(parse_(&["make"]), bash_c("make"));
    }

    #[test]
    fn one_executable_path_is_run_directly() {
        assert_eq!(parse_(&["/bin/true"]), exec(&["/bin/true"]));
        assert_eq!(parse_(&["./build.sh"]), exec(&["./build.sh"]));
    }

    #[test]
    fn several_arguments_are_run_directly_unless_c() {
        assert_eq!(parse_(&["ls", "-l"]), exec(&["ls", "-l"]));
        assert_eq!(parse_(&["-c", "echo", "hi there"]), bash_c("echo hi there"));
        assert_eq!(parse_(&["--bash", "/bin/true"]), bash_c("/bin/true"));
        assert_eq!(parse_(&["-c", "echo hi"]), bash_c("echo hi"));
    }

    #[test]
    fn options_stop_at_the_first_argument_or_double_dash() {
        assert_eq!(parse_(&["ls", "-c"]), exec(&["ls", "-c"]));
        assert_eq!(parse_(&["--", "-c", "x"]), exec(&["-c", "x"]));
        assert_eq!(parse_(&["-", "x"]), exec(&["-", "x"]));
        assert_eq!(parse_(&["ls", "--version"]), exec(&["ls", "--version"]));
    }

    #[test]
    fn version_and_help_act_when_seen() {
        assert_eq!(parse_(&["--version"]), Action::Version);
        assert_eq!(parse_(&["-V"]), Action::Version);
        assert_eq!(parse_(&["--vers"]), Action::Version);
        assert_eq!(parse_(&["-cV", "x"]), Action::Version);
        assert_eq!(parse_(&["-h"]), Action::Help);
        assert_eq!(parse_(&["--help"]), Action::Help);
        assert_eq!(parse_(&["-V", "--bogus"]), Action::Version);
        assert!(matches!(parse_(&["--bogus", "-V"]), Action::BadOption(_)));
    }

    #[test]
    fn bad_options_are_named() {
        let Action::BadOption(m) = parse_(&["-x"]) else {
            panic!()
        };
        assert_eq!(m, "invalid option -- 'x'");
        let Action::BadOption(m) = parse_(&["--frobnicate"]) else {
            panic!()
        };
        assert_eq!(m, "unrecognized option '--frobnicate'");
        let Action::BadOption(m) = parse_(&["--ns"]) else {
            panic!()
        };
        assert!(m.contains("ambiguous"), "{m}");
        let Action::BadOption(m) = parse_(&["--version=2"]) else {
            panic!()
        };
        assert_eq!(m, "option '--version' doesn't allow an argument");
    }

    #[test]
    fn namespace_options_are_accepted() {
        assert_eq!(
            parse_(&["--ns-on", "--ns-net-off", "ls", "-l"]),
            exec(&["ls", "-l"])
        );
    }

    /// pkgcore's `is_sandbox_capable`: exit 0 and `"gentoo" in stdout.lower()`.
    #[test]
    fn the_version_satisfies_pkgcore() {
        assert!(version_text().to_lowercase().contains("gentoo"));
        assert!(version_text().contains(env!("CARGO_PKG_VERSION")));
        assert!(usage_text().starts_with("Usage: sandbox"));
    }
}
