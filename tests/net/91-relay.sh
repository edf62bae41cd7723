#!/bin/bash
# tests/net/91-relay.sh: the coord's relay of last resort between two
# `weft link` peers that cannot reach each other directly.
#
#                      netns i<tag>: weft coord 192.0.2.1:51819 UDP + TCP
#          198.51.100.1/24 |                      | 203.0.113.1/24
#              netns na<tag> NAT          netns nb<tag> NAT
#              10.0.1.1/24                  10.0.2.1/24
#              netns a<tag> 10.0.1.2        netns b<tag> 10.0.2.2
#              weftd, tunnel 10.99.0.1      wireguard-go, tunnel 10.99.0.2
#
# Cases:
#   symmetric  both NATs "masquerade random" (a fresh port per flow): no
#              punch can work, the path is the relay; ping and iperf3 both
#              ways through it; the coord counted what it forwarded
#   direct     both NATs become endpoint-independent (plain masquerade):
#              the background probes move the path off the relay within
#              seconds, traffic flows
#   tcp        b sends no UDP out of its link (nftables): b's link reaches
#              the coord over TCP, the path is the relay again (b over TCP,
#              a over UDP), ping both ways
# Topology helpers: lib_nat.sh (shared with the other weft link tests).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_nat.sh"
TEST_NAME=relay
require_weft wg wireguard-go nft iperf3 conntrack python3
[[ -x $WEFTD ]] || { fail build "$WEFTD is missing (run make)"; exit 1; }

nat_lab && nat_set "$NA" "wa$TAG" symmetric && nat_set "$NB" "wb$TAG" symmetric ||
	{ fail underlay "cannot build the lab"; exit 1; }
pass underlay
start_coord || { fail coord "weft coord does not start: $(tail -3 "$COORD_LOG")"; exit 1; }

KA=$(keyfile) KB=$(keyfile)
PA=$(pubkey_of "$KA") PB=$(pubkey_of "$KB")
WA=rla$TAG WB=rlb$TAG
start_daemon "$A" "$WA" weftd && start_daemon "$B" "$WB" wireguard-go &&
	wg_iface "$A" "$WA" "$KA" 51820 10.99.0.1/24 &&
	wg_iface "$B" "$WB" "$KB" 51820 10.99.0.2/24 &&
	nsrun "$A" wg set "$WA" peer "$PB" allowed-ips 10.99.0.2/32 &&
	nsrun "$B" wg set "$WB" peer "$PA" allowed-ips 10.99.0.1/32 ||
	{ fail wireguard "cannot set up the devices"; exit 1; }
link_conf a "$WA" "$KA" "$PB" && link_conf b "$WB" "$KB" "$PA"
start_link a "$A" "$WA"
start_link b "$B" "$WB"

# --- symmetric NATs: the relay --------------------------------------------------
if wait_until 70 path_is a "$WA" "$PB" relay && wait_until 15 path_is b "$WB" "$PA" relay; then
	pass relay-path
else
	fail relay-path "a sees '$(path_of a "$WA" "$PB")', b sees '$(path_of b "$WB" "$PA")'"; show_logs a b
fi
check relay-ping-a-to-b wait_until 10 ping_ok "$A" 10.99.0.2
check relay-ping-b-to-a wait_until 5 ping_ok "$B" 10.99.0.1
# the endpoint each device has is its relay client's stand-in on loopback
check relay-endpoint-loopback [ "$(endpoint_of "$A" "$WA" "$PB" | cut -d: -f1)" == 127.0.0.1 ]
# iperf3 both ways, briefly: a TCP stream through WireGuard through the relay
iperf3_listening() { [[ -n $(nsrun "$B" ss -Hltn "sport = :5201") ]]; }
nsrun "$B" iperf3 -s -1 -B 10.99.0.2 >/dev/null 2>&1 &
wait_until 5 iperf3_listening
if out=$(nsrun "$A" timeout 20 iperf3 -c 10.99.0.2 -t 2 -J 2>&1) &&
	bps=$(python3 -c 'import json,sys; print(int(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]))' <<<"$out") &&
	((bps > 0)); then
	echo "# relay a->b: $((bps / 1000000)) Mbit/s"
	pass relay-iperf3-a-to-b
