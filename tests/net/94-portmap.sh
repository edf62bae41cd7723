#!/bin/bash
# tests/net/94-portmap.sh: `weft link` asks a home gateway to forward its
# WireGuard port, the gateway being Debian's miniupnpd (nftables backend)
# with PCP, NAT-PMP and UPnP IGD on, started here with its own config file; a
# peer outside then reaches the client through the mapped port alone, and
# the mapping is gone once weft link stops (SIGTERM).
#
#   netns pc<pid> (client)        netns pg<pid> (gateway)           netns po<pid> (outside)
#   weftd wp<pid>, UDP 51820      miniupnpd: PCP, NAT-PMP, UPnP IGD  wireguard-go wq<pid>
#   weft link wp<pid>             nft: masquerade out of w<pid>,     10.94.9.2/24
#   10.94.9.1/24                    forward: only established and    Endpoint = 11.77.0.1:<mapped>
#   veth l<pid> 192.168.94.2/24 --- veth g<pid> 192.168.94.1/24
#                                 veth w<pid> 11.77.0.1/24 --------- veth o<pid> 11.77.0.2/24
#   netns pn<pid> (a LAN neighbour, runs `upnpc -l`)
#   veth n<pid> 192.168.94.3/24 --- veth h<pid> (bridged on the gateway's LAN)
#
# miniupnpd refuses a private or reserved external address (RFC 1918, RFC
# 5737, CGNAT...: "Port forwarding is impossible"), so the lab's "internet"
# is 11.77.0.0/24, routed only between these namespaces.
#
# Rounds: PCP (tried first), NAT-PMP (weft link --portmap nat-pmp), UPnP
# (miniupnpd with PCP and NAT-PMP off), and a gateway that refuses every
# mapping (its permission rules deny all): weft link keeps running and no
# mapping appears.
. "$(dirname "$0")/lib.sh"
TEST_NAME=portmap
require_weft wg wireguard-go nft
MINIUPNPD=${MINIUPNPD:-/usr/sbin/miniupnpd}
if [[ ! -x $MINIUPNPD ]] || ! command -v upnpc >/dev/null; then
	skip all "miniupnpd or upnpc is not installed (scripts/install-deps installs miniupnpd-nftables and miniupnpc)"
	exit 0
fi

C=pc$TAG G=pg$TAG O=po$TAG N=pn$TAG
WC=wp$TAG WO=wq$TAG
make_ns "$C" && make_ns "$G" && make_ns "$O" && make_ns "$N" || { fail netns "cannot create namespaces"; exit 1; }
# the gateway's LAN is a bridge, so that a neighbour can ask it too
ip -n "$G" link add "br$TAG" type bridge && ip -n "$G" link set "br$TAG" up &&
	add_addr "$G" "br$TAG" 192.168.94.1/24 &&
	ip link add "l$TAG" netns "$C" type veth peer name "g$TAG" netns "$G" &&
	ip link add "n$TAG" netns "$N" type veth peer name "h$TAG" netns "$G" &&
	ip -n "$G" link set "g$TAG" master "br$TAG" && ip -n "$G" link set "h$TAG" master "br$TAG" &&
	ip -n "$G" link set "g$TAG" up && ip -n "$G" link set "h$TAG" up &&
	add_addr "$C" "l$TAG" 192.168.94.2/24 && ip -n "$C" link set "l$TAG" up &&
	add_addr "$N" "n$TAG" 192.168.94.3/24 && ip -n "$N" link set "n$TAG" up &&
	link_ns "$G" "w$TAG" 11.77.0.1/24 "$O" "o$TAG" 11.77.0.2/24 &&
	ip -n "$C" route add default via 192.168.94.1 &&
	ip -n "$N" route add default via 192.168.94.1 &&
	nsrun "$G" sysctl -qw net.ipv4.ip_forward=1 ||
	{ fail topology "cannot build the namespaces' links"; exit 1; }

