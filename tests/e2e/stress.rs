//! Stress tests of the mirror: the stress program (examples/stress) run inside the sandbox,
//! with its results checked against the host.
//!
//! - `fsx`: random data operations on one file against a model; the same seed natively must
//!   end in the same file, and the file made inside must read the same natively.
//! - `names`: processes changing one tree at once; the tree checked inside, then walked
//!   natively (same digest), then removed with `rm -rf` inside.
//! - `race`: names replaced while others look them up; the daemon's memory and fds, read
//!   from the host after a warm-up and at the end, must stay bounded.
//!
//! `E2E_ARGS=stress` runs just these. The lengths are short for CI; scripts/stress.sh runs
//! them long through these variables (each seed is printed either way):
//!
//! | variable | meaning | CI default |
//! |---|---|---|
//! | `FUSEBOX_STRESS_SEED` | the seed of all three | random |
//! | `FUSEBOX_STRESS_FSX_OPS` | fsx operations | 3000 |
//! | `FUSEBOX_STRESS_NAMES_PROCS` | names processes | 4 |
//! | `FUSEBOX_STRESS_NAMES_SECS` | names duration | 3 |
//! | `FUSEBOX_STRESS_RACE_SECS` | race duration | 4 |

use std::path::Path;
use std::time::Duration;

use crate::common::*;

// =============================================================================================
// Parameters and helpers

/// How hard to push: the CI defaults, or what scripts/stress.sh asks for.
struct Lengths {
    seed: Option<u64>,
    fsx_ops: u64,
    names_procs: u32,
    names_secs: f64,
    race_secs: f64,
}

impl Lengths {
    fn from_env() -> Lengths {
        Lengths {
            seed: env_number("FUSEBOX_STRESS_SEED"),
            fsx_ops: env_number("FUSEBOX_STRESS_FSX_OPS").unwrap_or(3000),
            names_procs: env_number("FUSEBOX_STRESS_NAMES_PROCS").unwrap_or(4),
            names_secs: env_number("FUSEBOX_STRESS_NAMES_SECS").unwrap_or(3.0),
            race_secs: env_number("FUSEBOX_STRESS_RACE_SECS").unwrap_or(4.0),
        }
    }

    /// `--seed N` when a seed was asked for (else the program draws one and prints it).
    fn seed_args(&self) -> Vec<String> {
        self.seed
            .map(|s| vec!["--seed".to_string(), s.to_string()])
            .unwrap_or_default()
    }
}

#[track_caller]
fn env_number<T: std::str::FromStr>(name: &str) -> Option<T> {
    let v = std::env::var(name).ok().filter(|v| !v.is_empty())?;
    Some(
        v.parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a number")),
    )
}

/// The stress program, which must exist.
#[track_caller]
fn stress() -> String {
    let bin = stress_bin();
    assert!(
        bin.is_file(),
        "no stress program at {}: build it (`cargo build --release --examples`; \
         `cargo test` does) or set FUSEBOX_STRESS",
        bin.display()
    );
    bin.to_string_lossy().into_owned()
}

/// `stress ARGS...` inside the sandbox.
fn stress_inside(sb: &Sandbox, args: &[String]) -> Out {
    let mut cmd = vec![stress()];
    cmd.extend_from_slice(args);
    sb.run(&cmd)
}

/// `stress ARGS...` natively.
fn stress_native(args: &[String], cwd: &Path) -> Out {
    let mut cmd = vec![stress()];
    cmd.extend_from_slice(args);
    native(&cmd, cwd)
}

/// The value after `key=` in the first line that has one.
fn value<'a>(out: &'a Out, key: &str) -> Option<&'a str> {
    let key = format!("{key}=");
    out.stdout.lines().find_map(|l| {
        let at = l.find(&key)?;
        l[at + key.len()..].split_whitespace().next()
    })
}

/// The first line starting with `prefix`.
fn line<'a>(out: &'a Out, prefix: &str) -> Option<&'a str> {
    out.stdout.lines().find(|l| l.starts_with(prefix))
}

/// Says what ran (seen with --nocapture, which scripts/stress.sh uses; on a failure the
/// output shown includes the seed anyway).
fn report(h: Helper, what: &str, out: &Out) {
    eprintln!(
        "stress {what} (--mount-helper {}): seed={} in {:.1} s",
        h.name(),
        value(out, "seed").unwrap_or("?"),
        out.elapsed.as_secs_f64()
    );
    // What was done: fsx's op count, the size of the names tree, the race's generations.
    let done = [": ok:", ": tree:", ": writer:"];
    for l in out
        .stdout
        .lines()
        .filter(|l| done.iter().any(|d| l.contains(d)))
    {
        eprintln!("  {l}");
    }
}

