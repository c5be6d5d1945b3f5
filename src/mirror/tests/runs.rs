//! One mirror kept for two runs: each request is judged, reported and counted by the
//! run of the process that made it, and a process in no run gets nothing.

use std::fs;

use fuser::Errno;

use super::harness::{B_ONLY, Harness, IN_A, IN_B, IN_NO_RUN, ROOT_ID, WRITABLE, test_run_for};

#[test]
fn a_write_refused_to_one_run_is_allowed_to_the_other() {
    let h = Harness::two_runs();
    let b = h.walk(B_ONLY);
    assert_eq!(
        h.create(b, "from-a", libc::O_WRONLY).err(),
        Some(Errno::EACCES)
    );
    h.act_as(IN_B);
    let (entry, fh) = h.create(b, "from-b", libc::O_WRONLY).unwrap();
    assert_eq!(h.write(entry.attr.ino.0, fh, 0, "b"), Ok(1));
    h.release(fh);
    assert!(!h.host("b/from-a").exists());
    assert_eq!(fs::read_to_string(h.host("b/from-b")).unwrap(), "b");
}

#[test]
fn each_run_records_only_its_own_refusals() {
    let h = Harness::two_runs();
    let w = h.walk(WRITABLE);
    let b = h.walk(B_ONLY);
    assert!(h.mkdir(b, "a-dir").is_err());
    h.act_as(IN_B);
    h.mkdir(b, "b-dir").unwrap();
    assert!(h.mkdir(ROOT_ID, "root-dir").is_err());
    h.act_as(IN_A);
    h.mkdir(w, "shared").unwrap();
    assert_eq!(h.violations_of(0), [("mkdir", h.host("b/a-dir"))]);
    assert_eq!(h.violations_of(1), [("mkdir", h.host("root-dir"))]);
}

#[test]
fn a_file_denied_to_one_run_is_read_by_the_other() {
    let h = Harness::two_runs();
    fs::write(h.host("secret"), "s3cret").unwrap();
    h.deny_for(0, "secret");
    let id = h.walk("secret");
    assert_eq!(h.contents(id), Err(Errno::EACCES));
    h.act_as(IN_B);
    assert_eq!(h.contents(id).unwrap(), "s3cret");
    assert_eq!(h.violations_of(0), [("open_rd", h.host("secret"))]);
    assert_eq!(h.violations_of(1), []);
}

#[test]
fn a_caller_in_no_run_is_refused_everything_and_reported_nowhere() {
    let h = Harness::two_runs();
    fs::write(h.host("file"), "x").unwrap();
    let id = h.walk("file");
    let w = h.walk(WRITABLE);
    let counted = [h.requests_of(0), h.requests_of(1)];
    h.act_as(IN_NO_RUN);
    assert_eq!(h.lookup(w, "anything").err(), Some(Errno::EACCES));
    assert_eq!(h.getattr(id).err(), Some(Errno::EACCES));
    assert_eq!(h.open(id, libc::O_RDONLY), Err(Errno::EACCES));
    assert_eq!(
        h.create(w, "new", libc::O_WRONLY).err(),
        Some(Errno::EACCES)
    );
    assert_eq!(h.readdir(w), Err(Errno::EACCES));
    assert!(!h.host("w/new").exists());
    assert_eq!([h.requests_of(0), h.requests_of(1)], counted);
    assert_eq!(h.violations_of(0), []);
    assert_eq!(h.violations_of(1), []);
}

#[test]
fn each_run_counts_only_its_own_requests() {
    let h = Harness::two_runs();
    let before = [h.requests_of(0), h.requests_of(1)];
    h.act_as(IN_B);
    h.walk("w");
    assert_eq!(h.requests_of(0), before[0]);
    assert_eq!(h.requests_of(1), before[1] + 1);
}

#[test]
fn a_run_that_left_is_refused_and_its_open_files_are_still_released() {
    let h = Harness::two_runs();
    fs::write(h.host("file"), "x").unwrap();
    let id = h.walk("file");
    let fh = h.open(id, libc::O_RDONLY).unwrap();
    assert!(h.mirror().runs().leave(1).is_some());
    assert_eq!(h.getattr(id).err(), Some(Errno::EACCES));
    assert_eq!(h.read(id, fh), Err(Errno::EACCES));
    // The kernel's release after the last close, from a process in no run now.
    h.release(fh);
    h.forget(id, 1);
    h.act_as(IN_B);
    assert_eq!(h.read(id, fh), Err(Errno::EBADF));
    assert_eq!(h.contents(h.walk("file")).unwrap(), "x");
}

#[test]
fn a_key_serves_one_run_at_a_time() {
    let h = Harness::two_runs();
    let run = test_run_for(&h, "c.log");
    assert!(!h.mirror().runs().join(2, run));
    h.act_as(IN_B);
    assert!(h.walk("w") > 0);
}

#[test]
fn the_caller_of_a_one_run_mirror_is_always_in_its_run() {
    let h = Harness::new();
    h.act_as(IN_NO_RUN);
    assert!(h.walk("w") > 0);
    let run = test_run_for(&h, "c.log");
    assert!(!h.mirror().runs().join(7, run));
}
