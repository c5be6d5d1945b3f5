//! The secrets set: the user's credentials, denied to the build for reading and writing
//! unless the user re-allows them, and reported when touched.
//!
//! [`TABLE`] is the one reviewed list, each location with the reason it is there (the
//! tools' own documentation says where they keep what). A location is relative to a
//! [`Base`]; [`resolve`] turns the table into absolute paths for one user ([`Facts`]),
//! which become ordinary DENY entries of the policy — so every rule that guards a DENY
//! entry (symlinks judged on their target, hard links and renames judged as writes of
//! the entry) guards them too.
//!
//! What is deliberately left out: files builds read as configuration even though they
//! may hold a password (`~/.m2/settings.xml`, `~/.gradle/gradle.properties`,
//! `~/.config/pip/pip.conf`, `~/.gitconfig`): denying them would break ordinary builds.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::path;

/// Where a [`Location`]'s relative path starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Base {
    /// Each of the user's home directories: `$HOME` and the password database's (a
    /// hostile build does not have to believe `$HOME`).
    Home,
    /// `$XDG_CONFIG_HOME` when set, and each home's `.config` (the XDG default).
    ConfigHome,
    /// `$XDG_DATA_HOME` when set, and each home's `.local/share`.
    DataHome,
    /// `$XDG_RUNTIME_DIR`, else `/run/user/UID`: the session's sockets.
    RuntimeDir,
    /// Outside any home: an absolute path in which `{user}` and `{uid}` are replaced.
    Host,
    /// The path an environment variable of the run names (the tools' own override of
    /// their default location); `rel` is appended when not empty.
    Env(&'static str),
}

/// One row of the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Location {
    pub base: Base,
    pub rel: &'static str,
    /// Why it is a secret: what it holds, and who documents it there.
    pub reason: &'static str,
}

const fn at(base: Base, rel: &'static str, reason: &'static str) -> Location {
    Location { base, rel, reason }
}

use Base::{ConfigHome, DataHome, Env, Home, Host, RuntimeDir};

