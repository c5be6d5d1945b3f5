//! Declaring an e2e test: the mount helpers it runs under, the [`e2e!`] macro that turns a
//! `fn name(h: Helper)` into one `#[test]` per helper, and the guards that serialise the suite.

use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use super::Sandbox;

/// How the FUSE file system gets mounted (`--mount-helper`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Helper {
    Direct,
    Fusermount3,
}

impl Helper {
    pub fn name(self) -> &'static str {
        match self {
            Helper::Direct => "direct",
            Helper::Fusermount3 => "fusermount3",
        }
    }
}

/// Declares the e2e test `name`, a `fn name(h: Helper)` written just below it: two `#[test]`s,
/// `name::direct` and `name::fusermount3`, one per `--mount-helper`. The kind says how the test
/// shares the machine with the others:
///
/// - `plain`: needs no working sandbox (usage errors, `--check`); runs alongside the others.
/// - `shared`: runs alongside the others, once its helper is known to start a sandbox
///   ([`require_working`]).
/// - `exclusive`: counts host-wide things (FUSE mounts, fusebox processes), so runs alone, once
///   its helper is known to start a sandbox.
///
/// ```ignore
/// e2e!(shared, exit_code_is_the_commands);
/// fn exit_code_is_the_commands(h: Helper) { … }
/// ```
macro_rules! e2e {
    ($kind:ident, $name:ident) => {
        mod $name {
            #[test]
            fn direct() {
                $crate::common::e2e!(@run $kind, super::$name, $crate::common::Helper::Direct);
            }

            #[test]
            fn fusermount3() {
                $crate::common::e2e!(@run $kind, super::$name, $crate::common::Helper::Fusermount3);
            }
        }
    };
    (@run plain, $test:path, $h:expr) => {{
        let _g = $crate::common::shared();
        $test($h)
    }};
    (@run shared, $test:path, $h:expr) => {{
        let _g = $crate::common::shared();
        $crate::common::require_working($h);
        $test($h)
    }};
    (@run exclusive, $test:path, $h:expr) => {{
        let _g = $crate::common::exclusive();
        $crate::common::require_working($h);
        $test($h)
    }};
}
pub(crate) use e2e;

// ---------------------------------------------------------------------------------------------
// Test serialisation: most tests share; the ones that count host-wide things (FUSE mounts,
// fusebox processes) run alone.

static SUITE_LOCK: RwLock<()> = RwLock::new(());

pub fn shared() -> RwLockReadGuard<'static, ()> {
    SUITE_LOCK.read().unwrap_or_else(|e| e.into_inner())
}

pub fn exclusive() -> RwLockWriteGuard<'static, ()> {
    SUITE_LOCK.write().unwrap_or_else(|e| e.into_inner())
}

/// Fails the calling test at once unless `fusebox-run --mount-helper H -- true` works (checked
/// once per helper, with a 30 s hang guard): a helper that cannot start a sandbox at all would
/// otherwise make every test of it wait for its own hang guard.
#[track_caller]
pub fn require_working(h: Helper) {
    use std::sync::OnceLock;
    static DIRECT: OnceLock<Result<(), String>> = OnceLock::new();
    static FUSERMOUNT3: OnceLock<Result<(), String>> = OnceLock::new();
    let cell = match h {
        Helper::Direct => &DIRECT,
        Helper::Fusermount3 => &FUSERMOUNT3,
    };
    let smoke = cell.get_or_init(|| {
        let r = std::panic::catch_unwind(|| {
            Sandbox::new(h)
                .timeout(Duration::from_secs(30))
                .run(&["true"])
        });
        match r {
            Ok(out) if out.code() == Some(0) => Ok(()),
            Ok(out) => Err(format!("{out}")),
            Err(e) => Err(e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default()),
        }
    });
    if let Err(e) = smoke {
        panic!(
            "--mount-helper {} cannot run `true` in a sandbox, so this test cannot run:\n{e}",
            h.name()
        );
    }
}
