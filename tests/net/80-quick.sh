#!/bin/bash
# tests/net/80-quick.sh: `weft up/down/save/strip` against wg-quick(8).
#
# The comparison cases and their helpers are in quick-compare.sh (the
# kernel VM runs them against the module too); here wg-quick runs weftd
# (WG_QUICK_USERSPACE_IMPLEMENTATION = build/weftd), as weft does on a
# machine without the module.
#
# Then: SaveConfig round trip (and against wg-quick save), hooks with %i,
# a failing PreUp or PostUp leaving nothing behind, a bad config failing
# with file:line and changing nothing, DNS through resolvconf (a recording
# stand-in) and without one, config lookup by name, strip.
TEST_NAME=quick
source "$(dirname "$0")/lib.sh"
require_weftd
require_weft wg-quick

WGQUICK_ENV=(WG_QUICK_USERSPACE_IMPLEMENTATION="$WEFTD" WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1)
source "$(dirname "$0")/quick-compare.sh"
quick_compare_cases

# Hooks: each appends "<hook> <interface>" to a log; both tools must write
# the same lines in the same order with %i expanded.
HOOK_LOG=$WEFT_TMP/hooks.log
EXPECT='10\.80\.0\.0/24'
compare_case hooks none "[Interface]
PrivateKey = $K4
Address = 10.80.0.1/24
PreUp = echo pre-up %i >> $HOOK_LOG
PostUp = echo post-up %i \$(ip -o link show dev %i | grep -c UP) >> $HOOK_LOG
PreDown = echo pre-down %i >> $HOOK_LOG
PostDown = echo post-down %i \$(ip link show dev %i 2>/dev/null | wc -l) >> $HOOK_LOG
PostDown = echo %i%i-twice >> $HOOK_LOG

[Peer]
PublicKey = $P1
AllowedIPs = 10.81.0.0/16"
dev=$LAST_DEV
want="pre-up $dev
post-up $dev 1
pre-down $dev
post-down $dev 0
$dev$dev-twice"
# the log holds weft's run, then wg-quick's
same hooks/log "$(head -5 "$HOOK_LOG")" "$want"
same hooks/log-same-as-wg-quick "$(head -5 "$HOOK_LOG")" "$(tail -n +6 "$HOOK_LOG")"

# DNS through resolvconf: a stand-in records how it is called.
FAKEBIN=$WEFT_TMP/fakebin
mkdir -p "$FAKEBIN"
cat >"$FAKEBIN/resolvconf" <<'EOF'
#!/bin/bash
echo "resolvconf $*" >>"$RESOLVCONF_LOG"
[[ $1 == -a ]] && sed 's/^/  /' >>"$RESOLVCONF_LOG"
exit 0
EOF
chmod +x "$FAKEBIN/resolvconf"
dns_body="[Interface]
PrivateKey = $K1
Address = 10.85.0.1/24
DNS = 10.85.0.53, fd85::53, example.com, corp.example

[Peer]
PublicKey = $P2
AllowedIPs = 10.86.0.0/16"
CASE_NO=$((CASE_NO + 1))
dev=q$CASE_NO$TAG
dir=$(new_conf_dir dns)
(umask 077; printf '%s\n' "$dns_body" >"$dir/$dev.conf")
two_ns none
for tool in weft wg-quick; do
	ns=$a; [[ $tool == wg-quick ]] && ns=$b
	export RESOLVCONF_LOG=$dir/resolvconf-$tool.log
	if [[ $tool == weft ]]; then
		PATH=$FAKEBIN:$PATH weft_in "$ns" up "$dir/$dev.conf" 2>"$dir/$tool.err" &&
		PATH=$FAKEBIN:$PATH weft_in "$ns" down "$dir/$dev.conf" 2>>"$dir/$tool.err" ||
			fail dns/weft "$(cat "$dir/$tool.err")"
	else
		PATH=$FAKEBIN:$PATH wgquick_in "$ns" up "$dir/$dev.conf" 2>"$dir/$tool.err" &&
		PATH=$FAKEBIN:$PATH wgquick_in "$ns" down "$dir/$dev.conf" 2>>"$dir/$tool.err" ||
			fail dns/wg-quick "$(cat "$dir/$tool.err")"
	fi
