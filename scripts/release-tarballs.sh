#!/usr/bin/env bash
# The two release files the Gentoo ebuild (packaging/gentoo) builds from, offline:
#
#   OUTDIR/fusebox-VERSION.tar.gz         `git archive` of REF (default HEAD), under fusebox-VERSION/
#   OUTDIR/fusebox-VERSION-crates.tar.gz  vendor/: every crate of Cargo.lock (`cargo vendor`),
#                                         taken from cargo's local cache when it has them
#
#   scripts/release-tarballs.sh OUTDIR [REF]
#
# Prints the two paths. VERSION is Cargo.toml's. Nothing here is committed: the crates
# come from crates.io (or the local cache), the source from git.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: release-tarballs.sh OUTDIR [REF]}
ref=${2:-HEAD}
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
[ -n "$version" ] || { echo "release-tarballs.sh: no version in Cargo.toml" >&2; exit 1; }
mkdir -p "$out"
out=$(cd "$out" && pwd)
p=fusebox-$version

git archive --format=tar.gz --prefix="$p/" -o "$out/$p.tar.gz" "$ref"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Offline first (the crates of a project that builds here are in cargo's cache); online
# only when some are missing.
cargo vendor --locked --offline "$work/vendor" >/dev/null 2>"$work/err" \
    || cargo vendor --locked "$work/vendor" >/dev/null 2>"$work/err" \
    || { cat "$work/err" >&2; exit 1; }
tar -C "$work" -czf "$out/$p-crates.tar.gz" vendor
echo "$out/$p.tar.gz"
echo "$out/$p-crates.tar.gz"
