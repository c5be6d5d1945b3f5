//! The table for one user: its locations as absolute paths, from the user's homes, XDG
//! directories and the environment variables the tools read.

use std::path::{Path, PathBuf};

use super::table::{Base::*, Location, TABLE};
use crate::policy::path;

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
    /// Its realpath, when it exists and differs (found once, by [`SecretsSet::new`]).
    ///
    /// [`SecretsSet::new`]: super::SecretsSet::new
    pub real: Option<PathBuf>,
}

impl Secret {
    /// The ways the secret is spelled: its path and, when it differs, its realpath.
    pub fn spellings(&self) -> impl Iterator<Item = &Path> {
        std::iter::once(self.path.as_path()).chain(self.real.as_deref())
    }
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
            // Both normalised: bytes compare alike and far faster than components.
            if !out.iter().any(|s| s.path.as_os_str() == path.as_os_str()) {
                out.push(Secret {
                    path,
                    reason: location.reason,
                    real: None,
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