# The tables and chains Debian's miniupnpd (nftables backend) fills: table
# inet filter with chains miniupnpd (forward), prerouting_miniupnpd and
# postrouting_miniupnpd (nat), as its nft_init.sh makes them. Forwarding
# from outside is dropped unless a mapping allows it.
nsrun "$G" nft -f - <<NFT || { fail nftables "cannot load the gateway's ruleset"; exit 1; }
table inet filter {
	chain forward {
		type filter hook forward priority 0; policy drop;
		ct state established,related accept
		iifname "br$TAG" accept
		jump miniupnpd
	}
	chain miniupnpd { }
	chain prerouting {
		type nat hook prerouting priority -100; policy accept;
		jump prerouting_miniupnpd
	}
	chain postrouting {
		type nat hook postrouting priority 100; policy accept;
		jump postrouting_miniupnpd
		oifname "w$TAG" masquerade
	}
	chain prerouting_miniupnpd { }
	chain postrouting_miniupnpd { }
}
NFT

# start_gateway NATPMP UPNP [RULE]: miniupnpd in the foreground (-d) on a
# config of its own; RULE replaces the permission rule
start_gateway() {
	local conf=$WEFT_TMP/miniupnpd.conf rule=${3:-"allow 1024-65535 192.168.94.0/24 1024-65535"}
	cat >"$conf" <<CONF
ext_ifname=w$TAG
listening_ip=br$TAG
http_port=0
enable_natpmp=$1
enable_upnp=$2
secure_mode=yes
system_uptime=yes
lease_file=$WEFT_TMP/upnp.leases
uuid=3d3cec3a-8cf0-11e0-98ee-00$(printf '%010d' "$((TAG % 10000000000))")
$rule
deny 0-65535 0.0.0.0/0 0-65535
CONF
	# a simple command in the background (not the nsrun function): $! is
	# then miniupnpd itself, which SIGTERM stops
	ip netns exec "$G" "$MINIUPNPD" -d -f "$conf" -P "$WEFT_TMP/miniupnpd.pid" >"$WEFT_TMP/miniupnpd.log" 2>&1 &
	GW_PID=$!
	# it answers NAT-PMP and SSDP once it logs that it listens
	wait_until 5 grep -qs "Listening for NAT-PMP\|HTTP listening" "$WEFT_TMP/miniupnpd.log"
}
# (miniupnpd sometimes takes a minute over SIGTERM: a second is enough)
stop_gateway() {
	kill "$GW_PID" 2>/dev/null
	wait_until 1 eval "! kill -0 $GW_PID 2>/dev/null" || kill -KILL "$GW_PID" 2>/dev/null
	wait "$GW_PID" 2>/dev/null
	: >"$WEFT_TMP/upnp.leases"
}
on_exit 'stop_gateway'

# the client: weftd with the outside peer and no endpoint (weft link's to manage)
KC=$(keyfile) KO=$(keyfile)
PC=$(pubkey_of "$KC") PO=$(pubkey_of "$KO")
export WEFT_CONFIG_DIR=$WEFT_TMP/etc
mkdir -p "$WEFT_CONFIG_DIR"
start_daemon "$C" "$WC" weftd && wg_iface "$C" "$WC" "$KC" 51820 10.94.9.1/24 &&
	nsrun "$C" wg set "$WC" peer "$PO" allowed-ips 10.94.9.2/32 &&
	start_daemon "$O" "$WO" wireguard-go && wg_iface "$O" "$WO" "$KO" 51821 10.94.9.2/24 ||
	{ fail setup "cannot start the WireGuard interfaces"; exit 1; }
{
	echo "[Interface]"
	echo "PrivateKey = $(cat "$KC")"
	echo "ListenPort = 51820"
	echo "Address = 10.94.9.1/24"
	echo "[Peer]"
	echo "PublicKey = $PO"
	echo "AllowedIPs = 10.94.9.2/32"
} >"$WEFT_CONFIG_DIR/$WC.conf"
chmod 600 "$WEFT_CONFIG_DIR/$WC.conf"

# the gateway's mappings: "udp EXT 192.168.94.2:51820" lines from its nft chain
mappings() { nsrun "$G" nft list chain inet filter prerouting_miniupnpd 2>/dev/null |
	sed -n 's/.*th dport \([0-9]*\) dnat ip to \([0-9.:]*\).*/\1 \2/p'; }
