//! The control file, `/dev/fusebox` inside the sandbox: the build's way to talk to the
//! policy, as Gentoo's `addwrite`, `addread`, `addpredict` and `adddeny` do.
//!
//! Writing `addwrite PATH` (or `addread`, `addpredict`, `adddeny`) adds PATH to that
//! list; `lock` refuses every later change (EPERM), so an untrusted build cannot widen
//! its own policy. Reading returns the current policy as policy-file text.
//!
//! In Gentoo mode a shell also declares its own `SANDBOX_*` variables here when they
//! change ([`Command::Declare`]): a *declaration* is NUL-separated records, the header
//! `sandbox-env`, `NAME=VALUE` for each variable that is set, and `end`. bash's
//! `printf` writes line by line and in 4 KiB pieces, so one declaration may come in
//! several writes on one open file; it takes effect with its `end`.
//!
//! It is a node of the mirror that no host object backs (id [`CONTROL_ID`], named
//! [`CONTROL_NAME`] in the root, which listings do not show), bind-mounted by the
//! sandbox's PID 1 onto /dev/fusebox. Gentoo mode adds a second, read-only one, the
//! shell startup file that makes those declarations ([`BASHRC_ID`], [`BASHRC_NAME`]).

use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use fuser::{Errno, FileAttr, FileType, INodeNo};

use crate::gentoo::live::Vars;
use crate::policy::List;

/// The control file's node id: below every id synthesised for a host object
/// (`index << 48 | ino` with index ≥ 1), above the root's.
pub const CONTROL_ID: u64 = 2;

/// Its name in the mirror's root, where PID 1 finds it to bind it onto /dev/fusebox.
pub const CONTROL_NAME: &str = ".fusebox-control";

/// The shell startup file's node id (Gentoo mode), next to the control file's.
pub const BASHRC_ID: u64 = 3;

/// Its name in the mirror's root: the build sees it as `/.fusebox-bashrc`.
pub const BASHRC_NAME: &str = ".fusebox-bashrc";

/// Control handles are numbered from here, apart from the host files' handles.
const FIRST_HANDLE: u64 = 1 << 63;

/// The first record of a declaration.
pub const DECLARATION_HEADER: &[u8] = b"sandbox-env\0";

/// The record that ends a declaration (a variable's record always holds a `=`).
const DECLARATION_END: &[u8] = b"end";

/// A declaration still unfinished past this size is refused: nothing legitimate is
/// that long, and the daemon must not buffer without bound.
const MAX_DECLARATION: usize = 1 << 20;

/// All open control handles together buffer at most this much of unfinished
/// declarations; a write beyond it fails with ENOMEM (and drops that handle's
/// unfinished declaration). 16 declarations of the largest size at once.
pub const MAX_PENDING_TOTAL: usize = 16 * MAX_DECLARATION;

/// At most this many control handles are open at once (ENFILE beyond): each holds the
/// policy's text as it was when opened. With [`MAX_PENDING_TOTAL`], what the control
/// file can make the daemon hold is bounded whatever the build does.
pub const MAX_HANDLES: usize = 1024;

/// One command written to the control file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Add(List, PathBuf),
    Lock,
    /// The writing process's `SANDBOX_*` variables are now these (Gentoo mode).
    Declare(Vars),
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

