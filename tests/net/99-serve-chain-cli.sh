#!/bin/bash
# tests/net/99-serve-chain-cli.sh: a chain of `weft serve` servers built
# with the client's commands only (docs/weft-serve-chain.md): `weft
# configure` for S1, `weft add server` for S2 behind S1 and S3 behind S2,
# `weft add client` for a second person. Each namespace reaches only its
# neighbours; S3 alone reaches the target. Servers run as uid 65534 with no
# capabilities; the client is `weft up' (weftd), the second client
# wireguard-go under wg-quick with the files `weft add client' wrote.
#
#   netns yc<tag> (client)   yA<tag> (S1)        yB<tag> (S2)        yD<tag> (S3)         yt<tag> (target)
#   10.212.1.2 ------------- 10.212.1.1
#                            10.212.2.1 -------- 10.212.2.2
#                                                10.212.3.1 -------- 10.212.3.2
#                                                                    10.212.4.1, fd66::1 - 10.212.4.2, fd66::2
#   yb<tag> (second client)                                                                HTTP :8080, sha256 sink
#   10.212.5.2 ------------- 10.212.5.1
#   client 10.212.6.2 ------ yE<tag> (S9) 10.212.6.1, 10.212.7.1 ---- yu<tag> 10.212.7.2 (HTTP :8080)
#
# Checks, in order: the files each command writes (0600, the e2e file
# gains a peer per server); `weft ping` through the relay tunnel (S1) and
# end to end (S2, S3); curl v4/v6 and a checksummed transfer from the
# client to the target through S1 -> S2 -> S3; S2 holding no e2e key of the
# client<->S3 pair; `weft expose` opening a port on S3 that reaches the
# client (listed, refused twice, removed); `weft ping`'s clear failures (an unknown
# name, an address nobody answers at); `weft status` drawing the tree (and
# --json, --live); the second client (`weft add client`) reaching the same
# target and having its own .chain; S9 attached to the client itself (`add
# server --via client`: a second relay peer, its own tree) reached while
# the chain still works; S1 killed and restarted still serving the second
# client; a server added after the second client printing the peer that
# client needs; `weft add server` via a server that does not answer failing
# and leaving every file as it was.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve-lib.sh"
TEST_NAME=serve-chain-cli
require_weft wg wg-quick wireguard-go python3 curl setpriv

C=yc$TAG S1=yA$TAG S2=yB$TAG S3=yD$TAG T=yt$TAG B=yb$TAG S9=yE$TAG T9=yu$TAG
CI=yr$TAG   # the client's relay interface; its e2e twin is $CI-e2e
BI=yq$TAG   # the second client's
TMP=$WEFT_TMP
chmod 755 "$TMP"
STACK=${SERVE_STACK:-auto}
MB=${CHAIN_CLI_MB:-10}
for ns in "$C" "$S1" "$S2" "$S3" "$T" "$B" "$S9" "$T9"; do make_ns "$ns" || { fail netns "cannot create namespaces"; exit 1; }; done
link_ns "$C" "c$TAG" 10.212.1.2/24 "$S1" "a$TAG" 10.212.1.1/24 &&
	link_ns "$S1" "b$TAG" 10.212.2.1/24 "$S2" "d$TAG" 10.212.2.2/24 &&
	link_ns "$S2" "e$TAG" 10.212.3.1/24 "$S3" "f$TAG" 10.212.3.2/24 &&
	link_ns "$S3" "g$TAG" 10.212.4.1/24 "$T" "h$TAG" 10.212.4.2/24 &&
	link_ns "$B" "i$TAG" 10.212.5.2/24 "$S1" "j$TAG" 10.212.5.1/24 &&
	link_ns "$C" "k$TAG" 10.212.6.2/24 "$S9" "l$TAG" 10.212.6.1/24 &&
	link_ns "$S9" "m$TAG" 10.212.7.1/24 "$T9" "n$TAG" 10.212.7.2/24 &&
	add_addr "$S3" "g$TAG" fd66::1/64 && add_addr "$T" "h$TAG" fd66::2/64 ||
	{ fail underlay "cannot link the namespaces"; exit 1; }
check only-neighbours ping_fails "$C" 10.212.2.2

