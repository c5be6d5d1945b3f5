#!/usr/bin/env bash
# The whole test suite: prerequisites, build once, unit tests, the architecture checks,
# the generated docs, then the end-to-end tests of the real fusebox-run binary against
# the real kernel.
#
# Prerequisites first, before anything is built: as root (Debian/Ubuntu) they are
# installed (scripts/prereqs.sh, which says what it does); otherwise they are checked, and
# when one is missing the script stops at once with one line per item and the command that
# fixes it. After the build, `fusebox-run --check` (as the user the e2e tests run as) must
# pass too, or the script stops with its lines rather than with a wall of failed tests.
#
# As root, the e2e tests run as the unprivileged user $FUSEBOX_TEST_USER (default
# fusebox-test, created if missing), from a staging directory that user can reach
# (scripts/lib/staging.sh), because root's capabilities hide rootless bugs. As a normal
# user they run directly.
#
# Environment: E2E_ARGS (extra arguments for the e2e test executable, e.g. a name filter),
# E2E_THREADS (default 2), FUSEBOX_TEST_USER, FUSEBOX_STRESS_* (the lengths of the e2e
# stress tests, passed through; scripts/stress.sh sets them), FUSEBOX_PORTAGE_SDIST
# (Portage's sdist for the Portage tests, staged for the test user; without it they
# download it themselves).
set -uo pipefail

cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
# shellcheck source=scripts/lib/build.sh
. scripts/lib/build.sh
TEST_USER=${FUSEBOX_TEST_USER:-fusebox-test}
THREADS=${E2E_THREADS:-2}
read -r -a EXTRA <<< "${E2E_ARGS:-}"

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'test.sh: %s\n' "$*" >&2; exit 1; }

failed=()

# --- prerequisites ----------------------------------------------------------------------------
if [ "$(id -u)" = 0 ]; then
    say "prerequisites: bash scripts/prereqs.sh (installs what is missing)"
    bash scripts/prereqs.sh || die "installing the prerequisites failed (above)"
    command -v cargo >/dev/null \
        || die "no cargo on PATH: install a Rust toolchain (rustup), or add ~/.cargo/bin to PATH"
elif ! report=$(bash scripts/prereqs.sh --check); then
    printf '%s\n' "$report" | grep -v '^ok ' >&2
    die "prerequisites missing (above): nothing was built or run"
fi

# --- build once -----------------------------------------------------------------------------
say "cargo build --release"
cargo build --release || die "cargo build --release failed"
say "cargo test --release --no-run"
json=$(cargo test --release --no-run --message-format=json) || die "building the tests failed"
artifact() { # artifact NAME KIND: the executable cargo built for target NAME of KIND
    printf '%s\n' "$json" \
        | grep '"reason":"compiler-artifact"' \
        | grep "\"name\":\"$1\"" \
        | grep "\"kind\":\\[\"$2\"\\]" \
        | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -n 1
}
E2E_EXE=$(artifact e2e test)
[ -x "$E2E_EXE" ] || die "cannot find the e2e test executable in cargo's output"
# The stress program the e2e stress tests run (cargo test builds the examples too).
STRESS_EXE=$(artifact stress example)
[ -x "$STRESS_EXE" ] || die "cannot find the stress example in cargo's output"
BIN=$(release_bin "$ROOT")
[ -x "$BIN" ] || die "no $BIN"

# --- unit tests -----------------------------------------------------------------------------
say "unit tests: cargo test --release --lib"
cargo test --release --lib || failed+=("unit tests")

# --- the codebase's shape: file lengths, the mirror apart from the front ends, no cycles ----
say "architecture: cargo test --release --test architecture"
cargo test --release --test architecture || failed+=("architecture")

# --- the generated man page and completions: current, and each loads ------------------------
say "generated docs: scripts/gen-docs.sh --check"
bash scripts/gen-docs.sh --check "$BIN" || failed+=("generated docs")

# --- the shell hook Gentoo mode serves to every bash of the build (include_str!'d) ----------
say "shellcheck src/gentoo/processes/fusebox-bashrc.bash"
shellcheck -s bash src/gentoo/processes/fusebox-bashrc.bash || failed+=("shellcheck of the bash hook")

# --- e2e ------------------------------------------------------------------------------------
# Sourced here, not at the top: the README's test command is also run from a copy of
# test.sh and prereqs.sh alone (tests/e2e/packaging.rs), which stops at the prerequisites.
# shellcheck source=scripts/lib/staging.sh
. scripts/lib/staging.sh

new_fuse_mounts() { # new_fuse_mounts UID BEFORE: UID's FUSE mounts that are not in BEFORE
    comm -13 <(printf '%s\n' "$2" | sort) <(fuse_mounts_of "$1" | sort) | sed '/^$/d'
}

