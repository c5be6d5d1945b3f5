//! Node ids derive from host identities, and a host hands a freed inode number to the
//! next object it makes: the node a reused number leads to must stand for the new
//! object, never carry the old one's state (its path, its children, its cached fd).
//! ext4 (the CI machine's) reuses a freed number at once, but the other tests of this
//! process make files in parallel and may take it first: a scenario that did not get
//! its number back is run again, from a fresh tree; and these tests, which make many
//! objects to take numbers on purpose, run one at a time. A host that never reuses numbers
//! soon (tmpfs, btrfs) cannot run these tests, and says so.

use std::fs;
use std::sync::{Mutex, MutexGuard};

use fuser::Errno;

use super::harness::{Harness, holds_open, ino, reuse_ino};

/// How many objects are made, at most, to show that none gets a number still held.
const TRIES: usize = 2000;

/// How many times a scenario is run before its host is taken not to reuse numbers.
const ATTEMPTS: usize = 50;

/// Runs `scenario` (true: it got its number back and checked what it checks) until it
/// ran, [`ATTEMPTS`] times at most; fails when it never did, unless the host is tmpfs.
fn until_reused(scenario: impl Fn() -> bool) {
    let _alone = alone();
    if (0..ATTEMPTS).any(|_| scenario()) {
        return;
    }
    let tmp = std::env::temp_dir();
    let never_reuses = nix::sys::statfs::statfs(&tmp)
        .is_ok_and(|fs| fs.filesystem_type() == nix::sys::statfs::TMPFS_MAGIC);
    if never_reuses {
        eprintln!(
            "not run: {} is tmpfs, which never reuses an inode number",
            tmp.display()
        );
        return;
    }
    panic!("the host reused no freed inode number in {ATTEMPTS} attempts");
}

/// Held while a test makes objects to see which numbers the host hands out.
fn alone() -> MutexGuard<'static, ()> {
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

#[test]
fn a_forgotten_file_whose_inode_is_reused_is_a_new_node() {
    until_reused(forgotten_file_reused);
}

fn forgotten_file_reused() -> bool {
    let h = Harness::new();
    fs::write(h.host("w/f"), "old contents").unwrap();
    let old_ino = ino(&h.host("w/f"));
    let id = h.walk("w/f");
    assert_eq!(h.contents(id).unwrap(), "old contents");
    h.forget(id, 1);
    // Forgotten, the node is gone: nothing of it answers any more.
    assert_eq!(h.getattr(id).err(), Some(Errno::ENOENT));
    fs::remove_file(h.host("w/f")).unwrap();
    let Some(new) = reuse_ino(&h.host("w"), old_ino, 1, |p| fs::write(p, "new").unwrap()) else {
        return false;
    };
    let name = new.file_name().unwrap().to_str().unwrap();
    let entry = h.lookup(h.walk("w"), name).unwrap();
    // The same id (it derives from the host identity), for the new file alone.
    assert_eq!(entry.attr.ino.0, id);
    assert_eq!(entry.generation, 0);
    assert_eq!(entry.attr.size, 3);
    assert_eq!(h.contents(id).unwrap(), "new");
    assert_eq!(h.getattr(id).unwrap().attr.size, 3);
    true
}

#[test]
fn a_file_deleted_through_the_mirror_keeps_its_inode_number_while_the_kernel_holds_it() {
    until_reused(deleted_file_held_then_reused);
}

fn deleted_file_held_then_reused() -> bool {
    let h = Harness::new();
    fs::write(h.host("w/f"), "old").unwrap();
    let old_ino = ino(&h.host("w/f"));
    let w = h.walk("w");
    let id = h.walk("w/f");
    h.unlink(w, "f").unwrap();
    // While the kernel holds the node (a cwd, an open in flight), no new object may
    // get its number, hence its id: the kernel would take it for the deleted one.
    let taken = reuse_ino(&h.host("w"), old_ino, TRIES, |p| fs::write(p, "").unwrap());
    assert_eq!(
        taken, None,
        "a new file got the number of a node still held"
    );
    // Forgotten, the number is the host's to reuse.
    h.forget(id, 1);
    let Some(new) = reuse_ino(&h.host("w"), old_ino, 1, |p| fs::write(p, "new").unwrap()) else {
        return false;
    };
    let name = new.file_name().unwrap().to_str().unwrap();
    assert_eq!(h.lookup(w, name).unwrap().attr.ino.0, id);
    assert_eq!(h.contents(id).unwrap(), "new");
    true
}

