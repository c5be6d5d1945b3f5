//! The man page and the shell completions, generated from the clap definitions so they
//! cannot drift from the options: `fusebox-run --generate man|bash|zsh|fish` prints one
//! on stdout (packagers run `scripts/gen-docs.sh`, which writes them all; CI checks the
//! committed copies in docs/ are current).

use std::io::{self, Write};

use clap::CommandFactory;
use clap_complete::Shell;
use roff::{Roff, bold, roman};

use crate::cli::{Args, Generate};

/// Writes `what` to `out`.
pub fn render(what: Generate, out: &mut dyn Write) -> io::Result<()> {
    let mut cmd = Args::command();
    let name = cmd.get_name().to_owned();
    match what {
        Generate::Man => man_page(out),
        Generate::Bash => {
            clap_complete::generate(Shell::Bash, &mut cmd, name, out);
            Ok(())
        }
        Generate::Zsh => {
            clap_complete::generate(Shell::Zsh, &mut cmd, name, out);
            Ok(())
        }
        Generate::Fish => {
            clap_complete::generate(Shell::Fish, &mut cmd, name, out);
            Ok(())
        }
    }
}

/// fusebox-run(1): clap's title, name, synopsis, description and options, then the
/// sections clap knows nothing of.
fn man_page(out: &mut dyn Write) -> io::Result<()> {
    let man = clap_mangen::Man::new(Args::command())
        .source(concat!("fusebox ", env!("CARGO_PKG_VERSION")));
    man.render_title(out)?;
    man.render_name_section(out)?;
    man.render_synopsis_section(out)?;
    man.render_description_section(out)?;
    man.render_options_section(out)?;
    let mut roff = Roff::default();
    for (title, paragraphs) in SECTIONS {
        roff.control("SH", [*title]);
        for paragraph in *paragraphs {
            paragraph.render(&mut roff);
        }
    }
    roff.to_writer(out)?;
    man.render_version_section(out)
}

