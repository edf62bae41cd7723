#!/bin/bash
# tests/kernel/cli.sh: the weft CLI on the Linux kernel's WireGuard module,
# inside the kernel VM (run it with tests/kernel/vm-run, which
# tests/net/92-kernel-cli.sh does). wg(8) and wg-quick(8) on the same module
# are the reference:
#
#   show        ns s<tag>: ks<tag> (kernel) --veth-- ns t<tag>: kt<tag> (kernel)
#               after a ping through the tunnel, every `weft show` form,
#               showconf and dump, byte for byte as wg prints them
#   set         ns c<tag> (weft) and ns d<tag> (wg), each with kernel kc<tag>:
#               the same set / setconf / addconf / syncconf steps, the same
#               `wg showconf` after each
#   many        65,535 peers and one peer with 3,000 allowed IPs set by
#               weft, read back by wg and by weft (multipart replies)
#   quick       tests/net/quick-compare.sh's cases: weft up/down against
#               wg-quick up/down, both on the module
#   interface   ns i<tag>: `interface add`, `peer add/list/remove`,
#               `interface remove` on a kernel interface
#   userspace   --userspace and WG_QUICK_USERSPACE_IMPLEMENTATION make weftd
#               run the interface even with the module there
#
# Arguments, if any, name the sections to run (all by default).
. "$(dirname "$0")/../net/lib.sh"
TEST_NAME=kernel-cli
[[ -n ${WEFT_VM_RELEASE:-} ]] || { fail vm "runs inside the kernel VM: tests/kernel/vm-run $0"; exit 1; }
require_weft wg wg-quick
require_commands python3

# same NAME A B: PASS if the two texts are equal, else FAIL with a diff
same() {
	if [[ $2 == "$3" ]]; then
		pass "$1"
	else
		fail "$1" "differs (< weft, > wg):"
		diff <(echo "$2") <(echo "$3") | head -20
	fi
}

# kind_of NS IF: the link kind ("wireguard", or "" for a TUN device)
kind_of() { ip -n "$1" -d -o link show dev "$2" 2>/dev/null | grep -o 'wireguard' | head -1; }
no_link() { ! ip -n "$1" link show dev "$2" >/dev/null 2>&1; }

