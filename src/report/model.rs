//! The footprint of a run, aggregated event by event: what a report is made from.
//!
//! Memory grows with what the build touched, never with how often: one entry per
//! distinct file and directory, per program and per process (each capped), and a
//! bounded sample of everything listed one by one. A build of a million operations
//! that touches the same few thousand files costs the same as one that touches them
//! once.

use std::collections::{HashMap, HashSet};

use super::event::{Change, Effect, Event};
use crate::policy::Verdict;

/// At most this many refusals are kept one by one (all are counted).
pub const MAX_REFUSED: usize = 1_000;
/// At most this many changes outside the build directory are kept one by one.
pub const MAX_CHANGES: usize = 5_000;
/// At most this many distinct files are remembered (for the per-directory counts and
/// the packages); beyond it, events still count per directory.
pub const MAX_FILES: usize = 2_000_000;
/// At most this many processes are followed; later ones are counted together.
pub const MAX_PROCESSES: usize = 20_000;
/// At most this many distinct programs are followed.
pub const MAX_PROGRAMS: usize = 20_000;
/// Paths kept per process as examples of what it touched.
pub const PROCESS_SAMPLE: usize = 12;
/// Command lines kept per program as "started by".
pub const STARTERS: usize = 3;
/// Command lines are kept up to this many bytes (a linker's runs to kilobytes).
pub const MAX_CMDLINE: usize = 500;

/// `cmdline` cut to [`MAX_CMDLINE`] bytes, at a character boundary, marked with `…`.
pub fn short_cmdline(cmdline: &str) -> std::borrow::Cow<'_, str> {
    if cmdline.len() <= MAX_CMDLINE {
        return cmdline.into();
    }
    let mut end = MAX_CMDLINE;
    while !cmdline.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &cmdline[..end]).into()
}

/// One refused (or predicted) operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub op: &'static str,
    pub path: Vec<u8>,
    pub path2: Option<Vec<u8>>,
    pub pid: u32,
    pub cmdline: String,
    pub predicted: bool,
}

/// One change outside the build directory.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ChangeSeen {
    pub change: Change,
    pub path: Vec<u8>,
    /// The new name of a rename, the new link of a link.
    pub path2: Option<Vec<u8>>,
}

/// What was done to one file, as bits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FileUse(u8);

impl FileUse {
    pub const READ: u8 = 1;
    pub const WRITTEN: u8 = 2;
    pub const EXECUTED: u8 = 4;
    pub fn has(self, bit: u8) -> bool {
        self.0 & bit != 0
    }
}

/// Counts for one directory's own entries (not its subdirectories').
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DirCounts {
    /// Distinct files read / written / executed in it.
    pub read: u64,
    pub written: u64,
    pub executed: u64,
    /// Operations on its entries, of any kind.
    pub ops: u64,
}

/// A program that ran.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Program {
    pub runs: u64,
    /// The first few command lines that started it (the process as it exec'ed).
    pub started_by: Vec<String>,
}

/// One process (a pid under one command line).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Process {
    /// In order of first appearance.
    pub order: u64,
    pub pid: u32,
    pub cmdline: String,
    pub reads: u64,
    pub changes: u64,
    pub execs: u64,
    pub refused: u64,
    /// The first few distinct things it read, changed or ran.
    pub sample: Vec<(Effect, Vec<u8>)>,
}

/// Everything a report needs, built by [`Footprint::add`].
#[derive(Debug)]
pub struct Footprint {
    pub build_dir: Vec<u8>,
    pub events: u64,
    /// Operations that failed with an errno other than a refusal's.
    pub failed: u64,
    pub refused: Vec<Refusal>,
    pub refused_total: u64,
    pub changes: Vec<ChangeSeen>,
    changes_seen: HashSet<ChangeSeen>,
    pub changes_total: u64,
    /// Every distinct file touched (not merely looked at).
    pub files: HashMap<Box<[u8]>, FileUse>,
    pub files_dropped: u64,
    pub dirs: HashMap<Box<[u8]>, DirCounts>,
    pub programs: HashMap<Box<[u8]>, Program>,
    pub processes: HashMap<(u32, Box<str>), Process>,
    pub processes_dropped: u64,
}

