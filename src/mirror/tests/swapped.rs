//! A path component replaced on the host between the lookup that gave the kernel its
//! node and a later request on that node: the request must never reach the object now
//! there. The node's object is gone from its name, so the answer is ESTALE (the kernel
//! then looks the name up afresh), or the node's own object where the mirror still
//! holds it.

use std::fs;
use std::os::unix::fs::symlink;
use std::sync::mpsc;
use std::time::Duration;

use fuser::Errno;

use super::harness::Harness;

/// The object `w/a` looked up, then replaced by `replace` (with the old one kept alive,
/// so the host cannot give its inode number to the new object).
fn looked_up_then_replaced(h: &Harness, replace: impl FnOnce(&Harness)) -> (u64, fs::File) {
    fs::write(h.host("w/a"), "old").unwrap();
    let id = h.walk("w/a");
    let old = fs::File::open(h.host("w/a")).unwrap();
    fs::remove_file(h.host("w/a")).unwrap();
    replace(h);
    (id, old)
}

#[test]
fn a_file_replaced_by_another_is_stale_for_the_old_node() {
    let h = Harness::new();
    let (id, _old) = looked_up_then_replaced(&h, |h| fs::write(h.host("w/a"), "new").unwrap());
    assert_eq!(h.open(id, libc::O_RDONLY), Err(Errno::ESTALE));
    assert_eq!(h.getattr(id).err(), Some(Errno::ESTALE));
    // The name, looked up afresh, is the new file.
    let new = h.walk("w/a");
    assert_ne!(new, id);
    assert_eq!(h.contents(new).unwrap(), "new");
}

#[test]
fn a_file_replaced_by_a_symlink_to_outside_is_never_followed() {
    let h = Harness::new();
    let outside = tempfile::tempdir().unwrap();
    fs::write(outside.path().join("secret"), "outside").unwrap();
    let target = outside.path().join("secret");
    let (id, _old) = looked_up_then_replaced(&h, |h| symlink(&target, h.host("w/a")).unwrap());
    for flags in [libc::O_RDONLY, libc::O_RDWR, libc::O_RDONLY | libc::O_TRUNC] {
        assert_eq!(h.open(id, flags), Err(Errno::ESTALE), "flags {flags:#o}");
    }
    assert_eq!(h.getattr(id).err(), Some(Errno::ESTALE));
    assert_eq!(fs::read_to_string(&target).unwrap(), "outside");
}

#[test]
fn a_file_replaced_by_a_fifo_is_stale_without_blocking() {
    let h = Harness::new();
    let (id, _old) = looked_up_then_replaced(&h, |h| {
        nix::unistd::mkfifo(
            &h.host("w/a"),
            nix::sys::stat::Mode::from_bits_truncate(0o644),
        )
        .unwrap()
    });
    // A reader thread blocked on a FIFO no writer opens would stall the build: the
    // open is watched from here.
    let (tx, rx) = mpsc::channel();
    std::thread::scope(|s| {
        s.spawn(|| {
            for flags in [
                libc::O_RDONLY,
                libc::O_WRONLY,
                libc::O_RDONLY | libc::O_TRUNC,
            ] {
                tx.send(h.open(id, flags)).unwrap();
            }
        });
        for _ in 0..3 {
            let opened = rx
                .recv_timeout(Duration::from_secs(10))
                .expect("open blocked");
            assert_eq!(opened, Err(Errno::ESTALE));
        }
    });
}

#[test]
fn a_directory_replaced_by_a_symlink_leads_no_lookup_outside_the_root() {
    let h = Harness::new();
    let outside = tempfile::tempdir().unwrap();
    fs::write(outside.path().join("f"), "outside").unwrap();
    fs::create_dir(h.host("w/d")).unwrap();
    fs::write(h.host("w/d/f"), "inside").unwrap();
    let d = h.walk("w/d");
    // Moved away (kept), a symlink to outside in its place.
    fs::rename(h.host("w/d"), h.host("w/d.old")).unwrap();
    symlink(outside.path(), h.host("w/d")).unwrap();
    // The node is the moved directory, which its name no longer leads to.
    assert_eq!(h.lookup(d, "f").err(), Some(Errno::ESTALE));
    assert_eq!(h.readdir(d).err(), Some(Errno::ESTALE));
    // Looked up afresh, the name is a symlink: nothing is looked up in it.
    let link = h.lookup(h.walk("w"), "d").unwrap();
    assert_eq!(link.attr.kind, fuser::FileType::Symlink);
    assert_eq!(h.lookup(link.attr.ino.0, "f").err(), Some(Errno::ENOTDIR));
}

#[test]
fn a_directory_walked_into_stays_that_directory_when_its_name_is_swapped() {
    let h = Harness::new();
    let outside = tempfile::tempdir().unwrap();
    fs::write(outside.path().join("only-outside"), "outside").unwrap();
    fs::create_dir(h.host("w/d")).unwrap();
    fs::write(h.host("w/d/f"), "inside").unwrap();
    let f = h.walk("w/d/f");
    let d = h.walk("w/d");
    fs::rename(h.host("w/d"), h.host("w/d.old")).unwrap();
    symlink(outside.path(), h.host("w/d")).unwrap();
    // Names in the node resolve in the directory it stands for (held since the walk
    // into it), wherever it now is; never through the symlink now at its name.
    assert_eq!(h.lookup(d, "f").unwrap().attr.ino.0, f);
    assert_eq!(h.lookup(d, "only-outside").unwrap().attr.ino.0, 0);
    assert_eq!(h.readdir(d).unwrap(), ["f"]);
}
