#!/usr/bin/python3
# tests/vectors/wireguard_go_check.py: proves handshake_ref.py speaks real WireGuard by
# talking to Debian's wireguard-go (no weft involved), so that the reference's vectors
# can be trusted as the expected side of handshake.sh.
#
#   /usr/bin/python3 wireguard_go_check.py INPUTS      (root; needs wireguard-go, wg, ip)
#
# Topology: everything lives in one network namespace created here and removed on exit.
#
#     netns weftvec<pid>
#     +-----------------------------------------------------------------+
#     |  this script (after setns)            wireguard-go wgv<pid>     |
#     |  UDP 127.0.0.1:<ephemeral>  <--lo-->  UDP :51820                |
#     |  = the other WireGuard peer           tun 10.0.0.2/24 -- kernel |
#     +-----------------------------------------------------------------+
#
# Phases (each prints PASS:/FAIL: vectors/handshake/wireguard-go/<phase>):
#   vector-initiation  wireguard-go responds to the exact initiation bytes of the vector
#                      (its static key, psk, index, ephemeral and fixed timestamp); the
#                      reference initiator checks the response, derives its keys and gets
#                      the kernel's echo reply to the vector's payload back through them.
#   fresh-initiation   the same with a current wall time, random keys, index and psk,
#                      and an ICMP echo whose length is not a multiple of 16.
#   responder          roles swapped: wireguard-go initiates (with the vector's initiator
#                      key), the reference responder (vector responder keys) answers,
#                      decrypts wireguard-go's first data packet and sends a reply that
#                      the kernel behind wireguard-go delivers to a socket.
# Each phase reconfigures the peer, so wireguard-go's per-peer timestamp memory starts
# afresh and the vector's fixed (past) timestamp is accepted.

import base64
import ctypes
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import handshake_ref as ref  # noqa: E402

LISTEN_PORT = 51820
RESPONDER_ADDR = "10.0.0.2"   # wireguard-go's tun address
PEER_ADDR = "10.0.0.1"        # the reference peer's tunnel address
DISCARD_PORT = 9
RECV_TIMEOUT = 3.0            # seconds for any one expected datagram
CLONE_NEWNET = 0x40000000
WG_GO_WHITEN = 0x1000000      # wireguard-go tai64n.go: whitenerMask = 0x1000000 - 1
TEST = "vectors/handshake/wireguard-go"


class CheckFailed(Exception):
    pass


def expect(cond, what):
    if not cond:
        raise CheckFailed(what)


# --- packets ----------------------------------------------------------------------------

def inet_checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def ipv4(src, dst, proto, body):
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(body), 0x4242, 0x4000, 64, proto, 0,
                      socket.inet_aton(src), socket.inet_aton(dst))
    hdr = hdr[:10] + struct.pack("!H", inet_checksum(hdr)) + hdr[12:]
    return hdr + body


def icmp_echo(src, dst, ident, seq, data):
    icmp = struct.pack("!BBHHH", 8, 0, 0, ident, seq) + data
    icmp = icmp[:2] + struct.pack("!H", inet_checksum(icmp)) + icmp[4:]
    return ipv4(src, dst, 1, icmp)


def udp(src, dst, sport, dport, data):
    # A zero UDP checksum means "none" in IPv4, which the kernel accepts.
    return ipv4(src, dst, 17, struct.pack("!HHHH", sport, dport, 8 + len(data), 0) + data)


def parse_ipv4(padded):
    """Strips the WireGuard padding using the IPv4 total length."""
    expect(len(padded) >= 20 and padded[0] >> 4 == 4, "decrypted data is not IPv4")
    total = struct.unpack("!H", padded[2:4])[0]
    # Receivers accept any padding, so the reference's own padding rule is checked
    # here, against what wireguard-go sends.
    expect(total <= len(padded) and len(padded) == total + (-total % ref.PADDING_MULTIPLE),
           f"padding differs from the reference's: IPv4 length {total} in {len(padded)} bytes")
    expect(all(b == 0 for b in padded[total:]), "padding is not zeros")
    ihl = (padded[0] & 0xF) * 4
    return (padded[9], socket.inet_ntoa(padded[12:16]), socket.inet_ntoa(padded[16:20]),
            padded[ihl:total])


# --- the reference peer's wire side -----------------------------------------------------

def recv_transport(sock, key, want_index):
    """Next non-keepalive transport datagram for want_index, decrypted and unpadded."""
    deadline = time.monotonic() + RECV_TIMEOUT
    while True:
        left = deadline - time.monotonic()
        expect(left > 0, "no transport data from wireguard-go")
        sock.settimeout(left)
        try:
            msg = sock.recv(65535)
        except socket.timeout:
            continue
        if msg[:1] != bytes([ref.TYPE_TRANSPORT]):
            continue
        index, _, padded = ref.open_transport(key, msg)
        expect(index == want_index, "transport data for another receiver index")
        if padded:  # an empty plaintext is a keepalive
            return parse_ipv4(padded)


def recv_type(sock, msg_type):
    sock.settimeout(RECV_TIMEOUT)
    while True:
        try:
            msg = sock.recv(65535)
        except socket.timeout:
            raise CheckFailed(f"no message of type {msg_type} from wireguard-go")
        if msg[:1] == bytes([msg_type]):
            return msg


def initiate(wire, initiator, initiation, echoes):
    """Reference initiator against wireguard-go responder; checks each echo round trip.
    echoes: (request packet, expected reply data) pairs, sent with counters 0, 1, ..."""
    wire.sendto(initiation, ("127.0.0.1", LISTEN_PORT))
    response = recv_type(wire, ref.TYPE_RESPONSE)
    peer_index, send, recv = initiator.consume_response(response)  # checks mac1 and AEAD
    expect(response[-ref.MAC_LEN:] == b"\0" * ref.MAC_LEN, "mac2 set without a cookie")
    for counter, (payload, want_reply_data) in enumerate(echoes):
        wire.sendto(ref.seal_transport(send, peer_index, counter, payload),
                    ("127.0.0.1", LISTEN_PORT))
        proto, src, dst, body = recv_transport(wire, recv, initiator.index)
        expect((proto, src, dst) == (1, RESPONDER_ADDR, PEER_ADDR),
               f"expected ICMP {RESPONDER_ADDR} -> {PEER_ADDR}, got proto {proto} {src} -> {dst}")
        request_icmp = payload[20:]
        expect(body[0] == 0 and body[4:8] == request_icmp[4:8],
               f"not the echo reply to our request with counter {counter}")
        expect(body[8:] == want_reply_data, "echo reply data differs")


def respond(wire, inner, responder):
    """wireguard-go initiates; the reference responder answers and exchanges one packet each way."""
    sport = inner.getsockname()[1]
    request = b"weft vector: from wireguard-go"
    inner.sendto(request, (PEER_ADDR, DISCARD_PORT))  # makes wireguard-go initiate
    wire.settimeout(RECV_TIMEOUT)
    initiation = recv_type(wire, ref.TYPE_INITIATION)
    timestamp = responder.consume_initiation(initiation)  # checks mac1, static key, AEADs
    expect(initiation[-ref.MAC_LEN:] == b"\0" * ref.MAC_LEN, "mac2 set without a cookie")
    seconds, nanoseconds = struct.unpack(">QI", timestamp)
    # Within 3 s: a wrong TAI64 label (2^62 without the + 10) would be 10 s off.
    expect(abs(seconds - ref.TAI64_BASE - time.time()) < 3, "wireguard-go's TAI64N is off")
    # wireguard-go's whitened stamp must be what the reference makes of any instant
    # in the same slot (wireguard-go's slot width written apart from the reference's).
    slot_start = (seconds - ref.TAI64_BASE) * 10**9 + nanoseconds
    slot_end = slot_start + min(WG_GO_WHITEN, 10**9 - nanoseconds) - 1
    expect(ref.TAI64N(slot_start) == timestamp and ref.TAI64N(slot_end) == timestamp,
           f"wireguard-go's TAI64N nanoseconds {nanoseconds} are whitened differently")
    wire.sendto(responder.create_response(), ("127.0.0.1", LISTEN_PORT))
    proto, src, dst, body = recv_transport(wire, responder.recv, responder.index)
    expect((proto, src, dst) == (17, RESPONDER_ADDR, PEER_ADDR), "first data is not our UDP")
    expect(body[8:] == request and struct.unpack("!H", body[2:4])[0] == DISCARD_PORT,
           "first data is not the datagram we sent")
    reply = b"weft vector: from the reference responder"
    packet = udp(PEER_ADDR, RESPONDER_ADDR, DISCARD_PORT, sport, reply)
    wire.sendto(ref.seal_transport(responder.send, responder.peer_index, 0, packet),
                ("127.0.0.1", LISTEN_PORT))
    inner.settimeout(RECV_TIMEOUT)
    try:
        data, source = inner.recvfrom(65535)
    except socket.timeout:
        raise CheckFailed("wireguard-go did not deliver the responder's data")
    expect((data, source) == (reply, (PEER_ADDR, DISCARD_PORT)), "delivered data differs")


