//! The daemon's side of the kernel-served trees: which are still bound, handing one
//! back to the mirror when the policy changes under it, and judging the writes the
//! kernel refuses in a read-only one.

use std::fmt;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use super::plan::{HostDirs, TreePlan, carve_point, covers, overlap};
use crate::audit::{Auditor, Breach};
use crate::mirror::host_path::host_realpath;
use crate::mirror::stats::RequestCounts;
use crate::policy::{Access, Caller, ChangeWatcher, Judge, List, Op, Verdict};
use crate::sandbox::notify::{Answer, WriteGate, WriteTarget};

/// The bound trees while the build runs.
pub struct KernelTrees {
    trees: Vec<Tree>,
    /// Where the mirror serves a bound tree again: the plan's, then those the policy's
    /// changes made.
    carve_outs: RwLock<Vec<PathBuf>>,
    /// The daemon's end of the agent's link; requests are made one at a time.
    agent: Mutex<Option<OwnedFd>>,
    host: Box<dyn HostDirs>,
}

#[derive(Debug)]
struct Tree {
    path: PathBuf,
    read_only: bool,
}

impl fmt::Debug for KernelTrees {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KernelTrees")
            .field("trees", &self.trees)
            .field("carve_outs", &self.carve_outs)
            .finish_non_exhaustive()
    }
}

impl KernelTrees {
    /// `host` answers for the host as the build sees it (the daemon's own mount
    /// namespace may differ).
    pub fn new(plan: &TreePlan, agent: Option<OwnedFd>, host: Box<dyn HostDirs>) -> Self {
        let trees = plan
            .trees()
            .into_iter()
            .map(|(path, read_only)| Tree { path, read_only })
            .collect();
        KernelTrees {
            trees,
            carve_outs: RwLock::new(plan.carve_outs.clone()),
            agent: Mutex::new(agent),
            host,
        }
    }

    fn carved(&self, path: &Path) -> bool {
        let carve_outs = self
            .carve_outs
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        carve_outs.iter().any(|c| covers(c, path))
    }

    /// The mount `path` (canonical, in the sandbox) lies on, named by where it is
    /// mounted: a tree, a carve-out, or `None` for the mirror at `/`.
    fn mount_of(&self, path: &Path) -> Option<PathBuf> {
        let carve_outs = self
            .carve_outs
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let trees = self.trees.iter().map(|t| &t.path);
        trees
            .chain(carve_outs.iter())
            .filter(|at| covers(at, path))
            .max_by_key(|at| at.components().count())
            .cloned()
    }

    /// Whether `path` (canonical, in the sandbox) is served by a read-only bind.
    pub fn in_read_only_tree(&self, path: &Path) -> bool {
        self.trees
            .iter()
            .any(|t| t.read_only && covers(&t.path, path))
            && !self.carved(path)
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

    /// Has the mirror serve `entry`, in or around `tree`, again.
    fn hand_back(&self, tree: &Tree, entry: &Path) -> Result<(), String> {
        // An entry above the tree takes all of it.
        let point = match covers(&tree.path, entry) {
            true => carve_point(self.host.as_ref(), &tree.path, entry),
            false => tree.path.clone(),
        };
        let mut agent = self.agent.lock().unwrap_or_else(PoisonError::into_inner);
        if self.carved(&point) {
            return Ok(());
        }
        let link = agent
            .as_ref()
            .ok_or_else(|| format!("{} cannot be handed back to the mirror", point.display()))?;
        let errno = ask(link, &point).map_err(|e| {
            // A lost agent cannot be asked again: every later change is refused too.
            *agent = None;
            format!("the trees' agent is gone: {e}")
        })?;
        if errno != 0 {
            let why = std::io::Error::from_raw_os_error(errno);
            return Err(format!(
                "cannot hand {} back to the mirror: {why}",
                point.display()
            ));
        }
        self.carve_outs
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .push(point);
        Ok(())
    }
}

/// The host as seen from its root `0` (the daemon's own view of /tmp is its staging
/// tmpfs under the direct mount): what the build sees where the mirror serves it.
pub struct HostRoot(pub OwnedFd);

impl HostDirs for HostRoot {
    fn is_real(&self, path: &Path) -> bool {
        host_realpath(&self.0, path).is_some_and(|real| real == path)
    }

