//! The mirror's basics: `/` inside is the FUSE mirror of the host's, with the sandbox's own
//! /dev, /proc and a read-only /sys; files read back identical, with the host's attributes and
//! distinct inode numbers across host file systems; and the host's changes are seen.

use std::collections::{BTreeSet, HashMap};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::common::*;

// =============================================================================================
// The root and the sandbox's own mounts

e2e!(shared, root_is_the_fuse_mirror);
fn root_is_the_fuse_mirror(h: Helper) {
    let out = Sandbox::full_mirror(h).run(&["cat", "/proc/self/mountinfo"]);
    out.ok();
    let root = out
        .stdout
        .lines()
        .rfind(|l| mountinfo_mountpoint(l) == Some("/"))
        .unwrap_or_else(|| panic!("no / mount inside\n{out}"));
    let fstype = mountinfo_fstype(root).unwrap_or_default();
    assert!(
        fstype.starts_with("fuse"),
        "/ inside should be the FUSE mirror, is {fstype:?}: {root}\n{out}"
    );
    let proc_line = out
        .stdout
        .lines()
        .rfind(|l| mountinfo_mountpoint(l) == Some("/proc"));
    assert_eq!(
        proc_line.and_then(mountinfo_fstype),
        Some("proc"),
        "a proc on /proc\n{out}"
    );
}

e2e!(shared, dev_is_minimal_and_works);
fn dev_is_minimal_and_works(h: Helper) {
    let out = Sandbox::full_mirror(h).run_sh(
        r#"set -e
echo x > /dev/null
echo "zero=$(head -c 4 /dev/zero | od -An -tx1 | tr -d ' ')"
echo "random=$(head -c 16 /dev/random | wc -c) urandom=$(head -c 16 /dev/urandom | wc -c)"
if echo x 2>/dev/null > /dev/full; then echo full=writable; else echo full=ENOSPC; fi
echo shm > /dev/shm/fusebox-e2e && echo "shm=$(cat /dev/shm/fusebox-e2e)"
echo "fd=$(readlink /dev/fd) stdin=$(readlink /dev/stdin) stdout=$(readlink /dev/stdout) stderr=$(readlink /dev/stderr)"
test -c /dev/tty && echo tty=char
test -e /dev/ptmx && echo ptmx=yes
echo "blockdevs=$(find /dev -type b | wc -l)"
echo "entries:"; ls -A /dev"#,
    );
    out.ok();
    let s = &out.stdout;
    for want in [
        "zero=00000000",
        "random=16 urandom=16",
        "full=ENOSPC",
        "shm=shm",
        "fd=/proc/self/fd stdin=/proc/self/fd/0 stdout=/proc/self/fd/1 stderr=/proc/self/fd/2",
        "tty=char",
        "ptmx=yes",
        "blockdevs=0",
    ] {
        assert!(
            s.lines().any(|l| l == want),
            "expected the line {want:?}\n{out}"
        );
    }
    let entries: BTreeSet<&str> = s.split("entries:\n").nth(1).unwrap_or("").lines().collect();
    for want in [
        "null", "zero", "full", "random", "urandom", "tty", "pts", "ptmx", "shm", "fd", "stdin",
        "stdout", "stderr",
    ] {
        assert!(
            entries.contains(want),
            "/dev should have {want}: {entries:?}"
        );
    }
    for host_only in ["mem", "kmem", "port", "fuse", "kmsg"] {
        assert!(
            !entries.contains(host_only),
            "/dev should be minimal, has {host_only}: {entries:?}"
        );
    }
    // The tmpfs on /dev/shm is the sandbox's own.
    assert!(
        !Path::new("/dev/shm/fusebox-e2e").exists(),
        "/dev/shm inside should not be the host's"
    );
}