# --- the namespace and wireguard-go ---------------------------------------------------

def setns(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        if ctypes.CDLL(None, use_errno=True).setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns {path}")
    finally:
        os.close(fd)


class Namespace:
    def __init__(self, tmp):
        pid = os.getpid()
        self.ns, self.ifname, self.tmp = f"weftvec{pid}", f"wgv{pid}", tmp
        self.created = False
        self.home = None  # our own namespace, to return to before deleting the test one
        self.wg_go = None
        self.log = os.path.join(tmp, "wireguard-go.log")

    def run(self, *argv):
        subprocess.run(["ip", "netns", "exec", self.ns, *argv], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=10)

    def key_file(self, name, key):
        """Keys reach wg through 0600 files, never the command line."""
        path = os.path.join(self.tmp, name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(b64(key) + "\n")
        return path

    def start(self):
        subprocess.run(["ip", "netns", "add", self.ns], check=True, timeout=10)
        self.created = True
        self.run("ip", "link", "set", "lo", "up")
        env = dict(os.environ, LOG_LEVEL="verbose")
        with open(self.log, "w") as log:
            self.wg_go = subprocess.Popen(
                ["ip", "netns", "exec", self.ns, "wireguard-go", "-f", self.ifname],
                stdout=log, stderr=subprocess.STDOUT, env=env)
        sock = f"/var/run/wireguard/{self.ifname}.sock"
        deadline = time.monotonic() + 5
        while not os.path.exists(sock):
            expect(self.wg_go.poll() is None, "wireguard-go exited at start")
            expect(time.monotonic() < deadline, "wireguard-go's UAPI socket did not appear")
            time.sleep(0.01)
        self.run("ip", "addr", "add", f"{RESPONDER_ADDR}/24", "dev", self.ifname)
        self.run("ip", "link", "set", self.ifname, "up")
        # From here on this process's sockets live in the namespace.
        self.home = os.open("/proc/self/ns/net", os.O_RDONLY)
        setns(f"/run/netns/{self.ns}")

    def wait_listening(self):
        """wireguard-go binds its port asynchronously once the link is up."""
        port = f":{LISTEN_PORT:04X}"
        deadline = time.monotonic() + 5
        while True:
            for table in ("/proc/net/udp", "/proc/net/udp6"):  # this process's namespace
                with open(table) as f:
                    if any(line.split()[1].endswith(port) for line in f.readlines()[1:]):
                        return
            expect(time.monotonic() < deadline, "wireguard-go does not listen")
            time.sleep(0.01)

    def wg_set(self, *args):
        self.run("wg", "set", self.ifname, *args)

    def stop(self):
        if self.wg_go is not None and self.wg_go.poll() is None:
            self.wg_go.terminate()
            try:
                self.wg_go.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.wg_go.kill()
                self.wg_go.wait()
        if self.home is not None:
            setns(f"/proc/self/fd/{self.home}")
            os.close(self.home)
        if self.created:
            subprocess.run(["ip", "netns", "del", self.ns], timeout=10)
        try:
            os.unlink(f"/var/run/wireguard/{self.ifname}.sock")
        except FileNotFoundError:
            pass

    def log_tail(self, lines=30):
        try:
            with open(self.log) as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""


def b64(key):
    return base64.b64encode(key).decode()


def phases(net, inputs):
    i_static, r_static = inputs["initiator_static_private"], inputs["responder_static_private"]
    i_pub, r_pub = ref.DH_PUBKEY(i_static), ref.DH_PUBKEY(r_static)
    allowed = f"{PEER_ADDR}/32"

    wire = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    wire.bind(("127.0.0.1", 0))
    inner = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    inner.bind((RESPONDER_ADDR, 0))
    try:
        def vector_initiation():
            net.wg_set("listen-port", str(LISTEN_PORT),
                       "private-key", net.key_file("responder.key", r_static),
                       "peer", b64(i_pub), "preshared-key", net.key_file("psk", inputs["preshared_key"]),
                       "allowed-ips", allowed)
            net.wait_listening()
            initiation, _, _ = ref.run(inputs)
            initiator = ref.Initiator(i_static, inputs["initiator_ephemeral_private"], r_pub,
                                      inputs["preshared_key"], inputs["initiator_index"])
            expect(initiator.create_initiation(inputs["wall_time_ns"]) == initiation,
                   "reference is not deterministic")
            initiate(wire, initiator, initiation, [(inputs["payload"], b"")])

        fresh_static = os.urandom(32)
        fresh_psk = os.urandom(32)

        def fresh_initiation():
            net.wg_set("peer", b64(i_pub), "remove",
                       "peer", b64(ref.DH_PUBKEY(fresh_static)),
                       "preshared-key", net.key_file("psk2", fresh_psk), "allowed-ips", allowed)
            initiator = ref.Initiator(fresh_static, os.urandom(32), r_pub, fresh_psk, os.urandom(4))
            initiation = initiator.create_initiation(time.time_ns())
            # 20 + 8 + 37 = 65 bytes exercises the padding; a second packet (counter 1)
            # makes a wrong nonce layout visible, which counter 0 (all zeros) cannot.
            data = bytes(range(37))
            initiate(wire, initiator, initiation,
                     [(icmp_echo(PEER_ADDR, RESPONDER_ADDR, 0x5157, seq, data), data)
                      for seq in (1, 2)])

        def responder():
            net.wg_set("private-key", net.key_file("initiator.key", i_static),
                       "peer", b64(ref.DH_PUBKEY(fresh_static)), "remove",
                       "peer", b64(r_pub), "preshared-key", net.key_file("psk", inputs["preshared_key"]),
                       "endpoint", f"127.0.0.1:{wire.getsockname()[1]}", "allowed-ips", allowed)
            resp = ref.Responder(r_static, inputs["responder_ephemeral_private"], i_pub,
                                 inputs["preshared_key"], inputs["responder_index"])
            respond(wire, inner, resp)

        failed = 0
        for name, phase in (("vector-initiation", vector_initiation),
                            ("fresh-initiation", fresh_initiation),
                            ("responder", responder)):
            try:
                phase()
                print(f"PASS: {TEST}/{name}", flush=True)
            except (CheckFailed, ref.ProtocolError, subprocess.SubprocessError, OSError) as e:
                why = getattr(e, "stderr", None) or e
                print(f"FAIL: {TEST}/{name}: {type(e).__name__}: {why}", flush=True)
                failed += 1
            except Exception as e:  # InvalidTag and friends: a wrong key somewhere
                print(f"FAIL: {TEST}/{name}: {type(e).__name__} {e}", flush=True)
                failed += 1
        return failed
    finally:
        wire.close()
        inner.close()


def main(argv):
    if len(argv) != 2:
        print(f"usage: {argv[0]} INPUTS", file=sys.stderr)
        return 2
    inputs = ref.parse_inputs(argv[1])

    def on_signal(signum, frame):
        raise SystemExit(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, on_signal)

    tmp = tempfile.mkdtemp(prefix="weft-vec-")  # 0700
    net = Namespace(tmp)
    failed = 1
    try:
        try:
            net.start()
        except (CheckFailed, subprocess.SubprocessError, OSError) as e:
            print(f"FAIL: {TEST}/setup: {type(e).__name__}: {getattr(e, 'stderr', None) or e}")
        else:
            failed = phases(net, inputs)
    finally:
        net.stop()
        if failed:
            sys.stderr.write("wireguard-go log tail:\n" + net.log_tail())
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
