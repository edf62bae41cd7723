#!/bin/bash
# tests/net/96-serve-reverse.sh: `weft serve`'s reverse direction, from the
# server's host into the tunnel: Expose (TCP and UDP) and the SOCKS5 server,
# with each stack. The server runs as uid 65534 with no capabilities.
#
#   netns rc<pid> (client)                     netns rs<pid> (server)
#   veth c<pid> 10.203.0.2/24 ---------------- veth s<pid> 10.203.0.1/24
#   rw<pid> (weftd) 10.99.0.2/32 fd99::2/128       weft serve, uid 65534, Address 10.99.0.1, fd99::1
#     HTTP :8080 (a page and a 10 MB file),      Expose tcp 127.0.0.1:18080 -> 10.99.0.2:8080
#     UDP echo :7000, nothing on :9999           Expose tcp 127.0.0.1:18081 -> [fd99::2]:8080
#                                                Expose udp 127.0.0.1:17000 -> 10.99.0.2:7000
#                                                Expose tcp 127.0.0.1:18099 -> 10.99.0.2:9999
#                                                SOCKS5 127.0.0.1:1080 (then with user/password)
#                                              /etc/hosts (its own): client.weft.test = 10.99.0.2
#
# Checks, for each stack (SERVE_STACKS, default "kernel lwip"; a stack the
# machine lacks is SKIPped): curl through each TCP Expose (page, 10 MB file
# by sha256), a UDP echo through the UDP Expose, an Expose to a closed port
# closed at once; curl --socks5-hostname (a name the server resolves) and
# --socks5 to an IPv6 literal; then with SOCKS5User/SOCKS5Password: curl
# --socks5 with the right and a wrong password, and a Python client for
# RFC 1928/1929's answers: no acceptable method (0xFF), authentication
# failure, command not supported (7), address type not supported (8),
# refused (5), outside the tunnel (3), a name that does not resolve (4), a
# CONNECT whose reply names the server's tunnel address and carries data.
. "$(dirname "$0")/lib.sh"
TEST_NAME=serve-reverse
require_weft wg python3 curl setpriv

C=rc$TAG S=rs$TAG CIF=rw$TAG # UAPI sockets are global: the name carries the tag
TMP=$WEFT_TMP
chmod 755 "$TMP"
make_ns "$C" && make_ns "$S" || { fail netns "cannot create namespaces"; exit 1; }
link_ns "$C" "c$TAG" 10.203.0.2/24 "$S" "s$TAG" 10.203.0.1/24 ||
	{ fail underlay "cannot link the namespaces"; exit 1; }

# --- the client side: services in the tunnel ---
mkdir -p "$TMP/www" && echo "hello from the client $TAG" >"$TMP/www/index.html"
head -c 10M /dev/urandom >"$TMP/www/big"
nsrun "$C" python3 -m http.server --bind :: --directory "$TMP/www" 8080 >/dev/null 2>&1 &
on_exit "kill $!"
nsrun "$C" python3 -c '
import socket, select
ss = []
for fam, addr in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
    s = socket.socket(fam, socket.SOCK_DGRAM)
    if fam == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    s.bind((addr, 7000))
    ss.append(s)
while True:
    for s in select.select(ss, [], [])[0]:
        data, peer = s.recvfrom(65535)
        s.sendto(b"echo:" + data, peer)
' &
on_exit "kill $!"

KC=$(keyfile) KS=$(keyfile)
PC=$(pubkey_of "$KC") PS=$(pubkey_of "$KS")
echo "10.99.0.2 client.weft.test" >"$TMP/hosts"
chmod 644 "$TMP/hosts"

# write_conf AUTH: the server's config, SOCKS5 with user/password when AUTH=1
write_conf() {
	cat >"$TMP/serve.conf" <<EOC
[Interface]
PrivateKey = $(cat "$KS")
ListenPort = 51820
Address = 10.99.0.1/32, fd99::1/128

[Serve]
Expose = 18080:10.99.0.2:8080, tcp/18081:[fd99::2]:8080
Expose = udp/127.0.0.1:17000:10.99.0.2:7000
Expose = 18099:10.99.0.2:9999
SOCKS5 = 127.0.0.1:1080
EOC
	if [[ $1 == 1 ]]; then
		printf 'SOCKS5User = alice\nSOCKS5Password = s3cret-%s\n' "$TAG" >>"$TMP/serve.conf"
	fi
	cat >>"$TMP/serve.conf" <<EOC

[Peer]
PublicKey = $PC
AllowedIPs = 10.99.0.2/32, fd99::2/128
EOC
	chmod 600 "$TMP/serve.conf"
	chown 65534:65534 "$TMP/serve.conf"
}

TUN_BIND=
if [[ $(stat -c %a /dev/net/tun 2>/dev/null) != 666 ]]; then
	mknod "$TMP/tun" c 10 200 && chmod 666 "$TMP/tun" && TUN_BIND="mount --bind $TMP/tun /dev/net/tun && "
