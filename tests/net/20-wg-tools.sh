#!/bin/bash
# tests/net/20-wg-tools.sh: wg(8) and wg-quick(8) drive weftd as they drive
# wireguard-go.
#
#   netns ta<pid>                                  netns tb<pid>
#   t1a<pid>: weftd                                t1b<pid>: wireguard-go
#   veth va<pid> 10.201.0.1/24 ------------------- veth vb<pid> 10.201.0.2/24
#
# 1. The same sequence of wg set / addconf / setconf / syncconf, with the
#    same keys and ports, goes to t1a (weftd) and t1b (wireguard-go), links
#    down; after every step `wg showconf`, `wg show` and every `wg show IF
#    FIELD` must read the same (wireguard-go lists peers in Go map order, so
#    peers are compared sorted; interface names are masked; byte counters
#    are compared once, at the end).
# 2. t1a and t1b are then made peers of each other (setconf, 10.202.0.0/24
#    inside) and `wg show IF dump` is checked field by field on both sides.
# 3. wg-quick up/down in ta with WG_QUICK_USERSPACE_IMPLEMENTATION=weftd
#    (found through PATH) and a config with Address, MTU, PostUp, PostDown:
#    interface q<pid> (10.203.0.1/24, fd23::1/64, MTU 1380) peering with t1b.
. "$(dirname "$0")/lib.sh"
TEST_NAME=wg-tools
require_weftd

A=ta$TAG B=tb$TAG IA=t1a$TAG IB=t1b$TAG
make_ns "$A" && make_ns "$B" || { fail netns "cannot create namespaces"; exit 1; }
link_ns "$A" "va$TAG" 10.201.0.1/24 "$B" "vb$TAG" 10.201.0.2/24 || { fail underlay "cannot link"; exit 1; }
start_daemon "$A" "$IA" "$WEFTD_KIND" || { fail start "cannot start $WEFTD_KIND"; exit 1; }
start_daemon "$B" "$IB" wireguard-go || { fail start "cannot start wireguard-go"; exit 1; }

T=$WEFT_TMP
K=$(keyfile) PSK=$(keyfile)
wg genpsk >"$PSK"
P1=$(wg genkey | wg pubkey) P2=$(wg genkey | wg pubkey) P3=$(wg genkey | wg pubkey)
P4=$(wg genkey | wg pubkey) P5=$(wg genkey | wg pubkey)

# conf FILE: writes stdin to a 0600 file (configs may hold keys)
conf() { (umask 077 && cat >"$T/$1"); }
conf add.conf <<EOF
[Peer]
PublicKey = $P3
AllowedIPs = 10.0.3.0/24
Endpoint = 198.51.100.7:51820

[Peer]
PublicKey = $P1
AllowedIPs = 10.0.0.4/32, fd00::4/128
EOF
conf set.conf <<EOF
[Interface]
PrivateKey = $(cat "$K")
ListenPort = 51998
FwMark = 0x43

[Peer]
PublicKey = $P1
PresharedKey = $(cat "$PSK")
AllowedIPs = 10.0.0.5/32, 10.0.5.0/24
Endpoint = [2001:db8::5]:4500
PersistentKeepalive = 15

[Peer]
PublicKey = $P4
AllowedIPs = 10.0.4.0/24, fd00:4::/64
Endpoint = 203.0.113.4:51820
EOF
conf sync.conf <<EOF
[Interface]
PrivateKey = $(cat "$K")
ListenPort = 51998

[Peer]
PublicKey = $P1
PresharedKey = $(cat "$PSK")
AllowedIPs = 10.0.0.5/32, 10.0.6.0/24
Endpoint = [2001:db8::5]:4500

[Peer]
PublicKey = $P5
AllowedIPs = 0.0.0.0/0, ::/0
EOF

STEPS=(
	"set private-key $K listen-port 51999 fwmark 0x42"
	"set peer $P1 preshared-key $PSK allowed-ips 10.0.0.2/32,fd00::2/128 endpoint 192.0.2.1:1234 persistent-keepalive 25"
	"set peer $P2 allowed-ips 10.0.1.0/24,10.0.2.0/24 endpoint [2001:db8::1]:51820"
	"set peer $P1 allowed-ips 10.0.0.3/32"
	"set peer $P2 allowed-ips 10.0.2.0/24,10.0.1.0/24,10.0.3.0/25 persistent-keepalive off"
	"set peer $P3 allowed-ips 10.0.1.0/24"
	"set peer $P2 remove"
	"addconf @IF@ $T/add.conf"
	"setconf @IF@ $T/set.conf"
	"syncconf @IF@ $T/sync.conf"
	"set peer $P5 allowed-ips 10.0.0.5/32,0.0.0.0/0"
	"set fwmark off listen-port 51997"
	"set peer $P1 allowed-ips '' endpoint 192.0.2.9:9"
	"set peer $P4 remove peer $P5 remove"
)
FIELDS=(public-key private-key listen-port fwmark peers preshared-keys endpoints
	allowed-ips latest-handshakes persistent-keepalive dump)

