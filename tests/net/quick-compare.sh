# tests/net/quick-compare.sh: `weft up`/`down` against wg-quick(8) on the same
# configurations, for tests/net/80-quick.sh (weftd under both tools) and
# tests/kernel/cli.sh (the kernel module under both). Source it after
# lib.sh, with WGQUICK_ENV set to the environment wg-quick runs with (an
# array, may be empty), then call quick_compare_cases.
#
# Every case gets two fresh namespaces with the same setup, nothing but lo
# (plus a veth pair where a case needs routes to the outside):
#
#   qwN$TAG:  weft up CONF      -> capture -> weft down     -> capture
#   qgN$TAG:  wg-quick up CONF  -> capture -> wg-quick down -> capture
#
# A capture is `ip addr show dev IF`, `ip -4/-6 route show table all`,
# `ip -4/-6 rule`, `nft list ruleset`, src_valid_mark and what `wg show`
# says of fwmark, allowed IPs and endpoints, normalised (link indexes,
# lifetimes, linkdown, the kernel's random IPv6 link-local addresses). The
# up captures must be identical, and after down both namespaces must be as
# they were before up: no link, no socket, no daemon, no rule, no table.

SOCK_DIR=/var/run/wireguard
CASE_NO=0
# ---- helpers ----------------------------------------------------------------

# new_conf_dir NAME: a fresh 0700 directory for one case's files
new_conf_dir() { local d=$WEFT_TMP/$1; mkdir -p "$d" && chmod 700 "$d" && echo "$d"; }

# genkey / pub: keys for the configs (test keys, written to 0600 files only)
genkey() { wg genkey; }
pub() { wg pubkey <<<"$1"; }

norm() {
	sed -E -e 's/^[0-9]+: //' -e '/valid_lft/d' -e 's/ linkdown//g' \
		-e 's/fe80::[0-9a-f:]+/fe80::LL/g' -e 's/ +$//'
}

# capture NS IF: the state weft and wg-quick must agree on
capture() {
	local ns=$1 dev=$2
	echo "== addr"; ip -n "$ns" addr show dev "$dev" 2>&1 | norm
	# sorted: the order of routes with equal keys, such as two link-local
	# local routes, is the order they were added in, no part of the state
	echo "== route4"; ip -n "$ns" -4 route show table all | norm | sort
	echo "== route6"; ip -n "$ns" -6 route show table all | norm | sort
	echo "== rule4"; ip -n "$ns" -4 rule
	echo "== rule6"; ip -n "$ns" -6 rule
	echo "== nft"; nsrun "$ns" nft list ruleset | norm
	echo "== src_valid_mark $(nsrun "$ns" sysctl -n net.ipv4.conf.all.src_valid_mark)"
	echo "== wg"
	nsrun "$ns" wg show "$dev" fwmark 2>&1
	nsrun "$ns" wg show "$dev" allowed-ips 2>&1
	nsrun "$ns" wg show "$dev" endpoints 2>&1
}

# stable_capture NS IF: a capture that no longer changes (the kernel adds
# the IPv6 link-local address of a link that just came up on its own time)
stable_capture() {
	local a b i
	a=$(capture "$1" "$2")
	for i in 1 2 3 4 5 6 7 8 9 10; do
		sleep 0.2
		b=$(capture "$1" "$2")
		[[ $a == "$b" ]] && break
		a=$b
	done
	echo "$b"
}

# baseline NS: what must be back after down (src_valid_mark is left set by
# wg-quick too, so it is not part of it)
baseline() {
	local ns=$1
	ip -n "$ns" -o link show | sed -E 's/^[0-9]+: //; s/ +$//' | cut -d' ' -f1
	ip -n "$ns" -4 route show table all | norm | sort; ip -n "$ns" -6 route show table all | norm | sort
	ip -n "$ns" -4 rule; ip -n "$ns" -6 rule
	nsrun "$ns" nft list ruleset
}