done
unset RESOLVCONF_LOG
grep -q "nameserver 10.85.0.53" "$dir/resolvconf-weft.log" 2>/dev/null && grep -q "search example.com corp.example" "$dir/resolvconf-weft.log" &&
	pass dns/resolvconf-called || fail dns/resolvconf-called "$(cat "$dir/resolvconf-weft.log" 2>&1)"
same dns/resolvconf-same-as-wg-quick "$(cat "$dir/resolvconf-weft.log" 2>&1)" "$(cat "$dir/resolvconf-wg-quick.log" 2>&1)"

# DNS with neither resolvconf nor resolvectl: a PATH of everything else.
NODNS=$WEFT_TMP/nodnsbin
mkdir -p "$NODNS"
for d in /usr/local/sbin /usr/local/bin /usr/sbin /usr/bin /sbin /bin; do
	for f in "$d"/*; do
		n=${f##*/}
		[[ -x $f && ! -e $NODNS/$n && $n != resolvconf && $n != resolvectl ]] && ln -s "$f" "$NODNS/$n"
	done
done
CASE_NO=$((CASE_NO + 1))
two_ns none
base_a=$(baseline "$a")
rc=0; PATH=$NODNS weft_in "$a" up "$dir/$dev.conf" >"$dir/nodns.log" 2>&1 || rc=$?
((rc != 0)) && grep -q "neither resolvconf nor resolvectl" "$dir/nodns.log" &&
	pass dns/missing-tool-clear-message || fail dns/missing-tool-clear-message "exit $rc: $(cat "$dir/nodns.log")"
check dns/missing-tool-leaves-nothing gone "$a" "$dev"
same dns/missing-tool-restores "$(baseline "$a")" "$base_a"
# wg-quick fails as well there ("resolvconf: command not found") and tears
# down; weft does the same with a message that says what to install.
rc=0; PATH=$NODNS wgquick_in "$b" up "$dir/$dev.conf" >/dev/null 2>&1 || rc=$?
((rc != 0)) && pass dns/missing-tool-wg-quick-fails-too || fail dns/missing-tool-wg-quick-fails-too "wg-quick succeeded"
gone "$b" "$dev" >/dev/null 2>&1 || true

# ---- failures leave nothing behind --------------------------------------------

# fail_case NAME WHAT BODY: weft up must fail, print a line matching WHAT,
# and leave the namespace (and the file) exactly as before.
fail_case() {
	local name=$1 what=$2 body=$3 dir dev file base sum rc
	CASE_NO=$((CASE_NO + 1))
	dev=q$CASE_NO$TAG
	dir=$(new_conf_dir "$name")
	file=$dir/$dev.conf
	(umask 077; printf '%s\n' "$body" >"$file")
	two_ns none
	base=$(baseline "$a")
	sum=$(sha256sum <"$file")
	rc=0; weft_in "$a" up "$file" >"$dir/up.log" 2>&1 || rc=$?
	((rc != 0)) && pass "$name/fails" || fail "$name/fails" "weft up succeeded"
	grep -qE -- "$what" "$dir/up.log" && pass "$name/message" || fail "$name/message" "no '$what' in: $(cat "$dir/up.log")"
	check "$name/leaves-nothing" gone "$a" "$dev"
	same "$name/changes-nothing" "$(baseline "$a")" "$base"
	[[ $(sha256sum <"$file") == "$sum" ]] && pass "$name/file-untouched" || fail "$name/file-untouched"
	# wg-quick also fails and cleans up: the same end state
	rc=0; wgquick_in "$b" up "$file" >/dev/null 2>&1 || rc=$?
	((rc != 0)) && gone "$b" "$dev" 2>/dev/null && pass "$name/wg-quick-agrees" || fail "$name/wg-quick-agrees" "exit $rc"
}

MARK=$WEFT_TMP/postup-ran
fail_case preup-fails "PreUp command failed" "[Interface]
PrivateKey = $K1
Address = 10.90.0.1/24
PreUp = false
PostUp = touch $MARK

