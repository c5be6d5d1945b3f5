//! The processes of a run: this program started again as a worker or reader, and waited
//! for under a hang guard.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

/// Starts this program again with `args` (stdin from /dev/null: a `--handshake` reads the
/// parent's).
pub fn spawn_self(args: &[String], dir: &Path) -> Result<Child> {
    let exe = std::env::current_exe().context("cannot find this program to start it again")?;
    Command::new(exe)
        .args(args)
        .arg(dir)
        .stdin(Stdio::null())
        .spawn()
        .context("cannot start this program again")
}

/// Waits for every child until `deadline`, then kills the ones still running (by pid:
/// they are ours). Returns the numbers of those that failed or hung; `who` names them in
/// messages (`stress names: worker`).
pub fn wait_all(who: &str, mut children: Vec<(u32, Child)>, deadline: Instant) -> Result<Vec<u32>> {
    let mut failed = Vec::new();
    while !children.is_empty() {
        let mut running = Vec::new();
        for (n, mut child) in children {
            match child.try_wait()? {
                Some(status) if status.success() => {}
                Some(status) => {
                    println!("{who} {n}: FAIL: ended with {status}");
                    failed.push(n);
                }
                None => running.push((n, child)),
            }
        }
        children = running;
        if !children.is_empty() && Instant::now() > deadline {
            for (n, child) in &mut children {
                println!("{who} {n}: FAIL: hang guard: still running at the deadline; killed");
                let _ = child.kill();
                let _ = child.wait();
                failed.push(*n);
            }
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(failed)
}
