#!/bin/bash
# tests/net/30-roaming.sh: one side's underlay address changes (a new
# address added, the old one deleted) and traffic resumes in both directions
# with no configuration touched. The side that moves learnt its sticky
# source address (IP_PKTINFO / IPV6_PKTINFO) from the packets it received on
# the old address; weftd must drop it when that address goes away, or it
# would keep sending from a dead address and never reach its peer again.
#
#   netns ra<pid> (moves)                         netns rb<pid>
#   veth ma<pid>                                  veth mb<pid>
#     10.204.0.1/24  -> 10.204.0.11/24              10.204.0.2/24
#     fd24::1/64     -> fd24::11/64                 fd24::2/64
#   r<N>a<pid>  <=============== leg N ===============>  r<N>b<pid>
#   10.30.N.1/24, fd30:N::1/64      UDP 51840+N      10.30.N.2/24, fd30:N::2/64
#
#   leg  ra (moves)     rb (stays, knows ra's old address)   underlay
#   1    weftd          wireguard-go                         IPv4
#   2    weftd          wireguard-go                         IPv6
#   3    weftd          weftd                                IPv4
#   4    weftd          weftd                                IPv6
#   5    wireguard-go   weftd                                IPv6
#
# Only rb has an endpoint configured, so rb makes the handshake to ra's old
# address and ra only ever learns rb's endpoint and its own source address
# from what it receives. Then all legs move at once: ra pings first (rb
# cannot know where ra went), rb must roam its endpoint to ra's new address,
# then rb pings ra. Legs 3-5 check weftd as the side that follows a peer
# which moved. (Leg 5 is IPv6 because Debian's wireguard-go, as the mover,
# keeps its dead IPv4 source address: with WEFTD_KIND=wireguard-go legs 1
# and 3 fail for that reason, which shows what this test catches.)
. "$(dirname "$0")/lib.sh"
TEST_NAME=roaming
require_weftd

A=ra$TAG B=rb$TAG
make_ns "$A" && make_ns "$B" || { fail netns "cannot create namespaces"; exit 1; }
link_ns "$A" "ma$TAG" 10.204.0.1/24 "$B" "mb$TAG" 10.204.0.2/24 &&
	add_addr "$A" "ma$TAG" fd24::1/64 && add_addr "$B" "mb$TAG" fd24::2/64 ||
	{ fail underlay "cannot link the namespaces"; exit 1; }
# deleting the old (primary) IPv4 address must not take the new one with it
echo 1 | nsrun "$A" tee "/proc/sys/net/ipv4/conf/ma$TAG/promote_secondaries" >/dev/null

KA=$(keyfile) KB=$(keyfile)
PA=$(pubkey_of "$KA") PB=$(pubkey_of "$KB")
W=$WEFTD_KIND
LEGS=("1 $W wireguard-go 4" "2 $W wireguard-go 6" "3 $W $W 4" "4 $W $W 6" "5 wireguard-go $W 6")

endpoint_is() { [[ $(endpoint_of "$@") == "$4" ]]; }

setup() { # N KIND_A KIND_B FAMILY
	local n=$1 ia=r$1a$TAG ib=r$1b$TAG port=$((51840 + $1)) ep
	[[ $4 == 4 ]] && ep=10.204.0.1:$port || ep="[fd24::1]:$port"
	start_daemon "$A" "$ia" "$2" && start_daemon "$B" "$ib" "$3" &&
		wg_iface "$A" "$ia" "$KA" "$port" "10.30.$n.1/24" "fd30:$n::1/64" &&
		wg_iface "$B" "$ib" "$KB" "$port" "10.30.$n.2/24" "fd30:$n::2/64" &&
		nsrun "$A" wg set "$ia" peer "$PB" allowed-ips "10.30.$n.0/24,fd30:$n::/64" &&
		nsrun "$B" wg set "$ib" peer "$PA" allowed-ips "10.30.$n.0/24,fd30:$n::/64" endpoint "$ep"
}
legname() { set -- $1; echo "leg$1-$2-moves-$3-stays-ipv$4"; }

echo "--- before the move: rb reaches ra at its old address"
for leg in "${LEGS[@]}"; do
	set -- $leg
	name=$(legname "$leg")
	if ! setup "$@"; then fail "$name/setup" "cannot start or configure"; continue; fi
	check "$name/before/ping-stayer-to-mover" wait_until 10 ping_ok "$B" "10.30.$1.1"
	check "$name/before/ping-mover-to-stayer" ping_ok "$A" "fd30:$1::2"
done

echo "--- ra moves: new addresses added, the old ones deleted"
add_addr "$A" "ma$TAG" 10.204.0.11/24 fd24::11/64 &&
	ip -n "$A" addr del 10.204.0.1/24 dev "ma$TAG" &&
	ip -n "$A" addr del fd24::1/64 dev "ma$TAG" || fail move "cannot change ra's addresses"
check "move/old-addresses-gone" eval "! ip -n '$A' addr show dev 'ma$TAG' | grep -qE '10\.204\.0\.1/|fd24::1/'"
check "move/new-ipv4-kept" eval "ip -n '$A' addr show dev 'ma$TAG' | grep -q '10.204.0.11/24'"

for leg in "${LEGS[@]}"; do
	set -- $leg
	n=$1 name=$(legname "$leg") port=$((51840 + $1))
	[[ $4 == 4 ]] && newep=10.204.0.11:$port || newep="[fd24::11]:$port"
	check "$name/after/ping-mover-to-stayer" wait_until 10 ping_ok "$A" "10.30.$n.2"
	check "$name/after/stayer-roamed-to-new-address" wait_until 3 endpoint_is "$B" "r${n}b$TAG" "$PA" "$newep"
	check "$name/after/ping-stayer-to-mover" wait_until 5 ping_ok "$B" "10.30.$n.1"
	check "$name/after/ping6-stayer-to-mover" wait_until 5 ping_ok "$B" "fd30:$n::1"
	check "$name/after/ping6-mover-to-stayer" ping_ok "$A" "fd30:$n::2"
done

exit $FAILED
