//! The secrets set (issue 17): the user's credentials denied to the build by default,
//! reported when touched, re-allowed by `--read`, off with `--no-default-deny`.
//!
//! Every test makes its own fake keys in a temporary HOME (under /tmp) that it points
//! fusebox-run at, with a temporary XDG_RUNTIME_DIR; the TempDir removes them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tempfile::TempDir;

use crate::common::*;

const KEY: &str = "FAKE-ED25519-PRIVATE-KEY-fusebox-e2e";
const AWS: &str = "[default]\naws_secret_access_key = FAKE-AWS-fusebox-e2e\n";
const GPG: &str = "FAKE-GPG-SECRET-fusebox-e2e";

/// A temporary HOME holding fake credentials where the tools keep them.
struct FakeHome {
    dir: TempDir,
}

impl FakeHome {
    fn new() -> FakeHome {
        let dir = tmpdir();
        let h = FakeHome { dir };
        let home = h.home();
        for (rel, content) in [
            (".ssh/id_ed25519", KEY),
            (".ssh/known_hosts", "host ssh-ed25519 AAAA\n"),
            (".aws/credentials", AWS),
            (".gnupg/private-keys-v1.d/ABCD.key", GPG),
            (".cargo/credentials.toml", "[registry]\ntoken = \"FAKE\"\n"),
            (".git-credentials", "https://u:FAKE@example.org\n"),
            (".netrc", "machine example.org login u password FAKE\n"),
        ] {
            let path = home.join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, content).unwrap();
        }
        std::fs::create_dir_all(h.runtime().join("gnupg")).unwrap();
        h
    }

    fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    fn runtime(&self) -> PathBuf {
        self.dir.path().join("run")
    }

    /// A sandbox whose HOME and XDG_RUNTIME_DIR are these, and no variable naming
    /// other secrets.
    fn sandbox(&self, h: Helper) -> Sandbox {
        let mut sb = Sandbox::new(h)
            .env("HOME", self.home())
            .env("XDG_RUNTIME_DIR", self.runtime());
        for var in [
            "SSH_AUTH_SOCK",
            "GNUPGHOME",
            "XDG_CONFIG_HOME",
            "XDG_DATA_HOME",
            "CARGO_HOME",
            "KRB5CCNAME",
        ] {
            sb = sb.env_remove(var);
        }
        sb
    }
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// The three reads of the issue's acceptance test, each followed by its status.
const THREE_READS: &str = r#"
cat "$HOME/.ssh/id_ed25519"; echo "cat=$?"
cp "$HOME/.aws/credentials" . ; echo "cp=$?"
tar cf gnupg.tar "$HOME/.gnupg"; echo "tar=$?"
exit 0
"#;

/// Whether the summary on stderr has a violation on `path` by a command line that
/// starts with `command`.
fn reported(out: &Out, path: &Path, command: &str) -> bool {
    let blocks: Vec<&str> = out.stderr.split("\n\n").collect();
    blocks.iter().any(|b| {
        b.lines().any(|l| l == format!("P: {}", s(path)))
            && b.lines().any(|l| l.starts_with(&format!("C: {command}")))
    })
}

fn has_summary(out: &Out) -> bool {
    out.stderr.contains("SANDBOX ACCESS VIOLATION SUMMARY")
}

e2e!(shared, secrets_reads_are_refused_and_reported);
/// cat, cp and tar of the three secrets each fail with EACCES; the summary names each
/// path and command line; the build "succeeded", so the exit status is 1.
fn secrets_reads_are_refused_and_reported(h: Helper) {
    let fake = FakeHome::new();
    let sb = fake.sandbox(h);
    let out = sb.run_sh(THREE_READS);
    out.expect_code(1);
    for want in ["cat=1", "cp=1", "tar=2"] {
        assert!(out.stdout.contains(want), "{want}\n{out}");
    }
    assert!(!out.stdout.contains(KEY), "{out}");
    assert!(
        out.stderr.matches("Permission denied").count() >= 3,
        "each command should say EACCES\n{out}"
    );
    assert!(has_summary(&out), "{out}");
    let home = fake.home();
    assert!(
        reported(&out, &home.join(".ssh/id_ed25519"), "cat "),
        "{out}"
    );
    assert!(
        reported(&out, &home.join(".aws/credentials"), "cp "),
        "{out}"
    );
    assert!(reported(&out, &home.join(".gnupg"), "tar "), "{out}");
    assert!(
        out.stderr
            .contains("The build tried to use 3 of your secrets"),
        "{out}"
    );
    // Nothing leaked to the build directory.
    assert!(!sb.dir().join("credentials").exists());
    let tar = std::fs::read(sb.dir().join("gnupg.tar")).unwrap_or_default();
    assert!(!String::from_utf8_lossy(&tar).contains(GPG));
}