mkdir -p "$TMP/www" && echo "hello from the target $TAG" >"$TMP/www/index.html"
nsrun "$T" python3 -m http.server --bind :: --directory "$TMP/www" 8080 >/dev/null 2>&1 &
on_exit "kill $!"
nsrun "$T9" python3 -m http.server --bind :: --directory "$TMP/www" 8080 >/dev/null 2>&1 &
on_exit "kill $!"
mkdir -p "$TMP/cwww" && echo "hello from the client $TAG" >"$TMP/cwww/index.html"
nsrun "$C" python3 -m http.server --bind :: --directory "$TMP/cwww" 8080 >/dev/null 2>&1 &
on_exit "kill $!"

# the client's commands, in its namespace, with a config directory of the test
mkdir -p "$TMP/cfg" "$TMP/bob"
w() { nsrun "$C" env WEFT_CONFIG_DIR="$TMP/cfg" WEFTD="$WEFTD" "$WEFT" "$@"; }
for s in s1 s2 s3 s9; do mkdir -p "$TMP/$s" && chown 65534:65534 "$TMP/$s" && chmod 700 "$TMP/$s"; done
start() { # NAME NS: a server from the file the commands wrote, run as nobody
	chown 65534:65534 "$TMP/$1/serve.conf"
	serve_start "$2" "$TMP/$1/serve.conf" "$TMP/$1.log" "$STACK" ||
		{ fail "start-$1" "${SERVE_WHY:-did not start}"; cat "$TMP/$1.log" >&2; return 1; }
}
client_down() {
	ip -n "$C" link del "$CI-e2e" 2>/dev/null
	ip -n "$C" link del "$CI" 2>/dev/null
	ip -n "$B" link del "$BI-e2e" 2>/dev/null
	ip -n "$B" link del "$BI" 2>/dev/null
	rm -f "/var/run/wireguard/$CI.sock" "/var/run/wireguard/$CI-e2e.sock" \
		"/var/run/wireguard/$BI.sock" "/var/run/wireguard/$BI-e2e.sock"
}
on_exit client_down

# --- S1: weft configure, one tunnel ---
w configure --name "$CI" --endpoint 10.212.1.1:51820 --routes 10.212.2.0/24 \
	--server-config "$TMP/s1/serve.conf" >"$TMP/configure.out" 2>&1 ||
	{ fail configure "$(cat "$TMP/configure.out")"; exit 1; }
check configure-state-0600 test "$(stat -c %a "$TMP/cfg/$CI.chain")" = 600
start s1 "$S1" || exit 1
w up --userspace "$CI" >"$TMP/up.log" 2>&1 || { fail client-up "$(cat "$TMP/up.log")"; exit 1; }
check ping-s1 wait_until 15 eval "w ping s1 -c 1 -W 1 | grep -q 'reply from fd:16::2: seq=1 time='"

# --- S2 behind S1, S3 behind S2: weft add server ---
w add server --via s1 --endpoint 10.212.2.2:51820 --routes 10.212.3.0/24 --name s2 \
	--server-config "$TMP/s2/serve.conf" >"$TMP/add-s2.out" 2>&1 || fail add-s2 "$(cat "$TMP/add-s2.out")"
check add-s2-prints-command grep -q "weft serve -f serve.conf" "$TMP/add-s2.out"
check add-s2-config-0600 test "$(stat -c %a "$TMP/s2/serve.conf")" = 600
check add-s2-e2e-file grep -q '^Endpoint = \[fd:17::3\]:51821' "$TMP/cfg/$CI-e2e.conf"
check add-s2-e2e-up wait_until 5 eval "ip -n $C link show $CI-e2e >/dev/null"
start s2 "$S2" || exit 1
check ping-s2-end-to-end wait_until 20 eval "w ping s2 -c 1 -W 1 | grep -q 'reply from fd:16::3'"
# S3 is announced to S2 (and its relay address to S1) before it runs
w add server --via fd:16::3 --endpoint 10.212.3.2:51820 --routes 10.212.4.0/24,fd66::/64 --name s3 \
	--server-config "$TMP/s3/serve.conf" >"$TMP/add-s3.out" 2>&1 || fail add-s3 "$(cat "$TMP/add-s3.out")"