[Peer]
PublicKey = $P1
AllowedIPs = 0.0.0.0/0"
[[ -e $MARK ]] && fail preup-fails/postup-not-run || pass preup-fails/postup-not-run
rm -f "$MARK"

# PostUp fails after a full tunnel is up: rules, nft tables, link, daemon
# must all go again.
fail_case postup-fails "PostUp command failed" "[Interface]
PrivateKey = $K2
Address = 10.91.0.1/24, fd91::1/64
PostUp = exit 3

[Peer]
PublicKey = $P2
AllowedIPs = 0.0.0.0/0, ::/0"

fail_case unknown-key "$WEFT_TMP/unknown-key/q[0-9]+\\.conf:4:" "[Interface]
PrivateKey = $K3
Address = 10.92.0.1/24
Frobnicate = yes

[Peer]
PublicKey = $P3
AllowedIPs = 10.93.0.0/16"

fail_case bad-cidr "$WEFT_TMP/bad-cidr/q[0-9]+\\.conf:7:" "[Interface]
PrivateKey = $K4
Address = 10.94.0.1/24

[Peer]
PublicKey = $P1
AllowedIPs = 10.95.0.0/33"

# ---- SaveConfig ----------------------------------------------------------------

# save_run NS TOOL FILE DEV: up, change the running device, down (which saves)
save_run() {
	local ns=$1 tool=$2 file=$3 dev=$4
	if [[ $tool == weft ]]; then weft_in "$ns" up "$file"; else wgquick_in "$ns" up "$file"; fi || return 1
	nsrun "$ns" wg set "$dev" peer "$P2" remove peer "$NEWPEER" allowed-ips 10.96.0.50/32 endpoint 192.0.2.50:51820 &&
	ip -n "$ns" addr add 10.97.1.1/24 dev "$dev" && ip -n "$ns" link set mtu 1380 dev "$dev" || return 1
	if [[ $tool == weft ]]; then weft_in "$ns" down "$file"; else wgquick_in "$ns" down "$file"; fi
}

# A canonical view of a wg-quick config: one "section key value" line per
# value (lists split), peers by key, sorted; IPv6 link-local addresses
# dropped (see below).
canon() {
	python3 - "$1" <<'EOF'
import sys
out, section, peer = [], None, None
for raw in open(sys.argv[1]):
    line = raw.split('#', 1)[0].strip()
    if not line:
        continue
    if line.startswith('['):
        section, peer = line.lower(), None
        continue
    k, v = (x.strip() for x in line.split('=', 1))
    k = k.lower()
    if section == '[peer]' and k == 'publickey':
        peer = v
    for item in (x.strip() for x in v.split(',')) if k in ('address', 'allowedips', 'dns') else [v]:
        if k == 'address' and item.lower().startswith('fe80:'):
            continue
        out.append('%s %s %s %s' % (section, peer or '', k, item))
print('\n'.join(sorted(out)))
EOF
}

NEWPEER=$(pub "$(genkey)")
save_body="[Interface]
PrivateKey = $K1
ListenPort = 51990
Address = 10.96.0.1/24, fd96::1/64
MTU = 1400
Table = auto
PostUp = true %i
PreDown = true %i
SaveConfig = true

[Peer]
PublicKey = $P1
AllowedIPs = 10.96.0.2/32, 10.98.0.0/16
Endpoint = 192.0.2.1:51820