e2e!(shared, secrets_read_option_and_no_default_deny);
/// `--read ~/.ssh` re-allows that entry alone; `--no-default-deny` turns the set off.
fn secrets_read_option_and_no_default_deny(h: Helper) {
    let fake = FakeHome::new();
    let ssh = fake.home().join(".ssh");
    // `--read /` keeps reads of everything whether --read replaces READ's default or
    // adds to it.
    let out = fake
        .sandbox(h)
        .opts(&["--read", "/", "--read", s(&ssh)])
        .run_sh(THREE_READS);
    out.expect_code(1);
    assert!(
        out.stdout.contains(KEY) && out.stdout.contains("cat=0"),
        "{out}"
    );
    assert!(
        out.stdout.contains("cp=1") && out.stdout.contains("tar=2"),
        "{out}"
    );
    assert!(!reported(&out, &ssh.join("id_ed25519"), "cat "), "{out}");

    let sb = fake.sandbox(h).opt("--no-default-deny");
    let out = sb.run_sh(THREE_READS);
    out.ok();
    for want in ["cat=0", "cp=0", "tar=0", KEY] {
        assert!(out.stdout.contains(want), "{want}\n{out}");
    }
    assert!(!has_summary(&out), "{out}");
    assert_eq!(
        std::fs::read_to_string(sb.dir().join("credentials")).unwrap(),
        AWS
    );
}

e2e!(shared, secrets_writes_links_and_renames_are_refused);
/// Writes are refused too: a build cannot plant a key or an authorized_keys line, nor
/// move, link or swap a secret away; a symlink to a secret, or to a directory above
/// one, reaches the secret and is refused; `addread` through /dev/fusebox does not
/// re-allow one (DENY wins over READ).
fn secrets_writes_links_and_renames_are_refused(h: Helper) {
    let fake = FakeHome::new();
    let home = fake.home();
    // The fake HOME is under /tmp, which the build may write: only the set guards it.
    let out = fake.sandbox(h).run_sh(
        r#"
(echo "ssh-ed25519 AAAA attacker" >> "$HOME/.ssh/authorized_keys"); echo "plant=$?"
mv "$HOME/.ssh" "$HOME/ssh-moved"; echo "mv=$?"
mv "$HOME/.ssh/id_ed25519" "$HOME/stolen"; echo "mvkey=$?"
ln "$HOME/.ssh/id_ed25519" hard; echo "ln=$?"
ln -s "$HOME/.ssh/id_ed25519" soft; cat soft; echo "soft=$?"
ln -s "$HOME" homelink; cat homelink/.ssh/id_ed25519; echo "above=$?"
cat "$HOME/.ssh/../.ssh/./id_ed25519"; echo "dots=$?"
echo "addread $HOME/.ssh" > /dev/fusebox; cat "$HOME/.ssh/id_ed25519"; echo "addread=$?"
exit 0
"#,
    );
    out.expect_code(1);
    for want in [
        "mv=1",
        "mvkey=1",
        "ln=1",
        "soft=1",
        "above=1",
        "dots=1",
        "addread=1",
    ] {
        assert!(out.stdout.contains(want), "{want}\n{out}");
    }
    assert!(
        out.stdout.contains("plant=") && !out.stdout.contains("plant=0"),
        "{out}"
    );
    assert!(!out.stdout.contains(KEY), "{out}");
    assert!(!home.join(".ssh/authorized_keys").exists());
    assert!(!home.join("ssh-moved").exists() && !home.join("stolen").exists());
    assert_eq!(
        std::fs::read_to_string(home.join(".ssh/id_ed25519")).unwrap(),
        KEY
    );
}

