#!/usr/bin/env bash
# fusebox benchmark: each workload, in one run, four ways —
#   native    the command as is
#   bwrap     bubblewrap with bind mounts (bwrap --bind / / ...): the floor a sandbox can reach
#   fusebox   fusebox-run with default options
#   bindfs    a generic FUSE mirror of / (bindfs / $mnt) entered with bwrap --bind $mnt /
# and prints a table of hyperfine medians and ratios to native, also written as Markdown
# (bench-results.md, or --out FILE) with the machine it ran on.
#
# Usage: scripts/bench.sh [--smoke] [--runs N] [--out FILE] [--fusebox PATH] [--only NAME]...
#   --smoke         start-up and a tiny metadata walk only, 1 run each way (for CI; < 1 min)
#   --runs N        runs per command (default 5)
#   --out FILE      Markdown results (default ./bench-results.md)
#   --fusebox PATH  the binary (default target/release/fusebox-run, built if missing)
#   --only NAME     run only this workload (repeatable): startup startup8 find find-cold
#                   headers untar build rust memory, pkg-hello pkg-gzip pkg-zlib pkg-pcre2
#                   pkg-fribidi pkg-loaded, or `packages` for all the pkg-* rows
#
# find-cold drops the kernel's page, dentry and inode caches before each run, so it needs
# the script to be started as root (a root helper drops them when the unprivileged run
# asks, through a FIFO); as a normal user it is skipped.
#
# Real package builds (pkg-*, scripts/bench/packages.sh): Debian's upstream source
# tarballs (`apt-get source`; as root the script enables deb-src and downloads them into
# /var/cache/fusebox-bench-src, or $FUSEBOX_BENCH_SRC), each configured, built and tested,
# the four ways run paired (rotated order each round); the fusebox runs' `--stats` (FUSE
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
# Needs hyperfine, bwrap, bindfs, fusermount3, make, gcc. As root it installs them with
# apt-get, creates the unprivileged user $FUSEBOX_BENCH_USER (default fusebox-bench) and
# re-runs itself as that user from /tmp/fusebox-bench.XXXXXX (root's capabilities would
# hide rootless costs); as a normal user it says what is missing.
set -euo pipefail