e2e!(shared, sys_is_read_only);
fn sys_is_read_only(h: Helper) {
    let out = Sandbox::full_mirror(h).run_sh(
        r#"if touch /sys/fusebox-e2e 2>/dev/null; then echo touch=ok; else echo touch=failed; fi
test -r /sys/kernel/uevent_seqnum -o -d /sys/kernel && echo readable=yes
cat /proc/self/mountinfo"#,
    );
    out.ok();
    assert!(
        out.stdout.contains("touch=failed\n"),
        "touch /sys/x should fail\n{out}"
    );
    assert!(
        out.stdout.contains("readable=yes\n"),
        "/sys should be readable\n{out}"
    );
    let sys = out
        .stdout
        .lines()
        .rfind(|l| mountinfo_mountpoint(l) == Some("/sys"))
        .unwrap_or_else(|| panic!("no /sys mount inside\n{out}"));
    let opts = mountinfo_options(sys).unwrap_or_default();
    assert!(
        opts.split(',').any(|o| o == "ro"),
        "/sys should be mounted ro: {sys}"
    );
}

// =============================================================================================
// Reads, attributes and inode numbers, as on the host

e2e!(shared, host_files_read_back_identical);
fn host_files_read_back_identical(h: Helper) {
    let sb = Sandbox::full_mirror(h);
    let d = sb.dir();
    native_sh(
        r#"head -c 3000001 /dev/urandom > random.bin
: > empty
truncate -s 20M sparse && printf tail | dd of=sparse bs=1 seek=20000000 conv=notrunc 2>/dev/null
seq 1 200000 > lines.txt"#,
        &[] as &[&str],
        d,
    );
    let mut files: Vec<String> = [
        "/etc/os-release",
        "/etc/passwd",
        "/usr/bin/sh",
        "/bin/ls",
        "/usr/bin/env",
    ]
    .iter()
    .filter(|p| Path::new(p).exists())
    .map(|s| s.to_string())
    .collect();
    files.push(
        std::fs::canonicalize(bin())
            .unwrap()
            .to_string_lossy()
            .into_owned(),
    );
    for f in ["random.bin", "empty", "sparse", "lines.txt"] {
        files.push(d.join(f).to_string_lossy().into_owned());
    }
    let mut args = vec!["sha256sum".to_string(), "--".to_string()];
    args.extend(files.iter().cloned());
    let host = native(&args, d);
    host.ok();
    let inside = sb.run(&args);
    inside.ok();
    assert_eq!(
        inside.stdout, host.stdout,
        "sha256 inside vs host\n{inside}"
    );
    // And through cat + a pipe (read(2) in odd sizes), for the big file.
    let out = sb.run_sh("cat random.bin | dd bs=7777 2>/dev/null | sha256sum");
    out.ok();
    let host_sum = host
        .stdout
        .lines()
        .find(|l| l.ends_with("random.bin"))
        .unwrap()
        .split(' ')
        .next()
        .unwrap();
    assert!(out.stdout.starts_with(host_sum), "{out}");
}

