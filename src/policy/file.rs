//! The policy file (`--policy FILE`, also what learn mode writes): one entry a line,
//!
//! ```text
//! # comment
//! read /
//! write /var/tmp/portage
//! predict /var/cache
//! deny /home/me/.ssh
//! ```
//!
//! Lines are trimmed; blank lines are skipped. A `#` at the start of a line or after a
//! blank starts a comment (`write /x  # for ccache`), as in shells and make.conf, so a
//! comment never becomes part of a path; a `#` inside a word (`/a#b`) is part of it.
//! The path is everything after the first run of whitespace, up to a comment, so it
//! may hold spaces.

use std::fmt;
use std::path::PathBuf;

use super::List;

/// The header [`render`] writes; a comment, so parsing skips it.
pub(super) const HEADER: &str =
    "# fusebox policy: one \"LIST PATH\" per line; LIST is read, write, predict or deny\n";

/// A policy file line that could not be read. Displays as `line N: what is wrong`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    pub kind: ParseErrorKind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParseErrorKind {
    /// The first word is not a list name.
    UnknownList(String),
    /// A list name with nothing after it.
    MissingPath(List),
    /// The path does not start with `/`.
    RelativePath(String),
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: ", self.line)?;
        match &self.kind {
            ParseErrorKind::UnknownList(word) => write!(
                f,
                "unknown list \"{word}\" (expected read, write, predict or deny)"
            ),
            ParseErrorKind::MissingPath(list) => write!(f, "missing path after \"{list}\""),
            ParseErrorKind::RelativePath(path) => {
                write!(f, "path \"{path}\" is not absolute (it must start with /)")
            }
        }
    }
}

impl std::error::Error for ParseError {}

/// The entries of a policy file, in order, paths as written. The first bad line is the
/// error: a policy half applied is worse than none.
pub fn parse_policy_file(text: &str) -> Result<Vec<(List, PathBuf)>, ParseError> {
    let mut entries = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = without_comment(raw).trim();
        if line.is_empty() {
            continue;
        }
        let err = |kind| ParseError { line: i + 1, kind };
        let (word, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        let list = List::from_keyword(word)
            .ok_or_else(|| err(ParseErrorKind::UnknownList(word.to_owned())))?;
        let path = rest.trim_start();
        if path.is_empty() {
            return Err(err(ParseErrorKind::MissingPath(list)));
        }
        if !path.starts_with('/') {
            return Err(err(ParseErrorKind::RelativePath(path.to_owned())));
        }
        entries.push((list, PathBuf::from(path)));
    }
    Ok(entries)
}

/// `line` up to its comment: a `#` first in the line or after a blank.
fn without_comment(line: &str) -> &str {
    let mut previous_blank = true;
    for (i, c) in line.char_indices() {
        if c == '#' && previous_blank {
            return &line[..i];
        }
        previous_blank = c.is_whitespace();
    }
    line
}

/// Whether `path` can be written in a policy file and read back: a blank followed by
/// `#` in it would start a comment.
pub(super) fn fits_in_a_line(path: &str) -> bool {
    without_comment(path) == path
}

/// Policy-file text for `entries`. [`super::Policy`] only holds paths this format can
/// carry (UTF-8, no newline, no trailing whitespace), so the lossy conversion never
/// loses anything for its entries.
pub(super) fn render(entries: &[(List, PathBuf)]) -> String {
    let mut out = String::from(HEADER);
    for (list, path) in entries {
        render_entry(&mut out, *list, &path.to_string_lossy());
    }
    out
}

/// One entry's line. A path with a blank followed by `#` cannot be read back from a
/// policy file: it is left out, in a comment that says so, rather than cut short.
pub(super) fn render_entry(out: &mut String, list: List, path: &str) {
    if !fits_in_a_line(path) {
        out.push_str("# left out (a blank followed by # would start a comment): ");
    }
    out.push_str(list.keyword());
    out.push(' ');
    out.push_str(path);
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_err(text: &str) -> String {
        parse_policy_file(text).unwrap_err().to_string()
    }

    #[test]
    fn parses_all_lists_comments_blanks_and_spaces() {
        let text = "# a policy\n\
                    \n\
                    read /\n\
                    \twrite   /var/tmp/my build  \n\
                    predict\t/var/cache\n\
                    \x20 # indented comment\n\
                    deny /home/me/.ssh\n\
                    write /weird#name\n\
                    write /commented  # a comment\n\
                    read /tab\t#comment\n\
                    #write /disabled\n";
        assert_eq!(
            parse_policy_file(text).unwrap(),
            vec![
                (List::Read, PathBuf::from("/")),
                (List::Write, PathBuf::from("/var/tmp/my build")),
                (List::Predict, PathBuf::from("/var/cache")),
                (List::Deny, PathBuf::from("/home/me/.ssh")),
                (List::Write, PathBuf::from("/weird#name")),
                (List::Write, PathBuf::from("/commented")),
                (List::Read, PathBuf::from("/tab")),
            ]
        );
    }

    #[test]
    fn a_comment_never_becomes_a_path_and_a_bare_comment_is_no_path() {
        assert_eq!(
            parse_err("write # nothing here\n"),
            "line 1: missing path after \"write\""
        );
        assert_eq!(
            parse_policy_file("deny /a b #c d\n").unwrap(),
            [(List::Deny, PathBuf::from("/a b"))]
        );
    }

    #[test]
    fn a_path_that_a_comment_would_cut_is_rendered_as_a_comment() {
        let entries = [
            (List::Write, PathBuf::from("/a #b")),
            (List::Write, PathBuf::from("/c")),
        ];
        let text = render(&entries);
        assert!(text.contains("# left out"), "{text}");
        assert_eq!(
            parse_policy_file(&text).unwrap(),
            [(List::Write, PathBuf::from("/c"))]
        );
    }

    #[test]
    fn empty_and_comment_only_files_have_no_entries() {
        assert_eq!(parse_policy_file("").unwrap(), vec![]);
        assert_eq!(parse_policy_file("# nothing\n\n   \n").unwrap(), vec![]);
    }

    #[test]
    fn crlf_lines_are_trimmed() {
        assert_eq!(
            parse_policy_file("write /tmp\r\n").unwrap(),
            vec![(List::Write, PathBuf::from("/tmp"))]
        );
    }

    #[test]
    fn unknown_list_names_the_line() {
        assert_eq!(
            parse_err("read /\n# c\nwrte /tmp\n"),
            "line 3: unknown list \"wrte\" (expected read, write, predict or deny)"
        );
        assert_eq!(
            parse_err("WRITE /tmp"),
            "line 1: unknown list \"WRITE\" (expected read, write, predict or deny)"
        );
        // No whitespace after the keyword: the whole thing is the unknown word.
        assert_eq!(
            parse_err("\n\nwrite/tmp"),
            "line 3: unknown list \"write/tmp\" (expected read, write, predict or deny)"
        );
    }

    #[test]
    fn missing_path_names_the_line() {
        assert_eq!(
            parse_err("read /\nwrite\n"),
            "line 2: missing path after \"write\""
        );
        assert_eq!(
            parse_err("deny   \t "),
            "line 1: missing path after \"deny\""
        );
    }

    #[test]
    fn relative_path_names_the_line() {
        assert_eq!(
            parse_err("read /\n\n\nwrite tmp/x\n"),
            "line 4: path \"tmp/x\" is not absolute (it must start with /)"
        );
        assert_eq!(
            parse_policy_file("predict ./x").unwrap_err(),
            ParseError {
                line: 1,
                kind: ParseErrorKind::RelativePath("./x".into())
            }
        );
    }
}