# gone NS IF: link, socket and daemon are all gone
gone() {
	local ns=$1 dev=$2
	! ip -n "$ns" link show dev "$dev" >/dev/null 2>&1 || { echo "link $dev still exists" >&2; return 1; }
	wait_until 5 test ! -e "$SOCK_DIR/$dev.sock" || { echo "socket of $dev still exists" >&2; return 1; }
	wait_until 5 test -z "$(ip netns pids "$ns")" || { echo "processes left in $ns: $(ip netns pids "$ns")" >&2; return 1; }
}

# same NAME A B: PASS if the two texts are equal, else FAIL with a diff
same() {
	if [[ $2 == "$3" ]]; then
		pass "$1"
	else
		fail "$1" "differs (< first, > second):"
		diff <(echo "$2") <(echo "$3") | head -40
	fi
}

weft_in() { local ns=$1; shift; nsrun "$ns" "$WEFT" "$@"; }
wgquick_in() { local ns=$1; shift; nsrun "$ns" env "${WGQUICK_ENV[@]}" wg-quick "$@"; }

# two_ns SETUP: two fresh namespaces, $a for weft and $b for wg-quick, both
# prepared by the function SETUP (may be "none")
two_ns() {
	a=qw$CASE_NO$TAG b=qg$CASE_NO$TAG
	make_ns "$a" && make_ns "$b" || return 1
	if [[ $1 != none ]]; then
		"$1" "$a" && "$1" "$b" || return 1
	fi
}

# compare_case NAME SETUP CONFIG-BODY: the main comparison. The config is
# written to IF.conf with IF unique to this case and run.
compare_case() {
	local name=$1 setup=$2 body=$3 dir dev file base_a base_b up_w up_g rc
	CASE_NO=$((CASE_NO + 1))
	dev=q$CASE_NO$TAG
	dir=$(new_conf_dir "$name") || { fail "$name" "no temp dir"; return; }
	file=$dir/$dev.conf
	(umask 077; printf '%s\n' "$body" >"$file")
	two_ns "$setup" || { fail "$name" "namespace setup failed"; return; }
	base_a=$(baseline "$a"); base_b=$(baseline "$b")

	rc=0; weft_in "$a" up "$file" >"$dir/weft-up.log" 2>&1 || rc=$?
	if ((rc)); then fail "$name/weft-up" "exit $rc: $(tail -3 "$dir/weft-up.log")"; return; fi
	up_w=$(stable_capture "$a" "$dev")
	rc=0; weft_in "$a" down "$file" >"$dir/weft-down.log" 2>&1 || rc=$?
	((rc == 0)) && pass "$name/weft-down" || fail "$name/weft-down" "exit $rc: $(tail -3 "$dir/weft-down.log")"
	check "$name/weft-down-leaves-nothing" gone "$a" "$dev"
	same "$name/weft-down-restores" "$(baseline "$a")" "$base_a"

	rc=0; wgquick_in "$b" up "$file" >"$dir/wgq-up.log" 2>&1 || rc=$?
	if ((rc)); then fail "$name/wg-quick-up" "exit $rc: $(tail -3 "$dir/wgq-up.log")"; return; fi
	up_g=$(stable_capture "$b" "$dev")
	wgquick_in "$b" down "$file" >"$dir/wgq-down.log" 2>&1 || fail "$name/wg-quick-down" "$(tail -3 "$dir/wgq-down.log")"
	gone "$b" "$dev" || fail "$name/wg-quick-down-leaves-nothing"
	same "$name/wg-quick-down-restores" "$(baseline "$b")" "$base_b"

	same "$name/up-same-as-wg-quick" "$up_w" "$up_g"
	# The checks above only mean something if the case did what it is for.
	if [[ -n ${EXPECT:-} ]]; then
		grep -qE -- "$EXPECT" <<<"$up_w" && pass "$name/expected-state" ||
			fail "$name/expected-state" "no line matching '$EXPECT' in: $up_w"
	fi
	if [[ -n ${REJECT:-} ]]; then
		grep -qE -- "$REJECT" <<<"$up_w" && fail "$name/unexpected-state" "a line matches '$REJECT' in: $up_w" ||
			pass "$name/unexpected-state"
	fi
	EXPECT='' REJECT=''
	LAST_DEV=$dev QUICK_LAST_DIR=$dir
}

