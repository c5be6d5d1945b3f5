//! How many requests of each kind the mirror served: the counts that explain a speed
//! change (`--stats`). One relaxed atomic add per request; nothing else on the hot path.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

/// The FUSE requests the mirror answers, one counter each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Opcode {
    Lookup,
    Forget,
    Getattr,
    Setattr,
    Readlink,
    Mknod,
    Mkdir,
    Unlink,
    Rmdir,
    Symlink,
    Rename,
    Link,
    Open,
    Read,
    Write,
    Flush,
    Release,
    Fsync,
    Opendir,
    Readdir,
    Readdirplus,
    Releasedir,
    Fsyncdir,
    Statfs,
    Setxattr,
    Getxattr,
    Listxattr,
    Removexattr,
    Access,
    Create,
    Tmpfile,
    Fallocate,
    Lseek,
    CopyFileRange,
}

impl Opcode {
    pub const ALL: [Opcode; 34] = [
        Opcode::Lookup,
        Opcode::Forget,
        Opcode::Getattr,
        Opcode::Setattr,
        Opcode::Readlink,
        Opcode::Mknod,
        Opcode::Mkdir,
        Opcode::Unlink,
        Opcode::Rmdir,
        Opcode::Symlink,
        Opcode::Rename,
        Opcode::Link,
        Opcode::Open,
        Opcode::Read,
        Opcode::Write,
        Opcode::Flush,
        Opcode::Release,
        Opcode::Fsync,
        Opcode::Opendir,
        Opcode::Readdir,
        Opcode::Readdirplus,
        Opcode::Releasedir,
        Opcode::Fsyncdir,
        Opcode::Statfs,
        Opcode::Setxattr,
        Opcode::Getxattr,
        Opcode::Listxattr,
        Opcode::Removexattr,
        Opcode::Access,
        Opcode::Create,
        Opcode::Tmpfile,
        Opcode::Fallocate,
        Opcode::Lseek,
        Opcode::CopyFileRange,
    ];

    /// The kernel's name for the request, lower case (`FUSE_COPY_FILE_RANGE` →
    /// `copy_file_range`). `forget` counts nodes: the kernel batches them.
    pub fn name(self) -> &'static str {
        match self {
            Opcode::Lookup => "lookup",
            Opcode::Forget => "forget",
            Opcode::Getattr => "getattr",
            Opcode::Setattr => "setattr",
            Opcode::Readlink => "readlink",
            Opcode::Mknod => "mknod",
            Opcode::Mkdir => "mkdir",
            Opcode::Unlink => "unlink",
            Opcode::Rmdir => "rmdir",
            Opcode::Symlink => "symlink",
            Opcode::Rename => "rename",
            Opcode::Link => "link",
            Opcode::Open => "open",
            Opcode::Read => "read",
            Opcode::Write => "write",
            Opcode::Flush => "flush",
            Opcode::Release => "release",
            Opcode::Fsync => "fsync",
            Opcode::Opendir => "opendir",
            Opcode::Readdir => "readdir",
            Opcode::Readdirplus => "readdirplus",
            Opcode::Releasedir => "releasedir",
            Opcode::Fsyncdir => "fsyncdir",
            Opcode::Statfs => "statfs",
            Opcode::Setxattr => "setxattr",
            Opcode::Getxattr => "getxattr",
            Opcode::Listxattr => "listxattr",
            Opcode::Removexattr => "removexattr",
            Opcode::Access => "access",
            Opcode::Create => "create",
            Opcode::Tmpfile => "tmpfile",
            Opcode::Fallocate => "fallocate",
            Opcode::Lseek => "lseek",
            Opcode::CopyFileRange => "copy_file_range",
        }
    }
}

/// Requests served, by opcode, and the write-class syscalls the seccomp notifier
/// answered (with kernel-served trees). Shared between who serves and who reports.
#[derive(Debug)]
pub struct RequestCounts {
    counts: [AtomicU64; Opcode::ALL.len()],
    notifications: AtomicU64,
}

impl Default for RequestCounts {
    fn default() -> Self {
        RequestCounts {
            counts: std::array::from_fn(|_| AtomicU64::new(0)),
            notifications: AtomicU64::new(0),
        }
    }
}

impl RequestCounts {
    pub fn add(&self, op: Opcode) {
        self.counts[op as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// One more write-class syscall answered by the notifier.
    pub fn add_notification(&self) {
        self.notifications.fetch_add(1, Ordering::Relaxed);
    }

    pub fn notifications(&self) -> u64 {
        self.notifications.load(Ordering::Relaxed)
    }

    /// The opcodes seen at least once, with their counts, in [`Opcode::ALL`]'s order.
    pub fn nonzero(&self) -> Vec<(Opcode, u64)> {
        Opcode::ALL
            .iter()
            .map(|&op| (op, self.counts[op as usize].load(Ordering::Relaxed)))
            .filter(|&(_, n)| n > 0)
            .collect()
    }

    pub fn total(&self) -> u64 {
        self.nonzero().iter().map(|&(_, n)| n).sum()
    }
}

/// Seconds of CPU time, user and system.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CpuTime {
    pub user: f64,
    pub system: f64,
}

/// The `--stats` file: one JSON object, `{"requests": {"lookup": N, …}, "total": N,
/// "notifications": N, "daemon_cpu": {"user": S, "system": S}}`. Opcodes never seen are
/// left out.
pub fn render_json(counts: &RequestCounts, daemon_cpu: CpuTime) -> String {
    let mut out = String::from("{\"requests\":{");
    for (i, (op, n)) in counts.nonzero().into_iter().enumerate() {
        let comma = if i == 0 { "" } else { "," };
        let _ = write!(out, "{comma}\"{}\":{n}", op.name());
    }
    let _ = writeln!(
        out,
        "}},\"total\":{},\"notifications\":{},\"daemon_cpu\":{{\"user\":{:.3},\"system\":{:.3}}}}}",
        counts.total(),
        counts.notifications(),
        daemon_cpu.user,
        daemon_cpu.system
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opcode_indexes_match_all() {
        for (i, op) in Opcode::ALL.iter().enumerate() {
            assert_eq!(*op as usize, i, "{op:?} is out of place in Opcode::ALL");
        }
    }

    #[test]
    fn json_lists_only_seen_opcodes_with_total_and_cpu() {
        let counts = RequestCounts::default();
        counts.add(Opcode::Lookup);
        counts.add(Opcode::Lookup);
        counts.add(Opcode::CopyFileRange);
        counts.add_notification();
        let json = render_json(
            &counts,
            CpuTime {
                user: 1.25,
                system: 0.5,
            },
        );
        assert_eq!(
            json,
            "{\"requests\":{\"lookup\":2,\"copy_file_range\":1},\"total\":3,\
             \"notifications\":1,\"daemon_cpu\":{\"user\":1.250,\"system\":0.500}}\n"
        );
    }

    #[test]
    fn nothing_served_is_an_empty_object() {
        let json = render_json(&RequestCounts::default(), CpuTime::default());
        assert!(json.starts_with("{\"requests\":{},\"total\":0,"), "{json}");
    }
}
