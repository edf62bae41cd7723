#!/bin/bash
# tests/net/84-birthday.sh: the birthday probe of `weft link`, when a peer
# sits behind an address-and-port-dependent ("symmetric") NAT: Linux's
# `masquerade random`, a fresh external port for every flow. Hole punching
# cannot work there; the probe is tried, counted and bounded, and it finds
# a path when the other NAT keeps a socket's port for every destination.
#
#                        netns bi<tag> ("internet"), weft coord on 192.0.2.1:51819 (lo)
#        198.51.100.1/24 |            | 203.0.113.1/24        | 198.18.1.1/24
#        198.51.100.2/24 |            | 203.0.113.2/24        | 198.18.1.2/24
#        netns bh<tag> (hard)         netns be<tag> (easy)    netns bd<tag> (hard)
#        masquerade random            masquerade              masquerade random
#        10.0.1.1/24 (bridge)         10.0.2.1/24             10.0.4.1/24
#         |              |              |                       |
#   netns ba<tag>   netns bc<tag>   netns bb<tag>           netns bx<tag>
#   10.0.1.2        10.0.1.3        10.0.2.2                10.0.4.2
#   weftd 10.98.0.1 weftd 10.98.1.1 wireguard-go 10.98.0.2  wireguard-go 10.98.1.2
#
# Pairs: a-b (hard and easy): the probe hits (a sprays from 256 sockets,
# b guesses from its device's port), the tunnel carries pings both ways,
# both sides count one hit, and the pair still carries them 35 s later,
# after a's new announcements. c-x (hard and hard): the probe runs and finds
# nothing, within its bounds (at most two attempts of 1,024 guesses or
# three rounds of 256 sprays), and the relay carries the pings when the
# coord has one. All NATs drop unsolicited UDP to their WAN address, as in
# 89-link.sh.
. "$(dirname "$0")/lib.sh"
TEST_NAME=birthday
require_weft wg wireguard-go nft python3
[[ -x $WEFTD ]] || { fail build "$WEFTD is missing (run make)"; exit 1; }

I=bi$TAG NH=bh$TAG NE=be$TAG ND=bd$TAG A=ba$TAG C=bc$TAG B=bb$TAG X=bx$TAG
for ns in "$I" "$NH" "$NE" "$ND" "$A" "$C" "$B" "$X"; do make_ns "$ns" || { fail netns "cannot create $ns"; exit 1; }; done

topology() {
	link_ns "$I" "ih$TAG" 198.51.100.1/24 "$NH" "wh$TAG" 198.51.100.2/24 &&
	link_ns "$I" "ie$TAG" 203.0.113.1/24 "$NE" "we$TAG" 203.0.113.2/24 &&
	link_ns "$I" "id$TAG" 198.18.1.1/24 "$ND" "wd$TAG" 198.18.1.2/24 &&
	add_addr "$I" lo 192.0.2.1/32 &&
	ip -n "$NH" link add "br$TAG" type bridge && add_addr "$NH" "br$TAG" 10.0.1.1/24 &&
	ip -n "$NH" link set "br$TAG" up &&
	ip link add "la$TAG" netns "$NH" type veth peer name "ea$TAG" netns "$A" &&
	ip link add "lc$TAG" netns "$NH" type veth peer name "ec$TAG" netns "$C" &&
	ip -n "$NH" link set "la$TAG" master "br$TAG" up && ip -n "$NH" link set "lc$TAG" master "br$TAG" up &&
	add_addr "$A" "ea$TAG" 10.0.1.2/24 && ip -n "$A" link set "ea$TAG" up &&
	add_addr "$C" "ec$TAG" 10.0.1.3/24 && ip -n "$C" link set "ec$TAG" up &&
	link_ns "$NE" "lb$TAG" 10.0.2.1/24 "$B" "eb$TAG" 10.0.2.2/24 &&
	link_ns "$ND" "lx$TAG" 10.0.4.1/24 "$X" "ex$TAG" 10.0.4.2/24 &&
	ip -n "$A" route add default via 10.0.1.1 && ip -n "$C" route add default via 10.0.1.1 &&
	ip -n "$B" route add default via 10.0.2.1 && ip -n "$X" route add default via 10.0.4.1 &&
	ip -n "$NH" route add default via 198.51.100.1 && ip -n "$NE" route add default via 203.0.113.1 &&
	ip -n "$ND" route add default via 198.18.1.1 &&
	for ns in "$I" "$NH" "$NE" "$ND"; do nsrun "$ns" sysctl -qw net.ipv4.ip_forward=1 || return 1; done
}
# nat NS WAN [random]: masquerade (random: a fresh port per flow) out of
# WAN, unsolicited UDP to the WAN address dropped
nat() {
	nsrun "$1" nft -f - <<-NFT
	table ip weftnat {
		chain post { type nat hook postrouting priority srcnat; oifname "$2" masquerade $3; }
		chain input { type filter hook input priority filter; iifname "$2" meta l4proto udp ct state new drop; }
	}
	NFT
}
topology && nat "$NH" "wh$TAG" random && nat "$NE" "we$TAG" && nat "$ND" "wd$TAG" random ||
	{ fail underlay "cannot build the lab"; exit 1; }

