#!/usr/bin/env bash
# What the test suite needs from the machine, in one place.
#
#   scripts/prereqs.sh            as root (Debian/Ubuntu): install what is missing and make
#                                 /dev/fuse and user namespaces usable, saying each step
#   scripts/prereqs.sh --check    as anyone: one line per prerequisite ("ok" or "FAIL …"),
#                                 then the one command that fixes what fails; exit 1 if any
#
# scripts/test.sh runs the first as root and the second otherwise, before building
# anything; .ci/run runs the first. FUSEBOX_DEV_FUSE and FUSEBOX_FUSERMOUNT3 point the
# FUSE checks elsewhere, as they do for `fusebox-run --check` (to test the diagnostics).
set -uo pipefail

# Debian packages, each with why (the line-up CI has always installed).
PACKAGES=(
    fuse3                # fusermount3, the setuid mount helper
    binutils             # as --32 and ld -m elf_i386, for the 32-bit process test
    autoconf automake make gcc libc6-dev  # the autotools build test
    iproute2             # `ip`, for --net none
    util-linux           # script, runuser, mountpoint
    procps               # pgrep, ps
    tar gzip coreutils findutils passwd
    hyperfine bubblewrap bindfs   # the benchmark's smoke run
    meson ninja-build python3 python3-pip bzip2 pax-utils busybox-static  # real Portage
    man-db zsh fish      # the generated man page and completions are checked to load
    shellcheck           # the bash hook Gentoo mode serves is checked
    git cargo            # the secrets tests' ordinary builds (git clone, cargo build) as the test user
    chromium poppler-utils python3-jsonschema  # the report tests: the HTML page in a real browser, the JSON schema
)

say() { printf '==> %s\n' "$*" >&2; }

# Commands the tests run, with the package that has each.
COMMANDS=(
    cargo:a-Rust-toolchain cc:gcc make:make autoconf:autoconf automake:automake python3:python3
    ip:iproute2 script:util-linux runuser:util-linux pgrep:procps man:man-db zsh:zsh fish:fish shellcheck:shellcheck
    meson:meson ninja:ninja-build bzip2:bzip2 scanelf:pax-utils git:git
    pdftotext:poppler-utils
)

dev_fuse() { printf '%s' "${FUSEBOX_DEV_FUSE:-/dev/fuse}"; }

fusermount3_path() {
    if [ -n "${FUSEBOX_FUSERMOUNT3+set}" ]; then
        [ -f "$FUSEBOX_FUSERMOUNT3" ] && printf '%s' "$FUSEBOX_FUSERMOUNT3"
        return
    fi
    command -v fusermount3 2>/dev/null && return
    for p in /usr/bin/fusermount3 /bin/fusermount3; do
        [ -f "$p" ] && { printf '%s' "$p"; return; }
    done
}

# --check: one line each, in fusebox-run --check's format; returns 1 if any fails.
check() {
    local failed=0 entry cmd pkg dev helper
    for entry in "${COMMANDS[@]}"; do
        cmd=${entry%%:*} pkg=${entry#*:}
        if command -v "$cmd" >/dev/null 2>&1; then
            printf 'ok    %s\n' "$cmd"
        else
            printf 'FAIL  %s: not found — fix: install %s\n' "$cmd" "${pkg//-/ }"
            failed=1
        fi
    done
    dev=$(dev_fuse)
    helper=$(fusermount3_path)
    if [ -r "$dev" ] && [ -w "$dev" ]; then
        printf 'ok    %s: readable and writable\n' "$dev"
    elif [ -n "$helper" ]; then
        printf 'ok    FUSE: %s is not usable, fusermount3 is (%s)\n' "$dev" "$helper"
    else
        printf 'FAIL  FUSE: %s is not readable and writable by you, and fusermount3 is not installed — fix: sudo chmod 0666 /dev/fuse, or install fuse3\n' "$dev"
        failed=1
    fi
    if [ "$failed" = 1 ]; then
        printf 'fix all of this at once (Debian/Ubuntu): sudo bash %s\n' "$0"
        printf '(or run the tests as root: sudo bash scripts/test.sh installs it first, then tests as an unprivileged user)\n'
    fi
    return "$failed"
}

install() {
    [ "$(id -u)" = 0 ] || { echo "prereqs.sh: installing needs root: sudo bash $0" >&2; exit 1; }
    command -v apt-get >/dev/null || {
        echo "prereqs.sh: no apt-get: install these packages (Debian names) yourself: ${PACKAGES[*]}" >&2
        exit 1
    }
    export DEBIAN_FRONTEND=noninteractive
    local missing=() p
    for p in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    if [ ${#missing[@]} -ne 0 ]; then
        say "installing: ${missing[*]}"
        apt-get update -q || exit 1
        apt-get install -y -q --no-install-recommends "${missing[@]}" || exit 1
    else
        say "packages: all installed"
    fi
    if [ ! -e /dev/fuse ]; then
        say "creating /dev/fuse (mknod c 10 229)"
        mknod -m 0666 /dev/fuse c 10 229
    fi
    if [ "$(stat -c %a /dev/fuse)" != 666 ]; then
        say "chmod 0666 /dev/fuse (as udev does on desktop distros)"
        chmod 0666 /dev/fuse
    fi
    # Unprivileged user namespaces, where the kernel has these knobs.
    if [ -e /proc/sys/kernel/unprivileged_userns_clone ] \
        && [ "$(cat /proc/sys/kernel/unprivileged_userns_clone)" != 1 ]; then
        say "sysctl kernel.unprivileged_userns_clone=1"
        sysctl -q -w kernel.unprivileged_userns_clone=1 || true
    fi
    if [ -e /proc/sys/kernel/apparmor_restrict_unprivileged_userns ] \
        && [ "$(cat /proc/sys/kernel/apparmor_restrict_unprivileged_userns)" != 0 ]; then
        say "sysctl kernel.apparmor_restrict_unprivileged_userns=0"
        sysctl -q -w kernel.apparmor_restrict_unprivileged_userns=0 || true
    fi
}

case "${1:-}" in
    --check) check ;;
    "") install ;;
    *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac
