#!/usr/bin/env python3
"""coord_client.py: a coord client written from docs/coord-protocol.md alone
(Python's hashlib/hmac and the cryptography package; no code shared with
weft's C), for the network tests of `weft coord`.

  coord_client.py meet --server ADDR:PORT --server-pub B64 --key B64 --peer B64
                  [--label L] [--blob TEXT] [--timeout S]
      handshake, PING, ANNOUNCE the pair's token with TEXT as the blob, wait
      for the PEER message; prints "observed ADDR", "announced STATUS" and
      "peer ADDR BLOB" lines, exit 0 once a PEER arrived (1 on timeout).
  coord_client.py claim ... (as meet): announce a token and print what came
      back ("error CODE" for a refusal); exit 0 when an answer came.
  coord_client.py hostile --server ADDR:PORT --server-pub B64 --key B64
      garbage, truncated, oversized, replayed and tampered datagrams, and a
      flood; prints "sent BYTES" and "received BYTES".
"""
import argparse
import base64
import hashlib
import hmac
import os
import socket
import struct
import sys
import time

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives import serialization

CONSTRUCTION = b"Noise_IK_25519_ChaChaPoly_BLAKE2s"
IDENTIFIER = b"weft coord v1"
LABEL_MAC1 = b"cmac1---"


def HASH(*parts):
    h = hashlib.blake2s()
    for p in parts:
        h.update(p)
    return h.digest()


def MAC(key, data):
    return hashlib.blake2s(data, key=key, digest_size=16).digest()


def HMAC(key, data):
    return hmac.new(key, data, hashlib.blake2s).digest()


def KDF(n, key, data):
    t0 = HMAC(key, data)
    out, prev = [], b""
    for i in range(1, n + 1):
        prev = HMAC(t0, prev + bytes([i]))
        out.append(prev)
    return out


def raw_pub(priv):
    return priv.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def DH(priv, pub):
    return priv.exchange(X25519PublicKey.from_public_bytes(pub))


def AEAD(key, counter, plain, ad):
    return ChaCha20Poly1305(key).encrypt(b"\0" * 4 + struct.pack("<Q", counter), plain, ad)


def UNAEAD(key, counter, sealed, ad):
    return ChaCha20Poly1305(key).decrypt(b"\0" * 4 + struct.pack("<Q", counter), sealed, ad)


def tai64n():
    t = time.time_ns()
    sec, nsec = divmod(t, 10**9)
    nsec -= nsec % (1 << 24)
    return struct.pack(">QI", (1 << 62) + 10 + sec, nsec)


def addr_decode(b):
    fam, port = b[0], struct.unpack(">H", b[2:4])[0]
    if fam == 4:
        return "%s:%d" % (socket.inet_ntop(socket.AF_INET, b[4:8]), port)
    if fam == 6:
        return "[%s]:%d" % (socket.inet_ntop(socket.AF_INET6, b[4:20]), port)
    return "none"


class Session:
    def __init__(self, sock, server, server_pub, priv):
        self.sock, self.server, self.spub, self.priv = sock, server, server_pub, priv
        self.pub = raw_pub(priv)
        self.send_n = 0
        self.last_init = None

    def initiation(self):
        ck = HASH(CONSTRUCTION)
        h = HASH(ck, IDENTIFIER)
        h = HASH(h, self.spub)
        e = X25519PrivateKey.generate()
        epub = raw_pub(e)
        self.sender = struct.unpack("<I", os.urandom(4))[0] or 1
        msg = bytes([0xC1, 0, 0, 0]) + struct.pack("<I", self.sender) + epub
        h = HASH(h, epub)
        ck, k = KDF(2, ck, DH(e, self.spub))
        st = AEAD(k, 0, self.pub, h)
        h = HASH(h, st)
        ck, k = KDF(2, ck, DH(self.priv, self.spub))
        ts = AEAD(k, 0, tai64n(), h)
        h = HASH(h, ts)
        msg += st + ts
        msg += MAC(HASH(LABEL_MAC1, self.spub), msg) + b"\0" * 16
        self.e, self.ck, self.h = e, ck, h
        self.last_init = msg
        return msg

    def consume_response(self, msg):
        if len(msg) != 92 or msg[0] != 0xC2:
            raise ValueError("not a response")
        if MAC(HASH(LABEL_MAC1, self.pub), msg[:60]) != msg[60:76]:
            raise ValueError("bad mac1 on the response")
        sender, receiver = struct.unpack("<II", msg[4:12])
        if receiver != self.sender:
            raise ValueError("response for another handshake")
        er = msg[12:44]
        h = HASH(self.h, er)
        (ck,) = KDF(1, self.ck, DH(self.e, er))
        ck, k = KDF(2, ck, DH(self.priv, er))
        UNAEAD(k, 0, msg[44:60], h)
        self.tx, self.rx = KDF(2, ck, b"")
        self.remote = sender
        self.send_n = 0

    def handshake(self, timeout=3.0):
        self.sock.settimeout(timeout)
        self.sock.sendto(self.initiation(), self.server)
        data, _ = self.sock.recvfrom(2048)
        self.consume_response(data)

    def seal(self, plain):
        pad = (-len(plain)) % 16 if plain else 16
        plain = plain + b"\0" * pad
        n = self.send_n
        self.send_n += 1
        return bytes([0xC4, 0, 0, 0]) + struct.pack("<IQ", self.remote, n) + AEAD(self.tx, n, plain, b"")

    def send(self, plain):
        pkt = self.seal(plain)
        self.sock.sendto(pkt, self.server)
        return pkt

    def open(self, pkt):
        if len(pkt) < 48 or pkt[0] != 0xC4:
            raise ValueError("not transport")
        n = struct.unpack("<Q", pkt[8:16])[0]
        return UNAEAD(self.rx, n, pkt[16:], b"")

    def ping(self, echo=1, challenge=b"\0" * 16):
        return self.send(bytes([3, 0, 0, 0]) + struct.pack("<Q", echo) + challenge + b"\0" * 20)

    def announce(self, token, blob):
        return self.send(bytes([1, 0]) + struct.pack("<H", len(blob)) + token + blob)


