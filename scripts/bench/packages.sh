# Real package builds for scripts/bench.sh (sourced; not run on its own).
#
# Each package is an upstream source tarball from Debian (the .orig tarball of `apt-get
# source`), built the way a distribution builds it: configure (autotools, meson or the
# package's own script), build with -j$(nproc), then the package's own test suite. The
# ways are run paired: run i takes native, bwrap, fusebox and bindfs in a rotated order,
# each from a freshly unpacked tree, so drift on the machine hits every way alike.
#
# The fusebox runs write `--stats`: the FUSE requests by opcode and the daemon's CPU time,
# printed for each package below the timings.

# name  Debian source package  build system  [configure options]
# Configure-heavy (hello, gzip: gnulib's hundreds of checks, gzip's shell tests) and
# compile-heavy (pcre2, zlib) ones, and a meson build (fribidi). Native times on this
# 2-core VM, quiet: 10 s to 60 s each.
PACKAGES=(
    "hello hello autotools"
    "gzip gzip autotools"
    "zlib zlib zlib"
    "pcre2 pcre2 autotools"
    "fribidi fribidi meson -Ddocs=false"
)
# The package rebuilt under load: the same build while a CPU-bound job runs beside it.
LOADED_PACKAGE=zlib
PKG_CACHE=${FUSEBOX_BENCH_SRC:-/var/cache/fusebox-bench-src}

pkg_names() { local p; for p in "${PACKAGES[@]}"; do echo "${p%% *}"; done; }
pkg_field() { # pkg_field NAME N: field N (1-based) of NAME's line; N+ for N to the end
    local p; for p in "${PACKAGES[@]}"; do
        [ "${p%% *}" = "$1" ] || continue
        case $2 in
            *+) echo "$p" | cut -d' ' -f"${2%+}"- -s ;;
            *) echo "$p" | cut -d' ' -f"$2" ;;
        esac
        return
    done
}

# Root: enable Debian's source lists (once) and download each package's source into
# $PKG_CACHE; only the upstream .orig tarball is used.
fetch_package_sources_as_root() {
    mkdir -p "$PKG_CACHE"
    local list=/etc/apt/sources.list.d/fusebox-bench-src.sources name src
    if ! apt-cache showsrc hello >/dev/null 2>&1 || [ -z "$(apt-cache showsrc hello 2>/dev/null)" ]; then
        if [ ! -f "$list" ] && [ -r /etc/os-release ]; then
            local codename; codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
            say "enabling Debian's source packages ($list)"
            printf '%s\n' "Types: deb-src" "URIs: http://deb.debian.org/debian" \
                "Suites: $codename" "Components: main" \
                "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg" > "$list"
        fi
        apt-get update -q >/dev/null 2>&1 || say "warning: apt-get update failed"
    fi
    for name in $(pkg_names); do
        src=$(pkg_field "$name" 2)
        compgen -G "$PKG_CACHE/${src}_*.orig.tar.*" >/dev/null && continue
        say "apt-get source --download-only $src"
        (cd "$PKG_CACHE" && apt-get source -q --download-only "$src" >/dev/null 2>&1) || true
        compgen -G "$PKG_CACHE/${src}_*.orig.tar.*" >/dev/null ||
            say "warning: no source tarball for $src: its row will be skipped"
    done
    chmod -R a+rX "$PKG_CACHE"
}

pkg_tarball() { # the .orig tarball of package NAME, or nothing
    local src; src=$(pkg_field "$1" 2)
    compgen -G "$PKG_CACHE/${src}_*.orig.tar.*" | grep -v '\.asc$' | head -n 1
}

