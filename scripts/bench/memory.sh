# shellcheck shell=bash
# Memory for scripts/bench.sh (sourced; not run on its own): the peak RSS (VmHWM) and the
# most open fds of fusebox-run's processes, and of bindfs, while `find /usr` runs inside;
# rows of the report's memory table (MEM_LINES).

memory_workload() {
    wanted memory || return 0
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
            f=$(fd_count "$BINDFS_PID") || f=0
            [ "${h0:-0}" -gt "$hwm" ] && hwm=$h0
            [ "$f" -gt "$fds" ] && fds=$f
            sleep 0.05
        done
        wait "$pid" || true
        MEM_LINES+=("| bindfs (for comparison; its peak over the whole bench) | $((hwm / 1024)) MiB ($hwm kB) | $fds |")
    fi
}

sample_tree() { # sample_tree PID OUTFILE: max VmHWM (kB) and max fd count over PID's tree, until PID exits
    local top=$1 out=$2 hwm=0 fds=0 p h f kids
    while kill -0 "$top" 2>/dev/null; do
        kids=$(pstree_pids "$top")
        for p in $kids; do
            case $(cat "/proc/$p/comm" 2>/dev/null) in fusebox*|bindfs) ;; *) continue ;; esac
            h=$(awk '/^VmHWM/{print $2}' "/proc/$p/status" 2>/dev/null) || h=0
            f=$(fd_count "$p") || f=0
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

fd_count() { # the open fds of PID; fails when it is gone
    find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l
}
