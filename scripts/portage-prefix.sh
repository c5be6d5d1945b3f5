#!/usr/bin/env bash
# Installs real Portage into a Gentoo-Prefix-style directory PREFIX as an unprivileged
# user, with a tiny repository of its own, and builds one ebuild with it: first without
# a sandbox, then under a fake `sandbox` that records how Portage calls it, or under
# fusebox. Reconnaissance for fusebox's Gentoo mode (docs/portage-notes.md), and a
# manual check of it; the e2e tests (tests/e2e/portage.rs) use its --install-only mode.
#
#   scripts/portage-prefix.sh [--sandbox fake|fusebox|none] PREFIX
#   scripts/portage-prefix.sh --install-only PREFIX
#   scripts/portage-prefix.sh --download-only DIR
#
# --install-only     install Portage, PREFIX/bin/{bash,mv} and the repository (below,
#                    with its profile, eclass, app-misc/foo and bar), then stop: no
#                    make.conf, no build. The last line printed is
#                    `PYTHONPATH=DIR`, what `python3 PREFIX/usr/bin/ebuild` needs.
# --download-only    download Portage's sdist into DIR (if not there yet) and print
#                    its path; the only mode that may run as root (CI downloads once,
#                    then hands the file to its test user).
# --sandbox none     FEATURES="-sandbox -usersandbox": Portage alone.
# --sandbox fake     (default) also a second run with FEATURES=sandbox under
#                    PREFIX/usr/bin/sandbox, a bash script that logs its argv, cwd and
#                    environment to PREFIX/var/log/fake-sandbox/CALL.txt, then runs
#                    `bash -c "$*"` as Gentoo's sandbox would.
# --sandbox fusebox  the second run under fusebox itself: PREFIX/usr/bin/sandbox is a
#                    link to $FUSEBOX (default: target/debug/fusebox-run of this checkout);
#                    it must leave an empty sandbox log. Then a second ebuild, bar-1,
#                    whose src_compile writes outside PORTAGE_TMPDIR (by a shell
#                    redirection and by touch): that phase must fail, with both writes
#                    in its ${T}/sandbox.log.
#
# Needs python3 with pip, meson, ninja, a C compiler, bash and coreutils (Debian:
# apt-get install meson ninja-build python3-pip gcc). Reaches PyPI only (to download
# Portage's sdist into ~/.cache/fusebox-portage; set PORTAGE_SDIST=FILE to use one
# already downloaded). Run it as an unprivileged user: Portage behaves differently as
# root (userpriv, chown to portage).
set -euo pipefail

PORTAGE_VERSION=${PORTAGE_VERSION:-3.0.83}
mode=fake
if [ "${1:-}" = --sandbox ]; then
    mode=${2:?--sandbox needs fake, fusebox or none}
    shift 2
    case $mode in fake | fusebox | none) ;; *) mode="--sandbox $mode" ;; esac
elif [ "${1:-}" = --install-only ] || [ "${1:-}" = --download-only ]; then
    mode=${1#--}
    shift
fi
case $mode in fake | fusebox | none | install-only | download-only) ;; *)
    echo "portage-prefix.sh: $mode: use fake, fusebox or none" >&2
    exit 2
    ;;
esac
[ $# -eq 1 ] || {
    echo "usage: portage-prefix.sh [--sandbox fake|fusebox|none | --install-only] PREFIX" >&2
    echo "       portage-prefix.sh --download-only DIR" >&2
    exit 2
}
if [ "$(id -u)" = 0 ] && [ "$mode" != download-only ]; then
    echo "portage-prefix.sh: run this as an unprivileged user (e.g. runuser -u USER --)" >&2
    exit 2
fi
here=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$1"
P=$(cd "$1" && pwd)
say() { printf '\n=== %s\n' "$*"; }

