#!/bin/bash
# tests/net/60-smoke-bench.sh: a few seconds of the benchmark (bench/net/run)
# inside the test command, so that a data-plane regression (an offload that
# breaks the flow, a pair that stops talking) shows at once. A 2 s iperf3 TCP
# stream over raw veth, weftd<->weftd and weftd<->wireguard-go; prints each
# tunnel's throughput as a ratio of raw veth. Fails only if a pair carries
# nothing: timed thresholds would flap on a busy machine; the targets are
# checked by bench/net/run.
#
#   netns sa<pid> (iperf3 client)                  netns sb<pid> (iperf3 server)
#   veth sa<pid> 10.207.0.1/24 ------------------- veth sb<pid> 10.207.0.2/24      raw veth
#   s1a<pid>: weftd  10.60.1.1/24  <== 51961 ==>   s1b<pid>: weftd         10.60.1.2/24
#   s2a<pid>: weftd  10.60.2.1/24  <== 51962 ==>   s2b<pid>: wireguard-go  10.60.2.2/24
. "$(dirname "$0")/lib.sh"
TEST_NAME=smoke-bench
require_weftd
require_commands iperf3

A=sa$TAG B=sb$TAG
SECS=${SMOKE_SECONDS:-2}
PORT=5260
make_ns "$A" && make_ns "$B" || { fail netns "cannot create namespaces"; exit 1; }
link_ns "$A" "sa$TAG" 10.207.0.1/24 "$B" "sb$TAG" 10.207.0.2/24 || { fail underlay "cannot link"; exit 1; }
KA=$(keyfile) KB=$(keyfile)
PA=$(pubkey_of "$KA") PB=$(pubkey_of "$KB")

listening() { [[ -n $(nsrun "$B" ss -Hltn "sport = :$PORT") ]]; }

# gbps ADDR: Gbit/s that a SECS-long iperf3 TCP stream from A to ADDR
# delivered, as the receiver counted it ("0" if nothing arrived)
gbps() {
	local out srv
	nsrun "$B" iperf3 -s -1 -p "$PORT" >/dev/null 2>&1 &
	srv=$!
	wait_until 3 listening
	out=$(nsrun "$A" timeout $((SECS + 15)) iperf3 -c "$1" -p "$PORT" -t "$SECS" -J \
		--connect-timeout 3000 2>/dev/null)
	kill "$srv" 2>/dev/null
	wait "$srv" 2>/dev/null
	python3 -c '
import json, sys
try:
    e = json.loads(sys.stdin.read())["end"]
    print("%.3f" % ((e.get("sum_received") or {}).get("bits_per_second", 0) / 1e9))
except (ValueError, KeyError):
    print("0")' <<<"$out"
}

# pair N KIND_B: weftd (A) and KIND_B (B), configured and handshaken
pair() {
	local n=$1 kb=$2 ia=s${1}a$TAG ib=s${1}b$TAG port=$((51960 + $1))
	start_daemon "$A" "$ia" "$WEFTD_KIND" && start_daemon "$B" "$ib" "$kb" &&
		wg_iface "$A" "$ia" "$KA" "$port" "10.60.$n.1/24" &&
		wg_iface "$B" "$ib" "$KB" "$port" "10.60.$n.2/24" &&
		nsrun "$A" wg set "$ia" peer "$PB" allowed-ips "10.60.$n.2/32" endpoint "10.207.0.2:$port" &&
		nsrun "$B" wg set "$ib" peer "$PA" allowed-ips "10.60.$n.1/32" endpoint "10.207.0.1:$port" &&
		wait_until 10 ping_ok "$A" "10.60.$n.2"
}

positive() { awk -v g="$1" 'BEGIN { exit !(g > 0) }'; }

# The figures go into the PASS lines, which tests/run shows even when all pass.
RAW=$(gbps 10.207.0.2)
if positive "$RAW"; then pass "raw-veth-carries-traffic: $RAW Gbit/s (TCP, 1 stream, $SECS s)"; else
	fail raw-veth-carries-traffic "iperf3 over the bare veth delivered nothing"; fi

for leg in "1 $WEFTD_KIND" "2 wireguard-go"; do
	set -- $leg
	name="$WEFTD_KIND-to-$2"
	if ! pair "$1" "$2"; then
		fail "$name/tunnel-up" "cannot start, configure or ping through $WEFTD_KIND <-> $2"
		continue
	fi
	got=$(gbps "10.60.$1.2")
	ratio=$(awk -v g="$got" -v r="$RAW" 'BEGIN { printf "%.3f", (r > 0 ? g / r : 0) }')
	if positive "$got"; then pass "$name/carries-traffic: $got Gbit/s = $ratio x raw veth"; else
		fail "$name/carries-traffic" "iperf3 through the tunnel delivered nothing"; fi
done

exit $FAILED
