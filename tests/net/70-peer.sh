#!/bin/bash
# tests/net/70-peer.sh: `weft interface` and `weft peer`: the address
# allocator through the CLI, the config a peer imports, its QR picture, and
# a tunnel brought up from that config with Debian's wireguard-go.
#
#   netns ps<pid> ("server")                      netns pp<pid> ("phone")
#   veth vs<pid> 192.168.70.1/24 ------------- veth vp<pid> 192.168.70.2/24
#   s<pid>: weftd, made by `weft interface     p<pid>: wireguard-go, set up from
#     add`, 10.70.0.1/24 fd70::1/64, :51870       the config `weft peer add` printed
#   b<pid>: weftd, 10.71.0.1/16, :51871           (wg-quick strip + Address by hand)
#     (1,000 peers)
#
# Configs live in a temporary WEFT_CONFIG_DIR; nothing under /etc is touched.
# Checks:
#   thousand    1,000 `weft peer add` on a /16 with its device running give
#               1,000 distinct addresses (the lowest ones, in order) in the
#               config and on the device, and 1,000 0600 key files (~9 s)
#   reuse       removed peers' addresses come back, lowest first
#   by-hand     a peer added to the device with `wg set` alone: `peer add`
#               skips its addresses and refuses its key
#   exhausted   a /29 holds 5 peers; the 6th add fails with one clear line,
#               non-zero, and leaves the config and key directory unchanged
#   qr-png      the PNG from --qr-png decodes (zbarimg) to exactly the text
#   tunnel      ping both ways (IPv4 and IPv6) through server <-> phone
#   list        `peer list` shows the handshake and transfer afterwards
#   remove      `interface remove` ends the daemon (link and socket gone),
#               from inside the namespace and from outside it
# WEFT_PEER_DAEMON=wireguard-go runs the server on wireguard-go instead.
. "$(dirname "$0")/lib.sh"
TEST_NAME=peer

require_weft wg wg-quick wireguard-go zbarimg
SERVER_DAEMON=${WEFT_PEER_DAEMON:-$WEFTD}
if [[ $SERVER_DAEMON != wireguard-go && ! -x $SERVER_DAEMON ]]; then
	fail build "$SERVER_DAEMON is missing (run make)"
	exit 1
fi
export WEFT_DAEMON=$SERVER_DAEMON

TMP=$WEFT_TMP
export WEFT_CONFIG_DIR=$TMP/etc
mkdir -m 700 "$WEFT_CONFIG_DIR"

# new_conf NAME ADDRESS...: a server config with a key, a port and [Weft]
new_conf() {
	local name=$1 f=$WEFT_CONFIG_DIR/$1.conf
	shift
	(umask 077; {
		echo "[Interface]"
		echo "PrivateKey = $(wg genkey)"
		echo "ListenPort = 51870"
		echo "Address = $(IFS=,; echo "$*")"
		echo
		echo "[Weft]"
		echo "PublicIPv4 = 192.168.70.1"
		echo "PeerDNS = 10.70.0.1"
	} >"$f")
}

# address_of FILE: the IPv4 address in a printed peer config's Address line
address_of() { sed -n 's/^Address = \([0-9.]*\)\/32.*/\1/p' "$1"; }

# ---- the namespaces ----
S=ps$TAG P=pp$TAG SIF=s$TAG PIF=p$TAG BIG=b$TAG
make_ns "$S" && make_ns "$P" || { fail netns "cannot create namespaces"; exit 1; }
link_ns "$S" "vs$TAG" 192.168.70.1/24 "$P" "vp$TAG" 192.168.70.2/24 || { fail netns "cannot link"; exit 1; }
on_exit "rm -f /var/run/wireguard/$SIF.sock /var/run/wireguard/$PIF.sock /var/run/wireguard/$BIG.sock"

# ---- thousand: 1,000 adds on a /16, with the device running ----
new_conf "$BIG" 10.71.0.1/16
sed -i 's/^ListenPort = .*/ListenPort = 51871/' "$WEFT_CONFIG_DIR/$BIG.conf"
nsrun "$S" "$WEFT" interface add "$BIG" >/dev/null 2>"$TMP/big.err" || { cat "$TMP/big.err"; fail thousand "interface add failed"; }
start=$(date +%s%N)
ok=1
for i in $(seq 1000); do
	"$WEFT" peer add "$BIG" --name "p$i" >"$TMP/p$i.conf" || { ok=0; break; }
