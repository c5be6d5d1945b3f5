use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use super::super::decode::{ACTS_ON_EXISTING, CREATES, PathArg, REMOVES};
use super::super::sys::page_before_a_hole;
use super::*;

/// A temp dir (canonical, so paths compare) and `/` opened O_PATH.
struct Tree {
    _dir: tempfile::TempDir,
    at: PathBuf,
    root: OwnedFd,
}

impl Tree {
    fn new() -> Tree {
        let dir = tempfile::tempdir().unwrap();
        let at = fs::canonicalize(dir.path()).unwrap();
        let root = nix::fcntl::open("/", OFlag::O_PATH, Mode::empty()).unwrap();
        Tree {
            _dir: dir,
            at,
            root,
        }
    }

    fn p(&self, rel: &str) -> PathBuf {
        self.at.join(rel)
    }

    fn lookup(&self, rel: &str, follow: bool) -> Lookup {
        let path = self.p(rel);
        lookup(
            self.root.as_fd(),
            path.as_os_str().as_bytes(),
            follow,
            false,
        )
    }
}

fn present(p: &Path) -> Lookup {
    Lookup::Present(p.as_os_str().as_bytes().to_vec())
}

fn missing(p: &Path) -> Lookup {
    Lookup::Missing(p.as_os_str().as_bytes().to_vec())
}

#[test]
fn split_takes_the_final_name() {
    let s = |p: &str| split(p.as_bytes()).map(|(d, n)| (d.to_vec(), n.to_vec()));
    let pair = |d: &str, n: &str| Some((d.as_bytes().to_vec(), n.as_bytes().to_vec()));
    assert_eq!(s("/a/b"), pair("/a", "b"));
    assert_eq!(s("/a"), pair("/", "a"));
    assert_eq!(s("/a/b//"), pair("/a", "b"));
    assert_eq!(s("a"), pair(".", "a"));
    for none in ["/", "//", "/a/.", "/a/..", "/a/../", "..", ""] {
        assert_eq!(s(none), None, "{none}");
    }
}

#[test]
fn leading_dotdots_are_counted() {
    let l = |p: &str| {
        let (ups, rest) = leading_dotdots(p.as_bytes());
        (ups, String::from_utf8(rest.to_vec()).unwrap())
    };
    assert_eq!(l("a/b"), (0, "a/b".into()));
    assert_eq!(l("../a"), (1, "a".into()));
    assert_eq!(l("./..//.././a/../b"), (2, "a/../b".into()));
    assert_eq!(l("..."), (0, "...".into()));
    assert_eq!(l("..a/b"), (0, "..a/b".into()));
    // A final `..` stays: it names no entry.
    assert_eq!(l(".."), (0, "..".into()));
    assert_eq!(l("../../"), (1, "..".into()));
    assert_eq!(l("."), (0, ".".into()));
}

#[test]
fn a_file_resolves_to_its_canonical_path() {
    let t = Tree::new();
    fs::create_dir(t.p("d")).unwrap();
    fs::write(t.p("d/f"), "").unwrap();
    symlink(t.p("d/f"), t.p("abs")).unwrap();
    symlink("d/f", t.p("rel")).unwrap();
    symlink("d", t.p("dirlink")).unwrap();
    assert_eq!(t.lookup("d/f", true), present(&t.p("d/f")));
    assert_eq!(t.lookup("d/../d/./f", true), present(&t.p("d/f")));
    assert_eq!(t.lookup("abs", true), present(&t.p("d/f")));
    assert_eq!(t.lookup("rel", true), present(&t.p("d/f")));
    assert_eq!(t.lookup("dirlink/f", false), present(&t.p("d/f")));
    // Not followed: the symlink itself.
    assert_eq!(t.lookup("rel", false), present(&t.p("rel")));
    assert_eq!(t.lookup("dirlink/../rel", false), present(&t.p("rel")));
}

#[test]
fn a_missing_name_resolves_to_the_path_it_would_have() {
    let t = Tree::new();
    fs::create_dir(t.p("d")).unwrap();
    symlink("d", t.p("dirlink")).unwrap();
    assert_eq!(t.lookup("d/new", true), missing(&t.p("d/new")));
    assert_eq!(t.lookup("dirlink/new", false), missing(&t.p("d/new")));
    assert_eq!(t.lookup("d/new/", false), missing(&t.p("d/new")));
    // Its directory missing too: the kernel says ENOENT.
    assert_eq!(t.lookup("nodir/new", true), Lookup::Unresolvable);
    // A file as a directory: ENOTDIR.
    fs::write(t.p("file"), "").unwrap();
    assert_eq!(t.lookup("file/new", true), Lookup::Unresolvable);
}

