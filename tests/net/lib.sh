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
# scratch space of this run (keys, logs), removed by cleanup
WEFT_TMP=$(mktemp -d /tmp/weft-net.XXXXXX) || exit 1

pass() { echo "PASS: $TEST_NAME/$1"; }
fail() { echo "FAIL: $TEST_NAME/$1: ${2:-}"; FAILED=1; }
# skip NAME REASON: this part cannot run here; counted apart, never as a pass
skip() { echo "SKIP: $TEST_NAME/$1: ${2:-no reason given}"; }
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
	rm -rf "$WEFT_TMP"
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
	add_addr "$1" "$2" "$3" && add_addr "$4" "$5" "$6" || return 1
	ip -n "$1" link set "$2" up
	ip -n "$4" link set "$5" up
}

# add_addr NS IF ADDR...: adds addresses (CIDR); IPv6 ones skip duplicate
# address detection so that they are usable at once
add_addr() {
	local ns=$1 dev=$2 a
	shift 2
	for a; do
		if [[ $a == *:* ]]; then
			ip -n "$ns" addr add "$a" dev "$dev" nodad || return 1
		else
			ip -n "$ns" addr add "$a" dev "$dev" || return 1
		fi
	done
}

# nsrun NS COMMAND...: COMMAND inside NS (a function cannot be called "in": it is a bash keyword)
nsrun() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

# start_daemon NS IFNAME KIND: starts weftd or wireguard-go for IFNAME in NS
# (both daemonize after the UAPI socket exists) and waits for the socket.
start_daemon() {
	local ns=$1 ifname=$2 kind=$3 bin
	case $kind in
	weftd) bin=$WEFTD ;;
	wireguard-go) bin=wireguard-go ;;
	*) echo "unknown daemon $kind" >&2; return 1 ;;
	esac
	on_exit "rm -f '/var/run/wireguard/$ifname.sock'"
	# wireguard-go prints a banner on every start: show its stderr only if it fails
	# (to a file: the daemon keeps its stderr, so a pipe would never close)
	local err=$WEFT_TMP/start-$ifname.err rc=0
	nsrun "$ns" env WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1 LOG_LEVEL=${LOG_LEVEL:-error} \
		"$bin" "$ifname" >/dev/null 2>"$err" || rc=$?
	[[ $kind == weftd || $rc != 0 ]] && cat "$err" >&2
	((rc == 0)) || return 1
	for _ in $(seq 50); do
		nsrun "$ns" test -S "/var/run/wireguard/$ifname.sock" && return 0
		sleep 0.1
	done
	return 1
}

# keyfile: a fresh 0600 private key file, printed path (keys never on command
# lines). It lives in WEFT_TMP, because $(keyfile) runs in a subshell whose
# on_exit would be lost.
keyfile() {
	local f
	f=$(mktemp "$WEFT_TMP/key.XXXXXX") && chmod 600 "$f" && wg genkey >"$f" && echo "$f"
}

pubkey_of() { wg pubkey <"$1"; }

# --- used by the numbered tests (10-interop.sh ...) -------------------------

# The daemon under test. WEFTD_KIND=wireguard-go runs the same scripts with
# the reference in weftd's place, which proves the scripts themselves.
WEFTD_KIND=${WEFTD_KIND:-weftd}

# require_commands COMMAND...: FAIL and exit unless every COMMAND is installed
require_commands() {
	local t
	for t; do
		command -v "$t" >/dev/null || { fail deps "$t is not installed"; exit 1; }
	done
}

# require_weftd: FAIL and exit unless the daemon under test can run
require_weftd() {
	[[ $EUID == 0 ]] || { fail root "network tests must run as root"; exit 1; }
	if [[ $WEFTD_KIND == weftd && ! -x $WEFTD ]]; then
		fail build "$WEFTD is missing (run make)"
		exit 1
	fi
	require_commands wireguard-go wg
}

# require_weft [COMMAND...]: FAIL and exit unless we are root, $WEFT is
# built and every COMMAND is installed
require_weft() {
	[[ $EUID == 0 ]] || { fail root "network tests must run as root"; exit 1; }
	[[ -x $WEFT ]] || { fail build "$WEFT is missing (run make)"; exit 1; }
	require_commands "$@"
}

# wait_until SECONDS COMMAND...: retries COMMAND every 0.2 s until it
# succeeds (0) or SECONDS have passed (1)
wait_until() {
	local end=$((SECONDS + $1))
	shift
	until "$@"; do
		((SECONDS >= end)) && return 1
		sleep 0.2
	done
}

