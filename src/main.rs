//! `fusebox-run`: parse, run, and turn the outcome into an exit status.

use std::process::ExitCode;

use clap::Parser;
use fusebox::cli::{Args, Config};
use fusebox::supervisor::EXIT_SETUP_FAILED;
use fusebox::{check, sandbox};

fn main() -> ExitCode {
    let args = Args::parse();
    if args.check {
        return ExitCode::from(if check::run_and_print(args.mount_helper) {
            0
        } else {
            1
        });
    }
    let code = match prepare(args).and_then(|config| sandbox::run(&config)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("fusebox-run: {e:#}");
            EXIT_SETUP_FAILED
        }
    };
    ExitCode::from(u8::try_from(code).unwrap_or(u8::MAX))
}

fn prepare(args: Args) -> anyhow::Result<Config> {
    use anyhow::Context;
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    Config::from_args(args, cwd, std::env::var_os("TMPDIR"))
}