# The workload scripts: NAME-prepare.sh unpacks a fresh tree, NAME.sh configures, builds
# and tests it (run inside each way).
write_package_workloads() {
    local wl=$WORK/wl n name tarball
    n=$(nproc)
    for name in $(pkg_names); do
        tarball=$(pkg_tarball "$name")
        [ -n "$tarball" ] || continue
        local tree=$WORK/pkg/$name
        printf '%s\n' "rm -rf $tree && mkdir -p $tree && tar xf $tarball -C $tree --strip-components=1" \
            > "$wl/pkg-$name-prepare.sh"
        {
            echo "set -e"
            echo "cd $tree"
            case $(pkg_field "$name" 3) in
                autotools) echo "./configure -q >/dev/null"
                           echo "make -s -j$n >/dev/null 2>&1"
                           echo "make -s -j$n check >/dev/null 2>&1" ;;
                zlib)      echo "./configure >/dev/null"
                           echo "make -s -j$n >/dev/null 2>&1"
                           echo "make -s test >/dev/null 2>&1" ;;
                meson)     echo "meson setup build $(pkg_field "$name" 4+) >/dev/null"
                           echo "ninja -C build -j$n >/dev/null"
                           echo "meson test -C build --num-processes $n >/dev/null" ;;
            esac
        } > "$wl/pkg-$name.sh"
        LABEL[pkg-$name]="$(basename "$tarball"): configure, build, test"
    done
    LABEL[pkg-loaded]="$LOADED_PACKAGE, with a CPU-bound job beside it"
}

now_ns() { date +%s%N; }

# bench_paired NAME [RUNNER...]: RUNS rounds; in round i the runners start at index i, each
# timed from a fresh tree. Medians into MEDIAN; the fusebox runs' --stats into $WORK.
bench_paired() {
    local name=$1; shift
    local runners=("$@") wl=$WORK/wl script=$name i k r t0 t1
    [ "$name" = pkg-loaded ] && script=pkg-$LOADED_PACKAGE
    [ -f "$wl/$script.sh" ] || { say "note: $name: no sources, skipped"; return; }
    local usable=()
    for r in "${runners[@]}"; do [ -z "${REASON[$r]:-}" ] && usable+=("$r"); done
    say "workload $name (paired, $RUNS rounds): ${usable[*]}"
    declare -A times=()
    for ((i = 0; i < RUNS; i++)); do
        for ((k = 0; k < ${#usable[@]}; k++)); do
            r=${usable[$(((i + k) % ${#usable[@]}))]}
            sh "$wl/$script-prepare.sh"
            local prefix=${RUNNER[$r]}
            [ "$r" = fusebox ] && prefix="$FUSEBOX --stats $WORK/stats-$name.json --"
            local hog=
            if [ "$name" = pkg-loaded ]; then
                sh -c 'while :; do :; done' & hog=$!
            fi
            t0=$(now_ns)
            if ! (cd "$WORK" && $prefix sh "$wl/$script.sh" </dev/null >/dev/null 2>&1); then
                times[$r]+="failed "
            else
                t1=$(now_ns)
                times[$r]+="$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", (b-a)/1e9}') "
            fi
            [ -n "$hog" ] && { kill "$hog"; wait "$hog" 2>/dev/null || true; }
        done
    done
    for r in "${usable[@]}"; do
        say "  $name $r: ${times[$r]}"
        MEDIAN[$name,$r]=$(median ${times[$r]})
    done
    RESULT_ORDER+=("$name")
    [ -f "$WORK/stats-$name.json" ] && STATS_ORDER+=("$name")
}

median() { # median of the numbers given; "failed" if any run failed
    case " $* " in *" failed "*) echo failed; return ;; esac
    printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END{if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'
}

# The requests the last fusebox run of each package made, most frequent first, and the
# daemon's CPU time (from --stats), as Markdown.
STATS_ORDER=()
stats_report() {
    [ ${#STATS_ORDER[@]} -eq 0 ] && return
    echo
    echo "FUSE requests of one fusebox run (\`--stats\`), and fusebox-run's own CPU time:"
    echo
    echo "| workload | requests | by opcode (most first) | daemon CPU user + sys |"
    echo "|---|---|---|---|"
    local name json
    for name in "${STATS_ORDER[@]}"; do
        json=$(cat "$WORK/stats-$name.json")
        printf '| %s | %s | %s | %s |\n' "$name" \
            "$(printf '%s' "$json" | sed -n 's/.*"total":\([0-9]*\).*/\1/p')" \
            "$(printf '%s' "$json" | sed 's/^{"requests":{\([^}]*\)}.*/\1/' | tr ',' '\n' |
                tr -d '"' | sort -t: -k2 -rn | head -n 8 | tr '\n' ' ' | sed 's/ $//; s/ /, /g')" \
            "$(printf '%s' "$json" | sed -n 's/.*"user":\([0-9.]*\),"system":\([0-9.]*\).*/\1 s + \2 s/p')"
    done
}
