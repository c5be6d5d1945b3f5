//! `--check`: tries each prerequisite for real and says how to fix what fails.
//!
//! Each live probe runs in a forked child, so nothing it changes (namespaces, mounts)
//! touches the caller, and the caller stays single-threaded.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use anyhow::{Context, Result, bail};
use nix::mount::{MsFlags, mount};
use nix::sched::{CloneFlags, unshare};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::pipe;

use crate::cli::MountHelper;
use crate::sandbox::fuse_mount::{
    dev_fuse_path, find_fusermount3, make_private_recursive, mount_fuse_fd, open_dev_fuse,
};
use crate::sandbox::userns::{Ids, write_maps};
use crate::sys::{self, Forked};

/// The oldest kernel with everything the mirror uses (openat2 came in 5.6).
const MIN_KERNEL: (u32, u32) = (5, 6);

/// One prerequisite's outcome.
#[derive(Debug)]
pub struct Item {
    pub name: &'static str,
    pub outcome: Result<String, Failure>,
}

/// What failed, and what to do about it.
#[derive(Debug)]
pub struct Failure {
    pub what: String,
    pub fix: String,
}

fn fail(what: impl Into<String>, fix: impl Into<String>) -> Result<String, Failure> {
    Err(Failure {
        what: what.into(),
        fix: fix.into(),
    })
}

/// Runs every check, prints one line each and a verdict; true when a sandbox can start
/// with `helper`.
pub fn run_and_print(helper: MountHelper) -> bool {
    let items = run_all();
    for item in &items {
        println!("{}", render(item));
    }
    let ok = |name| items.iter().any(|i| i.name == name && i.outcome.is_ok());
    let mount = match helper {
        MountHelper::Direct => ok("direct FUSE mount").then_some("direct"),
        MountHelper::Fusermount3 => ok("fusermount3").then_some("fusermount3"),
        MountHelper::Auto => {
            if ok("direct FUSE mount") {
                Some("direct")
            } else {
                ok("fusermount3").then_some("fusermount3")
            }
        }
    };
    let can_start = ok("kernel") && ok("user namespaces") && ok("fresh /proc");
    match mount {
        Some(how) if can_start => {
            println!("fusebox-run can start a sandbox here (mount helper: {how})");
            true
        }
        _ => {
            println!(
                "fusebox-run cannot start a sandbox here with --mount-helper {}: \
                 fix the FAIL lines above",
                helper_name(helper)
            );
            false
        }
    }
}

fn helper_name(helper: MountHelper) -> &'static str {
    match helper {
        MountHelper::Auto => "auto",
        MountHelper::Direct => "direct",
        MountHelper::Fusermount3 => "fusermount3",
    }
}

/// One line: `ok    name: detail` or `FAIL  name: what — fix: …`.
pub fn render(item: &Item) -> String {
    match &item.outcome {
        Ok(detail) => format!("ok    {}: {detail}", item.name),
        Err(f) => format!("FAIL  {}: {} — fix: {}", item.name, f.what, f.fix),
    }
}

fn run_all() -> Vec<Item> {
    let mut items = vec![
        Item {
            name: "kernel",
            outcome: check_kernel(),
        },
        Item {
            name: "user namespaces",
            outcome: check_userns(),
        },
    ];
    items.push(Item {
        name: "fresh /proc",
        outcome: check_proc(),
    });
    items.push(Item {
        name: "/dev/fuse",
        outcome: check_dev_fuse(),
    });
    items.push(Item {
        name: "direct FUSE mount",
        outcome: check_direct_mount(),
    });
    items.push(Item {
        name: "fusermount3",
        outcome: check_fusermount3(),
    });
    items
}

fn check_kernel() -> Result<String, Failure> {
    let release = nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default();
    match parse_kernel_version(&release) {
        Some(v) if v >= MIN_KERNEL => Ok(format!("Linux {release}")),
        _ => fail(
            format!(
                "Linux {release} is older than {}.{}",
                MIN_KERNEL.0, MIN_KERNEL.1
            ),
            "upgrade the kernel",
        ),
    }
}

