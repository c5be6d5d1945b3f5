//! The daemon's side of the kernel-served trees: which are still bound, handing one
//! back to the mirror when the policy changes under it, and judging the writes the
//! kernel refuses in a read-only one.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use super::plan::{TreePlan, covers, overlap};
use crate::audit::{Auditor, Breach};
use crate::policy::{Caller, ChangeWatcher, Judge, List, Op, Verdict};

/// The bound trees while the build runs.
#[derive(Debug)]
pub struct KernelTrees {
    /// In the agent's order ([`TreePlan::trees`]).
    trees: Vec<Tree>,
    carve_outs: Vec<PathBuf>,
    /// The daemon's end of the agent's link; requests are made one at a time.
    agent: Mutex<Option<OwnedFd>>,
}

#[derive(Debug)]
struct Tree {
    path: PathBuf,
    read_only: bool,
    /// Handed back to the mirror: the bind is covered by the mirror's view.
    carved: AtomicBool,
}

impl TreePlan {
    /// Every bound tree, read-only ones first, and whether it is read-only: the order
    /// the agent and the daemon both number them in.
    pub fn trees(&self) -> Vec<(PathBuf, bool)> {
        let read_only = self.read_only.iter().map(|t| (t.clone(), true));
        let read_write = self.read_write.iter().map(|t| (t.clone(), false));
        read_only.chain(read_write).collect()
    }
}

impl KernelTrees {
    pub fn new(plan: &TreePlan, agent: Option<OwnedFd>) -> Self {
        let trees = plan
            .trees()
            .into_iter()
            .map(|(path, read_only)| Tree {
                path,
                read_only,
                carved: AtomicBool::new(false),
            })
            .collect();
        KernelTrees {
            trees,
            carve_outs: plan.carve_outs.clone(),
            agent: Mutex::new(agent),
        }
    }

    /// Whether `path` (canonical, in the sandbox) is served by a read-only bind.
    pub fn in_read_only_tree(&self, path: &Path) -> bool {
        self.trees
            .iter()
            .any(|t| t.read_only && !t.carved.load(Ordering::Acquire) && covers(&t.path, path))
            && !self.carve_outs.iter().any(|c| covers(c, path))
    }

    /// Whether adding `entry` to `list` changes what the policy says somewhere in `tree`:
    /// a read-only tree lets no write through and a read-write one every access, so
    /// READ changes neither, WRITE only the first.
    fn touched_by(tree: &Tree, list: List, entry: &Path) -> bool {
        let relevant = match list {
            List::Read => false,
            List::Write => tree.read_only,
            List::Deny | List::Predict => true,
        };
        relevant && overlap(&tree.path, entry)
    }

    /// Has the agent mount the mirror's view over tree `index`.
    fn carve(&self, index: usize) -> Result<(), String> {
        let tree = &self.trees[index];
        let mut agent = self.agent.lock().unwrap_or_else(PoisonError::into_inner);
        if tree.carved.load(Ordering::Acquire) {
            return Ok(());
        }
        let link = agent
            .as_ref()
            .ok_or_else(|| format!("{} is bound and cannot be handed back", tree.path.display()))?;
        let errno = ask(link, index as u32).map_err(|e| {
            // A lost agent cannot be asked again: every later change is refused too.
            *agent = None;
            format!("the trees' agent is gone: {e}")
        })?;
        if errno != 0 {
            let why = std::io::Error::from_raw_os_error(errno);
            return Err(format!(
                "cannot hand {} back to the mirror: {why}",
                tree.path.display()
            ));
        }
        tree.carved.store(true, Ordering::Release);
        Ok(())
    }
}

/// One request to the agent, and its answer.
fn ask(link: &OwnedFd, index: u32) -> std::io::Result<i32> {
    nix::unistd::write(link, &index.to_ne_bytes())?;
    let mut answer = [0u8; 4];
    loop {
        match nix::unistd::read(link, &mut answer) {
            Ok(4) => return Ok(i32::from_ne_bytes(answer)),
            Ok(_) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

impl ChangeWatcher for KernelTrees {
    fn before_add(&self, list: List, given: &Path, real: Option<&Path>) -> Result<(), String> {
        for (index, tree) in self.trees.iter().enumerate() {
            let touched = std::iter::once(given)
                .chain(real)
                .any(|entry| Self::touched_by(tree, list, entry));
            if touched && !tree.carved.load(Ordering::Acquire) {
                self.carve(index)?;
            }
        }
        Ok(())
    }
}

/// Judges the writes the notifier sees: those into a read-only tree as the mirror would
/// (refused, and reported unless predicted), the rest left to the kernel and the mirror.
#[derive(Debug)]
pub struct TreeGate {
    pub trees: Arc<KernelTrees>,
    pub judge: Arc<dyn Judge>,
    pub auditor: Arc<Auditor>,
}

impl TreeGate {
    /// The errno `op` on `path` by `pid` fails with, or `None` to let the kernel run it.
    pub fn refusal(&self, pid: u32, op: Op, path: &Path) -> Option<i32> {
        if !self.trees.in_read_only_tree(path) {
            return None;
        }
        match self.judge.judge(op, path, Caller { pid }).verdict {
            // Allowed by an entry the tree was not handed back for (a process still
            // inside the old bind): the kernel says EROFS, as it would.
            Verdict::Allow => None,
            Verdict::Predict => Some(libc::EACCES),
            Verdict::Deny => {
                self.auditor.report(op, path, pid, Breach::Policy);
                Some(libc::EACCES)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trees() -> KernelTrees {
        let plan = TreePlan {
            read_only: vec!["/usr".into()],
            read_write: vec!["/home/u/src".into()],
            carve_outs: vec!["/usr/local".into()],
        };
        KernelTrees::new(&plan, None)
    }

    #[test]
    fn read_only_means_under_a_read_only_tree_and_no_carve_out() {
        let t = trees();
        assert!(t.in_read_only_tree(Path::new("/usr/bin/cc")));
        assert!(t.in_read_only_tree(Path::new("/usr")));
        assert!(!t.in_read_only_tree(Path::new("/usr/local/bin/x")));
        assert!(!t.in_read_only_tree(Path::new("/usrx")));
        assert!(!t.in_read_only_tree(Path::new("/home/u/src/a.o")));
    }

    #[test]
    fn entries_touch_trees_by_list_and_overlap() {
        let t = trees();
        let (ro, rw) = (&t.trees[0], &t.trees[1]);
        assert!(KernelTrees::touched_by(
            ro,
            List::Write,
            Path::new("/usr/lib/x")
        ));
        assert!(KernelTrees::touched_by(ro, List::Deny, Path::new("/")));
        assert!(!KernelTrees::touched_by(ro, List::Read, Path::new("/usr")));
        assert!(!KernelTrees::touched_by(
            rw,
            List::Write,
            Path::new("/home/u/src/x")
        ));
        assert!(KernelTrees::touched_by(
            rw,
            List::Predict,
            Path::new("/home/u/src/x")
        ));
        assert!(!KernelTrees::touched_by(
            rw,
            List::Deny,
            Path::new("/home/u/other")
        ));
    }

    #[test]
    fn a_change_that_cannot_be_handed_back_is_refused() {
        let t = trees();
        assert!(t.before_add(List::Read, Path::new("/usr/x"), None).is_ok());
        assert!(t.before_add(List::Write, Path::new("/opt"), None).is_ok());
        let err = t
            .before_add(List::Write, Path::new("/usr/x"), None)
            .unwrap_err();
        assert!(err.contains("/usr"), "{err}");
        assert!(t.in_read_only_tree(Path::new("/usr/x")));
    }
}
