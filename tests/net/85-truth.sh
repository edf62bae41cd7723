#!/bin/bash
# tests/net/85-truth.sh: weft and weftd never claim what is not true.
#
#   netns tp<pid>: loopback only
#     a holder process (python) keeps UDP ports busy, v4 or v6
#     tw<pid>:  weftd -f, no LOG_LEVEL (its default: errors only)
#     tl<pid>:  weftd daemonized in a private mount namespace with its own /dev/log
#     tc<pid>:  weftd, 200 concurrent `wg` clients and a slowloris client
#     ta, tu, td, te, tf, tg<pid>: `weft interface add` / `weft up`
#   netns tq<pid>                                 netns tr<pid>
#     veth vq<pid> 192.168.85.1/24 ------------ veth vr<pid> 192.168.85.2/24
#     default route via .2 (later removed)
#     ts<pid>: `weft interface add`, `weft peer add` without a public address
# Configs live in a temporary WEFT_CONFIG_DIR; nothing under /etc is touched.
#
# Checks:
#   port/set-down-taken   `wg set listen-port P` on a down link with P taken
#                         fails with "Address already in use"; the port is
#                         not reported
#   port/setconf-taken    so does `wg setconf` with ListenPort = P
#   port/up-taken         P free at set, taken before `ip link set up`: the
#                         error is in the default log, `wg show` reports no
#                         port and weftd holds no UDP socket
#   port/up-retry         after the holder leaves, down + up binds P
#   port/live-change      a taken port while up: errno, old port kept and bound
#   port/daemon-syslog    daemonized without LOG_LEVEL, the failure at up reaches
#                         syslog (a /dev/log of the test's own, in a private
#                         mount namespace)
#   add-taken, up-taken   weft interface add / weft up with a taken port fail,
#                         naming it, and leave no link, socket, daemon or file
#   default-port          interface add without a port: 51820 or the first free
#                         one above (IPv4 and IPv6), saved, the same after remove
#                         + add and after weft up; ports other configs name skipped
#   perm                  as nobody: "Permission denied" / "must be run as root",
#                         non-zero, never "no such file" (wg itself as reference)
#   fallback              peer add without a public address (default route's
#                         source, or no Endpoint with a comment)
#   qr-png                no output written through a symlink planted at PATH
#   uapi/200-clients      200 concurrent `wg show`/`wg set` all answered, while
#                         a set holds the lock for a while
#   uapi/slowloris        a client trickling bytes inside a set is dropped
#                         after the stall limit; `wg show` works again
. "$(dirname "$0")/lib.sh"
TEST_NAME=truth
require_weftd
require_commands python3 ss

NS=tp$TAG IW=tw$TAG IC=tc$TAG
make_ns "$NS" || { fail netns "cannot create the namespace"; exit 1; }
on_exit "rm -f /var/run/wireguard/$IW.sock /var/run/wireguard/$IC.sock"

# hold NS FAMILY PORT: a process keeps FAMILY (4 or 6) UDP PORT bound in NS;
# its pid in HOLDER
PY_HOLD='
import socket, sys, time
fam = socket.AF_INET6 if sys.argv[1] == "6" else socket.AF_INET
s = socket.socket(fam, socket.SOCK_DGRAM)
if fam == socket.AF_INET6:
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
s.bind(("::" if fam == socket.AF_INET6 else "0.0.0.0", int(sys.argv[2])))
print("bound", flush=True)
time.sleep(600)
'
hold() {
	local out=$WEFT_TMP/hold.$2.$3
	: >"$out"
	ip netns exec "$1" python3 -c "$PY_HOLD" "$2" "$3" >"$out" 2>&1 & # exec: $! is python
	HOLDER=$!
	on_exit "kill $HOLDER"
	wait_until 5 grep -q bound "$out"
}
unhold() { kill "$HOLDER" 2>/dev/null; wait "$HOLDER" 2>/dev/null; }

# udp_bound NS PORT: some socket in NS is bound to UDP PORT
udp_bound() { nsrun "$1" ss -Huan "sport = :$2" | grep -q .; }
# weftd_udp NS PID: the UDP ports the process PID holds, one a line
weftd_udp() { nsrun "$1" ss -Huanp | grep "pid=$2," | awk '{ sub(/.*:/, "", $4); print $4 }' | sort -u; }

