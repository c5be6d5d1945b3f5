#!/usr/bin/env bash
# fusebox benchmark: each workload, in one run, five ways —
#   native        the command as is
#   bwrap         bubblewrap with bind mounts (bwrap --bind / / ...): the floor a sandbox can reach
#   fusebox       fusebox-run with default options (/usr and the build directory kernel-served)
#   fusebox-full  fusebox-run --full-mirror (every access through the mirror, as with --trace)
#   bindfs        a generic FUSE mirror of / (bindfs / $mnt) entered with bwrap --bind $mnt /
# and prints a table of hyperfine medians and ratios to native, also written as Markdown
# (bench-results.md, or --out FILE) with the machine it ran on.
#
# Usage: scripts/bench.sh [--smoke] [--runs N] [--out FILE] [--fusebox PATH] [--only NAME]...
#   --smoke         start-up and a tiny metadata walk only, 1 run each way (for CI; < 1 min)
#   --runs N        runs per command (default 5)
#   --out FILE      Markdown results (default ./bench-results.md)
#   --fusebox PATH  the binary (default target/<host>/release/fusebox-run, built if missing)
#   --only NAME     run only this workload (repeatable): startup startup8 find find-cold
#                   headers untar build rust memory, pkg-hello pkg-gzip pkg-zlib pkg-pcre2
#                   pkg-fribidi pkg-loaded, or `packages` for all the pkg-* rows
#
# find-cold drops the kernel's page, dentry and inode caches before each run, so it needs
# the script to be started as root (a root helper drops them when the unprivileged run
# asks, through a FIFO); as a normal user it is skipped.
#
# As root, the builds run on a journaled ext4 file system of their own (a sparse loop
# image in the staging directory, removed at exit), as on a workstation's disk; the
# report names it. A normal user's run uses $TMPDIR.
#
# Real package builds (pkg-*, scripts/bench/packages.sh): Debian's upstream source
# tarballs (`apt-get source`; as root the script enables deb-src and downloads them into
# /var/cache/fusebox-bench-src, or $FUSEBOX_BENCH_SRC), each configured, built and tested,
# the five ways run paired (rotated order each round); the fusebox runs' `--stats` (FUSE
# requests by opcode, daemon CPU) are printed below the table. pkg-loaded is one of them
# again, natively and under fusebox, with a CPU-bound job running beside it.
#
# Sources for untar/build: the PyPI sdist of lupa (it vendors the Lua sources), fetched at
# bench time from PyPI (pip download, else PyPI's JSON API); a generated C project of 150
# files if neither works (the table says so). The Rust build (`rust`) is fusebox itself
# with its crates vendored at bench time (`cargo vendor`, from crates.io), built offline
# (debug profile) with the Rust toolchain of the user who starts the script; as root it
# is given to the benchmark user as a hard-linked copy.
#
# Needs hyperfine, bwrap, bindfs, fusermount3, make, gcc (and meson, ninja, xz, bzip2 for
# the package rows). As root it installs them with
# apt-get, creates the unprivileged user $FUSEBOX_BENCH_USER (default fusebox-bench) and
# re-runs itself as that user from /tmp/fusebox-bench.XXXXXX (root's capabilities would
# hide rootless costs); as a normal user it says what is missing.
set -euo pipefail

# This file is the driver: the options, the ways and their probes, the timing (hyperfine,
# or paired runs for the long builds) and the report. As root it stages itself for the
# benchmark user (scripts/lib/staging.sh). The workloads come in families, one file each
# in scripts/bench/ (sourced), run in this order, which is the table's:
#   startup.sh  start-up, once and 8 in parallel     walks.sh    metadata walks, small reads
#   c-build.sh  untar and a C build                  rust.sh     a Rust build of fusebox
#   packages.sh real package builds (paired)         memory.sh   memory of the mirrors
# A family writes its workload scripts into $WORK/wl (NAME.sh, run as `WAY sh NAME.sh`)
# and times each wanted row with hyperfine_row or paired_row (memory.sh adds MEM_LINES);
# it may read WORK, RUNS, SMOKE, FUSEBOX, RUNNERS, RUNNER and REASON, and call wanted and say.

