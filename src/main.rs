//! `fusebox-run`: parse, run, and turn the outcome into an exit status. Run as `sandbox`
//! (or with `--gentoo`), it is Gentoo's sandbox's front end to the same runner.

use std::ffi::{OsStr, OsString};
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use fusebox::cli::{Args, Config};
use fusebox::gentoo::argv::{self, Action};
use fusebox::gentoo::conf::ConfFiles;
use fusebox::gentoo::env::{Environment, HostFacts, refuse_nesting};
use fusebox::gentoo::{GentooRun, Invocation, fusebox_options, fusebox_opts};
use fusebox::supervisor::EXIT_SETUP_FAILED;
use fusebox::{check, sandbox};

/// A bad command line, as clap reports it.
const EXIT_USAGE: i32 = 2;

fn main() -> ExitCode {
    let argv: Vec<OsString> = std::env::args_os().collect();
    let executed = fusebox::sys::exec_filename();
    if let Some(invocation) = Invocation::detect(&argv, executed.as_deref()) {
        return exit(gentoo_main(&invocation));
    }
    let args = Args::parse_from(argv);
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
    exit(run(prepare(args)))
}

/// `--report FILE --from-trace TRACE`: 0 when the report is written, 1 (with the
/// reason) when the trace cannot be read or the report written.
fn report_from_trace(args: &Args, trace: &std::path::Path) -> i32 {
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
                eprintln!("{}", fusebox::report::footprint_line(&totals));
            }
            0
        }
        Err(e) => {
            eprintln!("fusebox-run: {e:#}");
            1
        }
    }
}

fn prepare(args: Args) -> anyhow::Result<Config> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    Config::from_args(args, cwd, std::env::var_os("TMPDIR"))
}

fn run(config: anyhow::Result<Config>) -> i32 {
    match config.and_then(|config| sandbox::run(&config)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("fusebox-run: {e:#}");
            EXIT_SETUP_FAILED
        }
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
            print!("{}", argv::version_text());
            return 0;
        }
        Action::Help => {
            print!("{}", argv::usage_text());
            return 0;
        }
        Action::BadOption(message) => {
            eprintln!("sandbox: {message}");
            eprint!("{}", argv::usage_text());
            return 1;
        }
        Action::Launch(launch) => launch,
    };
    if let Err(message) = refuse_nesting(&caller) {
        eprintln!("sandbox: {message}");
        return 1;
    }
    let conf = ConfFiles::read(&invocation.etc_dir(), &invocation.usr_dir());
    let opts = fusebox_opts(&caller, &conf);
    let options = match fusebox_options(opts.as_deref(), &invocation.fusebox_args) {
        Ok(options) => options,
        Err(e) => {
            eprintln!("fusebox-run: {e:#}");
            return EXIT_USAGE;
        }
    };
    run(std::env::current_dir()
        .context("cannot read the current directory")
        .and_then(|cwd| {
            let host = HostFacts::gather(&caller);
            GentooRun::new(&launch, &caller, &conf, &host, &cwd).into_config(options, cwd)
        }))
}

/// Gentoo's test for "an executable path": `access(path, X_OK)`, no PATH search.
fn is_executable(arg: &OsStr) -> bool {
    nix::unistd::access(arg, nix::unistd::AccessFlags::X_OK).is_ok()
}