# Setups for the auto-MTU cases: a veth pair out of the namespace's world.
# A 1300-byte link with a route "mtu 1400" (IPv4) and "mtu 1450" (IPv6).
setup_mtu_routes() {
	local ns=$1
	ip -n "$ns" link add qv0 mtu 1300 type veth peer name qv1 mtu 1300 &&
	ip -n "$ns" link set qv0 up && ip -n "$ns" link set qv1 up &&
	ip -n "$ns" addr add 192.0.2.254/24 dev qv0 &&
	ip -n "$ns" route add 198.51.100.0/24 dev qv0 mtu 1400 &&
	ip -n "$ns" -6 route add 2001:db8:77::/48 dev qv0 mtu 1450 &&
	wait_link_local "$ns" qv0 qv1
}
# Both ends up means the kernel adds their IPv6 link-local addresses (and
# local routes) a moment later, after duplicate address detection; wait for
# them, so the snapshots before and after a case see the same table.
wait_link_local() {
	local ns=$1 i dev missing
	shift
	for ((i = 0; i < 100; i++)); do
		missing=0
		for dev; do
			ip -n "$ns" -6 route show table local dev "$dev" 2>/dev/null | grep -q '^local fe80::' || missing=1
		done
		((missing)) || return 0
		sleep 0.05
	done
	echo "link-local addresses of $* did not appear in 5 s" >&2
	return 1
}
# A 9000-byte link and no route MTU.
setup_mtu_link() {
	local ns=$1
	ip -n "$ns" link add qv0 mtu 9000 type veth peer name qv1 mtu 9000 &&
	ip -n "$ns" link set qv0 up && ip -n "$ns" addr add 192.0.2.254/24 dev qv0
}
setup_mtu_default() {
	local ns=$1
	ip -n "$ns" link add qv0 type veth peer name qv1 && ip -n "$ns" link set qv0 up &&
	ip -n "$ns" addr add 192.0.2.254/24 dev qv0 &&
	ip -n "$ns" route add default dev qv0 mtu 1360
}
# Table 51820 already holds a route: wg-quick moves on to 51821.
setup_table_busy() {
	local ns=$1
	ip -n "$ns" link add qv0 type veth peer name qv1 && ip -n "$ns" link set qv0 up &&
	ip -n "$ns" route add 203.0.113.0/24 dev qv0 table 51820
}

K1=$(genkey); K2=$(genkey); K3=$(genkey); K4=$(genkey)
P1=$(pub "$(genkey)"); P2=$(pub "$(genkey)"); P3=$(pub "$(genkey)")
PSK=$(wg genpsk)

# ---- the comparison cases ----------------------------------------------------

