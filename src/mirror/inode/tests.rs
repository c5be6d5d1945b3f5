//! The store's unit tests.

use super::*;

fn h(dev: u64, ino: u64) -> HostId {
    HostId { dev, ino }
}

fn store() -> Store {
    Store::new(h(1, 2))
}

fn reg(s: &Store, parent: u64, name: &str, host: HostId, kind: FileType) -> u64 {
    s.register(parent, OsStr::new(name), host, kind).unwrap().id
}

#[test]
fn a_hard_linked_file_keeps_a_path_when_its_recorded_name_goes() {
    let s = store();
    let dir = reg(&s, ROOT_ID, "d", h(1, 10), FileType::Directory);
    let a = reg(&s, dir, "a", h(1, 11), FileType::RegularFile);
    let b = reg(&s, dir, "b", h(1, 11), FileType::RegularFile);
    assert_eq!(a, b, "one node for both names");
    assert_eq!(s.name_of(a), Some((dir, OsString::from("b"))));
    s.unnamed(a, dir, OsStr::new("b"));
    assert_eq!(s.name_of(a), Some((dir, OsString::from("a"))), "back to a");
    assert!(s.chain(a).is_ok());
    s.unnamed(a, dir, OsStr::new("a"));
    assert_eq!(s.name_of(a), None, "no name left");
}

#[test]
fn the_root_host_maps_to_node_one() {
    let s = store();
    assert_eq!(s.id_of(h(1, 2)), ROOT_ID);
    assert_eq!(
        reg(&s, ROOT_ID, "self", h(1, 2), FileType::Directory),
        ROOT_ID
    );
}

#[test]
fn hard_links_are_one_node() {
    let s = store();
    let a = reg(&s, ROOT_ID, "a", h(1, 10), FileType::RegularFile);
    let b = reg(&s, ROOT_ID, "b", h(1, 10), FileType::RegularFile);
    assert_eq!(a, b);
    // The name just used is the one recorded.
    assert_eq!(s.chain(a).unwrap()[0].name, OsString::from("b"));
}

#[test]
fn chain_rebuilds_the_path() {
    let s = store();
    let usr = reg(&s, ROOT_ID, "usr", h(1, 3), FileType::Directory);
    let bin = reg(&s, usr, "bin", h(1, 4), FileType::Directory);
    let sh = reg(&s, bin, "sh", h(1, 5), FileType::RegularFile);
    let names: Vec<_> = s.chain(sh).unwrap().into_iter().map(|l| l.name).collect();
    assert_eq!(names, ["sh", "bin", "usr"]);
    assert!(s.chain(ROOT_ID).unwrap().is_empty());
}

#[test]
fn forget_drops_the_node_and_unreferenced_ancestors() {
    let s = store();
    let usr = reg(&s, ROOT_ID, "usr", h(1, 3), FileType::Directory);
    let bin = reg(&s, usr, "bin", h(1, 4), FileType::Directory);
    let sh = reg(&s, bin, "sh", h(1, 5), FileType::RegularFile);
    // The kernel forgets the directories first: they stay, a child needs them.
    assert!(s.forget(usr, 1).is_empty());
    assert!(s.forget(bin, 1).is_empty());
    assert_eq!(s.len(), 4);
    let dropped = s.forget(sh, 1);
    assert_eq!(dropped, [sh, bin, usr]);
    assert_eq!(s.len(), 1);
    // Ids survive forgetting.
    assert_eq!(reg(&s, ROOT_ID, "usr", h(1, 3), FileType::Directory), usr);
}

#[test]
fn forget_counts_lookups() {
    let s = store();
    let a = reg(&s, ROOT_ID, "a", h(1, 10), FileType::RegularFile);
    reg(&s, ROOT_ID, "a", h(1, 10), FileType::RegularFile);
    assert!(s.forget(a, 1).is_empty());
    assert_eq!(s.forget(a, 1), [a]);
    // The root is never forgotten.
    assert!(s.forget(ROOT_ID, 100).is_empty());
    assert!(s.contains(ROOT_ID));
}