#[test]
fn a_directory_whose_inode_is_reused_is_a_new_directory() {
    until_reused(directory_reused);
}

fn directory_reused() -> bool {
    let h = Harness::new();
    fs::create_dir_all(h.host("w/d/old-child")).unwrap();
    let old_ino = ino(&h.host("w/d"));
    let w = h.walk("w");
    let d = h.walk("w/d");
    // Walked into: the mirror holds an fd of the directory.
    let child = h.lookup(d, "old-child").unwrap().attr.ino.0;
    assert_eq!(h.readdir(d).unwrap(), ["old-child"]);
    h.forget(child, 1);
    h.forget(d, 1);
    fs::remove_dir_all(h.host("w/d")).unwrap();
    // Forgotten, the directory is no longer held: the host may reuse its number.
    assert!(!holds_open(&h.host("w/d")));
    let Some(new) = reuse_ino(&h.host("w"), old_ino, 1, |p| fs::create_dir(p).unwrap()) else {
        return false;
    };
    fs::write(new.join("new-child"), "").unwrap();
    let name = new.file_name().unwrap().to_str().unwrap();
    assert_eq!(h.lookup(w, name).unwrap().attr.ino.0, d);
    // Its contents are the new directory's, reached through the new directory.
    assert_eq!(h.readdir(d).unwrap(), ["new-child"]);
    assert_eq!(h.lookup(d, "old-child").unwrap().attr.ino.0, 0);
    assert_ne!(h.lookup(d, "new-child").unwrap().attr.ino.0, 0);
    true
}

/// A hidden directory (another run's staging parent) removed on the host while the
/// mirror runs keeps its number: a directory the build makes next must not get it, and
/// with it the hiding (its contents would vanish: `mkdir -p a/b` failing with ENOENT).
#[test]
fn a_hidden_directory_removed_on_the_host_passes_its_number_to_no_new_directory() {
    let _alone = alone();
    let h = Harness::hiding(&["w/staging"]);
    fs::create_dir(h.host("w/staging/mount")).unwrap();
    let w = h.walk("w");
    let staging = h.walk("w/staging");
    let hidden_entry = h.lookup(staging, "mount").map(|e| e.attr.ino.0);
    assert!(matches!(hidden_entry, Ok(0) | Err(_)), "{hidden_entry:?}");
    let old_ino = ino(&h.host("w/staging"));
    h.forget(staging, 1);
    fs::remove_dir_all(h.host("w/staging")).unwrap();
    let taken = reuse_ino(&h.host("w"), old_ino, TRIES, |p| fs::create_dir(p).unwrap());
    assert_eq!(taken, None, "a new directory got the hidden one's number");
    let cache = h.mkdir(w, "cache").unwrap().attr.ino.0;
    assert_ne!(h.mkdir(cache, "deep").unwrap().attr.ino.0, 0);
    assert!(h.host("w/cache/deep").is_dir());
}

/// A staging place made on the host after the mirror started (another run's fusermount3
/// mount makes `/tmp/fusebox-UID` when it is missing) has its contents hidden too, by
/// its path: nothing in it can be looked up or listed, or made.
#[test]
fn a_staging_place_made_while_the_mirror_runs_is_hidden_by_its_path() {
    let h = Harness::guarding(&["w/staging"]);
    let w = h.walk("w");
    fs::create_dir_all(h.host("w/staging/fusebox-x/root")).unwrap();
    let staging = h.walk("w/staging");
    assert_eq!(h.lookup(staging, "fusebox-x").err(), Some(Errno::ENOENT));
    assert_eq!(h.readdir(staging).unwrap(), Vec::<String>::new());
    assert!(h.mkdir(staging, "planted").is_err());
    assert!(!h.host("w/staging/planted").exists());
    // Beside it, nothing changes.
    assert_ne!(h.mkdir(w, "cache").unwrap().attr.ino.0, 0);
}