SCRIPT=$(readlink -f "$0")
SCRIPTS=$(dirname "$SCRIPT")
REPO=$(cd "$SCRIPTS/.." && pwd)
# shellcheck source=scripts/lib/build.sh
. "$SCRIPTS/lib/build.sh"
# shellcheck source=scripts/lib/staging.sh
. "$SCRIPTS/lib/staging.sh"
# shellcheck source=scripts/bench/startup.sh
. "$SCRIPTS/bench/startup.sh"
# shellcheck source=scripts/bench/walks.sh
. "$SCRIPTS/bench/walks.sh"
# shellcheck source=scripts/bench/c-build.sh
. "$SCRIPTS/bench/c-build.sh"
# shellcheck source=scripts/bench/rust.sh
. "$SCRIPTS/bench/rust.sh"
# shellcheck source=scripts/bench/packages.sh
. "$SCRIPTS/bench/packages.sh"
# shellcheck source=scripts/bench/memory.sh
. "$SCRIPTS/bench/memory.sh"
BENCH_USER=${FUSEBOX_BENCH_USER:-fusebox-bench}
SMOKE=0
RUNS=5
OUT=$PWD/bench-results.md
FUSEBOX=
ONLY=()
INNER=0     # set when re-executed as the unprivileged user
RUST_TOOLCHAIN=  # a Rust sysroot (bin/cargo, bin/rustc) for the `rust` workload
RUST_SRC=        # fusebox's sources with vendored crates, for the `rust` workload
DROP_DIR=   # --drop-caches: the FIFOs through which root drops the caches (inner only)
WORK_BASE=  # --work-base: where the builds' directory is made (inner only; default $TMPDIR)
WORK_NOTE=  # --work-note: what that directory is on, for the report (inner only)

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'bench.sh: %s\n' "$*" >&2; exit 1; }

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$SCRIPT"; }

