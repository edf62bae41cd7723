#!/bin/bash
# tests/net/86-reresolve.sh: `weft link` looks a peer's host-name Endpoint
# up again while its handshake is stale, as wireguard-tools' reresolve-dns
# script does, and the endpoint follows the name. The names live in a hosts
# file of this test, bind-mounted over /etc/hosts in a mount namespace of
# the daemon's own (with an nsswitch.conf of "hosts: files", so that no
# lookup ever leaves for a DNS server).
#
#   netns ra<pid> (weftd wa<pid>, weft link)          netns rb<pid> (wireguard-go wb<pid>)
#   veth xa<pid> 10.91.0.1/24 ----------------------- veth xb<pid> 10.91.0.2/24
#   10.91.9.1/24, UDP 51821                            10.91.9.2/24, UDP 51822
#   [Peer] B: Endpoint = peer-b.weft.test:51822        (answers only)
#   [Peer] C: Endpoint = gone.weft.test:51823          (no such name)
#
# peer-b.weft.test first names 10.91.0.9, where nobody is: wg resolves it
# there once, no handshake completes, and weft link's lookups keep giving
# the same address. Then the hosts file names 10.91.0.2: the endpoint
# follows within a few seconds (--resolve-every 1), the handshake completes
# and the tunnel carries pings. gone.weft.test never resolves: weft link
# says so once (a permanent error), not at every try.
. "$(dirname "$0")/lib.sh"
TEST_NAME=reresolve
require_weft wg wireguard-go unshare mount

A=ra$TAG B=rb$TAG WA=wa$TAG WB=wb$TAG
make_ns "$A" && make_ns "$B" || { fail netns "cannot create namespaces"; exit 1; }
link_ns "$A" "xa$TAG" 10.91.0.1/24 "$B" "xb$TAG" 10.91.0.2/24 || { fail underlay "cannot link the namespaces"; exit 1; }

HOSTS=$WEFT_TMP/hosts
printf '127.0.0.1 localhost\n10.91.0.9 peer-b.weft.test\n' >"$HOSTS"
echo 'hosts: files' >"$WEFT_TMP/nsswitch.conf"
# in_names NS COMMAND...: COMMAND in NS with the test's hosts file
in_names() {
	local ns=$1
	shift
	ip netns exec "$ns" unshare -m --propagation private sh -c \
		'mount --bind "$1" /etc/hosts && mount --bind "$2" /etc/nsswitch.conf && shift 2 && exec "$@"' \
		in_names "$HOSTS" "$WEFT_TMP/nsswitch.conf" "$@"
}

KA=$(keyfile) KB=$(keyfile) KC=$(keyfile)
PA=$(pubkey_of "$KA") PB=$(pubkey_of "$KB") PC=$(pubkey_of "$KC")
export WEFT_CONFIG_DIR=$WEFT_TMP/etc
mkdir -p "$WEFT_CONFIG_DIR"
start_daemon "$A" "$WA" weftd && wg_iface "$A" "$WA" "$KA" 51821 10.91.9.1/24 &&
	start_daemon "$B" "$WB" wireguard-go && wg_iface "$B" "$WB" "$KB" 51822 10.91.9.2/24 &&
	nsrun "$B" wg set "$WB" peer "$PA" allowed-ips 10.91.9.1/32 ||
	{ fail setup "cannot start the WireGuard interfaces"; exit 1; }
# wg resolves the name once, as wg-quick would when loading the config;
# a keepalive makes A try to reach B all the time
check wg-resolves-once in_names "$A" wg set "$WA" peer "$PB" allowed-ips 10.91.9.2/32 \
	endpoint peer-b.weft.test:51822 persistent-keepalive 1
nsrun "$A" wg set "$WA" peer "$PC" allowed-ips 10.91.9.3/32
check endpoint-first-as-named eval "[[ \$(endpoint_of '$A' '$WA' '$PB') == 10.91.0.9:51822 ]]"
cat >"$WEFT_CONFIG_DIR/$WA.conf" <<CONF
[Interface]
PrivateKey = $(cat "$KA")
ListenPort = 51821
Address = 10.91.9.1/24

[Peer]
PublicKey = $PB
AllowedIPs = 10.91.9.2/32
Endpoint = peer-b.weft.test:51822
PersistentKeepalive = 1

[Peer]
PublicKey = $PC
AllowedIPs = 10.91.9.3/32
Endpoint = gone.weft.test:51823
CONF
chmod 600 "$WEFT_CONFIG_DIR/$WA.conf"

# No coord answers (nothing listens on 10.91.0.2:3478): not needed here.
LOG=$WEFT_TMP/link.log
in_names "$A" env LOG_LEVEL=verbose WEFT_CONFIG_DIR="$WEFT_CONFIG_DIR" WEFT_RUN_DIR="$WEFT_TMP/run" \
	"$WEFT" link "$WA" --coord 10.91.0.2:3478 --coord-key "$(wg genkey | wg pubkey)" \
	--portmap none --resolve-every 1 >"$LOG" 2>&1 &
LINK_PID=$!
on_exit "kill -TERM $LINK_PID"

check link-tracks-two-names wait_until 5 grep -qs "2 peer(s) with a host-name endpoint" "$LOG"
sleep 3
# the same answer is no change
check endpoint-unchanged-while-name-unchanged eval "[[ \$(endpoint_of '$A' '$WA' '$PB') == 10.91.0.9:51822 ]]"
check no-handshake-yet eval "(( \$(handshake_time '$A' '$WA' '$PB') == 0 ))"

echo "--- peer-b.weft.test now names 10.91.0.2"
# in place: the bind mount holds this inode
printf '127.0.0.1 localhost\n10.91.0.2 peer-b.weft.test\n' >"$HOSTS"
check endpoint-follows-name wait_until 8 eval "[[ \$(endpoint_of '$A' '$WA' '$PB') == 10.91.0.2:51822 ]]"
check change-logged grep -q "resolve: peer-b.weft.test now 10.91.0.2:51822 (was 10.91.0.9:51822)" "$LOG"
check handshake-after-move wait_until 10 eval "(( \$(handshake_time '$A' '$WA' '$PB') > 0 ))"
check ping-through-tunnel wait_until 5 ping_ok "$A" 10.91.9.2

# the name that does not exist: said once, however many seconds pass
check permanent-error-said wait_until 5 grep -q "resolve: gone.weft.test: .*(permanent" "$LOG"
sleep 3
n=$(grep -c "resolve: gone.weft.test" "$LOG")
check permanent-error-said-once eval "(( $n == 1 ))"
check link-still-running kill -0 "$LINK_PID"
# (with WEFT= a sanitizer build, its reports land in the log)
kill -TERM "$LINK_PID" 2>/dev/null; wait "$LINK_PID" 2>/dev/null
check no-sanitizer-reports bash -c "! grep -l 'Sanitizer\|runtime error' '$LOG'"

exit $FAILED
