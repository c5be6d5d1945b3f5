//! A file renamed while it is open, on the host or through the mirror, or another file
//! renamed over it: its handle goes on reaching the same object, for reads, writes and
//! attributes, as natively.

use std::fs;

use super::harness::Harness;

/// `w/a` holding "one", looked up and opened read-write: (its node, the handle).
fn open_a(h: &Harness) -> (u64, u64) {
    fs::write(h.host("w/a"), "one").unwrap();
    let id = h.walk("w/a");
    let fh = h.open(id, libc::O_RDWR).unwrap();
    (id, fh)
}

#[test]
fn a_file_renamed_on_the_host_while_open_is_still_read_written_and_stat_ed() {
    let h = Harness::new();
    let (id, fh) = open_a(&h);
    fs::rename(h.host("w/a"), h.host("w/b")).unwrap();
    assert_eq!(h.read(id, fh).unwrap(), b"one");
    assert_eq!(h.write(id, fh, 0, "two"), Ok(3));
    assert_eq!(fs::read_to_string(h.host("w/b")).unwrap(), "two");
    assert_eq!(h.getattr_fh(id, fh).unwrap().attr.size, 3);
    // fstat sends no handle: the node's path is gone, its open handle still reaches it.
    assert_eq!(h.getattr(id).unwrap().attr.ino.0, id);
    h.release(fh);
}

#[test]
fn a_file_renamed_through_the_mirror_while_open_is_reached_under_its_new_name() {
    let h = Harness::new();
    let (id, fh) = open_a(&h);
    let w = h.walk("w");
    h.rename((w, "a"), (w, "b")).unwrap();
    assert_eq!(h.write(id, fh, 0, "two"), Ok(3));
    h.release(fh);
    // No handle left: the node's recorded path follows the rename.
    assert_eq!(h.getattr(id).unwrap().attr.size, 3);
    assert_eq!(h.contents(id).unwrap(), "two");
    assert_eq!(h.lookup(w, "b").unwrap().attr.ino.0, id);
}

#[test]
fn a_file_renamed_over_while_open_keeps_its_own_contents() {
    let h = Harness::new();
    let (id, fh) = open_a(&h);
    let w = h.walk("w");
    fs::write(h.host("w/t"), "replacement").unwrap();
    h.rename((w, "t"), (w, "a")).unwrap();
    assert_eq!(h.read(id, fh).unwrap(), b"one");
    assert_eq!(h.write(id, fh, 0, "two"), Ok(3));
    // fstat: the open file, deleted, with its own size.
    let attr = h.getattr(id).unwrap().attr;
    assert_eq!((attr.nlink, attr.size), (0, 3));
    // The name is the other file's, untouched by the writes.
    let a = h.walk("w/a");
    assert_ne!(a, id);
    assert_eq!(h.contents(a).unwrap(), "replacement");
    h.release(fh);
}

#[test]
fn a_file_renamed_over_on_the_host_while_open_keeps_its_own_contents() {
    let h = Harness::new();
    let (id, fh) = open_a(&h);
    fs::write(h.host("w/t"), "replacement").unwrap();
    fs::rename(h.host("w/t"), h.host("w/a")).unwrap();
    assert_eq!(h.read(id, fh).unwrap(), b"one");
    assert_eq!(h.write(id, fh, 0, "two"), Ok(3));
    assert_eq!(h.getattr_fh(id, fh).unwrap().attr.size, 3);
    assert_eq!(fs::read_to_string(h.host("w/a")).unwrap(), "replacement");
    h.release(fh);
}
