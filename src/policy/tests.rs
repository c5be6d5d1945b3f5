//! The four lists judged as one policy: Gentoo's rule, entries and their realpaths,
//! protected paths, and the policy-file text a policy renders to.

use std::path::{Path, PathBuf};

use super::file::HEADER;
use super::*;

fn p(s: &str) -> &Path {
    Path::new(s)
}

fn policy(entries: &[(List, &str)]) -> Policy {
    let owned: Vec<(List, PathBuf)> = entries.iter().map(|(l, s)| (*l, s.into())).collect();
    Policy::from_entries(&owned).unwrap()
}

#[test]
fn protected_paths_are_readable_never_writable() {
    let mut pol = policy(&[(List::Read, "/"), (List::Write, "/w")]);
    pol.protect(p("/w/fusebox.log"));
    assert_eq!(pol.check(Access::Read, p("/w/fusebox.log")), Verdict::Allow);
    assert_eq!(pol.check(Access::Write, p("/w/fusebox.log")), Verdict::Deny);
    assert_eq!(
        pol.check(Access::Write, p("/w/fusebox.log/x")),
        Verdict::Deny
    );
    assert_eq!(
        pol.check(Access::Write, p("/w/fusebox.log2")),
        Verdict::Allow
    );
    assert_eq!(
        Policy::default().check_with(&pol, Access::Write, p("/w/fusebox.log")),
        Verdict::Deny
    );
    assert!(pol.refuses_as_protected(Access::Write, p("/w/fusebox.log")));
    assert!(!pol.refuses_as_protected(Access::Read, p("/w/fusebox.log")));
    // Not an entry: a rendered policy file does not name it.
    assert!(!pol.render().contains("fusebox.log"));
}

#[test]
fn default_reads_everything_writes_nothing() {
    let d = Policy::default();
    assert_eq!(d.check(Access::Read, p("/")), Verdict::Allow);
    assert_eq!(d.check(Access::Read, p("/etc/passwd")), Verdict::Allow);
    assert_eq!(d.check(Access::Write, p("/tmp/x")), Verdict::Deny);
    assert_eq!(d.entries(), &[(List::Read, PathBuf::from("/"))]);
}

#[test]
fn empty_policy_denies_reads() {
    let e = Policy::empty();
    assert_eq!(e.check(Access::Read, p("/etc/passwd")), Verdict::Deny);
    assert_eq!(e.check(Access::Write, p("/tmp")), Verdict::Deny);
}

#[test]
fn read_outside_read_list_is_denied() {
    let pol = policy(&[(List::Read, "/usr"), (List::Write, "/tmp")]);
    assert_eq!(pol.check(Access::Read, p("/usr/lib/x.so")), Verdict::Allow);
    assert_eq!(pol.check(Access::Read, p("/etc/shadow")), Verdict::Deny);
    // Writable is not readable: Gentoo checks reads against READ alone.
    assert_eq!(pol.check(Access::Read, p("/tmp/a")), Verdict::Deny);
    assert_eq!(pol.check(Access::Write, p("/tmp/a")), Verdict::Allow);
}

#[test]
fn writes_allowed_under_a_write_path_and_on_it() {
    let pol = Policy::new(vec!["/home/u/build".into(), "/tmp".into()]);
    assert_eq!(pol.check(Access::Write, p("/tmp")), Verdict::Allow);
    assert_eq!(pol.check(Access::Write, p("/tmp/a/b")), Verdict::Allow);
    assert_eq!(
        pol.check(Access::Write, p("/home/u/build/x.o")),
        Verdict::Allow
    );
    assert_eq!(pol.check(Access::Read, p("/etc/passwd")), Verdict::Allow);
}

#[test]
fn prefix_matches_whole_components_only() {
    let pol = Policy::new(vec!["/home/u/build".into(), "/tmp".into()]);
    assert_eq!(pol.check(Access::Write, p("/tmpfoo")), Verdict::Deny);
    assert_eq!(pol.check(Access::Write, p("/tm")), Verdict::Deny);
    assert_eq!(
        pol.check(Access::Write, p("/home/u/build2/x")),
        Verdict::Deny
    );
    assert_eq!(pol.check(Access::Write, p("/home/u")), Verdict::Deny);
    assert_eq!(pol.check(Access::Write, p("/")), Verdict::Deny);
}

