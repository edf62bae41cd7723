# tests/net/lib_nat.sh: a lab of NATed peers around a `weft coord` for the
# network tests of weft coord and weft link (source it after lib.sh).
#
#                      netns i<tag> ("internet", router)
#                      weft coord on 192.0.2.1:51819 (lo), UDP and TCP
#          198.51.100.1/24 |                      | 203.0.113.1/24
#          198.51.100.2/24 |                      | 203.0.113.2/24
#              netns na<tag> (NAT)          netns nb<tag> (NAT)
#              10.0.1.1/24                  10.0.2.1/24
#                  |                            |
#              netns a<tag> 10.0.1.2        netns b<tag> 10.0.2.2
#
# nat_lab builds it (namespaces $I $NA $NB $A $B, routes, forwarding);
# nat_set NS WAN KIND makes NS a NAT of a kind, replacing the one before:
#   eim        conntrack masquerade: keeps the source port when it can
#              (endpoint-independent mapping, filtering per flow)
#   symmetric  masquerade random: a fresh port per flow (address-and-port-
#              dependent mapping)
# Both drop unsolicited UDP to their WAN address in an input chain: an early
# punch packet must not leave a conntrack entry that takes the port the
# peer's own masquerade needs.

I=i$TAG NA=na$TAG NB=nb$TAG A=a$TAG B=b$TAG
COORD_ADDR=192.0.2.1:51819
COORD_LOG=$WEFT_TMP/coord.log
COORD_KEY_FILE=$WEFT_TMP/coord.key

nat_lab() {
	local ns
	for ns in "$I" "$NA" "$NB" "$A" "$B"; do make_ns "$ns" || return 1; done
	link_ns "$I" "ia$TAG" 198.51.100.1/24 "$NA" "wa$TAG" 198.51.100.2/24 &&
	link_ns "$I" "ib$TAG" 203.0.113.1/24 "$NB" "wb$TAG" 203.0.113.2/24 &&
	add_addr "$I" lo 192.0.2.1/32 &&
	link_ns "$NA" "la$TAG" 10.0.1.1/24 "$A" "ea$TAG" 10.0.1.2/24 &&
	link_ns "$NB" "lb$TAG" 10.0.2.1/24 "$B" "eb$TAG" 10.0.2.2/24 &&
	ip -n "$A" route add default via 10.0.1.1 &&
	ip -n "$B" route add default via 10.0.2.1 &&
	ip -n "$NA" route add default via 198.51.100.1 &&
	ip -n "$NB" route add default via 203.0.113.1 || return 1
	for ns in "$I" "$NA" "$NB"; do nsrun "$ns" sysctl -qw net.ipv4.ip_forward=1 || return 1; done
}

# nat_set NS WAN eim|symmetric
nat_set() {
	local how=masquerade
	[[ $3 == symmetric ]] && how="masquerade random"
	nsrun "$1" nft delete table ip weftnat 2>/dev/null
	nsrun "$1" nft -f - <<-NFT
	table ip weftnat {
		chain post { type nat hook postrouting priority srcnat; oifname "$2" $how; }
		chain input { type filter hook input priority filter; iifname "$2" meta l4proto udp ct state new drop; }
	}
	NFT
	# flows the NAT mapped before keep their mapping until flushed
	nsrun "$1" conntrack -F >/dev/null 2>&1 || true
}

# udp_block NS DEV: NS sends no UDP out of DEV (loopback and the tunnel stay)
udp_block() {
	nsrun "$1" nft -f - <<-NFT
	table inet weftblock {
		chain out { type filter hook output priority filter; oifname "$2" meta l4proto udp drop; }
	}
	NFT
}
udp_unblock() { nsrun "$1" nft delete table inet weftblock 2>/dev/null; }

# start_coord [ARGS...]: weft coord in $I on $COORD_ADDR (UDP and TCP); its
# public key in COORD_KEY
start_coord() {
	# ip netns exec runs weft in its own place: $! is weft's pid
	ip netns exec "$I" "$WEFT" coord --listen "$COORD_ADDR" --key-file "$COORD_KEY_FILE" --store none \
		--status-file "$WEFT_TMP/coord.status" "$@" >>"$COORD_LOG" 2>&1 &
	COORD_PID=$!
	wait_until 5 test -s "$COORD_KEY_FILE" || return 1
	COORD_KEY=$("$WEFT" coord --show-public-key --key-file "$COORD_KEY_FILE" 2>/dev/null)
	[[ ${#COORD_KEY} == 44 ]]
}
# coord_stat NAME: one counter of the running coord (its status file,
# rewritten every second)
coord_stat() {
	sleep 1.1
	awk -v n="$1" '$1 == n { print $2 }' "$WEFT_TMP/coord.status"
}

# link_conf NAME IFACE KEYFILE PEERKEY...: IFACE.conf (peers without an
# Endpoint) and IFACE.weft (the coord) in $WEFT_TMP/NAME
link_conf() {
	local d=$WEFT_TMP/$1 ifc=$2 key=$3 p
	shift 3
	mkdir -p "$d" && chmod 700 "$d"
	{
		printf '[Interface]\nPrivateKey = %s\nListenPort = 51820\n' "$(cat "$key")"
		for p; do printf '\n[Peer]\nPublicKey = %s\nAllowedIPs = 10.99.0.0/24\n' "$p"; done
	} >"$d/$ifc.conf"
	printf '[Weft]\nCoord = %s\nCoordKey = %s\n' "$COORD_ADDR" "$COORD_KEY" >"$d/$ifc.weft"
	chmod 600 "$d/$ifc.conf" "$d/$ifc.weft"
}

# start_link NAME NS IFACE: weft link in NS (pid in LINK_PID_NAME), its
# status under $WEFT_TMP/run-NAME, its log in $WEFT_TMP/link-NAME.log
start_link() {
	mkdir -p "$WEFT_TMP/run-$1"
	ip netns exec "$2" env WEFT_CONFIG_DIR="$WEFT_TMP/$1" WEFT_RUN_DIR="$WEFT_TMP/run-$1" LOG_LEVEL=verbose \
		"$WEFT" link "$3" >>"$WEFT_TMP/link-$1.log" 2>&1 &
	eval "LINK_PID_$1=$!"
}
stop_link() {
	local pid
	eval "pid=\${LINK_PID_$1:-}"
	[[ -n $pid ]] || return 0
	kill -TERM "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	eval "LINK_PID_$1="
}
link_status_json() { WEFT_RUN_DIR="$WEFT_TMP/run-$1" "$WEFT" link status "$2" --json 2>/dev/null; }
# path_of NAME IFACE PEERKEY: "TYPE ENDPOINT" of the peer's chosen path
path_of() {
	link_status_json "$1" "$2" | python3 -c '
import json, sys
d = json.load(sys.stdin)
for p in d["peers"]:
    if p["public_key"] == sys.argv[1]:
        print(p["path"], p["endpoint"] or "-")' "$3" 2>/dev/null
}
path_is() { [[ $(path_of "$1" "$2" "$3") == "$4"* ]]; }
show_logs() {
	local n
	for n; do echo "--- link $n"; tail -n 20 "$WEFT_TMP/link-$n.log" 2>/dev/null; done
	echo "--- coord"; tail -n 10 "$COORD_LOG"
}
