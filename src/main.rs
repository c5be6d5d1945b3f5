//! `fusebox-run`: parse, run, and turn the outcome into an exit status. Run as `sandbox`
//! (or with `--gentoo`), it is Gentoo's sandbox's front end to the same runner.

use std::ffi::{OsStr, OsString};
use std::process::ExitCode;

use fusebox::audit::terminal;
use fusebox::cli::{Config, HostEnv, OPTS_VAR, Parsed, parse_with_opts};
use fusebox::gentoo::argv::{self, Action};
use fusebox::gentoo::conf::ConfFiles;
use fusebox::gentoo::env::{Environment, HostFacts, refuse_nesting};
use fusebox::gentoo::{GentooRun, Invocation, fusebox_options, fusebox_opts};
use fusebox::supervisor::EXIT_SETUP_FAILED;
use fusebox::{check, sandbox};

/// A bad command line, as clap reports it.
const EXIT_USAGE: i32 = 2;

fn main() -> ExitCode {
    // Before anything changes a disposition: what was ignored stays so for the build.
    fusebox::sys::note_inherited_ignored();
    let argv: Vec<OsString> = std::env::args_os().collect();
    let executed = fusebox::sys::exec_filename();
    if let Some(invocation) = Invocation::detect(&argv, executed.as_deref()) {
        return exit(gentoo_main(&invocation));
    }
    let args = match parse_with_opts(&argv, std::env::var_os(OPTS_VAR).as_deref()) {
        Parsed::Args(args) => *args,
        Parsed::Clap(e) => e.exit(),
        Parsed::Opts(e) => return exit(usage_error(&e)),
    };
    if let Some(what) = args.generate {
        return exit(generate(what));
    }
    if args.check {
        return ExitCode::from(if check::run_and_print(args.mount_helper) {
            0
        } else {
            1
        });
    }
    if let Some(trace) = args.from_trace.clone() {
        return exit(report_from_trace(&args, &trace));
    }
    let show_defaults = args.show_defaults;
    let cwd = match std::env::current_dir() {
        Ok(cwd) => cwd,
        Err(e) => {
            return exit(setup_error(&format!(
                "cannot read the current directory: {e}"
            )));
        }
    };
    match Config::from_args(args, cwd, &HostEnv::current()) {
        Ok(config) if show_defaults => exit(print_policy(&config)),
        Ok(config) => exit(run(&config)),
        Err(e) => exit(usage_error(&e)),
    }
}

/// `--show-defaults`: the policy the options give, on stdout (1 when stdout fails).
fn print_policy(config: &Config) -> i32 {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out
        .write_all(config.show_policy().as_bytes())
        .and_then(|()| out.flush())
    {
        Ok(()) => 0,
        Err(e) => {
            terminal::error_line(&format!("cannot print: {e}"));
            1
        }
    }
}

/// `--report FILE --from-trace TRACE`: 0 when the report is written, 1 (with the
/// reason) when the trace cannot be read or the report written.
fn report_from_trace(args: &fusebox::cli::Args, trace: &std::path::Path) -> i32 {
    use anyhow::Context;
    use std::io::IsTerminal;
    let made = std::env::current_dir()
        .context("cannot read the current directory")
        .and_then(|cwd| {
            let plan = fusebox::cli::report_plan(args.report.as_deref(), &cwd)?
                .context("--from-trace needs --report FILE")?;
            let eprefix = std::env::var_os("EPREFIX")
                .filter(|p| !p.is_empty())
                .map(std::path::PathBuf::from);
            fusebox::report::from_trace(&cwd.join(trace), &plan, eprefix)
        });
    match made {
        Ok(totals) => {
            if !args.quiet && std::io::stderr().is_terminal() {
                terminal::eprint(&format!("{}\n", fusebox::report::footprint_line(&totals)));
            }
            0
        }
        Err(e) => {
            terminal::error_line(&format!("{e:#}"));
            1
        }
    }
}

/// Runs the plan; a failure to set up the sandbox is 125.
fn run(config: &Config) -> i32 {
    for warning in &config.warnings {
        terminal::error_line(&format!("warning: {warning}"));
    }
    match sandbox::run(config) {
        Ok(code) => code,
        Err(e) => setup_error(&format!("{e:#}")),
    }
}

/// A bad command line (options, their values, policy files, $FUSEBOX_OPTS): one line, 2.
fn usage_error(e: &dyn std::fmt::Display) -> i32 {
    terminal::error_line(&format!("{e:#}"));
    EXIT_USAGE
}

fn setup_error(message: &str) -> i32 {
    terminal::error_line(message);
    EXIT_SETUP_FAILED
}

/// `--generate`: the man page or a completion script on stdout (packagers' step).
fn generate(what: fusebox::cli::Generate) -> i32 {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match fusebox::docs::render(what, &mut out).and_then(|()| out.flush()) {
        Ok(()) => 0,
        Err(e) => setup_error(&format!("cannot write to stdout: {e}")),
    }
}

fn exit(code: i32) -> ExitCode {
    ExitCode::from(u8::try_from(code).unwrap_or(u8::MAX))
}

/// Gentoo mode: sandbox's options first (so `--version` answers even inside another
/// sandbox, as Gentoo's does), then the refusal to nest, then fusebox's own options,
/// then the launch.
fn gentoo_main(invocation: &Invocation) -> i32 {
    let caller = Environment::current();
    let launch = match argv::parse(&invocation.sandbox_args, is_executable) {
        Action::Version => {
            print_stdout(&argv::version_text());
            return 0;
        }
        Action::Help => {
            print_stdout(&argv::usage_text());
            return 0;
        }
        Action::BadOption(message) => {
            terminal::eprint(&format!(
                "sandbox: {}\n",
                terminal::escape(message.as_bytes())
            ));
            terminal::eprint(&argv::usage_text());
            return 1;
        }
        Action::Launch(launch) => launch,
    };
    if let Err(message) = refuse_nesting(&caller) {
        terminal::eprint(&format!(
            "sandbox: {}\n",
            terminal::escape(message.as_bytes())
        ));
        return 1;
    }
    let conf = ConfFiles::read(&invocation.etc_dir(), &invocation.usr_dir());
    let opts = fusebox_opts(&caller, &conf);
    let options = match fusebox_options(opts.as_deref(), &invocation.fusebox_args) {
        Ok(options) => options,
        Err(e) => return usage_error(&format!("{e:#}")),
    };
    let cwd = match std::env::current_dir() {
        Ok(cwd) => cwd,
        Err(e) => return setup_error(&format!("cannot read the current directory: {e}")),
    };
    let host = HostFacts::gather(&caller);
    match GentooRun::new(&launch, &caller, &conf, &host, &cwd).into_config(options, cwd) {
        Ok(config) => run(&config),
        Err(e) => usage_error(&format!("{e:#}")),
    }
}

/// `text` on stdout; a closed or full stdout is not worth a panic.
fn print_stdout(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

/// Gentoo's test for "an executable path": `access(path, X_OK)`, no PATH search.
fn is_executable(arg: &OsStr) -> bool {
    nix::unistd::access(arg, nix::unistd::AccessFlags::X_OK).is_ok()
}