#[test]
fn moving_releases_the_old_parent() {
    let s = store();
    let d1 = reg(&s, ROOT_ID, "d1", h(1, 3), FileType::Directory);
    let d2 = reg(&s, ROOT_ID, "d2", h(1, 4), FileType::Directory);
    let f = reg(&s, d1, "f", h(1, 5), FileType::RegularFile);
    s.forget(d1, 1);
    assert_eq!(
        s.moved(f, (d1, OsStr::new("f")), (d2, OsStr::new("g"))),
        [d1],
        "the move releases d1"
    );
    assert!(!s.contains(d1), "d1 had no references left");
    let names: Vec<_> = s.chain(f).unwrap().into_iter().map(|l| l.name).collect();
    assert_eq!(names, ["g", "d2"]);
}

#[test]
fn renaming_one_hard_link_keeps_the_others_and_drops_the_old_name() {
    let s = store();
    let dir = reg(&s, ROOT_ID, "d", h(1, 10), FileType::Directory);
    let f = reg(&s, dir, "a", h(1, 11), FileType::RegularFile);
    reg(&s, dir, "b", h(1, 11), FileType::RegularFile);
    // Recorded as b, with a as an alias; then a is renamed to c.
    s.moved(f, (dir, OsStr::new("a")), (dir, OsStr::new("c")));
    s.unnamed(f, dir, OsStr::new("c"));
    assert_eq!(
        s.name_of(f),
        Some((dir, OsString::from("b"))),
        "b still names the file; a, renamed away, must not"
    );
    s.unnamed(f, dir, OsStr::new("b"));
    assert_eq!(s.name_of(f), None);
}

#[test]
fn unnamed_nodes_have_no_path_until_looked_up_again() {
    let s = store();
    let f = reg(&s, ROOT_ID, "f", h(1, 5), FileType::RegularFile);
    s.unnamed(f, ROOT_ID, OsStr::new("other"));
    assert!(s.chain(f).is_ok(), "another name does not matter");
    s.unnamed(f, ROOT_ID, OsStr::new("f"));
    assert_eq!(s.chain(f), Err(Errno::ENOENT));
    reg(&s, ROOT_ID, "g", h(1, 5), FileType::RegularFile);
    assert!(s.chain(f).is_ok());
}

#[test]
fn a_new_unnamed_file_has_no_path_until_linked() {
    let s = store();
    let dir = reg(&s, ROOT_ID, "d", h(1, 10), FileType::Directory);
    let t = s
        .register_unnamed(dir, h(1, 11), FileType::RegularFile)
        .unwrap();
    assert_eq!(t.generation, 0);
    assert_eq!(s.chain(t.id), Err(Errno::ENOENT));
    // It keeps its directory in the store (forgotten by the kernel meanwhile).
    s.forget(dir, 1);
    assert!(s.contains(dir));
    // linkat gives it a name: the link's lookup-like reply registers it there.
    assert_eq!(reg(&s, dir, "n", h(1, 11), FileType::RegularFile), t.id);
    let names: Vec<_> = s.chain(t.id).unwrap().into_iter().map(|l| l.name).collect();
    assert_eq!(names, ["n", "d"]);
    // One reference from the tmpfile reply, one from the link's.
    assert!(s.forget(t.id, 1).is_empty());
    assert_eq!(s.forget(t.id, 1), [t.id, dir]);
}

#[test]
fn an_unnamed_file_on_a_reused_inode_number_is_a_new_generation() {
    let s = store();
    let old = reg(&s, ROOT_ID, "old", h(1, 11), FileType::RegularFile);
    let t = s
        .register_unnamed(ROOT_ID, h(1, 11), FileType::RegularFile)
        .unwrap();
    assert_eq!(t.id, old);
    assert_eq!(t.generation, 1);
    assert_eq!(s.chain(t.id), Err(Errno::ENOENT), "the old name is not its");
}

#[test]
fn a_node_cannot_become_its_own_ancestor() {
    let s = store();
    let a = reg(&s, ROOT_ID, "a", h(1, 3), FileType::Directory);
    let b = reg(&s, a, "b", h(1, 4), FileType::Directory);
    s.moved(a, (ROOT_ID, OsStr::new("a")), (b, OsStr::new("a")));
    assert_eq!(s.parent_of(a), Some(ROOT_ID));
}

#[test]
fn a_reused_inode_of_another_type_gets_a_new_generation() {
    let s = store();
    let first = s
        .register(ROOT_ID, OsStr::new("x"), h(1, 9), FileType::RegularFile)
        .unwrap();
    let again = s
        .register(ROOT_ID, OsStr::new("x"), h(1, 9), FileType::Directory)
        .unwrap();
    assert_eq!(first.id, again.id);
    assert_eq!(again.generation, first.generation + 1);
}
