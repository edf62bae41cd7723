#!/bin/bash
# tests/net/74-peer-lifecycle.sh: peers with a lifecycle on a running
# weftd - preshared keys by default, names, remembered options, set,
# rename, disable/enable, expiry, interface set, and export/import onto a
# fresh config directory.
#
#   netns la<pid>: weftd l<pid> from `weft interface add`, 10.74.0.1/24,
#                  fd74::1/64 (the "old machine")
#   netns lb<pid>: weftd m<pid>, from `weft import --name m<pid>` of la's
#                  export into another config directory (the "new machine";
#                  UAPI sockets are not per namespace, so the name differs)
#   no traffic: the devices' state (wg show) is what is checked
#
# Checks:
#   list-empty      `peer list` prints its header with no peers
#   psk-default     a new peer gets a preshared key, on the device and in
#                   its config; --no-psk gives none
#   names           letters, digits and -_.@ only, no leading -
#   bad-keys        the interface's own public key and small-order points
#                   are refused as a peer's key
#   config-same     `peer config` prints exactly what `peer add` printed
#   qr-label        --qr prints "name: addresses" above the code
#   set             peer set changes what peer config prints; default undoes
#   rename          the new name finds the peer, the old one does not
#   disable         off the device and out of IFACE.conf, address reserved
#   enable          back with the same addresses and preshared key
#   expire          peer expire disables a peer past its time; enable then
#                   refuses until set --expires gives it a new one
#   expire-far      a duration past 9999-12-31 is refused, the file stays
#                   readable
#   interface-set   listen port on the running device and in the file,
#                   public address in the configs printed
#   export-mode     the export is 0600 and holds the keys
#   import-*        same wg show dump and peer list on the new machine;
#                   a document with two peers of one name is refused; a
#                   failed import removes the key files it wrote, only those
. "$(dirname "$0")/lib.sh"
TEST_NAME=peer-lifecycle

require_weft wg python3
[[ -x $WEFTD ]] || { fail build "$WEFTD is missing (run make)"; exit 1; }
export WEFT_DAEMON=$WEFTD
TMP=$WEFT_TMP
export WEFT_CONFIG_DIR=$TMP/etc
mkdir -m 700 "$WEFT_CONFIG_DIR"

IF=l$TAG IF2=m$TAG A=la$TAG B=lb$TAG
CONF=$WEFT_CONFIG_DIR/$IF.conf
make_ns "$A" && make_ns "$B" || { fail netns "cannot create namespaces"; exit 1; }
on_exit "rm -f /var/run/wireguard/$IF.sock /var/run/wireguard/$IF2.sock"
weft_a() { nsrun "$A" "$WEFT" "$@"; }
key_of() { # NAME: the public key `peer list --json` gives the peer
	weft_a peer list "$IF" --json | python3 -c 'import json,sys; print([p["public_key"] for p in json.load(sys.stdin)["peers"] if p["name"] == sys.argv[1]][0])' "$1"
}
psk_on_device() { nsrun "$A" wg show "$IF" preshared-keys | awk -v k="$1" '$1 == k { print $2 }'; }
ips_on_device() { nsrun "$A" wg show "$IF" allowed-ips | awk -v k="$1" '$1 == k { $1 = ""; print }'; }

if ! weft_a interface add "$IF" --listen-port 51874 --address 10.74.0.1/24,fd74::1/64 \
	--public-address 192.0.2.74 --peer-dns 10.74.0.1 >/dev/null 2>"$TMP/err"; then
	fail interface-add "$(cat "$TMP/err")"
	exit 1
fi

# ---- an empty list still says what its columns are ----
weft_a peer list "$IF" >"$TMP/list0"
if [[ $(wc -l <"$TMP/list0") == 1 ]] && grep -q '^NAME  *PUBLIC KEY  *ADDRESSES  *STATUS' "$TMP/list0"; then
	pass list-empty
else
	fail list-empty "$(cat "$TMP/list0")"
fi

