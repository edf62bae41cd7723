#!/bin/bash
# tests/net/97-serve-chain.sh: chained `weft serve` (docs/weft-serve-chain.md):
# a client reaches a target through three servers, each of which reaches
# only its neighbours; S3 alone reaches the target. Every server runs as
# uid 65534 with no capabilities. The client is wireguard-go under wg-quick
# with two interfaces: the relay one (peer S1) and the end-to-end one
# (peers S2 and S3, reached at [RELAY-ADDRESS]:51821 through the relay one).
#
#                           kx<tag> (a relay neighbour of S1: 10.210.5.2 -- S1 10.210.5.1)
#   netns kc<tag> (client)  kA<tag> (S1)           kB<tag> (S2)           kD<tag> (S3)            kt<tag> (target)
#   10.210.1.2 ------------ 10.210.1.1
#                           10.210.2.1 ----------- 10.210.2.2
#                                                  10.210.3.1 ----------- 10.210.3.2
#                                                                         10.210.4.1, fd64::1 ---- 10.210.4.2, fd64::2
#   relay fd:17::1          relay fd:17::2         relay fd:17::3         relay fd:17::4          HTTP :8080, sha256 sink :9000
#   tunnel 10.99.0.2,       API fd:16::2           API fd:16::3           API fd:16::4
#     fd99::2; HTTP :8080
#
# The configs come from the commands: `weft configure' (the client and S1),
# `weft add server --via fd:16::2' (S2) and `weft add server --via s2'
# (S3, announced to S2, and its relay address to S1, through their APIs
# before it runs). Checks: the APIs (ping, status, errors, a relay
# neighbour's key refused as an end-to-end client's), curl and a
# checksummed 20 MB transfer to the target, S2's state holding no key of
# the client<->S3 end-to-end pair and its counters showing that it
# forwarded the transfer without terminating it, an Expose added at run
# time on S3, then S2 and S3 killed and restarted: the peers and the
# exposed port added at run time are still there and traffic flows again;
# last, the Expose rule taken back through the API.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve-lib.sh"
TEST_NAME=serve-chain
require_weft wg wg-quick wireguard-go python3 curl setpriv

C=kc$TAG S1=kA$TAG S2=kB$TAG S3=kD$TAG T=kt$TAG
CR=kr$TAG CE=kr$TAG-e2e # the client's interfaces (UAPI sockets are global: the names carry the tag)
TMP=$WEFT_TMP
chmod 755 "$TMP"
STACK=${SERVE_STACK:-auto}
SERVE_START_WAIT=30 # five servers and two clients share the machine
X=kx$TAG XI=kxw$TAG # a relay neighbour of S1 that tries what only clients may
for ns in "$C" "$S1" "$S2" "$S3" "$T" "$X"; do make_ns "$ns" || { fail netns "cannot create namespaces"; exit 1; }; done
link_ns "$C" "c$TAG" 10.210.1.2/24 "$S1" "a$TAG" 10.210.1.1/24 &&
	link_ns "$X" "x$TAG" 10.210.5.2/24 "$S1" "y$TAG" 10.210.5.1/24 &&
	link_ns "$S1" "b$TAG" 10.210.2.1/24 "$S2" "d$TAG" 10.210.2.2/24 &&
	link_ns "$S2" "e$TAG" 10.210.3.1/24 "$S3" "f$TAG" 10.210.3.2/24 &&
	link_ns "$S3" "g$TAG" 10.210.4.1/24 "$T" "h$TAG" 10.210.4.2/24 &&
	add_addr "$S3" "g$TAG" fd64::1/64 && add_addr "$T" "h$TAG" fd64::2/64 ||
	{ fail underlay "cannot link the namespaces"; exit 1; }
# nobody forwards on the underlay: each namespace reaches its neighbours only
check only-neighbours ping_fails "$C" 10.210.2.2
check s1-not-target ping_fails "$S1" 10.210.4.2

