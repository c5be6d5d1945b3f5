//! The judge asked about a path, its answer enforced: refused, reported, let through
//! under `--audit`, written to the judge's debug log; and what one request judged, kept
//! for the trace with the request's outcome.

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use fuser::Errno;

use super::Resolver;
use crate::audit::{Breach, Op, Traced, Tracer};
use crate::mirror::errno::OpResult;
use crate::mirror::handle::Handle;
use crate::mirror::runs::Run;
use crate::policy::{Access, Caller, Judgment, Verdict, entries_moved_by};

/// The policy's answer for one path, as [`OpBy::enforce`] acts on it.
struct Decision {
    verdict: Verdict,
    /// The caller wants it in the debug log (Gentoo mode's `SANDBOX_DEBUG`).
    debug: bool,
    /// Whose rule it breaks: `--audit` lets only the policy's through.
    breach: Breach,
}

/// How an op is judged.
#[derive(Clone, Copy, Debug)]
pub enum Check<'a> {
    /// `op` (lookup, stat…: see [`Op::is_judged`]) looks without being judged; noted
    /// in `journal` when tracing.
    Seen {
        op: Op,
        journal: Option<&'a Journal>,
    },
    /// An op decided by the policy of the caller's run and reported there when refused.
    Op(OpBy<'a>),
}

/// `op` by `caller`, whose run is `run`; noted in `journal` when tracing.
#[derive(Clone, Copy, Debug)]
pub struct OpBy<'a> {
    pub op: Op,
    pub caller: Caller,
    pub run: &'a Run,
    pub journal: Option<&'a Journal>,
}

/// The judgments of one request, kept until its outcome is known (for the trace).
#[derive(Debug, Default)]
pub struct Journal(RefCell<Vec<Judged>>);

#[derive(Debug)]
struct Judged {
    op: Op,
    path: PathBuf,
    verdict: Verdict,
}

impl Resolver {
    /// Judges `access` through an open handle: by the path it was opened under (the
    /// file may have been unlinked or renamed since; the open was judged then).
    pub fn judge_handle(&self, handle: &Handle, check: Check) -> OpResult<()> {
        self.judge(handle.path(), check)
    }

    /// THE decision: the policy's verdict on `check` at `path`, reported when it is a
    /// violation. Predicted writes fail quietly; `--audit` lets violations through.
    /// A write to one of fusebox's own paths (see [`MirrorOptions::guarded`]) is
    /// refused and reported whatever the policy and `--audit` say.
    pub(super) fn judge(&self, path: &Path, check: Check) -> OpResult<()> {
        let by = match check {
            Check::Seen { op, journal } => {
                note(journal, op, path, Verdict::Allow);
                return Ok(());
            }
            Check::Op(by) => by,
        };
        if by.op.access() == Access::Write && self.guarded.iter().any(|g| path.starts_with(g)) {
            return by.refuse_guarded(path);
        }
        by.enforce(path, by.decide(path))
    }

    /// A rename of `name` (either of its names) moves everything below it: each guarded
    /// entry there (DENY and PREDICT, fusebox's and in Gentoo mode the caller's own,
    /// fusebox's reports, and fusebox's own paths) is judged as a write by `check`'s
    /// caller, and the first refusal refuses the rename. A predicted entry is reported
    /// too: moving it is no configure probe. See [`crate::policy::entries_moved_by`],
    /// where a new list of guarded paths plugs in.
    pub fn judge_moved(&self, name: &Path, check: Check) -> OpResult<()> {
        let Check::Op(by) = check else {
            return Ok(());
        };
        if let Some(own) = entries_moved_by(name, &self.guarded).next() {
            return by.refuse_guarded(own);
        }
        for entry in by.run.judge.guarded_entries_moved_by(name, by.caller) {
            let mut decision = by.decide(&entry);
            if decision.verdict == Verdict::Predict {
                decision.verdict = Verdict::Deny;
            }
            by.enforce(&entry, decision)?;
        }
        Ok(())
    }
}

impl OpBy<'_> {
    /// Refuses and reports a write to one of fusebox's own paths, even under `--audit`:
    /// letting it through would leave a mount behind on the host.
    fn refuse_guarded(&self, path: &Path) -> OpResult<()> {
        note(self.journal, self.op, path, Verdict::Deny);
        (self.run.auditor).report(self.op, path, self.caller.pid, Breach::Report);
        Err(Errno::EACCES)
    }

    /// What to do about `op` at `path`. fusebox's own reports first: whatever the
    /// judge, `--audit` or a process's `SANDBOX_ON=0` say, the build never changes them.
    fn decide(&self, path: &Path) -> Decision {
        let (op, judge) = (self.op, &self.run.judge);
        if judge.shared().refuses_as_protected(op.access(), path) {
            return Decision {
                verdict: Verdict::Deny,
                debug: false,
                breach: Breach::Report,
            };
        }
        let Judgment { verdict, debug } = judge.judge(op, path, self.caller);
        Decision {
            verdict,
            debug,
            breach: Breach::Policy,
        }
    }

    /// Acts on `decision`: notes it, logs it for debugging, refuses or reports it.
    fn enforce(&self, path: &Path, decision: Decision) -> OpResult<()> {
        let Decision {
            verdict,
            debug,
            breach,
        } = decision;
        let (op, caller, run) = (self.op, self.caller, self.run);
        note(self.journal, op, path, verdict);
        if debug {
            run.judge.debug(op, path, caller, verdict);
        }
        match verdict {
            Verdict::Allow => Ok(()),
            Verdict::Predict => Err(Errno::EACCES),
            Verdict::Deny if run.auditor.report(op, path, caller.pid, breach) => Ok(()),
            Verdict::Deny => Err(Errno::EACCES),
        }
    }
}

impl Journal {
    /// Sends what one request judged to `tracer`, with the errno the build got. The
    /// two names of a rename or link are one event.
    pub fn send_to(self, tracer: &Tracer, caller: Caller, errno: i32) {
        let time = std::time::SystemTime::now();
        let mut judged = self.0.into_inner().into_iter().peekable();
        while let Some(first) = judged.next() {
            let pair = matches!(first.op, Op::Rename | Op::Link);
            let second = judged.next_if(|next| pair && next.op == first.op);
            let verdict = match &second {
                // Reported as the stricter of the two verdicts.
                Some(s) if !s.verdict.is_allowed() => s.verdict,
                _ => first.verdict,
            };
            tracer.send(Traced {
                time,
                pid: caller.pid,
                op: first.op,
                path: first.path,
                path2: second.map(|s| s.path),
                verdict,
                errno,
                // A refusal's command line is read now, as the log's is: the process
                // may be gone by the time the writer thread gets to it.
                cmdline: (!verdict.is_allowed()).then(|| crate::audit::command_line(caller.pid)),
            });
        }
    }
}

/// Notes a judgment in the request's journal, when it has one (tracing).
fn note(journal: Option<&Journal>, op: Op, path: &Path, verdict: Verdict) {
    if let Some(journal) = journal {
        journal.0.borrow_mut().push(Judged {
            op,
            path: path.to_owned(),
            verdict,
        });
    }
}
