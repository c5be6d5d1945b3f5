//! The secrets set's one reviewed table: each location of the user's credentials, with
//! the reason it is there.

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
