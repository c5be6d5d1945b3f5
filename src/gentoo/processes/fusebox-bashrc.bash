# fusebox (Gentoo mode): tells the sandbox when this shell's SANDBOX_* variables
# change (see /dev/fusebox). Sourced through BASH_ENV; prints nothing.
___fusebox_sb_seen="${SANDBOX_ON-}|${SANDBOX_ACTIVE-}|${SANDBOX_READ-}|${SANDBOX_WRITE-}|${SANDBOX_PREDICT-}|${SANDBOX_DENY-}|${SANDBOX_DEBUG-}"
___fusebox_sb_declare() {
	___fusebox_sb_seen=$1
	local ___fusebox_sb_v ___fusebox_sb_d=()
	for ___fusebox_sb_v in SANDBOX_ON SANDBOX_ACTIVE SANDBOX_READ SANDBOX_WRITE SANDBOX_PREDICT SANDBOX_DENY SANDBOX_DEBUG; do
		if [[ -n ${!___fusebox_sb_v+set} ]]; then
			___fusebox_sb_d+=("${___fusebox_sb_v}=${!___fusebox_sb_v}")
		fi
	done
	builtin printf '%s\0' sandbox-env "${___fusebox_sb_d[@]}" end >>/dev/fusebox
	return 0
}
set -o functrace
trap '{ [[ -z ${___fusebox_sb_seen+set} || "${SANDBOX_ON-}|${SANDBOX_ACTIVE-}|${SANDBOX_READ-}|${SANDBOX_WRITE-}|${SANDBOX_PREDICT-}|${SANDBOX_DENY-}|${SANDBOX_DEBUG-}" == "$___fusebox_sb_seen" ]] || ___fusebox_sb_declare "${SANDBOX_ON-}|${SANDBOX_ACTIVE-}|${SANDBOX_READ-}|${SANDBOX_WRITE-}|${SANDBOX_PREDICT-}|${SANDBOX_DENY-}|${SANDBOX_DEBUG-}" || :; } 2>&-' DEBUG