echo "--- listen port taken (weftd)"
LOG=$WEFT_TMP/weftd-$IW.log
ip netns exec "$NS" env -u LOG_LEVEL "$WEFTD" -f "$IW" >"$LOG" 2>&1 &
WPID=$!
on_exit "kill $WPID"
wait_until 5 nsrun "$NS" test -S "/var/run/wireguard/$IW.sock" || fail setup "weftd did not start"
K=$(keyfile)

hold "$NS" 4 51850 || fail setup "cannot hold port 51850"
out=$(nsrun "$NS" wg set "$IW" private-key "$K" listen-port 51850 2>&1); rc=$?
check "port/set-down-taken/fails" test "$rc" -ne 0
check "port/set-down-taken/says-why" grep -q "Address already in use" <<<"$out"
check "port/set-down-taken/not-reported" test "$(nsrun "$NS" wg show "$IW" listen-port)" != 51850

printf '[Interface]\nListenPort = 51850\n' >"$WEFT_TMP/setconf.conf"
out=$(nsrun "$NS" wg setconf "$IW" "$WEFT_TMP/setconf.conf" 2>&1); rc=$?
check "port/setconf-taken/fails" test "$rc" -ne 0
check "port/setconf-taken/says-why" grep -q "Address already in use" <<<"$out"
unhold

# free when set, taken (IPv6 only) by the time the link comes up
check "port/set-down-free" nsrun "$NS" wg set "$IW" listen-port 51851
check "port/set-down-free/reported" test "$(nsrun "$NS" wg show "$IW" listen-port)" = 51851
hold "$NS" 6 51851 || fail setup "cannot hold port 51851"
ip -n "$NS" link set "$IW" up
sleep 0.5
check "port/up-taken/error-logged" grep -q "listen port 51851: Address already in use" "$LOG"
check "port/up-taken/not-reported" test "$(nsrun "$NS" wg show "$IW" listen-port)" = 0
check "port/up-taken/no-socket" test -z "$(weftd_udp "$NS" "$WPID")"
unhold
ip -n "$NS" link set "$IW" down
check "port/down-again/asked-port-reported" test "$(nsrun "$NS" wg show "$IW" listen-port)" = 51851
ip -n "$NS" link set "$IW" up
sleep 0.5
check "port/up-retry/reported" test "$(nsrun "$NS" wg show "$IW" listen-port)" = 51851
check "port/up-retry/bound" test "$(weftd_udp "$NS" "$WPID")" = 51851

hold "$NS" 4 51852 || fail setup "cannot hold port 51852"
out=$(nsrun "$NS" wg set "$IW" listen-port 51852 2>&1); rc=$?
check "port/live-change/fails" test "$rc" -ne 0
check "port/live-change/says-why" grep -q "Address already in use" <<<"$out"
check "port/live-change/old-port-kept" test "$(nsrun "$NS" wg show "$IW" listen-port)" = 51851
check "port/live-change/old-port-bound" test "$(weftd_udp "$NS" "$WPID")" = 51851
unhold

echo "--- a daemonized weftd without LOG_LEVEL sends the bind failure to syslog"
# In a mount namespace of its own, /dev is a small tmpfs (null and net/tun
# bound from the real one) whose /dev/log a python receiver owns, so nothing
# of the machine's /dev changes. weftd keeps that namespace once daemonized.
IL=tl$TAG
on_exit "rm -f /var/run/wireguard/$IL.sock"
SYSLOG=$WEFT_TMP/syslog.txt
PY_SYSLOG='
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("/dev/log")
with open(sys.argv[1], "ab", buffering=0) as f:
    f.write(b"ready %d\n" % os.getpid())
    while True:
        f.write(s.recv(4096) + b"\n")