[Peer]
PublicKey = $P2
AllowedIPs = 10.96.0.3/32"
CASE_NO=$((CASE_NO + 1))
dev=q$CASE_NO$TAG
dir=$(new_conf_dir save)
mkdir -p "$dir/w" "$dir/g"; chmod 700 "$dir/w" "$dir/g"
(umask 077; printf '%s\n' "$save_body" >"$dir/w/$dev.conf"; printf '%s\n' "$save_body" >"$dir/g/$dev.conf")
two_ns none
save_run "$a" weft "$dir/w/$dev.conf" "$dev" >"$dir/w.log" 2>&1 && pass save/weft-round || fail save/weft-round "$(tail -5 "$dir/w.log")"
save_run "$b" wg-quick "$dir/g/$dev.conf" "$dev" >"$dir/g.log" 2>&1 || fail save/wg-quick-round "$(tail -5 "$dir/g.log")"
saved=$(cat "$dir/w/$dev.conf")
[[ $(stat -c %a "$dir/w/$dev.conf") == 600 ]] && pass save/mode-0600 || fail save/mode-0600 "$(stat -c %a "$dir/w/$dev.conf")"
grep -q "$NEWPEER" <<<"$saved" && ! grep -q "$P2" <<<"$saved" && pass save/peers-from-device || fail save/peers-from-device "$saved"
grep -q "10.97.1.1/24" <<<"$saved" && grep -q "MTU = 1380" <<<"$saved" && pass save/address-mtu || fail save/address-mtu "$saved"
grep -qi "fe80" <<<"$saved" && fail save/no-kernel-link-local "$saved" || pass save/no-kernel-link-local
# weft keeps what wg-quick keeps, except the kernel's IPv6 link-local
# address of the TUN device that wg-quick also writes as an Address
same save/same-as-wg-quick "$(canon "$dir/w/$dev.conf")" "$(canon "$dir/g/$dev.conf")"
# the saved file brings the same interface up again
base_a=$(baseline "$a")
if weft_in "$a" up "$dir/w/$dev.conf" >"$dir/w2.log" 2>&1; then
	nsrun "$a" wg show "$dev" peers | grep -q "$NEWPEER" && ip -n "$a" addr show dev "$dev" | grep -q 10.97.1.1/24 &&
		pass save/reload || fail save/reload "$(nsrun "$a" wg show "$dev")"
	weft_in "$a" down "$dir/w/$dev.conf" >/dev/null 2>&1
	check save/reload-down gone "$a" "$dev"
else
	fail save/reload "$(tail -5 "$dir/w2.log")"
fi

# [Weft] and names survive a save (moved to IFACE.weft beside the file, which
# stays a wg-quick file), and never reach the daemon.
CASE_NO=$((CASE_NO + 1))
dev=q$CASE_NO$TAG
dir=$(new_conf_dir save-weft)
(umask 077; cat >"$dir/$dev.conf" <<EOF
[Interface]
PrivateKey = $K2
ListenPort = 51991
Address = 10.99.0.1/24
SaveConfig = true
PostDown = echo %i done

[Weft]
Hostname = vpn.example.com
PeerName = $P1 laptop
PeerName = $P2 phone

[Peer]
PublicKey = $P1
AllowedIPs = 10.99.0.2/32

[Peer]
PublicKey = $P2
AllowedIPs = 10.99.0.3/32
EOF
)
two_ns none
if WEFT_CONFIG_DIR=$dir weft_in "$a" up "$dev" >"$dir/up.log" 2>&1; then
	pass save-weft/up-by-name
	nsrun "$a" wg set "$dev" peer "$P2" remove
	WEFT_CONFIG_DIR=$dir weft_in "$a" save "$dev" >"$dir/save.log" 2>&1 && pass save-weft/save || fail save-weft/save "$(cat "$dir/save.log")"
	saved=$(cat "$dir/$dev.conf") records=$(cat "$dir/$dev.weft" 2>/dev/null)
	grep -q "Hostname = vpn.example.com" <<<"$records" && grep -q "Name = laptop" <<<"$records" &&
		! grep -q "$P2" <<<"$saved$records" && grep -q "PostDown = echo %i done" <<<"$saved" &&
		! grep -q '^\[Weft\]\|PeerName' <<<"$saved" &&
		pass save-weft/kept || fail save-weft/kept "$saved $records"
	WEFT_CONFIG_DIR=$dir weft_in "$a" down "$dev" >/dev/null 2>&1 && pass save-weft/down-by-name || fail save-weft/down-by-name
	check save-weft/down-leaves-nothing gone "$a" "$dev"
else
	fail save-weft/up-by-name "$(cat "$dir/up.log")"
fi

# ---- interoperation: each takes down what the other brought up ------------------

