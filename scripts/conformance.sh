#!/usr/bin/env bash
# POSIX conformance of the mirror: pjdfstest (the Rust rewrite, crates.io package
# `pjdfstest`) on a directory in the sandbox's write area, and on a plain host directory
# under the same uid mapping (unshare), for --uid-map self and --uid-map root. What counts
# is the difference: tests that FAIL in the mirror but pass on the plain directory. Each
# such test is run again alone on both sides (timing tests flake) and only a difference
# that persists is reported; the script exits 1 if there is one.
#
# Usage: scripts/conformance.sh [--fusebox PATH] [--pjdfstest PATH]
#   As root it installs pjdfstest (cargo install) if missing, creates the unprivileged
#   user $FUSEBOX_TEST_USER (default fusebox-test) and runs everything as that user,
#   from a staging directory it can reach (scripts/lib/staging.sh).
set -euo pipefail

cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
# shellcheck source=scripts/lib/build.sh
. "$ROOT/scripts/lib/build.sh"
FUSEBOX=$(release_bin "$ROOT")
PJDFSTEST=
TEST_USER=${FUSEBOX_TEST_USER:-fusebox-test}

while [ $# -gt 0 ]; do
    case $1 in
        --fusebox) FUSEBOX=$2; shift 2 ;;
        --pjdfstest) PJDFSTEST=$2; shift 2 ;;
        *) echo "usage: $0 [--fusebox PATH] [--pjdfstest PATH]" >&2; exit 2 ;;
    esac
done

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'conformance.sh: %s\n' "$*" >&2; exit 1; }
# shellcheck source=scripts/lib/staging.sh
. scripts/lib/staging.sh

find_pjdfstest() {
    for p in "$PJDFSTEST" "$(command -v pjdfstest 2>/dev/null || true)" \
        "${CARGO_HOME:-$HOME/.cargo}/bin/pjdfstest"; do
        if [ -n "$p" ] && [ -x "$p" ]; then
            echo "$p"
            return 0
        fi
    done
    return 0
}

[ -x "$FUSEBOX" ] || cargo build --release
PJDFSTEST=$(find_pjdfstest)
if [ -z "$PJDFSTEST" ]; then
    say "installing pjdfstest (cargo install pjdfstest)"
    cargo install --quiet --locked pjdfstest || cargo install --quiet pjdfstest
    PJDFSTEST=$(find_pjdfstest)
fi
[ -n "$PJDFSTEST" ] || die "no pjdfstest"

staging_dir_make fusebox-conformance
WORK=$STAGING_DIR
cp "$FUSEBOX" "$WORK/fusebox-run"
cp "$PJDFSTEST" "$WORK/pjdfstest"

if [ "$(id -u)" = 0 ]; then
    staging_user_ensure "$TEST_USER"
    RUN_AS=(as_user)
    OWNER=$TEST_USER
else
    RUN_AS=()
    OWNER=$(id -un)
fi
GROUP=$(id -gn "$OWNER")

# pjdfstest switches to these users for its permission tests; they must exist.
cat > "$WORK/pjdfstest.toml" <<EOF
[features]
posix_fallocate = {}

[settings]
naptime = 0.01
allow_remount = false

[dummy_auth]
entries = [["nobody", "nogroup"], ["$OWNER", "$GROUP"]]
EOF
staging_dir_open
mkdir "$WORK/logs" && chown "$OWNER" "$WORK/logs"

# run_suite SIDE UIDMAP DIR [TEST...]: prints "name result" lines, sorted.
run_suite() {
    local side=$1 map=$2 dir=$3
    shift 3
    local unshare_map=(--map-current-user)
    [ "$map" = root ] && unshare_map=(--map-root-user)
    if rm -rf "$dir" && mkdir -p "$dir"; then chown "$OWNER" "$dir" 2>/dev/null || true; fi
    # A name given is a filter (pjdfstest's -e matched nothing here): callers pick
    # their test's line out of the result.
    local cmd=("$WORK/pjdfstest" -c "$WORK/pjdfstest.toml" -p "$dir" "$@")
    case $side in
        plain) (cd "$dir" && "${RUN_AS[@]}" unshare --user "${unshare_map[@]}" "${cmd[@]}") ;;
        mirror) (cd "$dir" && "${RUN_AS[@]}" "$WORK/fusebox-run" --full-mirror --uid-map "$map" -w "$dir" \
            --log "$WORK/logs/violations.log" -- "${cmd[@]}") ;;
    esac 2>&1 | tee -a "$WORK/$side-$map.log" \
        | grep -E '^[a-z0-9_:]+ +(ok|FAILED|skipped)$' | awk '{print $1, $2}' | sort || true
}

status=0
for map in self root; do
    say "pjdfstest, --uid-map $map: plain directory (unshare) and the mirror"
    run_suite plain "$map" "$WORK/plain-$map" > "$WORK/plain-$map.txt"
    run_suite mirror "$map" "$WORK/mirror-$map" > "$WORK/mirror-$map.txt"
    for side in plain mirror; do
        printf '%-6s --uid-map %-4s: %s\n' "$side" "$map" \
            "$(grep -E '^Summary' "$WORK/$side-$map.log" | tail -n 1)"
    done
    # Skipped in the mirror only: told, not counted (a skip is no failure; e.g. glibc
    # knows no LINK_MAX for FUSE's filesystem type, so link_count_max skips itself).
    join "$WORK/plain-$map.txt" "$WORK/mirror-$map.txt" \
        | awk -v m="$map" '$2 == "ok" && $3 == "skipped" {print "skipped in the mirror only (--uid-map " m "): " $1}'
    # Failing in the mirror, passing on the plain directory: run each again, alone.
    mapfile -t suspects < <(join "$WORK/plain-$map.txt" "$WORK/mirror-$map.txt" \
        | awk '$2 == "ok" && $3 == "FAILED" {print $1}')
    persistent=()
    for t in "${suspects[@]}"; do
        again_plain=$(run_suite plain "$map" "$WORK/plain-$map" "$t" | awk -v t="$t" '$1 == t {print $2}')
        again_mirror=$(run_suite mirror "$map" "$WORK/mirror-$map" "$t" | awk -v t="$t" '$1 == t {print $2}')
        [ "$again_plain" = ok ] && [ "$again_mirror" = FAILED ] && persistent+=("$t")
    done
    if [ ${#persistent[@]} -eq 0 ]; then
        echo "difference (--uid-map $map): none"
    else
        echo "difference (--uid-map $map): ${#persistent[@]} test(s) fail in the mirror only:"
        printf '  %s\n' "${persistent[@]}"
        status=1
    fi
done
exit $status
