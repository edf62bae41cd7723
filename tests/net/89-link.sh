#!/bin/bash
# tests/net/89-link.sh: `weft link` in namespaces with nftables NAT, against
# a `weft coord` on the "internet": peers find each other through it and
# punch through their NATs, pick the LAN path when they share one, follow a
# peer that moves, and keep their paths while the coord is down.
#
#                      netns i<tag> ("internet", router)
#                      weft coord on 192.0.2.1:51819 (lo)
#          198.51.100.1/24 |        | 203.0.113.1/24   | 198.18.0.1/24
#          198.51.100.2/24 |        | 203.0.113.2/24   | (198.18.0.2/24 added
#              netns na<tag>        netns nb<tag>      |  to a when it moves)
#              masquerade           masquerade         |
#              10.0.1.1/24 (bridge) 10.0.2.1/24        |
#               |          |            |              |
#   netns a<tag> 10.0.1.2  netns c<tag> 10.0.1.3   netns b<tag> 10.0.2.2
#   weftd, tunnel 10.99.0.1  weftd, 10.99.0.3      wireguard-go, 10.99.0.2
#   (a's second link to i, unaddressed until it moves) ----------+
#
# Both NATs are conntrack masquerade (endpoint-independent mapping, filtering
# per flow) and drop unsolicited UDP to their WAN address in an input chain,
# so that an early punch packet leaves no conntrack entry behind to steal the
# port that the peer's own masquerade needs.
#
# Cases (a's peers b and c, b's and c's peer a, no Endpoint anywhere):
#   direct    a and b behind different NATs: path direct, ping both ways
#   lan       a and c behind the same NAT: path lan (their 10.0.1.x
#             addresses, not the NAT's public address), ping both ways;
#             c's config gives a stale static Endpoint for a, marked
#             Roaming = true in c's .weft file: managed anyway
#   static    a's peer d has a static Endpoint, not marked: left alone
#   nat-type  coturn's turnutils_natdiscovery (against coturn's turnserver on
#             192.0.2.2 and .3) finds both NATs endpoint-independent
#   roam      a's LAN address goes, then a public one comes on another
#             link: b reaches a again within 2 s of the old one going, no
#             config touched
#   hup       SIGHUP: link starts again from the files, paths kept
#   coorddown the coord stops: ping a<->b still works, status says the
#             coord is down; it comes back: link announces again
. "$(dirname "$0")/lib.sh"
TEST_NAME=${LINK_TEST_NAME:-link}
require_weft wg wireguard-go nft
[[ -x $WEFTD ]] || { fail build "$WEFTD is missing (run make)"; exit 1; }

I=i$TAG NA=na$TAG NB=nb$TAG A=a$TAG B=b$TAG C=c$TAG
for ns in "$I" "$NA" "$NB" "$A" "$B" "$C"; do make_ns "$ns" || { fail netns "cannot create $ns"; exit 1; }; done

