#!/bin/bash
# tests/net/10-interop.sh: weftd speaks WireGuard with weftd and with
# wireguard-go, as initiator and as responder, IPv4 and IPv6 inside the
# tunnel, over an IPv4 and over an IPv6 underlay; data arrives intact.
#
#   netns ia<pid>                                     netns ib<pid>
#   veth ua<pid> 10.200.0.1/24 fd20::1/64 ------- veth ub<pid> 10.200.0.2/24 fd20::2/64
#     i<N>a<pid> (side A, initiator)   <=== leg N ===>   i<N>b<pid> (side B, responder)
#     10.10.N.1/24 fd10:N::1/64                           10.10.N.2/24 fd10:N::2/64
#     UDP port 51820+N on both sides; only A knows the other's endpoint, so
#     A makes the handshake and B must learn A's endpoint from it.
#
#   leg  side A (initiator)  side B (responder)  underlay  preshared key  100 MB each way
#   1    weftd               wireguard-go        IPv4                     yes
#   2    weftd               wireguard-go        IPv6      yes
#   3    wireguard-go        weftd               IPv4      yes
#   4    wireguard-go        weftd               IPv6                     yes
#   5    weftd               weftd               IPv4                     yes
#   6    weftd               weftd               IPv6      yes
#
# Every leg: pings both ways over IPv4 and IPv6 inside the tunnel, B's
# endpoint for A, handshake times on both sides, and a 1 MB TCP transfer
# each way (inner IPv4 one way, inner IPv6 the other) whose sha256 is
# computed at the receiving end. WEFTD_KIND=wireguard-go runs the reference
# in weftd's place (to check the test itself).
. "$(dirname "$0")/lib.sh"
TEST_NAME=interop
require_weftd

A=ia$TAG B=ib$TAG
TMP=$WEFT_TMP
make_ns "$A" && make_ns "$B" || { fail netns "cannot create namespaces"; exit 1; }
link_ns "$A" "ua$TAG" 10.200.0.1/24 "$B" "ub$TAG" 10.200.0.2/24 &&
	add_addr "$A" "ua$TAG" fd20::1/64 && add_addr "$B" "ub$TAG" fd20::2/64 ||
	{ fail underlay "cannot link the namespaces"; exit 1; }

KA=$(keyfile) KB=$(keyfile) PSK=$(keyfile)
PA=$(pubkey_of "$KA") PB=$(pubkey_of "$KB")
wg genpsk >"$PSK"
head -c 1M /dev/urandom >"$TMP/small"
BIG_MB=${BIG_MB:-100}
head -c "${BIG_MB}M" /dev/urandom >"$TMP/big"

mtu_is() { ip -n "$1" link show "$2" | grep -q " mtu $3 "; }
has_handshake() { (($(handshake_time "$1" "$2" "$3") > 0)); }

leg() { # N KIND_A KIND_B FAMILY PSK BIG
	local n=$1 ka=$2 kb=$3 fam=$4 psk=$5 big=$6
	local ia=i${n}a$TAG ib=i${n}b$TAG port=$((51820 + n))
	local name="leg$n-$ka-to-$kb-over-ipv$fam" ep want_ep psk_args=()
	[[ $psk == yes ]] && name+=-psk psk_args=(preshared-key "$PSK")
	if [[ $fam == 4 ]]; then
		ep=10.200.0.2:$port want_ep=10.200.0.1:$port
	else
		ep="[fd20::2]:$port" want_ep="[fd20::1]:$port"
	fi
	echo "--- $name"
	if ! start_daemon "$A" "$ia" "$ka" || ! start_daemon "$B" "$ib" "$kb"; then
		fail "$name/start" "cannot start $ka in $A or $kb in $B"
		return
	fi
	[[ $ka == weftd ]] && check "$name/default-mtu-1420-side-A" mtu_is "$A" "$ia" 1420
	[[ $kb == weftd ]] && check "$name/default-mtu-1420-side-B" mtu_is "$B" "$ib" 1420
	if ! wg_iface "$A" "$ia" "$KA" "$port" "10.10.$n.1/24" "fd10:$n::1/64" ||
		! wg_iface "$B" "$ib" "$KB" "$port" "10.10.$n.2/24" "fd10:$n::2/64" ||
		! nsrun "$A" wg set "$ia" peer "$PB" allowed-ips "10.10.$n.2/32,fd10:$n::2/128" endpoint "$ep" "${psk_args[@]}" ||
		! nsrun "$B" wg set "$ib" peer "$PA" allowed-ips "10.10.$n.1/32,fd10:$n::1/128" "${psk_args[@]}"; then
		fail "$name/configure" "wg set failed"
		return
	fi
	check "$name/ping4-initiator-to-responder" wait_until 10 ping_ok "$A" "10.10.$n.2"
	check "$name/ping4-responder-to-initiator" ping_ok "$B" "10.10.$n.1"
	check "$name/ping6-initiator-to-responder" wait_until 3 ping_ok "$A" "fd10:$n::2"
	check "$name/ping6-responder-to-initiator" wait_until 3 ping_ok "$B" "fd10:$n::1"
	check "$name/handshake-seen-by-initiator" has_handshake "$A" "$ia" "$PB"
	check "$name/handshake-seen-by-responder" has_handshake "$B" "$ib" "$PA"
	local got
	got=$(endpoint_of "$B" "$ib" "$PA")
	if [[ $got == "$want_ep" ]]; then pass "$name/responder-learned-endpoint"; else
		fail "$name/responder-learned-endpoint" "got '$got', want '$want_ep'"; fi
	check "$name/tcp-1MB-ipv4-initiator-to-responder" \
		transfer_ok "$A" "$B" "10.10.$n.2" 5001 "$TMP/small" 30
	check "$name/tcp-1MB-ipv6-responder-to-initiator" \
		transfer_ok "$B" "$A" "fd10:$n::1" 5002 "$TMP/small" 30
	if [[ $big == yes ]]; then
		local t0=$SECONDS
		check "$name/tcp-${BIG_MB}MB-initiator-to-responder-sha256" \
			transfer_ok "$A" "$B" "10.10.$n.2" 5003 "$TMP/big" 120
		check "$name/tcp-${BIG_MB}MB-responder-to-initiator-sha256" \
			transfer_ok "$B" "$A" "fd10:$n::1" 5004 "$TMP/big" 120
		echo "    ${BIG_MB} MB each way in $((SECONDS - t0)) s"
	fi
}

W=$WEFTD_KIND
leg 1 "$W" wireguard-go 4 no yes
leg 2 "$W" wireguard-go 6 yes no
leg 3 wireguard-go "$W" 4 yes no
leg 4 wireguard-go "$W" 6 no yes
leg 5 "$W" "$W" 4 no yes
leg 6 "$W" "$W" 6 yes no

exit $FAILED