# --- the target and the client's own services ---
mkdir -p "$TMP/www" && echo "hello from the target $TAG" >"$TMP/www/index.html"
nsrun "$T" python3 -m http.server --bind :: --directory "$TMP/www" 8080 >/dev/null 2>&1 &
on_exit "kill $!"
mkdir -p "$TMP/cwww" && echo "hello from the client $TAG" >"$TMP/cwww/index.html"
nsrun "$C" python3 -m http.server --bind :: --directory "$TMP/cwww" 8080 >/dev/null 2>&1 &
on_exit "kill $!"

# --- configs: `weft configure' for S1, `weft add server' for S2 and S3 ---
for s in s1 s2 s3; do mkdir -p "$TMP/$s" && chown 65534:65534 "$TMP/$s" && chmod 700 "$TMP/$s"; done
mkdir -p "$TMP/cfg"
weft_c() { nsrun "$C" env WEFT_CONFIG_DIR="$TMP/cfg" WEFTD="$WEFTD" "$WEFT" "$@"; }
weft_c configure --name "$CR" --endpoint 10.210.1.1:51820 --routes 10.210.2.0/24 \
	--server-config "$TMP/s1/serve.conf" >"$TMP/configure.out" 2>&1 ||
	{ cat "$TMP/configure.out" >&2; fail configure "weft configure failed"; exit 1; }
chown 65534:65534 "$TMP/s1/serve.conf"
priv_of() { # FILE SECTION: the PrivateKey in that section of a config
	awk -v s="[$2]" '/^\[/ { in_s = ($0 == s) } in_s && /^PrivateKey/ { print $3 }' "$1"
}
pub_of() { priv_of "$@" | wg pubkey; }
start() { # NAME NS: one server, its log in $TMP/NAME.log
	serve_start "$2" "$TMP/$1/serve.conf" "$TMP/$1.log" "$STACK" ||
		{ fail "start-$1" "${SERVE_WHY:-did not start}"; cat -v "$TMP/$1.log" >&2; return 1; }
}
# the client's interfaces: wireguard-go under wg-quick
wgq() { # up|down FILE
	nsrun "$C" env WG_QUICK_USERSPACE_IMPLEMENTATION=wireguard-go WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1 \
		wg-quick "$1" "$2" >>"$TMP/client.log" 2>&1 || { cat "$TMP/client.log" >&2; return 1; }
}
# e2e_up: (again) the end-to-end interface with the file `weft add' wrote
e2e_up() {
	ip -n "$C" link del "$CE" 2>/dev/null
	rm -f "/var/run/wireguard/$CE.sock"
	wgq up "$TMP/cfg/$CE.conf"
}
client_down() {
	local i
	for i in "$CE" "$CR"; do
		ip -n "$C" link del "$i" 2>/dev/null
		rm -f "/var/run/wireguard/$i.sock"
	done
}
on_exit client_down

# api METHOD URL [JSON]: the body on stdout, "HTTP <status>" as its last line
api() {
	nsrun "$C" curl -s -m 5 -X "$1" -w '\nHTTP %{http_code}\n' ${3:+-H 'Content-Type: application/json' --data "$3"} "$2"
}
status_of() { api GET "http://[$1]/v1/status" | sed '$d'; }
json_get() { python3 -c 'import json, sys; d = json.load(sys.stdin); print(eval(sys.argv[1], {"d": d}))' "$1"; }

start s1 "$S1" || exit 1
wgq up "$TMP/cfg/$CR.conf" || { fail client "wg-quick did not bring the client up"; exit 1; }
check weft-ping-s1 wait_until 15 eval "weft_c ping -c 1 fd:16::2 >/dev/null 2>&1"
weft_c add server --interface "$CR" --via fd:16::2 --endpoint 10.210.2.2:51820 --via-endpoint 10.210.2.1:51820 \
	--routes 10.210.3.0/24 --name s2 --server-config "$TMP/s2/serve.conf" >"$TMP/add-s2.out" 2>&1 ||
	{ cat "$TMP/add-s2.out" >&2; fail add-s2 "weft add server failed"; exit 1; }
chown 65534:65534 "$TMP/s2/serve.conf"
start s2 "$S2" || exit 1
e2e_up || { fail client "wg-quick did not bring the end-to-end interface up"; exit 1; }

