//! One operation of the build as the report sees it ([`Event`]), and what it does
//! ([`Effect`]): read, listed, ran, changed, or only looked.

use crate::audit::Op;
use crate::policy::Verdict;

/// One operation as the report sees it: a trace event, borrowed.
#[derive(Clone, Copy, Debug)]
pub struct Event<'a> {
    pub pid: u32,
    pub cmdline: &'a str,
    pub op: Op,
    pub path: &'a [u8],
    pub path2: Option<&'a [u8]>,
    pub verdict: Verdict,
    pub errno: i32,
}

/// What an operation does, for the report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Effect {
    Read,
    /// A directory listed (opendir).
    Listed,
    Executed,
    Change(Change),
    /// Looked at without reading: lookup, stat, access…; counted, not shown.
    Looked,
}

/// A change to the filesystem.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Change {
    Created,
    Written,
    Deleted,
    Renamed,
    Linked,
    Chmod,
    Chown,
    Touched,
    Xattr,
}

impl Change {
    pub fn name(self) -> &'static str {
        match self {
            Change::Created => "created",
            Change::Written => "written",
            Change::Deleted => "deleted",
            Change::Renamed => "renamed",
            Change::Linked => "linked",
            Change::Chmod => "chmod",
            Change::Chown => "chown",
            Change::Touched => "touched",
            Change::Xattr => "xattr",
        }
    }
}

impl Effect {
    pub fn of(op: Op) -> Effect {
        use Change::*;
        match op {
            Op::OpenRd | Op::Readlink | Op::AccessRd => Effect::Read,
            Op::Opendir => Effect::Listed,
            Op::Execve => Effect::Executed,
            Op::OpenWr | Op::Truncate | Op::Fallocate => Effect::Change(Written),
            Op::OpenTmpfile
            | Op::OpenRdCreat
            | Op::OpenWrCreat
            | Op::Mkdir
            | Op::Mknod
            | Op::Mkfifo
            | Op::Symlink => Effect::Change(Created),
            Op::Link => Effect::Change(Linked),
            Op::Unlink | Op::Rmdir => Effect::Change(Deleted),
            Op::Rename => Effect::Change(Renamed),
            Op::Chmod => Effect::Change(Chmod),
            Op::Chown => Effect::Change(Chown),
            Op::Utimensat => Effect::Change(Touched),
            Op::Setxattr | Op::Removexattr => Effect::Change(Xattr),
            Op::AccessWr
            | Op::Lookup
            | Op::Stat
            | Op::Statfs
            | Op::Readdir
            | Op::Getxattr
            | Op::Listxattr
            | Op::Access => Effect::Looked,
        }
    }

    /// The short word the report uses.
    pub fn name(self) -> &'static str {
        match self {
            Effect::Read => "read",
            Effect::Listed => "listed",
            Effect::Executed => "ran",
            Effect::Change(c) => c.name(),
            Effect::Looked => "looked",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_op_has_an_effect_and_a_name() {
        for op in Op::ALL {
            assert!(!Effect::of(op).name().is_empty());
        }
        assert_eq!(Effect::of(Op::Execve), Effect::Executed);
        assert_eq!(Effect::of(Op::Stat), Effect::Looked);
    }
}