/// FNV-1a 64, as the stress program computes it.
fn fnv64(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

// =============================================================================================
// fsx

e2e!(shared, stress_fsx_matches_its_model_and_the_host);
fn stress_fsx_matches_its_model_and_the_host(h: Helper) {
    let lengths = Lengths::from_env();
    let timeout = Duration::from_secs(60) + Duration::from_millis(3 * lengths.fsx_ops);
    let sb = Sandbox::full_mirror(h).timeout(timeout);
    let dir = sb.dir().to_path_buf();
    let mut args = vec![
        "fsx".to_string(),
        "--ops".into(),
        lengths.fsx_ops.to_string(),
    ];
    args.extend(lengths.seed_args());
    args.push(path_arg(&dir));
    let inside = stress_inside(&sb, &args);
    report(h, "fsx", &inside);
    inside.ok();

    // The same seed natively: the same ops, so the same file and the same skipped modes.
    let seed = value(&inside, "seed").expect("the seed line").to_string();
    let host_dir = tmpdir();
    let mut native_args = vec!["fsx".to_string(), "--seed".into(), seed];
    native_args.extend(["--ops".to_string(), lengths.fsx_ops.to_string()]);
    native_args.push(path_arg(host_dir.path()));
    let host = stress_native(&native_args, host_dir.path());
    host.ok();
    for prefix in ["stress fsx: fallocate modes skipped", "stress fsx: ok:"] {
        assert_eq!(
            line(&inside, prefix),
            line(&host, prefix),
            "inside the sandbox and natively, the same seed must end alike\n=== inside ===\n\
             {inside}\n=== native ===\n{host}"
        );
    }

    // And natively, the file made inside is what the model says.
    let data = std::fs::read(dir.join("fsx.dat")).expect("read the file fsx made");
    assert_eq!(
        (
            value(&inside, "size").map(str::to_string),
            value(&inside, "fnv64").map(str::to_string)
        ),
        (
            Some(data.len().to_string()),
            Some(format!("{:016x}", fnv64(&data)))
        ),
        "the file made inside, read natively\n{inside}"
    );
}

// =============================================================================================
// names

e2e!(shared, stress_names_tree_stays_consistent);
fn stress_names_tree_stays_consistent(h: Helper) {
    let lengths = Lengths::from_env();
    let timeout = Duration::from_secs_f64(lengths.names_secs * 2.0) + Duration::from_secs(120);
    let sb = Sandbox::full_mirror(h).timeout(timeout);
    let dir = sb.dir().to_path_buf();
    let mut args = vec![
        "names".to_string(),
        "--procs".into(),
        lengths.names_procs.to_string(),
        "--secs".into(),
        lengths.names_secs.to_string(),
    ];
    args.extend(lengths.seed_args());
    args.push(path_arg(&dir));
    let inside = stress_inside(&sb, &args);
    report(h, "names", &inside);
    inside.ok();

    // The host sees the same tree.
    let verify = ["names", "--verify-only", &path_arg(&dir)].map(String::from);
    let host = stress_native(&verify, &dir);
    host.ok();
    assert_eq!(
        value(&inside, "digest"),
        value(&host, "digest"),
        "the tree walked natively differs from the walk inside\n=== inside ===\n{inside}\n\
         === native ===\n{host}"
    );

    // And it can be removed whole from inside.
    let tree = dir.join("tree");
    sb.run(&["rm", "-rf", &path_arg(&tree)]).ok();
    assert!(!tree.exists(), "rm -rf inside left {}", tree.display());
}

fn path_arg(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

// =============================================================================================
// race

/// The most the daemon's resident memory may grow from the warm-up to the end of the race.
const MAX_RSS_GROWTH_KIB: u64 = 64 * 1024;
/// The most fds the daemon may hold (its directory cache alone keeps up to 1,024).
const MAX_DAEMON_FDS: usize = 2000;

/// The daemon's resident memory (KiB) and open fds, read from the host.
fn daemon_usage(pid: i32) -> (u64, usize) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("read /proc/{pid}/status: {e}"));
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no VmRSS in /proc/{pid}/status:\n{status}"));
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap_or_else(|e| panic!("list /proc/{pid}/fd: {e}"))
        .count();
    (rss, fds)
}

e2e!(
    shared,
    stress_race_lookups_stay_consistent_and_memory_bounded
);
fn stress_race_lookups_stay_consistent_and_memory_bounded(h: Helper) {
    let lengths = Lengths::from_env();
    let timeout = Duration::from_secs_f64(lengths.race_secs * 2.0) + Duration::from_secs(120);
    let sb = Sandbox::full_mirror(h).timeout(timeout);
    let mut cmd = vec![
        stress(),
        "race".into(),
        "--handshake".into(),
        "--secs".into(),
        lengths.race_secs.to_string(),
    ];
    cmd.extend(lengths.seed_args());
    cmd.push(path_arg(sb.dir()));
    let mut run = sb.spawn_piped(&cmd);
    // The daemon is fusebox-run itself: its threads serve the mirror.
    let daemon = run.pid();
    assert!(
        fusebox_procs().iter().any(|(p, _)| *p == daemon),
        "sanity: fusebox-run (pid {daemon}) should be among the fusebox processes"
    );

    let Some(warm) = measure_at(&mut run, "race: warm", timeout) else {
        never_reached(run, "race: warm")
    };
    let Some(done) = measure_at(&mut run, "race: done", timeout) else {
        never_reached(run, "race: done")
    };
    let out = run.wait();
    report(h, "race", &out);
    eprintln!(
        "stress race (--mount-helper {}): daemon after warm-up {} KiB, {} fds; at the end \
         {} KiB, {} fds",
        h.name(),
        warm.0,
        warm.1,
        done.0,
        done.1
    );
    out.ok();
    assert!(
        done.0.saturating_sub(warm.0) < MAX_RSS_GROWTH_KIB,
        "the daemon's memory grew from {} KiB to {} KiB\n{out}",
        warm.0,
        done.0
    );
    assert!(
        warm.1.max(done.1) < MAX_DAEMON_FDS,
        "the daemon held {} then {} fds\n{out}",
        warm.1,
        done.1
    );
}

/// Waits for the race to print `phase`, measures the daemon, and lets the race go on.
/// None when the race ended (or hung) before.
fn measure_at(run: &mut Running, phase: &str, timeout: Duration) -> Option<(u64, usize)> {
    if !run.wait_for(phase, timeout, |r| r.stdout_so_far().contains(phase)) {
        return None;
    }
    let usage = daemon_usage(run.pid());
    run.write_stdin(b"\n");
    Some(usage)
}

fn never_reached(run: Running, phase: &str) -> ! {
    let out = run.wait();
    panic!("the race never printed `{phase}`\n{out}");
}
