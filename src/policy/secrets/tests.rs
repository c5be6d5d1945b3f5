//! The table resolved for one user, and the set made of it with the user's READ entries.

use std::path::{Path, PathBuf};

use super::*;
use Base::{Env, Host};

fn facts() -> Facts {
    Facts {
        homes: vec!["/home/u".into()],
        config_home: None,
        data_home: None,
        runtime_dir: Some("/run/user/1000".into()),
        user: Some("u".into()),
        uid: 1000,
        env: Vec::new(),
        cwd: "/home/u/src/p".into(),
    }
}

fn paths(facts: &Facts) -> Vec<PathBuf> {
    resolve(facts).into_iter().map(|s| s.path).collect()
}

fn has(paths: &[PathBuf], p: &str) -> bool {
    paths.iter().any(|x| x == Path::new(p))
}

#[test]
fn every_row_has_a_reason_and_a_relative_path() {
    for l in TABLE {
        assert!(!l.reason.trim().is_empty(), "{l:?}");
        match l.base {
            Host => assert!(l.rel.starts_with('/'), "{l:?}"),
            Env(_) => assert!(!l.rel.starts_with('/'), "{l:?}"),
            _ => assert!(!l.rel.is_empty() && !l.rel.starts_with('/'), "{l:?}"),
        }
    }
}

#[test]
fn the_issue_s_locations_are_in_the_set() {
    let p = paths(&facts());
    for want in [
        "/home/u/.ssh",
        "/home/u/.gnupg",
        "/home/u/.aws",
        "/home/u/.netrc",
        "/home/u/.git-credentials",
        "/home/u/.docker/config.json",
        "/home/u/.kube",
        "/home/u/.pypirc",
        "/home/u/.npmrc",
        "/home/u/.yarnrc.yml",
        "/home/u/.cargo/credentials.toml",
        "/home/u/.cargo/credentials",
        "/home/u/.config/gh",
        "/home/u/.config/glab-cli",
        "/home/u/.local/share/keyrings",
        "/home/u/.mozilla",
        "/home/u/.config/google-chrome",
        "/home/u/.password-store",
        "/run/user/1000/gnupg",
        "/run/user/1000/keyring",
        "/var/mail/u",
        "/tmp/krb5cc_1000",
    ] {
        assert!(has(&p, want), "{want} missing from {p:?}");
    }
    // Builds read these: they stay readable.
    for not in [
        "/home/u",
        "/home/u/.cargo",
        "/home/u/.config",
        "/home/u/.gitconfig",
    ] {
        assert!(!has(&p, not), "{not} must not be a secret");
    }
}

#[test]
fn both_homes_and_xdg_overrides_are_covered_once() {
    let mut f = facts();
    f.homes.push("/home/u".into());
    f.homes.push("/srv/real-home".into());
    f.config_home = Some("/xdg/config".into());
    f.data_home = Some("relative/ignored".into());
    let p = paths(&f);
    assert!(has(&p, "/srv/real-home/.ssh"));
    assert!(has(&p, "/xdg/config/gh"));
    assert!(has(&p, "/home/u/.config/gh"));
    assert!(has(&p, "/home/u/.local/share/keyrings"));
    assert!(!p.iter().any(|x| x.starts_with("relative")));
    let ssh = p.iter().filter(|x| *x == Path::new("/home/u/.ssh")).count();
    assert_eq!(ssh, 1);
}

#[test]
fn environment_variables_add_their_paths_unless_too_wide() {
    let mut f = facts();
    f.env = vec![
        ("SSH_AUTH_SOCK".into(), "/tmp/ssh-XYZ/agent.42".into()),
        ("GNUPGHOME".into(), "/keys/gnupg".into()),
        ("KUBECONFIG".into(), "/k/one:/k/two".into()),
        ("KRB5CCNAME".into(), "FILE:/tmp/krb5cc_1000_abc".into()),
        ("DOCKER_CONFIG".into(), "/d".into()),
        // Too wide: a home, the build's directory's parent, /, relative.
        ("CARGO_HOME".into(), "/home/u".into()),
        ("PASSWORD_STORE_DIR".into(), "/home/u/src".into()),
        ("GH_CONFIG_DIR".into(), "/".into()),
        ("NPM_CONFIG_USERCONFIG".into(), "npmrc".into()),
    ];
    let p = paths(&f);
    for want in [
        "/tmp/ssh-XYZ/agent.42",
        "/keys/gnupg",
        "/k/one",
        "/tmp/krb5cc_1000_abc",
        "/d/config.json",
    ] {
        assert!(has(&p, want), "{want} missing from {p:?}");
    }
    for not in ["/home/u/credentials.toml", "/home/u/src", "/", "npmrc"] {
        assert!(!has(&p, not), "{not} must not be a secret");
    }
    assert!(!p.iter().any(|x| x.is_relative()));
}