# --- underlay ----------------------------------------------------------------
topology() {
	link_ns "$I" "ia$TAG" 198.51.100.1/24 "$NA" "wa$TAG" 198.51.100.2/24 &&
	link_ns "$I" "ib$TAG" 203.0.113.1/24 "$NB" "wb$TAG" 203.0.113.2/24 &&
	ip link add "ir$TAG" netns "$I" type veth peer name "ra$TAG" netns "$A" &&
	add_addr "$I" "ir$TAG" 198.18.0.1/24 && ip -n "$I" link set "ir$TAG" up && ip -n "$A" link set "ra$TAG" up &&
	add_addr "$I" lo 192.0.2.1/32 &&
	# na's LAN is a bridge: a and c share it
	ip -n "$NA" link add "br$TAG" type bridge && add_addr "$NA" "br$TAG" 10.0.1.1/24 &&
	ip -n "$NA" link set "br$TAG" up &&
	ip link add "la$TAG" netns "$NA" type veth peer name "ea$TAG" netns "$A" &&
	ip link add "lc$TAG" netns "$NA" type veth peer name "ec$TAG" netns "$C" &&
	ip -n "$NA" link set "la$TAG" master "br$TAG" up && ip -n "$NA" link set "lc$TAG" master "br$TAG" up &&
	add_addr "$A" "ea$TAG" 10.0.1.2/24 && ip -n "$A" link set "ea$TAG" up &&
	add_addr "$C" "ec$TAG" 10.0.1.3/24 && ip -n "$C" link set "ec$TAG" up &&
	link_ns "$NB" "lb$TAG" 10.0.2.1/24 "$B" "eb$TAG" 10.0.2.2/24 &&
	ip -n "$A" route add default via 10.0.1.1 &&
	ip -n "$C" route add default via 10.0.1.1 &&
	ip -n "$B" route add default via 10.0.2.1 &&
	ip -n "$NA" route add default via 198.51.100.1 &&
	ip -n "$NB" route add default via 203.0.113.1 &&
	for ns in "$I" "$NA" "$NB"; do nsrun "$ns" sysctl -qw net.ipv4.ip_forward=1 || return 1; done
}
# nat NS WAN: masquerade out of WAN, unsolicited UDP to the WAN address dropped
nat() {
	nsrun "$1" nft -f - <<-NFT
	table ip weftnat {
		chain post { type nat hook postrouting priority srcnat; oifname "$2" masquerade; }
		chain input { type filter hook input priority filter; iifname "$2" meta l4proto udp ct state new drop; }
	}
	NFT
}
topology && nat "$NA" "wa$TAG" && nat "$NB" "wb$TAG" || { fail underlay "cannot build the lab"; exit 1; }
pass underlay

