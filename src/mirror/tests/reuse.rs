//! Node ids derive from host identities, and a host hands a freed inode number to the
//! next object it makes: the node a reused number leads to must stand for the new
//! object, never carry the old one's state (its path, its children, its cached fd).
//! Whether the host reuses a number is its choice (ext4 does at once, tmpfs never, and
//! another process may take it first): the parts that need reuse are skipped without
//! it, and what keeps a number from reuse (an fd the mirror holds) is checked directly.

use std::fs;
use std::path::Path;

use fuser::Errno;

use super::harness::{Harness, holds_open, ino, reuse_ino};

/// How many objects are made, at most, waiting for the host to reuse a number.
const TRIES: usize = 2000;

/// Makes objects in `dir` with `make` until one gets inode number `wanted` (see
/// [`reuse_ino`]); says so when none did, and the rest of the test is skipped.
fn reused(dir: &Path, wanted: u64, make: impl Fn(&Path)) -> Option<std::path::PathBuf> {
    let found = reuse_ino(dir, wanted, TRIES, make);
    if found.is_none() {
        eprintln!(
            "skipped: the host did not reuse inode {wanted} in {}",
            dir.display()
        );
    }
    found
}

#[test]
fn a_forgotten_file_whose_inode_is_reused_is_a_new_node() {
    let h = Harness::new();
    fs::write(h.host("w/f"), "old contents").unwrap();
    let old_ino = ino(&h.host("w/f"));
    let id = h.walk("w/f");
    assert_eq!(h.contents(id).unwrap(), "old contents");
    h.forget(id, 1);
    // Forgotten, the node is gone: nothing of it answers any more.
    assert_eq!(h.getattr(id).err(), Some(Errno::ENOENT));
    fs::remove_file(h.host("w/f")).unwrap();
    let Some(new) = reused(&h.host("w"), old_ino, |p| fs::write(p, "new").unwrap()) else {
        return;
    };
    let name = new.file_name().unwrap().to_str().unwrap();
    let entry = h.lookup(h.walk("w"), name).unwrap();
    // The same id (it derives from the host identity), for the new file alone.
    assert_eq!(entry.attr.ino.0, id);
    assert_eq!(entry.generation, 0);
    assert_eq!(entry.attr.size, 3);
    assert_eq!(h.contents(id).unwrap(), "new");
    assert_eq!(h.getattr(id).unwrap().attr.size, 3);
}

#[test]
fn a_file_deleted_through_the_mirror_keeps_its_inode_number_while_the_kernel_holds_it() {
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
    let Some(new) = reused(&h.host("w"), old_ino, |p| fs::write(p, "new").unwrap()) else {
        return;
    };
    let name = new.file_name().unwrap().to_str().unwrap();
    assert_eq!(h.lookup(w, name).unwrap().attr.ino.0, id);
    assert_eq!(h.contents(id).unwrap(), "new");
}

#[test]
fn a_directory_whose_inode_is_reused_is_a_new_directory() {
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
    let Some(new) = reused(&h.host("w"), old_ino, |p| fs::create_dir(p).unwrap()) else {
        return;
    };
    fs::write(new.join("new-child"), "").unwrap();
    let name = new.file_name().unwrap().to_str().unwrap();
    assert_eq!(h.lookup(w, name).unwrap().attr.ino.0, d);
    // Its contents are the new directory's, reached through the new directory.
    assert_eq!(h.readdir(d).unwrap(), ["new-child"]);
    assert_eq!(h.lookup(d, "old-child").unwrap().attr.ino.0, 0);
    assert_ne!(h.lookup(d, "new-child").unwrap().attr.ino.0, 0);
}
