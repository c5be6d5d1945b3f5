# shellcheck shell=bash
# Real package builds for scripts/bench.sh (sourced; not run on its own).
#
# Each package is an upstream source tarball from Debian (the .orig tarball of `apt-get
# source`, which root downloads), built the way a distribution builds it: configure
# (autotools, meson or the package's own script), build with -j$(nproc), then the
# package's own test suite. The ways are run paired (the driver's paired_row): run i takes
# native, bwrap, fusebox and bindfs in a rotated order, each from a freshly unpacked tree,
# so drift on the machine hits every way alike; the fusebox runs' `--stats` are printed
# below the timings. pkg-loaded is one package again, natively and under fusebox, with a
# CPU-bound job beside it.

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

pkg_tarball() { # the .orig tarball of package NAME, or nothing (no failure: its row is skipped)
    local src; src=$(pkg_field "$1" 2)
    compgen -G "$PKG_CACHE/${src}_*.orig.tar.*" | grep -v '\.asc$' | head -n 1 || true
}

wanted_any_package() {
    local name
    for name in $(pkg_names) loaded; do wanted "pkg-$name" && return 0; done
    return 1
}

package_workloads() {
    wanted_any_package || return 0
    write_package_workloads
    local name
    for name in $(pkg_names); do
        wanted "pkg-$name" || continue
        if [ -f "$WORK/wl/pkg-$name.sh" ]; then
            paired_row "pkg-$name" "$(basename "$(pkg_tarball "$name")"): configure, build, test" \
                "pkg-$name" "${RUNNERS[@]}"
        else
            say "note: pkg-$name: skipped (no sources, or no meson)"
        fi
    done
    wanted pkg-loaded || return 0
    if [ -f "$WORK/wl/pkg-$LOADED_PACKAGE.sh" ]; then
        paired_row --beside 'while :; do :; done' pkg-loaded \
            "$LOADED_PACKAGE, with a CPU-bound job beside it" "pkg-$LOADED_PACKAGE" native fusebox
    else
        say "note: pkg-loaded: no sources, skipped"
    fi
}

# The workload scripts: pkg-NAME-prepare.sh unpacks a fresh tree, pkg-NAME.sh configures,
# builds and tests it (run inside each way).
write_package_workloads() {
    local wl=$WORK/wl n name tarball
    n=$(nproc)
    for name in $(pkg_names); do
        tarball=$(pkg_tarball "$name")
        [ -n "$tarball" ] || continue
        if [ "$(pkg_field "$name" 3)" = meson ] && ! command -v meson >/dev/null; then
            say "note: pkg-$name needs meson and ninja (sudo apt-get install -y meson ninja-build): skipped"
            continue
        fi
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
    done
}