e2e!(shared, stat_matches_the_host);
fn stat_matches_the_host(h: Helper) {
    let sb = Sandbox::full_mirror(h);
    let d = sb.dir();
    native_sh(
        r#"echo data > old && touch -d '2001-02-03 04:05:06' old
mkdir adir && touch -d '1999-12-31 23:59:59' adir
ln -s old alink
printf 'x%.0s' $(seq 1 5000) > five-k && chmod 0751 five-k"#,
        &[] as &[&str],
        d,
    );
    let mut args: Vec<String> = ["stat", "-c", "%n %s %f %Y"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    for p in ["/etc/os-release", "/usr/bin/sh", "/usr/bin", "/etc", "/"] {
        args.push(p.into());
    }
    for p in ["old", "adir", "alink", "five-k"] {
        args.push(d.join(p).to_string_lossy().into_owned());
    }
    let host = native(&args, d);
    host.ok();
    let inside = sb.run(&args);
    inside.ok();
    assert_eq!(
        inside.stdout, host.stdout,
        "stat -c '%n %s %f %Y' inside vs host\n{inside}"
    );
}

e2e!(shared, hard_links_share_an_inode);
fn hard_links_share_an_inode(h: Helper) {
    let sb = Sandbox::full_mirror(h);
    let d = sb.dir();
    native_sh("echo a > a && ln a b && echo c > c", &[] as &[&str], d);
    let out = sb.run(&["stat", "-c", "%i %h %n", "a", "b", "c"]);
    out.ok();
    let rows: Vec<Vec<&str>> = out.stdout.lines().map(|l| l.split(' ').collect()).collect();
    assert_eq!(rows.len(), 3, "{out}");
    assert_eq!(
        rows[0][0], rows[1][0],
        "hard links a and b should share an inode number\n{out}"
    );
    assert_ne!(rows[0][0], rows[2][0], "a and c are different files\n{out}");
    assert_eq!(
        (rows[0][1], rows[1][1], rows[2][1]),
        ("2", "2", "1"),
        "link counts\n{out}"
    );
}

/// Paths across the host's file systems for the inode test: a sample of `/`, plus each other
/// host mount under the usual top-level trees (and $FUSEBOX_OTHER_FS).
fn inode_probe_paths() -> Vec<PathBuf> {
    fn sample(dir: &Path, n: usize, out: &mut Vec<PathBuf>) {
        out.push(dir.to_path_buf());
        if let Ok(rd) = std::fs::read_dir(dir) {
            let mut names: Vec<PathBuf> = rd.filter_map(|e| Some(e.ok()?.path())).collect();
            names.sort();
            out.extend(names.into_iter().take(n));
        }
    }
    let mut paths = vec![
        PathBuf::from("/"),
        PathBuf::from("/var"),
        PathBuf::from("/tmp"),
    ];
    for d in ["/usr", "/usr/bin", "/etc"] {
        sample(Path::new(d), 40, &mut paths);
    }
    let prefixes = [
        "/boot", "/home", "/opt", "/run", "/srv", "/tmp", "/usr", "/var",
    ];
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    for line in mountinfo.lines() {
        let (Some(mp), Some(fstype)) = (mountinfo_mountpoint(line), mountinfo_fstype(line)) else {
            continue;
        };
        if fstype.starts_with("fuse") || fstype == "autofs" || mp.contains('\\') {
            continue;
        }
        if prefixes.iter().any(|p| Path::new(mp).starts_with(p)) && std::fs::read_dir(mp).is_ok() {
            sample(Path::new(mp), 20, &mut paths);
        }
    }
    if let Some(other) = std::env::var_os("FUSEBOX_OTHER_FS") {
        sample(Path::new(&other), 100, &mut paths);
    }
    // /dev, /proc and /sys inside are the sandbox's own mounts, not the mirror.
    let own = ["/dev", "/proc", "/sys"];
    let mut seen = BTreeSet::new();
    paths.retain(|p| {
        let s = p.to_string_lossy();
        !own.iter().any(|o| p.starts_with(o))
            && !s.contains(char::is_whitespace)
            && std::fs::symlink_metadata(p).is_ok()
            && seen.insert(p.clone())
    });
    paths
}

e2e!(shared, inode_numbers_distinct_across_host_filesystems);
fn inode_numbers_distinct_across_host_filesystems(h: Helper) {
    let paths = inode_probe_paths();
    let host: Vec<(u64, u64)> = paths
        .iter()
        .map(|p| {
            let m = std::fs::symlink_metadata(p).unwrap();
            (m.dev(), m.ino())
        })
        .collect();
    let devs: BTreeSet<u64> = host.iter().map(|&(d, _)| d).collect();
    let mut devs_of_ino: HashMap<u64, BTreeSet<u64>> = HashMap::new();
    for &(d, i) in &host {
        devs_of_ino.entry(i).or_default().insert(d);
    }
    let collisions = devs_of_ino.values().filter(|d| d.len() > 1).count();
    eprintln!(
        "inode test: {} paths on {} host file systems, {collisions} host inode numbers used on >1 of them",
        paths.len(),
        devs.len()
    );
    if std::env::var_os("FUSEBOX_OTHER_FS").is_some() || std::env::var_os("CI").is_some() {
        assert!(
            devs.len() >= 2 && collisions >= 1,
            "the walk should cross host file systems with clashing inode numbers (see FUSEBOX_OTHER_FS in scripts/test.sh)"
        );
    }

    let mut args: Vec<String> = vec!["stat".into(), "-c".into(), "%i %n".into(), "--".into()];
    args.extend(paths.iter().map(|p| p.to_string_lossy().into_owned()));
    let out = Sandbox::full_mirror(h)
        .timeout(Duration::from_secs(120))
        .run(&args);
    out.ok();
    let inside: HashMap<&str, u64> = out
        .stdout
        .lines()
        .filter_map(|l| {
            let (ino, name) = l.split_once(' ')?;
            Some((name, ino.parse().ok()?))
        })
        .collect();

    let mut by_host: HashMap<(u64, u64), (u64, &Path)> = HashMap::new();
    let mut by_inside: HashMap<u64, ((u64, u64), &Path)> = HashMap::new();
    let mut errors = Vec::new();
    for (p, &hk) in paths.iter().zip(&host) {
        let Some(&ino) = inside.get(p.to_str().unwrap()) else {
            errors.push(format!("{}: not stat'ed inside", p.display()));
            continue;
        };
        if let Some(&(prev, q)) = by_host.get(&hk) {
            if prev != ino {
                errors.push(format!(
                    "same host file {hk:?} has inode {prev} as {} and {ino} as {}",
                    q.display(),
                    p.display()
                ));
            }
        }
        by_host.insert(hk, (ino, p));
        if let Some(&(prev, q)) = by_inside.get(&ino) {
            if prev != hk {
                errors.push(format!(
                    "inode {ino} inside is both {} (host dev,ino {prev:?}) and {} (host {hk:?})",
                    q.display(),
                    p.display()
                ));
            }
        }
        by_inside.insert(ino, (hk, p));
    }
    assert!(
        errors.is_empty(),
        "{} problems:\n{}\n{out}",
        errors.len(),
        errors.join("\n")
    );
}

// =============================================================================================
// The host's changes

e2e!(shared, host_changes_are_seen_within_a_second);
/// A change made on the host while the build runs — new contents of a file the build has
/// read, a file the build has looked for in vain — is seen: at once with `--cache-ttl 0`,
/// within a second (the longest attributes and absences are cached) by default.
fn host_changes_are_seen_within_a_second(h: Helper) {
    for (ttl, settle) in [(Some("0"), ""), (None, "sleep 1.2")] {
        let mut sb = Sandbox::full_mirror(h);
        if let Some(ttl) = ttl {
            sb = sb.opt("--cache-ttl").opt(ttl);
        }
        let dir = sb.dir().to_path_buf();
        std::fs::write(dir.join("f"), "old\n").unwrap();
        let script = format!(
            r#"cat f; [ -e go ] || echo no-go-yet; touch ready
while [ ! -e go ]; do sleep 0.05; done
{settle}
cat f"#
        );
        let mut run = sb.spawn_sh_args(&script, &[] as &[&str]);
        let ready = run.wait_for("the build to read f", Duration::from_secs(30), |_| {
            dir.join("ready").exists()
        });
        assert!(ready, "the build never got ready: {}", run.stderr_so_far());
        std::fs::write(dir.join("f"), "new contents\n").unwrap();
        std::fs::write(dir.join("go"), "").unwrap();
        let out = run.wait();
        out.ok();
        assert_eq!(
            out.stdout_lines(),
            ["old", "no-go-yet", "new contents"],
            "--cache-ttl {ttl:?}: the host's changes should be seen\n{out}"
        );
    }
}
