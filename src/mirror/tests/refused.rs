//! What the policy refuses is refused with EACCES before anything changes on the host,
//! and reported to the auditor; what it allows is not reported.

use std::fs;
use std::path::PathBuf;

use fuser::Errno;

use super::harness::{Harness, ROOT_ID};

#[test]
fn writes_in_the_write_set_are_allowed_and_not_reported() {
    let h = Harness::new();
    let w = h.walk("w");
    let (entry, fh) = h.create(w, "new", libc::O_WRONLY).unwrap();
    assert_eq!(h.write(entry.attr.ino.0, fh, 0, "x"), Ok(1));
    h.release(fh);
    h.mkdir(w, "dir").unwrap();
    h.rename((w, "new"), (w, "renamed")).unwrap();
    h.unlink(w, "renamed").unwrap();
    assert_eq!(h.violations(), []);
}

#[test]
fn a_write_outside_the_write_set_is_refused_reported_and_creates_nothing() {
    let h = Harness::new();
    assert_eq!(
        h.create(ROOT_ID, "new", libc::O_WRONLY).err(),
        Some(Errno::EACCES)
    );
    assert_eq!(h.mkdir(ROOT_ID, "dir").err(), Some(Errno::EACCES));
    assert!(!h.host("new").exists());
    assert!(!h.host("dir").exists());
    assert_eq!(
        h.violations(),
        [("open_wr_creat", h.host("new")), ("mkdir", h.host("dir")),]
    );
}

#[test]
fn a_write_to_an_existing_file_outside_the_write_set_changes_nothing() {
    let h = Harness::new();
    fs::write(h.host("kept"), "kept").unwrap();
    let id = h.walk("kept");
    assert_eq!(h.open(id, libc::O_WRONLY), Err(Errno::EACCES));
    assert_eq!(
        h.open(id, libc::O_RDONLY | libc::O_TRUNC),
        Err(Errno::EACCES)
    );
    assert_eq!(h.unlink(ROOT_ID, "kept"), Err(Errno::EACCES));
    let w = h.walk("w");
    assert_eq!(
        h.rename((ROOT_ID, "kept"), (w, "taken")),
        Err(Errno::EACCES)
    );
    assert_eq!(fs::read_to_string(h.host("kept")).unwrap(), "kept");
    assert!(!h.host("w/taken").exists());
    let reported: Vec<&str> = h.violations().iter().map(|(op, _)| *op).collect();
    assert_eq!(reported, ["open_wr", "open_wr", "unlink", "rename"]);
    assert!(h.violations().iter().all(|(_, p)| *p == h.host("kept")));
}

#[test]
fn a_write_into_the_write_set_from_outside_is_refused_by_its_source() {
    let h = Harness::new();
    fs::write(h.host("w/inside"), "x").unwrap();
    let w = h.walk("w");
    assert_eq!(
        h.rename((w, "inside"), (ROOT_ID, "out")),
        Err(Errno::EACCES)
    );
    assert!(h.host("w/inside").exists());
    assert!(!h.host("out").exists());
    assert_eq!(h.violations(), [("rename", h.host("out"))]);
}

#[test]
fn a_denied_read_is_refused_and_reported() {
    let h = Harness::new();
    fs::create_dir(h.host("w/secret")).unwrap();
    fs::write(h.host("w/secret/key"), "k").unwrap();
    h.deny("w/secret");
    let dir = h.walk("w/secret");
    let key = h.walk("w/secret/key");
    assert_eq!(h.open(key, libc::O_RDONLY), Err(Errno::EACCES));
    assert_eq!(h.readdir(dir), Err(Errno::EACCES));
    let expected: Vec<(&str, PathBuf)> = vec![
        ("open_rd", h.host("w/secret/key")),
        ("opendir", h.host("w/secret")),
    ];
    assert_eq!(h.violations(), expected);
}