# --- the APIs: S1 through the relay tunnel, S2 end to end ---
check api-s1-ping wait_until 15 eval "api GET 'http://[fd:16::2]/v1/ping' | grep -q 'HTTP 200'"
check api-s2-ping wait_until 15 eval "api GET 'http://[fd:16::3]/v1/ping' | grep -q 'HTTP 200'"
r=$(status_of fd:16::3)
[[ $(json_get 'd["e2e"]["public_key"]' <<<"$r") == "$(pub_of "$TMP/s2/serve.conf" E2E)" ]] && pass api-s2-status-e2e-key ||
	fail api-s2-status-e2e-key "$r"
r=$(api GET 'http://[fd:16::3]/v1/nothing')
[[ $r == *'HTTP 404' && $r == *error* ]] && pass api-404 || fail api-404 "$r"
r=$(api POST 'http://[fd:16::3]/v1/peers' '{"public_key": "nope"}')
[[ $r == *'HTTP 400' ]] && pass api-bad-key-400 || fail api-bad-key-400 "$r"
# S1, a relay neighbour of S2, cannot be made an end-to-end client of S2
r=$(api POST 'http://[fd:16::3]/v1/peers' "{\"layer\": \"e2e\", \"public_key\": \"$(pub_of "$TMP/s1/serve.conf" Interface)\", \"allowed_ips\": [\"10.99.9.9/32\"]}")
[[ $r == *'HTTP 409' ]] && pass api-relay-key-not-e2e || fail api-relay-key-not-e2e "$r"

# --- the API is not on the underlay: nothing listens on S2's own addresses ---
r=$(nsrun "$S1" curl -s -m 3 -o /dev/null -w '%{http_code}' http://10.210.2.2/v1/ping)
[[ $r == 000 ]] && pass api-not-on-underlay || fail api-not-on-underlay "answered $r"

# --- a relay neighbour is neither a client nor an exit: X, a server as far
# as S1 knows (wireguard-go here), tries S1's API, S1's network and the
# client's relay address; the client itself reaches S1's network ---
nsrun "$S2" python3 -m http.server --bind 10.210.2.2 --directory "$TMP/www" 8080 >/dev/null 2>&1 &
on_exit "kill $!"
wg genkey >"$TMP/x.key"
r=$(api POST 'http://[fd:16::2]/v1/peers' "{\"layer\": \"relay\", \"role\": \"server\", \"public_key\": \"$(wg pubkey <"$TMP/x.key")\", \"allowed_ips\": [\"fd:17::99/128\"], \"endpoint\": \"10.210.5.2:51820\"}")
[[ $r == *'HTTP 201' ]] && pass api-s1-add-neighbour || fail api-s1-add-neighbour "$r"
cat >"$TMP/$XI.conf" <<CONF
[Interface]
PrivateKey = $(cat "$TMP/x.key")
ListenPort = 51820
Address = fd:17::99/128

[Peer]
PublicKey = $(pub_of "$TMP/s1/serve.conf" Interface)
Endpoint = 10.210.5.1:51820
AllowedIPs = fd:17::/48, fd:16::2/128, 10.210.2.0/24
PersistentKeepalive = 1
CONF
nsrun "$X" env WG_QUICK_USERSPACE_IMPLEMENTATION=wireguard-go WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1 \
	wg-quick up "$TMP/$XI.conf" >>"$TMP/client.log" 2>&1 && on_exit "ip -n $X link del $XI; rm -f /var/run/wireguard/$XI.sock"
check neighbour-handshake wait_until 10 eval "nsrun '$X' wg show '$XI' latest-handshakes | awk '\$2 > 0' | grep -q ."
check client-reaches-s1-network wait_until 10 nsrun "$C" curl -sf -m 5 -o /dev/null http://10.210.2.2:8080/
dropped0=$(status_of fd:16::2 | json_get 'd["counters"]["relay_dropped"]')
check neighbour-no-api eval "! nsrun '$X' curl -s -m 2 -o /dev/null 'http://[fd:16::2]/v1/ping'"
check neighbour-no-exit eval "! nsrun '$X' curl -s -m 2 -o /dev/null http://10.210.2.2:8080/"
# UDP from X to the client's relay address, not from the e2e port: never arrives
nsrun "$C" python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); s.bind(("::", 9999)); s.settimeout(3)
open(sys.argv[1], "w").close()
try:
    s.recvfrom(100); print("received")
