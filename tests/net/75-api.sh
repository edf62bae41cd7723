#!/bin/bash
# tests/net/75-api.sh: `weft api`, the enrolment HTTP API, against curl,
# Python clients and Debian's wireguard-go.
#
#   netns as<pid> ("server")                          netns ap<pid> ("phone")
#   veth vs<pid> 192.168.75.1/24 ------------------ veth vp<pid> 192.168.75.2/24
#   a<pid>: weftd, `weft interface add`,              q<pid>: wireguard-go, set up
#     10.75.0.1/16, :51875                              from a config the API gave
#   weft api a<pid> on 127.0.0.1:9075 (the server's own loopback; clients run
#     inside the namespace)
#
# Configs live in a temporary WEFT_CONFIG_DIR; nothing under /etc is touched.
# Checks:
#   healthz, headers   /healthz answers; security headers on answers and pages
#   auth               no token, a malformed and an unknown token: 401 (JSON)
#   bad-input          bad key, bad JSON, unknown field, bad name, bad
#                      allowed_ips, past expiry: 400; a 20 KB body: 413
#   enrol              POST with a public key: 201 with the peer, its address
#                      and a config; a duplicate key: 409; without a key the
#                      private key comes back once and is stored nowhere
#   one-time           an enrolment token made for 1 peer: the 2nd POST is 403
#   owner              an enrolment token lists only its own peers; another
#                      token's peer: GET/PATCH/DELETE 403; enable/disable is
#                      admin-only (403)
#   config, qr         GET .../config is the enrolment's config; ?format=qr
#                      is a PNG that decodes (zbarimg) to the same text
#   patch, disable     PATCH renames; enabled=false takes the peer out of the
#                      wg-quick file and off the device
#   delete             204, and 204 again (idempotent); unknown peer 404; 405
#   tether             /peer/add/TYPE/KEY, /peer/config/TYPE/KEY, /peer/remove/KEY
#   metrics            Prometheus text with requests by route and status
#   tls                --tls-cert/--tls-key: HTTPS with the certificate; after
#                      it is replaced and SIGHUP, HTTPS with the new one only
#   up                 `weft api IFACE --up` brings a second interface up from
#                      its config, and down again on SIGTERM
#   rate               a server limited to 2 requests/s answers 429 to a burst
#   concurrent         100 concurrent enrolments: 100 distinct addresses, all
#                      back after a restart, and IFACE.conf loads with wg-quick
#   group              600 concurrent enrolments (12 clients, so saved in
#                      groups), every third with a name already taken: exactly
#                      those 200 are 409, the other 400 are 201 and in the files
#   token-lock         tokens made over HTTP one after another while that burst
#                      runs (groups holding the directory lock) all answer 201
#                      within 10 s; at least 3 must overlap the burst
#   max-peers          with --max-peers one above the peers there are, one
#                      enrolment is 201, the next 429 and its peer is not made
#   slow               a client that sends its headers a byte a second, and one
#                      that sends its body so, are cut off 10-12 s after they
#                      connected (the 10 s timeout); 6 other requests
#                      meanwhile are answered within 1 s
#   kill9              kill -9 during a burst (of up to 5,000): the files parse and hold
#                      every peer that got a 201, and at most the group being
#                      saved when the kill came (one request per client: 8)
#   tunnel             a config from the API brings up wireguard-go; ping
#   expiry             a peer enrolled with expires=2s is disabled by the
#                      running server, then removed after --grace
. "$(dirname "$0")/lib.sh"
TEST_NAME=api

require_weft wg wg-quick wireguard-go zbarimg curl python3
export WEFT_DAEMON=$WEFTD
TMP=$WEFT_TMP
export WEFT_CONFIG_DIR=$TMP/etc
mkdir -m 700 "$WEFT_CONFIG_DIR"
CLIENT=$ROOT/tests/net/api_client.py

