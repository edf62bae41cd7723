#!/bin/bash
# tests/net/89-link-ipv6.sh: `weft link` over IPv6: the coord session, STUN
# from the device's port through an IPv6 raw socket (whose UDP checksum we
# compute: a wrong one and the coord's kernel drops the request), and the
# peers' IPv6 candidates. No NAT: each side's public address is its own.
#
#        netns e<tag>                 netns r<tag> (router)           netns f<tag>
#   weftd, 10.98.0.1         2001:db8:1::1/64   2001:db8:2::1/64   wireguard-go, 10.98.0.2
#   2001:db8:1::2/64 --------------+  weft coord  +-------------- 2001:db8:2::2/64
#                                   [2001:db8:c::1]:51819 (lo)
. "$(dirname "$0")/lib.sh"
TEST_NAME=link-ipv6
require_weft wg wireguard-go
[[ -x $WEFTD ]] || { fail build "$WEFTD is missing (run make)"; exit 1; }

R=r6$TAG E=e6$TAG F=f6$TAG
for ns in "$R" "$E" "$F"; do make_ns "$ns" || { fail netns "cannot create $ns"; exit 1; }; done
link_ns "$R" "re$TAG" 2001:db8:1::1/64 "$E" "ee$TAG" 2001:db8:1::2/64 &&
	link_ns "$R" "rf$TAG" 2001:db8:2::1/64 "$F" "ff$TAG" 2001:db8:2::2/64 &&
	add_addr "$R" lo 2001:db8:c::1/128 &&
	ip -n "$E" -6 route add default via 2001:db8:1::1 &&
	ip -n "$F" -6 route add default via 2001:db8:2::1 &&
	nsrun "$R" sysctl -qw net.ipv6.conf.all.forwarding=1 || { fail underlay "cannot build the lab"; exit 1; }

CK=$WEFT_TMP/coord.key
ip netns exec "$R" "$WEFT" coord --listen "[2001:db8:c::1]:51819" --key-file "$CK" --store none \
	>"$WEFT_TMP/coord.log" 2>&1 &
wait_until 5 test -s "$CK" || { fail coord "weft coord does not start: $(tail -3 "$WEFT_TMP/coord.log")"; exit 1; }
CKEY=$("$WEFT" coord --show-public-key --key-file "$CK" 2>/dev/null)

KE=$(keyfile) KF=$(keyfile)
PE=$(pubkey_of "$KE") PF=$(pubkey_of "$KF")
WE=l6e$TAG WF=l6f$TAG
start_daemon "$E" "$WE" weftd && start_daemon "$F" "$WF" wireguard-go &&
	wg_iface "$E" "$WE" "$KE" 51820 10.98.0.1/24 && wg_iface "$F" "$WF" "$KF" 51820 10.98.0.2/24 &&
	nsrun "$E" wg set "$WE" peer "$PF" allowed-ips 10.98.0.2/32 &&
	nsrun "$F" wg set "$WF" peer "$PE" allowed-ips 10.98.0.1/32 || { fail wireguard "cannot set up the devices"; exit 1; }

# no config files: the peers without an endpoint are managed; the coord on
# the command line
start_link() { # NAME NS IFACE
	mkdir -p "$WEFT_TMP/run-$1"
	ip netns exec "$2" env WEFT_CONFIG_DIR="$WEFT_TMP/none-$1" WEFT_RUN_DIR="$WEFT_TMP/run-$1" LOG_LEVEL=verbose \
		"$WEFT" link "$3" --coord "[2001:db8:c::1]:51819" --coord-key "$CKEY" >>"$WEFT_TMP/link-$1.log" 2>&1 &
	LINK_PIDS+=($!)
}
LINK_PIDS=()
field() { # NAME IFACE PYTHON-EXPRESSION-OF-d
	WEFT_RUN_DIR="$WEFT_TMP/run-$1" "$WEFT" link status "$2" --json 2>/dev/null |
		python3 -c "import json, sys; d = json.load(sys.stdin); print($3)" 2>/dev/null
}
field_is() { [[ $(field "$1" "$2" "$3") == "$4" ]]; }
start_link e "$E" "$WE"; start_link f "$F" "$WF"

check public-address-by-stun wait_until 10 field_is e "$WE" 'd["public"]' "[2001:db8:1::2]:51820"
check coord-up wait_until 10 field_is e "$WE" 'd["coord"]["up"]' True
if wait_until 20 field_is e "$WE" 'd["peers"][0]["path"] + " " + d["peers"][0]["endpoint"]' "direct [2001:db8:2::2]:51820" &&
	wait_until 10 field_is f "$WF" 'd["peers"][0]["path"] + " " + d["peers"][0]["endpoint"]' "direct [2001:db8:1::2]:51820"; then
	pass direct-path-ipv6
else
	fail direct-path-ipv6 "e: $(field e "$WE" 'd["peers"]'), f: $(field f "$WF" 'd["peers"]')"
	tail -n 20 "$WEFT_TMP"/link-*.log
fi
check ping-e-to-f wait_until 5 ping_ok "$E" 10.98.0.2
check ping-f-to-e wait_until 5 ping_ok "$F" 10.98.0.1
# stopped, they exit by themselves and remove their status
kill "${LINK_PIDS[@]}"
stopped() { ! kill -0 "${LINK_PIDS[@]}" 2>/dev/null; }
check stop wait_until 20 stopped
check status-removed [ ! -e "$WEFT_TMP/run-e/link/$WE.json" ]
check no-sanitizer-reports bash -c "! grep -l 'Sanitizer\\|runtime error' '$WEFT_TMP'/link-*.log"
exit $FAILED
