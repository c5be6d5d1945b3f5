# shellcheck shell=bash
# Root hands its work to an unprivileged user (sourced by scripts/test.sh, bench.sh and
# conformance.sh; not run on its own).
#
# Started as root, those scripts run what they measure or test as a plain user, because
# root's capabilities hide rootless bugs and rootless costs. The user must reach what it
# runs, and root's home or the clone may be private: so it is copied into a staging
# directory under /tmp, made readable, and removed at exit with anything mounted in it.
#
# Contract: the caller defines `say MESSAGE` (progress, to stderr) and `die MESSAGE`
# (exits 1). Everything works under `set -euo pipefail` and without it.
#
#   staging_user_ensure USER     USER, created if missing, with a home; sets STAGING_USER,
#                                STAGING_UID, STAGING_HOME and STAGING_ENV (root only)
#   staging_env_pass NAME...     adds NAME=value to STAGING_ENV for each NAME set non-empty
#   as_user CMD [ARG...]         CMD as STAGING_USER with STAGING_ENV as its whole environment,
#                                in the caller's cwd (one the user can reach) and stdin
#   staging_dir_make PREFIX      STAGING_DIR=/tmp/PREFIX.XXXXXX, mode 755, removed at exit
#                                (also on INT, TERM, HUP: exit 130, 143, 129)
#   staging_at_exit CMD          CMD (one word: a function) runs at exit, before the removal
#   staging_dir_open             all of STAGING_DIR readable, its directories searchable
#   staging_copy_toolchain DEST  the caller's Rust toolchain (rustc's sysroot) at DEST
#   fuse_mounts_of UID           the /proc/mounts lines of the FUSE mounts UID owns
#   unmount_each CMD [ARG...]    for each /proc/mounts line on stdin: CMD ARG... MOUNTPOINT
#   live_procs_of UID            the pids of UID's processes that are not zombies

STAGING_USER=
STAGING_UID=
STAGING_HOME=
STAGING_ENV=()
STAGING_DIR=
STAGING_EXIT_HOOKS=()

staging_user_ensure() {
    local user=$1
    if ! id -u "$user" >/dev/null 2>&1; then
        say "creating the unprivileged user $user"
        useradd --create-home --shell /bin/bash "$user" || die "useradd $user failed"
    fi
    STAGING_USER=$user
    # shellcheck disable=SC2034 # for the scripts that source this
    STAGING_UID=$(id -u "$user")
    STAGING_HOME=$(getent passwd "$user" | cut -d: -f6)
    if [ ! -d "$STAGING_HOME" ]; then
        mkdir -p "$STAGING_HOME" && chown "$user:" "$STAGING_HOME"
    fi
    # What a login gives, and no more: nothing of root's environment reaches the user.
    STAGING_ENV=(HOME="$STAGING_HOME" USER="$user" LOGNAME="$user" PATH=/usr/local/bin:/usr/bin:/bin)
}

staging_env_pass() {
    local name
    for name in "$@"; do
        if [ -n "${!name:-}" ]; then STAGING_ENV+=("$name=${!name}"); fi
    done
}

as_user() {
    runuser -u "$STAGING_USER" -- env -i "${STAGING_ENV[@]}" "$@"
}

staging_dir_make() {
    STAGING_DIR=$(mktemp -d "/tmp/$1.XXXXXX") || die "mktemp failed"
    chmod 755 "$STAGING_DIR"
    trap staging_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    trap 'exit 129' HUP
}

staging_at_exit() {
    STAGING_EXIT_HOOKS+=("$1")
}

staging_dir_open() {
    chmod -R a+rX "$STAGING_DIR"
}

staging_copy_toolchain() {
    local sysroot
    sysroot=$(readlink -f "$(rustc --print sysroot)")
    # Hard links cost no space when DEST is on the same file system.
    cp -al "$sysroot" "$1" 2>/dev/null || cp -a "$sysroot" "$1"
}

# The exit trap: the hooks, then whatever is mounted in the staging directory (unmounted,
# lazily if it must be), then the directory itself, never across a mount.
# shellcheck disable=SC2317 # run by the trap staging_dir_make sets
staging_cleanup() {
    local hook
    for hook in ${STAGING_EXIT_HOOKS[@]+"${STAGING_EXIT_HOOKS[@]}"}; do "$hook" || true; done
    if [ -z "$STAGING_DIR" ] || [ ! -d "$STAGING_DIR" ]; then return 0; fi
    { grep -F " $STAGING_DIR/" /proc/mounts || true; } | sort -k2,2r | unmount_each staging_unmount
    rm -rf --one-file-system "$STAGING_DIR"
}

# shellcheck disable=SC2317 # run by staging_cleanup, through unmount_each
staging_unmount() {
    umount "$1" 2>/dev/null || umount -l "$1" 2>/dev/null || true
}

fuse_mounts_of() {
    grep -E '^[^ ]+ [^ ]+ fuse' /proc/mounts | grep -E "user_id=$1(,| )" || true
}

unmount_each() {
    local mp
    # The mount point is field 2, its blanks and backslashes octal-escaped (\040).
    awk '{print $2}' | while read -r mp; do
        "$@" "$(printf '%b' "$mp")" || true
    done
}

live_procs_of() {
    ps -u "$1" -o pid=,stat= 2>/dev/null | awk '$2 !~ /^Z/ {print $1}'
}