done
echo "# 1000 peer adds to a running $(basename "$SERVER_DAEMON"): $((($(date +%s%N) - start) / 1000000)) ms"
if ((ok)); then
	for i in $(seq 1000); do address_of "$TMP/p$i.conf"; done >"$TMP/addrs"
	distinct=$(sort -u "$TMP/addrs" | wc -l)
	# the lowest free ones, in order: .0.2 ... .3.233 (.0.0 network, .0.1 ours)
	expected=$(for i in $(seq 2 1001); do echo "10.71.$((i / 256)).$((i % 256))"; done)
	in_config=$(grep -c '^AllowedIPs = 10\.71\.' "$WEFT_CONFIG_DIR/$BIG.conf")
	on_device=$(nsrun "$S" wg show "$BIG" allowed-ips | awk '{ print $2 }' | grep '^10\.71\.' | sort -u | wc -l)
	keys=$(find "$WEFT_CONFIG_DIR/$BIG.peers" -name '*.key' -perm 600 | wc -l)
	if [[ $distinct == 1000 && $(cat "$TMP/addrs") == "$expected" && $in_config == 1000 &&
		$on_device == 1000 && $keys == 1000 ]]; then
		pass thousand
	else
		fail thousand "distinct=$distinct in_config=$in_config on_device=$on_device keys=$keys"
	fi
else
	fail thousand "peer add $i failed"
fi

# ---- reuse: remove two peers, the next adds get their addresses back ----
a5=$(address_of "$TMP/p5.conf") a9=$(address_of "$TMP/p9.conf")
k9=$(sed -n 's/^PublicKey = //p' "$WEFT_CONFIG_DIR/$BIG.conf" | sed -n 9p)
"$WEFT" peer remove "$BIG" p5 && "$WEFT" peer remove "$BIG" "$k9" &&
	"$WEFT" peer add "$BIG" --name again1 >"$TMP/again1.conf" &&
	"$WEFT" peer add "$BIG" --name again2 >"$TMP/again2.conf" &&
	"$WEFT" peer add "$BIG" --name again3 >"$TMP/again3.conf"
r1=$(address_of "$TMP/again1.conf") r2=$(address_of "$TMP/again2.conf") r3=$(address_of "$TMP/again3.conf")
if [[ $r1 == "$a5" && $r2 == "$a9" && $r3 == 10.71.3.234 ]] &&
	! "$WEFT" peer list "$BIG" | grep -qw p5 && ! nsrun "$S" wg show "$BIG" peers | grep -qF "$k9" && [[ $(find "$WEFT_CONFIG_DIR/$BIG.peers" -name '*.key' | wc -l) == 1001 ]]; then
	pass reuse
else
	fail reuse "removed $a5 $a9, re-added got $r1 $r2 $r3"
fi

# ---- by-hand: a peer put on the device with wg alone (not in the files):
# its key and its addresses count as taken ----
hk=$(wg genkey | wg pubkey)
nsrun "$S" wg set "$BIG" peer "$hk" allowed-ips 10.71.3.236/32,10.71.3.235/32
"$WEFT" peer add "$BIG" --name byhand1 >"$TMP/byhand1.conf" 2>"$TMP/byhand1.err"
"$WEFT" peer add "$BIG" --name byhand2 --public-key "$hk" >/dev/null 2>"$TMP/byhand2.err"
rc=$?
r=$(address_of "$TMP/byhand1.conf")
if [[ $r == 10.71.3.237 ]] && ((rc != 0)) && grep -q "peer $hk already exists" "$TMP/byhand2.err"; then
	pass by-hand
else
	fail by-hand "next address $r (want 10.71.3.237), add of the device's key: rc=$rc $(cat "$TMP/byhand1.err" "$TMP/byhand2.err")"
fi

