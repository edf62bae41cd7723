#!/bin/bash
# tests/net/93-api-pages.sh: the pages of `weft api` in Debian's headless
# Chromium (tests/net/api_pages.py): the enrolment page makes the key pair in
# the browser and only its public key reaches the server; the admin page
# disables the peer and its tunnel stops.
#
#   netns as<pid> ("server")                       netns ap<pid> ("phone")
#   veth vs<pid> 192.168.93.1/24 -------------- veth vp<pid> 192.168.93.2/24
#   s<pid>: weftd (`weft interface add`),          p<pid>: wireguard-go, set up
#     10.93.0.1/24, :51893                            from the page's config
#   weft api s<pid> on 127.0.0.1:9093 (lo)
#   chromium + chromedriver on lo; tcpdump on lo keeps every HTTP byte
#
# Configs live in a temporary WEFT_CONFIG_DIR; nothing under /etc is touched.
# Checks:
#   enrol-page   the page, opened from "/#TOKEN", enrols and shows a config;
#                no console message (CSP violation, script error), no cookie
#   qr           its QR canvas decodes (zbarimg) to that config, and the
#                download button saves the same text
#   new-peer     the config's one private key (the server's placeholder
#                replaced) belongs to the server's new peer (on the running
#                device and in the interface's file)
#   no-private-key-sent   the private key (base64, URL-escaped, base64url, hex) is in no
#                byte of the captured HTTP traffic, which holds the public key
#   no-private-key-stored the same on disk: nowhere in the config directory
#   used-link    the one-time link a second time: the page shows the refusal
#   not-https    opened from a plain-HTTP, non-local address the page says it
#                needs HTTPS (no WebCrypto there) and no peer is added
#   tunnel       the page's config brings up a tunnel (wireguard-go, ping)
#   admin-page   the admin page signs in (sessionStorage, no cookie), draws
#                the peer's traffic chart, and disables the peer
#   admin-new-link the admin page makes an enrolment link (2 peers) that
#                `weft api token list` shows
#   disabled     the server says the peer is disabled and the ping fails
#   expiry-enable the admin page sets an expiry (the server has it), revokes
#                the link's token (gone from the list) and enables the peer
#                again: the tunnel answers again
#   remove       the admin page removes it (two clicks, a poll between them):
#                gone from the device and the file, the ping fails
# WEFT_PAGES_SCREENSHOTS=DIR copies the two screenshots there (for docs/).
. "$(dirname "$0")/lib.sh"
TEST_NAME=api-pages

require_weft wg wg-quick wireguard-go zbarimg tcpdump curl
[[ -x $WEFTD ]] || { fail build "$WEFTD is missing (run make)"; exit 1; }
for t in /usr/bin/chromium /usr/bin/chromedriver; do
	[[ -x $t ]] || { skip browser "$t is not installed (scripts/install-deps)"; exit 0; }
done
/usr/bin/python3 -c 'import selenium' 2>/dev/null ||
	{ skip browser "python3-selenium is not installed (scripts/install-deps)"; exit 0; }
export WEFT_DAEMON=$WEFTD

TMP=$WEFT_TMP
export WEFT_CONFIG_DIR=$TMP/etc
mkdir -m 700 "$WEFT_CONFIG_DIR" "$TMP/page" "$TMP/admin"
PORT=9093 BASE=http://127.0.0.1:9093

S=as$TAG P=ap$TAG SIF=s$TAG PIF=p$TAG
make_ns "$S" && make_ns "$P" || { fail netns "cannot create namespaces"; exit 1; }
link_ns "$S" "vs$TAG" 192.168.93.1/24 "$P" "vp$TAG" 192.168.93.2/24 || { fail netns "cannot link"; exit 1; }
on_exit "rm -f /var/run/wireguard/$SIF.sock /var/run/wireguard/$PIF.sock"

(umask 077; printf '[Interface]\nAddress = 10.93.0.1/24\n\n[Weft]\nPublicIPv4 = 192.168.93.1\n' \
	>"$WEFT_CONFIG_DIR/$SIF.conf")
