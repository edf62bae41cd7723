#!/bin/bash
# tests/net/88-coord.sh: `weft coord`, the rendezvous server, against
# clients it did not come with: coord_client.py (the protocol written again
# from docs/coord-protocol.md in Python) and coturn's turnutils_stunclient.
# Checked: two peers, one behind a NAT over IPv4 and one over IPv6, learn
# each other's observed address and blob through their token; STUN tells
# the NATed client its public mapping; a third client cannot take the
# pair's token; the SQLite database holds the token but no public key (in
# base64 or hex); garbage, truncated, oversized, replayed and flooded input
# is dropped and counted, nothing larger than what was sent comes back, the
# server stays up; SIGUSR1 logs the counters (and --stats prints them);
# SIGTERM ends it cleanly; restarted on the same database, it still tells B
# where A was last seen.
#
#   netns ca<tag> (client A)     netns na<tag> (NAT: masquerade)          netns cs<tag> (weft coord, [::]:51819)
#   veth ca 10.210.1.2/24 ------ veth na 10.210.1.1/24
#                                veth nw 10.211.0.2/24 ----------------- veth cs 10.211.0.1/24
#   netns cb<tag> (client B)                                             |
#   veth cb fd88::2/64 --------------------------------------------------- veth cx fd88::1/64
#   netns ch<tag> (hostile)                                              |
#   veth ch 10.212.0.2/24 ------------------------------------------------ veth cy 10.212.0.1/24
. "$(dirname "$0")/lib.sh"
TEST_NAME=coord

command -v python3 >/dev/null && python3 -c 'import cryptography' 2>/dev/null ||
	{ echo "SKIP: $TEST_NAME: needs python3 with the cryptography package"; exit 0; }
[[ -x $WEFT ]] || { echo "SKIP: $TEST_NAME: $WEFT is not built"; exit 0; }
CLIENT=$(dirname "$0")/coord_client.py
A=ca$TAG N=na$TAG S=cs$TAG B=cb$TAG H=ch$TAG
make_ns "$A" && make_ns "$N" && make_ns "$S" && make_ns "$B" && make_ns "$H" ||
	{ fail netns "cannot create namespaces"; exit 1; }
link_ns "$A" "ca$TAG" 10.210.1.2/24 "$N" "na$TAG" 10.210.1.1/24 &&
	link_ns "$N" "nw$TAG" 10.211.0.2/24 "$S" "cs$TAG" 10.211.0.1/24 &&
	link_ns "$B" "cb$TAG" fd88::2/64 "$S" "cx$TAG" fd88::1/64 &&
	link_ns "$H" "ch$TAG" 10.212.0.2/24 "$S" "cy$TAG" 10.212.0.1/24 || { fail underlay "cannot link"; exit 1; }
ip -n "$A" route add default via 10.210.1.1
nsrun "$N" sysctl -qw net.ipv4.ip_forward=1
nsrun "$N" nft -f - <<NFT || { fail nat "nftables refused the NAT"; exit 1; }
table ip nat {
	chain post { type nat hook postrouting priority 100; oifname "nw$TAG" masquerade; }
}
NFT

D=$WEFT_TMP/coord
mkdir -p "$D"
KA=$(keyfile) KB=$(keyfile) KC=$(keyfile)
PA=$(pubkey_of "$KA") PB=$(pubkey_of "$KB") PC=$(pubkey_of "$KC")
LOG=$D/coord.log
nsrun "$S" env LOG_LEVEL=verbose "$WEFT" coord --listen '[::]:51819' --key-file "$D/coord.key" \
	--store "$D/coord.db" --status-file "$D/status" --rate 2000 --burst 4000 >"$LOG" 2>&1 &
WRAPPER=$!
for _ in $(seq 50); do grep -q "public key" "$LOG" 2>/dev/null && break; sleep 0.1; done
COORD=$(ip netns pids "$S") # the server itself (ip netns exec may fork)
SP=$("$WEFT" coord --show-public-key --key-file "$D/coord.key")
check key-printed grep -q "public key $SP" "$LOG"
check key-file-0600 test "$(stat -c %a "$D/coord.key")" = 600

stat_of() { awk -v k="$1" '$1 == k { print $2 }' "$D/status"; }

# --- two peers meet: A behind the NAT (IPv4), B over IPv6 -------------------
nsrun "$A" python3 "$CLIENT" meet --server 10.211.0.1:51819 --server-pub "$SP" --key-file "$KA" \
	--peer "$PB" --label home --blob candidates-of-a --timeout 8 >"$D/a.out" 2>&1 &
