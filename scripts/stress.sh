#!/usr/bin/env bash
# The mirror's stress tests at full length: the e2e stress tests (tests/e2e/stress.rs, which
# CI runs short) for both mount helpers, one at a time, each printing its seed and time.
#
#   scripts/stress.sh                      # fsx 100,000 ops; names 8 processes 60 s; race 120 s
#   scripts/stress.sh --seed 42            # replay: the same seed for all three
#   scripts/stress.sh --fsx-ops 1000000 --names-secs 600 --race-secs 600 --helper direct
#
# Options: --seed N, --fsx-ops N, --names-procs N, --names-secs S, --race-secs S,
# --helper direct|fusermount3 (default: both), --only fsx|names|race (repeatable).
#
# It runs through scripts/test.sh (build, unit tests, then the e2e tests filtered to these),
# so it works the same way: as a normal user directly; as root as the unprivileged user
# $FUSEBOX_TEST_USER (default fusebox-test, created if missing), because root's
# capabilities hide rootless bugs. Exit status: 0 when every stress test passed.
set -euo pipefail

cd "$(dirname "$0")/.."

usage() {
    sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

export FUSEBOX_STRESS_FSX_OPS=100000
export FUSEBOX_STRESS_NAMES_PROCS=8
export FUSEBOX_STRESS_NAMES_SECS=60
export FUSEBOX_STRESS_RACE_SECS=120
helpers=(direct fusermount3)
only=()
while [ $# -gt 0 ]; do
    case $1 in
        --seed) export FUSEBOX_STRESS_SEED=${2:?}; shift 2 ;;
        --fsx-ops) FUSEBOX_STRESS_FSX_OPS=${2:?}; shift 2 ;;
        --names-procs) FUSEBOX_STRESS_NAMES_PROCS=${2:?}; shift 2 ;;
        --names-secs) FUSEBOX_STRESS_NAMES_SECS=${2:?}; shift 2 ;;
        --race-secs) FUSEBOX_STRESS_RACE_SECS=${2:?}; shift 2 ;;
        --helper) helpers=("${2:?}"); shift 2 ;;
        --only) only+=("${2:?}"); shift 2 ;;
        -h | --help) usage ;;
        *) printf 'stress.sh: unknown option %s\n' "$1" >&2; usage ;;
    esac
done
[ ${#only[@]} -gt 0 ] || only=(fsx names race)

# The e2e test names: stress::stress_WHAT_…::HELPER; each filter is a substring of the
# names, and a helper left out is skipped by its suffix.
filters=()
for w in "${only[@]}"; do
    case $w in fsx | names | race) ;; *) printf 'stress.sh: no stress test %s\n' "$w" >&2; usage ;; esac
    filters+=("stress::stress_${w}_")
done
for h in "${helpers[@]}"; do
    case $h in direct | fusermount3) ;; *) printf 'stress.sh: no helper %s\n' "$h" >&2; usage ;; esac
done
for h in direct fusermount3; do
    case " ${helpers[*]} " in *" $h "*) ;; *) filters+=(--skip "::$h") ;; esac
done

printf '==> stress: fsx %s ops; names %s processes %s s; race %s s; seed %s; helpers %s\n' \
    "$FUSEBOX_STRESS_FSX_OPS" "$FUSEBOX_STRESS_NAMES_PROCS" "$FUSEBOX_STRESS_NAMES_SECS" \
    "$FUSEBOX_STRESS_RACE_SECS" "${FUSEBOX_STRESS_SEED:-random}" "${helpers[*]}" >&2
# One test at a time (each is several processes already), and their reports shown.
E2E_THREADS=1 E2E_ARGS="${filters[*]} --nocapture" exec scripts/test.sh