S=as$TAG P=ap$TAG IF=a$TAG PIF=q$TAG
make_ns "$S" && make_ns "$P" && link_ns "$S" "vs$TAG" 192.168.75.1/24 "$P" "vp$TAG" 192.168.75.2/24 ||
	{ fail setup "cannot make the namespaces"; exit 1; }

(umask 077; printf '[Interface]\nAddress = 10.75.0.1/16\n\n[Weft]\nPublicIPv4 = 192.168.75.1\n' \
	>"$WEFT_CONFIG_DIR/$IF.conf")
nsrun "$S" "$WEFT" interface add "$IF" --listen-port 51875 >/dev/null 2>"$TMP/add.err" ||
	{ fail setup "interface add: $(cat "$TMP/add.err")"; exit 1; }

ADMIN=$("$WEFT" api token add "$IF" --admin --name ops 2>/dev/null)
ENROL=$("$WEFT" api token add "$IF" --peers 3 --name family 2>/dev/null)
ONCE=$("$WEFT" api token add "$IF" 2>/dev/null)
if [[ $ADMIN == weft_* && $ENROL == weft_* && $ONCE == weft_* && $(stat -c %a "$WEFT_CONFIG_DIR/$IF.tokens") == 600 ]] &&
	! grep -q "${ADMIN#weft_}" "$WEFT_CONFIG_DIR/$IF.tokens" &&
	[[ $("$WEFT" api token list "$IF" | grep -c ' enrol ') == 2 ]]; then
	pass tokens
else
	fail tokens "token add/list: $(cat "$WEFT_CONFIG_DIR/$IF.tokens")"
fi

PORT=9075
U=http://127.0.0.1:$PORT
mkdir -p "$TMP/www" && echo '<!doctype html><title>t</title>' >"$TMP/www/index.html"
start_api() { # extra options...
	# ip netns exec becomes weft, so $! is the server itself
	ip netns exec "$S" "$WEFT" api "$IF" --listen 127.0.0.1:$PORT --static "$TMP/www" --rate 0 --grace 3 "$@" \
		2>>"$TMP/api.log" &
	API_PID=$!
	wait_until 5 nsrun "$S" curl -sf -o /dev/null "$U/healthz"
}
on_exit 'kill -KILL $API_PID'
start_api || { fail start "the server did not answer: $(cat "$TMP/api.log")"; exit 1; }

# req TOKEN METHOD PATH [BODY]: prints the status; the body goes to $TMP/body
req() {
	local auth=()
	[[ -n $1 ]] && auth=(-H "Authorization: Bearer $1")
	nsrun "$S" curl -s -o "$TMP/body" -w '%{http_code}' "${auth[@]}" -X "$2" ${4:+--data-binary "$4"} "$U$3"
}
# expect NAME STATUS TOKEN METHOD PATH [BODY]: the status, and a JSON error body for errors
expect() {
	local name=$1 want=$2 got
	shift 2
	got=$(req "$@")
	if [[ $got != "$want" ]]; then
		fail "$name" "$2 $3: $got, not $want: $(head -c 300 "$TMP/body")"
		return 1
	fi
	if ((want >= 400)) && ! python3 -c 'import json,sys; assert json.load(open(sys.argv[1]))["error"]' "$TMP/body"; then
		fail "$name" "$2 $3: the $want has no JSON error body: $(head -c 300 "$TMP/body")"
		return 1
	fi
	return 0
}
json() { python3 -c "import json,sys; d=json.load(open('$TMP/body')); print($1)"; }
# config FILE: the "config" of the answer into FILE, exactly
config() { python3 -c "import json,sys; sys.stdout.write(json.load(open('$TMP/body'))['config'])" >"$1"; }