check add-s3-e2e-has-two-peers test "$(grep -c '^\[Peer\]' "$TMP/cfg/$CI-e2e.conf")" = 2
start s3 "$S3" || exit 1

# --- through the chain ---
check curl-v4 wait_until 30 nsrun "$C" curl -sf -m 5 -o "$TMP/got" http://10.212.4.2:8080/
check curl-v4-body grep -q "hello from the target $TAG" "$TMP/got"
check curl-v6 nsrun "$C" curl -sf -m 5 -o /dev/null "http://[fd66::2]:8080/"
head -c "${MB}M" /dev/urandom >"$TMP/big"
check "upload-${MB}MB" transfer_ok "$C" "$T" 10.212.4.2 9000 "$TMP/big" 120
check ping-s3 eval "w ping s3 -c 2 -i 0.2 > '$TMP/ping.out' && grep -q '2 requests, 2 replies, 0% loss' '$TMP/ping.out'"
for s in s1 s3; do echo "API round trips to $s: $(w ping "$s" -c 5 -i 0.1 | tail -1)" >&2; done
# S2 was told about S3 as a relay neighbour only: no e2e key of the pair
s2=$(nsrun "$C" curl -s -m 5 "http://[fd:16::3]/v1/status")
s3key=$(python3 -c 'import json,sys; print([n["e2e_key"] for n in json.load(sys.stdin)["nodes"] if n["name"] == "s3"][0])' \
	< <(w status --json))
[[ -n $s3key && $s2 == *'"public_key"'* && $s2 != *"$s3key"* ]] && ! grep -q "$s3key" "$TMP/s2/serve.conf" "$TMP/s2/serve.state" &&
	pass s2-holds-no-e2e-key-of-s3 || fail s2-holds-no-e2e-key-of-s3 "$s2"

# --- weft expose: a port of S3's machine that leads to the client's HTTP server ---
w expose add s3 tcp/18081:10.99.0.2:8080 >"$TMP/expose.out" 2>&1 || fail expose-add "$(cat "$TMP/expose.out")"
check expose-add-says-rule grep -qx 's3: tcp/127.0.0.1:18081:10.99.0.2:8080' "$TMP/expose.out"
check expose-reaches-client wait_until 10 eval "nsrun '$S3' curl -sf -m 5 http://127.0.0.1:18081/ | grep -q 'hello from the client $TAG'"
check expose-list eval "w expose list s3 | grep -qx 's3: tcp/127.0.0.1:18081:10.99.0.2:8080 (run time)'"
check expose-list-json eval "w expose list --json | python3 -c 'import json,sys; d=json.load(sys.stdin); assert [e[\"rule\"] for e in d[\"s3\"]] == [\"tcp/127.0.0.1:18081:10.99.0.2:8080\"] and d[\"s1\"] == []'"
out=$(w expose add s3 tcp/18081:10.99.0.2:8080 2>&1); rc=$?
[[ $rc != 0 && $out == *"server s3 refused"* ]] && pass expose-twice-refused || fail expose-twice-refused "$rc: $out"
check expose-remove eval "w expose remove s3 tcp/127.0.0.1:18081:10.99.0.2:8080 | grep -qx 's3: closed tcp/127.0.0.1:18081:10.99.0.2:8080'"
check expose-removed-closed eval "! nsrun '$S3' curl -s -m 2 -o /dev/null http://127.0.0.1:18081/ && [[ -z \$(w expose list s3) ]]"

# --- weft ping fails clearly ---
out=$(w ping nosuch 2>&1); rc=$?
[[ $rc != 0 && $out == *"neither an API address nor a server"* ]] && pass ping-unknown-name || fail ping-unknown-name "$rc: $out"
out=$(w ping fd:16::99 -c 1 -W 0.5 2>&1); rc=$?
[[ $rc != 0 && $out == *"no reply seq=1"* && $out == *"1 requests, 0 replies, 100% loss"* ]] &&
	pass ping-unreachable || fail ping-unreachable "$rc: $out"

