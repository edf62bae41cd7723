#!/bin/bash
# tests/net/87-flood.sh: a handshake flood meets the defences before it
# hurts. A flooder that knows the server's public key sends initiations
# with a valid mac1 (random otherwise, so each costs the server an X25519
# before it fails) from many source addresses, at ~8,000/s and at
# ~50,000/s, a few seconds each, while a real peer (wireguard-go) pings the
# server through the tunnel. Checked, per rate: the first cookie reply
# reaches the flooder within a second, and each source gets them at the
# per-source pace only; the X25519s weftd spends stay within what an eighth
# of a second of its handshake rate affords (its verbose log states both),
# far below one per message; the peer's ping stays under 5 ms: the median
# of a ping every 20 ms always, the 90th percentile when the same pings
# without a flood, just before and after, show a quiet machine (p90 under
# 1 ms; else SKIP, since other work holds the CPUs; a miss gets one more
# round); the 95th percentile and the maximum are printed.
# tests/run: alone (it measures ping times)
#
#   netns fc<pid> (real peer)                 netns fs<pid> (server)                netns ff<pid> (flooder)
#   veth fc<pid> 10.208.0.2/24 -------------- veth fs<pid> 10.208.0.1/24
#                                             veth fx<pid> 10.209.0.1/24 ---------- veth ff<pid> 10.209.0.10-41/24
#   fwc<pid>: wireguard-go 10.61.0.2/24 <== UDP 51890 ==> fws<pid>: weftd 10.61.0.1/24 <== flood (UDP 51890)
#
# FLOOD_SECONDS (default 3) and FLOOD_RATES (default "8000 50000") change it.
. "$(dirname "$0")/lib.sh"
TEST_NAME=flood
require_weftd
if [[ $WEFTD_KIND != weftd ]]; then
	echo "SKIP: $TEST_NAME: reads weftd's own log (X25519 count, handshake rate); nothing to compare in $WEFTD_KIND"
	exit 0
fi

SECS=${FLOOD_SECONDS:-3}
RATES=${FLOOD_RATES:-8000 50000}
C=fc$TAG S=fs$TAG F=ff$TAG
IC=fwc$TAG IS=fws$TAG PORT=51890
make_ns "$C" && make_ns "$S" && make_ns "$F" || { fail netns "cannot create namespaces"; exit 1; }
link_ns "$C" "fc$TAG" 10.208.0.2/24 "$S" "fs$TAG" 10.208.0.1/24 || { fail underlay "cannot link"; exit 1; }
link_ns "$S" "fx$TAG" 10.209.0.1/24 "$F" "ff$TAG" 10.209.0.10/24 || { fail underlay "cannot link"; exit 1; }
SOURCES=10.209.0.10
for i in $(seq 11 41); do
	add_addr "$F" "ff$TAG" "10.209.0.$i/24" || { fail underlay "cannot add flood sources"; exit 1; }
	SOURCES+=",10.209.0.$i"
done
KC=$(keyfile) KS=$(keyfile)
PC=$(pubkey_of "$KC") PS=$(pubkey_of "$KS")

# weftd in the foreground, verbose, its log kept
LOG=$WEFT_TMP/weftd.log
on_exit "rm -f '/var/run/wireguard/$IS.sock'"
nsrun "$S" env LOG_LEVEL=verbose "$WEFTD" -f "$IS" >"$LOG" 2>&1 &
wait_until 5 nsrun "$S" test -S "/var/run/wireguard/$IS.sock" || { fail start "weftd did not start"; cat "$LOG"; exit 1; }
start_daemon "$C" "$IC" wireguard-go || { fail start "wireguard-go did not start"; exit 1; }
wg_iface "$S" "$IS" "$KS" "$PORT" 10.61.0.1/24 && wg_iface "$C" "$IC" "$KC" "$PORT" 10.61.0.2/24 &&
	nsrun "$S" wg set "$IS" peer "$PC" allowed-ips 10.61.0.2/32 &&
	nsrun "$C" wg set "$IC" peer "$PS" allowed-ips 10.61.0.1/32 endpoint "10.208.0.1:$PORT" ||
	{ fail setup "cannot configure the tunnel"; exit 1; }
check tunnel-up wait_until 10 ping_ok "$C" 10.61.0.1

AFFORD=$(sed -n 's/.*under load above \([0-9]*\) handshakes a second.*/\1/p' "$LOG" | tail -1)
[[ -n $AFFORD ]] || { fail rate "weftd did not log the handshake rate it affords"; exit 1; }
echo "    weftd affords $AFFORD handshakes a second before it demands cookies"

# The flooder (bench/handshake_flood.c): precomputed initiations, random
# but for a valid mac1 and no mac2, sent with sendmmsg round-robin from
# every source address at the given rate; it counts the cookie replies.
FLOOD=$ROOT/build/bench/handshake_flood
[[ -x $FLOOD ]] || { fail build "$FLOOD is missing (run make)"; exit 1; }

# x25519: the count in weftd's latest stats line (logged each second when it moves)
x25519_now() { sed -n 's/.*Handshake stats: x25519=\([0-9]*\).*/\1/p' "$LOG" | tail -1; }