CA=$!
sleep 0.5
nsrun "$B" python3 "$CLIENT" meet --server '[fd88::1]:51819' --server-pub "$SP" --key-file "$KB" \
	--peer "$PA" --label home --blob candidates-of-b --timeout 8 >"$D/b.out" 2>&1
RB=$?
wait $CA
RA=$?
check a-met test $RA = 0
check b-met test $RB = 0
check a-observed-is-the-nat grep -Eq '^observed 10\.211\.0\.2:[0-9]+$' "$D/a.out"
check b-observed-over-ipv6 grep -Eq '^observed \[fd88::2\]:[0-9]+$' "$D/b.out"
A_PUBLIC=$(awk '/^observed/ { print $2; exit }' "$D/a.out")
B_PUBLIC=$(awk '/^observed/ { print $2; exit }' "$D/b.out")
check a-learns-b grep -qxF "peer $B_PUBLIC candidates-of-b" "$D/a.out"
check b-learns-a grep -qxF "peer $A_PUBLIC candidates-of-a" "$D/b.out"

# --- a server address that is not the interface's first: answers leave
# from the address the request went to (through the NAT, they must) ---
add_addr "$S" "cs$TAG" 10.211.0.100/24 && add_addr "$S" "cx$TAG" fd88::100/64
nsrun "$A" python3 "$CLIENT" claim --server 10.211.0.100:51819 --server-pub "$SP" --key-file "$KA" \
	--peer "$PB" --label home --blob candidates-of-a --timeout 3 >"$D/second-a.out" 2>&1
check answers-from-second-ipv4-address grep -q '^announced matched' "$D/second-a.out"
nsrun "$B" python3 "$CLIENT" claim --server '[fd88::100]:51819' --server-pub "$SP" --key-file "$KB" \
	--peer "$PA" --label home --blob candidates-of-b --timeout 3 >"$D/second-b.out" 2>&1
check answers-from-second-ipv6-address grep -q '^announced matched' "$D/second-b.out"

# --- a third client cannot take the pair's token ------------------------------
# (anyone who knows both public keys and the label can compute the token:
# C announces exactly those bytes while A and B hold them; they keep it)
python3 - "$PA" "$PB" >"$D/token.hex" <<'PY'
import base64, hashlib, sys
a, b = sorted(base64.b64decode(k) for k in sys.argv[1:3])
print(hashlib.blake2s(a + b + b"home").hexdigest())
PY
nsrun "$H" python3 - "$CLIENT" 10.212.0.1 "$SP" "$(cat "$KC")" "$(cat "$D/token.hex")" >"$D/spoof.out" 2>&1 <<'PY'
import base64, importlib.util, socket, sys, time
spec = importlib.util.spec_from_file_location("cc", sys.argv[1]); cc = importlib.util.module_from_spec(spec)
spec.loader.exec_module(cc)
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s = cc.Session(sock, (sys.argv[2], 51819), base64.b64decode(sys.argv[3]),
               X25519PrivateKey.from_private_bytes(base64.b64decode(sys.argv[4])))
s.handshake()
s.ping()
s.announce(bytes.fromhex(sys.argv[5]), b"evil")
got = []
end = time.time() + 2
while time.time() < end:
    sock.settimeout(0.2)
    try:
        data, _ = sock.recvfrom(2048)
    except socket.timeout:
        continue
    cc.parse(s.open(data), got)
for g in got:
    print(*[x for x in g[:2]])
PY
check spoofed-token-refused grep -qx "error 2" "$D/spoof.out"
check spoofed-token-no-peer bash -c "! grep -q '^peer' '$D/spoof.out'"

# --- STUN with coturn's client: the NAT's mapping, and IPv6 -------------------
if command -v turnutils_stunclient >/dev/null; then
	nsrun "$A" timeout 5 turnutils_stunclient -p 51819 10.211.0.1 >"$D/stun-a.out" 2>&1
	check stun-ipv4-behind-nat grep -q 'reflexive addr: 10\.211\.0\.2:' "$D/stun-a.out"
	nsrun "$B" timeout 5 turnutils_stunclient -p 51819 fd88::1 >"$D/stun-b.out" 2>&1
	check stun-ipv6 grep -q 'reflexive addr: fd88::2' "$D/stun-b.out"
	nsrun "$A" timeout 5 turnutils_stunclient -p 51819 10.211.0.100 >"$D/stun-a2.out" 2>&1
	check stun-second-address-behind-nat grep -q 'reflexive addr: 10\.211\.0\.2:' "$D/stun-a2.out"