/// Parses a whole declaration: its records between the header and the end; EINVAL
/// for a record that is not `NAME=VALUE` of a sandbox variable.
pub fn parse_declaration(records: &[u8]) -> Result<Command, Errno> {
    let mut vars = Vars::default();
    for record in records.split(|&b| b == 0).filter(|r| !r.is_empty()) {
        let eq = record
            .iter()
            .position(|&b| b == b'=')
            .ok_or(Errno::EINVAL)?;
        vars.set(&record[..eq], OsStr::from_bytes(&record[eq + 1..]))
            .map_err(|_| Errno::EINVAL)?;
    }
    Ok(Command::Declare(vars))
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
    fn buffers(&self, data: &[u8]) -> bool {
        !self.declaration.is_empty() || data.starts_with(DECLARATION_HEADER)
    }

    /// The commands `data` completes. Outside a declaration each line is a command;
    /// a write that starts with [`DECLARATION_HEADER`] starts one, which ends with its
    /// `end` record, in this write or a later one.
    pub fn take(&mut self, data: &[u8]) -> Result<Vec<Command>, Errno> {
        if self.declaration.is_empty() && !data.starts_with(DECLARATION_HEADER) {
            let text = std::str::from_utf8(data).map_err(|_| Errno::EINVAL)?;
            return text
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(parse_command)
                .collect();
        }
        self.declaration.extend_from_slice(data);
        let Some(end) = end_of_declaration(&self.declaration) else {
            if self.declaration.len() > MAX_DECLARATION {
                self.declaration = Vec::new();
                return Err(Errno::EINVAL);
            }
            return Ok(Vec::new());
        };
        let whole = std::mem::take(&mut self.declaration);
        let (records, rest) = whole.split_at(end);
        // Between the header and the end record with its NUL (both there: see above).
        let inside = records
            .get(DECLARATION_HEADER.len()..end - DECLARATION_END.len() - 1)
            .ok_or(Errno::EINVAL)?;
        let command = parse_declaration(inside)?;
        let mut commands = vec![command];
        if !rest.is_empty() {
            commands.extend(self.take(rest)?);
        }
        Ok(commands)
    }
}

/// Where the declaration at the start of `bytes` ends: the index just past its end
/// record's NUL. Only records whose NUL has arrived count.
fn end_of_declaration(bytes: &[u8]) -> Option<usize> {
    let mut at = 0;
    while let Some(len) = bytes[at..].iter().position(|&b| b == 0) {
        let record = &bytes[at..at + len];
        at += len + 1;
        if record == DECLARATION_END {
            return Some(at);
        }
    }
    None
}

/// The open control handles: each reads the text it was opened with (the policy as it
/// was then, or the startup file) and gathers what is written to it.
#[derive(Debug)]
pub struct Control {
    handles: Mutex<Handles>,
    next: AtomicU64,
    created: SystemTime,
    uid: u32,
    gid: u32,
    /// The shell startup file served as [`BASHRC_NAME`], in Gentoo mode.
    bashrc: Option<&'static str>,
}

#[derive(Debug, Default)]
struct Handles {
    open: HashMap<u64, OpenFile>,
    /// The sum of the open handles' unfinished declarations.
    pending: usize,
}

#[derive(Debug)]
struct OpenFile {
    text: Arc<Vec<u8>>,
    writes: Writes,
}

impl Control {
    /// A control file owned by `uid`/`gid` (the daemon's, i.e. the user's), and the
    /// startup file `bashrc` when there is one.
    pub fn new(uid: u32, gid: u32, bashrc: Option<&'static str>) -> Self {
        Control {
            handles: Mutex::new(Handles::default()),
            next: AtomicU64::new(FIRST_HANDLE),
            created: SystemTime::now(),
            uid,
            gid,
            bashrc,
        }
    }

    /// The attributes of the virtual file `id`, when it is one that exists.
    pub fn attr(&self, id: u64) -> Option<FileAttr> {
        let (perm, size) = match id {
            CONTROL_ID => (0o666, 0),
            BASHRC_ID => (0o444, self.bashrc?.len() as u64),
            _ => return None,
        };
        Some(FileAttr {
            ino: INodeNo(id),
            size,
            blocks: 0,
            atime: self.created,
            mtime: self.created,
            ctime: self.created,
            crtime: self.created,
            kind: FileType::RegularFile,
            perm,
            nlink: 1,
            uid: self.uid,
            gid: self.gid,
            rdev: 0,
            blksize: 4096,
            flags: 0,
        })
    }

    /// The virtual file `name` in the root names, if any.
    pub fn id_of(&self, name: &OsStr) -> Option<u64> {
        if name == CONTROL_NAME {
            Some(CONTROL_ID)
        } else if name == BASHRC_NAME && self.bashrc.is_some() {
            Some(BASHRC_ID)
        } else {
            None
        }
    }

