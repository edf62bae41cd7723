#!/bin/bash
# tests/shell/mesh-admin.sh: the admin's side of `weft mesh` against a config
# directory of its own: init makes a 0700 directory with a 0600 admin key and
# mesh.conf and refuses to make a network twice; invite prints a token that
# Python's `cryptography` (not weft) verifies as Ed25519 by the admin key,
# with the network id, expiry, uses, coord and bootstrap addresses asked for;
# bad --uses, --expires never and unknown networks are refused; revoke by id
# and by whole token marks the token revoked and writes one revocation.
cd "$(dirname "$0")/../.." || exit 1
ROOT=$PWD
WEFT=${WEFT:-$ROOT/build/weft}
[[ $WEFT == /* ]] || WEFT=$ROOT/$WEFT
if [[ ! -x $WEFT ]]; then
	echo "FAIL: mesh-admin/setup: $WEFT is not built"
	exit 1
fi
tmp=$(mktemp -d /tmp/weft-mesh-admin.XXXXXX) || exit 1
trap 'rm -rf "$tmp"' EXIT
export WEFT_CONFIG_DIR=$tmp/conf
ok=1
res() { # name, status, [why]
	if [[ $2 == 0 ]]; then echo "PASS: mesh-admin/$1"; else echo "FAIL: mesh-admin/$1${3:+: $3}"; ok=0; fi
}
mode() { stat -c %a "$1" 2>/dev/null; }

coord_key=$("$WEFT" genkey | "$WEFT" pubkey)
out=$("$WEFT" mesh init lab --prefix 10.42.0.0/16 --prefix6 fd42::/64 --coord 127.0.0.1:51819 \
	--coord-key "$coord_key" --bootstrap 192.0.2.1:51820 --bootstrap 198.51.100.2:51820 2>&1)
res init "$?" "$out"
dir=$tmp/conf/mesh/lab
res init-modes "$([[ $(mode "$dir") == 700 && $(mode "$dir/admin.key") == 600 && $(mode "$dir/mesh.conf") == 600 ]]; echo $?)" \
	"dir $(mode "$dir"), admin.key $(mode "$dir/admin.key"), mesh.conf $(mode "$dir/mesh.conf")"
netid=$(sed -n 's/^NetworkId = //p' "$dir/mesh.conf")
res init-network-id "$([[ $out == *"id $netid"* && ${#netid} == 32 ]]; echo $?)" "$out"
key_before=$(sha256sum <"$dir/admin.key")
"$WEFT" mesh init lab --prefix 10.1.0.0/16 >/dev/null 2>&1
res init-twice-refused "$([[ $? != 0 && $(sha256sum <"$dir/admin.key") == "$key_before" ]]; echo $?)"
"$WEFT" mesh init other --prefix 10.1.0.1/16 >/dev/null 2>&1
res init-host-bits-refused "$([[ $? != 0 && ! -e $tmp/conf/mesh/other/mesh.conf ]]; echo $?)"
"$WEFT" mesh init other >/dev/null 2>&1
res init-needs-prefix "$([[ $? != 0 ]]; echo $?)"

before=$(date +%s)
token=$("$WEFT" mesh invite lab --uses 5 --expires 3d 2>"$tmp/err")
res invite "$?" "$(cat "$tmp/err")"
id=$(awk '{print $1}' "$dir/tokens")
res invite-listed "$([[ $(wc -l <"$dir/tokens") == 1 && $(cat "$tmp/err") == *"token $id "* ]]; echo $?)"

# the token checked by code weft did not write
check=$(python3 - "$token" "$netid" "$before" "$id" <<'PY' 2>&1
import base64, sys
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
tok, netid, before, tid = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
assert tok.startswith("weftmesh1."), "prefix"
b = tok[len("weftmesh1."):]
raw = base64.urlsafe_b64decode(b + "=" * (-len(b) % 4))
p, sig = raw[:-64], raw[-64:]
assert p[0] == 1, "version"
assert p[1:17].hex() == netid, "network id"
admin = p[17:49]
Ed25519PublicKey.from_public_bytes(admin).verify(sig, b"weft mesh token v1" + p)
assert p[49:57].hex() == tid, "token id"
exp = int.from_bytes(p[57:65], "little")
assert before + 3 * 86400 <= exp <= before + 3 * 86400 + 60, "expiry %d" % exp
assert int.from_bytes(p[65:67], "little") == 5, "uses"
n = 67 + 32 + 32
l = p[n]; coord = p[n + 1:n + 1 + l].decode(); n += 1 + l
assert coord == "127.0.0.1:51819", coord
boot = []
cnt = p[n]; n += 1
for _ in range(cnt):
    l = p[n]; boot.append(p[n + 1:n + 1 + l].decode()); n += 1 + l
assert boot == ["192.0.2.1:51820", "198.51.100.2:51820"], boot
assert n == len(p), "trailing bytes"
# a changed byte breaks the signature
bad = bytearray(p); bad[60] ^= 1
try:
    Ed25519PublicKey.from_public_bytes(admin).verify(sig, b"weft mesh token v1" + bytes(bad))
    print("tampered token verified")
    sys.exit(1)
except Exception:
    pass
print("ok")
PY
)
res token-verified-independently "$([[ $check == ok ]]; echo $?)" "$check"

"$WEFT" mesh invite lab --uses 0 >/dev/null 2>&1
res invite-uses-0-refused "$([[ $? != 0 ]]; echo $?)"
"$WEFT" mesh invite lab --expires never >/dev/null 2>&1
res invite-never-refused "$([[ $? != 0 ]]; echo $?)"
"$WEFT" mesh invite nope >/dev/null 2>"$tmp/err"
res invite-unknown-network "$([[ $? != 0 && $(cat "$tmp/err") == *"no such network"* ]]; echo $?)" "$(cat "$tmp/err")"
res invite-refusals-issue-nothing "$([[ $(wc -l <"$dir/tokens") == 1 ]]; echo $?)"

token2=$("$WEFT" mesh invite lab 2>/dev/null)
id2=$(sed -n 2p "$dir/tokens" | awk '{print $1}')
"$WEFT" mesh revoke "$id" >/dev/null
res revoke-by-id "$([[ $? == 0 && $(grep "^$id " "$dir/tokens") == *" revoked "* && $(grep -c "^$id2 .* issued " "$dir/tokens") == 1 ]]; echo $?)" \
	"$(cat "$dir/tokens")"
"$WEFT" mesh revoke "$token2" >/dev/null 2>"$tmp/err"
res revoke-token-argument-refused "$([[ $? != 0 && $(cat "$tmp/err") == *"never taken from the command line"* &&
	$(grep -c "^$id2 .* issued " "$dir/tokens") == 1 ]]; echo $?)" "$(cat "$tmp/err")"
"$WEFT" mesh revoke - <<<"$token2" >/dev/null
res revoke-by-token "$([[ $? == 0 && $(grep "^$id2 " "$dir/tokens") == *" revoked "* ]]; echo $?)"
res revocation-records "$([[ $(wc -l <"$dir/revocations") == 2 && $(mode "$dir/revocations") == 600 ]]; echo $?)"
# each revocation record is signed by the admin key over its bytes, names
# its token and this network (checked by Python, from docs/weft-mesh.md)
admin=$(sed -n 's/^AdminPublicKey = //p' "$dir/mesh.conf")
check=$(python3 - "$admin" "$netid" "$id" "$id2" "$dir/revocations" <<'PY' 2>&1
import base64, sys
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
admin = Ed25519PublicKey.from_public_bytes(base64.b64decode(sys.argv[1]))
netid, ids = sys.argv[2], [sys.argv[3], sys.argv[4]]
lines = open(sys.argv[5]).read().split()
assert len(lines) == 2, "two records"
for line, tid in zip(lines, ids):
    r = bytes.fromhex(line)
    body, sig = r[:-64], r[-64:]
    admin.verify(sig, b"weft mesh record v1" + body)
    assert body[0] == 4, "kind revoke"
    assert body[1:17].hex() == netid, "network id"
    assert body[17:25].hex() == tid and body[25:49] == bytes(24), "subject = token id"
print("ok")
PY
)
res revocations-signed "$([[ $check == ok ]]; echo $?)" "$check"
"$WEFT" mesh revoke 0123456789abcdef >/dev/null 2>&1
res revoke-unknown-refused "$([[ $? != 0 ]]; echo $?)"
"$WEFT" mesh revoke - <<<"${token2%?}x" >/dev/null 2>&1
res revoke-bad-token-refused "$([[ $? != 0 ]]; echo $?)"
[[ $ok == 1 ]]