# --- weft status: the tree ---
w status >"$TMP/status.out" 2>&1
python3 - "$TMP/status.out" <<'PY' && pass status-tree || fail status-tree "$(cat "$TMP/status.out")"
import re, sys
lines = open(sys.argv[1]).read().splitlines()
def depth(name):  # column of "name:" in its header line
    for l in lines:
        m = re.search(r"(^|─ )" + name + r": (server|client)", l)
        if m:
            return m.start() if m.start() == 0 else m.end() - len(name + ": " + m.group(2))
    sys.exit(name + " not drawn")
d = [depth(n) for n in ("client", "s1", "s2", "s3")]
assert d == sorted(d) and len(set(d)) == 4, d
text = "\n".join(lines)
for want in ("this machine (", "api        fd:16::4", "routes     10.212.4.0/24, fd66::/64", "relay      fd:17::3"):
    assert want in text, want
PY
w status --json >"$TMP/status.json"
python3 - "$TMP/status.json" <<'PY' && pass status-json || fail status-json "$(cat "$TMP/status.json")"
import json, sys
d = json.load(open(sys.argv[1]))
n = {x["name"]: x for x in d["nodes"]}
assert n["s1"]["via"] == "client" and n["s2"]["via"] == "s1" and n["s3"]["via"] == "s2", n
assert n["s3"]["api"] == "fd:16::4" and n["s3"]["routes"] == ["10.212.4.0/24", "fd66::/64"]
assert n["client"]["self"] and d["e2e_interface"].endswith("-e2e")
PY
check status-live eval "w status --live | grep -c 'live       HTTP 200' | grep -qx 3"
w status --json --live >"$TMP/live.json"
python3 - "$TMP/live.json" <<'PY' && pass status-json-live || fail status-json-live "$(cat "$TMP/live.json")"
import json, sys
n = {x["name"]: x for x in json.load(open(sys.argv[1]))["nodes"]}
for s in ("s1", "s2", "s3"):
    live = n[s]["live"]
    assert live["reachable"] and live["http_status"] == 200, s
    assert live["status"]["api"] == n[s]["api"], s  # the server says the address we know
assert n["s3"]["live"]["status"]["relay"]["public_key"] == n["s3"]["relay_key"]
assert "live" not in n["client"]
PY

# --- a second client: weft add client, wg-quick and wireguard-go ---
# it reaches S1 from another side than this client: --endpoint
w add client --name "$BI" --dir "$TMP/bob" --endpoint 10.212.5.1:51820 >"$TMP/add-bob.out" 2>&1 ||
	fail add-client "$(cat "$TMP/add-bob.out")"
check add-client-files-0600 test "$(stat -c %a "$TMP/bob/$BI.conf") $(stat -c %a "$TMP/bob/$BI-e2e.conf")" = "600 600"
check add-client-routes-copied grep -q '10.212.4.0/24, fd66::/64' "$TMP/bob/$BI-e2e.conf"
check add-client-endpoint grep -qx 'Endpoint = 10.212.5.1:51820' "$TMP/bob/$BI.conf"
for i in "$BI" "$BI-e2e"; do
	nsrun "$B" env WG_QUICK_USERSPACE_IMPLEMENTATION=wireguard-go WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1 \
		wg-quick up "$TMP/bob/$i.conf" >>"$TMP/bob.log" 2>&1 || fail "second-client-up-$i" "$(cat "$TMP/bob.log")"
done
check second-client-curl wait_until 30 nsrun "$B" curl -sf -m 5 -o "$TMP/bgot" http://10.212.4.2:8080/
check second-client-body grep -q "hello from the target $TAG" "$TMP/bgot"
check second-client-transfer transfer_ok "$B" "$T" 10.212.4.2 9001 "$TMP/big" 120
check status-shows-second-client eval "w status | grep -q '$BI: client'"
# its own .chain: the same tree seen from its side, and its own weft ping
check second-client-status eval "'$WEFT' status '$TMP/bob/$BI.conf' | grep -q '$BI: client, this machine ($BI)'"
check second-client-ping-s3 eval "nsrun '$B' '$WEFT' ping --interface '$TMP/bob/$BI.conf' s3 -c 1 | grep -q 'reply from fd:16::4'"