/// The secrets set. Reviewed against each tool's documentation (the man page or
/// manual named in the reason); keep one row per location and say why.
#[rustfmt::skip]
pub const TABLE: &[Location] = &[
    // Keys and agents.
    at(Home, ".ssh", "SSH private keys (ssh(1): ~/.ssh/id_*), authorized_keys, known_hosts"),
    at(Env("SSH_AUTH_SOCK"), "", "the SSH agent's socket (ssh-agent(1): $SSH_AUTH_SOCK)"),
    at(Home, ".gnupg", "GnuPG private keys and trust database (gpg(1): ~/.gnupg)"),
    at(Env("GNUPGHOME"), "", "GnuPG home moved by $GNUPGHOME (gpg(1))"),
    at(RuntimeDir, "gnupg", "gpg-agent's sockets, ssh emulation included (gpg-agent(1))"),
    at(RuntimeDir, "keyring", "GNOME Keyring's control and SSH sockets (gnome-keyring-daemon(1))"),
    at(RuntimeDir, "gcr", "GCR's SSH agent socket (gcr-ssh-agent, GNOME ≥ 46)"),
    at(RuntimeDir, "ssh-agent.socket", "the systemd user unit's SSH agent socket"),
    at(RuntimeDir, "bus", "the D-Bus session bus: the Secret Service (keyrings) answers on it"),
    at(RuntimeDir, "kwallet5.socket", "KWallet's socket (kwalletd5)"),
    at(RuntimeDir, "kwallet6.socket", "KWallet's socket (kwalletd6)"),
    // Version control and forges.
    at(Home, ".git-credentials", "git credential-store's passwords (git-credential-store(1))"),
    at(ConfigHome, "git/credentials", "git credential-store's XDG file (git-credential-store(1))"),
    at(ConfigHome, "gh", "GitHub CLI tokens, hosts.yml (gh: $GH_CONFIG_DIR or ~/.config/gh)"),
    at(Env("GH_CONFIG_DIR"), "", "GitHub CLI tokens moved by $GH_CONFIG_DIR (gh help environment)"),
    at(ConfigHome, "hub", "hub's GitHub token (hub(1): ~/.config/hub)"),
    at(ConfigHome, "glab-cli", "GitLab CLI tokens, config.yml (glab config set --global)"),
    at(Home, ".netrc", "machine passwords read by curl, git, ftp (netrc(5))"),
    // Cloud and cluster credentials.
    at(Home, ".aws", "AWS access keys and SSO tokens (AWS SDKs: ~/.aws/credentials, ~/.aws/sso)"),
    at(Env("AWS_SHARED_CREDENTIALS_FILE"), "", "AWS credentials moved by $AWS_SHARED_CREDENTIALS_FILE"),
    at(ConfigHome, "gcloud", "Google Cloud SDK credentials (gcloud: ~/.config/gcloud)"),
    at(Env("GOOGLE_APPLICATION_CREDENTIALS"), "", "a Google service account key ($GOOGLE_APPLICATION_CREDENTIALS)"),
    at(Home, ".azure", "Azure CLI tokens (az: ~/.azure, msal_token_cache)"),
    at(Home, ".oci", "Oracle Cloud API keys (oci: ~/.oci)"),
    at(ConfigHome, "doctl", "DigitalOcean API token (doctl: ~/.config/doctl/config.yaml)"),
    at(Home, ".kube", "Kubernetes cluster credentials (kubectl: ~/.kube/config)"),
    at(Env("KUBECONFIG"), "", "Kubernetes credentials moved by $KUBECONFIG (first file)"),
    at(Home, ".docker/config.json", "container registry logins (docker login: ~/.docker/config.json)"),
    at(Env("DOCKER_CONFIG"), "config.json", "registry logins moved by $DOCKER_CONFIG"),
    at(ConfigHome, "containers/auth.json", "podman/buildah registry logins (containers-auth.json(5))"),
    at(RuntimeDir, "containers/auth.json", "podman's default registry logins (podman-login(1))"),
    at(Home, ".terraform.d/credentials.tfrc.json", "Terraform Cloud API tokens (terraform login)"),
    at(Home, ".vault-token", "HashiCorp Vault token (vault login)"),
    at(ConfigHome, "rclone/rclone.conf", "rclone remotes' passwords and tokens (rclone config)"),
    at(Home, ".s3cfg", "s3cmd access keys (s3cmd --configure)"),
    at(Home, ".boto", "gsutil/boto credentials (~/.boto)"),
    // Package registries' upload tokens.
    at(Home, ".cargo/credentials.toml", "crates.io and registry tokens (cargo login: $CARGO_HOME/credentials.toml)"),
    at(Home, ".cargo/credentials", "crates.io token, legacy name (cargo login)"),
    at(Env("CARGO_HOME"), "credentials.toml", "registry tokens under $CARGO_HOME (cargo login)"),
    at(Env("CARGO_HOME"), "credentials", "registry tokens under $CARGO_HOME, legacy name"),
    at(Home, ".pypirc", "PyPI upload tokens (twine, .pypirc)"),
    at(Home, ".npmrc", "npm auth tokens (npmrc(5): per-user config ~/.npmrc); --read it if a build needs its registry settings"),
    at(Env("NPM_CONFIG_USERCONFIG"), "", "npm user config moved by $NPM_CONFIG_USERCONFIG (npmrc(5))"),
    at(Home, ".yarnrc", "yarn 1 settings, may hold registry tokens"),
    at(Home, ".yarnrc.yml", "yarn ≥ 2 npmAuthToken (yarnrc.yml)"),
    at(Home, ".gem/credentials", "RubyGems API key (gem push)"),
    at(ConfigHome, "composer/auth.json", "Composer registry logins (composer: COMPOSER_HOME/auth.json)"),
    at(Home, ".m2/settings-security.xml", "Maven's master password (Maven password encryption)"),
    // Databases and mail.
    at(Home, ".pgpass", "PostgreSQL passwords (libpq: ~/.pgpass)"),
    at(Home, ".my.cnf", "MySQL client password (mysql option files)"),
    at(Home, ".msmtprc", "SMTP password (msmtp(1))"),
    at(Home, ".mbsyncrc", "IMAP password or its command (mbsync(1))"),
    at(Home, ".fetchmailrc", "mail server passwords (fetchmail(1))"),
    at(Home, ".authinfo", "Emacs auth-source passwords (~/.authinfo)"),
    at(Home, ".authinfo.gpg", "Emacs auth-source passwords, encrypted (~/.authinfo.gpg)"),
    at(Host, "/var/mail/{user}", "the user's mail spool (readable by the user)"),
    at(Host, "/var/spool/mail/{user}", "the user's mail spool (readable by the user)"),
    at(Home, ".thunderbird", "Thunderbird mail and saved passwords (logins.json, key4.db)"),
    // Kerberos.
    at(Host, "/tmp/krb5cc_{uid}", "Kerberos tickets, the default FILE cache (krb5.conf default_ccache_name)"),
    at(Env("KRB5CCNAME"), "", "Kerberos tickets named by $KRB5CCNAME (FILE: and DIR: caches)"),
    // Keyrings and password managers.
    at(DataHome, "keyrings", "GNOME Keyring's stored keyrings: Secret Service data (gnome-keyring)"),
    at(DataHome, "kwalletd", "KWallet's wallets (kwalletd)"),
    at(Home, ".password-store", "pass's encrypted passwords (pass(1))"),
    at(Env("PASSWORD_STORE_DIR"), "", "pass's store moved by $PASSWORD_STORE_DIR (pass(1))"),
    at(ConfigHome, "Bitwarden", "Bitwarden desktop vault cache"),
    at(ConfigHome, "Bitwarden CLI", "Bitwarden CLI vault cache (bw: data.json)"),
    at(ConfigHome, "1Password", "1Password desktop data"),
    at(ConfigHome, "op", "1Password CLI sessions (op)"),
    at(ConfigHome, "sops/age/keys.txt", "age private keys used by SOPS (sops: SOPS_AGE_KEY_FILE default)"),
    at(Home, ".pki", "NSS certificate and private key database (Chromium: ~/.pki/nssdb)"),
    // Browser profiles: cookies, saved passwords, session tokens.
    at(Home, ".mozilla", "Firefox profiles: cookies, logins.json, key4.db"),
    at(Home, "snap/firefox", "Firefox profiles of the snap package"),
    at(Home, ".var/app/org.mozilla.firefox", "Firefox profiles of the Flatpak"),
    at(ConfigHome, "google-chrome", "Chrome profiles: cookies, Login Data"),
    at(ConfigHome, "chromium", "Chromium profiles: cookies, Login Data"),
    at(Home, "snap/chromium", "Chromium profiles of the snap package"),
    at(ConfigHome, "BraveSoftware", "Brave profiles: cookies, Login Data"),
    at(ConfigHome, "microsoft-edge", "Edge profiles: cookies, Login Data"),
    at(ConfigHome, "vivaldi", "Vivaldi profiles: cookies, Login Data"),
    at(ConfigHome, "opera", "Opera profiles: cookies, Login Data"),
    // Shell histories: tokens and passwords typed on command lines.
    at(Home, ".bash_history", "bash history: tokens typed on command lines"),
    at(Home, ".zsh_history", "zsh history: tokens typed on command lines"),
    at(DataHome, "fish/fish_history", "fish history: tokens typed on command lines"),
    at(Home, ".python_history", "Python REPL history"),
    at(Home, ".psql_history", "psql history: may hold passwords"),
    at(Home, ".mysql_history", "mysql history: may hold passwords"),
];