mapped_port() { mappings | awk '$2 == "192.168.94.2:51820" { print $1; exit }'; }
has_mapping() { [[ -n $(mapped_port) ]]; }
no_mapping() { [[ -z $(mapped_port) ]]; }

# No coord answers here (11.77.0.2 runs none): weft link keeps retrying
# it, and the port mapping does not depend on it.
COORD_KEY=$(wg genkey | wg pubkey)
start_link() { # NAME [--portmap LIST]
	local name=$1
	shift
	ip netns exec "$C" env LOG_LEVEL=verbose WEFT_CONFIG_DIR="$WEFT_CONFIG_DIR" WEFT_RUN_DIR="$WEFT_TMP/run" \
		"$WEFT" link "$WC" --coord 11.77.0.2:3478 --coord-key "$COORD_KEY" "$@" >"$WEFT_TMP/link-$name.log" 2>&1 &
	LINK_PID=$!
}
stop_link() { kill -TERM "$LINK_PID" 2>/dev/null; wait "$LINK_PID" 2>/dev/null; }

# round NAME NATPMP UPNP [LINK OPTIONS]: a mapping by protocol NAME, used,
# then removed
round() {
	local name=$1 port
	start_gateway "$2" "$3" || { fail "$name/gateway" "miniupnpd did not start: $(tail -3 "$WEFT_TMP/miniupnpd.log")"; return; }
	start_link "$name" "${@:4}"
	if ! check "$name/mapping-made" wait_until 15 has_mapping; then
		sed 's/^/    link: /' "$WEFT_TMP/link-$name.log" | tail -20
		stop_link; stop_gateway; return
	fi
	port=$(mapped_port)
	check "$name/logged-by-$name" wait_until 3 grep -q "portmap: $name mapped 11.77.0.1:$port" "$WEFT_TMP/link-$name.log"
	# the mapped address is one of the candidates weft link announces
	check "$name/status-shows-it" wait_until 3 eval "WEFT_RUN_DIR='$WEFT_TMP/run' '$WEFT' link status '$WC' | grep -q 'port mapping: 11.77.0.1:$port'"
	if [[ $name == upnp ]]; then
		# the IGD's own list, asked from a neighbour on the LAN
		check "$name/upnpc-lists-it" eval "nsrun '$N' upnpc -l 2>/dev/null | grep -q 'UDP *$port->192.168.94.2:51820'"
	fi
	# the outside peer knows nothing but the mapped address
	nsrun "$O" wg set "$WO" peer "$PC" allowed-ips 10.94.9.1/32 endpoint "11.77.0.1:$port"
	check "$name/ping-through-mapping" wait_until 10 ping_ok "$O" 10.94.9.1
	check "$name/handshake" eval "(( \$(handshake_time '$O' '$WO' '$PC') > 0 ))"
	stop_link
	check "$name/removed-on-exit" no_mapping
	check "$name/removal-logged" grep -q "portmap: $name mapping of port $port removed" "$WEFT_TMP/link-$name.log"
	nsrun "$O" wg set "$WO" peer "$PC" remove
	stop_gateway
}

# miniupnpd serves PCP and NAT-PMP together (enable_natpmp): PCP is asked
# first; NAT-PMP alone when weft link is told so
round pcp yes no
round nat-pmp yes no --portmap nat-pmp
round upnp no yes

# a gateway that says no: weft link keeps running, nothing is mapped
start_gateway yes yes "deny 0-65535 192.168.94.0/24 0-65535" ||
	fail refused/gateway "miniupnpd did not start"
start_link refused
# both protocols asked and refused (UPnP's discovery takes up to 3 s)
check refused/said-so wait_until 20 grep -q "portmap: no mapping" "$WEFT_TMP/link-refused.log"
check refused/no-mapping no_mapping
check refused/link-still-running kill -0 "$LINK_PID"
stop_link
stop_gateway
# (with WEFT= a sanitizer build, its reports land in these logs)
check no-sanitizer-reports bash -c "! grep -l 'Sanitizer\|runtime error' '$WEFT_TMP'/link-*.log"

exit $FAILED
