#!/usr/bin/env bash
# The man page and shell completions, generated from fusebox-run's own option
# definitions (clap_mangen, clap_complete) by its hidden `--generate` option.
#
#   scripts/gen-docs.sh [BIN]            write them into docs/ (commit the result)
#   scripts/gen-docs.sh --out DIR [BIN]  write them into DIR (packagers: see below)
#   scripts/gen-docs.sh --check [BIN]    check that docs/ is current and that each file
#                                        loads: `man -l` renders the page without
#                                        warnings, bash/zsh/fish load their completion
#
# BIN defaults to target/<host>/release/fusebox-run (built if missing). Files: DIR/man/fusebox-run.1,
# DIR/completions/{fusebox-run.bash,_fusebox-run,fusebox-run.fish}. Packagers can equally
# run `fusebox-run --generate man|bash|zsh|fish > FILE` with the binary they built.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=write
out=docs
case "${1:-}" in
    --check) mode=check; shift ;;
    --out) out=${2:?--out needs a directory}; shift 2 ;;
esac
# shellcheck source=scripts/lib/build.sh
. scripts/lib/build.sh
BIN=${1:-$(release_bin)}
if [ ! -x "$BIN" ]; then
    cargo build --release --quiet
fi

generate() { # DIR
    mkdir -p "$1/man" "$1/completions"
    "$BIN" --generate man > "$1/man/fusebox-run.1"
    "$BIN" --generate bash > "$1/completions/fusebox-run.bash"
    "$BIN" --generate zsh > "$1/completions/_fusebox-run"
    "$BIN" --generate fish > "$1/completions/fusebox-run.fish"
}

if [ "$mode" = write ]; then
    generate "$out"
    echo "gen-docs.sh: wrote $out/man and $out/completions"
    exit 0
fi

fail=0
bad() { echo "gen-docs.sh: $*" >&2; fail=1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
generate "$tmp"
for f in man/fusebox-run.1 completions/fusebox-run.bash completions/_fusebox-run completions/fusebox-run.fish; do
    if ! cmp -s "$tmp/$f" "docs/$f"; then
        bad "docs/$f is not what fusebox-run generates: run scripts/gen-docs.sh and commit"
    fi
done

# The page renders, without warnings from groff, and shows its own sections.
page=$(MANWIDTH=80 man --warnings -l "$tmp/man/fusebox-run.1" 2>"$tmp/man.err") \
    || bad "man -l fails: $(cat "$tmp/man.err")"
[ -s "$tmp/man.err" ] && bad "man -l warns: $(cat "$tmp/man.err")"
for section in OPTIONS "EXIT STATUS" POLICY ENVIRONMENT "/dev/fusebox" "--no-default-write"; do
    grep -q -- "$section" <<< "$page" || bad "the man page has no \"$section\""
done

# Each completion loads in its shell and completes an option.
bash -c 'source "$1" && complete -p fusebox-run' _ "$tmp/completions/fusebox-run.bash" >/dev/null 2>"$tmp/bash.err" \
    || bad "bash cannot load the completion: $(cat "$tmp/bash.err")"
zsh -f -c 'fpath=("$1" $fpath); autoload -Uz compinit && compinit -u -D && [[ ${_comps[fusebox-run]} == _fusebox-run ]] && autoload -Uz +X _fusebox-run' \
    _ "$tmp/completions" >/dev/null 2>"$tmp/zsh.err" \
    || bad "zsh cannot load the completion: $(cat "$tmp/zsh.err")"
fish -c 'source $argv[1]; and complete -C "fusebox-run --no-default-w"' "$tmp/completions/fusebox-run.fish" \
    2>"$tmp/fish.err" | grep -q -- '--no-default-write' \
    || bad "fish cannot load the completion: $(cat "$tmp/fish.err")"

[ "$fail" = 0 ] && echo "gen-docs.sh: docs/ is current; man, bash, zsh and fish load it"
exit "$fail"
