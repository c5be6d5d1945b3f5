//! An open of a node the kernel looked up before its name changed through the mirror.
//! The kernel resolves a path to a node, then opens the node: another process's
//! rename or unlink may come in between, and natively the open still gets the object
//! the path led to. The mirror answers the same: under the node's new name, or, deleted,
//! the object itself, kept while the kernel holds the node; judged all the same.

use std::fs;

use fuser::Errno;

use super::harness::Harness;

/// `w/a` holding "old", looked up: (its node, the directory's node).
fn looked_up(h: &Harness) -> (u64, u64) {
    fs::write(h.host("w/a"), "old").unwrap();
    (h.walk("w/a"), h.walk("w"))
}

#[test]
fn an_open_after_another_file_is_renamed_over_the_name_gets_the_file_looked_up() {
    let h = Harness::new();
    let (id, w) = looked_up(&h);
    let (_, fh) = h.create(w, "t", libc::O_WRONLY).unwrap();
    h.release(fh);
    fs::write(h.host("w/t"), "new").unwrap();
    h.rename((w, "t"), (w, "a")).unwrap();
    assert_eq!(h.contents(id).unwrap(), "old");
    // Written to, it is still that file: the name holds the other one, untouched.
    let fh = h.open(id, libc::O_RDWR | libc::O_TRUNC).unwrap();
    assert_eq!(h.write(id, fh, 0, "changed"), Ok(7));
    assert_eq!(h.read(id, fh).unwrap(), b"changed");
    h.release(fh);
    assert_eq!(fs::read_to_string(h.host("w/a")).unwrap(), "new");
}

#[test]
fn an_open_after_the_name_is_unlinked_gets_the_file_looked_up() {
    let h = Harness::new();
    let (id, w) = looked_up(&h);
    h.unlink(w, "a").unwrap();
    assert_eq!(h.contents(id).unwrap(), "old");
    assert!(!h.host("w/a").exists());
}

#[test]
fn an_open_after_the_name_is_renamed_gets_the_file_under_its_new_name() {
    let h = Harness::new();
    let (id, w) = looked_up(&h);
    h.rename((w, "a"), (w, "b")).unwrap();
    assert_eq!(h.contents(id).unwrap(), "old");
}

#[test]
fn an_open_of_a_deleted_file_is_judged_by_the_name_it_had() {
    let h = Harness::new();
    let (id, w) = looked_up(&h);
    h.unlink(w, "a").unwrap();
    h.deny("w/a");
    assert_eq!(h.open(id, libc::O_RDONLY), Err(Errno::EACCES));
    assert_eq!(h.violations(), [("open_rd", h.host("w/a"))]);
}

#[test]
fn an_open_of_a_file_deleted_behind_the_mirror_is_no_such_file() {
    let h = Harness::new();
    let (id, _) = looked_up(&h);
    fs::remove_file(h.host("w/a")).unwrap();
    assert_eq!(h.open(id, libc::O_RDONLY), Err(Errno::ENOENT));
}