/// What [`resolve`] needs to know about the user and the run, gathered once.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Facts {
    /// `$HOME` and the password database's home directory, each once.
    pub homes: Vec<PathBuf>,
    pub config_home: Option<PathBuf>,
    pub data_home: Option<PathBuf>,
    pub runtime_dir: Option<PathBuf>,
    pub user: Option<String>,
    pub uid: u32,
    /// The environment variables [`Base::Env`] rows name, as set for the run.
    pub env: Vec<(String, PathBuf)>,
    /// The build's directory: a path from an environment variable that covers it is
    /// not taken (a variable pointing at the project would deny the build its sources).
    pub cwd: PathBuf,
}

impl Facts {
    /// The facts of this process: its environment and its user's password entry.
    pub fn of_this_process(cwd: &Path) -> Facts {
        let var = |name: &str| std::env::var_os(name).map(PathBuf::from);
        let uid = nix::unistd::getuid();
        let user = nix::unistd::User::from_uid(uid).ok().flatten();
        let mut homes: Vec<PathBuf> = var("HOME").into_iter().collect();
        homes.extend(user.as_ref().map(|u| u.dir.clone()));
        let env = env_names()
            .filter_map(|name| var(name).map(|value| (name.to_owned(), value)))
            .collect();
        Facts {
            homes,
            config_home: var("XDG_CONFIG_HOME"),
            data_home: var("XDG_DATA_HOME"),
            runtime_dir: var("XDG_RUNTIME_DIR")
                .or_else(|| Some(PathBuf::from(format!("/run/user/{uid}")))),
            user: user.map(|u| u.name).or_else(|| std::env::var("USER").ok()),
            uid: uid.as_raw(),
            env,
            cwd: cwd.to_path_buf(),
        }
    }