def token_of(a, b, label):
    lo, hi = sorted([a, b])
    return HASH(lo, hi, label)


def parse(plain, out):
    t = plain[0]
    if t == 0x83:
        out.append(("observed", addr_decode(plain[12:32]), plain[32:48]))
    elif t == 0x81:
        out.append(("announced", "matched" if plain[1] else "waiting", struct.unpack("<H", plain[2:4])[0]))
    elif t == 0x82:
        blen = struct.unpack("<H", plain[2:4])[0]
        out.append(("peer", addr_decode(plain[36:56]), plain[56:56 + blen], plain[1]))
    elif t == 0x84:
        out.append(("error", plain[1]))
    return out


def hostport(s):
    host, port = s.rsplit(":", 1)
    return host.strip("[]"), int(port)


def connect(args):
    server = hostport(args.server)
    fam = socket.AF_INET6 if ":" in server[0] else socket.AF_INET
    sock = socket.socket(fam, socket.SOCK_DGRAM)
    # connected: only answers from the address we sent to are taken
    sock.connect(server)
    priv = X25519PrivateKey.from_private_bytes(base64.b64decode(open(args.key_file).read().strip()))
    s = Session(sock, server, base64.b64decode(args.server_pub), priv)
    s.handshake()
    return s


def receive_until(s, want, deadline):
    got = []
    while time.time() < deadline:
        s.sock.settimeout(max(0.05, deadline - time.time()))
        try:
            data, _ = s.sock.recvfrom(2048)
        except socket.timeout:
            break
        try:
            parse(s.open(data), got)
        except Exception:
            continue
        for g in got:
            if g[0] == "peer":
                print("peer %s %s%s" % (g[1], g[2].decode(errors="replace"), " gone" if g[3] & 1 else ""),
                      flush=True)
            else:
                print(" ".join(str(x) for x in g[:2]), flush=True)
        if any(g[0] == want or (want == "any" and g[0] in ("announced", "error")) for g in got):
            return got
        got = []
    return None


def meet(args, claim=False):
    s = connect(args)
    s.ping()
    deadline = time.time() + args.timeout
    receive_until(s, "observed", deadline)
    token = token_of(s.pub, base64.b64decode(args.peer), args.label.encode())
    s.announce(token, args.blob.encode())
    if claim:
        # everything that comes back within a second and a half: ANNOUNCED
        # (and PEER when matched), or ERROR
        end = min(deadline, time.time() + 1.5)
        answered = False
        while time.time() < end:
            got = receive_until(s, "any", end)
            answered = answered or bool(got)
        return 0 if answered else 1
    # keep the NAT mapping open and wait for the other side
    while time.time() < deadline:
        if receive_until(s, "peer", min(deadline, time.time() + 1.0)):
            return 0
        s.ping()
    return 1


def hostile(args):
    server = hostport(args.server)
    fam = socket.AF_INET6 if ":" in server[0] else socket.AF_INET
    sock = socket.socket(fam, socket.SOCK_DGRAM)
    sock.setblocking(False)
    sent = received = 0

    def tx(b):
        nonlocal sent
        sent += len(b)
        try:
            sock.sendto(b, server)
        except BlockingIOError:
            pass

    def drain():
        nonlocal received
        while True:
            try:
                data, _ = sock.recvfrom(4096)
                received += len(data)
            except BlockingIOError:
                return

    spub = base64.b64decode(args.server_pub)
    priv = X25519PrivateKey.from_private_bytes(base64.b64decode(open(args.key_file).read().strip()))
    sess = Session(sock, server, spub, priv)
    init = sess.initiation()
    for i in range(300):
        n = os.urandom(1)[0]
        tx(os.urandom(n * 5 % 1400 + 1))                                # garbage
        tx(bytes([0xC1, 0, 0, 0]) + os.urandom(144))                    # initiation, bad mac1
        tx(bytes([0xC4, 0, 0, 0]) + os.urandom(44 + 16 * (n % 10)))     # transport, no session
        tx(init[: n % 148])                                             # truncated
        tx(bytes([0xC4, 0, 0, 0]) + os.urandom(1496))                   # oversized
        time.sleep(0.004)
        drain()
    tx(init)            # one real initiation ...
    time.sleep(0.2)
    drain()
    tx(init)            # ... and its replay
    for i in range(10000):  # a flood from one source
        tx(os.urandom(60))
    time.sleep(0.3)
    drain()
    print("sent %d" % sent)
    print("received %d" % received)
    return 0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["meet", "claim", "hostile"])
    p.add_argument("--server", required=True)
    p.add_argument("--server-pub", required=True)
    p.add_argument("--key-file", required=True)  # 0600, as weft reads keys: never on a command line
    p.add_argument("--peer", default="")
    p.add_argument("--label", default="")
    p.add_argument("--blob", default="")
    p.add_argument("--timeout", type=float, default=10.0)
    args = p.parse_args()
    if args.mode == "hostile":
        return hostile(args)
    return meet(args, claim=args.mode == "claim")


if __name__ == "__main__":
    sys.exit(main())