# ---- exhausted: a /29 holds .2-.6 besides .1 ----
new_conf small 10.72.0.1/29
for i in 1 2 3 4 5; do "$WEFT" peer add small --name "s$i" >/dev/null || fail exhausted "add $i failed"; done
before=$(sha256sum "$WEFT_CONFIG_DIR/small.conf"; ls "$WEFT_CONFIG_DIR/small.peers")
"$WEFT" peer add small --name s6 >"$TMP/s6.out" 2>"$TMP/s6.err"
rc=$?
after=$(sha256sum "$WEFT_CONFIG_DIR/small.conf"; ls "$WEFT_CONFIG_DIR/small.peers")
if ((rc != 0)) && [[ $(cat "$TMP/s6.err") == "weft: small: no free address left in 10.72.0.0/29" &&
	! -s $TMP/s6.out && $before == "$after" ]]; then
	pass exhausted
else
	fail exhausted "rc=$rc stderr='$(cat "$TMP/s6.err")'"
fi

# ---- qr-png: the picture holds exactly the config text ----
"$WEFT" peer config "$BIG" again1 --qr-png "$TMP/q.png" >"$TMP/q.txt"
printf '\n' >>"$TMP/q.txt" # zbarimg --raw ends what it decoded with a newline
if zbarimg --raw -q "$TMP/q.png" 2>/dev/null >"$TMP/q.dec" && cmp -s "$TMP/q.txt" "$TMP/q.dec" &&
	[[ $(stat -c %a "$TMP/q.png") == 600 ]] && grep -q '^PrivateKey = ' "$TMP/q.txt"; then
	pass qr-png
else
	fail qr-png "decoded text differs from the config ($(wc -c <"$TMP/q.dec") vs $(wc -c <"$TMP/q.txt") bytes)"
fi

# ---- tunnel: weftd server from `interface add`, wireguard-go phone ----

new_conf "$SIF" 10.70.0.1/24 fd70::1/64
sed -i '/^PrivateKey/d; /^ListenPort/d' "$WEFT_CONFIG_DIR/$SIF.conf" # interface add makes them
if nsrun "$S" "$WEFT" interface add "$SIF" --listen-port 51870 >"$TMP/add.out" 2>"$TMP/add.err" &&
	nsrun "$S" ip -br addr show "$SIF" | grep -q '10.70.0.1/24' &&
	grep -q '^PrivateKey = ' "$WEFT_CONFIG_DIR/$SIF.conf" &&
	[[ $(stat -c %a "$WEFT_CONFIG_DIR/$SIF.conf") == 600 ]] &&
	"$WEFT" interface list | grep -q "^$SIF .*$WEFT_CONFIG_DIR/$SIF.conf"; then
	pass interface-add
else
	fail interface-add "$(cat "$TMP/add.out" "$TMP/add.err")"
fi

mkdir -m 700 "$TMP/phone"
"$WEFT" peer add "$SIF" --name phone --allowed-ips 10.70.0.0/24,fd70::/64 >"$TMP/phone/$PIF.conf"
on_dev=$(nsrun "$S" wg show "$SIF" allowed-ips | grep -c '10.70.0.2/32')
if grep -q '^Endpoint = 192.168.70.1:51870$' "$TMP/phone/$PIF.conf" && grep -q '^DNS = 10.70.0.1$' "$TMP/phone/$PIF.conf" &&
	! grep -qi '^\[Weft\]' "$TMP/phone/$PIF.conf" && ((on_dev == 1)); then
	pass peer-config
else
	fail peer-config "$(cat "$TMP/phone/$PIF.conf")"
fi

# the phone: wireguard-go, the config minus Address/DNS, those by hand
start_daemon "$P" "$PIF" wireguard-go || fail phone "wireguard-go did not start"
wg-quick strip "$TMP/phone/$PIF.conf" >"$TMP/phone/stripped" &&
	nsrun "$P" wg setconf "$PIF" "$TMP/phone/stripped" &&
	ip -n "$P" addr add 10.70.0.2/32 dev "$PIF" &&
	ip -n "$P" addr add fd70::2/128 dev "$PIF" nodad &&
	ip -n "$P" link set "$PIF" up &&
	ip -n "$P" route add 10.70.0.0/24 dev "$PIF" &&
	ip -n "$P" route add fd70::/64 dev "$PIF" || fail phone "cannot configure the phone"
if wait_until 10 ping_ok "$P" 10.70.0.1 && ping_ok "$P" fd70::1 && ping_ok "$S" 10.70.0.2 && ping_ok "$S" fd70::2; then
	pass tunnel
else
	fail tunnel "no ping through the tunnel"
fi

