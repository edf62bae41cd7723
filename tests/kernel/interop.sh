#!/bin/bash
# tests/kernel/interop.sh: weftd against the Linux kernel's WireGuard module,
# inside the kernel VM (run it with tests/kernel/vm-run, which
# tests/net/90-kernel-interop.sh does). Both roles, IPv4 and IPv6 underlay,
# checksummed transfers, full-MTU packets, preshared keys, persistent
# keepalives seen on the wire, roaming in both directions, what `wg show`
# says on both sides, and wireguard-go against the module once as a control.
#
#   netns k<tag> (kernel module)                    netns u<tag> (userspace)
#   wgk<N>  10.40.N.1/24 fd40:N::1/64   <== leg N ==>  wgu<N>  10.40.N.2/24 fd40:N::2/64
#   veth vk<N>                                      veth vu<N>
#     10.214.N.1/24 fd14:N::1/64  ---------------   10.214.N.2/24 fd14:N::2/64
#   (the side that moves takes .11 / ::11 instead of .1 / ::1 or .2 / ::2)
#
#   leg  userspace     first packet  underlay  PSK  keepalive  transfer  moves
#   1    weftd         weftd         IPv4      yes  weftd      20 MB u->k  kernel
#   2    weftd         kernel        IPv6      yes  kernel     20 MB k->u  weftd
#   3    weftd         weftd         IPv6      no   -          2 MB k->u   kernel
#   4    weftd         kernel        IPv4      no   -          2 MB u->k   weftd
#   5    wireguard-go  wireguard-go  IPv4      yes  -          2 MB u->k   -
#   6    weftd         weftd         IPv4      two  -          none        -
#
# Leg 6 gives the sides different preshared keys: no handshake may complete,
# which shows that the key is used at all.
# Only the initiating side has the other's endpoint, so the responder learns
# it from the handshake. The interfaces of the two sides have different
# names: /run/wireguard is shared by every namespace here, and `wg` would
# take a UAPI socket over a kernel interface of the same name.
. "$(dirname "$0")/../net/lib.sh"
TEST_NAME=kernel-interop
[[ -n ${WEFT_VM_RELEASE:-} ]] || { fail vm "runs inside the kernel VM: tests/kernel/vm-run $0"; exit 1; }
require_weftd
require_commands tcpdump python3

K=k$TAG U=u$TAG
make_ns "$K" && make_ns "$U" || { fail netns "cannot create namespaces"; exit 1; }
KK=$(keyfile) KU=$(keyfile) KG=$(keyfile)
PK=$(pubkey_of "$KK") PU=$(pubkey_of "$KU") PG=$(pubkey_of "$KG")
PSK=$(keyfile) PSK2=$(keyfile)
KEEPALIVES=()
BIG=$WEFT_TMP/big SMALL=$WEFT_TMP/small
head -c 20000000 /dev/urandom >"$BIG" && head -c 2000000 /dev/urandom >"$SMALL" ||
	{ fail data "cannot make test data"; exit 1; }

# N USERSPACE INITIATOR FAMILY PSK KEEPALIVE SIZE DIRECTION MOVER
LEGS=(
	"1 weftd weftd 4 psk weftd big u2k kernel"
	"2 weftd kernel 6 psk kernel big k2u weftd"
	"3 weftd weftd 6 - - small k2u kernel"
	"4 weftd kernel 4 - - small u2k weftd"
	"5 wireguard-go wireguard-go 4 psk - small u2k -"
	"6 weftd weftd 4 mismatch - - - -"
)
legname() { set -- $1; echo "leg$1-$2-$3-starts-ipv$4"; }
under() { [[ $2 == 4 ]] && echo "10.214.$1.$3" || echo "fd14:$1::$3"; }
ep() { [[ $2 == 4 ]] && echo "10.214.$1.$3:$4" || echo "[fd14:$1::$3]:$4"; }