    fn is_real_dir(&self, path: &Path) -> bool {
        let relative = path.strip_prefix("/").unwrap_or(path);
        let is_dir = || {
            nix::sys::stat::fstatat(&self.0, relative, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW)
                .is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFDIR)
        };
        self.is_real(path) && is_dir()
    }
}

/// One request to the agent, and its answer.
fn ask(link: &OwnedFd, path: &Path) -> std::io::Result<i32> {
    nix::unistd::write(link, path.as_os_str().as_bytes())?;
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
        for tree in &self.trees {
            for entry in std::iter::once(given).chain(real) {
                if Self::touched_by(tree, list, entry) {
                    self.hand_back(tree, entry)?;
                }
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
    /// Where the notifications answered are counted (`--stats`).
    pub counts: Arc<RequestCounts>,
}

impl TreeGate {
    /// The errno the syscall naming `targets` (one path, or a rename's or a link's two)
    /// fails with, or `None` to let the kernel run it. Judged: a path in a read-only
    /// tree, which the kernel would refuse with EROFS; and the names of a rename or link
    /// between two mounts (the build directory and the mirror, say), which the kernel
    /// would refuse with EXDEV before the mirror could judge them — also when one name
    /// (`/proc/self/fd/N`) could not be resolved (`partial`): judging a name that the
    /// mirror would judge the same way costs only the check.
    pub fn refusal(&self, pid: u32, targets: &[(Op, &Path)], partial: bool) -> Option<i32> {
        let crosses = partial
            || match targets {
                [(_, a), (_, b)] => self.trees.mount_of(a) != self.trees.mount_of(b),
                _ => false,
            };
        targets
            .iter()
            .filter(|(_, path)| crosses || self.trees.in_read_only_tree(path))
            .find_map(|&(op, path)| self.judged(pid, op, path))
    }

    /// The mirror's judgment of one write: reported and EACCES, EACCES, or allowed.
    fn judged(&self, pid: u32, op: Op, path: &Path) -> Option<i32> {
        if self
            .judge
            .shared()
            .refuses_as_protected(Access::Write, path)
        {
            self.auditor.report(op, path, pid, Breach::Report);
            return Some(libc::EACCES);
        }
        match self.judge.judge(op, path, Caller { pid }).verdict {
            // Allowed where the kernel refuses (an entry handed back to the mirror, seen
            // by a process still inside the old bind): its own errno stands.
            Verdict::Allow => None,
            Verdict::Predict => Some(libc::EACCES),
            Verdict::Deny => {
                self.auditor.report(op, path, pid, Breach::Policy);
                Some(libc::EACCES)
            }
        }
    }
}

impl WriteGate for TreeGate {
    fn decide(&self, pid: u32, target: &WriteTarget) -> Answer {
        self.decide_all(pid, std::slice::from_ref(target), 0)
    }

    fn decide_all(&self, pid: u32, targets: &[WriteTarget], unresolved: usize) -> Answer {
        self.counts.add_notification();
        let named: Vec<(Op, &Path)> = targets.iter().map(|t| (t.op, t.path.as_path())).collect();
        match self.refusal(pid, &named, unresolved > 0) {
            Some(errno) => Answer::Refuse(errno),
            None => Answer::Continue,
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
        KernelTrees::new(&plan, None, Box::new(super::super::plan::Host))
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
    fn a_path_s_mount_is_the_deepest_tree_or_carve_out_holding_it() {
        let t = trees();
        let at = |p: &str| t.mount_of(Path::new(p));
        assert_eq!(at("/usr/bin/cc"), Some("/usr".into()));
        assert_eq!(at("/usr/local/bin"), Some("/usr/local".into()));
        assert_eq!(at("/home/u/src/a.o"), Some("/home/u/src".into()));
        assert_eq!(at("/home/u/other"), None);
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