# canon: an interface name masked; [Peer]/peer blocks sorted (wireguard-go
# lists peers in Go map order); other lines kept in order.
canon() {
	python3 -c '
import sys
ifname, text = sys.argv[1], sys.stdin.read().replace(sys.argv[1], "IF")
blocks = text.strip("\n").split("\n\n")
head = [b for b in blocks if not b.startswith(("[Peer]", "peer: "))]
peers = sorted(b for b in blocks if b.startswith(("[Peer]", "peer: ")))
print("\n\n".join(head + peers))' "$1"
}
canon_lines() { sed "s/$1/IF/g" | sort; }
# byte counters are compared once, at the end of the sequence (one check
# for one cause), so every per-step comparison masks them
no_transfer() { grep -v '^  transfer: '; }
no_dump_transfer() { awk -F'\t' -v OFS='\t' 'NF == 8 { $6 = "rx"; $7 = "tx" } { print }'; }
# without private or preshared keys, for messages
redact() { sed -E 's/^(PrivateKey|PresharedKey) = .*/\1 = (redacted)/'; }

# wgcmd NS IF STEP: one step with @IF@ substituted ('' stays an empty argument)
wgcmd() {
	local ns=$1 ifname=$2 step=${3//@IF@/$2} words
	eval "words=($step)"
	if [[ ${words[0]} == set ]]; then
		nsrun "$ns" wg set "$ifname" "${words[@]:1}"
	else
		nsrun "$ns" wg "${words[@]}"
	fi
}

compare() { # NAME: showconf, show and every field alike on IA and IB
	local name=$1 a b f ok=1
	a=$(nsrun "$A" wg showconf "$IA" | canon "$IA")
	b=$(nsrun "$B" wg showconf "$IB" | canon "$IB")
	if [[ -n $a && $a == "$b" ]]; then pass "$name/showconf-identical"; else
		fail "$name/showconf-identical" "weftd and wireguard-go differ:"
		diff <(echo "$a" | redact) <(echo "$b" | redact) | sed 's/^/    /'
	fi
	a=$(nsrun "$A" wg show "$IA" | no_transfer | canon "$IA")
	b=$(nsrun "$B" wg show "$IB" | no_transfer | canon "$IB")
	if [[ -n $a && $a == "$b" ]]; then pass "$name/show-identical"; else
		fail "$name/show-identical" "weftd and wireguard-go differ:"
		diff <(echo "$a") <(echo "$b") | sed 's/^/    /'
	fi
	for f in "${FIELDS[@]}"; do
		# a field may be empty (no peers yet), so wg must also have succeeded
		if ! a=$(nsrun "$A" wg show "$IA" "$f") || ! b=$(nsrun "$B" wg show "$IB" "$f"); then
			ok=0; echo "    wg show IF $f failed"; continue
		fi
		[[ $(no_dump_transfer <<<"$a" | canon_lines "$IA") == "$(no_dump_transfer <<<"$b" | canon_lines "$IB")" ]] ||
			{ ok=0; echo "    wg show IF $f differs"; }
	done
	((ok)) && pass "$name/show-fields-identical" || fail "$name/show-fields-identical" "see above"
}

echo "--- the same wg commands on weftd ($IA) and wireguard-go ($IB)"
i=0
for step in "${STEPS[@]}"; do
	i=$((i + 1))
	name="step$i-${step%% *}"
	ra=0 rb=0
	wgcmd "$A" "$IA" "$step" || ra=$?
	wgcmd "$B" "$IB" "$step" || rb=$?
	if ((ra == 0 && rb == 0)); then pass "$name/accepted"; else
		fail "$name/accepted" "'wg ${step//$T/TMP}': weftd side $ra, wireguard-go side $rb"; fi
	compare "$name"
done

# Nothing could be sent: the links are down and no endpoint has a route.
# The counters must say so (wireguard-go counts only datagrams the kernel
# took). Then links up and a keepalive every second: each send attempt to
# the unroutable endpoint fails, and still nothing may be counted.
transfer_same() { # NAME
	local a b
	a=$(nsrun "$A" wg show "$IA" transfer | canon_lines "$IA")
	b=$(nsrun "$B" wg show "$IB" transfer | canon_lines "$IB")
	if [[ -n $a && $a == "$b" ]]; then pass "$1"; else
		fail "$1" "weftd: $(echo $a) / wireguard-go: $(echo $b)"; fi
}
transfer_same "transfer-identical-link-down"
ip -n "$A" link set "$IA" up && ip -n "$B" link set "$IB" up
nsrun "$A" wg set "$IA" peer "$P1" persistent-keepalive 1
nsrun "$B" wg set "$IB" peer "$P1" persistent-keepalive 1
sleep 2.5
transfer_same "transfer-identical-failed-sends-not-counted"

# show: the interface list and the plain output name the interface
check "show-interfaces-lists-weftd" eval "nsrun '$A' wg show interfaces | tr ' ' '\n' | grep -qx '$IA'"
check "show-names-interface" eval "nsrun '$A' wg show '$IA' | grep -qx 'interface: $IA'"

echo "--- t1a and t1b as peers of each other: wg show dump on a live tunnel"
KA=$(keyfile) KB=$(keyfile)
PA=$(pubkey_of "$KA") PB=$(pubkey_of "$KB")
conf pa.conf <<EOF
[Interface]
PrivateKey = $(cat "$KA")
ListenPort = 51961

[Peer]
PublicKey = $PB
AllowedIPs = 10.202.0.2/32
Endpoint = 10.201.0.2:51962
EOF
conf pb.conf <<EOF
[Interface]
PrivateKey = $(cat "$KB")
ListenPort = 51962

[Peer]
PublicKey = $PA
AllowedIPs = 10.202.0.1/32
PersistentKeepalive = 25
EOF
check "live/setconf-weftd" nsrun "$A" wg setconf "$IA" "$T/pa.conf"
check "live/setconf-wireguard-go" nsrun "$B" wg setconf "$IB" "$T/pb.conf"
add_addr "$A" "$IA" 10.202.0.1/24 && ip -n "$A" link set "$IA" up
add_addr "$B" "$IB" 10.202.0.2/24 && ip -n "$B" link set "$IB" up
check "live/ping" wait_until 10 ping_ok "$A" 10.202.0.2
check "live/ping-back" ping_ok "$B" 10.202.0.1

# dump_ok NS IF KEYFILE PORT PEERPUB ENDPOINT ALLOWED KEEPALIVE
dump_ok() {
	local ns=$1 ifname=$2 key=$3 port=$4 ppub=$5 ep=$6 allowed=$7 ka=$8 now ok=1
	local -a lines l1 l2
	mapfile -t lines < <(nsrun "$ns" wg show "$ifname" dump)
	now=$(date +%s)
	read -ra l1 <<<"${lines[0]:-}"
	read -ra l2 <<<"${lines[1]:-}"
	want() { [[ $2 == "$3" ]] || { echo "    dump of $ifname: $1 is '$2', want '$3'"; ok=0; }; }
	want lines "${#lines[@]}" 2
	want "interface fields" "${#l1[@]}" 4
	want "private key" "${l1[0]:-}" "$(cat "$key")"
	want "public key" "${l1[1]:-}" "$(pubkey_of "$key")"
	want "listen port" "${l1[2]:-}" "$port"
	want fwmark "${l1[3]:-}" off
	want "peer fields" "${#l2[@]}" 8
	want "peer public key" "${l2[0]:-}" "$ppub"
	want "preshared key" "${l2[1]:-}" "(none)"
	want endpoint "${l2[2]:-}" "$ep"
	want "allowed ips" "${l2[3]:-}" "$allowed"
	want keepalive "${l2[7]:-}" "$ka"
	local hs=${l2[4]:-0} rx=${l2[5]:-0} tx=${l2[6]:-0}
	((hs > now - 60 && hs <= now + 1)) || { echo "    dump of $ifname: handshake $hs, now $now"; ok=0; }
	((rx > 0 && tx > 0)) || { echo "    dump of $ifname: rx $rx tx $tx"; ok=0; }
	((ok))
}
check "live/dump-weftd-fields" dump_ok "$A" "$IA" "$KA" 51961 "$PB" 10.201.0.2:51962 10.202.0.2/32 off
check "live/dump-wireguard-go-fields" dump_ok "$B" "$IB" "$KB" 51962 "$PA" 10.201.0.1:51961 10.202.0.1/32 25
# what one side sent is what the other received, byte for byte
counters_match() {
	local a b
	a=$(nsrun "$A" wg show "$IA" transfer | awk '{ print $2, $3 }')
	b=$(nsrun "$B" wg show "$IB" transfer | awk '{ print $3, $2 }')
	[[ -n $a && $a == "$b" ]] || { echo "    weftd rx tx: $a; wireguard-go tx rx: $b"; return 1; }
}
check "live/transfer-counters-match-peer" wait_until 3 counters_match

echo "--- wg-quick up/down with WG_QUICK_USERSPACE_IMPLEMENTATION=$WEFTD_KIND"
IQ=q$TAG
mkdir -p "$T/bin"
[[ $WEFTD_KIND == weftd ]] && ln -s "$WEFTD" "$T/bin/weftd"
KQ=$(keyfile) KB2=$(keyfile)
conf "$IQ.conf" <<EOF
[Interface]
PrivateKey = $(cat "$KQ")
ListenPort = 51971
Address = 10.203.0.1/24, fd23::1/64
MTU = 1380
PostUp = echo "up %i" > $T/postup
PostDown = echo "down %i" > $T/postdown

[Peer]
PublicKey = $(pubkey_of "$KB2")
AllowedIPs = 10.203.0.2/32, fd23::2/128
Endpoint = 10.201.0.2:51972
EOF
conf pq.conf <<EOF
[Interface]
PrivateKey = $(cat "$KB2")
ListenPort = 51972

[Peer]
PublicKey = $(pubkey_of "$KQ")
AllowedIPs = 10.203.0.1/32, fd23::1/128
EOF
nsrun "$B" wg setconf "$IB" "$T/pq.conf" && add_addr "$B" "$IB" 10.203.0.2/24 fd23::2/64 &&
	ip -n "$B" link set "$IB" mtu 1380 || fail "wg-quick/peer-setup" "cannot reconfigure $IB"

wgquick() {
	nsrun "$A" env PATH="$T/bin:$PATH" WG_QUICK_USERSPACE_IMPLEMENTATION="$WEFTD_KIND" \
		WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1 LOG_LEVEL=error wg-quick "$@" >"$T/wg-quick.log" 2>&1 ||
		{ sed 's/^/    | /' "$T/wg-quick.log"; return 1; }
}
on_exit "wgquick down '$T/$IQ.conf'"
check "wg-quick/up" wgquick up "$T/$IQ.conf"
check "wg-quick/address-ipv4" eval "ip -n '$A' -4 addr show dev '$IQ' | grep -q 'inet 10.203.0.1/24'"
check "wg-quick/address-ipv6" eval "ip -n '$A' -6 addr show dev '$IQ' | grep -q 'inet6 fd23::1/64'"
check "wg-quick/mtu-1380" eval "ip -n '$A' link show dev '$IQ' | grep -q ' mtu 1380 '"
check "wg-quick/postup-ran" grep -qx "up $IQ" "$T/postup"
qpid=$(daemon_pid "$A" "$IQ")
check "wg-quick/daemon-is-$WEFTD_KIND" eval "[[ -n '$qpid' && \$(cat /proc/$qpid/comm) == '$WEFTD_KIND' ]]"
check "wg-quick/ping4" wait_until 10 ping_ok "$A" 10.203.0.2
check "wg-quick/ping6" wait_until 3 ping_ok "$A" fd23::2
check "wg-quick/full-mtu-packet-passes" eval "nsrun '$A' ping -c 1 -W 2 -q -M do -s $((1380 - 28)) 10.203.0.2 >/dev/null"
check "wg-quick/listen-port" eval "[[ \$(nsrun '$A' wg show '$IQ' listen-port) == 51971 ]]"
check "wg-quick/down" wgquick down "$T/$IQ.conf"
check "wg-quick/down-removed-interface" eval "! ip -n '$A' link show dev '$IQ' >/dev/null 2>&1"
check "wg-quick/postdown-ran" grep -qx "down $IQ" "$T/postdown"
check "wg-quick/daemon-exited" wait_until 5 eval "[[ -n '$qpid' && ! -d /proc/$qpid ]]"
check "wg-quick/socket-removed" wait_until 5 test ! -e "/var/run/wireguard/$IQ.sock"

exit $FAILED
