# tests/net/serve-lib.sh: `weft serve` as the serve suites run it: as uid
# 65534 with no capabilities in a namespace of the test. Source it after
# lib.sh (it is not a suite: not executable).

# Debian's /dev/net/tun is 0666. Where it is not (some containers), the
# server gets a 0666 node of its own, bound over /dev/net/tun in the mount
# namespace `ip netns exec' makes for it; the host's node is left alone.
SERVE_TUN_BIND=
if [[ $(stat -c %a /dev/net/tun 2>/dev/null) != 666 ]]; then
	mknod "$WEFT_TMP/tun" c 10 200 && chmod 666 "$WEFT_TMP/tun" &&
		SERVE_TUN_BIND="mount --bind $WEFT_TMP/tun /dev/net/tun && "
fi

# serve_start NS CONF LOG STACK [VAR=VALUE...]: weft serve -f CONF in NS as
# nobody, without capabilities, logging to LOG; waits for its "Listening"
# line. $SERVE_WRAPPER_PID is the process `$!' names. 1 when it did not
# start (its first error line in $SERVE_WHY). $SERVE_MOUNTS (commands
# ending in "&& ") replace the /dev/net/tun bind; $SERVE_START_WAIT seconds
# (default 10) are given to the start.
serve_start() {
	local ns=$1 conf=$2 log=$3 stack=$4
	shift 4
	: >"$log"
	nsrun "$ns" sh -c "${SERVE_MOUNTS-$SERVE_TUN_BIND}"'exec "$@"' sh setpriv --reuid=65534 --regid=65534 \
		--clear-groups --inh-caps=-all --bounding-set=-all --no-new-privs env LOG_LEVEL=verbose "$@" \
		"$WEFT" serve -f "$conf" --stack "$stack" >"$log" 2>&1 &
	SERVE_WRAPPER_PID=$!
	on_exit "kill $SERVE_WRAPPER_PID 2>/dev/null"
	wait_until "${SERVE_START_WAIT:-10}" grep -q "Listening on UDP" "$log" && return 0
	SERVE_WHY=$(grep -m1 -i "unavailable\|not built\|error" "$log")
	kill "$SERVE_WRAPPER_PID" 2>/dev/null
	return 1
}

# serve_pid NS: the weft serve process in NS
serve_pid() {
	local p
	for p in $(ip netns pids "$1" 2>/dev/null); do
		[[ $(cat "/proc/$p/comm" 2>/dev/null) == weft ]] && { echo "$p"; return 0; }
	done
	return 1
}

# serve_stop NS [SIGNAL]: stops it (SIGTERM unless told) and waits until it is gone
serve_stop() {
	local p
	p=$(serve_pid "$1") && kill "-${2:-TERM}" "$p"
	wait_until 5 eval "! serve_pid $1 >/dev/null" || { echo "weft serve in $1 did not exit" >&2; return 1; }
}