#[test]
fn root_entry_covers_everything() {
    let pol = policy(&[(List::Write, "/")]);
    assert_eq!(pol.check(Access::Write, p("/")), Verdict::Allow);
    assert_eq!(pol.check(Access::Write, p("/any/where")), Verdict::Allow);
}

#[test]
fn trailing_slashes_and_dots_in_entries_are_normalised() {
    let pol = policy(&[(List::Write, "/tmp/"), (List::Write, "/var/./x/../y//")]);
    assert_eq!(pol.check(Access::Write, p("/tmp/a")), Verdict::Allow);
    assert_eq!(pol.check(Access::Write, p("/tmpa")), Verdict::Deny);
    assert_eq!(pol.check(Access::Write, p("/var/y/z")), Verdict::Allow);
    assert_eq!(pol.check(Access::Write, p("/var/x")), Verdict::Deny);
    assert_eq!(
        pol.entries(),
        &[
            (List::Write, PathBuf::from("/tmp")),
            (List::Write, PathBuf::from("/var/y"))
        ]
    );
}

#[test]
fn deny_wins_over_write_and_read() {
    let pol = policy(&[
        (List::Read, "/"),
        (List::Write, "/home/u"),
        (List::Predict, "/home/u"),
        (List::Deny, "/home/u/.ssh"),
    ]);
    assert_eq!(pol.check(Access::Write, p("/home/u/x")), Verdict::Allow);
    assert_eq!(pol.check(Access::Write, p("/home/u/.ssh")), Verdict::Deny);
    assert_eq!(
        pol.check(Access::Write, p("/home/u/.ssh/id_ed25519")),
        Verdict::Deny
    );
    assert_eq!(
        pol.check(Access::Read, p("/home/u/.ssh/id_ed25519")),
        Verdict::Deny
    );
    assert_eq!(pol.check(Access::Read, p("/home/u/.sshx")), Verdict::Allow);
}

#[test]
fn predict_refuses_quietly_and_write_wins_over_it() {
    let pol = policy(&[
        (List::Read, "/"),
        (List::Write, "/var/cache/fonts"),
        (List::Predict, "/var/cache"),
    ]);
    let v = pol.check(Access::Write, p("/var/cache/ld.so.cache"));
    assert_eq!(v, Verdict::Predict);
    assert!(!v.is_allowed());
    assert!(!v.is_reported());
    assert_eq!(
        pol.check(Access::Write, p("/var/cache/fonts/x")),
        Verdict::Allow
    );
    // PREDICT is about writes; reads still go by READ.
    assert_eq!(
        pol.check(Access::Read, p("/var/cache/ld.so.cache")),
        Verdict::Allow
    );
    let d = pol.check(Access::Write, p("/var/lib/x"));
    assert_eq!(d, Verdict::Deny);
    assert!(d.is_reported());
}

#[test]
fn two_policies_judge_as_one() {
    let mine = policy(&[(List::Read, "/"), (List::Write, "/build")]);
    let fusebox = policy(&[(List::Write, "/cache"), (List::Deny, "/build/secret")]);
    let check = |access, path| mine.check_with(&fusebox, access, p(path));
    assert_eq!(check(Access::Write, "/build/x"), Verdict::Allow);
    assert_eq!(check(Access::Write, "/cache/x"), Verdict::Allow);
    assert_eq!(check(Access::Write, "/etc/x"), Verdict::Deny);
    assert_eq!(check(Access::Read, "/build/secret/k"), Verdict::Deny);
    assert_eq!(check(Access::Read, "/etc/passwd"), Verdict::Allow);
    // Nothing readable in either: denied.
    let empty = Policy::empty();
    assert_eq!(
        empty.check_with(&fusebox, Access::Read, p("/etc/passwd")),
        Verdict::Deny
    );
    let predicted = policy(&[(List::Predict, "/home")]);
    assert_eq!(
        predicted.check_with(&fusebox, Access::Write, p("/home/x")),
        Verdict::Predict
    );
}