else
	skip stun "turnutils_stunclient (Debian's coturn) is not installed"
fi

# --- the database: the token, no public key ------------------------------------
sleep 1.5 # the records are written once a second
if command -v sqlite3 >/dev/null; then
	sqlite3 "$D/coord.db" .dump >"$D/dump.sql" 2>&1
	check db-holds-token grep -qi "$(cat "$D/token.hex")" "$D/dump.sql"
	check db-has-records test "$(sqlite3 "$D/coord.db" 'SELECT count(*) FROM coord_records')" -ge 2
	leak=
	for k in "$PA" "$PB" "$PC" "$SP"; do
		hex=$(echo "$k" | base64 -d | od -An -tx1 | tr -d ' \n')
		grep -qF "$k" "$D/dump.sql" && leak+=" base64:$k"
		grep -qi "$hex" "$D/dump.sql" && leak+=" hex:$hex"
		grep -qF "$k" "$D/coord.db" "$D"/coord.db-wal 2>/dev/null && leak+=" file:$k"
	done
	check db-no-public-key test -z "$leak"
	check db-mode-0600 test "$(stat -c %a "$D/coord.db")" = 600
else
	skip db "sqlite3 is not installed"
fi

# --- hostile input: dropped, counted, no amplification, server alive -----------
kill -USR1 $COORD
sleep 0.3
before_unknown=$(stat_of unknown) before_mac=$(stat_of handshake_bad_mac)
nsrun "$H" python3 "$CLIENT" hostile --server 10.212.0.1:51819 --server-pub "$SP" --key-file "$KC" \
	>"$D/hostile.out" 2>&1
SENT=$(awk '/^sent/ { print $2 }' "$D/hostile.out") RECV=$(awk '/^received/ { print $2 }' "$D/hostile.out")
echo "# hostile: sent $SENT bytes, received $RECV bytes"
check hostile-ran test -n "$SENT" -a "${SENT:-0}" -gt 100000
check no-amplification test "${RECV:-999999999}" -le "${SENT:-0}"
# the status file is rewritten every second: each counter is waited for
stat_gt() { local v; v=$(stat_of "$1"); ((${v:-0} > $2)); }
check counted-garbage wait_until 5 stat_gt unknown "$before_unknown"
check counted-bad-mac1 wait_until 5 stat_gt handshake_bad_mac "$before_mac"
check counted-no-session wait_until 5 stat_gt transport_no_session 0
check counted-replay wait_until 5 stat_gt handshake_replayed 0
check counted-flood wait_until 5 stat_gt rate_limited 0
check server-alive kill -0 $COORD
nsrun "$A" python3 "$CLIENT" claim --server 10.211.0.1:51819 --server-pub "$SP" --key-file "$KA" \
	--peer "$PB" --label home --blob again --timeout 3 >"$D/after.out" 2>&1
check still-serving grep -q '^announced matched' "$D/after.out"

# --- counters on SIGUSR1, clean exit on SIGTERM ---------------------------------
kill -USR1 $COORD
sleep 0.3
check sigusr1-logs-counters grep -q '^STATS: (coord) .*rate_limited=[1-9]' "$LOG"
check stats-command bash -c "'$WEFT' coord --stats --status-file '$D/status' | grep -q '^announces [1-9]'"
kill -TERM $COORD
wait $WRAPPER
check sigterm-clean-exit test $? = 0
check stopped bash -c "! kill -0 $COORD 2>/dev/null"

# --- a restarted server still knows A's record (SQLite) ------------------------
nsrun "$S" "$WEFT" coord --listen '[::]:51819' --key-file "$D/coord.key" --store "$D/coord.db" \
	>"$D/coord2.log" 2>&1 &
WRAPPER=$!
for _ in $(seq 50); do grep -q "public key" "$D/coord2.log" 2>/dev/null && break; sleep 0.1; done
COORD=$(ip netns pids "$S")
check same-key-after-restart grep -q "public key $SP\$" "$D/coord2.log"
nsrun "$B" python3 "$CLIENT" claim --server '[fd88::1]:51819' --server-pub "$SP" --key-file "$KB" \
	--peer "$PA" --label home --blob b-again --timeout 3 >"$D/restart.out" 2>&1
A_LATEST=$(awk '/^observed/ { print $2; exit }' "$D/after.out")
check record-survives-restart grep -qxF "peer $A_LATEST again" "$D/restart.out"
kill -TERM $COORD
wait $WRAPPER
exit $FAILED
