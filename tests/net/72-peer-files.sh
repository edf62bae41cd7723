#!/bin/bash
# tests/net/72-peer-files.sh: a user's wg-quick file stays a wg-quick file.
# weft keeps its own settings and peer records beside it (IFACE.weft), and
# every rewrite changes only what the command changed: golden files under
# tests/golden/peer-files/ are the expected text after `peer add`,
# `peer remove` and `save`, and wg-quick itself (strip, and up with weftd as
# its userspace implementation) accepts every file weft wrote.
#
#   netns fa<pid>: `weft up` of the golden file (weftd), then `weft save`
#   netns fb<pid>: `wg-quick up` of the same file after weft's edits
#                  (WG_QUICK_USERSPACE_IMPLEMENTATION=weftd)
#   no traffic: the devices only need to exist
#
# Checks:
#   golden-add      peer add appends one section, nothing else changes
#   golden-remove   peer remove drops the section and the comment above it
#   golden-save     save edits changed lines in place, keeps spelling
#   strip-*         wg-quick strip accepts each file
#   wg-quick-up     wg-quick brings the final file up, with its peers
#   no-weft-section no [Weft] in any IFACE.conf weft wrote
#   migrate         an older file with [Weft] and PeerName: both move to
#                   IFACE.weft on the next write, IFACE.conf loses exactly
#                   those lines, the name still finds the peer
. "$(dirname "$0")/lib.sh"
TEST_NAME=peer-files

require_weft wg wg-quick
[[ -x $WEFTD ]] || { fail build "$WEFTD is missing (run make)"; exit 1; }
export WEFT_DAEMON=$WEFTD
GOLDEN=$ROOT/tests/golden/peer-files
TMP=$WEFT_TMP
export WEFT_CONFIG_DIR=$TMP/etc
mkdir -m 700 "$WEFT_CONFIG_DIR"

IF=pf$TAG A=fa$TAG B=fb$TAG
CONF=$WEFT_CONFIG_DIR/$IF.conf
make_ns "$A" && make_ns "$B" || { fail netns "cannot create namespaces"; exit 1; }
on_exit "rm -f /var/run/wireguard/$IF.sock"

SERVER_PRIV=$(wg genkey)
LAPTOP_PUB=$(wg genkey | wg pubkey)
PRINTER_PUB=$(wg genkey | wg pubkey)
PHONE_PUB=$(wg genkey | wg pubkey)

# golden NAME: the expected file with this run's keys
golden() {
	sed -e "s|@SERVER_PRIV@|$SERVER_PRIV|" -e "s|@LAPTOP_PUB@|$LAPTOP_PUB|" \
		-e "s|@PRINTER_PUB@|$PRINTER_PUB|" -e "s|@PHONE_PUB@|$PHONE_PUB|" "$GOLDEN/$1.conf.in"
}

# same_as NAME CHECK: the config equals the golden file NAME
same_as() {
	if diff -u <(golden "$1") "$CONF" >"$TMP/diff"; then
		pass "$2"
	else
		fail "$2" "the file differs from $1.conf.in:"
		cat "$TMP/diff"
	fi
}

strip_ok() {
	if wg-quick strip "$CONF" >"$TMP/strip" 2>&1 && grep -q '^\[Peer\]' "$TMP/strip"; then
		pass "strip-$1"
	else
		fail "strip-$1" "$(cat "$TMP/strip")"
	fi
}

(umask 077; golden server >"$CONF")
strip_ok input

# ---- peer add: one section appended ----
if "$WEFT" peer add "$IF" --public-key "$PHONE_PUB" --no-psk --name phone \
	--public-address 192.0.2.1 >/dev/null 2>"$TMP/err"; then
	fail golden-add "peer add took an option it does not have"
fi
"$WEFT" interface set "$IF" --public-address 192.0.2.1 2>"$TMP/err" || fail interface-set "$(cat "$TMP/err")"
if "$WEFT" peer add "$IF" --public-key "$PHONE_PUB" --no-psk --name phone >/dev/null 2>"$TMP/err"; then
	same_as after-add golden-add
else
	fail golden-add "peer add failed: $(cat "$TMP/err")"
