# tests/net/lib.sh: shared helpers for network tests (source it from bash).
# Every test makes its own namespaces and links, named with its PID so that
# parallel or leftover runs cannot collide, and removes them on exit.
# Traffic goes only between these namespaces (and loopback inside them).

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
WEFTD=${WEFTD:-$ROOT/build/weftd}
WEFT=${WEFT:-$ROOT/build/weft}
TAG=${TAG:-$$}
FAILED=0
NAMESPACES=()
CLEANUPS=()

pass() { echo "PASS: $TEST_NAME/$1"; }
fail() { echo "FAIL: $TEST_NAME/$1: ${2:-}"; FAILED=1; }
# check NAME COMMAND...: PASS if the command succeeds
check() { local n=$1; shift; if "$@"; then pass "$n"; else fail "$n" "'$*' failed"; fi; }

cleanup() {
	local i
	for ((i = ${#CLEANUPS[@]} - 1; i >= 0; i--)); do eval "${CLEANUPS[i]}" >/dev/null 2>&1; done
	for ns in "${NAMESPACES[@]}"; do
		# end every process still inside the namespace, then the namespace
		for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -TERM "$pid" 2>/dev/null; done
		sleep 0.2
		for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
		ip netns del "$ns" 2>/dev/null
	done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

on_exit() { CLEANUPS+=("$1"); }

# make_ns NAME: a new namespace with loopback up; prints nothing
make_ns() {
	ip netns add "$1" || return 1
	NAMESPACES+=("$1")
	ip -n "$1" link set lo up
}

# link_ns NS1 IF1 ADDR1 NS2 IF2 ADDR2: a veth pair between two namespaces,
# with the given addresses (CIDR; IPv6 works too) and links up.
link_ns() {
	ip link add "$2" netns "$1" type veth peer name "$5" netns "$4" || return 1
	ip -n "$1" addr add "$3" dev "$2" ${3//[^:]/} 2>/dev/null || ip -n "$1" addr add "$3" dev "$2"
	ip -n "$4" addr add "$6" dev "$5"
	ip -n "$1" link set "$2" up
	ip -n "$4" link set "$5" up
}

# in NS COMMAND...
in() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

# start_daemon NS IFNAME KIND: starts weftd or wireguard-go for IFNAME in NS
# (both daemonize after the UAPI socket exists) and waits for the socket.
start_daemon() {
	local ns=$1 ifname=$2 kind=$3 bin
	case $kind in
	weftd) bin=$WEFTD ;;
	wireguard-go) bin=wireguard-go ;;
	*) echo "unknown daemon $kind" >&2; return 1 ;;
	esac
	in "$ns" env WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1 LOG_LEVEL=${LOG_LEVEL:-error} \
		"$bin" "$ifname" || return 1
	for _ in $(seq 50); do
		in "$ns" test -S "/var/run/wireguard/$ifname.sock" && return 0
		sleep 0.1
	done
	return 1
}

# keyfile: a fresh 0600 private key file, printed path (keys never on command lines)
keyfile() {
	local f
	f=$(mktemp /tmp/weft-key.XXXXXX) && chmod 600 "$f" && wg genkey >"$f" && echo "$f"
	on_exit "rm -f '$f'"
}

pubkey_of() { wg pubkey <"$1"; }