else
	fail relay-iperf3-a-to-b "$(tail -3 <<<"$out")"
fi
# the first one-off server gone first, or the wait below would see it
wait_until 5 eval '! iperf3_listening'
nsrun "$B" iperf3 -s -1 -B 10.99.0.2 >/dev/null 2>&1 &
wait_until 5 iperf3_listening
if out=$(nsrun "$A" timeout 20 iperf3 -c 10.99.0.2 -t 2 -R -J 2>&1) &&
	bps=$(python3 -c 'import json,sys; print(int(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]))' <<<"$out") &&
	((bps > 0)); then
	echo "# relay b->a: $((bps / 1000000)) Mbit/s"
	pass relay-iperf3-b-to-a
else
	fail relay-iperf3-b-to-a "$(tail -3 <<<"$out")"
fi
fwd=$(coord_stat relay_forwarded_packets)
if [[ $fwd =~ ^[0-9]+$ ]] && ((fwd > 1000)); then pass relay-counted; else fail relay-counted "forwarded '$fwd'"; fi

# --- the NATs become endpoint-independent: off the relay ---------------------------
nat_set "$NA" "wa$TAG" eim && nat_set "$NB" "wb$TAG" eim
# traffic while it moves (the probes judge a path by what the device hears)
nsrun "$A" ping -i 0.2 -W 1 -q 10.99.0.2 >/dev/null 2>&1 &
PING_PID=$!
t0=$SECONDS
if wait_until 30 path_is a "$WA" "$PB" direct && wait_until 10 path_is b "$WB" "$PA" direct; then
	echo "# direct again after $((SECONDS - t0)) s"
	pass relay-to-direct
else
	fail relay-to-direct "a sees '$(path_of a "$WA" "$PB")', b sees '$(path_of b "$WB" "$PA")'"; show_logs a b
fi
kill "$PING_PID" 2>/dev/null
wait "$PING_PID" 2>/dev/null
check direct-ping-a-to-b wait_until 5 ping_ok "$A" 10.99.0.2
check direct-endpoint-public [ "$(endpoint_of "$A" "$WA" "$PB" | cut -d: -f1)" == 203.0.113.2 ]

# --- UDP blocked for b: the relay over TCP ------------------------------------------
# b starts again without UDP: its device forgets a's endpoint (the peer is
# set again), its link reaches the coord over TCP
stop_link b
nat_set "$NA" "wa$TAG" symmetric && nat_set "$NB" "wb$TAG" symmetric
udp_block "$B" "eb$TAG" || fail udp-block "cannot block b's UDP"
nsrun "$B" wg set "$WB" peer "$PA" remove && nsrun "$B" wg set "$WB" peer "$PA" allowed-ips 10.99.0.1/32
tcp_before=$(coord_stat tcp_frames_in)
start_link b "$B" "$WB"
if wait_until 70 path_is b "$WB" "$PA" relay && wait_until 20 path_is a "$WA" "$PB" relay; then
	pass tcp-relay-path
else
	fail tcp-relay-path "a sees '$(path_of a "$WA" "$PB")', b sees '$(path_of b "$WB" "$PA")'"; show_logs a b
fi
check tcp-link-said grep -q "trying TCP" "$WEFT_TMP/link-b.log"
check tcp-ping-b-to-a wait_until 10 ping_ok "$B" 10.99.0.1
check tcp-ping-a-to-b wait_until 5 ping_ok "$A" 10.99.0.2
((FAILED)) && show_logs b
tcp_after=$(coord_stat tcp_frames_in)
if [[ $tcp_after =~ ^[0-9]+$ ]] && ((tcp_after > ${tcp_before:-0} + 10)); then
	pass tcp-frames-counted
else
	fail tcp-frames-counted "TCP frames in: '$tcp_before' -> '$tcp_after'"
fi
exit $FAILED