/// "6.18.44-fc" → (6, 18).
pub fn parse_kernel_version(release: &str) -> Option<(u32, u32)> {
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

fn read_sysctl(path: &str) -> Option<i64> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

fn check_userns() -> Result<String, Failure> {
    if read_sysctl("/proc/sys/kernel/unprivileged_userns_clone") == Some(0) {
        return fail(
            "unprivileged user namespaces are disabled",
            "sudo sysctl -w kernel.unprivileged_userns_clone=1",
        );
    }
    if read_sysctl("/proc/sys/user/max_user_namespaces") == Some(0) {
        return fail(
            "user.max_user_namespaces is 0",
            "sudo sysctl -w user.max_user_namespaces=15000",
        );
    }
    let apparmor = read_sysctl("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") == Some(1);
    match probe(|| {
        unshare_as_self(CloneFlags::empty())?;
        make_private_recursive(Path::new("/")).context("mount inside a user namespace")
    }) {
        Ok(()) => Ok("allowed".into()),
        Err(e) if apparmor => fail(
            format!("{e} (AppArmor restricts unprivileged user namespaces)"),
            "sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0, or give \
             fusebox-run an AppArmor profile with `userns,`",
        ),
        Err(e) => fail(
            e,
            "allow unprivileged user namespaces (see user_namespaces(7))",
        ),
    }
}

fn check_proc() -> Result<String, Failure> {
    let outcome = probe(|| {
        unshare_as_self(CloneFlags::CLONE_NEWPID)?;
        // The next child is PID 1 of the new namespace: mount its /proc there.
        probe(|| {
            scratch_tmp()?;
            fs::create_dir("/tmp/proc")?;
            mount(
                Some("proc"),
                "/tmp/proc",
                Some("proc"),
                MsFlags::empty(),
                None::<&str>,
            )?;
            if fs::read_link("/tmp/proc/self")?.as_os_str() != "1" {
                bail!("the new /proc does not show the new PID namespace");
            }
            Ok(())
        })
        .map_err(anyhow::Error::msg)
    });
    match outcome {
        Ok(()) => Ok("mounted in a new PID namespace".into()),
        Err(e) => fail(
            e,
            "a fully visible /proc must exist on the host (container runtimes that mask \
             /proc prevent this: run with an unmasked /proc)",
        ),
    }
}

fn check_dev_fuse() -> Result<String, Failure> {
    let path = dev_fuse_path();
    match open_dev_fuse() {
        Ok(_) => Ok(format!("{} is usable", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => fail(
            format!("{} does not exist", path.display()),
            "sudo modprobe fuse (and install fuse3)",
        ),
        Err(e) => fail(
            format!("{}: {e}", path.display()),
            format!(
                "sudo chmod 0666 {} (desktop distros do this with udev), or rely on fusermount3",
                path.display()
            ),
        ),
    }
}

fn check_direct_mount() -> Result<String, Failure> {
    let outcome = probe(|| {
        let me = unshare_as_self(CloneFlags::empty())?;
        scratch_tmp()?;
        let fuse =
            open_dev_fuse().with_context(|| format!("open {}", dev_fuse_path().display()))?;
        mount_fuse_fd(&fuse, Path::new("/tmp"), me).context("mount(fuse) in a user namespace")?;
        Ok(())
    });
    match outcome {
        Ok(()) => Ok("FUSE mounts inside a user namespace".into()),
        Err(e) => fail(
            e,
            "use --mount-helper fusermount3, or make /dev/fuse usable (above)",
        ),
    }
}

fn check_fusermount3() -> Result<String, Failure> {
    let Some(path) = find_fusermount3() else {
        return fail(
            "not found",
            "install fuse3 (apt install fuse3 / dnf install fuse3)",
        );
    };
    let meta = fs::metadata(&path).map_err(|e| Failure {
        what: format!("{}: {e}", path.display()),
        fix: "reinstall fuse3".into(),
    })?;
    if meta.uid() != 0 || meta.permissions().mode() & 0o4000 == 0 {
        return fail(
            format!("{} is not setuid root", path.display()),
            format!("sudo chmod u+s {} (or reinstall fuse3)", path.display()),
        );
    }
    Ok(format!("{} (setuid root)", path.display()))
}

/// Enters a new user + mount namespace (plus `extra`) where we keep our own ids.
fn unshare_as_self(extra: CloneFlags) -> Result<Ids> {
    let me = Ids::current();
    unshare(CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNS | extra)?;
    write_maps(me, me)?;
    Ok(me)
}

/// A private mount namespace's own tmpfs on /tmp, to mount things on.
fn scratch_tmp() -> Result<()> {
    make_private_recursive(Path::new("/"))?;
    mount(
        Some("tmpfs"),
        "/tmp",
        Some("tmpfs"),
        MsFlags::empty(),
        None::<&str>,
    )?;
    Ok(())
}

/// Runs `f` in a forked child and returns its error message, if any.
fn probe(f: impl FnOnce() -> Result<()>) -> Result<(), String> {
    let (read_end, write_end) = pipe().map_err(|e| format!("pipe: {e}"))?;
    match sys::fork().map_err(|e| format!("fork: {e}"))? {
        Forked::Child => {
            drop(read_end);
            let code = match f() {
                Ok(()) => 0,
                Err(e) => {
                    let _ = fs::File::from(write_end).write_all(format!("{e:#}").as_bytes());
                    1
                }
            };
            sys::exit_now(code)
        }
        Forked::Parent(pid) => {
            drop(write_end);
            let mut message = String::new();
            let _ = fs::File::from(read_end).read_to_string(&mut message);
            match waitpid(pid, None) {
                Ok(WaitStatus::Exited(_, 0)) => Ok(()),
                Ok(_) if !message.is_empty() => Err(message),
                Ok(status) => Err(format!("probe ended with {status:?}")),
                Err(e) => Err(format!("waitpid: {e}")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_versions_parse() {
        assert_eq!(parse_kernel_version("6.18.44-fc-v782"), Some((6, 18)));
        assert_eq!(parse_kernel_version("5.4.0-150-generic"), Some((5, 4)));
        assert_eq!(parse_kernel_version("garbage"), None);
        assert!(parse_kernel_version("5.4.0").unwrap() < MIN_KERNEL);
    }

    #[test]
    fn lines_name_the_fix() {
        let item = Item {
            name: "/dev/fuse",
            outcome: fail("permission denied", "sudo chmod 0666 /dev/fuse"),
        };
        assert_eq!(
            render(&item),
            "FAIL  /dev/fuse: permission denied — fix: sudo chmod 0666 /dev/fuse"
        );
        let ok = Item {
            name: "kernel",
            outcome: Ok("Linux 6.1".into()),
        };
        assert_eq!(render(&ok), "ok    kernel: Linux 6.1");
    }
}