CK=$WEFT_TMP/coord.key
nsrun "$I" "$WEFT" coord --listen 192.0.2.1:51819 --key-file "$CK" --store none >"$WEFT_TMP/coord.log" 2>&1 &
wait_until 5 test -s "$CK" || { fail coord "weft coord does not start: $(tail -3 "$WEFT_TMP/coord.log")"; exit 1; }
CKEY=$("$WEFT" coord --show-public-key --key-file "$CK" 2>/dev/null)

KA=$(keyfile) KB=$(keyfile) KC=$(keyfile) KX=$(keyfile)
PA=$(pubkey_of "$KA") PB=$(pubkey_of "$KB") PC=$(pubkey_of "$KC") PX=$(pubkey_of "$KX")
WA=bwa$TAG WB=bwb$TAG WC=bwc$TAG WX=bwx$TAG
start_daemon "$A" "$WA" weftd && start_daemon "$B" "$WB" wireguard-go &&
	start_daemon "$C" "$WC" weftd && start_daemon "$X" "$WX" wireguard-go &&
	wg_iface "$A" "$WA" "$KA" 51820 10.98.0.1/24 && wg_iface "$B" "$WB" "$KB" 51820 10.98.0.2/24 &&
	wg_iface "$C" "$WC" "$KC" 51820 10.98.1.1/24 && wg_iface "$X" "$WX" "$KX" 51820 10.98.1.2/24 &&
	nsrun "$A" wg set "$WA" peer "$PB" allowed-ips 10.98.0.2/32 &&
	nsrun "$B" wg set "$WB" peer "$PA" allowed-ips 10.98.0.1/32 &&
	nsrun "$C" wg set "$WC" peer "$PX" allowed-ips 10.98.1.2/32 &&
	nsrun "$X" wg set "$WX" peer "$PC" allowed-ips 10.98.1.1/32 ||
	{ fail wireguard "cannot set up the devices"; exit 1; }

# conf NAME IFACE KEYFILE PEERKEY: IFACE.conf (the peer without Endpoint)
# and IFACE.weft (the coord) in $WEFT_TMP/NAME
conf() {
	local d=$WEFT_TMP/$1
	mkdir -p "$d" "$WEFT_TMP/run-$1" && chmod 700 "$d"
	printf '[Interface]\nPrivateKey = %s\nListenPort = 51820\n\n[Peer]\nPublicKey = %s\nAllowedIPs = 10.98.0.0/16\n' \
		"$(cat "$3")" "$4" >"$d/$2.conf"
	printf '[Weft]\nCoord = 192.0.2.1:51819\nCoordKey = %s\n' "$CKEY" >"$d/$2.weft"
	chmod 600 "$d/$2.conf" "$d/$2.weft"
}
conf a "$WA" "$KA" "$PB" && conf b "$WB" "$KB" "$PA" && conf c "$WC" "$KC" "$PX" && conf x "$WX" "$KX" "$PC"
start_link() { # NAME NS IFACE
	nsrun "$2" env WEFT_CONFIG_DIR="$WEFT_TMP/$1" WEFT_RUN_DIR="$WEFT_TMP/run-$1" LOG_LEVEL=verbose \
		"$WEFT" link "$3" --portmap none >>"$WEFT_TMP/link-$1.log" 2>&1 &
}
# bday NAME IFACE FIELD: the status's birthday counter
bday() {
	WEFT_RUN_DIR="$WEFT_TMP/run-$1" "$WEFT" link status "$2" --json 2>/dev/null |
		python3 -c 'import json, sys; print(json.load(sys.stdin)["birthday"][sys.argv[1]])' "$3" 2>/dev/null || echo 0
}
show_logs() {
	local n
	for n in "$@"; do echo "--- link $n"; grep -v 'coord: \(announced\|match\)' "$WEFT_TMP/link-$n.log" | tail -n ${SHOW_LINES:-12}; done
}
start_link a "$A" "$WA"; start_link b "$B" "$WB"; start_link c "$C" "$WC"; start_link x "$X" "$WX"