except socket.timeout:
    print("nothing")' "$TMP/udp-bound" >"$TMP/udp-heard" &
udp=$!
wait_until 10 test -e "$TMP/udp-bound"
nsrun "$X" python3 -c '
import socket, time
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
for _ in range(5):
    s.sendto(b"probe", ("fd:17::1", 9999)); time.sleep(0.2)'
wait "$udp"
grep -qx nothing "$TMP/udp-heard" && pass neighbour-cannot-reach-client || fail neighbour-cannot-reach-client "the listener said: $(cat "$TMP/udp-heard")"
dropped1=$(status_of fd:16::2 | json_get 'd["counters"]["relay_dropped"]')
((dropped1 > dropped0)) && pass neighbour-drops-counted || fail neighbour-drops-counted "$dropped0 -> $dropped1"

# --- S3 is announced (to S2, and its relay address to S1) before it runs ---
weft_c add server --interface "$CR" --via s2 --endpoint 10.210.3.2:51820 --routes 10.210.4.0/24,fd64::/64 \
	--name s3 --server-config "$TMP/s3/serve.conf" >"$TMP/add-s3.out" 2>&1 &&
	pass add-s3 || { cat "$TMP/add-s3.out" >&2; fail add-s3 "weft add server failed"; exit 1; }
chown 65534:65534 "$TMP/s3/serve.conf"
check s2-state-0600 test "$(stat -c %a "$TMP/s2/serve.state")" = 600
S3R=$(pub_of "$TMP/s3/serve.conf" Interface) S3E=$(pub_of "$TMP/s3/serve.conf" E2E)
check s2-state-has-s3 grep -q "$S3R" "$TMP/s2/serve.state"
start s3 "$S3" || exit 1
e2e_up || { fail client "wg-quick did not bring the end-to-end interface up"; exit 1; }

# --- through the chain ---
check curl-v4 wait_until 30 nsrun "$C" curl -sf -m 5 -o "$TMP/got" http://10.210.4.2:8080/
check curl-v4-body grep -q "hello from the target $TAG" "$TMP/got"
check curl-v6 nsrun "$C" curl -sf -m 5 -o /dev/null "http://[fd64::2]:8080/"
check api-s3-ping api GET 'http://[fd:16::4]/v1/ping'
MB=${CHAIN_MB:-20}
head -c "${MB}M" /dev/urandom >"$TMP/big"
before=$(status_of fd:16::3)
t0=$(date +%s%N)
check "upload-${MB}MB" transfer_ok "$C" "$T" 10.210.4.2 9000 "$TMP/big" 120
t1=$(date +%s%N)
echo "client -> S1 -> S2 -> S3 -> target: $MB MB in $(( (t1 - t0) / 1000000 )) ms" \
	"($(( MB * 8 * 1000000000 / (t1 - t0 + 1) )) Mbit/s, $STACK stack)" >&2

# --- S2 forwards the client<->S3 end-to-end traffic and cannot open it ---
after=$(status_of fd:16::3)
fwd=$(( $(json_get 'd["counters"]["relay_forwarded_bytes"]' <<<"$after") - $(json_get 'd["counters"]["relay_forwarded_bytes"]' <<<"$before") ))
up=$(( $(json_get 'd["counters"]["bytes_up"]' <<<"$after") - $(json_get 'd["counters"]["bytes_up"]' <<<"$before") ))
echo "S2 during the transfer: forwarded $fwd bytes, relayed $up bytes out of its own flows" >&2
((fwd > MB * 1000000)) && pass s2-forwarded-the-transfer || fail s2-forwarded-the-transfer "forwarded $fwd bytes"
((up < 1000000)) && pass s2-did-not-terminate-it || fail s2-did-not-terminate-it "its flows sent $up bytes"
s2files=$(cat "$TMP/s2/serve.conf" "$TMP/s2/serve.state"; echo "$after")
leak=
for k in "$S3E" "$(priv_of "$TMP/s3/serve.conf" E2E)" "$(priv_of "$TMP/s3/serve.conf" Interface)" \
	"$(priv_of "$TMP/cfg/$CE.conf" Interface)" "$(priv_of "$TMP/cfg/$CR.conf" Interface)"; do
	[[ $s2files == *"$k"* ]] && leak+=" $k"