#[test]
fn a_dangling_symlink_followed_leads_to_its_target() {
    let t = Tree::new();
    fs::create_dir(t.p("ro")).unwrap();
    fs::create_dir(t.p("w")).unwrap();
    symlink(t.p("ro/x"), t.p("w/abs")).unwrap();
    symlink("../ro/y", t.p("w/rel")).unwrap();
    symlink("rel", t.p("w/chain")).unwrap();
    symlink(t.p("nodir/z"), t.p("w/nowhere")).unwrap();
    symlink("loop", t.p("w/loop")).unwrap();
    assert_eq!(t.lookup("w/abs", true), missing(&t.p("ro/x")));
    assert_eq!(t.lookup("w/rel", true), missing(&t.p("ro/y")));
    assert_eq!(t.lookup("w/chain", true), missing(&t.p("ro/y")));
    assert_eq!(t.lookup("w/nowhere", true), Lookup::Unresolvable);
    assert_eq!(t.lookup("w/loop", true), Lookup::Unresolvable);
    // Not followed, it is there.
    assert_eq!(t.lookup("w/abs", false), present(&t.p("w/abs")));
}

#[test]
fn dot_and_dotdot_are_entries_only_for_ops_on_existing_files() {
    let t = Tree::new();
    fs::create_dir(t.p("d")).unwrap();
    let root = t.root.as_fd();
    let path = t.p("d/.");
    let path = path.as_os_str().as_bytes();
    assert_eq!(lookup(root, path, false, true), present(&t.p("d")));
    assert_eq!(lookup(root, path, false, false), Lookup::Unresolvable);
    let up = t.p("d/..");
    assert_eq!(
        lookup(root, up.as_os_str().as_bytes(), true, true),
        present(&t.at)
    );
    assert_eq!(lookup(root, b"/", true, true), present(Path::new("/")));
}

#[test]
fn names_are_bytes() {
    let t = Tree::new();
    let odd = OsStr::from_bytes(b"a\nb\x1b[31m\xff\xfe");
    fs::write(t.at.join(odd), "").unwrap();
    let path = t.at.join(odd);
    let bytes = path.as_os_str().as_bytes();
    assert_eq!(lookup(t.root.as_fd(), bytes, true, false), present(&path));
    let new = t.at.join(OsStr::from_bytes(b"new\xff"));
    let bytes = new.as_os_str().as_bytes();
    assert_eq!(lookup(t.root.as_fd(), bytes, true, false), missing(&new));
}

#[test]
fn resolution_stays_in_the_root_it_is_given() {
    // The temp dir as the caller's root: "/", "..", and absolute symlinks are in it.
    let t = Tree::new();
    let root = nix::fcntl::open(&t.at, OFlag::O_PATH, Mode::empty()).unwrap();
    fs::create_dir(t.p("etc")).unwrap();
    fs::write(t.p("etc/f"), "").unwrap();
    symlink("/etc/f", t.p("abs")).unwrap();
    // The canonical path is the daemon's (same mount namespace, another root): what
    // matters is that the file found is the one under the given root.
    let found = |path: &[u8]| lookup(root.as_fd(), path, true, false);
    assert_eq!(found(b"/abs"), present(&t.p("etc/f")));
    assert_eq!(found(b"/../../etc/f"), present(&t.p("etc/f")));
    assert_eq!(found(b"/etc/new"), missing(&t.p("etc/new")));
}

fn this_caller() -> Caller {
    Caller::open(nix::unistd::gettid().as_raw() as u32).unwrap()
}

fn arg(addr: u64, dirfd: i32, existence: Existence) -> PathArg {
    PathArg {
        op: Op::Chmod,
        dirfd,
        addr,
        follow: true,
        existence,
        empty_is_dirfd: false,
        dirfd_is_root: false,
    }
}