    /// The startup file's text.
    pub fn bashrc(&self) -> Option<&'static str> {
        self.bashrc
    }

    /// A new handle reading `text`; ENFILE when [`MAX_HANDLES`] are open.
    pub fn open(&self, text: String) -> Result<u64, Errno> {
        let mut handles = self.lock();
        if handles.open.len() >= MAX_HANDLES {
            return Err(Errno::ENFILE);
        }
        let fh = self.next.fetch_add(1, Ordering::Relaxed);
        let file = OpenFile {
            text: Arc::new(text.into_bytes()),
            writes: Writes::default(),
        };
        handles.open.insert(fh, file);
        Ok(fh)
    }

    pub fn is_handle(fh: u64) -> bool {
        fh >= FIRST_HANDLE
    }

    /// Up to `size` bytes of the handle's text from `offset`.
    pub fn read(&self, fh: u64, offset: u64, size: u32) -> Result<Vec<u8>, Errno> {
        let text = self
            .lock()
            .open
            .get(&fh)
            .map(|f| f.text.clone())
            .ok_or(Errno::EBADF)?;
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(text.len());
        let end = start.saturating_add(size as usize).min(text.len());
        Ok(text[start..end].to_vec())
    }

    /// The commands a write on `fh` completes (see [`Writes::take`]); ENOMEM when
    /// buffering `data` would pass [`MAX_PENDING_TOTAL`].
    pub fn write(&self, fh: u64, data: &[u8]) -> Result<Vec<Command>, Errno> {
        let mut handles = self.lock();
        let Handles { open, pending } = &mut *handles;
        let writes = &mut open.get_mut(&fh).ok_or(Errno::EBADF)?.writes;
        let before = writes.pending();
        if writes.buffers(data) && *pending + data.len() > MAX_PENDING_TOTAL {
            *pending -= before;
            *writes = Writes::default();
            return Err(Errno::ENOMEM);
        }
        let result = writes.take(data);
        *pending = *pending - before + writes.pending();
        result
    }

    pub fn release(&self, fh: u64) {
        let mut handles = self.lock();
        if let Some(file) = handles.open.remove(&fh) {
            handles.pending -= file.writes.pending();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Handles> {
        self.handles.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_and_pending_declarations_are_bounded() {
        let control = Control::new(0, 0, None);
        let fhs: Vec<u64> = (0..MAX_HANDLES)
            .map(|_| control.open(String::new()).unwrap())
            .collect();
        assert_eq!(control.open(String::new()), Err(Errno::ENFILE));
        let mut chunk = DECLARATION_HEADER.to_vec();
        chunk.resize(MAX_DECLARATION - 16, b'a');
        let full = MAX_PENDING_TOTAL / chunk.len();
        for &fh in &fhs[..full] {
            assert_eq!(control.write(fh, &chunk), Ok(Vec::new()));
        }
        assert_eq!(control.write(fhs[full], &chunk), Err(Errno::ENOMEM));
        assert!(control.lock().pending <= MAX_PENDING_TOTAL);
        // Closing a handle gives its share back.
        control.release(fhs[0]);
        assert_eq!(control.write(fhs[full], &chunk), Ok(Vec::new()));
        for fh in fhs {
            control.release(fh);
        }
        assert_eq!(control.lock().pending, 0);
        assert!(control.open(String::new()).is_ok());
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

    fn declaration(records: &[&str]) -> Vec<u8> {
        let mut out = DECLARATION_HEADER.to_vec();
        for r in records {
            out.extend_from_slice(r.as_bytes());
            out.push(0);
        }
        out.extend_from_slice(b"end\0");
        out
    }

    fn declared(pairs: &[(&str, &str)]) -> Command {
        let mut vars = Vars::default();
        for (k, v) in pairs {
            vars.set(k.as_bytes(), OsStr::new(v)).unwrap();
        }
        Command::Declare(vars)
    }

    #[test]
    fn a_declaration_in_one_write() {
        let mut w = Writes::default();
        let data = declaration(&[
            "SANDBOX_ON=0",
            "SANDBOX_ACTIVE=armedandready",
            "SANDBOX_WRITE=/a:/b=c\nd",
            "SANDBOX_DENY=",
        ]);
        assert_eq!(
            w.take(&data),
            Ok(vec![declared(&[
                ("SANDBOX_ON", "0"),
                ("SANDBOX_ACTIVE", "armedandready"),
                ("SANDBOX_WRITE", "/a:/b=c\nd"),
                ("SANDBOX_DENY", ""),
            ])])
        );
        // Nothing is left pending: the next write is a command line again.
        assert_eq!(w.take(b"lock\n"), Ok(vec![Command::Lock]));
        assert_eq!(
            w.take(&declaration(&[])),
            Ok(vec![Command::Declare(Vars::default())])
        );
    }

    /// bash's printf writes at each newline and every 4 KiB.
    #[test]
    fn a_declaration_in_pieces_takes_effect_at_its_end() {
        let long = format!("SANDBOX_WRITE=/{}", "x".repeat(9000));
        let data = declaration(&["SANDBOX_ON=1\nstill the value", &long]);
        let mut w = Writes::default();
        let mut got = Vec::new();
        for piece in data.chunks(4096) {
            got.push(w.take(piece).unwrap());
        }
        assert!(got[..got.len() - 1].iter().all(Vec::is_empty));
        assert_eq!(
            got.last().unwrap(),
            &vec![declared(&[
                ("SANDBOX_ON", "1\nstill the value"),
                ("SANDBOX_WRITE", &long[14..]),
            ])]
        );
        // Split just before the end record's NUL.
        let mut w = Writes::default();
        let (a, b) = data.split_at(data.len() - 1);
        assert_eq!(w.take(a), Ok(vec![]));
        assert_eq!(w.take(b).unwrap().len(), 1);
    }

    #[test]
    fn bad_declarations_are_einval() {
        let mut w = Writes::default();
        assert_eq!(w.take(&declaration(&["PATH=/bin"])), Err(Errno::EINVAL));
        assert_eq!(w.take(&declaration(&["SANDBOX_ON"])), Err(Errno::EINVAL));
        // Without its end, a declaration waits, up to a limit.
        let mut w = Writes::default();
        assert_eq!(w.take(DECLARATION_HEADER), Ok(vec![]));
        let big = vec![b'a'; MAX_DECLARATION];
        assert_eq!(w.take(&big), Err(Errno::EINVAL));
        assert_eq!(w.take(b"lock"), Ok(vec![Command::Lock]));
        // A header is a record of its own: `sandbox-env` as a line is no command.
        assert_eq!(w.take(b"sandbox-env\n"), Err(Errno::EINVAL));
    }

    #[test]
    fn virtual_files_exist_as_configured() {
        let plain = Control::new(1, 1, None);
        assert_eq!(plain.id_of(OsStr::new(CONTROL_NAME)), Some(CONTROL_ID));
        assert_eq!(plain.id_of(OsStr::new(BASHRC_NAME)), None);
        assert!(plain.attr(BASHRC_ID).is_none());
        assert_eq!(plain.attr(CONTROL_ID).unwrap().perm, 0o666);
        let gentoo = Control::new(1, 1, Some("true\n"));
        assert_eq!(gentoo.id_of(OsStr::new(BASHRC_NAME)), Some(BASHRC_ID));
        let rc = gentoo.attr(BASHRC_ID).unwrap();
        assert_eq!((rc.perm, rc.size), (0o444, 5));
        assert!(gentoo.attr(77).is_none());
    }

    #[test]
    fn reads_follow_offsets() {
        let c = Control::new(1, 1, None);
        let fh = c.open("read /\n".into()).unwrap();
        assert!(Control::is_handle(fh));
        assert_eq!(c.read(fh, 0, 4).unwrap(), b"read");
        assert_eq!(c.read(fh, 4, 100).unwrap(), b" /\n");
        assert_eq!(c.read(fh, 99, 100).unwrap(), b"");
        assert_eq!(c.write(fh, b"lock\n"), Ok(vec![Command::Lock]));
        c.release(fh);
        assert_eq!(c.read(fh, 0, 1), Err(Errno::EBADF));
        assert_eq!(c.write(fh, b"lock\n"), Err(Errno::EBADF));
    }
}