fi
strip_ok add
if grep -q '^PublicIPv4 = 192.0.2.1$' "$WEFT_CONFIG_DIR/$IF.weft" && grep -q '^Name = phone$' "$WEFT_CONFIG_DIR/$IF.weft" &&
	[[ $(stat -c %a "$WEFT_CONFIG_DIR/$IF.weft") == 600 ]]; then
	pass weft-file
else
	fail weft-file "$(ls -l "$WEFT_CONFIG_DIR"; cat "$WEFT_CONFIG_DIR/$IF.weft")"
fi

# ---- peer remove: the section and the comment block above it ----
if "$WEFT" peer remove "$IF" "$LAPTOP_PUB" 2>"$TMP/err"; then
	same_as after-remove golden-remove
else
	fail golden-remove "peer remove failed: $(cat "$TMP/err")"
fi
strip_ok remove

# ---- save: the running state, written back line by line ----
if nsrun "$A" "$WEFT" up "$IF" >/dev/null 2>"$TMP/up.err"; then
	nsrun "$A" wg set "$IF" peer "$PHONE_PUB" endpoint 192.0.2.7:51820 persistent-keepalive 30 \
		peer "$PRINTER_PUB" allowed-ips 10.77.0.3/32,10.77.0.30/32
	if nsrun "$A" "$WEFT" save "$IF" 2>"$TMP/err"; then
		same_as after-save golden-save
	else
		fail golden-save "save failed: $(cat "$TMP/err")"
	fi
	nsrun "$A" "$WEFT" down "$IF" >/dev/null 2>&1
else
	fail golden-save "weft up failed: $(cat "$TMP/up.err")"
fi
strip_ok save

# ---- wg-quick itself brings the file up ----
if nsrun "$B" env WG_QUICK_USERSPACE_IMPLEMENTATION="$WEFTD" WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1 \
	wg-quick up "$CONF" >"$TMP/wq.out" 2>&1 &&
	[[ $(nsrun "$B" wg show "$IF" peers | sort) == "$(printf '%s\n' "$PHONE_PUB" "$PRINTER_PUB" | sort)" ]] &&
	[[ $(nsrun "$B" wg show "$IF" listen-port) == 51820 ]]; then
	pass wg-quick-up
else
	fail wg-quick-up "$(cat "$TMP/wq.out")"
fi
nsrun "$B" env WG_QUICK_USERSPACE_IMPLEMENTATION="$WEFTD" wg-quick down "$CONF" >/dev/null 2>&1

# ---- an older file: [Weft] and PeerName move out on the next write ----
LEG=pl$TAG
LCONF=$WEFT_CONFIG_DIR/$LEG.conf
sed -e "s|@SERVER_PRIV@|$SERVER_PRIV|" -e "s|@LAPTOP_PUB@|$LAPTOP_PUB|g" "$GOLDEN/legacy.conf.in" >"$LCONF"
chmod 600 "$LCONF"
if "$WEFT" peer add "$LEG" --public-key "$PHONE_PUB" --no-psk >"$TMP/leg.peer" 2>"$TMP/err" &&
	diff -u <(sed -e "s|@SERVER_PRIV@|$SERVER_PRIV|" -e "s|@LAPTOP_PUB@|$LAPTOP_PUB|" -e "s|@PHONE_PUB@|$PHONE_PUB|" \
		"$GOLDEN/legacy-migrated.conf.in") "$LCONF" >"$TMP/diff" &&
	grep -q '^PublicIPv4 = 192.0.2.1$' "$WEFT_CONFIG_DIR/$LEG.weft" && grep -q '^PeerDNS = 10.78.0.1$' "$WEFT_CONFIG_DIR/$LEG.weft" &&
	grep -q '^Name = laptop$' "$WEFT_CONFIG_DIR/$LEG.weft" && grep -q '^DNS = 10.78.0.1$' "$TMP/leg.peer" &&
	"$WEFT" peer list "$LEG" | grep -q "^laptop .*$LAPTOP_PUB"; then
	pass migrate
else
	fail migrate "$(cat "$TMP/err" "$TMP/diff")"
fi

if ! grep -l '^\[Weft\]' "$WEFT_CONFIG_DIR"/*.conf; then
	pass no-weft-section
else
	fail no-weft-section "a config file still has [Weft]"
fi
exit $FAILED
