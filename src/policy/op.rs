//! An operation the build makes, as the policy judges it and the violation log names it.

use super::Access;

/// An operation as the violation log names it.
///
/// The names are Gentoo's `F:` names where it has one (`libsandbox/libsandbox.c`,
/// `before_syscall_open_int` and `before_syscall_access` for the `open_*` and
/// `access_*` forms; `libsandbox/symbols.h.in` for the rest, which are the wrapped
/// function names). Gentoo logs the exact libc function (`mkdirat`, `renameat2`,
/// `fchmodat`…); the mirror sees a FUSE request, not which variant the build called, so
/// each family is logged under its plain name. The few ops Gentoo never checks (see
/// [`Op::is_gentoo_name`]) use the syscall's name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// open without O_CREAT, read only.
    OpenRd,
    /// open without O_CREAT, O_WRONLY or O_RDWR.
    OpenWr,
    /// open(dir, O_TMPFILE): a file with no name made in the directory. Gentoo's sandbox
    /// checks and logs it as `open_wr` of the directory; it is its own op here because
    /// it writes *in* the directory (what `--learn` must allow is the directory itself).
    OpenTmpfile,
    /// open with O_CREAT but O_RDONLY. Gentoo checks this against READ; the mirror only
    /// sees it when the file is created, so it is a write here.
    OpenRdCreat,
    /// open with O_CREAT and O_WRONLY or O_RDWR (FUSE `create`).
    OpenWrCreat,
    Opendir,
    /// readlink (a read, like Gentoo's READ list covers).
    Readlink,
    /// access/faccessat with R_OK (FUSE `access`).
    AccessRd,
    /// access/faccessat with W_OK.
    AccessWr,
    Execve,
    Mkdir,
    Mknod,
    Mkfifo,
    Unlink,
    Rmdir,
    /// Checked, and logged, once for each of its two paths.
    Rename,
    Link,
    Symlink,
    Chmod,
    Chown,
    /// Setting atime/mtime. Gentoo wraps utime, utimes, futimesat, lutimes and
    /// utimensat; coreutils' touch uses utimensat, and it is the one FUSE mirrors.
    Utimensat,
    Truncate,
    Setxattr,
    Removexattr,
    /// Not checked by Gentoo (it acts on an open fd); fusebox judges it by the path
    /// the file was opened under.
    Fallocate,
    /// Looked at, never judged (see [`Op::is_judged`]): they appear in the trace only.
    Lookup,
    Stat,
    Statfs,
    Readdir,
    Getxattr,
    Listxattr,
    /// access(2) with F_OK or X_OK (a chdir asks X_OK).
    Access,
}

impl Op {
    pub const ALL: [Op; 32] = [
        Op::OpenRd,
        Op::OpenWr,
        Op::OpenTmpfile,
        Op::OpenRdCreat,
        Op::OpenWrCreat,
        Op::Opendir,
        Op::Readlink,
        Op::AccessRd,
        Op::AccessWr,
        Op::Execve,
        Op::Mkdir,
        Op::Mknod,
        Op::Mkfifo,
        Op::Unlink,
        Op::Rmdir,
        Op::Rename,
        Op::Link,
        Op::Symlink,
        Op::Chmod,
        Op::Chown,
        Op::Utimensat,
        Op::Truncate,
        Op::Setxattr,
        Op::Removexattr,
        Op::Fallocate,
        Op::Lookup,
        Op::Stat,
        Op::Statfs,
        Op::Readdir,
        Op::Getxattr,
        Op::Listxattr,
        Op::Access,
    ];

    /// The `F:` name in the log and the verbose line.
    pub fn gentoo_name(self) -> &'static str {
        match self {
            Op::OpenRd => "open_rd",
            Op::OpenWr | Op::OpenTmpfile => "open_wr",
            Op::OpenRdCreat => "open_rd_creat",
            Op::OpenWrCreat => "open_wr_creat",
            Op::Opendir => "opendir",
            Op::Readlink => "readlink",
            Op::AccessRd => "access_rd",
            Op::AccessWr => "access_wr",
            Op::Execve => "execve",
            Op::Mkdir => "mkdir",
            Op::Mknod => "mknod",
            Op::Mkfifo => "mkfifo",
            Op::Unlink => "unlink",
            Op::Rmdir => "rmdir",
            Op::Rename => "rename",
            Op::Link => "link",
            Op::Symlink => "symlink",
            Op::Chmod => "chmod",
            Op::Chown => "chown",
            Op::Utimensat => "utimensat",
            Op::Truncate => "truncate",
            Op::Setxattr => "setxattr",
            Op::Removexattr => "removexattr",
            Op::Fallocate => "fallocate",
            Op::Lookup => "lookup",
            Op::Stat => "stat",
            Op::Statfs => "statfs",
            Op::Readdir => "readdir",
            Op::Getxattr => "getxattr",
            Op::Listxattr => "listxattr",
            Op::Access => "access",
        }
    }

    /// Whether Gentoo's sandbox itself uses this name (so a log holding it is one
    /// Gentoo could have written).
    pub fn is_gentoo_name(self) -> bool {
        !matches!(self, Op::Fallocate | Op::Readlink) && self.is_judged()
    }

    /// Whether the policy decides it. Like Gentoo's sandbox, the policy decides what a
    /// build may open, change or run, not what it may see exists.
    pub fn is_judged(self) -> bool {
        !matches!(
            self,
            Op::Lookup
                | Op::Stat
                | Op::Statfs
                | Op::Readdir
                | Op::Getxattr
                | Op::Listxattr
                | Op::Access
        )
    }

    /// How the policy judges the op.
    pub fn access(self) -> Access {
        match self {
            Op::OpenRd | Op::Opendir | Op::Readlink | Op::AccessRd | Op::Execve => Access::Read,
            _ => Access::Write,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn op_names_are_distinct_and_gentoo_shaped() {
        let names: HashSet<_> = Op::ALL.iter().map(|o| o.gentoo_name()).collect();
        // Gentoo logs open(dir, O_TMPFILE) as an open_wr.
        assert_eq!(Op::OpenTmpfile.gentoo_name(), Op::OpenWr.gentoo_name());
        assert_eq!(names.len(), Op::ALL.len() - 1);
        for op in Op::ALL {
            let n = op.gentoo_name();
            assert!(
                n.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{n}"
            );
            // Gentoo pads the verbose line to its longest symbol (18 characters); the
            // layout assumes names no longer than that.
            assert!(n.len() <= 18, "{n}");
        }
        assert!(Op::Mkdir.is_gentoo_name());
        assert!(!Op::Fallocate.is_gentoo_name());
    }

    #[test]
    fn op_access() {
        assert_eq!(Op::OpenRd.access(), Access::Read);
        assert_eq!(Op::Opendir.access(), Access::Read);
        assert_eq!(Op::AccessRd.access(), Access::Read);
        assert_eq!(Op::Execve.access(), Access::Read);
        assert_eq!(Op::OpenRdCreat.access(), Access::Write);
        assert_eq!(Op::OpenWr.access(), Access::Write);
        assert_eq!(Op::AccessWr.access(), Access::Write);
        assert_eq!(Op::Utimensat.access(), Access::Write);
        assert_eq!(Op::Rename.access(), Access::Write);
    }
}
