//! `$FUSEBOX_OPTS`: fusebox-run options read before the command line's, each bad word
//! reported as coming from the variable.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;

use clap::Parser;

use super::args::Args;

/// The environment variable whose words are fusebox-run options, read before the
/// command line's (in Gentoo mode too).
pub const OPTS_VAR: &str = "FUSEBOX_OPTS";

/// A command line that cannot be run as given: exit status 2, like clap's own errors.
/// The message names the option, file or variable the bad word came from.
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// What parsing the command line came to.
#[derive(Debug)]
pub enum Parsed {
    Args(Box<Args>),
    /// clap's own answer (help, version, or a usage error it formats itself).
    Clap(clap::Error),
    /// `$FUSEBOX_OPTS` is unusable: the message says why, naming the variable.
    Opts(UsageError),
}

/// `argv` with the words of `opts` (`$FUSEBOX_OPTS`) before its own options. The
/// variable is parsed alone first, so a bad word in it is reported as coming from it
/// rather than from the command line.
pub fn parse_with_opts(argv: &[OsString], opts: Option<&std::ffi::OsStr>) -> Parsed {
    let opts_words = match opts.map(split_words).transpose() {
        Ok(words) => words.unwrap_or_default(),
        Err(e) => return Parsed::Opts(UsageError(format!("${OPTS_VAR}: {e}"))),
    };
    if !opts_words.is_empty() {
        if let Err(e) = options_only(&opts_words, opts.unwrap_or_default()) {
            return Parsed::Opts(e);
        }
    }
    let mut words = argv.iter().take(1).cloned().collect::<Vec<_>>();
    words.extend(opts_words);
    words.extend(argv.iter().skip(1).cloned());
    match Args::try_parse_from(words) {
        Ok(args) => Parsed::Args(Box::new(args)),
        Err(e) => Parsed::Clap(e),
    }
}

/// Checks that `words` (from `$FUSEBOX_OPTS`) are fusebox-run options and nothing else.
fn options_only(words: &[OsString], raw: &std::ffi::OsStr) -> std::result::Result<(), UsageError> {
    let probe = std::iter::once(OsString::from("fusebox-run"))
        .chain(words.iter().cloned())
        .chain(["--".into(), "true".into()]);
    let from_opts = |what: String| {
        let raw = raw.to_string_lossy();
        UsageError(format!("in ${OPTS_VAR}=\"{raw}\": {what}"))
    };
    match Args::try_parse_from(probe) {
        Ok(args) if args.command == ["true"] => Ok(()),
        Ok(args) => Err(from_opts(format!(
            "takes fusebox-run options only, not {:?}",
            args.command[0]
        ))),
        // --help or --version there: the whole command line answers it.
        Err(e)
            if matches!(
                e.kind(),
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion
            ) =>
        {
            Ok(())
        }
        Err(e) => Err(from_opts(first_line(&e.to_string()))),
    }
}

/// The first line of a clap error, without its `error: ` prefix.
fn first_line(text: &str) -> String {
    let line = text.lines().next().unwrap_or_default();
    line.strip_prefix("error: ").unwrap_or(line).to_owned()
}

/// `value` split into words at blanks; `'…'` and `"…"` quote (no escapes, no
/// expansions): enough for a make.conf line such as `--net none -w "/a b"`.
pub fn split_words(value: &OsStr) -> Result<Vec<OsString>, String> {
    let mut words = Vec::new();
    let mut word: Option<Vec<u8>> = None;
    let mut quote: Option<u8> = None;
    for &b in value.as_bytes() {
        match (quote, b) {
            (Some(q), b) if b == q => quote = None,
            (Some(_), b) => word.get_or_insert_with(Vec::new).push(b),
            (None, b'"' | b'\'') => {
                quote = Some(b);
                word.get_or_insert_with(Vec::new);
            }
            (None, b' ' | b'\t' | b'\n') => {
                if let Some(w) = word.take() {
                    words.push(OsStr::from_bytes(&w).to_os_string());
                }
            }
            (None, b) => word.get_or_insert_with(Vec::new).push(b),
        }
    }
    if let Some(q) = quote {
        return Err(format!("unterminated {} quote", char::from(q)));
    }
    words.extend(word.map(|w| OsStr::from_bytes(&w).to_os_string()));
    Ok(words)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::cli::Net;

    fn os(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    fn with_opts(argv: &[&str], opts: &str) -> Parsed {
        let argv: Vec<OsString> = std::iter::once("fusebox-run")
            .chain(argv.iter().copied())
            .map(OsString::from)
            .collect();
        parse_with_opts(&argv, Some(std::ffi::OsStr::new(opts)))
    }

    #[test]
    fn fusebox_opts_come_before_the_command_line() {
        let Parsed::Args(args) = with_opts(
            &["--net", "host", "-w", "/b", "make"],
            "--net none -w /a -v",
        ) else {
            panic!("should parse");
        };
        // The command line's single value wins; lists accumulate.
        assert_eq!(args.net, Net::Host);
        assert_eq!(args.write, [PathBuf::from("/a"), PathBuf::from("/b")]);
        assert!(args.verbose);
        assert_eq!(args.command, ["make"]);
    }

    #[test]
    fn a_bad_word_in_fusebox_opts_is_named_as_coming_from_it() {
        for (opts, want) in [
            ("--bogus", "--bogus"),
            ("make -j2", "options only"),
            ("--net 'none", "unterminated"),
            ("--net sideways", "sideways"),
        ] {
            let Parsed::Opts(e) = with_opts(&["true"], opts) else {
                panic!("{opts:?} should be refused");
            };
            assert!(e.0.contains("FUSEBOX_OPTS") && e.0.contains(want), "{e}");
            assert_eq!(e.0.lines().count(), 1, "{e}");
        }
        // A bad command line with good FUSEBOX_OPTS is clap's error.
        assert!(matches!(
            with_opts(&["--bogus", "true"], "-v"),
            Parsed::Clap(_)
        ));
    }
    #[test]
    fn words_split_at_blanks_with_quotes() {
        let split = |s: &str| split_words(OsStr::new(s));
        assert_eq!(
            split("  --net none\t-w '/a b' "),
            Ok(os(&["--net", "none", "-w", "/a b"]))
        );
        assert_eq!(split("-w \"\""), Ok(os(&["-w", ""])));
        assert_eq!(split("a\"b c\"d"), Ok(os(&["ab cd"])));
        assert_eq!(split(""), Ok(vec![]));
        assert!(split("-w 'x").is_err());
    }
}