# As root: what the test user runs, where it can reach it (the clone may not be).
stage_for_test_user() {
    staging_dir_make fusebox-ci
    STAGE=$STAGING_DIR
    cp "$BIN" "$STAGE/fusebox-run"
    cp "$E2E_EXE" "$STAGE/e2e"
    cp "$STRESS_EXE" "$STAGE/stress"
    cp -R tests/fixtures "$STAGE/fixtures"
    mkdir "$STAGE/docs"
    cp docs/report.schema.json "$STAGE/docs/"
    mkdir "$STAGE/scripts"
    cp scripts/portage-prefix.sh scripts/test.sh scripts/prereqs.sh "$STAGE/scripts/"
    cp -R scripts/lib "$STAGE/scripts/lib"
    SDIST=
    if [ -n "${FUSEBOX_PORTAGE_SDIST:-}" ]; then
        [ -f "$FUSEBOX_PORTAGE_SDIST" ] || die "FUSEBOX_PORTAGE_SDIST=$FUSEBOX_PORTAGE_SDIST: no such file"
        SDIST=$STAGE/$(basename "$FUSEBOX_PORTAGE_SDIST")
        cp "$FUSEBOX_PORTAGE_SDIST" "$SDIST"
    fi
    # For the ebuild test: the release tarballs, the overlay, and the Rust toolchain (root's
    # home is private).
    bash scripts/release-tarballs.sh "$STAGE/dist" >/dev/null || die "making the release tarballs failed"
    cp -R packaging "$STAGE/packaging"
    staging_copy_toolchain "$STAGE/rust-toolchain"
    staging_dir_open
    mount_other_fs "$STAGE/otherfs"
}

# A second host file system for the inode test, at $1 (unmounted at exit, with the stage):
# a tmpfs whose inode numbers (1, 2, 3…) clash with those of / (the root dir of ext4 is
# inode 2). OTHER_FS is empty when it cannot be mounted.
mount_other_fs() {
    OTHER_FS=$1
    mkdir "$OTHER_FS"
    if mount -t tmpfs -o size=4m,mode=0755 fusebox-e2e-otherfs "$OTHER_FS"; then
        for i in $(seq 1 60); do echo "$i" > "$OTHER_FS/f$i"; done
        mkdir "$OTHER_FS/dir" && echo x > "$OTHER_FS/dir/x"
        chmod -R a+rX "$OTHER_FS"
    else
        say "warning: cannot mount a tmpfs for the inode test"
        OTHER_FS=
    fi
}

# As root: the e2e tests as the test user, from the stage; then what they left behind.
e2e_as_test_user() {
    staging_user_ensure "$TEST_USER"
    stage_for_test_user

    say "fusebox-run --check as $TEST_USER"
    if ! report=$(cd "$STAGE" && as_user "$STAGE/fusebox-run" --check 2>&1); then
        printf '%s\n' "$report" >&2
        die "a sandbox cannot start here as $TEST_USER (above); fix that first (bash scripts/prereqs.sh as root fixes /dev/fuse and the user namespace sysctls)"
    fi

    local mounts_before v
    mounts_before=$(fuse_mounts_of "$STAGING_UID")
    say "e2e tests as $TEST_USER (uid $STAGING_UID): $STAGE/e2e --test-threads=$THREADS ${EXTRA[*]:-}"
    STAGING_ENV+=(FUSEBOX_BIN="$STAGE/fusebox-run" FUSEBOX_FIXTURES="$STAGE/fixtures"
        FUSEBOX_DOCS="$STAGE/docs" FUSEBOX_STRESS="$STAGE/stress" FUSEBOX_SCRIPTS="$STAGE/scripts" RUST_BACKTRACE=1
        FUSEBOX_DIST="$STAGE/dist" FUSEBOX_PACKAGING="$STAGE/packaging"
        FUSEBOX_RUST_TOOLCHAIN="$STAGE/rust-toolchain")
    if [ -n "$SDIST" ]; then STAGING_ENV+=(FUSEBOX_PORTAGE_SDIST="$SDIST"); fi
    if [ -n "$OTHER_FS" ]; then STAGING_ENV+=(FUSEBOX_OTHER_FS="$OTHER_FS"); fi
    for v in $(compgen -v FUSEBOX_STRESS_); do STAGING_ENV+=("$v=${!v}"); done
    staging_env_pass CI LANG
    # From the staging dir: the test user's cwd must be reachable; stdin from /dev/null.
    (cd "$STAGE" && as_user "$STAGE/e2e" --test-threads="$THREADS" "${EXTRA[@]}" </dev/null)
    e2e_status=$?

    reap_test_user_leftovers "$mounts_before"
}

