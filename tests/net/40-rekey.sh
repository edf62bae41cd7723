#!/bin/bash
# tests/net/40-rekey.sh: a real rekey. Traffic runs for 130 s (5 pings a
# second), past REKEY_AFTER_TIME (120 s), so the session's initiator must
# make a second handshake and both sides must switch keypairs without
# losing more than a few packets.
#
#   netns ka<pid>                                   netns kb<pid>
#   veth ka<pid> 10.205.0.1/24 --------------------- veth kb<pid> 10.205.0.2/24
#   k<N>a<pid> (initiator: only it has an endpoint) <=== leg N ===> k<N>b<pid>
#   10.40.N.1/24                        UDP 51850+N                 10.40.N.2/24
#
#   leg  initiator (rekeys)  responder
#   1    weftd               wireguard-go
#   2    wireguard-go        weftd
#   3    weftd               weftd
#
# The three legs run at the same time, so the test takes 130 s in all.
# REKEY_SECONDS and REKEY_MAX_LOST change the length and the tolerance.
# tests/run: mostly waits (runs beside the other suites)
. "$(dirname "$0")/lib.sh"
TEST_NAME=rekey
require_weftd

SECS=${REKEY_SECONDS:-130}
MAX_LOST=${REKEY_MAX_LOST:-3}
A=ka$TAG B=kb$TAG
make_ns "$A" && make_ns "$B" || { fail netns "cannot create namespaces"; exit 1; }
link_ns "$A" "ka$TAG" 10.205.0.1/24 "$B" "kb$TAG" 10.205.0.2/24 || { fail underlay "cannot link"; exit 1; }
KA=$(keyfile) KB=$(keyfile)
PA=$(pubkey_of "$KA") PB=$(pubkey_of "$KB")
W=$WEFTD_KIND
LEGS=("1 $W wireguard-go" "2 wireguard-go $W" "3 $W $W")
declare -A H0A H0B PINGS

for leg in "${LEGS[@]}"; do
	set -- $leg
	n=$1 ia=k$1a$TAG ib=k$1b$TAG port=$((51850 + $1))
	name="leg$n-$2-initiates-$3-responds"
	if ! start_daemon "$A" "$ia" "$2" || ! start_daemon "$B" "$ib" "$3" ||
		! wg_iface "$A" "$ia" "$KA" "$port" "10.40.$n.1/24" ||
		! wg_iface "$B" "$ib" "$KB" "$port" "10.40.$n.2/24" ||
		! nsrun "$A" wg set "$ia" peer "$PB" allowed-ips "10.40.$n.2/32" endpoint "10.205.0.2:$port" ||
		! nsrun "$B" wg set "$ib" peer "$PA" allowed-ips "10.40.$n.1/32"; then
		fail "$name/setup" "cannot start or configure"
		continue
	fi
	check "$name/first-handshake" wait_until 10 ping_ok "$A" "10.40.$n.2"
	H0A[$n]=$(handshake_time "$A" "$ia" "$PB")
	H0B[$n]=$(handshake_time "$B" "$ib" "$PA")
	echo "    leg $n: first handshake at ${H0A[$n]} (initiator) / ${H0B[$n]} (responder)"
	nsrun "$A" ping -i 0.2 -c $((SECS * 5)) -W 1 -q "10.40.$n.2" >"$WEFT_TMP/ping$n" 2>&1 &
	PINGS[$n]=$!
done

echo "--- pinging for $SECS s on every leg"
for leg in "${LEGS[@]}"; do
	set -- $leg
	n=$1 ia=k$1a$TAG ib=k$1b$TAG
	name="leg$n-$2-initiates-$3-responds"
	[[ -n ${PINGS[$n]:-} ]] || continue
	wait "${PINGS[$n]}"
	read -r sent got < <(awk '/packets transmitted/ { print $1, $4 }' "$WEFT_TMP/ping$n")
	lost=$((${sent:-0} - ${got:-0}))
	echo "    leg $n: $sent sent, $got answered"
	if ((${sent:-0} >= SECS * 5 && lost <= MAX_LOST)); then pass "$name/at-most-$MAX_LOST-lost"; else
		fail "$name/at-most-$MAX_LOST-lost" "$(tail -n 3 "$WEFT_TMP/ping$n" | tr '\n' ' ')"; fi
	ha=$(handshake_time "$A" "$ia" "$PB") hb=$(handshake_time "$B" "$ib" "$PA")
	echo "    leg $n: latest handshake at $ha (initiator) / $hb (responder)"
	# (a first handshake of 0, i.e. none, must not make any later one count as a second)
	check "$name/second-handshake-initiator" eval "((${H0A[$n]} > 0 && ha > ${H0A[$n]} + 60))"
	check "$name/second-handshake-responder" eval "((${H0B[$n]} > 0 && hb > ${H0B[$n]} + 60))"
	check "$name/tunnel-still-up" ping_ok "$A" "10.40.$n.2"
done

exit $FAILED