/// A piece of a hand-written section.
enum Para {
    /// A plain paragraph.
    Text(&'static str),
    /// A tagged paragraph: the tag in bold, then its text.
    Item(&'static str, &'static str),
    /// Lines shown as they are (an example).
    Example(&'static str),
}

impl Para {
    fn render(&self, roff: &mut Roff) {
        match self {
            Para::Text(text) => {
                roff.control("PP", []).text([roman(*text)]);
            }
            Para::Item(tag, text) => {
                roff.control("TP", [])
                    .text([bold(*tag)])
                    .text([roman(*text)]);
            }
            Para::Example(lines) => {
                roff.control("PP", []).control("nf", []);
                for line in lines.lines() {
                    roff.text([roman(line)]);
                }
                roff.control("fi", []);
            }
        }
    }
}

use Para::{Example, Item, Text};

const SECTIONS: &[(&str, &[Para])] = &[
    (
        "EXIT STATUS",
        &[
            Item(
                "COMMAND's own",
                "COMMAND exited; 1 instead of 0 when there were violations.",
            ),
            Item("128+N", "COMMAND was killed by signal N."),
            Item(
                "2",
                "A bad command line: an unknown option, a bad value, a --read or --write \
                 path that does not exist, a bad policy file, or a bad word in \
                 $FUSEBOX_OPTS. One line on stderr says which.",
            ),
            Item(
                "125",
                "The sandbox could not be set up; one line on stderr starting \
                 \"fusebox-run:\" says why (fusebox-run --check names the fixes).",
            ),
            Item("126", "COMMAND exists but cannot be executed."),
            Item("127", "COMMAND was not found."),
        ],
    ),
    (
        "POLICY",
        &[
            Text(
                "Four path lists, READ, WRITE, PREDICT and DENY, decide every operation as \
                 Gentoo's sandbox does. An entry covers itself and everything below it. \
                 DENY wins over everything; reads must be under READ; writes must be \
                 under WRITE, and under PREDICT they fail quietly (EACCES, not reported). \
                 The defaults are READ / and WRITE the current directory, /tmp and \
                 $TMPDIR; --read, --write, --predict, --deny and policy files add to them; \
                 --no-default-read and --no-default-write start a list empty.",
            ),
            Text(
                "A policy file (--policy FILE, and what --learn writes) has one entry a \
                 line: a list name (read, write, predict or deny), blanks, and an absolute \
                 PATH, which may contain spaces. Blank lines are ignored; a # at the start \
                 of a line or after a blank starts a comment (so a path cannot contain a \
                 blank followed by #). --learn writes a \"# why:\" comment above each entry \
                 it adds: the operation, the first path, and how many refusals it covers.",
            ),
            Example(
                "# fusebox policy\n\
                 read /\n\
                 write /home/me/src/project   # the build tree\n\
                 deny /home/me/.ssh",
            ),
        ],
    ),
    (
        "THE CONTROL FILE /dev/fusebox",
        &[
            Text(
                "Inside the sandbox, each line written to /dev/fusebox is a command: \
                 addwrite PATH, addread PATH, addpredict PATH, adddeny PATH, or lock (refuse \
                 every later change; --lock does it from the start). A bad line fails the \
                 write with EINVAL, a change after lock with EPERM. Reading /dev/fusebox \
                 returns the current policy as a policy file.",
            ),
            Example("echo \"addwrite $HOME/.cache/ccache\" > /dev/fusebox"),
        ],
    ),
    (
        "VIOLATION LOG",
        &[Text(
            "Violations are appended to the log (--log, default \
             $TMPDIR/fusebox-UID-PID.log) in Gentoo sandbox's format, before the refused \
             call returns; at exit a summary goes to stderr.",
        )],
    ),
    (
        "ENVIRONMENT",
        &[
            Item(
                "FUSEBOX_OPTS",
                "fusebox-run options, read before the command line's (which override \
                 single-valued ones); words split at blanks, with '...' and \"...\" quoting. \
                 In Gentoo mode it may also be set in ${EPREFIX}/etc/sandbox.conf or \
                 sandbox.d.",
            ),
            Item(
                "TMPDIR",
                "Writable by default and where the default log goes. One that is relative \
                 or does not exist is ignored with a warning (/tmp is used).",
            ),
            Item(
                "HOME",
                "A warning is printed when the current directory, writable by default, is \
                 $HOME or above it.",
            ),
            Item(
                "FUSEBOX_DEV_FUSE",
                "Use this path instead of /dev/fuse (for testing the diagnostics).",
            ),
            Item(
                "FUSEBOX_FUSERMOUNT3",
                "Use this path as fusermount3 instead of searching $PATH, /usr/bin and \
                 /bin (for testing the diagnostics).",
            ),
            Item(
                "SANDBOX_*",
                "In Gentoo mode (run as \"sandbox\", or with --gentoo), Gentoo sandbox's \
                 settings: SANDBOX_READ, SANDBOX_WRITE, SANDBOX_PREDICT, SANDBOX_DENY, \
                 SANDBOX_LOG, SANDBOX_ON, SANDBOX_VERBOSE, SANDBOX_DEBUG; see \
                 fusebox-run --gentoo --help.",
            ),
        ],
    ),
    (
        "FILES",
        &[
            Item(
                "/dev/fusebox, /.fusebox-control",
                "The control file, inside the sandbox.",
            ),
            Item(
                "${EPREFIX}/etc/sandbox.conf, ${EPREFIX}/etc/sandbox.d/",
                "Gentoo mode's settings, merged as Gentoo's sandbox merges them.",
            ),
        ],
    ),
    (
        "EXAMPLES",
        &[Example(
            "fusebox-run --check\n\
             fusebox-run -- make -j4\n\
             fusebox-run -w ~/.cache/ccache -- make\n\
             fusebox-run --no-default-write -w ./out --net none -- ./build.sh\n\
             fusebox-run --learn build.policy -- ./build.sh && fusebox-run --policy build.policy -- ./build.sh",
        )],
    ),
    (
        "SEE ALSO",
        &[Text(
            "bwrap(1), user_namespaces(7), fuse(4), fusermount3(1); the README of fusebox \
             for the security model, Gentoo mode and troubleshooting.",
        )],
    ),
];