impl Footprint {
    /// An empty footprint of a build whose own directory is `build_dir`.
    pub fn new(build_dir: &[u8]) -> Footprint {
        let mut build_dir = build_dir.to_vec();
        while build_dir.len() > 1 && build_dir.ends_with(b"/") {
            build_dir.pop();
        }
        Footprint {
            build_dir,
            events: 0,
            failed: 0,
            refused: Vec::new(),
            refused_total: 0,
            changes: Vec::new(),
            changes_seen: HashSet::new(),
            changes_total: 0,
            files: HashMap::new(),
            files_dropped: 0,
            dirs: HashMap::new(),
            programs: HashMap::new(),
            processes: HashMap::new(),
            processes_dropped: 0,
        }
    }

    /// Whether `path` is the build directory or below it.
    pub fn in_build_dir(&self, path: &[u8]) -> bool {
        is_under(path, &self.build_dir)
    }

    /// Adds one event.
    pub fn add(&mut self, e: &Event<'_>) {
        self.events += 1;
        let effect = Effect::of(e.op);
        if !e.verdict.is_allowed() {
            self.refuse(e);
            return;
        }
        if e.errno != 0 {
            self.failed += 1;
            return;
        }
        self.count_dir(e.path, effect);
        if effect == Effect::Looked {
            return;
        }
        let process = self.process(e.pid, e.cmdline);
        match effect {
            Effect::Read | Effect::Listed => self.note_file(e.path, FileUse::READ, effect),
            Effect::Executed => {
                self.note_file(e.path, FileUse::EXECUTED, effect);
                self.ran(e.path, e.cmdline);
            }
            Effect::Change(change) => {
                // The name a change leaves behind is what was written.
                let target = match change {
                    Change::Renamed | Change::Linked => e.path2.unwrap_or(e.path),
                    _ => e.path,
                };
                if target != e.path {
                    self.count_dir(target, effect);
                }
                if change != Change::Deleted {
                    self.note_file(target, FileUse::WRITTEN, effect);
                }
                self.change(change, e.path, e.path2);
            }
            Effect::Looked => {}
        }
        if let Some(key) = process {
            self.touch_process(&key, effect, e.path);
        }
    }

    fn refuse(&mut self, e: &Event<'_>) {
        self.refused_total += 1;
        if let Some(key) = self.process(e.pid, e.cmdline)
            && let Some(p) = self.processes.get_mut(&key)
        {
            p.refused += 1;
        }
        if self.refused.len() < MAX_REFUSED {
            self.refused.push(Refusal {
                op: e.op.gentoo_name(),
                path: e.path.to_vec(),
                path2: e.path2.map(<[u8]>::to_vec),
                pid: e.pid,
                cmdline: short_cmdline(e.cmdline).into_owned(),
                predicted: e.verdict == Verdict::Predict,
            });
        }
    }

    fn change(&mut self, change: Change, path: &[u8], path2: Option<&[u8]>) {
        let outside = !self.in_build_dir(path) || path2.is_some_and(|p| !self.in_build_dir(p));
        if !outside {
            return;
        }
        let seen = ChangeSeen {
            change,
            path: path.to_vec(),
            path2: path2.map(<[u8]>::to_vec),
        };
        if self.changes_seen.contains(&seen) {
            return;
        }
        self.changes_total += 1;
        if self.changes.len() < MAX_CHANGES {
            self.changes_seen.insert(seen.clone());
            self.changes.push(seen);
        }
    }

    /// Remembers what was done to the file `path`; a file seen for the first time
    /// counts once in its directory for each kind of use.
    fn note_file(&mut self, path: &[u8], bit: u8, effect: Effect) {
        if effect == Effect::Listed {
            // A directory listed is not a file read.
            return;
        }
        let known = self.files.len();
        let before = match self.files.get_mut(path) {
            Some(used) => {
                let before = *used;
                used.0 |= bit;
                before
            }
            None if known < MAX_FILES => {
                self.files.insert(path.into(), FileUse(bit));
                FileUse::default()
            }
            None => {
                self.files_dropped += 1;
                return;
            }
        };
        if before.has(bit) {
            return;
        }
        let dir = self.dirs.entry(parent(path).into()).or_default();
        match bit {
            FileUse::READ => dir.read += 1,
            FileUse::WRITTEN => dir.written += 1,
            _ => dir.executed += 1,
        }
    }

