//! One of Gentoo's four lists, and its keyword in a policy file.

use std::fmt;

/// One of Gentoo's four lists (`SANDBOX_READ`, `SANDBOX_WRITE`, `SANDBOX_PREDICT`,
/// `SANDBOX_DENY`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum List {
    Read,
    Write,
    Predict,
    Deny,
}

impl List {
    pub const ALL: [List; 4] = [List::Read, List::Write, List::Predict, List::Deny];

    /// The keyword naming this list in a policy file.
    pub fn keyword(self) -> &'static str {
        match self {
            List::Read => "read",
            List::Write => "write",
            List::Predict => "predict",
            List::Deny => "deny",
        }
    }

    /// The list a policy-file keyword names (exact, lowercase).
    pub fn from_keyword(word: &str) -> Option<List> {
        List::ALL.into_iter().find(|l| l.keyword() == word)
    }

    pub(super) fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for List {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.keyword())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_keywords_round_trip() {
        for l in List::ALL {
            assert_eq!(List::from_keyword(l.keyword()), Some(l));
        }
        assert_eq!(List::from_keyword("Write"), None);
        assert_eq!(List::Predict.to_string(), "predict");
    }
}
