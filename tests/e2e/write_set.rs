//! Where the build may write: its directory (results land on the host), /tmp and $TMPDIR by
//! default, what `-w` adds; everywhere else writes are refused.

use std::collections::BTreeSet;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::common::*;

e2e!(shared, build_dir_is_writable_and_results_land_on_the_host);
fn build_dir_is_writable_and_results_land_on_the_host(h: Helper) {
    let sb = Sandbox::new(h);
    let d = sb.dir().to_path_buf();
    let other = tmpdir(); // elsewhere in /tmp: also in the default write set
    native_sh(
        "echo old > pre-existing && mkdir emptydir",
        &[] as &[&str],
        &d,
    );
    let out = sb.run_sh_args(
        r#"set -e
echo hello > out.txt
echo more >> out.txt
mkdir -p d/e
echo x > d/e/f
mv d/e/f d/e/g
ln -s out.txt link
ln out.txt hard
chmod 0600 out.txt
rm pre-existing
rmdir emptydir
printf 1234567890 > t && truncate -s 4 t
touch -d @1012615322 dated
echo elsewhere > "$1/in-tmp"
echo done"#,
        &[other.path()],
    );
    out.ok();
    let read =
        |p: &str| std::fs::read_to_string(d.join(p)).unwrap_or_else(|e| panic!("{p}: {e}\n{out}"));
    assert_eq!(read("out.txt"), "hello\nmore\n");
    assert_eq!(read("d/e/g"), "x\n");
    assert!(!d.join("d/e/f").exists());
    assert_eq!(
        std::fs::read_link(d.join("link")).unwrap(),
        Path::new("out.txt")
    );
    let m = std::fs::metadata(d.join("out.txt")).unwrap();
    assert_eq!(m.mode() & 0o7777, 0o600, "chmod result");
    assert_eq!(m.nlink(), 2);
    assert_eq!(
        m.ino(),
        std::fs::metadata(d.join("hard")).unwrap().ino(),
        "hard link on the host"
    );
    assert_eq!(
        m.uid(),
        my_uid(),
        "files made inside belong to the user on the host"
    );
    assert!(
        !d.join("pre-existing").exists() && !d.join("emptydir").exists(),
        "rm/rmdir"
    );
    assert_eq!(read("t"), "1234");
    assert_eq!(
        std::fs::metadata(d.join("dated")).unwrap().mtime(),
        1012615322
    );
    assert_eq!(
        std::fs::read_to_string(other.path().join("in-tmp")).unwrap(),
        "elsewhere\n"
    );
}

e2e!(shared, default_write_set_is_cwd_tmp_and_tmpdir);
fn default_write_set_is_cwd_tmp_and_tmpdir(h: Helper) {
    // /tmp itself (not only the cwd below it): what mkstemp, `make -f -` and gcc need.
    let name = unique("/tmp/fusebox-e2e-direct-");
    let out = Sandbox::new(h).run_sh_args(
        r#"set -e; echo x > "$1"; mkdir "$1.d"; echo y > "$1.d/f"; t=$(mktemp); echo "mktemp=$t"; rm "$t""#,
        &[&name],
    );
    let created = std::fs::read_to_string(&name).ok();
    let _ = std::fs::remove_file(&name);
    let _ = std::fs::remove_dir_all(format!("{name}.d"));
    out.ok();
    assert_eq!(created.as_deref(), Some("x\n"), "{out}");
    // $TMPDIR, even outside /tmp (here: in $HOME).
    let hd = home_fixture();
    let tmpdir_path = hd.path().join("sub");
    let out = Sandbox::new(h)
        .env("TMPDIR", &tmpdir_path)
        .run_sh(r#"echo t > "$TMPDIR/made" && mktemp"#);
    out.ok();
    assert_eq!(
        std::fs::read_to_string(tmpdir_path.join("made")).unwrap(),
        "t\n"
    );
    assert!(
        out.stdout.starts_with(tmpdir_path.to_str().unwrap()),
        "mktemp uses $TMPDIR\n{out}"
    );
}

e2e!(shared, writes_outside_the_write_set_are_denied);
fn writes_outside_the_write_set_are_denied(h: Helper) {
    let hd = home_fixture();
    let (f, d) = (hd.path().join("file"), hd.path());
    let mode_before = std::fs::metadata(&f).unwrap().mode();
    // cwd is a temp dir under /tmp, so the default write set is it and /tmp: not $HOME.
    let out = Sandbox::new(h).run_sh_args(
        r#"f=$1 d=$2
try() { name=$1; shift; msg=$("$@" 2>&1 </dev/null); echo "$name|$?|$msg"; }
try overwrite sh -c 'echo evil > "$1"' sh "$f"
try append sh -c 'echo evil >> "$1"' sh "$f"
try create touch "$d/new"
try mkdir mkdir "$d/newdir"
try rm rm -f "$f"
try chmod chmod 0777 "$f"
try rename mv "$f" "$d/moved"
try rmdir rmdir "$d/sub"
try symlink ln -s x "$d/symlink"
try truncate truncate -s 0 "$f""#,
        &[&f, d],
    );
    out.expect_code(1);
    assert!(
        out.stderr.contains("SANDBOX ACCESS VIOLATION SUMMARY"),
        "{out}"
    );
    let rows: Vec<Vec<&str>> = out
        .stdout
        .lines()
        .map(|l| l.splitn(3, '|').collect())
        .collect();
    assert_eq!(rows.len(), 10, "{out}");
    for r in &rows {
        assert_ne!(r[1], "0", "`{}` in $HOME should fail\n{out}", r[0]);
        assert!(
            r[2].contains("Permission denied"),
            "`{}` should fail with EACCES: {:?}\n{out}",
            r[0],
            r[2]
        );
    }
    assert_eq!(
        std::fs::read_to_string(&f).unwrap(),
        "original\n",
        "the host file is unchanged"
    );
    assert_eq!(
        std::fs::metadata(&f).unwrap().mode(),
        mode_before,
        "mode unchanged"
    );
    let names: BTreeSet<String> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        BTreeSet::from(["file".to_string(), "sub".to_string()]),
        "nothing new in $HOME"
    );
    // Writing elsewhere on the host, e.g. /etc or /usr, is refused too.
    let out = Sandbox::new(h).run_sh("echo x > /usr/fusebox-e2e-denied");
    assert_ne!(out.code(), Some(0), "{out}");
    assert!(!Path::new("/usr/fusebox-e2e-denied").exists());
}

e2e!(shared, write_option_adds_a_write_path);
fn write_option_adds_a_write_path(h: Helper) {
    let hd = home_fixture();
    let sub = hd.path().join("sub");
    let out = Sandbox::new(h).opt("-w").opt(&sub).run_sh_args(
        r#"echo made > "$1/new" && echo ok
if echo evil > "$2" 2>/dev/null; then echo file=written; else echo file=denied; fi"#,
        &[&sub, &hd.path().join("file")],
    );
    // The refused write is a violation: the summary, and a failure although sh exited 0.
    out.expect_code(1);
    assert!(
        out.stderr.contains("SANDBOX ACCESS VIOLATION SUMMARY"),
        "{out}"
    );
    assert_eq!(out.stdout, "ok\nfile=denied\n", "{out}");
    assert_eq!(std::fs::read_to_string(sub.join("new")).unwrap(), "made\n");
    assert_eq!(
        std::fs::read_to_string(hd.path().join("file")).unwrap(),
        "original\n"
    );
}