# --- coord ----------------------------------------------------------------------
CK=$WEFT_TMP/coord.key
COORD_LOG=$WEFT_TMP/coord.log
start_coord() {
	ip netns exec "$I" "$WEFT" coord --listen 192.0.2.1:51819 --key-file "$CK" --store "$WEFT_TMP/coord.db" \
		>>"$COORD_LOG" 2>&1 &
	COORD_PID=$!
	wait_until 5 test -s "$CK"
}
start_coord || { fail coord "weft coord does not start: $(tail -3 "$COORD_LOG")"; exit 1; }
CKEY=$("$WEFT" coord --show-public-key --key-file "$CK" 2>/dev/null)
[[ ${#CKEY} == 44 ]] || { fail coord "no coord public key"; exit 1; }

# --- WireGuard -------------------------------------------------------------------
KA=$(keyfile) KB=$(keyfile) KC=$(keyfile)
PA=$(pubkey_of "$KA") PB=$(pubkey_of "$KB") PC=$(pubkey_of "$KC")
WA=lka$TAG WB=lkb$TAG WC=lkc$TAG
# LINK_A_KIND=kernel (tests/kernel/link.sh, in the kernel VM): a is the
# kernel's WireGuard, driven over generic netlink
LINK_A_KIND=${LINK_A_KIND:-weftd}
make_iface() { # NS NAME KIND
	if [[ $3 == kernel ]]; then ip -n "$1" link add "$2" type wireguard; else start_daemon "$@"; fi
}
make_iface "$A" "$WA" "$LINK_A_KIND" && start_daemon "$B" "$WB" wireguard-go && start_daemon "$C" "$WC" weftd &&
	wg_iface "$A" "$WA" "$KA" 51820 10.99.0.1/24 &&
	wg_iface "$B" "$WB" "$KB" 51820 10.99.0.2/24 &&
	wg_iface "$C" "$WC" "$KC" 51820 10.99.0.3/24 &&
	nsrun "$A" wg set "$WA" peer "$PB" allowed-ips 10.99.0.2/32 peer "$PC" allowed-ips 10.99.0.3/32 &&
	nsrun "$B" wg set "$WB" peer "$PA" allowed-ips 10.99.0.1/32 &&
	nsrun "$C" wg set "$WC" peer "$PA" allowed-ips 10.99.0.1/32 ||
	{ fail wireguard "cannot set up the devices"; exit 1; }
echo "# a runs on $LINK_A_KIND"

# conf NAME IFACE KEYFILE PEER...: IFACE.conf and IFACE.weft (the coord) in
# $WEFT_TMP/NAME. PEER is KEY (no Endpoint), KEY@ENDPOINT (a static one), or
# KEY@ENDPOINT@roaming (a static one, marked Roaming by `weft peer set`).
conf() {
	local d=$WEFT_TMP/$1 ifc=$2 key=$3 p k ep r
	shift 3
	mkdir -p "$d" && chmod 700 "$d"
	{
		printf '[Interface]\nPrivateKey = %s\nListenPort = 51820\n' "$(cat "$key")"
		for p; do
			IFS=@ read -r k ep r <<<"$p"
			printf '\n[Peer]\nPublicKey = %s\nAllowedIPs = 10.99.0.0/24\n' "$k"
			[[ -n $ep ]] && printf 'Endpoint = %s\n' "$ep"
		done
	} >"$d/$ifc.conf"
	printf '[Weft]\nCoord = 192.0.2.1:51819\nCoordKey = %s\n' "$CKEY" >"$d/$ifc.weft"
	chmod 600 "$d/$ifc.conf" "$d/$ifc.weft"
	for p; do
		IFS=@ read -r k ep r <<<"$p"
		[[ $r == roaming ]] || continue
		WEFT_CONFIG_DIR=$d "$WEFT" peer set "$ifc" "$k" --roaming on || return 1
	done
}
# a has a fourth peer d with a static endpoint: never managed, never touched.
# c knows a at a stale static address, marked Roaming: managed all the same.
KD=$(keyfile); PD=$(pubkey_of "$KD")
nsrun "$A" wg set "$WA" peer "$PD" allowed-ips 10.99.0.4/32 endpoint 192.0.2.99:51820 &&
	nsrun "$C" wg set "$WC" peer "$PA" endpoint 10.0.1.99:51820 ||
	{ fail wireguard "cannot set the static endpoints"; exit 1; }
conf a "$WA" "$KA" "$PB" "$PC" "$PD@192.0.2.99:51820" && conf b "$WB" "$KB" "$PA" &&
	conf c "$WC" "$KC" "$PA@10.0.1.99:51820@roaming" || { fail conf "cannot write the config files"; exit 1; }
# weft peer set wrote Roaming and kept the coord's settings
check peer-set-roaming grep -q "^Roaming = true" "$WEFT_TMP/c/$WC.weft"
check peer-set-keeps-coord grep -q "^CoordKey = $CKEY" "$WEFT_TMP/c/$WC.weft"

# start_link NAME NS IFACE: weft link in NS, status under $WEFT_TMP/run-NAME
# (ip netns exec and env exec it: $! is weft's pid)
start_link() {
	mkdir -p "$WEFT_TMP/run-$1"
	ip netns exec "$2" env WEFT_CONFIG_DIR="$WEFT_TMP/$1" WEFT_RUN_DIR="$WEFT_TMP/run-$1" LOG_LEVEL=verbose \
		"$WEFT" link "$3" >>"$WEFT_TMP/link-$1.log" 2>&1 &
	eval "LINK_PID_$1=$!"
}
status_json() { # NAME IFACE
	WEFT_RUN_DIR="$WEFT_TMP/run-$1" "$WEFT" link status "$2" --json 2>/dev/null
}
# path_of NAME IFACE PEERKEY: "TYPE ENDPOINT" of the peer's chosen path
path_of() {
	status_json "$1" "$2" | python3 -c '
import json, sys
d = json.load(sys.stdin)
for p in d["peers"]:
    if p["public_key"] == sys.argv[1]:
        print(p["path"], p["endpoint"] or "-")' "$3" 2>/dev/null
}
path_is() { [[ $(path_of "$1" "$2" "$3") == "$4"* ]]; }
coord_up() { status_json "$1" "$2" | grep -q '"up": true'; }
coord_down() { status_json "$1" "$2" | grep -q '"up": false'; }
show_logs() {
	local n
	for n in a b c; do echo "--- link $n"; grep -v portmap "$WEFT_TMP/link-$n.log" 2>/dev/null | tail -n 15; done
	echo "--- coord"; tail -n 10 "$COORD_LOG"
}

start_link a "$A" "$WA"; start_link b "$B" "$WB"; start_link c "$C" "$WC"
T_START=$(date +%s.%N)
since_start() { python3 -c "print(int(($(date +%s.%N) - $T_START) * 1000))"; }

# --- direct: a (weftd) and b (wireguard-go) behind two NATs -----------------------
if wait_until 30 path_is a "$WA" "$PB" direct && wait_until 10 path_is b "$WB" "$PA" direct; then
	echo "# direct path on both sides $(since_start) ms after weft link started"
	pass direct-path
else
	fail direct-path "a sees '$(path_of a "$WA" "$PB")', b sees '$(path_of b "$WB" "$PA")'"; show_logs
fi
# the endpoint b uses for a is na's public address: the mapping of a's port
check direct-endpoint-public [ "$(path_of b "$WB" "$PA" | cut -d' ' -f2 | cut -d: -f1)" == 198.51.100.2 ]
check ping-a-to-b wait_until 5 ping_ok "$A" 10.99.0.2
check ping-b-to-a wait_until 5 ping_ok "$B" 10.99.0.1

# --- lan: a and c behind the same NAT -----------------------------------------------
if wait_until 30 path_is a "$WA" "$PC" "lan 10.0.1.3:" && wait_until 10 path_is c "$WC" "$PA" "lan 10.0.1.2:"; then
	echo "# LAN path on both sides $(since_start) ms after weft link started"
	pass lan-path
else
	fail lan-path "a sees '$(path_of a "$WA" "$PC")', c sees '$(path_of c "$WC" "$PA")'"; show_logs
fi
check ping-a-to-c wait_until 5 ping_ok "$A" 10.99.0.3
check ping-c-to-a wait_until 5 ping_ok "$C" 10.99.0.1
# the human form names the path too
WEFT_RUN_DIR="$WEFT_TMP/run-a" "$WEFT" link status "$WA" >"$WEFT_TMP/status-a.txt" 2>&1
check status-text grep -q "path: lan 10.0.1.3:51820" "$WEFT_TMP/status-a.txt"
# one weft link per interface
second() {
	ip netns exec "$A" env WEFT_CONFIG_DIR="$WEFT_TMP/a" WEFT_RUN_DIR="$WEFT_TMP/run-a" timeout 5 "$WEFT" link "$WA" \
		>"$WEFT_TMP/second.out" 2>&1
	[[ $? == 1 ]] && grep -q "runs already" "$WEFT_TMP/second.out"
}
check one-per-interface second
# the static peer is not managed: not in the status, its endpoint as set
check static-peer-unmanaged [ "$(status_json a "$WA" | grep -c '"public_key"')" == 2 ]
check static-peer-untouched [ "$(endpoint_of "$A" "$WA" "$PD")" == 192.0.2.99:51820 ]
# only endpoints (and keepalives) changed: a's allowed IPs are as set
check allowedips-untouched [ "$(nsrun "$A" wg show "$WA" allowed-ips | awk '{print $2}' | sort | tr '\n' ' ')" == "10.99.0.2/32 10.99.0.3/32 10.99.0.4/32 " ]

# a managed peer without a keepalive of its own gets one while managed
check keepalive-while-managed [ "$(nsrun "$B" wg show "$WB" persistent-keepalive | awk '{print $2}')" == 25 ]
# SIGHUP starts link again from the files: same process, the paths kept
kill -HUP "$LINK_PID_a"
check hup-same-process wait_until 5 grep -q "SIGHUP: starting again" "$WEFT_TMP/link-a.log"
# the new image is up when it says what it manages a second time (stopping
# may wait for the port-mapping helper to give up on an absent gateway)
managing_twice() { (($(grep -c "managing 2 of 3 peers" "$WEFT_TMP/link-a.log") >= 2)); }
check hup-restarted wait_until 20 managing_twice
check hup-paths-kept wait_until 5 path_is a "$WA" "$PB" direct
check hup-ping ping_ok "$A" 10.99.0.2

# --- the lab's NAT type, by an implementation nobody here wrote -------------------
# coturn's RFC 5780 probe needs a STUN server on two addresses: coturn's own,
# on two more addresses of the internet's loopback
if command -v turnutils_natdiscovery >/dev/null && command -v turnserver >/dev/null; then
	add_addr "$I" lo 192.0.2.2/32 192.0.2.3/32
	ip netns exec "$I" turnserver --stun-only -L 192.0.2.2 -L 192.0.2.3 -p 3478 --no-cli -n \
		--log-file stdout >"$WEFT_TMP/turnserver.log" 2>&1 &
	TURN_PID=$!
	on_exit "kill $TURN_PID"
	sleep 1
	for side in a b; do
		[[ $side == a ]] && ns=$A || ns=$B
		out=$(nsrun "$ns" timeout 10 turnutils_natdiscovery -m 192.0.2.2 2>&1)
		if grep -q "NAT with Endpoint Independent Mapping" <<<"$out"; then pass "nat-type-eim-$side"
		else fail "nat-type-eim-$side" "turnutils_natdiscovery said: $(tail -3 <<<"$out" | tr '\n' ' ')"; fi
	done
	kill "$TURN_PID"
else
	skip nat-type-eim "coturn's turnserver and turnutils_natdiscovery are not installed"
fi

# --- roaming: a leaves the LAN for a public address ------------------------------------
# b's WireGuard rate-limits initiations to one per 5 s: let the last one age
sleep 5
# break before make: the old address goes (the clock starts: the path dies
# there), then the new one comes with its default route
t0=$(date +%s.%N)
ip -n "$A" addr del 10.0.1.2/24 dev "ea$TAG"
ip -n "$A" addr add 198.18.0.2/24 dev "ra$TAG"
ip -n "$A" route replace default via 198.18.0.1
# short probes, so that the time measured is the path's, not ping's timeout
quick_ping() { nsrun "$1" ping -c 1 -W 0.3 -q "$2" >/dev/null 2>&1; }
if wait_until 4 quick_ping "$B" 10.99.0.1; then
	t1=$(date +%s.%N)
	ms=$(python3 -c "print(int(($t1 - $t0) * 1000))")
	echo "# roaming: b reached a again after $ms ms"
	if ((ms <= 2000)); then pass roam-within-2s; else fail roam-within-2s "$ms ms"; show_logs; fi
else
	fail roam-within-2s "b cannot reach a 4 s after it moved"; show_logs
fi
check roam-path wait_until 5 path_is b "$WB" "$PA" "direct 198.18.0.2:51820"
check roam-ping-a-to-b wait_until 3 ping_ok "$A" 10.99.0.2

# --- the coord goes away: paths stay; it comes back: link announces again -----------
kill "$COORD_PID"; wait "$COORD_PID" 2>/dev/null
check coorddown-noticed wait_until 30 coord_down a "$WA"
check coorddown-ping-a-to-b ping_ok "$A" 10.99.0.2
check coorddown-ping-b-to-a ping_ok "$B" 10.99.0.1
check coorddown-link-alive kill -0 "$LINK_PID_a"
start_coord
check coordback-announces wait_until 40 coord_up a "$WA"
check coordback-ping ping_ok "$B" 10.99.0.1

kill "$LINK_PID_a" "$LINK_PID_b" "$LINK_PID_c" 2>/dev/null
wait "$LINK_PID_a" 2>/dev/null
check status-removed [ ! -e "$WEFT_TMP/run-a/link/$WA.json" ]
wait "$LINK_PID_b" 2>/dev/null
check keepalive-restored [ "$(nsrun "$B" wg show "$WB" persistent-keepalive | awk '{print $2}')" == off ]
wait "$LINK_PID_c" 2>/dev/null
# (with WEFT= a sanitizer build, its reports land in these logs)
check no-sanitizer-reports bash -c "! grep -l 'Sanitizer\|runtime error' '$WEFT_TMP'/link-*.log"

exit $FAILED
