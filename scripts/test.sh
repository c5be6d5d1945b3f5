#!/usr/bin/env bash
# The whole test suite: prerequisites, build once, unit tests, the generated docs, then
# the end-to-end tests of the real fusebox-run binary against the real kernel.
#
# Prerequisites first, before anything is built: as root (Debian/Ubuntu) they are
# installed (scripts/prereqs.sh, which says what it does); otherwise they are checked, and
# when one is missing the script stops at once with one line per item and the command that
# fixes it. After the build, `fusebox-run --check` (as the user the e2e tests run as) must
# pass too, or the script stops with its lines rather than with a wall of failed tests.
#
# As root, the e2e tests run as the unprivileged user $FUSEBOX_TEST_USER (default
# fusebox-test, created if missing), from a staging directory that user can reach, because
# root's capabilities hide rootless bugs. As a normal user they run directly.
#
# Environment: E2E_ARGS (extra arguments for the e2e test executable, e.g. a name filter),
# E2E_THREADS (default 2), FUSEBOX_TEST_USER, FUSEBOX_STRESS_* (the lengths of the e2e
# stress tests, passed through; scripts/stress.sh sets them), FUSEBOX_PORTAGE_SDIST
# (Portage's sdist for the Portage tests, staged for the test user; without it they
# download it themselves).
set -uo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
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
E2E_EXE=$(printf '%s\n' "$json" \
    | grep '"reason":"compiler-artifact"' \
    | grep '"name":"e2e"' \
    | grep '"kind":\["test"\]' \
    | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -n 1)
[ -n "$E2E_EXE" ] && [ -x "$E2E_EXE" ] || die "cannot find the e2e test executable in cargo's output"
# The stress program the e2e stress tests run (cargo test builds the examples too).
STRESS_EXE=$(printf '%s\n' "$json" \
    | grep '"reason":"compiler-artifact"' \
    | grep '"name":"stress"' \
    | grep '"kind":\["example"\]' \
    | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -n 1)
[ -n "$STRESS_EXE" ] && [ -x "$STRESS_EXE" ] || die "cannot find the stress example in cargo's output"
BIN=$ROOT/target/release/fusebox-run
[ -x "$BIN" ] || die "no $BIN"

# --- unit tests -----------------------------------------------------------------------------
say "unit tests: cargo test --release --lib"
cargo test --release --lib || failed+=("unit tests")

# --- the generated man page and completions: current, and each loads ------------------------
say "generated docs: scripts/gen-docs.sh --check"
bash scripts/gen-docs.sh --check "$BIN" || failed+=("generated docs")

# --- the shell hook Gentoo mode serves to every bash of the build (include_str!'d) ----------
say "shellcheck src/gentoo/processes/fusebox-bashrc.bash"
shellcheck -s bash src/gentoo/processes/fusebox-bashrc.bash || failed+=("shellcheck of the bash hook")

# --- e2e ------------------------------------------------------------------------------------
fuse_mounts_of() { # fuse lines of /proc/mounts owned by uid $1
    grep -E '^[^ ]+ [^ ]+ fuse' /proc/mounts | grep -E "user_id=$1(,| )" || true
}