nsrun "$S" "$WEFT" interface add "$SIF" --listen-port 51893 >"$TMP/add.out" 2>&1 ||
	{ fail setup "interface add: $(cat "$TMP/add.out")"; exit 1; }

# tokens: one enrolment (a one-time link) and one admin
ENROL=$("$WEFT" api token add "$SIF" --peers 1 --name page-test 2>"$TMP/tok.err") &&
	ADMIN=$("$WEFT" api token add "$SIF" --admin --name admin-test 2>>"$TMP/tok.err") ||
	{ fail setup "token add: $(cat "$TMP/tok.err")"; exit 1; }

# the capture starts before the server: every byte on lo is kept
nsrun "$S" tcpdump -i lo -U -s 0 -B 65536 -w "$TMP/http.pcap" "tcp port $PORT" 2>"$TMP/tcpdump.err" &
TCPDUMP=$!
on_exit "kill $TCPDUMP"
wait_until 10 grep -qs 'listening on' "$TMP/tcpdump.err" || { fail setup "tcpdump did not start"; exit 1; }

nsrun "$S" "$WEFT" api "$SIF" --listen "127.0.0.1:$PORT" --static "$ROOT/src/api/static" \
	>"$TMP/api.log" 2>&1 &
API=$!
on_exit "kill $API"
wait_until 10 nsrun "$S" curl -sf "$BASE/healthz" -o /dev/null ||
	{ fail setup "weft api did not answer: $(cat "$TMP/api.log")"; exit 1; }