# After the e2e tests as root: the test user's FUSE mounts (those not in $1), its temp
# files, then its processes (by pid). Mounts and processes left are failures.
reap_test_user_leftovers() {
    local leftovers procs p
    leftovers=$(new_fuse_mounts "$STAGING_UID" "$1")
    if [ -n "$leftovers" ]; then
        printf 'test.sh: FUSE mounts of %s left after the e2e tests:\n%s\n' "$TEST_USER" "$leftovers" >&2
        printf '%s\n' "$leftovers" | unmount_each umount -l
        failed+=("leftover FUSE mounts")
    fi
    remove_test_user_temp_files
    # Processes still running as the test user (a zombie is already gone: it waits
    # only for the host's init to reap it, which the direct mount's holder, ending
    # just after fusebox-run, may not yet have had). A moment for the last to exit.
    for _ in $(seq 50); do
        procs=$(live_procs_of "$STAGING_UID")
        [ -z "$procs" ] && break
        sleep 0.1
    done
    if [ -n "$procs" ]; then
        printf 'test.sh: processes of %s left after the e2e tests:\n' "$TEST_USER" >&2
        for p in $procs; do ps -o pid=,args= -p "$p" >&2 || true; done
        for p in $procs; do kill -KILL "$p" 2>/dev/null || true; done
        failed+=("leftover processes")
    fi
}

remove_test_user_temp_files() {
    local uid=$STAGING_UID
    # fusermount3's empty staging dirs (may remain after a SIGKILL, as documented) and the
    # temp dirs of tests that were killed; never across a mount.
    find /tmp -mindepth 2 -maxdepth 2 -path '/tmp/fusebox-*/root' -user "$uid" -type d -empty -delete 2>/dev/null || true
    find "/tmp/fusebox-$uid" -mindepth 2 -maxdepth 2 -path "/tmp/fusebox-$uid/fusebox-*/root" -user "$uid" -type d -empty -delete 2>/dev/null || true
    find "/tmp/fusebox-$uid" -mindepth 1 -maxdepth 1 -name 'fusebox-*' -user "$uid" -type d -empty -delete 2>/dev/null || true
    find /tmp -mindepth 1 -maxdepth 1 -name 'fusebox-*' -user "$uid" -type d -empty -delete 2>/dev/null || true
    find /tmp -mindepth 1 -maxdepth 1 -name 'fusebox-e2e.*' -user "$uid" -type d \
        -exec rm -rf --one-file-system {} + 2>/dev/null || true
    # The Portage tests' installs under the test user's home (removed by the test process
    # as it exits, unless it was killed).
    find "$STAGING_HOME" -mindepth 1 -maxdepth 1 -name 'fusebox-e2e-portage.*' -user "$uid" \
        -type d -exec rm -rf --one-file-system {} + 2>/dev/null || true
    # The old default log names the tests plant (/tmp/fusebox-UID-PID.log; removed by
    # the test unless it failed first).
    find /tmp -mindepth 1 -maxdepth 1 -name 'fusebox-*.log' -user "$uid" -type f -delete 2>/dev/null || true
    # Default violation logs (/tmp/fusebox-UID-XXXXXX/violations.log without TMPDIR) of
    # the tests whose builds were refused something: a run with violations keeps its log.
    find /tmp -mindepth 1 -maxdepth 1 -name "fusebox-$uid-??????" -user "$uid" -type d \
        -exec rm -rf --one-file-system {} + 2>/dev/null || true
}

# As a normal user: the e2e tests directly, from the clone.
e2e_directly() {
    local my_uid mounts_before leftovers
    my_uid=$(id -u)
    say "fusebox-run --check"
    if ! report=$("$BIN" --check 2>&1); then
        printf '%s\n' "$report" >&2
        die "a sandbox cannot start here (above); fix that first, e.g. as root: sudo bash scripts/prereqs.sh"
    fi
    mounts_before=$(fuse_mounts_of "$my_uid")
    say "e2e tests: $E2E_EXE --test-threads=$THREADS ${EXTRA[*]:-}"
    bash scripts/release-tarballs.sh "$ROOT/target/dist" >/dev/null || die "making the release tarballs failed"
    (cd "$ROOT" && FUSEBOX_BIN="$BIN" FUSEBOX_FIXTURES="$ROOT/tests/fixtures" \
        FUSEBOX_STRESS="$STRESS_EXE" RUST_BACKTRACE=1 \
        FUSEBOX_DIST="$ROOT/target/dist" FUSEBOX_PACKAGING="$ROOT/packaging" \
        FUSEBOX_RUST_TOOLCHAIN="$(readlink -f "$(rustc --print sysroot)")" \
        "$E2E_EXE" --test-threads="$THREADS" "${EXTRA[@]}" </dev/null)
    e2e_status=$?
    leftovers=$(new_fuse_mounts "$my_uid" "$mounts_before")
    if [ -n "$leftovers" ]; then
        printf 'test.sh: FUSE mounts left after the e2e tests:\n%s\n' "$leftovers" >&2
        printf '%s\n' "$leftovers" | unmount_each fusermount3 -u -z
        failed+=("leftover FUSE mounts")
    fi
}

if [ "$(id -u)" = 0 ]; then e2e_as_test_user; else e2e_directly; fi
[ "$e2e_status" = 0 ] || failed+=("e2e tests (exit $e2e_status)")

if [ ${#failed[@]} -ne 0 ]; then
    printf 'test.sh: FAILED: %s\n' "$(IFS=,; echo "${failed[*]}")" >&2
    exit 1
fi
exit 0
