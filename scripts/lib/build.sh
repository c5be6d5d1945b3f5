# shellcheck shell=bash
# Where `cargo build --release` puts fusebox-run. .cargo/config.toml names the host as the
# build's target, so that the static link reaches fusebox-run and not the proc macros cargo
# builds for the host; cargo then puts the binary in target/<host tuple>/release/.

release_bin() { # [REPO]: the release binary's path (built or not)
    local repo=${1:-$PWD} host
    host=$(rustc -vV 2>/dev/null | sed -n 's/^host: //p')
    if [ -z "$host" ]; then # no rustc: the one binary built, if there is one
        set -- "$repo"/target/*/release/fusebox-run
        [ -e "$1" ] && { printf '%s\n' "$1"; return; }
        host=unknown-host
    fi
    printf '%s/target/%s/release/fusebox-run\n' "$repo" "$host"
}