# --- 1. Portage's sdist, from PyPI --------------------------------------------------
# `pip download --no-binary :all:` would also build Portage's build dependencies
# (meson-python, meson) from source just to read its metadata; `--no-binary portage`
# keeps the sdist for Portage alone and lets pip use wheels for the build backend.
# pip checks the file against the hash PyPI's index gives; a failed download (the
# network) is tried again, three times in all.
cache=${XDG_CACHE_HOME:-$HOME/.cache}/fusebox-portage
[ "$mode" = download-only ] && cache=$P
mkdir -p "$cache"
sdist=${PORTAGE_SDIST:-$cache/portage-$PORTAGE_VERSION.tar.gz}
if [ ! -f "$sdist" ]; then
    [ -z "${PORTAGE_SDIST:-}" ] || {
        echo "portage-prefix.sh: PORTAGE_SDIST=$sdist: no such file" >&2
        exit 1
    }
    say "downloading portage==$PORTAGE_VERSION (sdist) from PyPI"
    for try in 1 2 3; do
        python3 -m pip download --quiet --no-deps --no-binary portage \
            "portage==$PORTAGE_VERSION" -d "$cache" && break
        [ "$try" = 3 ] && exit 1
        echo "portage-prefix.sh: pip download failed; again in $((try * 10)) s" >&2
        sleep $((try * 10))
    done
    [ -f "$sdist" ] || {
        echo "portage-prefix.sh: pip saved no $sdist" >&2
        exit 1
    }
fi
if [ "$mode" = download-only ]; then
    echo "$sdist"
    exit 0
fi

# --- 2. Install it Prefix-style with meson --------------------------------------------
# No DESTDIR is needed: with --prefix=$P/usr and -Deprefix=$P every path Portage bakes
# in (const.py's EPREFIX, PORTAGE_BASE_PATH, make.globals) is already under $P.
# The source and build trees are the call's own (several installs may run at once);
# meson's output is shown only when it fails.
if [ ! -x "$P/usr/bin/ebuild" ]; then
    say "installing Portage into $P"
    work=$(mktemp -d "${TMPDIR:-/tmp}/portage-prefix.XXXXXX")
    trap 'rm -rf "$work"' EXIT
    tar -xzf "$sdist" -C "$work"
    src=$work/portage-$PORTAGE_VERSION
    quiet() { # LOG COMMAND...
        "${@:2}" >"$work/$1" 2>&1 || {
            cat "$work/$1" >&2
            echo "portage-prefix.sh: failed: ${*:2}" >&2
            exit 1
        }
    }
    quiet meson-setup.log meson setup "$work/build" "$src" --prefix="$P/usr" \
        --sysconfdir="$P/etc" -Deprefix="$P" -Dsystem-wide=true \
        -Dnative-extensions=false -Ddoc=false
    quiet meson-install.log meson install -C "$work/build"
fi
# Where meson put the Python package depends on the interpreter's scheme (Debian:
# lib/python3/dist-packages); Portage's scripts import it from PYTHONPATH.
site=$(dirname "$(find "$P/usr/lib" -path '*/portage/__init__.py' -print -quit)")
export PYTHONPATH=$(dirname "$site")

# Portage runs ${EPREFIX}/bin/bash and ${EPREFIX}/bin/mv (const.py).
mkdir -p "$P/bin"
ln -sfn "$(command -v bash)" "$P/bin/bash"
ln -sfn "$(command -v mv)" "$P/bin/mv"
# Its unpack runs gtar (from PATH: a Prefix has ${EPREFIX}/bin on it), which Gentoo's
# app-arch/tar provides: GNU tar under that name.
ln -sfn "$(command -v tar)" "$P/bin/gtar"