SCRIPT=$(readlink -f "$0")
SCRIPTS=$(dirname "$SCRIPT")
REPO=$(cd "$SCRIPTS/.." && pwd)
# shellcheck source=scripts/lib/staging.sh
. "$SCRIPTS/lib/staging.sh"
# shellcheck source=scripts/bench/packages.sh
. "$SCRIPTS/bench/packages.sh"
BENCH_USER=${FUSEBOX_BENCH_USER:-fusebox-bench}
LUPA_VERSION=2.8
SMOKE=0
RUNS=5
OUT=$PWD/bench-results.md
FUSEBOX=
ONLY=()
INNER=0     # set when re-executed as the unprivileged user
RUST_TOOLCHAIN=  # a Rust sysroot (bin/cargo, bin/rustc) for the `rust` workload
RUST_SRC=        # fusebox's sources with vendored crates, for the `rust` workload
SRC_DIR=    # --src-cache: where the fetched sources are kept between runs (inner only)
DROP_DIR=   # --drop-caches: the FIFOs through which root drops the caches (inner only)

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
            -h|--help) usage; exit 0 ;;
            *) die "unknown argument: $1 (see --help)" ;;
        esac
        shift
    done
    [[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "--runs wants a positive number"
    if [ "$SMOKE" = 1 ]; then RUNS=1; fi
}

wanted_any_package() {
    local name
    for name in $(pkg_names) loaded; do wanted "pkg-$name" && return 0; done
    return 1
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
    for pair in hyperfine:hyperfine bubblewrap:bwrap bindfs:bindfs fuse3:fusermount3 make:make gcc:gcc; do
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

ensure_fusebox_binary() {
    if [ -z "$FUSEBOX" ]; then
        FUSEBOX=$REPO/target/release/fusebox-run
        if [ ! -x "$FUSEBOX" ]; then
            say "building fusebox: cargo build --release"
            (cd "$REPO" && cargo build --release) || die "cargo build --release failed"
        fi
    fi
    [ -x "$FUSEBOX" ] || die "no fusebox binary at $FUSEBOX"
}

run_as_unprivileged_user() {
    ensure_packages_as_root
    ensure_fusebox_binary
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
    if wanted rust && prepare_rust_sources "$stage/rust-src"; then
        # The toolchain, where the benchmark user can reach it (root's home is private).
        staging_copy_toolchain "$stage/rust-toolchain"
        args+=(--rust-toolchain "$stage/rust-toolchain" --rust-src "$stage/rust-src")
    fi
    if wanted find-cold; then
        start_cache_dropper "$stage/drop"
        args+=(--drop-caches "$stage/drop")
    fi
    staging_dir_open
    chown "$BENCH_USER:" "$stage"
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

# Root: drops the page, dentry and inode caches each time the benchmark user writes a line
# to DIR/request, then answers on DIR/done (for find-cold's --prepare).
start_cache_dropper() {
    local dir=$1
    mkdir -p "$dir" && mkfifo "$dir/request" "$dir/done"
    chown "$BENCH_USER:" "$dir/request" "$dir/done"
    chmod 600 "$dir/request" "$dir/done"
    (
        while read -r _ < "$dir/request"; do
            sync
            echo 3 > /proc/sys/vm/drop_caches
            echo dropped > "$dir/done"
        done
    ) &
    DROPPER_PID=$!
    disown "$DROPPER_PID"   # killed at exit: no "Killed" notice
}
DROPPER_PID=
stop_cache_dropper() {
    if [ -n "$DROPPER_PID" ]; then kill -KILL "$DROPPER_PID" 2>/dev/null || true; fi
}

# fusebox's own sources, crates vendored (crates.io), into $1; false (with a warning) when
# that cannot be done.
prepare_rust_sources() {
    local dst=$1
    command -v cargo >/dev/null && command -v rustc >/dev/null ||
        { say "warning: no cargo/rustc: the Rust build is skipped"; return 1; }
    mkdir -p "$dst"
    if [ -d "$REPO/.git" ] && command -v git >/dev/null; then
        git -C "$REPO" archive HEAD | tar x -C "$dst"
    else
        cp -a "$REPO/Cargo.toml" "$REPO/Cargo.lock" "$REPO/src" "$dst/"
        [ -d "$REPO/vendor" ] && cp -a "$REPO/vendor" "$dst/"
        [ -d "$REPO/examples" ] && cp -a "$REPO/examples" "$dst/"
    fi
    mkdir -p "$dst/.cargo"
    say "vendoring fusebox's crates (cargo vendor)"
    if ! (cd "$dst" && cargo vendor --locked --quiet crates >/dev/null); then
        say "warning: cargo vendor failed: the Rust build is skipped"
        rm -rf "$dst"; return 1
    fi
    printf '%s\n' '[source.crates-io]' 'replace-with = "vendored"' '[source.vendored]' \
        'directory = "crates"' > "$dst/.cargo/config.toml"
}

# --- the unprivileged run --------------------------------------------------------------------
WORK=
MNT=
BINDFS_PID=
cleanup() {
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
RUNNERS=(native bwrap fusebox bindfs)

setup_runners() {
    RUNNER[native]=""
    RUNNER[bwrap]="bwrap --bind / / --dev /dev --proc /proc --chdir $WORK --"
    RUNNER[fusebox]="$FUSEBOX --"
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
}

probe() { # probe RUNNER: can it run `true`?
    local r=$1 err
    [ -n "${REASON[$r]:-}" ] && { say "$r: n/a (${REASON[$r]})"; return; }
    if ! err=$(cd "$WORK" && ${RUNNER[$r]} true 2>&1 </dev/null); then
        REASON[$r]="cannot start: $(printf '%s' "$err" | head -n 2 | tr '\n' ' ' | cut -c1-160)"
        say "$r: n/a (${REASON[$r]})"
    fi
}

# --- sources ---------------------------------------------------------------------------------
SRC_NOTE=
TARBALL=
fetch_sources() {
    local dl=$WORK/dl; mkdir -p "$dl"
    say "fetching the lupa $LUPA_VERSION sdist (vendors Lua) from PyPI"
    if command -v pip3 >/dev/null && timeout 60 pip3 download --quiet --no-deps --no-binary lupa \
            --no-build-isolation -d "$dl" "lupa==$LUPA_VERSION" >/dev/null 2>&1 &&
            [ -f "$dl/lupa-$LUPA_VERSION.tar.gz" ]; then
        :
    elif command -v python3 >/dev/null && timeout 120 python3 - "$dl" "$LUPA_VERSION" <<'EOF'
import hashlib, json, sys, urllib.request
dl, ver = sys.argv[1], sys.argv[2]
meta = json.load(urllib.request.urlopen("https://pypi.org/pypi/lupa/json", timeout=30))
files = meta.get("releases", {}).get(ver) or meta["urls"]
sd = [u for u in files if u["packagetype"] == "sdist" and u["filename"] == f"lupa-{ver}.tar.gz"][0]
data = urllib.request.urlopen(sd["url"], timeout=90).read()
assert hashlib.sha256(data).hexdigest() == sd["digests"]["sha256"], "sha256 mismatch"
open(f"{dl}/{sd['filename']}", "wb").write(data)
EOF
    then
        :
    fi
    if [ -f "$dl/lupa-$LUPA_VERSION.tar.gz" ] && tar tzf "$dl/lupa-$LUPA_VERSION.tar.gz" >/dev/null 2>&1; then
        TARBALL=$dl/lupa-$LUPA_VERSION.tar.gz
        SRC_NOTE="PyPI sdist lupa-$LUPA_VERSION.tar.gz ($(tar tzf "$TARBALL" | wc -l) entries); build: its vendored Lua 5.4 and 5.5 (make)"
    else
        say "warning: cannot fetch lupa from PyPI; using a GENERATED C project instead"
        generate_c_project "$dl/gen"
        tar czf "$dl/gen.tar.gz" -C "$dl" gen
        TARBALL=$dl/gen.tar.gz
        SRC_NOTE="GENERATED C project (150 files; PyPI was unreachable) — not a real project"
    fi
}

generate_c_project() { # a make project of 150 C files
    local d=$1 i; mkdir -p "$d"
    for i in $(seq 1 150); do
        cat > "$d/f$i.c" <<EOF
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
static int tab$i[256];
int f$i(int x) { int s = 0; for (int k = 0; k < 256; k++) { tab$i[k] = (x * k) ^ $i; s += tab$i[k] % 7; } return s; }
EOF
    done
    { printf 'int main(void) { return 0; }\n'; } > "$d/main.c"
    {
        printf 'SRCS := $(wildcard *.c)\nOBJS := $(SRCS:.c=.o)\nCFLAGS ?= -O2\n'
        printf 'prog: $(OBJS)\n\t$(CC) -o $@ $(OBJS)\nclean:\n\trm -f *.o prog\n'
    } > "$d/Makefile"
}

# --- workloads -------------------------------------------------------------------------------
# Each workload is a script $WORK/wl/NAME.sh run as `RUNNER sh NAME.sh`; "outer" ones run
# outside and get the runner as arguments (start-up in parallel).
write_workloads() {
    local wl=$WORK/wl; mkdir -p "$wl"
    local n; n=$(nproc)
    echo 'exec true' > "$wl/startup.sh"
    echo 'seq 8 | xargs -P8 -I{} "$@" true' > "$wl/startup8.sh"
    # find exits 1 when some directory is unreadable to this user: that is not a failure
    echo "find /usr -type f -printf '%s\n' > /dev/null 2>&1 || [ \$? -eq 1 ]" > "$wl/find.sh"
    echo "find /usr/include -type f -printf '%s\n' > /dev/null 2>&1 || [ \$? -eq 1 ]" > "$wl/find-small.sh"
    echo "find /usr/include -name '*.h' -exec cat {} + > /dev/null" > "$wl/headers.sh"
    cp "$wl/find.sh" "$wl/find-cold.sh"
    if [ -n "$DROP_DIR" ]; then
        printf '%s\n' "echo drop > $DROP_DIR/request && read -r _ < $DROP_DIR/done" > "$wl/drop-caches.sh"
    fi
    cat > "$wl/untar.sh" <<EOF
set -e
mkdir $WORK/untar && tar xzf $TARBALL -C $WORK/untar && rm -rf $WORK/untar
EOF
    if [[ $TARBALL == */lupa-* ]]; then
        cat > "$wl/build.sh" <<EOF
set -e
for v in lua54 lua55; do
    make -s -C $WORK/build/\$v -j$n MYCFLAGS='-std=c99 -DLUA_USE_LINUX' MYLIBS=-ldl CWARNS= >/dev/null
done
EOF
        cat > "$wl/build-prepare.sh" <<EOF
rm -rf $WORK/build && mkdir -p $WORK/build &&
tar xzf $TARBALL -C $WORK/build --strip-components=2 lupa-$LUPA_VERSION/third-party/lua54 lupa-$LUPA_VERSION/third-party/lua55
EOF
    else
        echo "make -s -C $WORK/build/gen -j$n >/dev/null" > "$wl/build.sh"
        echo "rm -rf $WORK/build && mkdir -p $WORK/build && tar xzf $TARBALL -C $WORK/build" > "$wl/build-prepare.sh"
    fi
    if [ -n "$RUST_TOOLCHAIN" ] && [ -n "$RUST_SRC" ]; then
        printf '%s\n' "set -e" "cd $RUST_SRC" \
            "PATH=$RUST_TOOLCHAIN/bin:\$PATH CARGO_HOME=$WORK/cargo-home cargo build --offline --locked --quiet -j$n --target-dir $WORK/rust-target" \
            > "$wl/rust.sh"
    fi
}

declare -A LABEL=(
    [startup]='start-up: `true`'
    [startup8]='start-up ×8 in parallel (`xargs -P8`)'
    [find]='metadata walk: `find /usr -type f` (warm)'
    [find-cold]='metadata walk: `find /usr -type f` (cold: caches dropped before each run)'
    [find-small]='metadata walk: `find /usr/include -type f` (warm)'
    [headers]='small reads: `cat` all of /usr/include/**/*.h'
    [untar]='untar + `rm -rf` a source tarball'
    [build]="C build: \`make -j$(nproc)\`"
    [rust]="Rust build: \`cargo build --offline\` of fusebox (debug)"
)

declare -A MEDIAN   # [workload,runner] -> seconds
RESULT_ORDER=()

bench() { # bench NAME: hyperfine over the runners that work
    local name=$1 wl=$WORK/wl r cmd args=() used=()
    args=(--runs "$RUNS" --export-json "$WORK/$name.json" --style basic)
    case $name in
        find|find-small|headers) [ "$SMOKE" = 1 ] || args+=(--warmup 1) ;;
        find-cold) args+=(--prepare "sh $wl/drop-caches.sh") ;;
        untar) args+=(--prepare "rm -rf $WORK/untar") ;;
        build) args+=(--prepare "sh $wl/build-prepare.sh") ;;
        rust) args+=(--prepare "rm -rf $WORK/rust-target") ;;
    esac
    for r in "${RUNNERS[@]}"; do
        [ -n "${REASON[$r]:-}" ] && continue
        if [ "$name" = startup8 ]; then
            if [ "$r" = native ]; then cmd="sh $wl/startup8.sh"; else cmd="sh $wl/startup8.sh ${RUNNER[$r]}"; fi
        else
            cmd="${RUNNER[$r]} sh $wl/$name.sh"; cmd=${cmd# }
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

# Memory: peak RSS (VmHWM) and open fds of the fusebox-run processes (and of bindfs) while
# `find /usr` runs inside.
MEM_LINES=()
sample_tree() { # sample_tree PID OUTFILE: max VmHWM (kB) and max fd count over PID's tree, until PID exits
    local top=$1 out=$2 hwm=0 fds=0 p h f kids
    while kill -0 "$top" 2>/dev/null; do
        kids=$(pstree_pids "$top")
        for p in $kids; do
            case $(cat "/proc/$p/comm" 2>/dev/null) in fusebox*|bindfs) ;; *) continue ;; esac
            h=$(awk '/^VmHWM/{print $2}' "/proc/$p/status" 2>/dev/null) || h=0
            f=$(ls "/proc/$p/fd" 2>/dev/null | wc -l) || f=0
            [ "${h:-0}" -gt "$hwm" ] && hwm=$h
            [ "$f" -gt "$fds" ] && fds=$f
        done
        sleep 0.05
    done
    echo "$hwm $fds" > "$out"
}
pstree_pids() { # PID and all its descendants
    local p=$1 c
    echo "$p"
    for c in $(cat /proc/"$p"/task/*/children 2>/dev/null || true); do pstree_pids "$c"; done
}

memory() {
    local cmd="find /usr -type f -printf %s\n"
    if [ -z "${REASON[fusebox]:-}" ]; then
        say "memory: fusebox-run during find /usr"
        (cd "$WORK" && exec "$FUSEBOX" -- find /usr -type f -printf '%s\n' >/dev/null 2>&1 </dev/null) &
        local pid=$!
        sample_tree "$pid" "$WORK/mem.fusebox"
        wait "$pid" || true
        read -r h f < "$WORK/mem.fusebox"
        MEM_LINES+=("| fusebox-run (all its processes) | $((h / 1024)) MiB ($h kB) | $f |")
    else
        MEM_LINES+=("| fusebox-run | n/a (${REASON[fusebox]}) | n/a |")
    fi
    if [ -z "${REASON[bindfs]:-}" ]; then
        say "memory: bindfs during find /usr"
        (cd "$WORK" && ${RUNNER[bindfs]} find /usr -type f -printf '%s\n' >/dev/null 2>&1 </dev/null) &
        local pid=$! h0 hwm=0 fds=0 f
        while kill -0 "$pid" 2>/dev/null; do
            h0=$(awk '/^VmHWM/{print $2}' "/proc/$BINDFS_PID/status" 2>/dev/null) || h0=0
            f=$(ls "/proc/$BINDFS_PID/fd" 2>/dev/null | wc -l) || f=0
            [ "${h0:-0}" -gt "$hwm" ] && hwm=$h0
            [ "$f" -gt "$fds" ] && fds=$f
            sleep 0.05
        done
        wait "$pid" || true
        MEM_LINES+=("| bindfs (for comparison; its peak over the whole bench) | $((hwm / 1024)) MiB ($hwm kB) | $fds |")
    fi
    : "$cmd"
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
        [ -n "$SRC_NOTE" ] && echo "- sources: $SRC_NOTE"
        for r in "${RUNNERS[@]}"; do
            [ -n "${REASON[$r]:-}" ] && echo "- $r: n/a — ${REASON[$r]}"
        done
        echo
        echo "Median wall time (ratio to native):"
        echo
        echo "| workload | native | bwrap | fusebox | bindfs |"
        echo "|---|---|---|---|---|"
        local name
        for name in ${RESULT_ORDER[@]+"${RESULT_ORDER[@]}"}; do
            printf '| %s | %s | %s | %s | %s |\n' "${LABEL[$name]}" "$(fmt_cell "$name" native)" \
                "$(fmt_cell "$name" bwrap)" "$(fmt_cell "$name" fusebox)" "$(fmt_cell "$name" bindfs)"
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

run_benchmarks() {
    check_tools
    ensure_fusebox_binary
    trap cleanup EXIT
    trap 'exit 130' INT; trap 'exit 143' TERM; trap 'exit 129' HUP
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/fusebox-bench-work.XXXXXX")
    MNT=$WORK/mnt
    cd "$WORK"
    setup_runners
    if wanted untar || wanted build; then fetch_sources; fi
    if wanted rust && [ -z "$RUST_SRC" ] && prepare_rust_sources "$WORK/rust-src"; then
        RUST_SRC=$WORK/rust-src RUST_TOOLCHAIN=$(readlink -f "$(rustc --print sysroot)")
    fi
    write_workloads
    local w
    for w in startup startup8 find-small find find-cold headers untar build; do
        wanted "$w" || continue
        if [ "$w" = find-cold ] && [ -z "$DROP_DIR" ]; then
            say "note: find-cold needs the script started as root (to drop the caches): skipped"
            continue
        fi
        bench "$w"
    done
    if wanted rust; then
        if [ -f "$WORK/wl/rust.sh" ]; then bench rust; else say "note: no Rust toolchain or sources: rust skipped"; fi
    fi
    if wanted_any_package; then
        write_package_workloads
        for w in $(pkg_names); do
            wanted "pkg-$w" && bench_paired "pkg-$w" "${RUNNERS[@]}"
        done
        wanted pkg-loaded && bench_paired pkg-loaded native fusebox
    fi
    if wanted memory; then memory; fi
    report
}

parse_args "$@"
if [ "$(id -u)" = 0 ] && [ "$INNER" = 0 ]; then
    run_as_unprivileged_user
fi
[ "$(id -u)" = 0 ] && die "refusing to benchmark as root (root's capabilities hide rootless costs)"
run_benchmarks