# ping_stats FILE COUNT: "median p90 p95 max loss%" of a ping run (ms)
ping_stats() {
	python3 -c '
import re, sys
t = sorted(float(x) for x in re.findall(r"time=([0-9.]+) ms", open(sys.argv[1]).read()))
n = int(sys.argv[2])
if not t: print("-1 -1 -1 -1 100"); sys.exit()
q = lambda f: t[min(len(t) - 1, int(len(t) * f))]
print(t[len(t) // 2], q(0.9), q(0.95), t[-1], round(100 * (n - len(t)) / n))' "$1" "$2"
}
PINGS=$((SECS * 50)) # one every 20 ms

# flood_round RATE: the pings without a flood (how loud the machine is
# now), then the flood with the same pings, then the pings alone again. Sets
# sent secs achieved cookies first spent median p90 p95 max loss quiet_p90.
flood_round() {
	local rate=$1 before after q1 q2
	sleep 1.2 # a stats line for the quiet before, and the last flood's load over
	before=$(x25519_now)
	before=${before:-0}
	nsrun "$C" ping -i 0.02 -W 1 -c "$PINGS" 10.61.0.1 >"$WEFT_TMP/quiet1-$rate" 2>&1
	nsrun "$C" ping -i 0.02 -W 1 -c "$PINGS" 10.61.0.1 >"$WEFT_TMP/ping-$rate" 2>&1 &
	local pinger=$!
	local out
	out=$(nsrun "$F" "$FLOOD" 10.209.0.1 "$PORT" "$PS" "$rate" "$SECS" "$SOURCES")
	wait "$pinger"
	sleep 1.2 # the stats line after, and the flood's load over
	after=$(x25519_now)
	nsrun "$C" ping -i 0.02 -W 1 -c "$PINGS" 10.61.0.1 >"$WEFT_TMP/quiet2-$rate" 2>&1
	read -r sent secs cookies first < <(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(d["sent"], round(d["seconds"], 2), d["cookies"], -1 if d["first_cookie"] is None else round(d["first_cookie"], 3))' "$out")
	achieved=$(python3 -c "print(int($sent / $secs))")
	spent=$((${after:-0} - before))
	read -r median p90 p95 max loss < <(ping_stats "$WEFT_TMP/ping-$rate" "$PINGS")
	read -r _ q1 _ _ _ < <(ping_stats "$WEFT_TMP/quiet1-$rate" "$PINGS")
	read -r _ q2 _ _ _ < <(ping_stats "$WEFT_TMP/quiet2-$rate" "$PINGS")
	quiet_p90=$(python3 -c "print(max($q1, $q2) if min($q1, $q2) >= 0 else -1)")
	echo "    $rate/s asked: $sent initiations in $secs s ($achieved/s), $cookies cookie replies, first after $first s;" \
		"X25519 spent: $spent; ping median $median ms, p90 $p90 ms, p95 $p95 ms, max $max ms, loss $loss %" \
		"(without a flood just before and after: p90 $q1 and $q2 ms)"
}

for rate in $RATES; do
	name=rate-$rate
	flood_round "$rate"
	if ((achieved < rate / 2)); then
		echo "SKIP: $TEST_NAME/$name: the flooder reached only $achieved/s of $rate/s on this machine"
		continue
	fi
	check "$name/cookie-within-1s" python3 -c "import sys; sys.exit(not (0 <= $first < 1.0))"
	# each source gets cookie replies at the per-source pace (a burst of 5,
	# then 20 a second), not one per message
	check "$name/cookies-paced-per-source" test "$cookies" -le $((32 * (5 + 20 * (${secs%.*} + 2))))
	# the flood's X25519s: what an eighth of a second affords (the rate is
	# counted per eighth), plus a budget's worth queued before the load was
	# seen, plus the real peer's few
	check "$name/x25519-bounded" test "$spent" -le $((AFFORD / 8 + 2 * 16 + 32))
	check "$name/x25519-far-below-messages" test $((spent * 4)) -lt "$sent"
	check "$name/ping-median-under-5ms" python3 -c "import sys; sys.exit(not 0 <= $median < 5)"
	check "$name/ping-no-loss" test "$loss" -le 5
	# The 90th percentile is judged only when the machine itself is quiet
	# enough to tell (a p90 under 1 ms without a flood, before and after):
	# other work that holds the CPUs shows as slow pings, flood or not. A
	# miss on a quiet machine gets one more round: a burst of other work
	# during those 3 s looks the same.
	verdict=skip
	for attempt in 1 2; do
		if ((attempt == 2)); then
			echo "    (one more round for the 90th percentile)"
			flood_round "$rate"
		fi
		if python3 -c "import sys; sys.exit(not 0 <= $quiet_p90 < 1)"; then
			python3 -c "import sys; sys.exit(not 0 <= $p90 < 5)" && { verdict=pass; break; }
			verdict=fail
		fi
	done
	case $verdict in
	pass) pass "$name/ping-p90-under-5ms" ;;
	fail) fail "$name/ping-p90-under-5ms" "p90 $p90 ms with the flood on a quiet machine (p90 $quiet_p90 ms without)" ;;
	*) echo "SKIP: $TEST_NAME/$name/ping-p90-under-5ms: the machine is busy (p90 $quiet_p90 ms without a flood)" ;;
	esac
done
grep -E "Under load|Handshake stats" "$LOG" | tail -4 | sed 's/^/    weftd: /'
exit $FAILED
