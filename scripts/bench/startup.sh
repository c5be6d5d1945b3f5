# shellcheck shell=bash
# Start-up workloads for scripts/bench.sh (sourced; not run on its own): what entering each
# way costs, for `true` once and for 8 at a time (xargs -P8 runs outside and starts the
# way itself, given as the script's arguments).

# shellcheck disable=SC2016 # backquotes of Markdown; "$@" is for the workload's own sh
startup_workloads() {
    local wl=$WORK/wl
    if wanted startup; then
        echo 'exec true' > "$wl/startup.sh"
        hyperfine_row startup 'start-up: `true`'
    fi
    if wanted startup8; then
        echo 'seq 8 | xargs -P8 -I{} "$@" true' > "$wl/startup8.sh"
        hyperfine_row --outer startup8 'start-up ×8 in parallel (`xargs -P8`)'
    fi
}