# quick_compare_cases: every case above the hooks, in order
quick_compare_cases() {
	EXPECT='10\.10\.0\.0/16 dev q[0-9]+ scope link'
	compare_case single none "[Interface]
PrivateKey = $K1
Address = 10.9.0.1/24

[Peer]
PublicKey = $P1
AllowedIPs = 10.9.0.2/32, 10.10.0.0/16
Endpoint = 192.0.2.1:51820"

	EXPECT='10\.30\.0\.0/16 dev'
	compare_case several-peers none "[Interface]
PrivateKey = $K2
ListenPort = 51900
Address = 10.20.0.1/24, 10.20.1.1/32

[Peer]
PublicKey = $P1
PresharedKey = $PSK
AllowedIPs = 10.20.0.2/32, 10.30.0.0/16
Endpoint = 192.0.2.1:51820
PersistentKeepalive = 25

[Peer]
PublicKey = $P2
AllowedIPs = 10.20.0.3/32, 10.30.5.0/24, 172.16.0.0/12

[Peer]
PublicKey = $P3
AllowedIPs = 10.40.0.0/16, 10.40.7.7/32
Endpoint = 192.0.2.3:51821"

	EXPECT='fd10:1::/48 dev q[0-9]+ metric 1024'
	compare_case ipv6 none "[Interface]
PrivateKey = $K3
Address = fd10::1/64

[Peer]
PublicKey = $P1
AllowedIPs = fd10::2/128, fd10:1::/48, 2001:db8:5::/48
Endpoint = [2001:db8::1]:51820"

	EXPECT='not from all fwmark 0xca6c lookup 51820'
	compare_case full-tunnel none "[Interface]
PrivateKey = $K4
Address = 10.50.0.2/32, fd50::2/128

[Peer]
PublicKey = $P1
AllowedIPs = 0.0.0.0/0, ::/0
Endpoint = 192.0.2.1:51820"

	EXPECT='not from all fwmark 0x4d2 lookup 1234'
	compare_case full-tunnel-fwmark none "[Interface]
PrivateKey = $K1
FwMark = 0x4d2
Address = 10.51.0.2/32

[Peer]
PublicKey = $P2
AllowedIPs = 0.0.0.0/0, 10.52.0.0/16"

	EXPECT='lookup 51821'
	compare_case full-tunnel-table-busy setup_table_busy "[Interface]
PrivateKey = $K2
Address = 10.53.0.2/32

[Peer]
PublicKey = $P3
AllowedIPs = 0.0.0.0/0"

	REJECT='^(10\.61\.0\.0/16|default) dev|lookup 518'
	compare_case table-off none "[Interface]
PrivateKey = $K3
Address = 10.60.0.1/24
Table = off

[Peer]
PublicKey = $P1
AllowedIPs = 10.61.0.0/16, 0.0.0.0/0, ::/0"

	EXPECT='default dev q[0-9]+ table 1234'
	compare_case table-number none "[Interface]
PrivateKey = $K4
Address = 10.62.0.1/24
Table = 1234

[Peer]
PublicKey = $P2
AllowedIPs = 10.62.0.0/24, 10.63.0.0/16, 0.0.0.0/0"

	# A table by name ("main" is one every system has): routes go there as
	# given, /0 included, with no policy rules.
	EXPECT='^default dev q[0-9]+ scope link'
	REJECT='lookup 518'
	compare_case table-name none "[Interface]
PrivateKey = $K1
Address = 10.64.0.1/24
Table = main

[Peer]
PublicKey = $P3
AllowedIPs = 10.65.0.0/16, 0.0.0.0/0"

	EXPECT='mtu 1280 '
	compare_case mtu none "[Interface]
PrivateKey = $K1
Address = 10.70.0.1/24
MTU = 1280

[Peer]
PublicKey = $P1
AllowedIPs = 10.71.0.0/16
Endpoint = 192.0.2.1:51820"

	# Endpoints through a 1300-byte link, one by a route with "mtu 1400": the
	# largest wins, minus 80.
	EXPECT='mtu 1320 '
	compare_case mtu-auto-route setup_mtu_routes "[Interface]
PrivateKey = $K2
Address = 10.72.0.1/24

[Peer]
PublicKey = $P1
AllowedIPs = 10.73.0.0/16
Endpoint = 198.51.100.1:51820

[Peer]
PublicKey = $P2
AllowedIPs = 10.74.0.0/16
Endpoint = 192.0.2.1:51820"

	EXPECT='mtu 1370 '
	compare_case mtu-auto-route6 setup_mtu_routes "[Interface]
PrivateKey = $K3
Address = 10.72.0.1/24

[Peer]
PublicKey = $P1
AllowedIPs = 10.73.0.0/16
Endpoint = [2001:db8:77::1]:51820

[Peer]
PublicKey = $P2
AllowedIPs = 10.74.0.0/16
Endpoint = 198.51.100.1:51820"

	# Only the link's MTU (9000) is known.
	EXPECT='mtu 8920 '
	compare_case mtu-auto-link setup_mtu_link "[Interface]
PrivateKey = $K4
Address = 10.72.0.1/24

[Peer]
PublicKey = $P1
AllowedIPs = 10.73.0.0/16
Endpoint = 192.0.2.1:51820"

	# No endpoint: the default route's "mtu 1360" decides.
	EXPECT='mtu 1280 '
	compare_case mtu-auto-default setup_mtu_default "[Interface]
PrivateKey = $K3
Address = 10.75.0.1/24

[Peer]
PublicKey = $P3
AllowedIPs = 10.76.0.0/16"
}