# --- a second first hop: S9 attached to the client itself, its own tree ---
w add server --via client --endpoint 10.212.6.1:51820 --routes 10.212.7.0/24 --name s9 \
	--server-config "$TMP/s9/serve.conf" >"$TMP/add-s9.out" 2>&1 || fail add-s9 "$(cat "$TMP/add-s9.out")"
check add-s9-relay-peer test "$(grep -c '^\[Peer\]' "$TMP/cfg/$CI.conf")" = 2
start s9 "$S9" || exit 1
check s9-curl wait_until 30 nsrun "$C" curl -sf -m 5 -o "$TMP/got9" http://10.212.7.2:8080/
check s9-body grep -q "hello from the target $TAG" "$TMP/got9"
check s9-ping eval "w ping s9 -c 1 -W 2 | grep -q 'reply from fd:16::'"
check s9-chain-still-up wait_until 20 nsrun "$C" curl -sf -m 5 -o /dev/null http://10.212.4.2:8080/
reached() { # STATUS-ARGS... -- NODE: the "reached" line of NODE's block
	local node=${*: -1}
	"$WEFT" status "${@:1:$#-1}" | awk -v n="$node: server" 'index($0, n) { f = 1 } f && /reached/ { print; exit }'
}
check status-reached-s9-first-hop eval "WEFT_CONFIG_DIR='$TMP/cfg' reached s9 | grep -q 'first hop'"
check status-reached-s3-end-to-end eval "WEFT_CONFIG_DIR='$TMP/cfg' reached s3 | grep -q 'end to end'"

# --- S1 killed and restarted: it still knows the second client, added through its API ---
# (the stack's helper, in a namespace of its own, may hold the killed
# server's UDP socket a moment longer)
serve_stop "$S1" KILL && wait_until 10 eval "! nsrun $S1 ss -Huan 'sport = :51820' | grep -q ." &&
	start s1 "$S1" || exit 1
check restart-s1-knows-second-client wait_until 30 nsrun "$B" curl -sf -m 5 -o /dev/null http://10.212.4.2:8080/

# --- a server added after the second client: the [Peer] that client needs is printed ---
# (announced only: nothing runs at that endpoint)
w add server --via s1 --endpoint 10.212.2.99:51820 --routes 10.212.8.0/24 --name s10 \
	--server-config "$TMP/s10.conf" >"$TMP/add-s10.out" 2>&1 || fail add-s10 "$(cat "$TMP/add-s10.out")"
s10=$(python3 -c 'import json,sys; n=[n for n in json.load(sys.stdin)["nodes"] if n["name"] == "s10"][0]; print(n["e2e_key"], n["relay_address"])' \
	< <(w status --json))
grep -q "The other clients ($BI) reach the new server" "$TMP/add-s10.out" &&
	grep -q "PublicKey = ${s10% *}" "$TMP/add-s10.out" && grep -q "Endpoint = \[${s10#* }\]:51821" "$TMP/add-s10.out" &&
	[[ $(grep -c '^\[E2EPeer\]' "$TMP/s10.conf") == 2 ]] && # this client's and the second one's
	grep -q "10.99.0.[0-9]*/32, fd99::[0-9a-f]*/128" "$TMP/s10.conf" &&
	pass add-server-hint-for-other-clients || fail add-server-hint-for-other-clients "$(cat "$TMP/add-s10.out")"

# --- a server whose API does not answer: add server fails and writes nothing ---
serve_stop "$S3"
cp "$TMP/cfg/$CI.chain" "$TMP/chain.before" && cp "$TMP/cfg/$CI-e2e.conf" "$TMP/e2e.before"
out=$(w add server --via s3 --endpoint 10.212.4.2:51820 --routes 10.212.9.0/24 --name s4 \
	--server-config "$TMP/s4.conf" 2>&1); rc=$?
[[ $rc != 0 && $out == *"server s3's API"* && ! -e $TMP/s4.conf ]] &&
	cmp -s "$TMP/chain.before" "$TMP/cfg/$CI.chain" && cmp -s "$TMP/e2e.before" "$TMP/cfg/$CI-e2e.conf" &&
	pass add-server-unreachable-writes-nothing || fail add-server-unreachable-writes-nothing "$rc: $out"
exit $FAILED