# --- a-b: the probe hits ------------------------------------------------------------
ab_up=0
# direct punching fails first (up to ~40 s), then the probe starts on the
# next 15-s mark and lasts at most 12 s
if check ab/probe-hit wait_until 90 eval '(( $(bday a "$WA" hits) >= 1 && $(bday b "$WB" hits) >= 1 ))'; then
	check ab/ping-a-to-b wait_until 15 ping_ok "$A" 10.98.0.2
	check ab/ping-b-to-a wait_until 5 ping_ok "$B" 10.98.0.1
	ab_up=$SECONDS
	check ab/a-sprayed grep -q "birthday probe: 256 sockets toward 203.0.113.2:51820" "$WEFT_TMP/link-a.log"
	check ab/b-guessed grep -q "birthday probe: up to 1024 random ports of 198.51.100.2 from port 51820" "$WEFT_TMP/link-b.log"
	# b's device talks to a port of a's NAT other than any STUN showed
	check ab/b-endpoint-on-hard-nat eval "[[ \$(endpoint_of '$B' '$WB' '$PA') == 198.51.100.2:* ]]"
	check ab/a-through-proxy eval "[[ \$(endpoint_of '$A' '$WA' '$PB') == 127.0.0.1:* ]]"
	# for the record: when direct punching gave up, when the hit came
	for n in a b; do
		sed -n 's/.* \([0-9:T-]*Z\): \(peer([^)]*): \(no direct path found\|birthday probe\).*\)/# '$n': \1 \2/p' \
			"$WEFT_TMP/link-$n.log"
	done
else
	show_logs a b
fi
probes=$(bday b "$WB" probes)
check ab/guesses-bounded eval "(( $probes >= 1 && $probes <= 2 * 1024 ))"

# --- c-x: both hard, the probe runs and finds nothing -----------------------------
if check cx/probe-ran wait_until 60 eval '(( $(bday c "$WC" attempts) >= 1 && $(bday x "$WX" attempts) >= 1 ))'; then
	# wait for the attempt (or the second one) to end
	wait_until 40 eval 'grep -q "birthday probe: no hit" "$WEFT_TMP/link-c.log" && grep -q "birthday probe: no hit" "$WEFT_TMP/link-x.log"'
	check cx/no-hit eval '(( $(bday c "$WC" hits) == 0 && $(bday x "$WX" hits) == 0 ))'
	for n in c x; do
		w=$([[ $n == c ]] && echo "$WC" || echo "$WX")
		a=$(bday $n "$w" attempts) p=$(bday $n "$w" probes)
		echo "# $n: $a attempts, $p probes"
		check "cx/$n-bounded" eval "(( $a <= 2 && $p <= $a * 1024 ))"
	done
	check cx/said-no-hit grep -q "birthday probe: no hit after" "$WEFT_TMP/link-c.log"
else
	show_logs c x
fi
# a-b still on its pair after a's hard NAT gave its STUN flow a new port
# (the mapping is refreshed every 30 s) and a announced that again
if (( SECONDS < ab_up + 35 )); then sleep $((ab_up + 35 - SECONDS)); fi
check ab/pair-outlives-new-announcements wait_until 5 ping_ok "$A" 10.98.0.2

# what carries c-x now is the relay's business, where this weft coord has one
if "$WEFT" coord --help 2>&1 | grep -q -- --no-relay; then
	check cx/relay-carries wait_until 40 ping_ok "$C" 10.98.1.2
else
	skip cx/relay-carries "this weft coord has no relay: nothing carries c-x after the probe"
fi

# (with WEFT= a sanitizer build, its reports land in these logs, at exit too)
for p in $(jobs -p); do kill -TERM "$p" 2>/dev/null; done
wait 2>/dev/null
check no-sanitizer-reports bash -c "! grep -l 'Sanitizer\|runtime error' '$WEFT_TMP'/link-*.log"

exit $FAILED
