# shellcheck shell=bash
# The Rust build for scripts/bench.sh (sourced; not run on its own): fusebox itself, built
# offline (`cargo build --offline`, debug profile) with its crates vendored at bench time
# (`cargo vendor`, from crates.io) and the Rust toolchain of the user who starts the
# script. As root, the sources and a hard-linked copy of the toolchain are staged for the
# benchmark user, who is given them as --rust-src and --rust-toolchain.

rust_workload() {
    wanted rust || return 0
    if [ -z "$RUST_SRC" ] && prepare_rust_sources "$WORK/rust-src"; then
        RUST_SRC=$WORK/rust-src RUST_TOOLCHAIN=$(readlink -f "$(rustc --print sysroot)")
    fi
    if [ -z "$RUST_TOOLCHAIN" ] || [ -z "$RUST_SRC" ]; then
        say "note: no Rust toolchain or sources: rust skipped"
        return 0
    fi
    local n; n=$(nproc)
    printf '%s\n' "set -e" "cd $RUST_SRC" \
        "PATH=$RUST_TOOLCHAIN/bin:\$PATH CARGO_HOME=$WORK/cargo-home cargo build --offline --locked --quiet -j$n --target-dir $WORK/rust-target" \
        > "$WORK/wl/rust.sh"
    hyperfine_row rust "Rust build: \`cargo build --offline\` of fusebox (debug)" --prepare "rm -rf $WORK/rust-target"
}

# Root: the sources into SRC_DEST and the toolchain at TOOLCHAIN_DEST, where the benchmark
# user can reach them (root's home is private); false when the sources cannot be made.
stage_rust_as_root() { # stage_rust_as_root SRC_DEST TOOLCHAIN_DEST
    prepare_rust_sources "$1" || return 1
    staging_copy_toolchain "$2"
}

# fusebox's own sources, crates vendored (crates.io), into $1; false (with a warning) when
# that cannot be done.
prepare_rust_sources() {
    local dst=$1
    if ! command -v cargo >/dev/null || ! command -v rustc >/dev/null; then
        say "warning: no cargo/rustc: the Rust build is skipped"
        return 1
    fi
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