SECTIONS=()
for a; do [[ -n $a ]] && SECTIONS+=("$a"); done
# section NAME: whether to run it; says so with the time so far
section() {
	[[ ${#SECTIONS[@]} == 0 || " ${SECTIONS[*]} " == *" $1 "* ]] || return 1
	echo "--- $1 (at $SECONDS s)"
}

# ---- show: byte-identical to wg --------------------------------------------

if section show; then
S=s$TAG T=t$TAG IS=ks$TAG IT=kt$TAG
make_ns "$S" && make_ns "$T" || { fail netns "cannot create namespaces"; exit 1; }
KS=$(keyfile) KT=$(keyfile) PSK=$(keyfile)
PS=$(pubkey_of "$KS") PT=$(pubkey_of "$KT")
FAKE1=$(pubkey_of "$(keyfile)") FAKE2=$(pubkey_of "$(keyfile)")
link_ns "$S" vs$TAG 10.215.0.1/24 "$T" vt$TAG 10.215.0.2/24 &&
	ip -n "$S" link add "$IS" type wireguard && ip -n "$T" link add "$IT" type wireguard &&
	wg_iface "$S" "$IS" "$KS" 51801 10.41.0.1/24 && wg_iface "$T" "$IT" "$KT" 51802 10.41.0.2/24 &&
	nsrun "$S" wg set "$IS" fwmark 0x51 peer "$PT" allowed-ips 10.41.0.2/32,fd41::2/128 \
		endpoint 10.215.0.2:51802 preshared-key "$PSK" persistent-keepalive 25 \
		peer "$FAKE1" allowed-ips 10.42.0.0/16,10.43.1.0/24,fd42::/48 endpoint '[fd15::9]:4000' \
		peer "$FAKE2" &&
	nsrun "$T" wg set "$IT" peer "$PS" allowed-ips 10.41.0.1/32 preshared-key "$PSK" ||
	{ fail show/setup "cannot set up the kernel interfaces"; exit 1; }
check show/handshake wait_until 10 ping_ok "$S" 10.41.0.2

# compare NAME ARGS...: weft ARGS and wg ARGS in $S give the same bytes
# (again, up to three times, when a "seconds ago" ticked between the two)
# (CMP_ENV: variables both run with)
CMP_ENV=()
compare() {
	local name=$1 w g i
	shift
	for i in 1 2 3; do
		w=$(nsrun "$S" env "${CMP_ENV[@]}" "$WEFT" "$@" 2>&1; echo "rc=$?")
		g=$(nsrun "$S" env "${CMP_ENV[@]}" wg "$@" 2>&1; echo "rc=$?")
		[[ $w == "$g" ]] && break
	done
	# Under emulation one command takes about a second, so the seconds of
	# "latest handshake: ... ago" can tick between the two runs every time;
	# the host's cli_wg_compat checks those digits, here the rest must match.
	if [[ $w != "$g" ]]; then
		w=$(sed -E 's/[0-9]+ (second|seconds) ago/N seconds ago/' <<<"$w")
		g=$(sed -E 's/[0-9]+ (second|seconds) ago/N seconds ago/' <<<"$g")
	fi
	same "show/$name" "$w" "$g"
}
compare show show
compare show-all show all
compare show-iface show "$IS"
compare interfaces show interfaces
compare dump show all dump
compare dump-iface show "$IS" dump
compare showconf showconf "$IS"
for f in public-key private-key listen-port fwmark peers preshared-keys endpoints allowed-ips \
	latest-handshakes transfer persistent-keepalive; do
	compare "field-$f" show "$IS" "$f"
done
for mode in always never; do
	CMP_ENV=(WG_COLOR_MODE=$mode WG_HIDE_KEYS=never)
	compare "colour-$mode" show "$IS"
done
CMP_ENV=()
# the rows of the show above came from the module: counters that moved
check show/transfer-counted test "$(nsrun "$S" "$WEFT" show "$IS" transfer | awk -v k="$PT" '$1 == k { print ($2 > 0 && $3 > 0) }')" == 1
# a link of another kind: both refuse, the kernel's reason
rc=0; nsrun "$S" "$WEFT" show vs$TAG >/dev/null 2>"$WEFT_TMP/nw.err" || rc=$?
check show/not-wireguard test "$rc" == 1
check show/not-wireguard-reason grep -q 'Operation not supported' "$WEFT_TMP/nw.err"
fi

# ---- set / setconf / addconf / syncconf: the same result as wg -----------

if section set; then
C=c$TAG D=d$TAG IC=kc$TAG
make_ns "$C" && make_ns "$D" &&
	ip -n "$C" link add "$IC" type wireguard && ip -n "$D" link add "$IC" type wireguard ||
	{ fail set/setup "cannot create the interfaces"; exit 1; }
K1=$(keyfile) K2=$(keyfile) PSK2=$(keyfile) EMPTY=$WEFT_TMP/empty
: >"$EMPTY"
P1=$(pubkey_of "$(keyfile)") P2=$(pubkey_of "$(keyfile)") P3=$(pubkey_of "$(keyfile)") P4=$(pubkey_of "$(keyfile)")
F1=$WEFT_TMP/set1.conf F2=$WEFT_TMP/set2.conf F3=$WEFT_TMP/set3.conf
cat >"$F1" <<EOF
[Interface]
PrivateKey = $(cat "$K2")
ListenPort = 51830
FwMark = 0x99

[Peer]
PublicKey = $P1
PresharedKey = $(cat "$PSK2")
AllowedIPs = 10.44.0.0/24, fd44::/64
Endpoint = 192.0.2.44:51820
PersistentKeepalive = 15

[Peer]
PublicKey = $P2
AllowedIPs = 10.45.0.0/16

[Peer]
PublicKey = $P3
Endpoint = [2001:db8::3]:3
EOF
cat >"$F2" <<EOF
[Peer]
PublicKey = $P2
AllowedIPs = 10.46.0.0/16
Endpoint = 192.0.2.46:46

[Peer]
PublicKey = $P4
AllowedIPs = 10.47.0.1/32
EOF
cat >"$F3" <<EOF
[Interface]
PrivateKey = $(cat "$K2")
ListenPort = 51831

[Peer]
PublicKey = $P1
PresharedKey = $(cat "$PSK2")
AllowedIPs = 10.44.0.0/24
Endpoint = 192.0.2.44:51821
PersistentKeepalive = 30

[Peer]
PublicKey = $P4
AllowedIPs = 10.47.0.1/32, 10.47.1.0/24
EOF
chmod 600 "$F1" "$F2" "$F3"
STEPS=(
	"set-device|set $IC private-key $K1 listen-port 51820 fwmark 0x1234"
	"set-peer|set $IC peer $P1 allowed-ips 10.0.0.0/24,fd00::/64 endpoint 192.0.2.1:51820 persistent-keepalive 25 preshared-key $PSK2"
	"set-second-peer|set $IC peer $P2 endpoint [2001:db8::1]:1234 allowed-ips 10.1.0.0/16"
	"set-replace-allowed-ips|set $IC peer $P1 allowed-ips 10.0.1.0/24"
	"set-remove-peer|set $IC peer $P2 remove"
	"set-off|set $IC fwmark off peer $P1 persistent-keepalive off preshared-key $EMPTY"
	"setconf|setconf $IC $F1"
	"addconf|addconf $IC $F2"
	"syncconf|syncconf $IC $F3"
	"set-empty-private-key|set $IC private-key $EMPTY"
)
for step in "${STEPS[@]}"; do
	name=${step%%|*} args=${step#*|}
	# shellcheck disable=SC2086 # the step's words are its arguments
	rw=0; nsrun "$C" "$WEFT" $args >"$WEFT_TMP/w.err" 2>&1 || rw=$?
	rg=0; nsrun "$D" wg $args >"$WEFT_TMP/g.err" 2>&1 || rg=$?
	check "set/$name/exit-status" test "$rw" == "$rg"
	same "set/$name/showconf" "$(nsrun "$C" wg showconf "$IC" 2>&1)" "$(nsrun "$D" wg showconf "$IC" 2>&1)"
done
same set/weft-showconf "$(nsrun "$C" "$WEFT" showconf "$IC" 2>&1)" "$(nsrun "$C" wg showconf "$IC" 2>&1)"
fi

# ---- 65,535 peers through the multipart paths -------------------------------


# ---- up / down against wg-quick, both on the module ------------------------

WGQUICK_ENV=()
. "$(dirname "$0")/../net/quick-compare.sh"
if section quick; then
quick_compare_cases
grep -q "using the kernel's WireGuard" "$QUICK_LAST_DIR/weft-up.log" && pass quick/kernel-chosen ||
	fail quick/kernel-chosen "$(head -3 "$QUICK_LAST_DIR/weft-up.log")"
fi

# ---- interface add and peer add on a kernel interface ---------------------

if section interface; then
I=i$TAG II=ki$TAG CONFDIR=$(new_conf_dir iface)
make_ns "$I" || { fail iface/setup "cannot create $I"; exit 1; }
weft_i() { nsrun "$I" env WEFT_CONFIG_DIR="$CONFDIR" "$WEFT" "$@"; }
rc=0; weft_i interface add "$II" --address 10.98.0.1/24 --listen-port 51850 >"$WEFT_TMP/add.out" 2>"$WEFT_TMP/add.err" || rc=$?
check iface/add test "$rc" == 0
check iface/add-says-kernel grep -q "using the kernel's WireGuard" "$WEFT_TMP/add.err"
check iface/add-is-kernel test "$(kind_of "$I" "$II")" == wireguard
check iface/add-no-socket test ! -e "/var/run/wireguard/$II.sock"
check iface/add-port test "$(nsrun "$I" wg show "$II" listen-port)" == 51850
check iface/add-address grep -q 'inet 10.98.0.1/24' <(ip -n "$I" -o addr show dev "$II")
check iface/add-key-in-config test "$(nsrun "$I" wg show "$II" private-key)" == \
	"$(sed -n 's/^PrivateKey *= *//p' "$CONFDIR/$II.conf")"
rc=0; weft_i peer add "$II" --name phone >"$WEFT_TMP/peer.out" 2>&1 || rc=$?
check iface/peer-add test "$rc" == 0
((rc == 0)) || cat "$WEFT_TMP/peer.out"
check iface/peer-add-running test "$(nsrun "$I" wg show "$II" allowed-ips | awk '{ print $2 }')" == 10.98.0.2/32
check iface/peer-add-in-config grep -q '10.98.0.2/32' "$CONFDIR/$II.conf"
check iface/peer-list grep -q '^phone ' <(weft_i peer list "$II")
rc=0; weft_i peer remove "$II" phone >/dev/null 2>&1 || rc=$?
check iface/peer-remove test "$rc" == 0 -a -z "$(nsrun "$I" wg show "$II" peers)"
check iface/interface-list grep -q "^$II " <(weft_i interface list)
rc=0; weft_i interface remove "$II" || rc=$?
check iface/remove test "$rc" == 0
check iface/removed no_link "$I" "$II"
fi

# ---- forcing userspace ---------------------------------------------------------

if section userspace; then
U=u$TAG IU=ku$TAG
make_ns "$U" || { fail userspace/setup "cannot create $U"; exit 1; }
UCONF=$(new_conf_dir userspace)/$IU.conf
(umask 077; printf '[Interface]\nPrivateKey = %s\nAddress = 10.97.0.1/24\n' "$(wg genkey)" >"$UCONF")
on_exit "rm -f /var/run/wireguard/$IU.sock"
# userspace_case NAME ENV... -- ARGS...: up and down with weftd, not the module
userspace_case() {
	local name=$1 envs=() rc=0
	shift
	while [[ $1 != -- ]]; do envs+=("$1"); shift; done
	shift
	nsrun "$U" env "${envs[@]}" "$WEFT" up "$@" "$UCONF" >"$WEFT_TMP/u.out" 2>&1 || rc=$?
	check "userspace/$name/up" test "$rc" == 0
	check "userspace/$name/says-userspace" grep -q "using the userspace weftd" "$WEFT_TMP/u.out"
	check "userspace/$name/socket" test -S "/var/run/wireguard/$IU.sock"
	check "userspace/$name/not-kernel" test -z "$(kind_of "$U" "$IU")"
	check "userspace/$name/wg-reads-it" test -n "$(nsrun "$U" wg show "$IU" public-key)"
	rc=0; nsrun "$U" "$WEFT" down "$UCONF" >/dev/null 2>&1 || rc=$?
	check "userspace/$name/down" test "$rc" == 0
	check "userspace/$name/gone" wait_until 5 test ! -e "/var/run/wireguard/$IU.sock"
}
userspace_case flag -- --userspace
userspace_case env WG_QUICK_USERSPACE_IMPLEMENTATION="$WEFTD" --
rc=0; nsrun "$U" "$WEFT" up "$UCONF" >"$WEFT_TMP/k.out" 2>&1 || rc=$?
check userspace/default-is-kernel test "$rc" == 0 -a "$(kind_of "$U" "$IU")" == wireguard
nsrun "$U" "$WEFT" down "$UCONF" >/dev/null 2>&1
rc=0; nsrun "$U" env WEFT_CONFIG_DIR="$(dirname "$UCONF")" "$WEFT" interface add "${IU}x" --userspace \
	>/dev/null 2>"$WEFT_TMP/ia.err" || rc=$?
on_exit "rm -f /var/run/wireguard/${IU}x.sock"
check userspace/interface-add test "$rc" == 0 -a -S "/var/run/wireguard/${IU}x.sock"
nsrun "$U" env WEFT_CONFIG_DIR="$(dirname "$UCONF")" "$WEFT" interface remove "${IU}x"
fi

if section many; then
# In the VM's own namespace, and left there: the module takes minutes of
# emulated CPU to free 65,535 peers, and the VM is thrown away anyway.
IM=km$TAG BIGCONF=$WEFT_TMP/many.conf
ip link add "$IM" type wireguard || { fail many/setup "cannot create $IM"; exit 1; }
python3 - "$BIGCONF" <<'EOF'
import base64, os, sys
n = 65535
with open(sys.argv[1], "w") as f:
    os.fchmod(f.fileno(), 0o600)
    # no PrivateKey: with one, the module computes a Diffie-Hellman per peer,
    # a minute of emulated CPU that tests nothing of weft
    f.write("[Interface]\nListenPort = 51840\n")
    for i in range(n):
        key = base64.b64encode(os.urandom(31) + bytes([1])).decode()
        f.write("[Peer]\nPublicKey = %s\nAllowedIPs = fd77::%x:%x/128\n" % (key, i >> 16, i & 0xffff))
    # one peer whose allowed IPs fill several messages on their own
    key = base64.b64encode(os.urandom(31) + bytes([2])).decode()
    f.write("[Peer]\nPublicKey = %s\n" % key)
    for line in range(30):
        f.write("AllowedIPs = %s\n" % ", ".join("10.%d.%d.0/24" % (100 + j // 256, j % 256)
                                                for j in range(line * 100, line * 100 + 100)))
EOF
start=$SECONDS
rc=0; "$WEFT" setconf "$IM" "$BIGCONF" || rc=$?
echo "weft setconf of 65,536 peers: $((SECONDS - start)) s"
check many/setconf test "$rc" == 0
check many/wg-counts-peers test "$(wg show "$IM" peers | wc -l)" == 65536
check many/wg-counts-allowed-ips test "$(wg show "$IM" allowed-ips | wc -w)" == $((65535 * 2 + 3001))
start=$SECONDS
"$WEFT" showconf "$IM" >"$WEFT_TMP/many.weft" 2>&1
echo "weft showconf of 65,536 peers: $((SECONDS - start)) s"
wg showconf "$IM" >"$WEFT_TMP/many.wg" 2>&1
check many/showconf-same-as-wg cmp -s "$WEFT_TMP/many.weft" "$WEFT_TMP/many.wg"
"$WEFT" show "$IM" dump >"$WEFT_TMP/many.wdump" 2>&1
wg show "$IM" dump >"$WEFT_TMP/many.gdump" 2>&1
check many/dump-same-as-wg cmp -s "$WEFT_TMP/many.wdump" "$WEFT_TMP/many.gdump"
# and back: the file again is nothing to do for syncconf
start=$SECONDS
check many/syncconf-no-change "$WEFT" syncconf "$IM" "$BIGCONF"
echo "weft syncconf of the same 65,536 peers: $((SECONDS - start)) s"
wg showconf "$IM" >"$WEFT_TMP/many.wg2" 2>&1
check many/still-same cmp -s "$WEFT_TMP/many.wg2" "$WEFT_TMP/many.wg"
fi

echo "--- done (at $SECONDS s)"
if dmesg | grep -qE 'WARNING:|BUG:|Oops|general protection'; then
	fail dmesg "the kernel logged a warning: $(dmesg | grep -m1 -E 'WARNING:|BUG:|Oops|general protection')"
else
	pass dmesg-clean
fi
exit $FAILED