# ---- preshared keys ----
weft_a peer add "$IF" --name alice >"$TMP/alice.conf" || fail psk-default "peer add failed"
weft_a peer add "$IF" --name bob --no-psk >"$TMP/bob.conf" || fail psk-default "peer add --no-psk failed"
ALICE=$(key_of alice) BOB=$(key_of bob)
alice_psk=$(psk_on_device "$ALICE")
if [[ $alice_psk =~ ^[A-Za-z0-9+/]{43}=$ ]] && grep -qxF "PresharedKey = $alice_psk" "$TMP/alice.conf" &&
	grep -qxF "PresharedKey = $alice_psk" "$CONF" && [[ $(psk_on_device "$BOB") == "(none)" ]] &&
	! grep -q PresharedKey "$TMP/bob.conf"; then
	pass psk-default
else
	fail psk-default "alice: '$alice_psk', bob: '$(psk_on_device "$BOB")'"
fi

# ---- names ----
ok=1
# a leading - would read as an option to config, set, rename, disable, enable
for bad in 'a b' 'a/b' 'x#y' 'ä' "$(printf 'n%.0s' {1..65})" '-x' '--x'; do
	weft_a peer add "$IF" --name "$bad" --public-key "$(wg genkey | wg pubkey)" >/dev/null 2>&1 && ok=0
done
weft_a peer add "$IF" --name 'a.b-c_d@e' --public-key "$(wg genkey | wg pubkey)" >/dev/null 2>&1 || ok=0
weft_a peer rename "$IF" a.b-c_d@e 'no spaces' 2>/dev/null && ok=0
((ok)) && pass names || fail names "a bad name was taken or a good one refused"

# ---- keys no handshake can use: the device ignores or never shakes hands ----
own=$(nsrun "$A" wg show "$IF" public-key)
ok=1
for bad in "$own" AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= 4Ot6fDtBuK4WVuP68Z/EatoJjeucMrH9hmIFFl9JuAA=; do
	weft_a peer add "$IF" --public-key "$bad" >/dev/null 2>&1 && ok=0
	grep -qF "$bad" "$CONF" && ok=0
done
((ok)) && [[ -n $own ]] && pass bad-keys || fail bad-keys "the interface's own key or a small-order point was taken as a peer"

# ---- every add option remembered ----
weft_a peer add "$IF" --name carol --dns 9.9.9.9,corp.example --keepalive 0 --allowed-ips 10.0.0.0/8 \
	--endpoint-type ipv4 >"$TMP/carol.add"
weft_a peer config "$IF" carol >"$TMP/carol.config"
if [[ -s $TMP/carol.add ]] && cmp -s "$TMP/carol.add" "$TMP/carol.config" && grep -q '^DNS = 9.9.9.9, corp.example$' "$TMP/carol.config" &&
	! grep -q PersistentKeepalive "$TMP/carol.config" && grep -q '^AllowedIPs = 10.0.0.0/8$' "$TMP/carol.config"; then
	pass config-same
else
	fail config-same "$(diff "$TMP/carol.add" "$TMP/carol.config")"
fi
carol_ips=$(sed -n 's/^Address = //p' "$TMP/carol.config")
first=$(weft_a peer config "$IF" carol --qr | head -n 1)
[[ $first == "carol: $carol_ips" ]] && pass qr-label || fail qr-label "first line: '$first', addresses '$carol_ips'"

# ---- set ----
weft_a peer set "$IF" carol --dns 1.0.0.1 --keepalive 15
weft_a peer config "$IF" carol >"$TMP/carol.set"
weft_a peer set "$IF" carol --dns default --keepalive default --allowed-ips default
weft_a peer config "$IF" carol >"$TMP/carol.default"
if grep -q '^DNS = 1.0.0.1$' "$TMP/carol.set" && grep -q '^PersistentKeepalive = 15$' "$TMP/carol.set" &&
	grep -q '^AllowedIPs = 10.0.0.0/8$' "$TMP/carol.set" && grep -q '^DNS = 10.74.0.1$' "$TMP/carol.default" &&
	grep -q '^PersistentKeepalive = 25$' "$TMP/carol.default" && grep -q '^AllowedIPs = 0.0.0.0/0, ::/0$' "$TMP/carol.default"; then
	pass set
else
	fail set "$(cat "$TMP/carol.set" "$TMP/carol.default")"
fi
weft_a peer set "$IF" carol 2>/dev/null && fail set "peer set without a change succeeded"

# ---- rename ----
if weft_a peer rename "$IF" carol dave && weft_a peer config "$IF" dave >/dev/null &&
	! weft_a peer config "$IF" carol >/dev/null 2>&1 && ! weft_a peer rename "$IF" dave alice 2>/dev/null; then
	pass rename
