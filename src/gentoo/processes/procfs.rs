//! [`Procs`] from /proc: the daemon stays in the host's PID namespace, where the pid of
//! a FUSE request is valid, and runs as the same user as the build, which may read
//! the build's `/proc/PID/environ`.
//!
//! A task is held as an `O_PATH` fd of its `/proc/PID` directory: the directory stands
//! for that task alone, so once it is gone every lookup below it fails (ESRCH) even if
//! a new task has the same pid. Checking it costs one `faccessat`, and what is read
//! through it is that task's, never a successor's.

use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};

use nix::fcntl::{AtFlags, OFlag, openat};
use nix::sys::stat::Mode;
use nix::unistd::{AccessFlags, faccessat};

use super::table::{Lineage, Procs};

/// The tasks of the host's /proc.
#[derive(Debug, Default)]
pub struct ProcFs;

impl Procs for ProcFs {
    type Task = OwnedFd;

    fn open(&self, pid: u32) -> Option<(OwnedFd, Lineage)> {
        let dir = nix::fcntl::open(
            format!("/proc/{pid}").as_str(),
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .ok()?;
        let lineage = lineage_from_status(&read_at(&dir, "status")?)?;
        Some((dir, lineage))
    }

    fn alive(&self, task: &OwnedFd) -> bool {
        faccessat(task.as_fd(), "stat", AccessFlags::F_OK, AtFlags::empty()).is_ok()
    }

    fn environ(&self, task: &OwnedFd) -> Option<Vec<u8>> {
        read_at(task, "environ")
    }

    fn image(&self, task: &OwnedFd) -> Option<u64> {
        env_start_from_stat(&read_at(task, "stat")?)
    }
}

/// The whole of the file `name` in the task's directory.
fn read_at(dir: &OwnedFd, name: &str) -> Option<Vec<u8>> {
    let fd = openat(
        dir.as_fd(),
        name,
        OFlag::O_RDONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .ok()?;
    let mut bytes = Vec::new();
    std::fs::File::from(fd).read_to_end(&mut bytes).ok()?;
    Some(bytes)
}

/// `PPid:` and `Tgid:` of a `/proc/PID/status`.
fn lineage_from_status(status: &[u8]) -> Option<Lineage> {
    let field = |name: &str| {
        status
            .split(|&b| b == b'\n')
            .find_map(|line| line.strip_prefix(name.as_bytes()))
            .and_then(|rest| std::str::from_utf8(rest).ok())
            .and_then(|rest| rest.trim().parse::<u32>().ok())
    };
    Some(Lineage {
        ppid: field("PPid:")?,
        tgid: field("Tgid:")?,
    })
}

/// Field 50 of a `/proc/PID/stat`, `env_start` (proc(5)); counted after the command
/// name, which may hold spaces and parentheses and ends at the last `)`.
fn env_start_from_stat(stat: &[u8]) -> Option<u64> {
    const ENV_START: usize = 50;
    let after_comm = stat.iter().rposition(|&b| b == b')')? + 1;
    let rest = std::str::from_utf8(&stat[after_comm..]).ok()?;
    // The first field after the name is field 3.
    rest.split_whitespace().nth(ENV_START - 3)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_gives_the_lineage() {
        let status = b"Name:\tbash\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t4242\n\
                       Ngid:\t0\nPid:\t4243\nPPid:\t17\nTracerPid:\t0\n";
        assert_eq!(
            lineage_from_status(status),
            Some(Lineage {
                ppid: 17,
                tgid: 4242
            })
        );
        assert_eq!(lineage_from_status(b"Name:\tx\n"), None);
    }

    #[test]
    fn stat_gives_where_the_environment_starts() {
        let mut fields: Vec<String> = (3..=52).map(|n| n.to_string()).collect();
        fields[50 - 3] = "140737488350000".into();
        let stat = format!("77 (a) b (c)) {}\n", fields.join(" "));
        assert_eq!(env_start_from_stat(stat.as_bytes()), Some(140737488350000));
        assert_eq!(env_start_from_stat(b"77 (short) S 1 2"), None);
    }

    /// This process, through the real /proc.
    #[test]
    fn our_own_task_reads_back() {
        let procs = ProcFs;
        let (task, lineage) = procs.open(std::process::id()).unwrap();
        assert_eq!(lineage.tgid, std::process::id());
        assert_eq!(lineage.ppid, std::os::unix::process::parent_id());
        assert!(procs.alive(&task));
        let env = procs.environ(&task).unwrap();
        assert!(env.ends_with(b"\0") || env.is_empty());
        assert!(procs.image(&task).is_some_and(|start| start > 0));
        assert!(procs.open(u32::MAX).is_none());
    }

    #[test]
    fn a_task_that_is_gone_is_not_alive() {
        let mut child = std::process::Command::new("sleep")
            .arg("10")
            .spawn()
            .unwrap();
        let procs = ProcFs;
        let (task, lineage) = procs.open(child.id()).unwrap();
        assert_eq!(lineage.ppid, std::process::id());
        assert!(procs.alive(&task));
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(!procs.alive(&task));
        assert_eq!(procs.environ(&task), None);
    }
}