STAGE=
OTHER_FS=
cleanup() {
    if [ -n "$OTHER_FS" ] && mountpoint -q "$OTHER_FS" 2>/dev/null; then
        umount "$OTHER_FS" 2>/dev/null || umount -l "$OTHER_FS" 2>/dev/null || true
    fi
    if [ -n "$STAGE" ] && [ -d "$STAGE" ]; then
        rm -rf "$STAGE"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

if [ "$(id -u)" = 0 ]; then
    if ! id -u "$TEST_USER" >/dev/null 2>&1; then
        say "creating the unprivileged test user $TEST_USER"
        useradd --create-home --shell /bin/bash "$TEST_USER" || die "useradd $TEST_USER failed"
    fi
    TEST_UID=$(id -u "$TEST_USER")
    TEST_HOME=$(getent passwd "$TEST_USER" | cut -d: -f6)
    [ -d "$TEST_HOME" ] || { mkdir -p "$TEST_HOME" && chown "$TEST_USER:" "$TEST_HOME"; }

    # Stage what the test user runs where it can reach it (the clone may not be).
    STAGE=$(mktemp -d /tmp/fusebox-ci.XXXXXX) || die "mktemp failed"
    chmod 755 "$STAGE"
    cp "$BIN" "$STAGE/fusebox-run"
    cp "$E2E_EXE" "$STAGE/e2e"
    cp "$STRESS_EXE" "$STAGE/stress"
    cp -R tests/fixtures "$STAGE/fixtures"
    mkdir "$STAGE/scripts"
    cp scripts/portage-prefix.sh scripts/test.sh scripts/prereqs.sh "$STAGE/scripts/"
    sdist=
    if [ -n "${FUSEBOX_PORTAGE_SDIST:-}" ]; then
        [ -f "$FUSEBOX_PORTAGE_SDIST" ] || die "FUSEBOX_PORTAGE_SDIST=$FUSEBOX_PORTAGE_SDIST: no such file"
        sdist=$STAGE/$(basename "$FUSEBOX_PORTAGE_SDIST")
        cp "$FUSEBOX_PORTAGE_SDIST" "$sdist"
    fi
    # For the ebuild test: the release tarballs, the overlay, and the Rust toolchain where
    # the test user can reach it (root's home is private; hard links cost no space).
    bash scripts/release-tarballs.sh "$STAGE/dist" >/dev/null || die "making the release tarballs failed"
    cp -R packaging "$STAGE/packaging"
    sysroot=$(readlink -f "$(rustc --print sysroot)")
    cp -al "$sysroot" "$STAGE/rust-toolchain" 2>/dev/null || cp -a "$sysroot" "$STAGE/rust-toolchain"
    chmod -R a+rX "$STAGE"
    # A second host file system for the inode test: a tmpfs whose inode numbers (1, 2, 3…)
    # clash with those of / (the root dir of ext4 is inode 2).
    OTHER_FS=$STAGE/otherfs
    mkdir "$OTHER_FS"
    if mount -t tmpfs -o size=4m,mode=0755 fusebox-e2e-otherfs "$OTHER_FS"; then
        for i in $(seq 1 60); do echo "$i" > "$OTHER_FS/f$i"; done
        mkdir "$OTHER_FS/dir" && echo x > "$OTHER_FS/dir/x"
        chmod -R a+rX "$OTHER_FS"
    else
        say "warning: cannot mount a tmpfs for the inode test"
        OTHER_FS=
    fi

    say "fusebox-run --check as $TEST_USER"
    if ! report=$(cd "$STAGE" && runuser -u "$TEST_USER" -- "$STAGE/fusebox-run" --check 2>&1); then
        printf '%s\n' "$report" >&2
        die "a sandbox cannot start here as $TEST_USER (above); fix that first (bash scripts/prereqs.sh as root fixes /dev/fuse and the user namespace sysctls)"
    fi

    mounts_before=$(fuse_mounts_of "$TEST_UID")
    say "e2e tests as $TEST_USER (uid $TEST_UID): $STAGE/e2e --test-threads=$THREADS ${EXTRA[*]:-}"
    env_args=(HOME="$TEST_HOME" USER="$TEST_USER" LOGNAME="$TEST_USER"
        PATH=/usr/local/bin:/usr/bin:/bin
        FUSEBOX_BIN="$STAGE/fusebox-run" FUSEBOX_FIXTURES="$STAGE/fixtures"
        FUSEBOX_STRESS="$STAGE/stress" FUSEBOX_SCRIPTS="$STAGE/scripts" RUST_BACKTRACE=1
        FUSEBOX_DIST="$STAGE/dist" FUSEBOX_PACKAGING="$STAGE/packaging"
        FUSEBOX_RUST_TOOLCHAIN="$STAGE/rust-toolchain")
    [ -n "$sdist" ] && env_args+=(FUSEBOX_PORTAGE_SDIST="$sdist")
    [ -n "$OTHER_FS" ] && env_args+=(FUSEBOX_OTHER_FS="$OTHER_FS")
    for v in $(compgen -v FUSEBOX_STRESS_); do env_args+=("$v=${!v}"); done
    [ -n "${CI:-}" ] && env_args+=(CI="$CI")
    [ -n "${LANG:-}" ] && env_args+=(LANG="$LANG")
    # From the staging dir: the test user's cwd must be reachable; stdin from /dev/null.
    (cd "$STAGE" && runuser -u "$TEST_USER" -- env -i "${env_args[@]}" \
        "$STAGE/e2e" --test-threads="$THREADS" "${EXTRA[@]}" </dev/null)
    e2e_status=$?

    # Leftovers of the test user: FUSE mounts, then processes (by pid).
    leftovers=$(comm -13 <(printf '%s\n' "$mounts_before" | sort) <(fuse_mounts_of "$TEST_UID" | sort) | sed '/^$/d')
    if [ -n "$leftovers" ]; then
        printf 'test.sh: FUSE mounts of %s left after the e2e tests:\n%s\n' "$TEST_USER" "$leftovers" >&2
        printf '%s\n' "$leftovers" | awk '{print $2}' | while read -r mp; do
            umount -l "$(printf '%b' "$mp")" || true
        done
        failed+=("leftover FUSE mounts")
    fi
    # fusermount3's empty staging dirs (may remain after a SIGKILL, as documented) and the
    # temp dirs of tests that were killed; never across a mount.
    find /tmp -mindepth 2 -maxdepth 2 -path '/tmp/fusebox-*/root' -user "$TEST_UID" -type d -empty -delete 2>/dev/null || true
    find "/tmp/fusebox-$TEST_UID" -mindepth 2 -maxdepth 2 -path "/tmp/fusebox-$TEST_UID/fusebox-*/root" -user "$TEST_UID" -type d -empty -delete 2>/dev/null || true
    find "/tmp/fusebox-$TEST_UID" -mindepth 1 -maxdepth 1 -name 'fusebox-*' -user "$TEST_UID" -type d -empty -delete 2>/dev/null || true
    find /tmp -mindepth 1 -maxdepth 1 -name 'fusebox-*' -user "$TEST_UID" -type d -empty -delete 2>/dev/null || true
    find /tmp -mindepth 1 -maxdepth 1 -name 'fusebox-e2e.*' -user "$TEST_UID" -type d \
        -exec rm -rf --one-file-system {} + 2>/dev/null || true
    # The Portage tests' installs under the test user's home (removed by the test process
    # as it exits, unless it was killed).
    find "$TEST_HOME" -mindepth 1 -maxdepth 1 -name 'fusebox-e2e-portage.*' -user "$TEST_UID" \
        -type d -exec rm -rf --one-file-system {} + 2>/dev/null || true
    # Default violation logs (/tmp/fusebox-UID-PID.log without TMPDIR) of the tests that
    # check the defaults.
    find /tmp -mindepth 1 -maxdepth 1 -name 'fusebox-*.log' -user "$TEST_UID" -type f -delete 2>/dev/null || true
    # Processes still running as the test user (a zombie is already gone: it waits
    # only for the host's init to reap it, which the direct mount's holder, ending
    # just after fusebox-run, may not yet have had). A moment for the last to exit.
    live_procs() { ps -u "$TEST_UID" -o pid=,stat= 2>/dev/null | awk '$2 !~ /^Z/ {print $1}'; }
    for _ in $(seq 50); do
        procs=$(live_procs)
        [ -z "$procs" ] && break
        sleep 0.1
    done
    if [ -n "$procs" ]; then
        printf 'test.sh: processes of %s left after the e2e tests:\n' "$TEST_USER" >&2
        for p in $procs; do ps -o pid=,args= -p "$p" >&2 || true; done
        for p in $procs; do kill -KILL "$p" 2>/dev/null || true; done
        failed+=("leftover processes")
    fi
else
    MY_UID=$(id -u)
    say "fusebox-run --check"
    if ! report=$("$BIN" --check 2>&1); then
        printf '%s\n' "$report" >&2
        die "a sandbox cannot start here (above); fix that first, e.g. as root: sudo bash scripts/prereqs.sh"
    fi
    mounts_before=$(fuse_mounts_of "$MY_UID")
    say "e2e tests: $E2E_EXE --test-threads=$THREADS ${EXTRA[*]:-}"
    bash scripts/release-tarballs.sh "$ROOT/target/dist" >/dev/null || die "making the release tarballs failed"
    (cd "$ROOT" && FUSEBOX_BIN="$BIN" FUSEBOX_FIXTURES="$ROOT/tests/fixtures" \
        FUSEBOX_STRESS="$STRESS_EXE" RUST_BACKTRACE=1 \
        FUSEBOX_DIST="$ROOT/target/dist" FUSEBOX_PACKAGING="$ROOT/packaging" \
        FUSEBOX_RUST_TOOLCHAIN="$(readlink -f "$(rustc --print sysroot)")" \
        "$E2E_EXE" --test-threads="$THREADS" "${EXTRA[@]}" </dev/null)
    e2e_status=$?
    leftovers=$(comm -13 <(printf '%s\n' "$mounts_before" | sort) <(fuse_mounts_of "$MY_UID" | sort) | sed '/^$/d')
    if [ -n "$leftovers" ]; then
        printf 'test.sh: FUSE mounts left after the e2e tests:\n%s\n' "$leftovers" >&2
        printf '%s\n' "$leftovers" | awk '{print $2}' | while read -r mp; do
            fusermount3 -u -z "$(printf '%b' "$mp")" || true
        done
        failed+=("leftover FUSE mounts")
    fi
fi
[ "$e2e_status" = 0 ] || failed+=("e2e tests (exit $e2e_status)")

if [ ${#failed[@]} -ne 0 ]; then
    printf 'test.sh: FAILED: %s\n' "$(IFS=,; echo "${failed[*]}")" >&2
    exit 1
fi
exit 0