else
	fail rename "dave/carol"
fi

# ---- disable / enable ----
alice_ips=$(ips_on_device "$ALICE")
if weft_a peer disable "$IF" alice && ! nsrun "$A" wg show "$IF" peers | grep -qxF "$ALICE" &&
	! grep -qF "$ALICE" "$CONF" && grep -q '^Enabled = false$' "$WEFT_CONFIG_DIR/$IF.weft" &&
	weft_a peer list "$IF" | grep -q '^alice .* disabled'; then
	pass disable
else
	fail disable "$(nsrun "$A" wg show "$IF"; weft_a peer list "$IF")"
fi
weft_a peer add "$IF" --name erin >"$TMP/erin.conf"
erin_ip=$(sed -n 's/^Address = \([0-9.]*\)\/32.*/\1/p' "$TMP/erin.conf")
[[ -n $erin_ip && $alice_ips != *"$erin_ip/32"* ]] && pass disable-reserved || fail disable-reserved "erin got $erin_ip, alice had $alice_ips"
if weft_a peer enable "$IF" alice && [[ $(ips_on_device "$ALICE") == "$alice_ips" ]] &&
	[[ $(psk_on_device "$ALICE") == "$alice_psk" ]] && grep -qF "$ALICE" "$CONF" &&
	weft_a peer config "$IF" alice | cmp -s - "$TMP/alice.conf"; then
	pass enable
else
	fail enable "ips '$(ips_on_device "$ALICE")' vs '$alice_ips'"
fi

# ---- expiry ----
weft_a peer add "$IF" --name frank --expires 1s >/dev/null
FRANK=$(key_of frank)
sleep 2
weft_a peer expire "$IF" >"$TMP/expire.out"
if grep -q "disabled frank" "$TMP/expire.out" && ! grep -q alice "$TMP/expire.out" &&
	! nsrun "$A" wg show "$IF" peers | grep -qxF "$FRANK" && ! weft_a peer enable "$IF" frank 2>/dev/null &&
	weft_a peer set "$IF" frank --expires never && weft_a peer enable "$IF" frank &&
	nsrun "$A" wg show "$IF" peers | grep -qxF "$FRANK"; then
	pass expire
else
	fail expire "$(cat "$TMP/expire.out")"
fi
weft_a peer add "$IF" --name gone --expires 2020-01-01 >/dev/null 2>&1 && fail expire "a date in the past was taken"
# a duration past the last date IFACE.weft can hold (9999-12-31) is refused,
# not written as a line that breaks every later command
if ! weft_a peer set "$IF" alice --expires 4294967295w 2>/dev/null && weft_a peer list "$IF" >/dev/null 2>"$TMP/err" &&
	weft_a peer set "$IF" alice --expires 52w && weft_a peer set "$IF" alice --expires never; then
	pass expire-far
else
	fail expire-far "taken, or the file broke: $(weft_a peer list "$IF" 2>&1 >/dev/null | head -1)"
fi

# ---- interface set ----
if weft_a interface set "$IF" --listen-port 51875 --public-address 192.0.2.99 &&
	[[ $(nsrun "$A" wg show "$IF" listen-port) == 51875 ]] && grep -q '^ListenPort = 51875$' "$CONF" &&
	weft_a peer config "$IF" alice | grep -q '^Endpoint = 192.0.2.99:51875$'; then
	pass interface-set
else
	fail interface-set "$(nsrun "$A" wg show "$IF" listen-port; grep ListenPort "$CONF")"
fi

# ---- export / import ----
weft_a peer disable "$IF" bob
weft_a export "$IF" "$TMP/export.json"
if [[ $(stat -c %a "$TMP/export.json") == 600 ]] && grep -q '"private_key"' "$TMP/export.json" &&
	grep -qF "$alice_psk" "$TMP/export.json"; then
	pass export-mode
else
	fail export-mode "$(ls -l "$TMP/export.json")"
fi
weft_a export "$IF" "$TMP/export.json" 2>/dev/null && fail export-mode "an existing file was overwritten"
ln -s "$TMP/elsewhere" "$TMP/link.json"
weft_a export "$IF" "$TMP/link.json" 2>/dev/null || [[ -e $TMP/elsewhere ]] && fail export-mode "followed a symlink"