done
[[ -z $leak ]] && pass s2-holds-no-e2e-key-of-client-s3 || fail s2-holds-no-e2e-key-of-client-s3 "found:$leak"
[[ $(json_get '[p["layer"] for p in d["peers"] if p["public_key"] == "'"$S3R"'"]' <<<"$after") == "['relay']" ]] &&
	pass s2-knows-s3-as-relay-only || fail s2-knows-s3-as-relay-only "$after"

# --- an Expose added at run time on S3: its port reaches the client ---
r=$(api POST 'http://[fd:16::4]/v1/expose' '{"rule": "tcp/18080:10.99.0.2:8080"}')
[[ $r == *'HTTP 201' ]] && pass api-s3-expose || fail api-s3-expose "$r"
check expose-reaches-client nsrun "$S3" curl -sf -m 5 -o "$TMP/cgot" http://127.0.0.1:18080/
check expose-body grep -q "hello from the client $TAG" "$TMP/cgot"

# --- killed and restarted: what was added at run time is still known ---
# (the stack's helper, in a namespace of its own, may hold a killed
# server's UDP socket a moment longer: wait for the port to be free)
port_free() { ! nsrun "$1" ss -Huan 'sport = :51820' | grep -q .; }
serve_stop "$S2" KILL && serve_stop "$S3" KILL &&
	wait_until 10 port_free "$S2" && wait_until 10 port_free "$S3"
start s2 "$S2" && start s3 "$S3" || exit 1
r=$(nsrun "$C" curl -s -m 5 "http://[fd:16::3]/v1/status")
check restart-curl wait_until 60 nsrun "$C" curl -sf -m 5 -o /dev/null http://10.210.4.2:8080/
r=$(status_of fd:16::3)
[[ $(json_get '[p["runtime"] for p in d["peers"] if p["public_key"] == "'"$S3R"'"]' <<<"$r") == "[True]" ]] &&
	pass restart-s2-knows-s3 || fail restart-s2-knows-s3 "$r"
r=$(status_of fd:16::4)
[[ $(json_get '[e["rule"] for e in d["expose"] if e["runtime"]]' <<<"$r") == "['tcp/127.0.0.1:18080:10.99.0.2:8080']" ]] &&
	pass restart-s3-knows-expose || fail restart-s3-knows-expose "$r"
check restart-expose-reaches-client nsrun "$S3" curl -sf -m 5 -o /dev/null http://127.0.0.1:18080/
head -c 5M "$TMP/big" >"$TMP/mid"
check restart-upload-5MB transfer_ok "$C" "$T" 10.210.4.2 9001 "$TMP/mid" 60

# --- an Expose taken back: the port closes and the state forgets it ---
r=$(api DELETE 'http://[fd:16::4]/v1/expose?rule=tcp%2F127.0.0.1%3A18080%3A10.99.0.2%3A8080')
[[ $r == *'HTTP 204' ]] && pass api-s3-expose-delete || fail api-s3-expose-delete "$r"
check expose-closed eval "! nsrun '$S3' curl -sf -m 3 -o /dev/null http://127.0.0.1:18080/"
check state-forgets-expose eval "! grep -q 18080 '$TMP/s3/serve.state'"

# --- every server stops on SIGTERM, and (in a sanitizer build) said nothing ---
for ns in "$S1" "$S2" "$S3"; do serve_stop "$ns" || fail stop "weft serve in $ns did not stop"; done
r=$(grep -l "Sanitizer\|runtime error" "$TMP"/s[123].log)
[[ -z $r ]] && pass servers-exit-clean || { fail servers-exit-clean "$r"; cat $r >&2; }
exit $FAILED
