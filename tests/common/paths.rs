//! Paths and names: the binary, fixtures and scripts under test, temp dirs, unique markers, the
//! test user's ids and home.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use tempfile::TempDir;

/// The `fusebox-run` binary under test.
pub fn bin() -> PathBuf {
    match std::env::var_os("FUSEBOX_BIN") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(env!("CARGO_BIN_EXE_fusebox-run")),
    }
}

/// The stress program (examples/stress): `$FUSEBOX_STRESS`, else `examples/stress` of the
/// target directory this test executable was built in (it is `target/PROFILE/deps/e2e-HASH`;
/// `cargo test` builds the examples next to it).
pub fn stress_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("FUSEBOX_STRESS").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("the path of this test executable");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test executable lives in target/PROFILE/deps");
    profile_dir.join("examples").join("stress")
}

/// The fixtures directory.
pub fn fixtures() -> PathBuf {
    match std::env::var_os("FUSEBOX_FIXTURES") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures")),
    }
}

/// The project's docs directory (the report's JSON schema).
pub fn docs() -> PathBuf {
    match std::env::var_os("FUSEBOX_DOCS") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/docs")),
    }
}

/// The project's scripts directory.
pub fn scripts() -> PathBuf {
    match std::env::var_os("FUSEBOX_SCRIPTS") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts")),
    }
}

/// A fresh directory under /tmp (part of the default write set), removed on drop.
pub fn tmpdir() -> TempDir {
    tempfile::Builder::new()
        .prefix("fusebox-e2e.")
        .tempdir_in("/tmp")
        .expect("create a temp dir under /tmp")
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A string unique to this test process and call.
pub fn unique(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    format!("{prefix}{}x{n}", std::process::id())
}

/// A `sleep` argument that is a valid duration of about `secs` seconds and unique, so that the
/// process can be found by its command line: e.g. `100.0004242000017`.
pub fn sleep_marker(secs: u32) -> String {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    format!("{secs}.000{:07}{:05}", std::process::id(), n)
}

pub fn my_uid() -> u32 {
    // SAFETY: getuid has no preconditions.
    unsafe { libc::getuid() }
}

pub fn my_gid() -> u32 {
    // SAFETY: getgid has no preconditions.
    unsafe { libc::getgid() }
}

/// `$HOME` of the test user; must not be inside the default write set.
pub fn home() -> PathBuf {
    let h = std::env::var_os("HOME").expect("HOME must be set for the e2e tests");
    let h = PathBuf::from(h);
    assert!(
        h.is_absolute() && h.is_dir(),
        "HOME={} is not an existing directory",
        h.display()
    );
    assert!(
        !h.starts_with("/tmp") && h != Path::new("/"),
        "HOME={} is inside the sandbox's default write set; run the tests with a normal home",
        h.display()
    );
    h
}

/// A directory in $HOME with a file and a subdir, made on the host; removed on drop.
pub fn home_fixture() -> tempfile::TempDir {
    let hd = tempfile::Builder::new()
        .prefix(".fusebox-e2e.")
        .tempdir_in(home())
        .unwrap();
    std::fs::write(hd.path().join("file"), "original\n").unwrap();
    std::fs::create_dir(hd.path().join("sub")).unwrap();
    hd
}