fi

# start_server STACK: as nobody, with its own /etc/hosts (in the mount
# namespace `ip netns exec' makes for it); 1 when the stack is unavailable
SERVER_PID=
start_server() {
	local log=$TMP/serve-$1.log
	: >"$log"
	nsrun "$S" sh -c "$TUN_BIND"'mount --bind "$0" /etc/hosts && exec "$@"' "$TMP/hosts" \
		setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all --bounding-set=-all \
		--no-new-privs env LOG_LEVEL=verbose "$WEFT" serve -f "$TMP/serve.conf" --stack "$1" >>"$log" 2>&1 &
	SERVER_PID=$!
	on_exit "kill $SERVER_PID"
	wait_until 10 grep -q "Listening on UDP" "$log" && return 0
	SERVER_WHY=$(grep -m1 -i "unavailable\|not built\|error" "$log")
	kill "$SERVER_PID" 2>/dev/null
	return 1
}
# server_pid: the weft serve process in S (not the wrapper $! names)
server_pid() {
	local p
	for p in $(ip netns pids "$S" 2>/dev/null); do
		[[ $(cat "/proc/$p/comm" 2>/dev/null) == weft ]] && { echo "$p"; return 0; }
	done
	return 1
}
server_gone() { ! server_pid >/dev/null; }
stop_server() {
	local p
	p=$(server_pid) && kill "$p"
	wait_until 5 server_gone || fail stop "the server did not exit on SIGTERM"
	wait "$SERVER_PID" 2>/dev/null
	SERVER_PID=
}

start_client() {
	ip -n "$C" link del $CIF 2>/dev/null
	start_daemon "$C" $CIF weftd || return 1
	nsrun "$C" wg set $CIF private-key "$KC" peer "$PS" endpoint 10.203.0.1:51820 \
		allowed-ips 10.99.0.1/32,fd99::1/128 persistent-keepalive 25 || return 1
	add_addr "$C" $CIF 10.99.0.2/32 fd99::2/128 && ip -n "$C" link set $CIF up &&
		ip -n "$C" route add 10.99.0.1/32 dev $CIF && ip -n "$C" -6 route add fd99::1/128 dev $CIF
}

# tunnel_up: the first handshake, started by a ping to the server's tunnel
# address (whether or not anything answers it)
tunnel_up() {
	nsrun "$C" ping -c 2 -W 1 -q 10.99.0.1 >/dev/null 2>&1
	if ! wait_until 20 nsrun "$C" sh -c "wg show $CIF latest-handshakes | awk '\$2 > 0' | grep -q ."; then
		fail tunnel "no handshake with the server in 20 s"
		tail -20 "$TMP/serve-$st.log" >&2
	fi
}

udp_echo() { # PORT: one datagram answered with "echo:" + it, on the server's loopback
	nsrun "$S" python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(1)
for _ in range(5):
    s.sendto(b"ping-" + sys.argv[2].encode(), ("127.0.0.1", int(sys.argv[1])))
    try:
        d, _ = s.recvfrom(100)
        sys.exit(0 if d == b"echo:ping-" + sys.argv[2].encode() else 1)
    except socket.timeout:
        pass
sys.exit(1)' "$1" "$TAG"
}

# closed_fast PORT: an Expose to a closed port: the connection ends (no
# data) within 2 s
closed_fast() {
	nsrun "$S" python3 -c '
import socket, sys, time
t = time.monotonic()
try:
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
    d = s.recv(10)
except (ConnectionResetError, ConnectionRefusedError):
    d = b""
sys.exit(0 if d == b"" and time.monotonic() - t < 2 else 1)' "$1"
}

big_ok() { # CURL-ARGS...: the 10 MB file arrives whole
	local got want
	want=$(sha256sum <"$TMP/www/big" | cut -d' ' -f1)
	got=$(nsrun "$S" curl -sf -m 60 "$@" | sha256sum | cut -d' ' -f1)
	[[ $got == "$want" ]]
}

# The RFC's answers, with user/password required.
PY_SOCKS='
import socket, struct, sys
user, pw = b"alice", sys.argv[1].encode()
fails = []
def conn():
    s = socket.create_connection(("127.0.0.1", 1080), timeout=20)
    return s
def recvn(s, n):
    b = b""
    while len(b) < n:
        d = s.recv(n - len(b))
        if not d: break
        b += d
    return b
def login(s, password=pw):
    s.sendall(b"\x05\x01\x02")
    if recvn(s, 2) != b"\x05\x02": return None
    s.sendall(b"\x01" + bytes([len(user)]) + user + bytes([len(password)]) + password)
    return recvn(s, 2)
def expect(name, got, want):
    if got != want: fails.append("%s: got %r, want %r" % (name, got, want))