parse_args() {
    while [ $# -gt 0 ]; do
        case $1 in
            --smoke) SMOKE=1 ;;
            --runs) RUNS=${2:?--runs N}; shift ;;
            --out) OUT=$(readlink -m "${2:?--out FILE}"); shift ;;
            --fusebox) FUSEBOX=$(readlink -m "${2:?--fusebox PATH}"); shift ;;
            --only) ONLY+=("${2:?--only NAME}"); shift ;;
            --inner) INNER=1 ;;
            --rust-toolchain) RUST_TOOLCHAIN=${2:?}; shift ;;
            --rust-src) RUST_SRC=${2:?}; shift ;;
            --drop-caches) DROP_DIR=${2:?}; shift ;;
            --work-base) WORK_BASE=${2:?}; shift ;;
            --work-note) WORK_NOTE=${2:?}; shift ;;
            -h|--help) usage; exit 0 ;;
            *) die "unknown argument: $1 (see --help)" ;;
        esac
        shift
    done
    [[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "--runs wants a positive number"
    if [ "$SMOKE" = 1 ]; then RUNS=1; fi
}

wanted() { # is workload $1 selected?
    if [ "$SMOKE" = 1 ]; then [ "$1" = startup ] || [ "$1" = find-small ]; return; fi
    [ ${#ONLY[@]} -eq 0 ] && [ "$1" != find-small ] && return 0
    local w; for w in "${ONLY[@]}"; do
        [ "$w" = "$1" ] && return 0
        [ "$w" = packages ] && [[ $1 == pkg-* ]] && return 0
    done
    return 1
}

# --- root: install, build, stage, re-exec as an unprivileged user ----------------------------
ensure_packages_as_root() {
    local need=() pkg cmd
    local tools=(hyperfine:hyperfine bubblewrap:bwrap bindfs:bindfs fuse3:fusermount3 make:make gcc:gcc)
    if wanted_any_package; then tools+=(meson:meson ninja-build:ninja xz-utils:xz bzip2:bzip2); fi
    for pair in "${tools[@]}"; do
        pkg=${pair%%:*}; cmd=${pair#*:}
        command -v "$cmd" >/dev/null 2>&1 || need+=("$pkg")
    done
    [ ${#need[@]} -eq 0 ] && return 0
    say "apt-get install -y ${need[*]}"
    if ! { DEBIAN_FRONTEND=noninteractive apt-get install -y "${need[@]}" >/dev/null ||
           { apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y "${need[@]}" >/dev/null; }; }; then
        say "warning: could not install ${need[*]}; the columns that need them will say n/a"
    fi
}

# fusermount3 opens /dev/fuse as the calling user: at 0600 (a fresh machine without udev)
# every FUSE column would say n/a.
ensure_dev_fuse_as_root() {
    [ -c /dev/fuse ] || { say "warning: no /dev/fuse; the FUSE columns will say n/a"; return 0; }
    if [ "$(stat -c %a /dev/fuse)" != 666 ]; then
        say "chmod 0666 /dev/fuse (as udev does on desktop distros)"
        chmod 0666 /dev/fuse
    fi
}

ensure_fusebox_binary() {
    if [ -z "$FUSEBOX" ]; then
        FUSEBOX=$(release_bin "$REPO")
        if [ ! -x "$FUSEBOX" ]; then
            say "building fusebox: cargo build --release"
            (cd "$REPO" && cargo build --release) || die "cargo build --release failed"
        fi
    fi
    [ -x "$FUSEBOX" ] || die "no fusebox binary at $FUSEBOX"
}

# Tracing left enabled (ftrace events from a profiling session) puts every syscall of
# every way on the kernel's slow path: the syscall-heavy rows would measure the tracer.
warn_if_tracing_as_root() {
    local events=/sys/kernel/tracing/set_event
    if [ -r "$events" ] && [ -n "$(head -c 1 "$events")" ]; then
        say "warning: ftrace events are enabled ($(wc -l < "$events") in $events): every way pays for them; clear with: echo > $events"
    fi
}

# The builds' directory on a journaled ext4 file system of its own (a sparse loop image
# under the stage), as a workstation's disk is: a root file system made without a journal
# (some VM images) makes ext4 skip inodes freed in the last minute at every create, which
# turns a repeated untar + rm into a scan of the inode table. Sets WORK_DISK_NOTE; on any
# failure says why and leaves the builds in $TMPDIR.
WORK_DISK_NOTE=
work_disk_as_root() {
    local dir=$1 image=$1.img
    command -v mkfs.ext4 >/dev/null || { say "note: no mkfs.ext4; the builds run in /tmp"; return 1; }
    mkdir -p "$dir"
    if ! { truncate -s 32G "$image" && mkfs.ext4 -q -F -O has_journal "$image" &&
           mount -o loop "$image" "$dir"; }; then
        say "note: could not mount a loop ext4 image at $dir; the builds run in /tmp"
        rm -f "$image"
        return 1
    fi
    chown "$BENCH_USER:" "$dir"
    chmod 755 "$dir"
    WORK_DISK_NOTE="a journaled ext4 loop image (sparse, 32 GB) on $(df --output=fstype "$(dirname "$image")" | tail -n 1) $(df --output=source "$(dirname "$image")" | tail -n 1)"
}

# Stages this script, its families and what root alone can prepare (package sources, the
# Rust toolchain, the cache dropper, the builds' disk), runs it as the benchmark user,
# copies the results.
run_as_unprivileged_user() {
    ensure_packages_as_root
    ensure_dev_fuse_as_root
    ensure_fusebox_binary
    warn_if_tracing_as_root
    staging_user_ensure "$BENCH_USER"
    staging_dir_make fusebox-bench
    staging_at_exit stop_cache_dropper
    local stage=$STAGING_DIR
    cp "$FUSEBOX" "$stage/fusebox-run"
    cp "$SCRIPT" "$stage/bench.sh"
    cp -R "$SCRIPTS/bench" "$stage/bench"
    cp -R "$SCRIPTS/lib" "$stage/lib"
    if wanted_any_package; then fetch_package_sources_as_root; fi
    local args=(--inner --runs "$RUNS" --out "$stage/bench-results.md" --fusebox "$stage/fusebox-run")
    if wanted rust && stage_rust_as_root "$stage/rust-src" "$stage/rust-toolchain"; then
        args+=(--rust-toolchain "$stage/rust-toolchain" --rust-src "$stage/rust-src")
    fi
    if wanted find-cold; then
        start_cache_dropper "$stage/drop"
        args+=(--drop-caches "$stage/drop")
    fi
    staging_dir_open
    chown "$BENCH_USER:" "$stage"
    if [ "$SMOKE" = 0 ] && work_disk_as_root "$stage/disk"; then
        args+=(--work-base "$stage/disk" --work-note "$WORK_DISK_NOTE")
    fi
    [ "$SMOKE" = 1 ] && args+=(--smoke)
    local w; for w in ${ONLY[@]+"${ONLY[@]}"}; do args+=(--only "$w"); done
    say "running as $BENCH_USER from $stage"
    STAGING_ENV+=(LANG=C.UTF-8)
    staging_env_pass http_proxy https_proxy PIP_INDEX_URL SSL_CERT_FILE SSL_CERT_DIR PIP_CERT REQUESTS_CA_BUNDLE
    local status=0
    (cd "$stage" && as_user bash "$stage/bench.sh" "${args[@]}" </dev/null) || status=$?
    if [ -f "$stage/bench-results.md" ]; then
        cp "$stage/bench-results.md" "$OUT"
        say "results written to $OUT"
    fi
    exit "$status"
}

# --- the unprivileged run: the ways ----------------------------------------------------------
WORK=
MNT=
STATS=      # the fusebox runs' --stats files (outside WORK, the builds' directory)
BINDFS_PID=
cleanup_work() {
    if [ -n "$STATS" ]; then rm -rf "$STATS"; fi
    if [ -n "$MNT" ] && mountpoint -q "$MNT" 2>/dev/null; then
        fusermount3 -u -z "$MNT" 2>/dev/null || fusermount -u -z "$MNT" 2>/dev/null || true
    fi
    if [ -n "$BINDFS_PID" ]; then kill "$BINDFS_PID" 2>/dev/null || true; wait "$BINDFS_PID" 2>/dev/null || true; fi
    if [ -n "$WORK" ] && [ -d "$WORK" ]; then
        if [ -n "$MNT" ] && mountpoint -q "$MNT" 2>/dev/null; then
            say "warning: $MNT still mounted; leaving $WORK"
        else
            rm -rf --one-file-system "$WORK"
        fi
    fi
}

check_tools() {
    local missing=() pkg cmd
    for pair in hyperfine:hyperfine make:make gcc:gcc; do
        pkg=${pair%%:*}; cmd=${pair#*:}
        command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg")
    done
    if [ ${#missing[@]} -ne 0 ]; then
        die "missing: ${missing[*]} — install with: sudo apt-get install -y ${missing[*]} bubblewrap bindfs fuse3 (or run this script as root)"
    fi
    for pair in bubblewrap:bwrap bindfs:bindfs fuse3:fusermount3; do
        pkg=${pair%%:*}; cmd=${pair#*:}
        command -v "$cmd" >/dev/null 2>&1 ||
            say "note: $cmd not found (sudo apt-get install -y $pkg); its column will say n/a"
    done
}

# Runner prefixes; a runner whose probe fails gets n/a and the reason.
declare -A RUNNER REASON
RUNNERS=(native bwrap fusebox fusebox-full bindfs)

setup_runners() {
    RUNNER[native]=""
    RUNNER[bwrap]="bwrap --bind / / --dev /dev --proc /proc --chdir $WORK --"
    RUNNER[fusebox]="$FUSEBOX --"
    RUNNER[fusebox-full]="$FUSEBOX --full-mirror --"
    RUNNER[bindfs]="bwrap --bind $MNT / --dev /dev --proc /proc --chdir $WORK --"

    if ! command -v bwrap >/dev/null; then
        REASON[bwrap]="bwrap not installed"; REASON[bindfs]="bwrap not installed"
    fi
    probe bwrap
    if [ -z "${REASON[bindfs]:-}" ]; then
        if ! command -v bindfs >/dev/null; then
            REASON[bindfs]="bindfs not installed"
        else
            mkdir -p "$MNT"
            bindfs -f --no-allow-other / "$MNT" 2>"$WORK/bindfs.err" &
            BINDFS_PID=$!
            local i
            for i in $(seq 50); do mountpoint -q "$MNT" && break; sleep 0.1; done
            if ! mountpoint -q "$MNT"; then
                REASON[bindfs]="bindfs mount failed: $(head -c 200 "$WORK/bindfs.err" | tr '\n' ' ')"
            fi
        fi
    fi
    probe bindfs
    probe fusebox
    probe fusebox-full
}

probe() { # probe RUNNER: can it run `true`?
    local r=$1 err
    [ -n "${REASON[$r]:-}" ] && { say "$r: n/a (${REASON[$r]})"; return; }
    if ! err=$(cd "$WORK" && ${RUNNER[$r]} true 2>&1 </dev/null); then
        REASON[$r]="cannot start: $(printf '%s' "$err" | head -n 2 | tr '\n' ' ' | cut -c1-160)"
        say "$r: n/a (${REASON[$r]})"
    fi
}

# --- timing ----------------------------------------------------------------------------------
declare -A LABEL    # [workload] -> its row's label
declare -A MEDIAN   # [workload,runner] -> seconds
RESULT_ORDER=()
STATS_ORDER=()      # the paired rows whose fusebox runs wrote --stats
MEM_LINES=()        # the memory table's rows (memory.sh)
SRC_NOTE=           # where the sources of untar and build came from (c-build.sh)

# hyperfine_row [--outer] [--warm] NAME LABEL [HYPERFINE_OPTION...]: hyperfine over the
# ways that work, each running `WAY sh $WORK/wl/NAME.sh`; --outer runs the script outside,
# the way as its arguments (`sh NAME.sh WAY`); --warm adds a warm-up run (not with --smoke).
hyperfine_row() {
    local outer=0 warmup=()
    while :; do
        case $1 in
            --outer) outer=1 ;;
            --warm) [ "$SMOKE" = 1 ] || warmup=(--warmup 1) ;;
            *) break ;;
        esac
        shift
    done
    local name=$1 script=$WORK/wl/$1.sh r cmd used=()
    LABEL[$name]=$2
    shift 2
    local args=(--runs "$RUNS" --export-json "$WORK/$name.json" --style basic ${warmup[@]+"${warmup[@]}"} "$@")
    for r in "${RUNNERS[@]}"; do
        [ -n "${REASON[$r]:-}" ] && continue
        if [ "$outer" = 1 ]; then
            cmd="sh $script ${RUNNER[$r]}"; cmd=${cmd% }
        else
            cmd="${RUNNER[$r]} sh $script"; cmd=${cmd# }
        fi
        args+=(-n "$r" "$cmd")
        used+=("$r")
    done
    say "workload $name: ${used[*]}"
    if (cd "$WORK" && hyperfine "${args[@]}" </dev/null >&2); then
        local i=0 m
        while read -r m; do
            MEDIAN[$name,${used[$i]}]=$m; i=$((i + 1))
        done < <(jq -r '.results[].median' "$WORK/$name.json" 2>/dev/null ||
                 grep -o '"median": *[0-9.eE+-]*' "$WORK/$name.json" | sed 's/.*: *//')
    else
        say "warning: hyperfine failed for $name"
        for r in "${used[@]}"; do MEDIAN[$name,$r]=failed; done
    fi
    RESULT_ORDER+=("$name")
}

# paired_row [--beside CMD] NAME LABEL SCRIPT WAY...: RUNS rounds of `WAY sh
# $WORK/wl/SCRIPT.sh`, each from the state SCRIPT-prepare.sh makes; in round i the ways
# start at index i, so drift on the machine hits every way alike. --beside runs the shell
# command CMD beside each run (a load). Medians into MEDIAN; fusebox's --stats into $WORK.
paired_row() {
    local beside=
    if [ "$1" = --beside ]; then beside=$2; shift 2; fi
    local name=$1 script=$WORK/wl/$3 i k r t0 t1
    LABEL[$name]=$2
    shift 3
    local usable=()
    for r in "$@"; do [ -z "${REASON[$r]:-}" ] && usable+=("$r"); done
    say "workload $name (paired, $RUNS rounds): ${usable[*]}"
    declare -A times=()
    for ((i = 0; i < RUNS; i++)); do
        for ((k = 0; k < ${#usable[@]}; k++)); do
            r=${usable[$(((i + k) % ${#usable[@]}))]}
            sh "$script-prepare.sh"
            local prefix=${RUNNER[$r]}
            # The stats file outside $WORK: a report inside the build directory would keep
            # that directory on the mirror (it must stay out of the build's reach).
            [ "$r" = fusebox ] && prefix="$FUSEBOX --stats $STATS/stats-$name.json --"
            local load=
            if [ -n "$beside" ]; then
                sh -c "$beside" & load=$!
            fi
            t0=$(now_ns)
            if ! (cd "$WORK" && $prefix sh "$script.sh" </dev/null >/dev/null 2>&1); then
                times[$r]+="failed "
            else
                t1=$(now_ns)
                times[$r]+="$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", (b-a)/1e9}') "
            fi
            [ -n "$load" ] && { kill "$load"; wait "$load" 2>/dev/null || true; }
        done
    done
    local runs
    for r in "${usable[@]}"; do
        say "  $name $r: ${times[$r]}"
        read -r -a runs <<< "${times[$r]}"
        MEDIAN[$name,$r]=$(median "${runs[@]}")
    done
    RESULT_ORDER+=("$name")
    if [ -f "$STATS/stats-$name.json" ]; then STATS_ORDER+=("$name"); fi
}

now_ns() { date +%s%N; }

median() { # median of the numbers given; "failed" if any run failed
    case " $* " in *" failed "*) echo failed; return ;; esac
    printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END{if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'
}

# --- report ----------------------------------------------------------------------------------
fmt_cell() { # fmt_cell NAME RUNNER
    local m=${MEDIAN[$1,$2]:-} n=${MEDIAN[$1,native]:-}
    if [ -n "${REASON[$2]:-}" ]; then echo "n/a"; return; fi
    case $m in '') echo "—"; return ;; failed) echo "failed"; return ;; esac
    if [ "$2" = native ] || [ -z "$n" ] || [ "$n" = failed ]; then
        awk -v m="$m" 'BEGIN{printf "%.3f s", m}'
    else
        awk -v m="$m" -v n="$n" 'BEGIN{printf "%.3f s (%.2f×)", m, m/n}'
    fi
}

report() {
    local cpu; cpu=$(awk -F': *' '/^model name/{print $2; exit}' /proc/cpuinfo)
    local fbver; fbver=$("$FUSEBOX" --version 2>/dev/null | head -n1 || echo '?')
    {
        echo "## fusebox benchmark"
        echo
        echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
        echo "- machine: $(nproc) CPUs, ${cpu:-unknown CPU}, kernel $(uname -r), $(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME")"
        echo "- fusebox: $fbver; hyperfine $(hyperfine --version | awk '{print $2}'), $RUNS run(s) each$([ "$SMOKE" = 1 ] && echo ', --smoke')"
        echo "- bwrap: \`bwrap --bind / / --dev /dev --proc /proc\`; bindfs: \`bindfs --no-allow-other / MNT\` then \`bwrap --bind MNT / --dev /dev --proc /proc\`"
        echo "- the builds' directory: ${WORK_NOTE:-\$TMPDIR ($(df --output=fstype "$WORK" | tail -n 1))}"
        [ -n "$SRC_NOTE" ] && echo "- sources: $SRC_NOTE"
        for r in "${RUNNERS[@]}"; do
            [ -n "${REASON[$r]:-}" ] && echo "- $r: n/a — ${REASON[$r]}"
        done
        echo
        echo "Median wall time (ratio to native):"
        echo
        echo "| workload | native | bwrap | fusebox | fusebox --full-mirror | bindfs |"
        echo "|---|---|---|---|---|---|"
        local name
        for name in ${RESULT_ORDER[@]+"${RESULT_ORDER[@]}"}; do
            printf '| %s | %s | %s | %s | %s | %s |\n' "${LABEL[$name]}" "$(fmt_cell "$name" native)" \
                "$(fmt_cell "$name" bwrap)" "$(fmt_cell "$name" fusebox)" \
                "$(fmt_cell "$name" fusebox-full)" "$(fmt_cell "$name" bindfs)"
        done
        if [ ${#MEM_LINES[@]} -ne 0 ]; then
            echo
            echo "Memory while \`find /usr -type f\` runs inside:"
            echo
            echo "| process | peak RSS (VmHWM) | open fds (max) |"
            echo "|---|---|---|"
            printf '%s\n' "${MEM_LINES[@]}"
        fi
        stats_report
    } > "$OUT"
    echo
    cat "$OUT"
    echo
    say "written to $OUT"
}

# The requests the last fusebox run of each paired row made, most frequent first, and the
# daemon's CPU time (from --stats), as Markdown.
stats_report() {
    [ ${#STATS_ORDER[@]} -eq 0 ] && return
    echo
    echo "FUSE requests of one fusebox run (\`--stats\`), the write-class syscalls its seccomp"
    echo "notifier answered, and fusebox-run's own CPU time:"
    echo
    echo "| workload | requests | by opcode (most first) | notifications | daemon CPU user + sys |"
    echo "|---|---|---|---|---|"
    local name json
    for name in "${STATS_ORDER[@]}"; do
        json=$(cat "$STATS/stats-$name.json")
        printf '| %s | %s | %s | %s | %s |\n' "$name" \
            "$(printf '%s' "$json" | sed -n 's/.*"total":\([0-9]*\).*/\1/p')" \
            "$(printf '%s' "$json" | sed 's/^{"requests":{\([^}]*\)}.*/\1/' | tr ',' '\n' |
                tr -d '"' | sort -t: -k2 -rn | head -n 8 | tr '\n' ' ' | sed 's/ $//; s/ /, /g')" \
            "$(printf '%s' "$json" | sed -n 's/.*"notifications":\([0-9]*\).*/\1/p')" \
            "$(printf '%s' "$json" | sed -n 's/.*"user":\([0-9.]*\),"system":\([0-9.]*\).*/\1 s + \2 s/p')"
    done
}

run_benchmarks() {
    check_tools
    ensure_fusebox_binary
    trap cleanup_work EXIT
    trap 'exit 130' INT; trap 'exit 143' TERM; trap 'exit 129' HUP
    WORK=$(mktemp -d "${WORK_BASE:-${TMPDIR:-/tmp}}/fusebox-bench-work.XXXXXX")
    STATS=$(mktemp -d "${TMPDIR:-/tmp}/fusebox-bench-stats.XXXXXX")
    MNT=$WORK/mnt
    mkdir "$WORK/wl"
    cd "$WORK"
    setup_runners
    startup_workloads
    walk_workloads
    c_build_workloads
    rust_workload
    package_workloads
    memory_workload
    report
}

parse_args "$@"
if [ "$(id -u)" = 0 ] && [ "$INNER" = 0 ]; then
    run_as_unprivileged_user
fi
[ "$(id -u)" = 0 ] && die "refusing to benchmark as root (root's capabilities hide rootless costs)"
run_benchmarks