    fn var(&self, name: &str) -> Option<&Path> {
        self.env
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_path())
    }
}

/// The environment variables the table reads.
fn env_names() -> impl Iterator<Item = &'static str> {
    TABLE.iter().filter_map(|l| match l.base {
        Env(name) => Some(name),
        _ => None,
    })
}

/// One entry of the set for this user: an absolute, normalised path and its row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Secret {
    pub path: PathBuf,
    pub reason: &'static str,
}

/// The table for the user `facts` describes: every location under every base it has,
/// each path once, in table order. A path from an environment variable is left out when
/// it is not absolute or when it covers `/`, a home or the build's directory.
pub fn resolve(facts: &Facts) -> Vec<Secret> {
    let mut out: Vec<Secret> = Vec::new();
    for location in TABLE {
        for path in location_paths(location, facts) {
            let Some(path) = path::normalise(&path) else {
                continue;
            };
            if !out.iter().any(|s| s.path == path) {
                out.push(Secret {
                    path,
                    reason: location.reason,
                });
            }
        }
    }
    out
}

/// Where `location` is for `facts` (none, one, or one per home).
fn location_paths(location: &Location, facts: &Facts) -> Vec<PathBuf> {
    let under = |bases: Vec<PathBuf>| -> Vec<PathBuf> {
        bases.into_iter().map(|b| join(&b, location.rel)).collect()
    };
    let homes_and = |set: &Option<PathBuf>, default: &str| {
        let mut bases: Vec<PathBuf> = set.iter().filter(|p| p.is_absolute()).cloned().collect();
        bases.extend(facts.homes.iter().map(|h| h.join(default)));
        bases
    };
    match location.base {
        Home => under(facts.homes.clone()),
        ConfigHome => under(homes_and(&facts.config_home, ".config")),
        DataHome => under(homes_and(&facts.data_home, ".local/share")),
        RuntimeDir => under(facts.runtime_dir.iter().cloned().collect()),
        Host => facts
            .user
            .as_deref()
            .map(|user| {
                let uid = facts.uid.to_string();
                vec![PathBuf::from(
                    location.rel.replace("{user}", user).replace("{uid}", &uid),
                )]
            })
            .unwrap_or_default(),
        Env(name) => env_path(facts, name)
            .map(|p| vec![join(&p, location.rel)])
            .unwrap_or_default(),
    }
}

fn join(base: &Path, rel: &str) -> PathBuf {
    if rel.is_empty() {
        base.to_path_buf()
    } else {
        base.join(rel)
    }
}

