# shellcheck shell=bash
# Metadata walks and small reads for scripts/bench.sh (sourced; not run on its own): `find`
# over /usr/include (the smoke run's) and over /usr, warm and cold, and `cat` of every
# header in /usr/include.
#
# Cold means the kernel's page, dentry and inode caches dropped before each run, which only
# root can do: root starts a dropper (start_cache_dropper) that the benchmark user asks
# through two FIFOs (--drop-caches DIR); without it find-cold is skipped.

# shellcheck disable=SC2016 # backquotes of Markdown
walk_workloads() {
    local wl=$WORK/wl
    # find exits 1 when some directory is unreadable to this user: that is not a failure
    local find_usr="find /usr -type f -printf '%s\n' > /dev/null 2>&1 || [ \$? -eq 1 ]"
    if wanted find-small; then
        printf '%s\n' "find /usr/include -type f -printf '%s\n' > /dev/null 2>&1 || [ \$? -eq 1 ]" > "$wl/find-small.sh"
        hyperfine_row --warm find-small 'metadata walk: `find /usr/include -type f` (warm)'
    fi
    if wanted find; then
        printf '%s\n' "$find_usr" > "$wl/find.sh"
        hyperfine_row --warm find 'metadata walk: `find /usr -type f` (warm)'
    fi
    if wanted find-cold; then
        if [ -z "$DROP_DIR" ]; then
            say "note: find-cold needs the script started as root (to drop the caches): skipped"
        else
            printf '%s\n' "$find_usr" > "$wl/find-cold.sh"
            printf '%s\n' "echo drop > $DROP_DIR/request && read -r _ < $DROP_DIR/done" > "$wl/drop-caches.sh"
            hyperfine_row find-cold 'metadata walk: `find /usr -type f` (cold: caches dropped before each run)' \
                --prepare "sh $wl/drop-caches.sh"
        fi
    fi
    if wanted headers; then
        echo "find /usr/include -name '*.h' -exec cat {} + > /dev/null" > "$wl/headers.sh"
        hyperfine_row --warm headers 'small reads: `cat` all of /usr/include/**/*.h'
    fi
}

# Root: drops the page, dentry and inode caches each time the benchmark user writes a line
# to DIR/request, then answers on DIR/done (for find-cold's --prepare).
DROPPER_PID=
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

stop_cache_dropper() {
    if [ -n "$DROPPER_PID" ]; then kill -KILL "$DROPPER_PID" 2>/dev/null || true; fi
}
