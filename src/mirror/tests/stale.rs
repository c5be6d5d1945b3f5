//! When a node's recorded path no longer leads to its object: the ways the mirror still
//! reaches the object (a hard-linked file's other names, an open handle), and ESTALE
//! when nothing leads to it, which makes the kernel look the name up afresh.

use std::fs;

use fuser::Errno;

use super::harness::Harness;

/// `w/a` and its hard link `w/b`, both looked up (the node records `b`, the name seen
/// last, and keeps `a`): (the node, the directory's node).
fn linked(h: &Harness) -> (u64, u64) {
    fs::write(h.host("w/a"), "shared").unwrap();
    fs::hard_link(h.host("w/a"), h.host("w/b")).unwrap();
    let w = h.walk("w");
    let id = h.walk("w/a");
    assert_eq!(h.walk("w/b"), id, "two names of one file are one node");
    (id, w)
}

#[test]
fn a_hard_linked_file_is_reached_through_its_other_name_when_one_is_unlinked() {
    let h = Harness::new();
    let (id, w) = linked(&h);
    h.unlink(w, "b").unwrap();
    assert_eq!(h.getattr(id).unwrap().attr.nlink, 1);
    assert_eq!(h.contents(id).unwrap(), "shared");
}

#[test]
fn a_hard_linked_file_is_stale_when_its_other_names_went_behind_the_mirror() {
    let h = Harness::new();
    let (id, w) = linked(&h);
    // The other name now holds another file: no way leads to the node's object.
    fs::remove_file(h.host("w/a")).unwrap();
    fs::write(h.host("w/a"), "other").unwrap();
    h.unlink(w, "b").unwrap();
    assert_eq!(h.getattr(id).err(), Some(Errno::ESTALE));
    assert_eq!(h.open(id, libc::O_RDONLY), Err(Errno::ESTALE));
}

#[test]
fn a_name_renamed_away_is_no_longer_a_way_to_a_hard_linked_file() {
    let h = Harness::new();
    let (id, w) = linked(&h);
    let fh = h.open(id, libc::O_RDONLY).unwrap();
    h.rename((w, "a"), (w, "c")).unwrap();
    h.create(w, "a", libc::O_WRONLY)
        .map(|(_, fh)| h.release(fh))
        .unwrap();
    h.unlink(w, "c").unwrap();
    h.release(fh);
    // "a" is another file now: the node is reached through "b".
    assert_eq!(h.getattr(id).unwrap().attr.size, 6);
    assert_eq!(h.contents(id).unwrap(), "shared");
}

#[test]
fn a_node_whose_name_holds_another_object_is_stale_and_its_name_looked_up_afresh() {
    let h = Harness::new();
    fs::write(h.host("w/a"), "old").unwrap();
    let id = h.walk("w/a");
    let _old = fs::File::open(h.host("w/a")).unwrap();
    fs::rename(h.host("w/a"), h.host("w/kept")).unwrap();
    fs::write(h.host("w/a"), "new").unwrap();
    assert_eq!(h.getattr(id).err(), Some(Errno::ESTALE));
    assert_eq!(h.open(id, libc::O_RDONLY), Err(Errno::ESTALE));
    let fresh = h.walk("w/a");
    assert_ne!(fresh, id);
    assert_eq!(h.contents(fresh).unwrap(), "new");
}

#[test]
fn a_node_whose_name_is_gone_on_the_host_is_no_such_file() {
    let h = Harness::new();
    fs::write(h.host("w/a"), "old").unwrap();
    let id = h.walk("w/a");
    fs::rename(h.host("w/a"), h.host("w/elsewhere")).unwrap();
    assert_eq!(h.getattr(id).err(), Some(Errno::ENOENT));
    assert_eq!(h.open(id, libc::O_RDONLY), Err(Errno::ENOENT));
}
