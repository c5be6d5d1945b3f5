//! What an operation does to a path ([`Access`]), and what the policy answers
//! ([`Verdict`]).

/// What an operation does to the path it names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Access {
    /// Looks at the path (open for reading, readdir, readlink, stat, exec).
    Read,
    /// Changes the path or what it holds (create, unlink, chmod, open for writing…).
    Write,
}

/// The outcome of a check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Verdict {
    Allow,
    /// Refused (EACCES) and reported: a violation for the log.
    Deny,
    /// Refused (EACCES) silently: the write was predicted (under PREDICT).
    Predict,
}

impl Verdict {
    /// Whether the operation may go ahead.
    pub fn is_allowed(&self) -> bool {
        matches!(self, Verdict::Allow)
    }

    /// Whether the refusal is a violation to log and count.
    pub fn is_reported(&self) -> bool {
        matches!(self, Verdict::Deny)
    }

    /// The lowercase name used in traces and messages.
    pub fn name(&self) -> &'static str {
        match self {
            Verdict::Allow => "allow",
            Verdict::Deny => "deny",
            Verdict::Predict => "predict",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdict_predicates() {
        assert!(Verdict::Allow.is_allowed());
        assert!(!Verdict::Allow.is_reported());
        assert!(!Verdict::Deny.is_allowed());
        assert!(Verdict::Deny.is_reported());
        assert_eq!(Verdict::Predict.name(), "predict");
    }
}