    fn count_dir(&mut self, path: &[u8], effect: Effect) {
        let dir = parent(path);
        match self.dirs.get_mut(dir) {
            Some(counts) => counts.ops += 1,
            // Directories only looked into are not worth a node of the tree.
            None if effect == Effect::Looked => {}
            None => {
                self.dirs.insert(
                    dir.into(),
                    DirCounts {
                        ops: 1,
                        ..DirCounts::default()
                    },
                );
            }
        }
    }

    fn ran(&mut self, path: &[u8], cmdline: &str) {
        let known = self.programs.len();
        let program = match self.programs.get_mut(path) {
            Some(p) => p,
            None if known < MAX_PROGRAMS => self.programs.entry(path.into()).or_default(),
            None => return,
        };
        program.runs += 1;
        if program.started_by.len() < STARTERS && !program.started_by.iter().any(|c| c == cmdline) {
            program.started_by.push(cmdline.to_owned());
        }
    }

    /// The key of `pid` running `cmdline`, made known now if there is room.
    fn process(&mut self, pid: u32, cmdline: &str) -> Option<(u32, Box<str>)> {
        let key = (pid, Box::<str>::from(cmdline));
        if self.processes.contains_key(&key) {
            return Some(key);
        }
        if self.processes.len() >= MAX_PROCESSES {
            self.processes_dropped += 1;
            return None;
        }
        let order = self.processes.len() as u64;
        self.processes.insert(
            key.clone(),
            Process {
                order,
                pid,
                cmdline: short_cmdline(cmdline).into_owned(),
                ..Process::default()
            },
        );
        Some(key)
    }

    fn touch_process(&mut self, key: &(u32, Box<str>), effect: Effect, path: &[u8]) {
        let Some(p) = self.processes.get_mut(key) else {
            return;
        };
        match effect {
            Effect::Read | Effect::Listed => p.reads += 1,
            Effect::Executed => p.execs += 1,
            Effect::Change(_) => p.changes += 1,
            Effect::Looked => return,
        }
        if p.sample.len() < PROCESS_SAMPLE && !p.sample.iter().any(|(_, s)| s == path) {
            p.sample.push((effect, path.to_vec()));
        }
    }

    /// The figures of the one-line footprint.
    pub fn totals(&self) -> Totals {
        let mut t = Totals {
            refused: self.refused_total,
            changed_outside: self.changes_total,
            ..Totals::default()
        };
        let mut read_dirs: HashSet<&[u8]> = HashSet::new();
        for (path, used) in &self.files {
            if used.has(FileUse::READ) {
                t.read += 1;
                read_dirs.insert(parent(path));
            }
            if used.has(FileUse::WRITTEN) {
                t.written += 1;
            }
        }
        t.read_dirs = read_dirs.len() as u64;
        t.programs = self.programs.len() as u64;
        t.runs = self.programs.values().map(|p| p.runs).sum();
        t
    }
}

/// The headline figures.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    pub read: u64,
    pub read_dirs: u64,
    pub written: u64,
    pub programs: u64,
    pub runs: u64,
    pub refused: u64,
    pub changed_outside: u64,
}

/// `path`'s directory: `/a/b` → `/a`, `/a` → `/`.
pub fn parent(path: &[u8]) -> &[u8] {
    match path.iter().rposition(|&b| b == b'/') {
        Some(0) => b"/",
        Some(i) => &path[..i],
        None => b".",
    }
}