# ping_ok NS ADDR: one echo request answered within a second
ping_ok() { nsrun "$1" ping -c 1 -W 1 -q "$2" >/dev/null 2>&1; }
# ping_fails NS ADDR: three requests in 1.5 s, none answered
ping_fails() { ! nsrun "$1" ping -c 3 -i 0.5 -W 1 -q "$2" >/dev/null 2>&1; }

# wg_iface NS IF KEYFILE PORT [ADDR...]: private key, listen port, tunnel
# addresses, link up
wg_iface() {
	local ns=$1 dev=$2 key=$3 port=$4
	shift 4
	nsrun "$ns" wg set "$dev" private-key "$key" listen-port "$port" || return 1
	add_addr "$ns" "$dev" "$@" || return 1
	ip -n "$ns" link set "$dev" up
}

# daemon_pid NS IF: the pid of the weftd or wireguard-go serving IF in NS
daemon_pid() {
	local pid comm args
	for pid in $(ip netns pids "$1" 2>/dev/null); do
		comm=$(cat "/proc/$pid/comm" 2>/dev/null) || continue
		[[ $comm == weftd || $comm == wireguard-go ]] || continue
		args=()
		mapfile -d '' -t args <"/proc/$pid/cmdline" 2>/dev/null
		((${#args[@]})) && [[ ${args[-1]} == "$2" ]] && { echo "$pid"; return 0; }
	done
	return 1
}

# handshake_time NS IF PUBKEY: the peer's latest-handshake (unix seconds, 0 = none)
handshake_time() {
	nsrun "$1" wg show "$2" latest-handshakes | awk -v k="$3" '$1 == k { print $2; f = 1 } END { if (!f) print 0 }'
}

# endpoint_of NS IF PUBKEY: the peer's endpoint as wg shows it (empty if none)
endpoint_of() { nsrun "$1" wg show "$2" endpoints | awk -v k="$3" '$1 == k { print $2 }'; }

# TCP transfers through a tunnel, checked at the far end. tcp_sink runs in
# the background: it accepts one connection on PORT (IPv4 and IPv6), hashes
# everything it receives and sends "SHA256 BYTES" back before closing.
# tcp_send connects (retrying while the sink starts), sends FILE, closes its
# half and prints the far end's answer.
PY_TCP_SINK='
import hashlib, socket, sys
port, timeout = int(sys.argv[1]), float(sys.argv[2])
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.bind(("::", port))
s.listen(1)
s.settimeout(timeout)
c, _ = s.accept()
c.settimeout(timeout)
h, n = hashlib.sha256(), 0
while True:
    b = c.recv(1 << 20)
    if not b:
        break
    h.update(b)
    n += len(b)
c.sendall(("%s %d\n" % (h.hexdigest(), n)).encode())
c.close()
'
PY_TCP_SEND='
import socket, sys, time
addr, port, path, timeout = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
deadline = time.monotonic() + 10
while True:
    try:
        c = socket.create_connection((addr, port), timeout=2)
        break
    except OSError:
        if time.monotonic() > deadline:
            raise
        time.sleep(0.2)
c.settimeout(timeout)
with open(path, "rb") as f:
    c.sendfile(f)
c.shutdown(socket.SHUT_WR)
print(c.makefile().read().strip())
'
# tcp_sink NS PORT [TIMEOUT]
tcp_sink() { nsrun "$1" python3 -c "$PY_TCP_SINK" "$2" "${3:-60}" & }
# tcp_send NS ADDR PORT FILE [TIMEOUT]: prints "SHA256 BYTES" as received
tcp_send() { nsrun "$1" python3 -c "$PY_TCP_SEND" "$2" "$3" "$4" "${5:-60}"; }

# transfer_ok NSFROM NSTO ADDR PORT FILE [TIMEOUT]: FILE goes from NSFROM to
# ADDR:PORT in NSTO; succeeds when the far end saw the same digest and size
transfer_ok() {
	local from=$1 to=$2 addr=$3 port=$4 file=$5 timeout=${6:-60} want got
	want="$(sha256sum <"$file" | cut -d' ' -f1) $(stat -c %s "$file")"
	tcp_sink "$to" "$port" "$timeout"
	local sink=$!
	got=$(tcp_send "$from" "$addr" "$port" "$file" "$timeout")
	wait "$sink"
	[[ $got == "$want" ]] || { echo "transfer to $addr:$port: far end saw '$got', sent '$want'" >&2; return 1; }
}
