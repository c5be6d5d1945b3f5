//! The control file, `/dev/fusebox` inside the sandbox: the build's way to talk to the
//! policy, as Gentoo's `addwrite`, `addread`, `addpredict` and `adddeny` do.
//!
//! Writing `addwrite PATH` (or `addread`, `addpredict`, `adddeny`) adds PATH to that
//! list; `lock` refuses every later change (EPERM), so an untrusted build cannot widen
//! its own policy. Reading returns the current policy as policy-file text.
//!
//! It is a node of the mirror that no host object backs (id [`CONTROL_ID`], named
//! [`CONTROL_NAME`] in the root, which listings do not show), bind-mounted by the
//! sandbox's PID 1 onto /dev/fusebox.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use fuser::{Errno, FileAttr, FileType, INodeNo};

use crate::policy::List;

/// The control file's node id: below every id synthesised for a host object
/// (`index << 48 | ino` with index ≥ 1), above the root's.
pub const CONTROL_ID: u64 = 2;

/// Its name in the mirror's root, where PID 1 finds it to bind it onto /dev/fusebox.
pub const CONTROL_NAME: &str = ".fusebox-control";

/// Control handles are numbered from here, apart from the host files' handles.
const FIRST_HANDLE: u64 = 1 << 63;

/// One line written to the control file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Add(List, PathBuf),
    Lock,
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

/// The open control handles: each reads the policy as it was when opened.
#[derive(Debug)]
pub struct Control {
    snapshots: Mutex<HashMap<u64, Arc<Vec<u8>>>>,
    next: AtomicU64,
    created: SystemTime,
    uid: u32,
    gid: u32,
}

impl Control {
    /// A control file owned by `uid`/`gid` (the daemon's, i.e. the user's).
    pub fn new(uid: u32, gid: u32) -> Self {
        Control {
            snapshots: Mutex::new(HashMap::new()),
            next: AtomicU64::new(FIRST_HANDLE),
            created: SystemTime::now(),
            uid,
            gid,
        }
    }

    pub fn attr(&self) -> FileAttr {
        FileAttr {
            ino: INodeNo(CONTROL_ID),
            size: 0,
            blocks: 0,
            atime: self.created,
            mtime: self.created,
            ctime: self.created,
            crtime: self.created,
            kind: FileType::RegularFile,
            perm: 0o666,
            nlink: 1,
            uid: self.uid,
            gid: self.gid,
            rdev: 0,
            blksize: 4096,
            flags: 0,
        }
    }

    /// A new handle reading `policy_text`.
    pub fn open(&self, policy_text: String) -> u64 {
        let fh = self.next.fetch_add(1, Ordering::Relaxed);
        self.lock().insert(fh, Arc::new(policy_text.into_bytes()));
        fh
    }

    pub fn is_handle(fh: u64) -> bool {
        fh >= FIRST_HANDLE
    }

    /// Up to `size` bytes of the handle's policy text from `offset`.
    pub fn read(&self, fh: u64, offset: u64, size: u32) -> Result<Vec<u8>, Errno> {
        let text = self.lock().get(&fh).cloned().ok_or(Errno::EBADF)?;
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(text.len());
        let end = start.saturating_add(size as usize).min(text.len());
        Ok(text[start..end].to_vec())
    }

    pub fn release(&self, fh: u64) {
        self.lock().remove(&fh);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Vec<u8>>>> {
        self.snapshots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn reads_follow_offsets() {
        let c = Control::new(1, 1);
        let fh = c.open("read /\n".into());
        assert!(Control::is_handle(fh));
        assert_eq!(c.read(fh, 0, 4).unwrap(), b"read");
        assert_eq!(c.read(fh, 4, 100).unwrap(), b" /\n");
        assert_eq!(c.read(fh, 99, 100).unwrap(), b"");
        c.release(fh);
        assert_eq!(c.read(fh, 0, 1), Err(Errno::EBADF));
    }
}