CASE_NO=$((CASE_NO + 1))
dev=q$CASE_NO$TAG
dir=$(new_conf_dir interop)
(umask 077; cat >"$dir/$dev.conf" <<EOF
[Interface]
PrivateKey = $K4
Address = 10.101.0.2/32, fd65::2/128

[Peer]
PublicKey = $P1
AllowedIPs = 0.0.0.0/0, ::/0, 10.102.0.0/16
Endpoint = 192.0.2.1:51820
EOF
)
two_ns none
base_a=$(baseline "$a"); base_b=$(baseline "$b")
weft_in "$a" up "$dir/$dev.conf" >/dev/null 2>&1 && wgquick_in "$a" down "$dir/$dev.conf" >"$dir/a.log" 2>&1 &&
	pass interop/weft-up-wg-quick-down || fail interop/weft-up-wg-quick-down "$(cat "$dir/a.log")"
check interop/weft-up-wg-quick-down-leaves-nothing gone "$a" "$dev"
same interop/weft-up-wg-quick-down-restores "$(baseline "$a")" "$base_a"
wgquick_in "$b" up "$dir/$dev.conf" >/dev/null 2>&1 && weft_in "$b" down "$dir/$dev.conf" >"$dir/b.log" 2>&1 &&
	pass interop/wg-quick-up-weft-down || fail interop/wg-quick-up-weft-down "$(cat "$dir/b.log")"
check interop/wg-quick-up-weft-down-leaves-nothing gone "$b" "$dev"
same interop/wg-quick-up-weft-down-restores "$(baseline "$b")" "$base_b"

# ---- the rest --------------------------------------------------------------------

# up refuses an interface that exists, and leaves it alone
CASE_NO=$((CASE_NO + 1))
dev=q$CASE_NO$TAG
dir=$(new_conf_dir exists)
(umask 077; printf '[Interface]\nPrivateKey = %s\nAddress = 10.100.0.1/24\n' "$K3" >"$dir/$dev.conf")
two_ns none
weft_in "$a" up "$dir/$dev.conf" >/dev/null 2>&1
rc=0; weft_in "$a" up "$dir/$dev.conf" >"$dir/again.log" 2>&1 || rc=$?
((rc != 0)) && grep -q "already exists" "$dir/again.log" && ip -n "$a" addr show dev "$dev" | grep -q 10.100.0.1/24 &&
	pass exists/refused || fail exists/refused "exit $rc: $(cat "$dir/again.log")"
weft_in "$a" down "$dir/$dev.conf" >/dev/null 2>&1
check exists/down gone "$a" "$dev"
rc=0; weft_in "$a" down "$dir/$dev.conf" >"$dir/down2.log" 2>&1 || rc=$?
((rc != 0)) && grep -q "is not a WireGuard interface" "$dir/down2.log" && pass exists/down-twice || fail exists/down-twice "$(cat "$dir/down2.log")"

# strip: the same wg(8) form as wg-quick strip (configs above are written in
# canonical order), never [Weft]; and a config at all (two empty outputs
# would be "the same", and no output holds no [Weft])
for f in "$WEFT_TMP"/several-peers/*.conf "$WEFT_TMP"/hooks/*.conf "$WEFT_TMP"/full-tunnel-fwmark/*.conf; do
	s_w=$("$WEFT" strip "$f" | grep -v '^$')
	if [[ $s_w != *'[Interface]'* ]]; then
		fail "strip/${f#$WEFT_TMP/}" "weft strip printed no config: $s_w"
	else
		same "strip/${f#$WEFT_TMP/}" "$s_w" "$(wg-quick strip "$f" | grep -v '^$')"
	fi
done
s_w=$("$WEFT" strip "$WEFT_TMP/save-weft/"*.conf)
if [[ $s_w != *'[Interface]'* ]]; then
	fail strip/no-weft-section "weft strip printed no config: $s_w"
elif grep -qi "weft\|Hostname\|PeerName\|PostDown\|Address\|SaveConfig" <<<"$s_w"; then
	fail strip/no-weft-section "$s_w"
else
	pass strip/no-weft-section
fi
rc=0; "$WEFT" strip "$WEFT_TMP/unknown-key/"*.conf >/dev/null 2>"$WEFT_TMP/strip.err" || rc=$?
((rc != 0)) && grep -q ":4:" "$WEFT_TMP/strip.err" && pass strip/bad-config || fail strip/bad-config "$(cat "$WEFT_TMP/strip.err")"

exit $FAILED