setup() { # N USERSPACE INITIATOR FAMILY PSK KEEPALIVE ...
	local n=$1 ik=wgk$1 iu=wgu$1 port=$((51900 + $1)) pk_psk=() pu_psk=() kk=() ku=()
	local ukey=$KU upub=$PU
	[[ $2 == wireguard-go ]] && ukey=$KG upub=$PG
	link_ns "$K" "vk$n" "10.214.$n.1/24" "$U" "vu$n" "10.214.$n.2/24" &&
		add_addr "$K" "vk$n" "fd14:$n::1/64" && add_addr "$U" "vu$n" "fd14:$n::2/64" || return 1
	[[ $5 == psk ]] && pk_psk=(preshared-key "$PSK") && pu_psk=(preshared-key "$PSK")
	[[ $5 == mismatch ]] && pk_psk=(preshared-key "$PSK") && pu_psk=(preshared-key "$PSK2")
	[[ $6 == kernel ]] && kk=(persistent-keepalive 1)
	[[ $6 == weftd ]] && ku=(persistent-keepalive 1)
	ip -n "$K" link add "$ik" type wireguard || return 1
	start_daemon "$U" "$iu" "$2" || return 1
	wg_iface "$K" "$ik" "$KK" "$port" "10.40.$n.1/24" "fd40:$n::1/64" &&
		wg_iface "$U" "$iu" "$ukey" "$port" "10.40.$n.2/24" "fd40:$n::2/64" || return 1
	# the responder first: a persistent keepalive makes the initiator send
	# its first handshake at once, and one to a peer that does not know it
	# yet is only retried after REKEY_TIMEOUT (5 s)
	if [[ $3 == kernel ]]; then
		nsrun "$U" wg set "$iu" peer "$PK" allowed-ips "10.40.$n.1/32,fd40:$n::1/128" "${pu_psk[@]}" "${ku[@]}" &&
			nsrun "$K" wg set "$ik" peer "$upub" allowed-ips "10.40.$n.2/32,fd40:$n::2/128" \
				"${pk_psk[@]}" "${kk[@]}" endpoint "$(ep "$n" "$4" 2 "$port")"
	else
		nsrun "$K" wg set "$ik" peer "$upub" allowed-ips "10.40.$n.2/32,fd40:$n::2/128" "${pk_psk[@]}" "${kk[@]}" &&
			nsrun "$U" wg set "$iu" peer "$PK" allowed-ips "10.40.$n.1/32,fd40:$n::1/128" \
				"${pu_psk[@]}" "${ku[@]}" endpoint "$(ep "$n" "$4" 1 "$port")"
	fi
}

# wg_field NS IF PEER WHAT: one column of `wg show IF WHAT` for PEER
wg_field() { nsrun "$1" wg show "$2" "$4" | awk -v k="$3" '$1 == k { print $2 }'; }
# ping_df NS ADDR SIZE: one echo of SIZE bytes, not fragmented, answered
ping_df() { nsrun "$1" ping -c 1 -W 2 -q -M do -s "$3" "$2" >/dev/null 2>&1; }
# cat_mtu NS IF: the link's MTU
cat_mtu() { nsrun "$1" cat "/sys/class/net/$2/mtu"; }
# the peer's allowed IPs, space-separated
allowed_of() { nsrun "$1" wg show "$2" allowed-ips | awk -v k="$3" '$1 == k { $1 = ""; print substr($0, 2) }'; }
# the peer's rx and tx byte counters
transfer_of() { nsrun "$1" wg show "$2" transfer | awk -v k="$3" '$1 == k { print $2, $3 }'; }
# show_sane NS IF PEER MINRX MINTX: a recent handshake and at least these counts
show_sane() {
	local hs rx tx now
	hs=$(handshake_time "$1" "$2" "$3") now=$(date +%s)
	read -r rx tx < <(transfer_of "$1" "$2" "$3")
	((hs > 0 && now - hs < 180)) || { echo "$2: latest handshake $hs, now $now" >&2; return 1; }
	((rx >= $4 && tx >= $5)) || { echo "$2: transfer rx $rx tx $tx, want >= $4 / $5" >&2; return 1; }
}
# the module's link type, and no UAPI socket that `wg` could prefer
is_module_link() { ip -n "$1" -d link show "$2" | grep -qw wireguard && [[ ! -e /run/wireguard/$2.sock ]]; }
endpoint_is() { [[ $(endpoint_of "$1" "$2" "$3") == "$4" ]]; }