#[test]
fn strings_are_read_up_to_where_the_mapping_ends() {
    let caller = this_caller();
    let page = page_before_a_hole();
    let len = page.len();
    let mut buf = [0u8; PATH_MAX];
    // "abc" and its NUL end the page: the read must not need the next one.
    page[len - 4..].copy_from_slice(b"abc\0");
    let addr = page[len - 4..].as_ptr() as u64;
    assert_eq!(caller.read_string(addr, &mut buf).unwrap(), b"abc");
    // No NUL before the hole.
    page[len - 1] = b'x';
    let err = caller.read_string(addr, &mut buf).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EFAULT));
    // A string that starts a page and has its NUL in the next: two segments.
    let long = [b'a'; PATH_MAX + 10];
    let err = caller
        .read_string(long.as_ptr() as u64, &mut buf)
        .unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ENAMETOOLONG));
    let mut just = [b'b'; PATH_MAX];
    just[PATH_MAX - 1] = 0;
    let got = caller.read_string(just.as_ptr() as u64, &mut buf).unwrap();
    assert_eq!(got.len(), PATH_MAX - 1);
    assert!(caller.read_string(0, &mut buf).is_err());
}

#[test]
fn relative_paths_start_at_the_cwd_or_the_dirfd() {
    let t = Tree::new();
    fs::create_dir(t.p("d")).unwrap();
    fs::write(t.p("d/f"), "").unwrap();
    let caller = this_caller();
    let dir = nix::fcntl::open(&t.p("d"), OFlag::O_PATH, Mode::empty()).unwrap();
    use std::os::fd::AsRawFd;
    let name = b"f\0";
    let prepared = caller.prepare(&arg(
        name.as_ptr() as u64,
        dir.as_raw_fd(),
        ACTS_ON_EXISTING,
    ));
    let target = |p: &Path| {
        Resolved::Target(WriteTarget {
            op: Op::Chmod,
            path: p.to_path_buf(),
        })
    };
    assert_eq!(caller.resolve(prepared.unwrap()), target(&t.p("d/f")));
    // Missing, for an op on an existing file: the kernel's ENOENT.
    let gone = b"gone\0";
    let prepared = caller.prepare(&arg(
        gone.as_ptr() as u64,
        dir.as_raw_fd(),
        ACTS_ON_EXISTING,
    ));
    assert_eq!(caller.resolve(prepared.unwrap()), Resolved::Unjudged);
    // … for unlink: ENOENT from us (EROFS would come first on a read-only mount).
    let prepared = caller.prepare(&arg(gone.as_ptr() as u64, dir.as_raw_fd(), REMOVES));
    assert_eq!(
        caller.resolve(prepared.unwrap()),
        Resolved::Fail(libc::ENOENT)
    );
    // … for mkdir of an existing name: the kernel's EEXIST.
    let prepared = caller.prepare(&arg(name.as_ptr() as u64, dir.as_raw_fd(), CREATES));
    assert_eq!(caller.resolve(prepared.unwrap()), Resolved::Unjudged);
    // The cwd: this process's, wherever the tests run; "." is in every directory.
    let cwd = std::env::current_dir().unwrap();
    let here = b".\0";
    let prepared = caller.prepare(&arg(here.as_ptr() as u64, libc::AT_FDCWD, ACTS_ON_EXISTING));
    let want = fs::canonicalize(cwd).unwrap();
    assert_eq!(caller.resolve(prepared.unwrap()), target(&want));
    // A bad dirfd, a bad pointer, an empty path: unjudged.
    assert!(
        caller
            .prepare(&arg(name.as_ptr() as u64, 999_999, ACTS_ON_EXISTING))
            .is_none()
    );
    assert!(
        caller
            .prepare(&arg(8, libc::AT_FDCWD, ACTS_ON_EXISTING))
            .is_none()
    );
    let empty = b"\0";
    assert!(
        caller
            .prepare(&arg(
                empty.as_ptr() as u64,
                dir.as_raw_fd(),
                ACTS_ON_EXISTING
            ))
            .is_none()
    );
    // … unless AT_EMPTY_PATH: the dirfd's file itself.
    let mut at_empty = arg(empty.as_ptr() as u64, dir.as_raw_fd(), ACTS_ON_EXISTING);
    at_empty.empty_is_dirfd = true;
    let prepared = caller.prepare(&at_empty).unwrap();
    assert_eq!(caller.resolve(prepared), target(&t.p("d")));
}