e2e!(shared, secrets_renaming_an_ancestor_opens_no_way);
/// Renaming a directory above a secret (here the whole HOME, which the build may write
/// because it is under /tmp) must not open a way to it: the rename is judged as a write
/// of the secret (issue 11's rule for every DENY entry).
fn secrets_renaming_an_ancestor_opens_no_way(h: Helper) {
    let fake = FakeHome::new();
    let home = fake.home();
    let moved = fake.dir.path().join("moved");
    let out = fake.sandbox(h).run_sh_args(
        r#"mv "$HOME" "$1"; echo "mv=$?"; cat "$1/.ssh/id_ed25519" "$HOME/.ssh/id_ed25519"; exit 0"#,
        &[&moved],
    );
    assert!(
        !out.stdout.contains(KEY),
        "the key leaked after a rename\n{out}"
    );
    out.expect_code(1);
    assert!(out.stdout.contains("mv=1"), "{out}");
    assert!(home.join(".ssh/id_ed25519").exists() && !moved.exists());
}

e2e!(shared, secrets_key_swapped_for_a_symlink);
/// A key swapped for a symlink to a readable file: following it reads the link inside
/// the secret, which is refused and reported (a FIFO needs no test of its own: the
/// kernel serves FIFOs of a FUSE mount itself, as a pipe of the sandbox with no host data).
fn secrets_key_swapped_for_a_symlink(h: Helper) {
    let fake = FakeHome::new();
    let key = fake.home().join(".ssh/id_ed25519");
    std::fs::remove_file(&key).unwrap();
    std::os::unix::fs::symlink("/etc/hostname", &key).unwrap();
    let out = fake
        .sandbox(h)
        .run_sh(r#"cat "$HOME/.ssh/id_ed25519"; echo "cat=$?"; exit 0"#);
    out.expect_code(1);
    assert!(out.stdout.contains("cat=1"), "{out}");
    assert!(reported(&out, &key, "cat "), "{out}");
}

/// A command line refused before the build starts: 125 as a setup error, or 2 where
/// command-line errors are usage errors (issue 16); never the build's own status.
#[track_caller]
fn expect_refused_before_start(out: &Out) {
    assert!(matches!(out.code(), Some(2 | 125)), "{out}");
    assert!(out.stderr.starts_with("fusebox-run: "), "{out}");
}

e2e!(shared, secrets_show_defaults_and_bad_options);
/// `--show-defaults` prints the set as a policy file, one reason per entry, which
/// `--policy` reads back; `--read` and `--no-default-deny` show in it; bad uses of
/// `--read` and `--share` are refused with one line saying what to do.
fn secrets_show_defaults_and_bad_options(h: Helper) {
    let fake = FakeHome::new();
    let home = fake.home();
    let out = fake.sandbox(h).run_args(&["--show-defaults"]);
    out.ok();
    let lines = out.stdout_lines();
    for want in [
        ".ssh",
        ".gnupg",
        ".aws",
        ".netrc",
        ".cargo/credentials.toml",
    ] {
        let line = format!("deny {}", s(&home.join(want)));
        let at = lines.iter().position(|l| *l == line);
        let at = at.unwrap_or_else(|| panic!("{line} missing\n{out}"));
        assert!(
            lines[at - 1].starts_with("# "),
            "no reason for {line}\n{out}"
        );
    }
    let runtime_gnupg = format!("deny {}", s(&fake.runtime().join("gnupg")));
    assert!(lines.contains(&runtime_gnupg.as_str()), "{out}");
    // Read back as a policy file, it is a policy that runs.
    let policy = fake.dir.path().join("shown.policy");
    std::fs::write(&policy, &out.stdout).unwrap();
    let sb = fake.sandbox(h).opt("--policy").opt(&policy);
    let run = sb.run_sh(r#"cat "$HOME/.netrc"; echo "netrc=$?"; exit 0"#);
    assert!(run.stdout.contains("netrc=1"), "{run}");

    let ssh = home.join(".ssh");
    let out = fake
        .sandbox(h)
        .opts(&["--read", s(&ssh), "--show-defaults"])
        .run_args::<&str>(&[]);
    out.ok();
    assert!(
        !out.stdout.contains(&format!("deny {}\n", s(&ssh))),
        "{out}"
    );
    assert!(out.stdout.contains("re-allowed by --read"), "{out}");
    let out = fake
        .sandbox(h)
        .opts(&["--no-default-deny", "--show-defaults"])
        .run_args::<&str>(&[]);
    out.ok();
    assert!(!out.stdout.contains("deny "), "{out}");

    // A read inside a secret cannot punch a hole in it: re-allow the entry whole.
    let known = ssh.join("known_hosts");
    let out = fake.sandbox(h).opts(&["--read", s(&known)]).run(&["true"]);
    expect_refused_before_start(&out);
    assert!(out.stderr.contains(&format!("--read {}", s(&ssh))), "{out}");
    // Sharing a directory that holds a secret would bypass the mirror's judgement.
    let out = fake.sandbox(h).opts(&["--share", s(&home)]).run(&["true"]);
    expect_refused_before_start(&out);
    assert!(out.stderr.contains("would expose the secret"), "{out}");
    assert_eq!(out.stderr.trim().lines().count(), 1, "{out}");

    // A HOME whose name cannot be held in a policy (a newline and an escape sequence):
    // refused in one escaped line that names the way out, never silently unguarded.
    let odd = fake.dir.path().join("odd\nhome\x1b[31m");
    let out = fake.sandbox(h).env("HOME", &odd).run(&["true"]);
    expect_refused_before_start(&out);
    assert_eq!(out.stderr.trim_end().lines().count(), 1, "{out}");
    assert!(!out.stderr.contains('\x1b'), "{out}");
    assert!(out.stderr.contains("--no-default-deny"), "{out}");
    let out = fake
        .sandbox(h)
        .env("HOME", &odd)
        .opt("--no-default-deny")
        .run(&["true"]);
    out.ok();

    // A full disk on stdout: one error line and status 1, never a panic.
    let mut full = std::process::Command::new("sh");
    full.args(["-c", r#"exec "$1" --show-defaults >/dev/full"#, "sh"])
        .arg(bin())
        .env("HOME", fake.home());
    let full = spawn_command(full, false, DEFAULT_TIMEOUT).wait();
    full.expect_code(1);
    assert!(full.stderr.contains("cannot print"), "{full}");
    assert!(!full.stderr.contains("panicked"), "{full}");
}

e2e!(shared, secrets_ordinary_builds_have_no_violation);
/// A C build, `cargo build` of a crate without dependencies (offline) and `git clone`
/// of a local repository, with fake credentials in HOME: no violation.
fn secrets_ordinary_builds_have_no_violation(h: Helper) {
    let fake = FakeHome::new();
    let cargo = find_tool(&["/usr/bin/cargo", "/usr/local/bin/cargo"], "cargo");
    let git = find_tool(&["/usr/bin/git", "/usr/local/bin/git"], "git");
    let repo = fake.dir.path().join("repo");
    std::fs::create_dir(&repo).unwrap();
    std::fs::write(repo.join("README"), "hello from git\n").unwrap();
    let git_env = "-c user.name=t -c user.email=t@example.org";
    native_sh(
        &format!(r#""$1" init -q && "$1" add README && "$1" {git_env} commit -qm init"#),
        &[&git],
        &repo,
    )
    .ok();
    let sb = fake.sandbox(h).timeout(Duration::from_secs(600));
    let dir = sb.dir().to_path_buf();
    std::fs::write(
        dir.join("hello.c"),
        "#include <stdio.h>\nint main(void) { puts(\"hello from C\"); return 0; }\n",
    )
    .unwrap();
    std::fs::create_dir_all(dir.join("tiny/src")).unwrap();
    std::fs::write(
        dir.join("tiny/Cargo.toml"),
        "[package]\nname = \"tiny\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("tiny/src/main.rs"),
        "fn main() { println!(\"hello from cargo\"); }\n",
    )
    .unwrap();
    let out = sb.run_sh_args(
        r#"set -e
cc -O2 -o hello hello.c && ./hello
(cd tiny && "$1" build --offline -q && ./target/debug/tiny)
"$2" clone -q "$3" clone && cat clone/README"#,
        &[cargo.as_str(), git.as_str(), s(&repo)],
    );
    out.ok();
    for want in ["hello from C", "hello from cargo", "hello from git"] {
        assert!(out.stdout.contains(want), "{want}\n{out}");
    }
    assert!(!has_summary(&out), "{out}");
}

e2e!(shared, secrets_learn_comments_a_secret_it_re_allows);
/// `--learn` proposes a secret the build read only under a comment saying so, and the
/// learned policy then lets the build read it.
fn secrets_learn_comments_a_secret_it_re_allows(h: Helper) {
    let fake = FakeHome::new();
    let ssh = fake.home().join(".ssh");
    let learned = fake.dir.path().join("learned.policy");
    let script = r#"cat "$HOME/.ssh/id_ed25519"; echo "cat=$?"; exit 0"#;
    let out = fake.sandbox(h).opt("--learn").opt(&learned).run_sh(script);
    out.expect_code(1);
    // Learning lets violations through, but never hands the build a secret.
    assert!(
        out.stdout.contains("cat=1") && !out.stdout.contains(KEY),
        "{out}"
    );
    let text = std::fs::read_to_string(&learned).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let line = format!("read {}", s(&ssh));
    let at = lines.iter().position(|l| *l == line);
    let at = at.unwrap_or_else(|| panic!("{line} missing\n{text}"));
    assert!(
        lines[at - 1].starts_with("# secret re-allowed:"),
        "no comment before {line}\n{text}"
    );
    assert!(text.contains("SECRETS"), "{text}");
    let again = fake.sandbox(h).opt("--policy").opt(&learned).run_sh(script);
    again.ok();
    assert!(again.stdout.contains(KEY), "{again}");
}

e2e!(shared, secrets_audit_still_refuses_them);
/// `--audit` lets an ordinary violation through (here a `--deny` of the user's own) but
/// still refuses a secret; both are reported.
fn secrets_audit_still_refuses_them(h: Helper) {
    let fake = FakeHome::new();
    let other = fake.dir.path().join("other.txt");
    std::fs::write(&other, "not a secret\n").unwrap();
    let out = fake
        .sandbox(h)
        .opts(&["--audit", "--deny", s(&other)])
        .run_sh_args(
            r#"cat "$1"; echo "other=$?"; cat "$HOME/.ssh/id_ed25519"; echo "cat=$?"; exit 0"#,
            &[&other],
        );
    out.expect_code(1);
    assert!(
        out.stdout.contains("not a secret") && out.stdout.contains("other=0"),
        "{out}"
    );
    assert!(
        out.stdout.contains("cat=1") && !out.stdout.contains(KEY),
        "{out}"
    );
    assert!(reported(&out, &other, "cat "), "{out}");
    assert!(
        reported(&out, &fake.home().join(".ssh/id_ed25519"), "cat "),
        "{out}"
    );
}

e2e!(shared, secrets_gentoo_mode_only_on_request);
/// Gentoo mode keeps Gentoo's semantics (no secrets set) unless FUSEBOX_OPTS asks.
fn secrets_gentoo_mode_only_on_request(h: Helper) {
    let fake = FakeHome::new();
    let log = fake.dir.path().join("sandbox.log");
    let gentoo = |opts: Option<&str>| {
        let mut sb = fake
            .sandbox(h)
            .env("SANDBOX_LOG", &log)
            .env_remove("SANDBOX_ACTIVE");
        sb = match opts {
            Some(o) => sb.env("FUSEBOX_OPTS", o),
            None => sb.env_remove("FUSEBOX_OPTS"),
        };
        sb.run_args(&[
            "--gentoo",
            "-c",
            r#"cat "$HOME/.ssh/id_ed25519"; echo "cat=$?"; exit 0"#,
        ])
    };
    let out = gentoo(None);
    out.ok();
    assert!(out.stdout.contains(KEY), "{out}");
    let out = gentoo(Some("--default-deny"));
    assert!(
        out.stdout.contains("cat=1") && !out.stdout.contains(KEY),
        "{out}"
    );
    out.expect_code(1);
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(
        log.contains(s(&fake.home().join(".ssh/id_ed25519"))),
        "{log}"
    );
}