# ---- healthz, headers ----
expect healthz 200 "" GET /healthz && [[ $(json 'd["status"]') == ok ]] && pass healthz
hdr=$(nsrun "$S" curl -s -D - -o /dev/null "$U/")
if grep -qi "^Content-Security-Policy: .*frame-ancestors 'none'" <<<"$hdr" && ! grep -qi "unsafe-inline" <<<"$hdr" &&
	grep -qi '^X-Frame-Options: DENY' <<<"$hdr" && grep -qi '^X-Content-Type-Options: nosniff' <<<"$hdr" &&
	grep -qi '^Referrer-Policy: no-referrer' <<<"$hdr" && grep -q '^HTTP/1.1 200' <<<"$hdr"; then
	pass headers
else
	fail headers "$hdr"
fi
expect static-traversal 404 "" GET /../etc/passwd >/dev/null || true
expect static-hidden 404 "" GET /.hidden && pass static-names

# ---- auth ----
expect auth 401 "" GET /v1/peers && expect auth 401 "weft_nothex" GET /v1/peers &&
	expect auth 401 "weft_$(printf '0%.0s' {1..64})" GET /v1/peers && pass auth

# ---- bad input ----
K1=$(wg genkey | wg pubkey)
big=$(python3 -c 'print("{\"name\":\"" + "x"*20000 + "\"}")')
expect bad-input 400 "$ADMIN" POST /v1/peers '{"public_key":"abc"}' &&
	expect bad-input 400 "$ADMIN" POST /v1/peers '{"public_key":' &&
	expect bad-input 400 "$ADMIN" POST /v1/peers '[1]' &&
	expect bad-input 400 "$ADMIN" POST /v1/peers '{"color":"red"}' &&
	expect bad-input 400 "$ADMIN" POST /v1/peers '{"name":"a b"}' &&
	expect bad-input 400 "$ADMIN" POST /v1/peers '{"allowed_ips":["10.0.0.0/99"]}' &&
	expect bad-input 400 "$ADMIN" POST /v1/peers '{"expires":"2001-01-01"}' &&
	expect bad-input 400 "$ADMIN" GET /v1/peers/notakey &&
	expect bad-input 413 "$ADMIN" POST /v1/peers "$big" && pass bad-input

# ---- enrol ----
if expect enrol 201 "$ENROL" POST /v1/peers "{\"public_key\":\"$K1\",\"name\":\"k1\",\"dns\":[\"10.75.0.1\"]}" &&
	[[ $(json 'd["public_key"]') == "$K1" && $(json 'd["addresses"][0]') == 10.75.0.2/32 ]] &&
	config "$TMP/k1.conf" && grep -q '^Endpoint = 192.168.75.1:51875$' "$TMP/k1.conf" &&
	grep -q '^DNS = 10.75.0.1$' "$TMP/k1.conf" && [[ $(json '"private_key" in d') == False ]] &&
	grep -q "^PublicKey = $K1" "$WEFT_CONFIG_DIR/$IF.conf" &&
	nsrun "$S" wg show "$IF" allowed-ips | grep -q "^$K1.*10.75.0.2/32"; then
	pass enrol
fi
expect duplicate 409 "$ADMIN" POST /v1/peers "{\"public_key\":\"$K1\"}" && pass duplicate
if expect server-key 201 "$ADMIN" POST /v1/peers '{"name":"made"}'; then
	priv=$(json 'd["private_key"]') pub=$(json 'd["public_key"]')
	config "$TMP/made.conf"
	if [[ $(wg pubkey <<<"$priv") == "$pub" ]] && grep -q "^PrivateKey = $priv" "$TMP/made.conf" &&
		! grep -rqF "$priv" "$WEFT_CONFIG_DIR" && ! grep -qF "$priv" "$TMP/api.log"; then
		pass server-key
	else
		fail server-key "the private key does not match or was stored"
	fi
	MADE=$pub
fi

# ---- one-time ----
expect one-time 201 "$ONCE" POST /v1/peers "{\"public_key\":\"$(wg genkey | wg pubkey)\"}" &&
	expect one-time 403 "$ONCE" POST /v1/peers "{\"public_key\":\"$(wg genkey | wg pubkey)\"}" && pass one-time