# no acceptable method: only "no authentication" offered
s = conn(); s.sendall(b"\x05\x01\x00"); expect("no-method", recvn(s, 2), b"\x05\xff"); s.close()
# authentication failure
s = conn(); expect("bad-password", login(s, b"wrong"), b"\x01\x01"); s.close()
def request(name, req, code):
    s = conn()
    if login(s) != b"\x01\x00":
        fails.append(name + ": login refused"); return None
    s.sendall(req)
    r = recvn(s, 4)
    expect(name, r[:2], b"\x05" + bytes([code]))
    return s, r
v4 = lambda a, p: b"\x01" + socket.inet_aton(a) + struct.pack(">H", p)
request("command-not-supported", b"\x05\x02\x00" + v4("10.99.0.2", 8080), 7)
request("address-type-not-supported", b"\x05\x01\x00\x09" + b"\x00" * 6, 8)
request("refused", b"\x05\x01\x00" + v4("10.99.0.2", 9999), 5)
request("not-in-tunnel", b"\x05\x01\x00" + v4("192.0.2.1", 80), 3)
name = b"nosuch.invalid"
request("unresolved-name", b"\x05\x01\x00\x03" + bytes([len(name)]) + name + struct.pack(">H", 80), 4)
res = request("connect", b"\x05\x01\x00" + v4("10.99.0.2", 8080), 0)
if res:
    s, r = res
    if r[3:4] != b"\x01": fails.append("connect: reply address type %r" % r[3:4])
    else:
        bnd = recvn(s, 6)
        if bnd[:4] != socket.inet_aton("10.99.0.1"): fails.append("connect: BND.ADDR %r" % bnd[:4])
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        body = b""
        while True:
            d = s.recv(4096)
            if not d: break
            body += d
        if b"hello from the client" not in body: fails.append("connect: no page through it")
for f in fails: print(f)
sys.exit(1 if fails else 0)'

for st in ${SERVE_STACKS:-kernel lwip}; do
	TEST_NAME=serve-reverse-$st
	write_conf 0
	if ! start_server "$st"; then
		echo "SKIP: serve-reverse-$st: ${SERVER_WHY:-the server did not start}"
		cat "$TMP/serve-$st.log" >&2
		continue
	fi
	start_client || { fail client "weftd client did not start"; stop_server; continue; }
	tunnel_up
	check expose-tcp wait_until 10 sh -c "ip netns exec $S curl -sf -m 5 http://127.0.0.1:18080/ | grep -q 'hello from the client $TAG'"
	check expose-tcp-to-ipv6 sh -c "ip netns exec $S curl -sf -m 5 http://127.0.0.1:18081/ | grep -q 'hello from the client $TAG'"
	check expose-tcp-10MB big_ok http://127.0.0.1:18080/big
	check expose-udp udp_echo 17000
	check expose-closed-port closed_fast 18099
	check socks5-hostname sh -c "ip netns exec $S curl -sf -m 10 --socks5-hostname 127.0.0.1:1080 http://client.weft.test:8080/ | grep -q 'hello from the client $TAG'"
	check socks5-ipv6 sh -c "ip netns exec $S curl -sf -m 10 --socks5 127.0.0.1:1080 'http://[fd99::2]:8080/' | grep -q 'hello from the client $TAG'"
	check socks5-10MB big_ok --socks5 127.0.0.1:1080 http://10.99.0.2:8080/big
	stop_server

	write_conf 1
	if ! start_server "$st"; then
		fail server-with-password "did not start: $(tail -3 "$TMP/serve-$st.log")"
		continue
	fi
	# a new server knows no session and no endpoint: a new client starts one
	start_client || { fail client "weftd client did not start"; stop_server; continue; }
	tunnel_up
	check socks5-password wait_until 10 sh -c "ip netns exec $S curl -sf -m 10 --proxy socks5://alice:s3cret-$TAG@127.0.0.1:1080 http://10.99.0.2:8080/ | grep -q 'hello from the client $TAG'"
	if nsrun "$S" curl -sf -m 10 --proxy "socks5://alice:wrong@127.0.0.1:1080" http://10.99.0.2:8080/ >/dev/null 2>&1; then
		fail socks5-wrong-password "curl got through"
	else
		pass socks5-wrong-password
	fi
	r=$(nsrun "$S" python3 -c "$PY_SOCKS" "s3cret-$TAG" 2>&1) && pass socks5-rfc-replies ||
		{ fail socks5-rfc-replies "$r"; tail -5 "$TMP/serve-$st.log" >&2; }
	server_pid >/dev/null || { fail server-alive "the server is gone"; tail -20 "$TMP/serve-$st.log" >&2; }
	grep -q "SOCKS5 on 127.0.0.1:1080 with username/password" "$TMP/serve-$st.log" &&
		pass log-socks5 || fail log-socks5 "no start-up line"
	ip -n "$C" link del $CIF 2>/dev/null
	stop_server
done
exit $FAILED