"$WEFT" peer list "$SIF" >"$TMP/list" && "$WEFT" peer list "$SIF" --json >"$TMP/list.json"
if python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
p = [x for x in d["peers"] if x["name"] == "phone"][0]
assert d["running"] and p["latest_handshake"] > 0 and p["transfer_rx"] > 0 and p["transfer_tx"] > 0
assert p["allowed_ips"] == ["10.70.0.2/32", "fd70::2/128"] and p["has_private_key"]
' "$TMP/list.json" && grep -q '^phone .* 10.70.0.2/32, fd70::2/128 .* ago ' "$TMP/list"; then
	pass list
else
	fail list "$(cat "$TMP/list")"
fi

# `peer remove` takes it off the running device too (which must still answer)
"$WEFT" peer remove "$SIF" phone
if peers=$(nsrun "$S" wg show "$SIF" peers) && [[ -z $peers ]] && ! grep -q '10.70.0.2' "$WEFT_CONFIG_DIR/$SIF.conf"; then
	pass peer-remove-running
else
	fail peer-remove-running "the peer is still there"
fi

# ---- remove: inside the namespace (link deleted) and outside (socket) ----
nsrun "$S" "$WEFT" interface remove "$SIF"
if wait_until 5 test ! -e "/var/run/wireguard/$SIF.sock" && ! nsrun "$S" ip link show "$SIF" >/dev/null 2>&1 &&
	[[ -f $WEFT_CONFIG_DIR/$SIF.conf ]]; then
	pass interface-remove
else
	fail interface-remove "the device is still there"
fi
# (the device must have come up again first, or there is nothing to remove)
if ! nsrun "$S" "$WEFT" interface add "$SIF" >/dev/null 2>"$TMP/readd.err" ||
	! nsrun "$S" test -S "/var/run/wireguard/$SIF.sock"; then
	fail interface-remove-outside "interface add failed: $(cat "$TMP/readd.err")"
elif "$WEFT" interface remove "$SIF" && # from the root namespace: no link here
	wait_until 5 test ! -e "/var/run/wireguard/$SIF.sock" && wait_until 5 eval "! nsrun $S ip link show $SIF >/dev/null 2>&1"; then
	pass interface-remove-outside
else
	fail interface-remove-outside "the device is still there"
fi
if ! "$WEFT" interface remove "$SIF" 2>"$TMP/rm.err" && grep -q 'no such interface' "$TMP/rm.err"; then
	pass interface-remove-missing
else
	fail interface-remove-missing "$(cat "$TMP/rm.err")"
fi

# ---- from nothing: no config file, the [Weft] settings from flags ----
NEW=wn$TAG
if nsrun "$S" "$WEFT" interface add "$NEW" --address 10.71.0.1/24 --public-address vpn.example.org \
	--public-address 192.168.71.1 --peer-dns 10.71.0.1,lan >/dev/null 2>"$TMP/new.err" &&
	"$WEFT" peer add "$NEW" --endpoint-type domain >"$TMP/new.conf" 2>>"$TMP/new.err" &&
	grep -q '^Endpoint = vpn.example.org:' "$TMP/new.conf" && grep -q '^DNS = 10.71.0.1, lan$' "$TMP/new.conf" &&
	grep -q '^Address = 10.71.0.2/32$' "$TMP/new.conf" &&
	grep -q '^PublicIPv4 = 192.168.71.1$' "$WEFT_CONFIG_DIR/$NEW.weft" && ! grep -q '^\[Weft\]' "$WEFT_CONFIG_DIR/$NEW.conf" &&
	grep -q '^Hostname = vpn.example.org$' "$WEFT_CONFIG_DIR/$NEW.weft"; then
	pass interface-add-weft-flags
else
	fail interface-add-weft-flags "$(cat "$TMP/new.err" "$TMP/new.conf")"
fi
if ! nsrun "$S" "$WEFT" interface add "${NEW}b" --public-address 'not a host!' 2>"$TMP/bad.err" &&
	grep -q 'neither an IP address nor a host name' "$TMP/bad.err" && [[ ! -e $WEFT_CONFIG_DIR/${NEW}b.conf ]]; then
	pass interface-add-bad-public-address
else
	fail interface-add-bad-public-address "$(cat "$TMP/bad.err")"
fi
nsrun "$S" ip link del "$NEW" 2>/dev/null

exit $FAILED