# ---- owner ----
enc() { python3 -c 'import sys,urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"; }
if expect owner 200 "$ENROL" GET /v1/peers && [[ $(json 'len(d["peers"])') == 1 && $(json 'd["peers"][0]["public_key"]') == "$K1" ]] &&
	expect owner 200 "$ADMIN" GET /v1/peers && [[ $(json 'len(d["peers"])') == 3 ]] &&
	expect owner 403 "$ENROL" GET "/v1/peers/$(enc "$MADE")" &&
	expect owner 403 "$ENROL" DELETE "/v1/peers/$(enc "$MADE")" &&
	expect owner 403 "$ENROL" PATCH "/v1/peers/$(enc "$MADE")" '{"name":"mine"}' &&
	expect owner 403 "$ENROL" PATCH "/v1/peers/$(enc "$K1")" '{"enabled":false}' &&
	expect owner 200 "$ENROL" GET "/v1/peers/$(enc "$K1")"; then
	pass owner
fi

# ---- config, qr ----
if expect config 200 "$ENROL" GET "/v1/peers/$(enc "$K1")/config" && cmp -s "$TMP/body" "$TMP/k1.conf"; then
	pass config
else
	fail config "the config differs from the enrolment's"
fi
if expect qr 200 "$ENROL" GET "/v1/peers/$(enc "$K1")/config?format=qr" &&
	zbarimg -q --raw "$TMP/body" 2>/dev/null >"$TMP/qr.txt" && diff <(sed '${/^$/d}' "$TMP/qr.txt") <(sed '${/^$/d}' "$TMP/k1.conf") >/dev/null; then
	pass qr
else
	fail qr "the QR code does not decode to the config"
fi

# ---- patch, disable ----
if expect patch 200 "$ENROL" PATCH "/v1/peers/$(enc "$K1")" '{"name":"renamed","expires":"30d"}' &&
	[[ $(json 'd["name"]') == renamed && $(json 'd["expires"] is not None') == True ]]; then
	pass patch
fi
if expect disable 200 "$ADMIN" PATCH "/v1/peers/$(enc "$K1")" '{"enabled":false}' && [[ $(json 'd["enabled"]') == False ]] &&
	! grep -q "^PublicKey = $K1" "$WEFT_CONFIG_DIR/$IF.conf" && ! nsrun "$S" wg show "$IF" peers | grep -q "$K1" &&
	expect disable 200 "$ADMIN" PATCH "/v1/peers/$(enc "$K1")" '{"enabled":true}' &&
	nsrun "$S" wg show "$IF" peers | grep -q "$K1"; then
	pass disable
fi

# ---- delete ----
expect delete 204 "$ADMIN" DELETE "/v1/peers/$(enc "$MADE")" && expect delete 204 "$ADMIN" DELETE "/v1/peers/$(enc "$MADE")" &&
	expect delete 404 "$ADMIN" GET "/v1/peers/$(enc "$MADE")" && ! grep -q "$MADE" "$WEFT_CONFIG_DIR/$IF.conf" &&
	expect delete 405 "$ADMIN" PUT /v1/peers && pass delete

# ---- tether ----
K2=$(wg genkey | wg pubkey)
if expect tether 200 "$ADMIN" POST "/peer/add/ipv4/$(enc "$K2")" && grep -q '^Endpoint = 192.168.75.1:51875' "$TMP/body" &&
	expect tether 200 "$ADMIN" GET "/peer/config/any/$(enc "$K2")" && grep -q '^\[Peer\]' "$TMP/body" &&
	expect tether 400 "$ADMIN" GET "/peer/config/nope/$(enc "$K2")" &&
	expect tether 200 "$ADMIN" DELETE "/peer/remove/$(enc "$K2")" && ! grep -q "$K2" "$WEFT_CONFIG_DIR/$IF.conf"; then
	pass tether
fi

# ---- tokens over HTTP (the admin page's) ----
if expect http-tokens 403 "$ENROL" POST /v1/tokens '{"peers":1}' &&
	expect http-tokens 400 "$ADMIN" POST /v1/tokens '{"peers":0}' &&
	expect http-tokens 201 "$ADMIN" POST /v1/tokens '{"peers":1,"name":"link","expires":"7d"}'; then
	LINK=$(json 'd["token"]') LINK_ID=$(json 'd["id"]')
	if expect http-tokens 200 "$ADMIN" GET /v1/tokens && [[ $(json "[t['name'] for t in d['tokens'] if t['id'] == '$LINK_ID']") == "['link']" ]] &&
		! grep -q "${LINK#weft_}" "$WEFT_CONFIG_DIR/$IF.tokens" &&
		expect http-tokens 200 "$LINK" GET /v1/peers &&
		expect http-tokens 204 "$ADMIN" DELETE "/v1/tokens/$LINK_ID" &&
		expect http-tokens 401 "$LINK" GET /v1/peers && expect http-tokens 404 "$ADMIN" DELETE "/v1/tokens/$LINK_ID"; then
		pass http-tokens
	fi
fi

# ---- metrics ----
if expect metrics 403 "$ENROL" GET /metrics && expect metrics 200 "$ADMIN" GET /metrics &&
	grep -q '^weft_api_requests_total{route="/v1/peers",status="201"} [1-9]' "$TMP/body" &&
	grep -q '^weft_peers{state="enabled"} ' "$TMP/body" && grep -q '^weft_api_token_uses_total{token=' "$TMP/body"; then
	pass metrics
else
	fail metrics "$(head -c 600 "$TMP/body")"
fi

# ---- tunnel: a config from the API on wireguard-go ----
if expect tunnel 201 "$ADMIN" POST /v1/peers '{"name":"phone","allowed_ips":["10.75.0.0/16"]}'; then
	config "$TMP/phone.conf"
	addr=$(json 'd["addresses"][0]')
	start_daemon "$P" "$PIF" wireguard-go || fail tunnel "wireguard-go did not start"
	wg-quick strip "$TMP/phone.conf" >"$TMP/phone.stripped" &&
		nsrun "$P" wg setconf "$PIF" "$TMP/phone.stripped" &&
		ip -n "$P" addr add "$addr" dev "$PIF" && ip -n "$P" link set "$PIF" up &&
		ip -n "$P" route add 10.75.0.0/16 dev "$PIF" || fail tunnel "cannot configure the phone"
	if wait_until 10 ping_ok "$P" 10.75.0.1 && ping_ok "$S" "${addr%/*}"; then
		pass tunnel
	else
		fail tunnel "no ping through the tunnel"
	fi
fi

# ---- expiry: disabled by the running server, removed after --grace 3 ----
K3=$(wg genkey | wg pubkey)
if expect expiry 201 "$ADMIN" POST /v1/peers "{\"public_key\":\"$K3\",\"expires\":\"2s\"}"; then
	if wait_until 25 bash -c "! grep -q '$K3' '$WEFT_CONFIG_DIR/$IF.conf' && grep -q '$K3' '$WEFT_CONFIG_DIR/$IF.weft'" &&
		! nsrun "$S" wg show "$IF" peers | grep -q "$K3"; then
		if wait_until 25 bash -c "! grep -q '$K3' '$WEFT_CONFIG_DIR/$IF.weft'"; then
			pass expiry
		else
			fail expiry "disabled but not removed after the grace period"
		fi
	else
		fail expiry "not disabled within 25 s"
	fi
fi

# ---- group: refusals among concurrent changes spoil none of the others ----
taken=$(req "$ADMIN" POST /v1/peers '{"name":"taken"}')
before=$(grep -c '^\[Peer\]' "$WEFT_CONFIG_DIR/$IF.conf")
# (ip netns exec becomes python3, so $! is the client itself)
ip netns exec "$S" python3 "$CLIENT" burst "$U" "$ADMIN" 600 12 "$TMP/group.out" taken &
group_pid=$!
# token-lock: a token change takes the directory lock, which an open group
# of changes holds: it must share it, not wait for it (the server would wait
# on itself). Tokens are made one after another for as long as the burst
# runs, so that groups are open while they are; only tokens answered while
# the burst was still running count as overlapping it.
wait_until 20 bash -c "[[ -s '$TMP/group.out' ]]"
tok_tries=0 tok_ok=0 tok_during=0
while kill -0 $group_pid 2>/dev/null && ((tok_tries < 100)); do
	tok_tries=$((tok_tries + 1))
	code=$(nsrun "$S" curl -s --max-time 10 -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $ADMIN" \
		-X POST --data-binary '{"peers":1}' "$U/v1/tokens")
	[[ $code == 201 ]] || break # a server waiting on itself answers nothing more
	tok_ok=$((tok_ok + 1))
	kill -0 $group_pid 2>/dev/null && tok_during=$((tok_during + 1))
done
if ((tok_ok != tok_tries)); then
	# a server that waits on itself serves nobody: a new one for the rest
	kill $group_pid 2>/dev/null
	{ kill -KILL $API_PID; wait $API_PID; } 2>/dev/null
	start_api
fi
wait $group_pid
ok=$(grep -c '^201 ' "$TMP/group.out")
dup=$(grep -c '^409 ' "$TMP/group.out")
now=$(grep -c '^\[Peer\]' "$WEFT_CONFIG_DIR/$IF.conf")
if [[ $taken == 201 ]] && ((ok == 400 && dup == 200 && now == before + 400)); then
	pass group
else
	fail group "name taken: $taken; $ok answered 201, $dup 409, $((now - before)) new peers in $IF.conf"
fi
if ((tok_ok != tok_tries)); then
	fail token-lock "token request $tok_tries during the burst got no 201 within 10 s ($tok_ok did before it)"
elif ((tok_during < 3)); then
	skip token-lock "the burst ended before 3 token requests overlapped it ($tok_during did)"
else
	pass token-lock
fi

# ---- concurrent: 100 at once, distinct addresses, all back after a restart ----
before=$(grep -c '^\[Peer\]' "$WEFT_CONFIG_DIR/$IF.conf")
nsrun "$S" python3 "$CLIENT" burst "$U" "$ADMIN" 100 25 "$TMP/burst.out"
ok=$(grep -c '^201 ' "$TMP/burst.out")
distinct=$(awk '$1 == 201 { print $3 }' "$TMP/burst.out" | sort -u | wc -l)
kill -TERM $API_PID; wait $API_PID 2>/dev/null
start_api || fail concurrent "the server did not come back"
nsrun "$S" python3 "$CLIENT" peers "$U" "$ADMIN" >"$TMP/after.txt"
awk '{print $1}' "$TMP/after.txt" | sort >"$TMP/before-kill.txt"
back=$(awk '$1 == 201 { print $2, $3 }' "$TMP/burst.out" | sort | comm -23 - <(sort "$TMP/after.txt") | wc -l)
if ((ok == 100 && distinct == 100 && back == 0)) &&
	(( $(grep -c '^\[Peer\]' "$WEFT_CONFIG_DIR/$IF.conf") == before + 100 )) &&
	wg-quick strip "$WEFT_CONFIG_DIR/$IF.conf" >/dev/null 2>&1; then
	pass concurrent
else
	fail concurrent "$ok answered 201, $distinct distinct addresses, $back missing after the restart"
fi

# ---- kill -9 during a burst ----
nsrun "$S" python3 "$CLIENT" burst "$U" "$ADMIN" 5000 8 "$TMP/kill.out" &
burst_pid=$!
wait_until 20 bash -c "(( \$(grep -c '^201 ' '$TMP/kill.out' 2>/dev/null || echo 0) >= 40 ))"
{ kill -KILL $API_PID; wait $API_PID; } 2>/dev/null
wait $burst_pid
"$WEFT" peer list "$IF" --json >"$TMP/list.json" 2>"$TMP/list.err"
if python3 - "$TMP/kill.out" "$TMP/list.json" "$WEFT_CONFIG_DIR/$IF.conf" <<'PY'; then
import json, sys
answered = {l.split()[1] for l in open(sys.argv[1]) if l.startswith("201 ")}
listed = {p["public_key"] for p in json.load(open(sys.argv[2]))["peers"]}
conf = {l.split("=", 1)[1].strip() for l in open(sys.argv[3]) if l.startswith("PublicKey")}
missing = answered - listed
if missing or not answered or len(answered) >= 5000:
    sys.exit("%d answered 201, %d of them missing" % (len(answered), len(missing)))
PY
	if wg-quick strip "$WEFT_CONFIG_DIR/$IF.conf" >/dev/null 2>&1; then
		pass kill9
	else
		fail kill9 "wg-quick cannot read $IF.conf"
	fi
else
	fail kill9 "the files lost peers: $(cat "$TMP/list.err")"
fi
start_api || fail kill9-restart "the server does not start again"
# the peers the files hold that were neither there before the burst nor
# answered 201: at most the group being saved (group commit), and each of
# the 8 clients has one request in flight at most
nsrun "$S" python3 "$CLIENT" peers "$U" "$ADMIN" | awk '{print $1}' | sort >"$TMP/all.txt"
extra=$( (cat "$TMP/before-kill.txt"; awk '$1 == 201 {print $2}' "$TMP/kill.out") | sort -u | comm -13 - "$TMP/all.txt" | wc -l)
if ((extra <= 8)); then pass kill9-exact; else fail kill9-exact "$extra peers in the files that got no 201"; fi

# ---- tls, reloaded on SIGHUP ----
{ kill -TERM $API_PID; wait $API_PID; } 2>/dev/null
if command -v openssl >/dev/null; then
	mkcert() { openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$TMP/key.pem" \
		-out "$TMP/$1" -days 1 -subj /CN=localhost >/dev/null 2>&1; }
	tls_ok() { nsrun "$S" curl -sf -o /dev/null --cacert "$TMP/$1" --resolve localhost:$PORT:127.0.0.1 "https://localhost:$PORT/healthz"; }
	mkcert cert1.pem && cp "$TMP/cert1.pem" "$TMP/cert.pem"
	ip netns exec "$S" "$WEFT" api "$IF" --listen 127.0.0.1:$PORT --tls-cert "$TMP/cert.pem" --tls-key "$TMP/key.pem" \
		2>>"$TMP/api.log" &
	API_PID=$!
	if wait_until 5 tls_ok cert1.pem && ! nsrun "$S" curl -sf -o /dev/null "$U/healthz"; then
		mkcert cert2.pem && cp "$TMP/cert2.pem" "$TMP/cert.pem" && kill -HUP $API_PID
		if wait_until 5 tls_ok cert2.pem && ! tls_ok cert1.pem; then pass tls; else fail tls "SIGHUP did not load the new certificate"; fi
	else
		fail tls "no HTTPS with the certificate: $(tail -n 3 "$TMP/api.log")"
	fi
	{ kill -TERM $API_PID; wait $API_PID; } 2>/dev/null
else
	skip tls "openssl is not installed"
fi

# ---- --up: up from the config before serving, down after SIGTERM ----
UIF=b$TAG
(umask 077; printf '[Interface]\nPrivateKey = %s\nListenPort = 51876\nAddress = 10.76.0.1/24\n' "$(wg genkey)" \
	>"$WEFT_CONFIG_DIR/$UIF.conf")
ip netns exec "$S" "$WEFT" api "$UIF" --up --listen 127.0.0.1:9076 2>>"$TMP/up.log" &
UP_PID=$!
on_exit 'kill -KILL $UP_PID'
if wait_until 15 nsrun "$S" curl -sf -o /dev/null http://127.0.0.1:9076/healthz &&
	nsrun "$S" ip -br addr show "$UIF" | grep -q '10.76.0.1/24'; then
	kill -TERM $UP_PID
	if wait_until 10 bash -c "! kill -0 $UP_PID 2>/dev/null" && ! nsrun "$S" ip link show "$UIF" >/dev/null 2>&1; then
		pass up
	else
		fail up "the interface is still there after SIGTERM"
	fi
else
	fail up "not serving with the interface up: $(tail -n 5 "$TMP/up.log")"
fi

# ---- rate ----
ip netns exec "$S" "$WEFT" api "$IF" --listen 127.0.0.1:$PORT --rate 2 2>>"$TMP/api.log" &
API_PID=$!
wait_until 5 nsrun "$S" curl -s -o /dev/null "$U/healthz"
codes=$(for i in $(seq 12); do nsrun "$S" curl -s -o /dev/null -w '%{http_code}\n' "$U/healthz"; done | sort | uniq -c)
if grep -q ' 429$' <<<"$codes" && grep -q ' 200$' <<<"$codes"; then pass rate; else fail rate "$codes"; fi
kill -TERM $API_PID; wait $API_PID 2>/dev/null

# ---- max-peers: a full interface answers 429 and makes nothing ----
have=$(($(grep -c '^\[Peer\]' "$WEFT_CONFIG_DIR/$IF.conf") + $(grep -c '^Enabled = false' "$WEFT_CONFIG_DIR/$IF.weft")))
if start_api --max-peers $((have + 1)); then
	K5=$(wg genkey | wg pubkey) K6=$(wg genkey | wg pubkey)
	if expect max-peers 201 "$ADMIN" POST /v1/peers "{\"public_key\":\"$K5\"}" &&
		expect max-peers 429 "$ADMIN" POST /v1/peers "{\"public_key\":\"$K6\"}"; then
		if grep -q "$K5" "$WEFT_CONFIG_DIR/$IF.conf" && ! grep -q "$K6" "$WEFT_CONFIG_DIR/$IF.conf" \
			"$WEFT_CONFIG_DIR/$IF.weft" && ! nsrun "$S" wg show "$IF" peers | grep -q "$K6"; then
			pass max-peers
		else
			fail max-peers "the refused peer was made, or the accepted one was not"
		fi
	fi
	kill -TERM $API_PID; wait $API_PID 2>/dev/null
else
	fail max-peers "the server did not start: $(tail -n 3 "$TMP/api.log")"
fi

# ---- slow: headers a byte a second are cut off after the 10 s timeout
# (swept every second), while other clients are served ----
if start_api; then
	ip netns exec "$S" python3 "$CLIENT" trickle "$U" 20 >"$TMP/trickle.out" &
	trickle_pid=$!
	ip netns exec "$S" python3 "$CLIENT" trickle "$U" 20 body >"$TMP/trickle-body.out" &
	trickle_body_pid=$!
	served=0
	for _ in 1 2 3 4 5 6; do
		sleep 1
		[[ $(nsrun "$S" curl -s --max-time 1 -o /dev/null -w '%{http_code}' "$U/healthz") == 200 ]] &&
			served=$((served + 1))
	done
	wait $trickle_pid $trickle_body_pid
	cut=$(cat "$TMP/trickle.out") cut_body=$(cat "$TMP/trickle-body.out")
	in_time() { [[ $1 =~ ^[0-9.]+$ ]] && python3 -c "import sys; sys.exit(not 9.5 <= float('$1') <= 12.5)"; }
	if in_time "$cut" && in_time "$cut_body" && ((served == 6)); then
		pass slow
	else
		fail slow "slow headers: '$cut', slow body: '$cut_body' (closed after seconds, want 10-12); $served of 6 other requests served"
	fi
	kill -TERM $API_PID; wait $API_PID 2>/dev/null
else
	fail slow "the server did not start: $(tail -n 3 "$TMP/api.log")"
fi

exit $FAILED
