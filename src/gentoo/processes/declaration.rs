//! The form in which a Gentoo-mode shell declares its `SANDBOX_*` variables through
//! the control file (written by the startup file, [`super::bashrc`]): NUL-separated
//! records, the header `sandbox-env`, `NAME=VALUE` for each variable that is set, and
//! `end`. Pure: no I/O.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use super::settings::Vars;

/// The first record of a declaration, with its NUL.
pub const HEADER: &[u8] = b"sandbox-env\0";

/// The record that ends a declaration (a variable's record always holds a `=`).
const END: &[u8] = b"end";

/// A declaration that is not of this form, or names a variable that is not a
/// sandbox variable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Malformed;

/// Whether a write that starts with `data` starts a declaration.
pub fn starts(data: &[u8]) -> bool {
    data.starts_with(HEADER)
}

/// The length of the declaration at the start of `bytes`: just past its end record's
/// NUL. Only records whose NUL has arrived count.
pub fn complete(bytes: &[u8]) -> Option<usize> {
    let mut at = 0;
    while let Some(len) = bytes[at..].iter().position(|&b| b == 0) {
        let record = &bytes[at..at + len];
        at += len + 1;
        if record == END {
            return Some(at);
        }
    }
    None
}

/// The variables a whole declaration (as [`complete`] delimits it) declares.
pub fn parse(declaration: &[u8]) -> Result<Vars, Malformed> {
    let inside = declaration
        .strip_prefix(HEADER)
        .and_then(|d| d.strip_suffix(b"\0"))
        .and_then(|d| d.strip_suffix(END))
        .ok_or(Malformed)?;
    let mut vars = Vars::default();
    for record in inside.split(|&b| b == 0).filter(|r| !r.is_empty()) {
        let eq = record.iter().position(|&b| b == b'=').ok_or(Malformed)?;
        vars.set(&record[..eq], OsStr::from_bytes(&record[eq + 1..]))
            .map_err(|_| Malformed)?;
    }
    Ok(vars)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::List;

    fn declaration(records: &[&str]) -> Vec<u8> {
        let mut out = HEADER.to_vec();
        for r in records {
            out.extend_from_slice(r.as_bytes());
            out.push(0);
        }
        out.extend_from_slice(b"end\0");
        out
    }

    #[test]
    fn a_declaration_parses_with_newlines_and_equals_in_values() {
        let data = declaration(&[
            "SANDBOX_ON=0",
            "SANDBOX_ACTIVE=armedandready",
            "SANDBOX_WRITE=/a:/b=c\nd",
            "SANDBOX_DENY=",
        ]);
        assert!(starts(&data));
        assert_eq!(complete(&data), Some(data.len()));
        let vars = parse(&data).unwrap();
        assert_eq!(vars.on.as_deref(), Some(OsStr::new("0")));
        assert_eq!(vars.active.as_deref(), Some(OsStr::new("armedandready")));
        assert_eq!(vars.list(List::Write), Some(OsStr::new("/a:/b=c\nd")));
        assert_eq!(vars.list(List::Deny), Some(OsStr::new("")));
        assert_eq!(vars.list(List::Read), None);
        assert_eq!(parse(&declaration(&[])), Ok(Vars::default()));
    }

    /// bash's printf writes at each newline and every 4 KiB: complete only at `end`
    /// and its NUL.
    #[test]
    fn a_declaration_is_complete_only_with_its_end() {
        let data = declaration(&["SANDBOX_ON=1\nend", "SANDBOX_WRITE=/x"]);
        assert_eq!(complete(&data[..data.len() - 1]), None);
        assert_eq!(complete(&data[..20]), None);
        let mut two = data.clone();
        two.extend_from_slice(b"lock\n");
        assert_eq!(complete(&two), Some(data.len()));
    }

    #[test]
    fn bad_declarations_are_malformed() {
        assert_eq!(parse(&declaration(&["PATH=/bin"])), Err(Malformed));
        assert_eq!(parse(&declaration(&["SANDBOX_ON"])), Err(Malformed));
        assert_eq!(parse(b"sandbox-env\0"), Err(Malformed));
        // A header is a record of its own: `sandbox-env` as a line starts nothing.
        assert!(!starts(b"sandbox-env\n"));
    }
}