/// The path variable `name` names, when it is safe to deny: absolute, and neither `/`
/// nor above a home or the build's directory. KUBECONFIG is a colon list (its first
/// file is taken); KRB5CCNAME has a `TYPE:` prefix.
fn env_path(facts: &Facts, name: &str) -> Option<PathBuf> {
    let value = facts.var(name)?.to_str()?;
    let value = match name {
        "KUBECONFIG" => value.split(':').next()?,
        "KRB5CCNAME" => value
            .strip_prefix("FILE:")
            .or_else(|| value.strip_prefix("DIR:"))
            .unwrap_or(value),
        _ => value,
    };
    let path = path::normalise(Path::new(value))?;
    let too_wide = path == Path::new("/")
        || facts.homes.iter().any(|h| path::covers(&path, h))
        || path::covers(&path, &facts.cwd);
    (!too_wide).then_some(path)
}

/// The set in force for a run: the entries denied, and those the user re-allowed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SecretsSet {
    pub denied: Vec<Secret>,
    pub reallowed: Vec<Secret>,
    /// Whether the set is on at all (`--no-default-deny`, or Gentoo mode without
    /// `--default-deny`, turns it off).
    pub on: bool,
}

/// A READ entry that lies inside a secret: a DENY entry cannot have holes, so the
/// user must re-allow the secret whole, knowingly.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InsideSecret {
    pub read: PathBuf,
    pub secret: PathBuf,
}

impl SecretsSet {
    /// `secrets` with each one a READ entry names re-allowed, together with the
    /// entries inside it (`--read ~/.ssh` lets the agent socket below it go too). `reads`
    /// are the READ entries, each with its other spellings (its realpath); `spellings`
    /// gives a secret's (itself and its realpath when it exists). A READ entry inside an
    /// entry that stays denied is an error.
    pub fn new(
        secrets: Vec<Secret>,
        reads: &[Vec<PathBuf>],
        spellings: impl Fn(&Path) -> Vec<PathBuf>,
    ) -> Result<SecretsSet, InsideSecret> {
        let named: Vec<Vec<PathBuf>> = secrets.iter().map(|s| spellings(&s.path)).collect();
        let is_named = |names: &[PathBuf]| {
            reads
                .iter()
                .flatten()
                .any(|read| names.iter().any(|n| n == read))
        };
        let reallowed_roots: Vec<&PathBuf> = named
            .iter()
            .filter(|names| is_named(names))
            .flatten()
            .collect();
        let mut set = SecretsSet {
            on: true,
            ..SecretsSet::default()
        };
        for (secret, names) in secrets.into_iter().zip(&named) {
            let reallowed = names
                .iter()
                .any(|n| reallowed_roots.iter().any(|root| path::covers(root, n)));
            if reallowed {
                set.reallowed.push(secret);
                continue;
            }
            let inside = reads.iter().find(|read| {
                read.iter()
                    .any(|r| names.iter().any(|n| path::covers(n, r) && n != r))
            });
            if let Some(read) = inside {
                return Err(InsideSecret {
                    read: read[0].clone(),
                    secret: secret.path,
                });
            }
            set.denied.push(secret);
        }
        Ok(set)
    }

    /// The set turned off.
    pub fn off() -> SecretsSet {
        SecretsSet::default()
    }

    /// The denied paths.
    pub fn paths(&self) -> Vec<PathBuf> {
        self.denied.iter().map(|s| s.path.clone()).collect()
    }

    /// The secret `path` falls under, if any.
    pub fn holding(&self, path: &Path) -> Option<&Secret> {
        self.denied.iter().find(|s| path::covers(&s.path, path))
    }

    /// The set as policy-file lines with a comment each, for `--show-defaults`.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if !self.on {
            out.push_str("# The secrets set is off (--no-default-deny, or Gentoo mode).\n");
            return out;
        }
        out.push_str(
            "# The secrets set: denied for reading and writing, each touch reported.\n\
             # Re-allow one with --read PATH (PATH as listed); --no-default-deny turns all off.\n",
        );
        for secret in &self.denied {
            let _ = write!(out, "# {}\ndeny {}\n", secret.reason, secret.path.display());
        }
        for secret in &self.reallowed {
            let _ = writeln!(
                out,
                "# re-allowed by --read: {} ({})",
                secret.path.display(),
                secret.reason
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