/// Whether `path` is `dir` or below it, by whole names.
pub fn is_under(path: &[u8], dir: &[u8]) -> bool {
    if dir == b"/" {
        return path.starts_with(b"/");
    }
    path.starts_with(dir) && matches!(path.get(dir.len()), None | Some(b'/'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::Op;

    fn ev<'a>(op: Op, path: &'a str, verdict: Verdict, errno: i32) -> Event<'a> {
        Event {
            pid: 7,
            cmdline: "cc -c a.c",
            op,
            path: path.as_bytes(),
            path2: None,
            verdict,
            errno,
        }
    }

    fn ok(op: Op, path: &str) -> Event<'_> {
        ev(op, path, Verdict::Allow, 0)
    }

    #[test]
    fn paths() {
        assert_eq!(parent(b"/a/b"), b"/a");
        assert_eq!(parent(b"/a"), b"/");
        assert!(is_under(b"/w/x", b"/w"));
        assert!(is_under(b"/w", b"/w"));
        assert!(!is_under(b"/wx", b"/w"));
        assert!(is_under(b"/anything", b"/"));
    }

    #[test]
    fn reads_count_once_per_file_and_directory() {
        let mut f = Footprint::new(b"/w");
        for _ in 0..3 {
            f.add(&ok(Op::OpenRd, "/usr/include/stdio.h"));
        }
        f.add(&ok(Op::OpenRd, "/usr/include/zlib.h"));
        f.add(&ok(Op::Lookup, "/usr/include/nothere.h"));
        let counts = f.dirs[&b"/usr/include"[..]];
        assert_eq!(counts.read, 2);
        assert_eq!(counts.ops, 5);
        let t = f.totals();
        assert_eq!((t.read, t.read_dirs, t.written), (2, 1, 0));
        assert_eq!(f.events, 5);
    }

    #[test]
    fn refusals_come_first_and_are_not_reads() {
        let mut f = Footprint::new(b"/w");
        f.add(&ev(Op::OpenWrCreat, "/etc/x", Verdict::Deny, 13));
        f.add(&ev(Op::Mkdir, "/var/cache/y", Verdict::Predict, 13));
        assert_eq!(f.refused_total, 2);
        assert!(!f.refused[0].predicted);
        assert!(f.refused[1].predicted);
        assert!(f.files.is_empty());
        assert_eq!(f.processes.values().next().unwrap().refused, 2);
    }

    #[test]
    fn only_changes_outside_the_build_dir_are_listed_once_each() {
        let mut f = Footprint::new(b"/w/");
        f.add(&ok(Op::OpenWrCreat, "/w/a.o"));
        f.add(&ok(Op::OpenWrCreat, "/tmp/x"));
        f.add(&ok(Op::OpenWr, "/tmp/x"));
        f.add(&ok(Op::OpenWr, "/tmp/x"));
        let mut rename = ok(Op::Rename, "/w/tmp");
        rename.path2 = Some(b"/home/u/out");
        f.add(&rename);
        let listed: Vec<_> = f
            .changes
            .iter()
            .map(|c| (c.change, String::from_utf8_lossy(&c.path).into_owned()))
            .collect();
        assert_eq!(
            listed,
            [
                (Change::Created, "/tmp/x".into()),
                (Change::Written, "/tmp/x".into()),
                (Change::Renamed, "/w/tmp".into()),
            ]
        );
        assert!(f.files[&b"/home/u/out"[..]].has(FileUse::WRITTEN));
        assert_eq!(f.totals().written, 3);
    }

    #[test]
    fn failed_operations_are_counted_apart() {
        let mut f = Footprint::new(b"/w");
        f.add(&ev(Op::OpenRd, "/usr/include/missing.h", Verdict::Allow, 2));
        assert_eq!(f.failed, 1);
        assert!(f.files.is_empty());
    }

    #[test]
    fn programs_and_processes() {
        let mut f = Footprint::new(b"/w");
        let mut e = ok(Op::Execve, "/usr/bin/cc");
        e.cmdline = "make";
        f.add(&e);
        e.pid = 8;
        f.add(&e);
        e.cmdline = "sh -c cc";
        f.add(&e);
        let cc = &f.programs[&b"/usr/bin/cc"[..]];
        assert_eq!(cc.runs, 3);
        assert_eq!(cc.started_by, ["make", "sh -c cc"]);
        assert_eq!(f.processes.len(), 3);
        let p = f.processes.values().find(|p| p.pid == 7).unwrap();
        assert_eq!(p.execs, 1);
        assert_eq!(p.sample, [(Effect::Executed, b"/usr/bin/cc".to_vec())]);
    }

    #[test]
    fn long_command_lines_are_cut_at_a_character() {
        let long = "é".repeat(400);
        let short = short_cmdline(&long);
        assert!(short.len() <= MAX_CMDLINE + '…'.len_utf8());
        assert!(short.ends_with('…'));
        assert_eq!(short_cmdline("cc a.c"), "cc a.c");
    }
}