# --- 3. A tiny repository: a profile, an eclass, one ebuild ---------------------------
repo=$P/var/db/repos/fbtest
mkdir -p "$repo"/{profiles/default,metadata,eclass,app-misc/foo}
echo fbtest >"$repo/profiles/repo_name"
echo app-misc >"$repo/profiles/categories"
echo 8 >"$repo/profiles/eapi"
echo 8 >"$repo/profiles/default/eapi"
cat >"$repo/metadata/layout.conf" <<'EOF'
masters =
thin-manifests = true
use-manifests = false
cache-formats =
EOF
arch=amd64
case $(uname -m) in aarch64) arch=arm64 ;; esac
cat >"$repo/profiles/default/make.defaults" <<EOF
ARCH="$arch"
ACCEPT_KEYWORDS="$arch ~$arch"
CHOST="$(gcc -dumpmachine 2>/dev/null || echo x86_64-pc-linux-gnu)"
CFLAGS="-O2"
ELIBC="glibc"
KERNEL="linux"
USERLAND="GNU"
IUSE_IMPLICIT="prefix prefix-guest"
USE_EXPAND_IMPLICIT="ARCH ELIBC KERNEL USERLAND"
USE_EXPAND_VALUES_ARCH="$arch"
USE_EXPAND_VALUES_ELIBC="glibc"
USE_EXPAND_VALUES_KERNEL="linux"
USE_EXPAND_VALUES_USERLAND="GNU"
EOF
cat >"$repo/eclass/fbtest.eclass" <<'EOF'
# @ECLASS: fbtest.eclass
# @BLURB: one helper, to see eclasses load
fbtest_greeting() { echo "hello from ${PN}"; }
EOF
cat >"$repo/app-misc/foo/foo-1.ebuild" <<'EOF'
EAPI=8
inherit fbtest
DESCRIPTION="fusebox's test package: a C program built and installed"
HOMEPAGE="https://example.invalid/"
LICENSE="MIT"
SLOT="0"
KEYWORDS="~amd64 ~arm64"
S=${WORKDIR}

src_unpack() {
	printf '#include <stdio.h>\nint main(void) { puts("%s"); return 0; }\n' \
		"$(fbtest_greeting)" > foo.c || die
}

src_compile() {
	${CC:-cc} ${CFLAGS} -o foo foo.c || die
	# has_version asks Portage over its IPC FIFOs (${PORTAGE_BUILDDIR}/.ipc).
	if has_version app-misc/foo; then einfo "has_version: yes"; else einfo "has_version: no"; fi
}

src_install() {
	dobin foo
}
EOF
mkdir -p "$repo/app-misc/bar" "$P/var/fusebox-outside"
cat >"$repo/app-misc/bar/bar-1.ebuild" <<'EOF'
EAPI=8
DESCRIPTION="fusebox's test package: src_compile writes outside PORTAGE_TMPDIR"
HOMEPAGE="https://example.invalid/"
LICENSE="MIT"
SLOT="0"
KEYWORDS="~amd64 ~arm64"
S=${WORKDIR}

src_compile() {
	# Both are violations: one by the ebuild's shell itself, one by a program.
	echo x > "${EPREFIX}/var/fusebox-outside/by-redirect"
	touch "${EPREFIX}/var/fusebox-outside/by-touch"
	einfo "src_compile went on after the refused writes"
}
EOF

# --- 4. make.conf and the profile link -----------------------------------------------
mkdir -p "$P/etc/portage" "$P/var/tmp" "$P/var/cache/distfiles" "$P/var/log/fake-sandbox"
ln -sfn "$repo/profiles/default" "$P/etc/portage/make.profile"
if [ "$mode" = install-only ]; then
    echo "PYTHONPATH=$PYTHONPATH"
    exit 0
fi
write_make_conf() { # FEATURES
    cat >"$P/etc/portage/make.conf" <<EOF
FEATURES="$1 -userpriv -usersync -userfetch -ipc-sandbox -network-sandbox -pid-sandbox -mount-sandbox -news"
PORTAGE_USERNAME="$(id -un)"
PORTAGE_GRPNAME="$(id -gn)"
PORTAGE_TMPDIR="$P/var/tmp"
DISTDIR="$P/var/cache/distfiles"
PKGDIR="$P/var/cache/binpkgs"
PORTAGE_LOGDIR=""
# A probe: does a variable set here reach the sandbox? (It does not: see
# docs/portage-notes.md.)
FUSEBOX_OPTS="--net none"
EOF
}
export PORTAGE_REPOSITORIES="
[DEFAULT]
main-repo = fbtest
[fbtest]
location = $repo
"
ebuild=$repo/app-misc/foo/foo-1.ebuild

run_ebuild() {
    python3 "$P/usr/bin/ebuild" "$ebuild" clean install
    find "$P/var/tmp/portage/app-misc/foo-1/image" -type f
}

