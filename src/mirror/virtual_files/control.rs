//! The control file's protocol, `/dev/fusebox` inside the sandbox: the build's way to
//! talk to the policy, as Gentoo's `addwrite`, `addread`, `addpredict` and `adddeny` do.
//!
//! Writing `addwrite PATH` (or `addread`, `addpredict`, `adddeny`) adds PATH to that
//! list; `lock` refuses every later change (EPERM), so an untrusted build cannot widen
//! its own policy. Reading returns the policy the reader is judged by, as policy-file
//! text.
//!
//! A judge that takes declarations ([`Declarations`]: Gentoo mode's shells declare their
//! own `SANDBOX_*` variables) defines their form; a write that starts one starts a
//! declaration, which may come in several writes on one open file (bash's `printf`
//! writes line by line and in 4 KiB pieces) and is handed over whole once complete.

use std::path::PathBuf;

use fuser::Errno;

use crate::policy::{Declarations, List};

/// A declaration still unfinished past this size is refused: nothing legitimate is
/// that long, and the daemon must not buffer without bound.
pub const MAX_DECLARATION: usize = 1 << 20;

/// One command line written to the control file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Add(List, PathBuf),
    Lock,
}

/// What a write completes: command lines, or a whole declaration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Written {
    Command(Command),
    Declaration(Vec<u8>),
}

/// Parses one command line; EINVAL for anything else (a relative path included).
pub fn parse_command(line: &str) -> Result<Command, Errno> {
    let line = line.trim();
    if line == "lock" {
        return Ok(Command::Lock);
    }
    let (word, path) = line.split_once(char::is_whitespace).ok_or(Errno::EINVAL)?;
    let list = match word {
        "addread" => List::Read,
        "addwrite" => List::Write,
        "addpredict" => List::Predict,
        "adddeny" => List::Deny,
        _ => return Err(Errno::EINVAL),
    };
    let path = PathBuf::from(path.trim_start());
    if !path.is_absolute() {
        return Err(Errno::EINVAL);
    }
    Ok(Command::Add(list, path))
}

/// What the writes on one open control file have carried so far: an unfinished
/// declaration, if any.
#[derive(Debug, Default)]
pub struct Writes {
    declaration: Vec<u8>,
}

impl Writes {
    /// The bytes of an unfinished declaration held.
    pub fn pending(&self) -> usize {
        self.declaration.len()
    }

    /// Whether `data` would be buffered (it starts or continues a declaration).
    pub fn buffers(&self, data: &[u8], form: Option<&dyn Declarations>) -> bool {
        !self.declaration.is_empty() || form.is_some_and(|f| f.starts(data))
    }

    /// What `data` completes. Outside a declaration each line is a command; a write
    /// that starts a declaration of `form` is buffered until the declaration is
    /// complete, in this write or a later one.
    pub fn take(
        &mut self,
        data: &[u8],
        form: Option<&dyn Declarations>,
    ) -> Result<Vec<Written>, Errno> {
        let Some(form) = form.filter(|_| self.buffers(data, form)) else {
            let text = std::str::from_utf8(data).map_err(|_| Errno::EINVAL)?;
            return text
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| parse_command(l).map(Written::Command))
                .collect();
        };
        self.declaration.extend_from_slice(data);
        let Some(end) = form.complete(&self.declaration) else {
            if self.declaration.len() > MAX_DECLARATION {
                self.declaration = Vec::new();
                return Err(Errno::EINVAL);
            }
            return Ok(Vec::new());
        };
        let mut whole = std::mem::take(&mut self.declaration);
        let rest = whole.split_off(end.min(whole.len()));
        let mut written = vec![Written::Declaration(whole)];
        if !rest.is_empty() {
            written.extend(self.take(&rest, Some(form))?);
        }
        Ok(written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{Caller, DeclarationError};

    /// A form for the tests: `<` starts a declaration, `>` ends it.
    struct Angles;

    impl Declarations for Angles {
        fn starts(&self, data: &[u8]) -> bool {
            data.starts_with(b"<")
        }
        fn complete(&self, bytes: &[u8]) -> Option<usize> {
            bytes.iter().position(|&b| b == b'>').map(|i| i + 1)
        }
        fn declare(&self, _: Caller, _: &[u8]) -> Result<(), DeclarationError> {
            Ok(())
        }
    }

    fn declaration(text: &str) -> Written {
        Written::Declaration(text.as_bytes().to_vec())
    }

    #[test]
    fn commands_parse() {
        assert_eq!(
            parse_command("addwrite /var/tmp/x\n"),
            Ok(Command::Add(List::Write, PathBuf::from("/var/tmp/x")))
        );
        assert_eq!(
            parse_command("adddeny /a b"),
            Ok(Command::Add(List::Deny, PathBuf::from("/a b")))
        );
        assert_eq!(
            parse_command("addread /"),
            Ok(Command::Add(List::Read, "/".into()))
        );
        assert_eq!(
            parse_command("addpredict /p"),
            Ok(Command::Add(List::Predict, "/p".into()))
        );
        assert_eq!(parse_command(" lock "), Ok(Command::Lock));
    }

    #[test]
    fn bad_commands_are_einval() {
        for bad in ["", "addwrite", "addwrite relative", "write /x", "lock now"] {
            assert_eq!(parse_command(bad), Err(Errno::EINVAL), "{bad:?}");
        }
    }

    #[test]
    fn a_declaration_in_one_write_then_commands() {
        let mut w = Writes::default();
        assert_eq!(
            w.take(b"<a\nb>lock\n", Some(&Angles)),
            Ok(vec![declaration("<a\nb>"), Written::Command(Command::Lock)])
        );
        assert_eq!(w.pending(), 0);
        assert_eq!(
            w.take(b"lock\n", Some(&Angles)),
            Ok(vec![Written::Command(Command::Lock)])
        );
    }

    #[test]
    fn a_declaration_in_pieces_takes_effect_when_complete() {
        let mut w = Writes::default();
        assert_eq!(w.take(b"<one", Some(&Angles)), Ok(vec![]));
        assert_eq!(w.pending(), 4);
        assert!(w.buffers(b"two", Some(&Angles)));
        assert_eq!(w.take(b" two", Some(&Angles)), Ok(vec![]));
        assert_eq!(
            w.take(b">", Some(&Angles)),
            Ok(vec![declaration("<one two>")])
        );
    }

    #[test]
    fn without_a_form_everything_is_a_command() {
        let mut w = Writes::default();
        assert!(!w.buffers(b"<x>", None));
        assert_eq!(w.take(b"<x>", None), Err(Errno::EINVAL));
    }

    #[test]
    fn an_endless_declaration_is_dropped_at_the_limit() {
        let mut w = Writes::default();
        assert_eq!(w.take(b"<", Some(&Angles)), Ok(vec![]));
        let big = vec![b'a'; MAX_DECLARATION];
        assert_eq!(w.take(&big, Some(&Angles)), Err(Errno::EINVAL));
        assert_eq!(w.pending(), 0);
        assert_eq!(
            w.take(b"lock", Some(&Angles)),
            Ok(vec![Written::Command(Command::Lock)])
        );
    }
}