for leg in "${LEGS[@]}"; do
	set -- $leg
	n=$1 name=$(legname "$leg") ik=wgk$1 iu=wgu$1 port=$((51900 + $1))
	upub=$PU
	[[ $2 == wireguard-go ]] && upub=$PG
	echo "--- $name (at $SECONDS s)"
	if ! setup "$@"; then fail "$name/setup" "cannot create or configure the interfaces"; continue; fi
	check "$name/kernel-side-is-the-module" is_module_link "$K" "$ik"
	if [[ $5 == mismatch ]]; then
		check "$name/no-tunnel" ping_fails "$U" "10.40.$n.1"
		check "$name/no-handshake-kernel" test "$(handshake_time "$K" "$ik" "$upub")" == 0
		check "$name/no-handshake-userspace" test "$(handshake_time "$U" "$iu" "$PK")" == 0
		continue
	fi
	if [[ $3 == kernel ]]; then
		check "$name/handshake-ping" wait_until 15 ping_ok "$K" "10.40.$n.2"
	else
		check "$name/handshake-ping" wait_until 15 ping_ok "$U" "10.40.$n.1"
	fi
	check "$name/ping6-k2u" wait_until 5 ping_ok "$K" "fd40:$n::2"
	check "$name/ping6-u2k" wait_until 5 ping_ok "$U" "fd40:$n::1"
	# the responder learnt the initiator's underlay endpoint
	if [[ $3 == kernel ]]; then
		check "$name/responder-learnt-endpoint" endpoint_is "$U" "$iu" "$PK" "$(ep "$n" "$4" 1 "$port")"
	else
		check "$name/responder-learnt-endpoint" endpoint_is "$K" "$ik" "$upub" "$(ep "$n" "$4" 2 "$port")"
	fi

	# the largest unfragmented packet of the smaller MTU, both ways (IPv4)
	mtu=$(( $(cat_mtu "$K" "$ik") < $(cat_mtu "$U" "$iu") ? $(cat_mtu "$K" "$ik") : $(cat_mtu "$U" "$iu") ))
	check "$name/full-mtu-k2u" wait_until 6 ping_df "$K" "10.40.$n.2" $((mtu - 28))
	check "$name/full-mtu-u2k" wait_until 6 ping_df "$U" "10.40.$n.1" $((mtu - 28))
	# each side lists the other's tunnel addresses as they were set
	check "$name/allowed-ips-kernel" test "$(allowed_of "$K" "$ik" "$upub")" == "10.40.$n.2/32 fd40:$n::2/128"
	check "$name/allowed-ips-userspace" test "$(allowed_of "$U" "$iu" "$PK")" == "10.40.$n.1/32 fd40:$n::1/128"
	file=$SMALL
	[[ $7 == big ]] && file=$BIG
	size=$(stat -c %s "$file")
	if [[ $8 == u2k ]]; then
		check "$name/transfer-u2k-sha256" transfer_ok "$U" "$K" "10.40.$n.1" 5000 "$file" 120
		# wg show: the sender sent and the receiver received at least the file
		check "$name/wg-show-kernel" show_sane "$K" "$ik" "$upub" "$size" 0
		check "$name/wg-show-userspace" show_sane "$U" "$iu" "$PK" 0 "$size"
	else
		check "$name/transfer-k2u-sha256" transfer_ok "$K" "$U" "fd40:$n::2" 5000 "$file" 120
		check "$name/wg-show-kernel" show_sane "$K" "$ik" "$upub" 0 "$size"
		check "$name/wg-show-userspace" show_sane "$U" "$iu" "$PK" "$size" 0
	fi

	if [[ $5 == psk ]]; then
		want=$(cat "$PSK")
		check "$name/psk-kernel" test "$(wg_field "$K" "$ik" "$upub" preshared-keys)" == "$want"
		check "$name/psk-userspace" test "$(wg_field "$U" "$iu" "$PK" preshared-keys)" == "$want"
	else
		check "$name/no-psk" test "$(wg_field "$K" "$ik" "$upub" preshared-keys)" == "(none)"
	fi

	if [[ $6 != - ]]; then
		if [[ $6 == kernel ]]; then
			kns=$K kif=$ik kpub=$upub dev=vk$n src=$(under "$n" "$4" 1)
		else
			kns=$U kif=$iu kpub=$PK dev=vu$n src=$(under "$n" "$4" 2)
		fi
		check "$name/keepalive-shown" test "$(wg_field "$kns" "$kif" "$kpub" persistent-keepalive)" == 1
		KEEPALIVES+=("$name $6 $kns $dev $src $4")
	fi