#[test]
fn without_a_user_name_the_spools_are_left_out() {
    let mut f = facts();
    f.user = None;
    assert!(!paths(&f).iter().any(|p| p.starts_with("/var/mail")));
}

fn same(p: &Path) -> Vec<PathBuf> {
    vec![p.to_path_buf()]
}

#[test]
fn a_read_entry_naming_a_secret_re_allows_it_alone() {
    let secrets = resolve(&facts());
    let n = secrets.len();
    let reads = [
        vec![PathBuf::from("/")],
        vec![PathBuf::from("/home/u/.ssh")],
    ];
    let set = SecretsSet::new(secrets, &reads, same).unwrap();
    assert_eq!(set.reallowed.len(), 1);
    assert_eq!(set.reallowed[0].path, Path::new("/home/u/.ssh"));
    assert_eq!(set.denied.len(), n - 1);
    assert!(set.holding(Path::new("/home/u/.ssh/id_ed25519")).is_none());
    assert!(set.holding(Path::new("/home/u/.aws/credentials")).is_some());
    // A read above secrets (`/`, a home) re-allows none of them.
    let reads = [vec![PathBuf::from("/home/u")]];
    let set = SecretsSet::new(resolve(&facts()), &reads, same).unwrap();
    assert!(set.reallowed.is_empty());
}

#[test]
fn a_read_entry_inside_a_secret_is_refused() {
    let reads = [vec![PathBuf::from("/home/u/.ssh/known_hosts")]];
    let err = SecretsSet::new(resolve(&facts()), &reads, same).unwrap_err();
    assert_eq!(
        err,
        InsideSecret {
            read: "/home/u/.ssh/known_hosts".into(),
            secret: "/home/u/.ssh".into()
        }
    );
}

#[test]
fn re_allowing_an_entry_re_allows_the_entries_inside_it() {
    let mut f = facts();
    f.env = vec![("SSH_AUTH_SOCK".into(), "/run/user/1000/gcr/ssh".into())];
    // The agent's socket alone is inside gcr, which stays denied: refused.
    let reads = [vec![PathBuf::from("/run/user/1000/gcr/ssh")]];
    let err = SecretsSet::new(resolve(&f), &reads, same).unwrap_err();
    assert_eq!(err.secret, Path::new("/run/user/1000/gcr"));
    // gcr re-allowed: the socket inside it goes with it, nothing else does.
    let reads = [vec![PathBuf::from("/run/user/1000/gcr")]];
    let set = SecretsSet::new(resolve(&f), &reads, same).unwrap();
    let back: Vec<&Path> = set.reallowed.iter().map(|s| s.path.as_path()).collect();
    assert_eq!(
        back,
        [
            Path::new("/run/user/1000/gcr/ssh"),
            Path::new("/run/user/1000/gcr")
        ]
    );
    // Both named: fine too.
    let reads = [
        vec![PathBuf::from("/run/user/1000/gcr")],
        vec![PathBuf::from("/run/user/1000/gcr/ssh")],
    ];
    assert_eq!(
        SecretsSet::new(resolve(&f), &reads, same)
            .unwrap()
            .reallowed
            .len(),
        2
    );
}

#[test]
fn a_secret_is_matched_by_its_realpath_too() {
    let secrets = vec![Secret {
        path: "/home/u/.ssh".into(),
        reason: "r",
        real: None,
    }];
    let spellings = |p: &Path| vec![p.to_path_buf(), PathBuf::from("/data/u/.ssh")];
    let reads = [vec![PathBuf::from("/data/u/.ssh")]];
    let set = SecretsSet::new(secrets, &reads, spellings).unwrap();
    assert_eq!(set.reallowed.len(), 1);
}

#[test]
fn render_comments_every_entry() {
    let set = SecretsSet::new(resolve(&facts()), &[vec!["/home/u/.aws".into()]], same).unwrap();
    let text = set.render();
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        if line.starts_with("deny ") {
            assert!(lines[i - 1].starts_with("# "), "{line} has no reason");
        }
    }
    assert!(text.contains("deny /home/u/.ssh\n"));
    assert!(text.contains("# re-allowed by --read: /home/u/.aws"));
    let parsed = super::super::parse_policy_file(&text).unwrap();
    assert_eq!(parsed.len(), set.denied.len());
    assert!(SecretsSet::off().render().contains("off"));
}