#[test]
fn add_rejects_relative_and_unrepresentable_paths() {
    let mut pol = Policy::empty();
    assert_eq!(
        pol.add(List::Write, p("tmp")),
        Err(PolicyError::Relative("tmp".into()))
    );
    assert_eq!(
        pol.add(List::Write, p("/a\nb")),
        Err(PolicyError::Unrepresentable("/a\nb".into()))
    );
    assert_eq!(
        pol.add(List::Write, p("/a ")),
        Err(PolicyError::Unrepresentable("/a ".into()))
    );
    assert!(pol.entries().is_empty());
    // Inner spaces are fine.
    pol.add(List::Write, p("/my dir/x y")).unwrap();
    assert_eq!(pol.check(Access::Write, p("/my dir/x y/z")), Verdict::Allow);
}

#[test]
fn adding_twice_keeps_one_entry() {
    let mut pol = Policy::default();
    pol.add(List::Read, p("/")).unwrap();
    pol.add(List::Read, p("//")).unwrap();
    assert_eq!(pol.entries().len(), 1);
    assert_eq!(pol.prefixes(List::Read), &[PathBuf::from("/")]);
}

#[test]
fn realpath_of_a_symlinked_entry_is_matched_too() {
    let dir = tempfile::tempdir().unwrap();
    let base = std::fs::canonicalize(dir.path()).unwrap();
    let real = base.join("real");
    std::fs::create_dir(&real).unwrap();
    let link = base.join("link");
    std::os::unix::fs::symlink(&real, &link).unwrap();

    let mut pol = Policy::default();
    pol.add(List::Write, &link).unwrap();
    // Stored as given (for render) and as its realpath (for matching).
    assert_eq!(pol.entries().last(), Some(&(List::Write, link.clone())));
    assert_eq!(pol.prefixes(List::Write), &[link.clone(), real.clone()]);
    assert_eq!(
        pol.check(Access::Write, &real.join("out.o")),
        Verdict::Allow
    );
    assert_eq!(
        pol.check(Access::Write, &link.join("out.o")),
        Verdict::Allow
    );
    assert_eq!(pol.check(Access::Write, &base.join("realx")), Verdict::Deny);

    // A deny entry through the link guards the target as well.
    let mut pol = Policy::default();
    pol.add(List::Deny, &link).unwrap();
    assert_eq!(pol.check(Access::Read, &real.join("f")), Verdict::Deny);
}

#[test]
fn missing_entry_is_kept_without_realpath() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("not-yet");
    let mut pol = Policy::empty();
    pol.add(List::Write, &missing).unwrap();
    assert_eq!(pol.prefixes(List::Write), std::slice::from_ref(&missing));
}

#[test]
fn render_of_default_plus_writes() {
    let pol = Policy::new(vec!["/tmp".into(), "/home/u/my build".into()]);
    assert_eq!(
        pol.render(),
        "# fusebox policy: one \"LIST PATH\" per line; LIST is read, write, predict or deny\n\
         read /\n\
         write /tmp\n\
         write /home/u/my build\n"
    );
}

#[test]
fn render_parses_back_to_the_same_entries() {
    let text = "read /\nread /usr\nwrite /var/tmp/a b\npredict /var/cache\ndeny /root\n";
    let entries = parse_policy_file(text).unwrap();
    let pol = Policy::from_entries(&entries).unwrap();
    let rendered = pol.render();
    assert!(rendered.starts_with("# "));
    assert_eq!(parse_policy_file(&rendered).unwrap(), entries);
    assert_eq!(parse_policy_file(&rendered).unwrap(), pol.entries());
    // And rendering is stable.
    let again = Policy::from_entries(&parse_policy_file(&rendered).unwrap()).unwrap();
    assert_eq!(again.render(), rendered);
}

#[test]
fn render_writes_normalised_paths() {
    let entries = parse_policy_file("write /tmp//x/\n").unwrap();
    let pol = Policy::from_entries(&entries).unwrap();
    assert_eq!(pol.render(), format!("{HEADER}write /tmp/x\n"));
}