'
: >"$SYSLOG"
mkdir "$WEFT_TMP/olddev"
unshare -m --propagation private env -u LOG_LEVEL bash -c '
	mount --bind /dev "$1/olddev" && mount -t tmpfs -o mode=755 tmpfs /dev &&
	touch /dev/null && mount --bind "$1/olddev/null" /dev/null &&
	mkdir /dev/net && touch /dev/net/tun && mount --bind "$1/olddev/net/tun" /dev/net/tun || exit 1
	python3 -c "$2" "$3" &
	for _ in $(seq 50); do grep -q ready "$3" && break; sleep 0.1; done
	ip netns exec "$4" "$5" "$6"
	wait
' _ "$WEFT_TMP" "$PY_SYSLOG" "$SYSLOG" "$NS" "$WEFTD" "$IL" >/dev/null 2>&1 &
if wait_until 5 nsrun "$NS" test -S "/var/run/wireguard/$IL.sock"; then
	on_exit "kill $(awk '/^ready/ { print $2 }' "$SYSLOG")"
	nsrun "$NS" wg set "$IL" listen-port 51854 # free now
	hold "$NS" 4 51854 || fail setup "cannot hold port 51854"
	ip -n "$NS" link set "$IL" up
	check "port/daemon-syslog/error-logged" wait_until 5 grep -q "weftd\[[0-9]*\]: ($IL) Unable to update bind: listen port 51854: Address already in use" "$SYSLOG"
	check "port/daemon-syslog/not-reported" test "$(nsrun "$NS" wg show "$IL" listen-port)" = 0
	unhold
	ip -n "$NS" link del "$IL"
else
	fail port/daemon-syslog "weftd did not start in the mount namespace"
fi

echo "--- many UAPI clients at once"
SOCK=/var/run/wireguard/$IC.sock
start_daemon "$NS" "$IC" weftd && wg_iface "$NS" "$IC" "$K" 51853 || fail setup "cannot start $IC"
# uapi_client SOCK MODE: MODE hold (a set that sends a whole line every
# 0.5 s for 3 s, then ends) or loris (a set trickling one byte every 0.3 s
# without a newline); prints what happened to it
PY_UAPI='
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
s.sendall(b"set=1\n")
start = time.monotonic()
if sys.argv[2] == "hold":
    print("inside a set", flush=True)
    while time.monotonic() - start < 3:
        time.sleep(0.5)
        s.sendall(b"fwmark=0\n")
    s.sendall(b"\n")
    print(s.recv(100).decode().strip())
else:
    print("inside a set", flush=True)
    try:
        while time.monotonic() - start < 20:
            s.sendall(b"l")
            time.sleep(0.3)
        print("still connected after 20 s")
    except OSError:
        print("dropped after %.1f s" % (time.monotonic() - start))