done

echo "--- keepalives on the wire, every leg that has them at once"
# the tunnels are idle now: count each sender's 32-byte data messages (type
# 4, UDP length 40) on its veth over 4 s once every capture has started, one
# a second expected. libpcap's udp[] does not reach past an IPv6 header,
# hence ip6[] for those.
pids=()
for ka in "${KEEPALIVES[@]}"; do
	set -- $ka
	if [[ $6 == 4 ]]; then filter="udp and src host $5 and udp[4:2] = 40 and udp[8:4] = 0x04000000"
	else filter="ip6 and udp and src host $5 and ip6[44:2] = 40 and ip6[48:4] = 0x04000000"; fi
	nsrun "$3" timeout 30 tcpdump -n -l -i "$4" -Q out "$filter" >"$WEFT_TMP/ka-$4" 2>"$WEFT_TMP/ka-$4.err" &
	pids+=($!)
done
started() { local ka; for ka in "${KEEPALIVES[@]}"; do set -- $ka; grep -q 'listening on' "$WEFT_TMP/ka-$4.err" || return 1; done; }
wait_until 15 started || echo "not every capture started: $(cat "$WEFT_TMP"/ka-*.err)" >&2
before=()
for ka in "${KEEPALIVES[@]}"; do set -- $ka; before+=("$(wc -l <"$WEFT_TMP/ka-$4")"); done
sleep 4
i=0
for ka in "${KEEPALIVES[@]}"; do
	set -- $ka
	seen=$(($(wc -l <"$WEFT_TMP/ka-$4") - before[i++]))
	if ((seen >= 2)); then pass "$1/keepalive-from-$2-on-wire"; else
		fail "$1/keepalive-from-$2-on-wire" "$seen keepalives from $5 in 4 s, want >= 2"; fi
done
# (a capture the kill misses ends by its timeout or with its namespace)
kill "${pids[@]}" 2>/dev/null

echo "--- roaming: the responder of each leg moves, the initiator follows"
for leg in "${LEGS[@]}"; do
	set -- $leg
	[[ ${9} == - ]] && continue
	n=$1 name=$(legname "$leg") ik=wgk$1 iu=wgu$1 port=$((51900 + $1))
	if [[ $9 == kernel ]]; then
		mns=$K mdev=vk$n old=1 sns=$U sif=$iu mpub=$PK to=10.40.$n.2 back=10.40.$n.1
	else
		mns=$U mdev=vu$n old=2 sns=$K sif=$ik mpub=$PU to=10.40.$n.1 back=10.40.$n.2
	fi
	if [[ $4 == 4 ]]; then
		echo 1 | nsrun "$mns" tee "/proc/sys/net/ipv4/conf/$mdev/promote_secondaries" >/dev/null
		add_addr "$mns" "$mdev" "10.214.$n.11/24" && ip -n "$mns" addr del "10.214.$n.$old/24" dev "$mdev"
	else
		add_addr "$mns" "$mdev" "fd14:$n::11/64" && ip -n "$mns" addr del "fd14:$n::$old/64" dev "$mdev"
	fi || { fail "$name/move" "cannot change the addresses of $mdev"; continue; }
	# the mover speaks first: the other side cannot know where it went
	check "$name/moved-$9/ping-from-mover" wait_until 10 ping_ok "$mns" "$to"
	check "$name/moved-$9/endpoint-followed" wait_until 3 endpoint_is "$sns" "$sif" "$mpub" "$(ep "$n" "$4" 11 "$port")"
	check "$name/moved-$9/ping-to-mover" wait_until 5 ping_ok "$sns" "$back"
done

# the module said nothing alarming while it ran
if dmesg | grep -qE 'WARNING:|BUG:|Oops|general protection'; then
	fail dmesg "the kernel logged a warning: $(dmesg | grep -m1 -E 'WARNING:|BUG:|Oops|general protection')"
else
	pass dmesg-clean
fi
exit $FAILED