# a server that cannot enrol yet answers 501 (a malformed key would be 400)
code=$(nsrun "$S" curl -s -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer $ADMIN" \
	-H 'Content-Type: application/json' -d '{"public_key":"not-a-key"}' "$BASE/v1/peers")
if [[ $code == 501 ]]; then
	skip enrol-page "this weft api does not enrol peers yet (POST /v1/peers: 501)"
	exit 0
fi

# ---- enrolment page ----
if nsrun "$S" env HOME="$TMP" TMPDIR="$TMP" /usr/bin/python3 "$ROOT/tests/net/api_pages.py" \
	enrol "$BASE" "$ENROL" alice-phone "$TMP/page" >"$TMP/page.out" 2>&1; then
	pass enrol-page
else
	fail enrol-page "$(grep -v '^ok:' "$TMP/page.out" | tail -n 5)"
	exit 1
fi
CONF=$TMP/page/config.conf
PRIV=$(sed -n 's/^PrivateKey = //p' "$CONF")
PUB=$(wg pubkey <<<"$PRIV" 2>/dev/null)
[[ -n $PUB ]] || { fail new-peer "no private key in the page's config: $(cat "$CONF")"; exit 1; }

# the QR holds the config the page shows, byte for byte but the text's last newline
zbarimg -q --raw "$TMP/page/qr.png" >"$TMP/qr.txt" 2>/dev/null
if [[ $(cat "$TMP/qr.txt") == "$(cat "$CONF")" ]] && grep -q "^PublicKey = " "$TMP/qr.txt" &&
	[[ $(cat "$TMP/page/download.conf") == "$(cat "$CONF")" ]]; then
	pass qr
else
	fail qr "the QR ($(wc -c <"$TMP/qr.txt") bytes) or download differs from the config"
fi

if nsrun "$S" wg show "$SIF" peers | grep -qxF "$PUB" && grep -qF "$PUB" "$WEFT_CONFIG_DIR/$SIF.conf" &&
	[[ $(grep -c '^PrivateKey = ' "$CONF") == 1 ]] && ! grep -qi '^#.*PrivateKey' "$CONF"; then
	pass new-peer
else
	fail new-peer "$PUB is not the server's peer"
fi

# what went over HTTP: the key pair's public half yes, its private half in no form
kill "$TCPDUMP" 2>/dev/null
wait "$TCPDUMP" 2>/dev/null
# each connection's bytes whole: a key split between two segments is found too
python3 "$(dirname "$0")/pcap_streams.py" "$TMP/http.pcap" >"$TMP/http.bytes" ||
	fail capture "cannot read the capture"
PRIV_URL=$(tr '+/' '-_' <<<"$PRIV" | tr -d '=')
PRIV_HEX=$(base64 -d <<<"$PRIV" | od -An -tx1 | tr -d ' \n')
PRIV_RAW=${PRIV%=}
PRIV_PCT=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$PRIV_RAW")
if ! grep -aqF "$PUB" "$TMP/http.bytes"; then
	fail no-private-key-sent "the capture does not hold the public key either: it proves nothing ($(grep -h dropped "$TMP/tcpdump.err"))"
elif grep -aqiF -e "$PRIV_RAW" -e "$PRIV_PCT" -e "$PRIV_URL" -e "$PRIV_HEX" "$TMP/http.pcap" "$TMP/http.bytes"; then
	fail no-private-key-sent "the private key went over HTTP"
else
	pass no-private-key-sent
fi
if ! grep -rqF "$PUB" "$WEFT_CONFIG_DIR"; then
	fail no-private-key-stored "the public key is not on disk either"
elif grep -rqiF -e "$PRIV_RAW" -e "$PRIV_PCT" -e "$PRIV_URL" -e "$PRIV_HEX" "$WEFT_CONFIG_DIR"; then
	fail no-private-key-stored "the private key is on the server's disk: $(grep -rliF "$PRIV_RAW" "$WEFT_CONFIG_DIR")"
else
	pass no-private-key-stored
fi

# the one-time link again: the page shows the server's refusal
if nsrun "$S" env HOME="$TMP" TMPDIR="$TMP" /usr/bin/python3 "$ROOT/tests/net/api_pages.py" \
	enrol-fails "$BASE" "$ENROL" bob-phone "$TMP/again" >"$TMP/again.out" 2>&1 &&
	grep -q '^status: Enrolment failed: ..' "$TMP/again.out"; then
	pass used-link
else
	fail used-link "$(tail -n 3 "$TMP/again.out")"
fi
# a page that is not HTTPS (nor localhost) has no WebCrypto: it says so and sends nothing
nsrun "$S" "$WEFT" api "$SIF" --listen "192.168.93.1:$((PORT + 1))" --static "$ROOT/src/api/static" \
	>"$TMP/api2.log" 2>&1 &
API2=$!
on_exit "kill $API2"
peers_before=$(nsrun "$S" wg show "$SIF" peers | wc -l)
if wait_until 10 nsrun "$S" curl -sf "http://192.168.93.1:$((PORT + 1))/healthz" -o /dev/null &&
	nsrun "$S" env HOME="$TMP" TMPDIR="$TMP" /usr/bin/python3 "$ROOT/tests/net/api_pages.py" \
		enrol-fails "http://192.168.93.1:$((PORT + 1))" "$ADMIN" carol-phone "$TMP/insecure" \
		>"$TMP/insecure.out" 2>&1 &&
	grep -q '^status: .*HTTPS' "$TMP/insecure.out" &&
	[[ $(nsrun "$S" wg show "$SIF" peers | wc -l) == "$peers_before" ]]; then
	pass not-https
else
	fail not-https "$(tail -n 3 "$TMP/insecure.out")"
fi
kill "$API2" 2>/dev/null
wait "$API2" 2>/dev/null

# ---- the page's config on a wireguard-go phone ----
ADDR=$(sed -n 's/^Address = \([0-9.]*\/32\).*/\1/p' "$CONF")
start_daemon "$P" "$PIF" wireguard-go || fail phone "wireguard-go did not start"
wg-quick strip "$CONF" >"$TMP/stripped" &&
	nsrun "$P" wg setconf "$PIF" "$TMP/stripped" &&
	ip -n "$P" addr add "$ADDR" dev "$PIF" &&
	ip -n "$P" link set "$PIF" up &&
	ip -n "$P" route add 10.93.0.0/24 dev "$PIF" || fail phone "cannot configure the phone with $(cat "$CONF")"
if wait_until 10 ping_ok "$P" 10.93.0.1; then
	pass tunnel
else
	fail tunnel "no ping through the tunnel to 10.93.0.1"
fi
# traffic for the admin page's chart while it polls
nsrun "$P" ping -q -i 0.2 -c 100 -W 1 10.93.0.1 >/dev/null 2>&1 &
PINGER=$!
on_exit "kill $PINGER"

# ---- admin page ----
if nsrun "$S" env HOME="$TMP" TMPDIR="$TMP" /usr/bin/python3 "$ROOT/tests/net/api_pages.py" \
	admin "$BASE" "$ADMIN" "$PUB" "$TMP/admin" >"$TMP/admin.out" 2>&1 &&
	(($(cat "$TMP/admin/admin-chart.txt") > 0)); then
	pass admin-page
else
	fail admin-page "$(grep -v '^ok:' "$TMP/admin.out" | tail -n 5) chart pixels: $(cat "$TMP/admin/admin-chart.txt" 2>/dev/null)"
fi
kill "$PINGER" 2>/dev/null
wait "$PINGER" 2>/dev/null
if grep -qxE "$BASE/#weft_[0-9a-f]{64}" "$TMP/admin/link.txt" 2>/dev/null &&
	"$WEFT" api token list "$SIF" 2>/dev/null | grep -qE ' 0/2 .*page-link$'; then
	pass admin-new-link
else
	fail admin-new-link "link $(cat "$TMP/admin/link.txt" 2>/dev/null); tokens: $("$WEFT" api token list "$SIF" 2>&1 | tr '\n' ';')"
fi

KEY_URL=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$PUB")
enabled=$(nsrun "$S" curl -s -H "Authorization: Bearer $ADMIN" "$BASE/v1/peers/$KEY_URL" |
	python3 -c 'import json, sys; print(json.load(sys.stdin).get("enabled"))' 2>/dev/null)
if [[ $enabled == False ]] && ping_fails "$P" 10.93.0.1; then
	pass disabled
else
	fail disabled "the server says enabled=$enabled, or the tunnel still answers"
fi

# expiry and enable again (the tunnel comes back), then remove
if nsrun "$S" env HOME="$TMP" TMPDIR="$TMP" TZ=UTC /usr/bin/python3 "$ROOT/tests/net/api_pages.py" \
	admin-manage "$BASE" "$ADMIN" "$PUB" "$TMP/admin" >"$TMP/manage.out" 2>&1 &&
	nsrun "$S" curl -s -H "Authorization: Bearer $ADMIN" "$BASE/v1/peers/$KEY_URL" |
	python3 -c 'import json, sys; p = json.load(sys.stdin); sys.exit(not (p["enabled"] and p["expires"].startswith("2030-01-02T03:04")))' &&
	! "$WEFT" api token list "$SIF" 2>/dev/null | grep -q 'page-link$' &&
	# the phone still holds a session the server dropped: it handshakes again
	# when its data goes unanswered (15 s, then every 5 s)
	wait_until 30 ping_ok "$P" 10.93.0.1; then
	pass expiry-enable
else
	fail expiry-enable "$(grep -v '^ok:' "$TMP/manage.out" | tail -n 3)"
fi
if nsrun "$S" env HOME="$TMP" TMPDIR="$TMP" /usr/bin/python3 "$ROOT/tests/net/api_pages.py" \
	admin-remove "$BASE" "$ADMIN" "$PUB" "$TMP/admin" >"$TMP/remove.out" 2>&1 &&
	! nsrun "$S" wg show "$SIF" peers | grep -qxF "$PUB" && ! grep -qF "$PUB" "$WEFT_CONFIG_DIR/$SIF.conf" &&
	ping_fails "$P" 10.93.0.1; then
	pass remove
else
	fail remove "$(grep -v '^ok:' "$TMP/remove.out" | tail -n 3)"
fi

if [[ -n ${WEFT_PAGES_SCREENSHOTS:-} ]]; then
	cp "$TMP/page/enrol.png" "$WEFT_PAGES_SCREENSHOTS/api-enrol.png"
	cp "$TMP/admin/admin.png" "$WEFT_PAGES_SCREENSHOTS/api-admin.png"
fi
exit $FAILED