# --- 5. Without a sandbox ------------------------------------------------------------
say "ebuild foo-1 clean install, FEATURES=\"-sandbox -usersandbox\""
write_make_conf "-sandbox -usersandbox"
run_ebuild
[ "$mode" = none ] && exit 0

# --- 6. Under a sandbox ---------------------------------------------------------------
case $mode in
fake)
    rm -f "$P/usr/bin/sandbox"
    cat >"$P/usr/bin/sandbox" <<EOF
#!$(command -v bash)
# A stand-in for Gentoo's sandbox: records the call, then runs it as sandbox would.
log=$P/var/log/fake-sandbox
n=\$(( \$(ls "\$log" | wc -l) + 1 ))
{
    echo "argc: \$#"
    for a in "\$@"; do printf 'argv: %q\n' "\$a"; done
    echo "cwd: \$PWD"
    echo "umask: \$(umask)"
    for fd in /proc/\$\$/fd/*; do echo "fd \${fd##*/}: \$(readlink "\$fd")"; done | grep -v "^fd 1:"
    echo "ppid-cmdline: \$(tr '\\0' ' ' < /proc/\$PPID/cmdline)"
    echo "--- environment"
    env -0 | sort -z | tr '\\0' '\\n'
} > "\$log/call-\$(printf %02d \$n).txt"
if [ "\$1" = --version ]; then echo "fake Gentoo path sandbox"; exit 0; fi
exec $(command -v bash) -c "\$*"
EOF
    chmod +x "$P/usr/bin/sandbox"
    rm -f "$P/var/log/fake-sandbox"/*
    ;;
fusebox)
    fusebox=${FUSEBOX:-$here/target/debug/fusebox-run}
    [ -x "$fusebox" ] || {
        echo "portage-prefix.sh: $fusebox: not built (cargo build, or set FUSEBOX)" >&2
        exit 1
    }
    ln -sfn "$fusebox" "$P/usr/bin/sandbox"
    # fusebox follows ebuild.sh's own `addwrite "${PORTAGE_TMPDIR}/portage"` now; the
    # stopgap earlier versions of this script wrote (that path granted at launch) goes.
    stopgap=$P/etc/sandbox.d/50fusebox
    if [ -f "$stopgap" ] && [ "$(cat "$stopgap")" = "FUSEBOX_OPTS=\"--write $P/var/tmp/portage\"" ]; then
        rm -f "$stopgap"
    fi
    ;;
esac
say "ebuild foo-1 clean install, FEATURES=\"sandbox\" ($mode)"
write_make_conf "sandbox -usersandbox"
run_ebuild
if [ "$mode" = fake ]; then
    say "the fake sandbox was called $(ls "$P/var/log/fake-sandbox" | wc -l) times:"
    grep -h '^argv:' "$P/var/log/fake-sandbox"/call-*.txt
    exit 0
fi
if [ -s "$P/var/tmp/portage/app-misc/foo-1/temp/sandbox.log" ]; then
    echo "portage-prefix.sh: foo-1 left a sandbox log" >&2
    exit 1
fi

# --- 7. An ebuild that writes outside PORTAGE_TMPDIR must fail ------------------------
say "ebuild bar-1 clean compile, writing outside PORTAGE_TMPDIR: must fail"
rm -f "$P/var/fusebox-outside"/*
bar_log=$P/var/tmp/portage/app-misc/bar-1/temp/sandbox.log
if python3 "$P/usr/bin/ebuild" "$repo/app-misc/bar/bar-1.ebuild" clean compile; then
    echo "portage-prefix.sh: bar-1 built despite its writes outside" >&2
    exit 1
fi
say "bar-1 failed, as it must; its sandbox.log:"
cat "$bar_log"
for file in by-redirect by-touch; do
    if ! grep -qx "P: $P/var/fusebox-outside/$file" "$bar_log"; then
        echo "portage-prefix.sh: $file is not in $bar_log" >&2
        exit 1
    fi
    if [ -e "$P/var/fusebox-outside/$file" ]; then
        echo "portage-prefix.sh: $file was written" >&2
        exit 1
    fi
done
say "fusebox: foo-1 installed with an empty sandbox log; bar-1 refused and logged"