NEWDIR=$TMP/etc2
mkdir -m 700 "$NEWDIR"
if WEFT_CONFIG_DIR=$NEWDIR "$WEFT" import "$TMP/export.json" --name "$IF2" >/dev/null 2>"$TMP/err" &&
	nsrun "$B" env WEFT_CONFIG_DIR="$NEWDIR" "$WEFT" interface add "$IF2" >/dev/null 2>>"$TMP/err"; then
	dump() { nsrun "$1" wg show "$2" dump | cut -f1-4,8 | sort; }
	if [[ -n $(dump "$A" "$IF") && $(dump "$A" "$IF") == "$(dump "$B" "$IF2")" ]]; then
		pass import-showconf
	else
		fail import-showconf "$(diff <(dump "$A" "$IF") <(dump "$B" "$IF2"))"
	fi
	norm='import json,sys
d = json.load(sys.stdin)
for p in sorted(d["peers"], key=lambda p: p["public_key"]):
    print(p["public_key"], p["name"], p["allowed_ips"], p["enabled"], p["created"], p["expires"], p["has_private_key"])'
	old=$(weft_a peer list "$IF" --json | python3 -c "$norm")
	new=$(nsrun "$B" env WEFT_CONFIG_DIR="$NEWDIR" "$WEFT" peer list "$IF2" --json | python3 -c "$norm")
	if [[ -n $old && $old == "$new" ]] && grep -q "False" <<<"$new"; then
		pass import-peer-list
	else
		fail import-peer-list "$(diff <(echo "$old") <(echo "$new"))"
	fi
	if cmp -s <(weft_a peer config "$IF" alice) <(WEFT_CONFIG_DIR=$NEWDIR "$WEFT" peer config "$IF2" alice); then
		pass import-peer-config
	else
		fail import-peer-config "alice's config differs"
	fi
else
	fail import "$(cat "$TMP/err")"
fi
WEFT_CONFIG_DIR=$NEWDIR "$WEFT" import "$TMP/export.json" --name "$IF2" >/dev/null 2>&1 &&
	fail import "an existing interface was replaced"
# two peers of one name: a name must find one peer, so nothing is written
python3 -c 'import json,sys
d = json.load(open(sys.argv[1]))
named = [p for p in d["peers"] if p.get("name")]
named[1]["name"] = named[0]["name"]
json.dump(d, open(sys.argv[2], "w"))' "$TMP/export.json" "$TMP/dup.json"
if ! WEFT_CONFIG_DIR=$NEWDIR "$WEFT" import "$TMP/dup.json" --name "d$TAG" >/dev/null 2>"$TMP/err" &&
	grep -q 'two peers are named' "$TMP/err" && ! ls "$NEWDIR/d$TAG".* >/dev/null 2>&1; then
	pass import-dup-names
else
	fail import-dup-names "$(cat "$TMP/err"; ls "$NEWDIR")"
fi
# an import that fails after writing peer keys removes its own key files,
# not one that was there before it
python3 -c 'import json,sys
d = json.load(open(sys.argv[1]))
keyed = [p for p in d["peers"] if p.get("private_key")]
assert len(keyed) >= 3  # the second is written, then removed
keyed[-1]["private_key"] = keyed[0]["private_key"]   # not its key: the import stops there
json.dump(d, open(sys.argv[2], "w"))
print(*[p["public_key"].replace("/", "_").replace("+", "-") for p in keyed[:2]])  # file names: base64url
' "$TMP/export.json" "$TMP/bad.json" >"$TMP/keys"
read -r first second <"$TMP/keys"
mkdir -m 700 "$NEWDIR/u$TAG.peers"
echo stale >"$NEWDIR/u$TAG.peers/$first.key"
if ! WEFT_CONFIG_DIR=$NEWDIR "$WEFT" import "$TMP/bad.json" --name "u$TAG" >/dev/null 2>"$TMP/err" &&
	[[ -e $NEWDIR/u$TAG.peers/$first.key && ! -e $NEWDIR/u$TAG.peers/$second.key && ! -e $NEWDIR/u$TAG.conf ]]; then
	pass import-undo
else
	fail import-undo "$(cat "$TMP/err"; ls "$NEWDIR/u$TAG.peers")"
fi
exit $FAILED