'
: >"$WEFT_TMP/hold.out"
ip netns exec "$NS" python3 -c "$PY_UAPI" "$SOCK" hold >"$WEFT_TMP/hold.out" 2>&1 &
HOLD=$!
wait_until 5 grep -q "inside a set" "$WEFT_TMP/hold.out" || fail uapi/200-clients/setup "the holder did not start"
# 100 distinct public keys (any 32 bytes will do for a peer's key)
mapfile -t KEYS < <(python3 -c 'import base64
for i in range(100): print(base64.b64encode(bytes([i + 1]) * 32).decode())')
pids=()
t0=$(date +%s%N)
for i in $(seq 200); do
	if ((i % 2)); then
		ip netns exec "$NS" wg show "$IC" dump >"$WEFT_TMP/c$i.out" 2>&1 &
	else
		ip netns exec "$NS" wg set "$IC" peer "${KEYS[i / 2 - 1]}" \
			allowed-ips "10.85.0.$((i / 2))/32" >"$WEFT_TMP/c$i.out" 2>&1 &
	fi
	pids+=($!)
done
bad=0
for p in "${pids[@]}"; do wait "$p" || bad=$((bad + 1)); done
waited=$((($(date +%s%N) - t0) / 1000000)) # the set holds the lock for 3 s
wait "$HOLD"
echo "# 200 concurrent wg clients behind a 3 s set: $bad failed, all done after $waited ms"
check "uapi/200-clients/all-answered" test "$bad" -eq 0
check "uapi/200-clients/holder-answered" grep -qx "errno=0" "$WEFT_TMP/hold.out"
check "uapi/200-clients/they-waited-for-the-set" test "$waited" -ge 1500
check "uapi/200-clients/every-set-applied" test "$(nsrun "$NS" wg show "$IC" peers | wc -l)" -eq 100
((bad)) && grep -hi "unable\|error" "$WEFT_TMP"/c*.out | sort | uniq -c | head -n 5

: >"$WEFT_TMP/loris.out"
ip netns exec "$NS" python3 -c "$PY_UAPI" "$SOCK" loris >"$WEFT_TMP/loris.out" 2>&1 &
LORIS=$!
wait_until 5 grep -q "inside a set" "$WEFT_TMP/loris.out" || fail uapi/slowloris/setup "the client did not start"
start=$(date +%s%N) # its set began just before
sleep 0.3
check "uapi/slowloris/others-served" nsrun "$NS" timeout 15 wg show "$IC" listen-port >/dev/null
ms=$((($(date +%s%N) - start) / 1000000))
echo "# wg show behind a slowloris set answered $ms ms after the set began"
check "uapi/slowloris/held-until-dropped" test "$ms" -ge 4000
check "uapi/slowloris/within-stall-limit" test "$ms" -lt 8000
wait "$LORIS"
check "uapi/slowloris/dropped" grep -q "^dropped" "$WEFT_TMP/loris.out"

echo "--- weft interface add / up with a taken port"
export WEFT_CONFIG_DIR=$WEFT_TMP/etc
mkdir -m 700 "$WEFT_CONFIG_DIR"
export WEFT_DAEMON=$WEFTD
IA=ta$TAG IU=tu$TAG ID=td$TAG IE=te$TAG
on_exit "rm -f /var/run/wireguard/$IA.sock /var/run/wireguard/$IU.sock /var/run/wireguard/$ID.sock /var/run/wireguard/$IE.sock"
# nothing_left NAME IF: no link, no socket file, no daemon, no config file
nothing_left() {
	check "$1/no-link" eval "! ip -n '$NS' link show '$2' >/dev/null 2>&1"
	check "$1/no-socket" test ! -e "/var/run/wireguard/$2.sock"
	check "$1/no-daemon" test -z "$(daemon_pid "$NS" "$2")"
}
hold "$NS" 4 51860 || fail setup "cannot hold port 51860"
out=$(nsrun "$NS" "$WEFT" interface add "$IA" --listen-port 51860 --address 10.86.0.1/24 2>&1); rc=$?
echo "# interface add, port taken: $out"
check "add-taken/fails" test "$rc" -ne 0
check "add-taken/names-port-and-reason" grep -q "51860.*Address already in use" <<<"$out"
nothing_left add-taken "$IA"
check "add-taken/no-config" test ! -e "$WEFT_CONFIG_DIR/$IA.conf"
check "add-taken/no-file-at-all" test -z "$(ls -A "$WEFT_CONFIG_DIR" | grep -F "$IA")"

(umask 077; printf '[Interface]\nPrivateKey = %s\nListenPort = 51860\nAddress = 10.88.0.1/24\n' "$(wg genkey)" \
	>"$WEFT_CONFIG_DIR/$IU.conf")
sum=$(sha256sum <"$WEFT_CONFIG_DIR/$IU.conf")
out=$(nsrun "$NS" "$WEFT" up "$IU" 2>&1); rc=$?
echo "# up, port taken: $(tail -n 2 <<<"$out" | tr '\n' ' ')"
check "up-taken/fails" test "$rc" -ne 0
check "up-taken/names-port-and-reason" grep -q "51860.*Address already in use" <<<"$out"
nothing_left up-taken "$IU"
check "up-taken/config-unchanged" test "$(sha256sum <"$WEFT_CONFIG_DIR/$IU.conf")" = "$sum"
check "up-taken/no-new-file" test "$(ls -A "$WEFT_CONFIG_DIR" | grep -F "$IU")" = "$IU.conf"
unhold

echo "--- weft interface add without --listen-port"
hold "$NS" 6 51820 || fail setup "cannot hold port 51820 (IPv6)"
out=$(nsrun "$NS" "$WEFT" interface add "$ID" --address 10.87.0.1/24 2>&1) || fail default-port/add "$out"
port=$(nsrun "$NS" wg show "$ID" listen-port)
check "default-port/first-free-above-51820" test "$port" = 51821
check "default-port/saved" grep -qx "ListenPort = 51821" "$WEFT_CONFIG_DIR/$ID.conf"
out=$(nsrun "$NS" "$WEFT" interface add "$IE" --address 10.89.0.1/24 2>&1) || fail default-port/add-second "$out"
check "default-port/next-one-skips-ours" test "$(nsrun "$NS" wg show "$IE" listen-port)" = 51822
nsrun "$NS" "$WEFT" interface remove "$IE"
nsrun "$NS" "$WEFT" interface remove "$ID"
out=$(nsrun "$NS" "$WEFT" interface add "$ID" 2>&1) || fail default-port/add-again "$out"
check "default-port/kept-by-add" test "$(nsrun "$NS" wg show "$ID" listen-port)" = 51821
nsrun "$NS" "$WEFT" interface remove "$ID"
out=$(nsrun "$NS" "$WEFT" up "$ID" 2>&1) || fail default-port/up "$out"
check "default-port/kept-by-up" test "$(nsrun "$NS" wg show "$ID" listen-port)" = 51821
unhold

echo "--- permissions"
# as nobody, every command says so and fails, as wg does
as_nobody() { nsrun "$NS" setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
out=$(as_nobody wg show 2>&1); rc=$?
check "perm/wg-itself/denied" eval "((rc != 0)) && grep -q 'Permission denied' <<<\"\$out\""
PK=$(wg genkey | wg pubkey)
for cmd in "show" "show all dump" "show $ID" "interface list" "peer add $ID --public-key $PK" \
	"strip $ID" "interface remove $ID" "interface add tz$TAG" "down $ID"; do
	out=$(as_nobody "$WEFT" $cmd 2>&1); rc=$?
	name="perm/${cmd%% --*}"
	name=${name// /-}
	check "$name/fails" test "$rc" -ne 0
	check "$name/says-why" grep -qi "permission denied\|must be run as root" <<<"$out"
	check "$name/no-false-reason" eval "! grep -qi 'no such\|does not exist\|no config' <<<\"\$out\""
	[[ $rc == 0 ]] || grep -qi "permission denied\|must be run as root" <<<"$out" || echo "#   $cmd: $out"
done
check "perm/nothing-changed" test "$(nsrun "$NS" wg show "$ID" peers | wc -l)" = 0
nsrun "$NS" "$WEFT" down "$ID" >/dev/null 2>&1

echo "--- a port another interface's config names is not offered, even while it is down"
# the configs here: $ID (ListenPort 51821, now down), $IE (51822, removed), $IU (51860)
IF=tf$TAG IG=tg$TAG
on_exit "rm -f /var/run/wireguard/$IF.sock /var/run/wireguard/$IG.sock"
out=$(nsrun "$NS" "$WEFT" interface add "$IF" --address 10.91.0.1/24 2>&1) || fail claimed/add "$out"
check "claimed/first-free-and-unclaimed" test "$(nsrun "$NS" wg show "$IF" listen-port)" = 51820
out=$(nsrun "$NS" "$WEFT" interface add "$IG" --address 10.92.0.1/24 2>&1) || fail claimed/add-second "$out"
check "claimed/skips-ports-in-configs" test "$(nsrun "$NS" wg show "$IG" listen-port)" = 51823
nsrun "$NS" "$WEFT" interface remove "$IG"
nsrun "$NS" "$WEFT" interface remove "$IF"

echo "--- peer add without a public address"
SQ=tq$TAG SR=tr$TAG IS=ts$TAG
make_ns "$SQ" && make_ns "$SR" || { fail netns "cannot create namespaces"; exit 1; }
link_ns "$SQ" "vq$TAG" 192.168.85.1/24 "$SR" "vr$TAG" 192.168.85.2/24 || { fail netns "cannot link"; exit 1; }
ip -n "$SQ" route add default via 192.168.85.2
on_exit "rm -f /var/run/wireguard/$IS.sock"
nsrun "$SQ" "$WEFT" interface add "$IS" --address 10.90.0.1/24 >/dev/null 2>"$WEFT_TMP/is.err" ||
	fail fallback/setup "$(cat "$WEFT_TMP/is.err")"
SPORT=$(nsrun "$SQ" wg show "$IS" listen-port)
nsrun "$SQ" "$WEFT" peer add "$IS" --name fb1 >"$WEFT_TMP/fb1.conf" 2>"$WEFT_TMP/fb1.err"; rc=$?
check "fallback/default-route/works" test "$rc" -eq 0
check "fallback/default-route/endpoint" grep -qx "Endpoint = 192.168.85.1:$SPORT" "$WEFT_TMP/fb1.conf"
check "fallback/default-route/says-which" grep -q "192.168.85.1.*default route" "$WEFT_TMP/fb1.err"
check "fallback/default-route/not-saved" eval "! grep -rq 192.168.85.1 '$WEFT_CONFIG_DIR'"
ip -n "$SQ" route del default
PK2=$(wg genkey | wg pubkey)
nsrun "$SQ" "$WEFT" peer add "$IS" --public-key "$PK2" >"$WEFT_TMP/fb2.conf" 2>"$WEFT_TMP/fb2.err"; rc=$?
check "fallback/no-route/works" test "$rc" -eq 0
check "fallback/no-route/says-so" grep -q "no default route" "$WEFT_TMP/fb2.err"
check "fallback/no-route/peer-on-device" eval "nsrun '$SQ' wg show '$IS' peers | grep -qx '$PK2'"
check "fallback/no-route/no-endpoint-line" eval "! grep -q '^Endpoint' '$WEFT_TMP/fb2.conf'"
check "fallback/no-route/comment-says-missing" grep -q "^# Endpoint = (missing" "$WEFT_TMP/fb2.conf"
# the printed config is still one wg-quick accepts
cp "$WEFT_TMP/fb2.conf" "$WEFT_TMP/wgfb2.conf"
check "fallback/no-route/wg-quick-strip" eval "wg-quick strip '$WEFT_TMP/wgfb2.conf' >/dev/null"

echo "--- user-named output files are not written through symlinks"
echo precious >"$WEFT_TMP/victim"
ln -s "$WEFT_TMP/victim" "$WEFT_TMP/link.png"
out=$(nsrun "$SQ" "$WEFT" peer add "$IS" --name sym1 --qr-png "$WEFT_TMP/link.png" 2>&1 >/dev/null); rc=$?
check "qr-png/symlink/refused" test "$rc" -ne 0
check "qr-png/symlink/says-why" grep -q "symbolic link" <<<"$out"
check "qr-png/symlink/target-untouched" test "$(cat "$WEFT_TMP/victim")" = precious
check "qr-png/symlink/link-kept" test -L "$WEFT_TMP/link.png"
out=$(nsrun "$SQ" "$WEFT" peer config "$IS" fb1 --qr-png "$WEFT_TMP/link.png" 2>&1 >/dev/null); rc=$?
check "qr-png/symlink/peer-config-refused" test "$rc" -ne 0
check "qr-png/symlink/peer-config-target-untouched" test "$(cat "$WEFT_TMP/victim")" = precious
# a dangling link planted by another user in a sticky, world-writable directory
mkdir -m 1777 "$WEFT_TMP/pub"
chmod 711 "$WEFT_TMP"
setpriv --reuid=65534 --regid=65534 --clear-groups ln -s "$WEFT_TMP/created-by-root" "$WEFT_TMP/pub/qr.png"
out=$(nsrun "$SQ" "$WEFT" peer config "$IS" fb1 --qr-png "$WEFT_TMP/pub/qr.png" 2>&1 >/dev/null); rc=$?
check "qr-png/planted-link/refused" test "$rc" -ne 0
check "qr-png/planted-link/nothing-created" test ! -e "$WEFT_TMP/created-by-root"
chmod 700 "$WEFT_TMP"
# a plain path still works
check "qr-png/plain-path" nsrun "$SQ" "$WEFT" peer config "$IS" fb1 --qr-png "$WEFT_TMP/fb1.png" >/dev/null 2>&1
check "qr-png/plain-path/png" eval "head -c 8 '$WEFT_TMP/fb1.png' | grep -q PNG"
nsrun "$SQ" "$WEFT" interface remove "$IS"

exit $FAILED
