#!/usr/bin/python3
# tests/vectors/coord_ref.py: an independent reference of the coord protocol,
# written from docs/coord-protocol.md with other libraries than weft's
# (hashlib.blake2s, hmac, python3-cryptography, and XChaCha20 built here from
# its draft), to cross-check weft's bytes.
#
#   /usr/bin/python3 coord_ref.py INPUTS
# prints "initiation = HEX", "response = HEX", "token = HEX", "blob = HEX",
# "transport = HEX" and "cookie_reply = HEX" for coord_inputs.txt. The
# server side consumes the initiation before answering, and the client
# consumes the response before deriving its keys.
#
# Deliberately naive and slow: clarity over speed.

import hashlib
import hmac
import socket
import struct
import sys

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives import serialization

CONSTRUCTION = b"Noise_IK_25519_ChaChaPoly_BLAKE2s"
IDENTIFIER = b"weft coord v1"
LABEL_MAC1 = b"cmac1---"
LABEL_COOKIE = b"ccookie-"


def HASH(*parts):
    h = hashlib.blake2s()
    for p in parts:
        h.update(p)
    return h.digest()


def MAC(key, data):
    return hashlib.blake2s(data, key=key, digest_size=16).digest()


def KDF(n, key, data):
    t0 = hmac.new(key, data, hashlib.blake2s).digest()
    out, prev = [], b""
    for i in range(1, n + 1):
        prev = hmac.new(t0, prev + bytes([i]), hashlib.blake2s).digest()
        out.append(prev)
    return out


def priv(b):
    return X25519PrivateKey.from_private_bytes(b)


def pub(k):
    return k.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def DH(k, p):
    return k.exchange(X25519PublicKey.from_public_bytes(p))


def AEAD(key, n, plain, ad):
    return ChaCha20Poly1305(key).encrypt(b"\0" * 4 + struct.pack("<Q", n), plain, ad)


def UNAEAD(key, n, sealed, ad):
    return ChaCha20Poly1305(key).decrypt(b"\0" * 4 + struct.pack("<Q", n), sealed, ad)


# XChaCha20-Poly1305 (draft-irtf-cfrg-xchacha): HChaCha20 gives a subkey from
# the key and the nonce's first 16 bytes; its last 8 follow 4 zero bytes.
def hchacha20(key, nonce16):
    def rotl(v, c):
        return ((v << c) & 0xffffffff) | (v >> (32 - c))

    def qr(s, a, b, c, d):
        s[a] = (s[a] + s[b]) & 0xffffffff; s[d] = rotl(s[d] ^ s[a], 16)
        s[c] = (s[c] + s[d]) & 0xffffffff; s[b] = rotl(s[b] ^ s[c], 12)
        s[a] = (s[a] + s[b]) & 0xffffffff; s[d] = rotl(s[d] ^ s[a], 8)
        s[c] = (s[c] + s[d]) & 0xffffffff; s[b] = rotl(s[b] ^ s[c], 7)

    s = [0x61707865, 0x3320646e, 0x79622d32, 0x6b206574]
    s += list(struct.unpack("<8I", key)) + list(struct.unpack("<4I", nonce16))
    for _ in range(10):
        qr(s, 0, 4, 8, 12); qr(s, 1, 5, 9, 13); qr(s, 2, 6, 10, 14); qr(s, 3, 7, 11, 15)
        qr(s, 0, 5, 10, 15); qr(s, 1, 6, 11, 12); qr(s, 2, 7, 8, 13); qr(s, 3, 4, 9, 14)
    return struct.pack("<8I", *(s[0:4] + s[12:16]))


def XAEAD(key, nonce24, plain, ad):
    return ChaCha20Poly1305(hchacha20(key, nonce24[:16])).encrypt(b"\0" * 4 + nonce24[16:], plain, ad)


def addr(fam, ip, port):
    raw = socket.inet_pton(socket.AF_INET if fam == 4 else socket.AF_INET6, ip)
    return bytes([fam, 0]) + struct.pack(">H", port) + raw + b"\0" * (16 - len(raw))


def main():
    v = {}
    for line in open(sys.argv[1]):
        line = line.split("#", 1)[0].strip()
        if "=" in line:
            k, val = (x.strip() for x in line.split("=", 1))
            v[k] = val
    h2b = bytes.fromhex
    c, s, p = priv(h2b(v["client_private"])), priv(h2b(v["server_private"])), priv(h2b(v["peer_private"]))
    ce, se = priv(h2b(v["client_ephemeral"])), priv(h2b(v["server_ephemeral"]))
    cpub, spub, ppub = pub(c), pub(s), pub(p)
    wall = int(v["wall_ns"])

    # initiation: -> e, es, s, ss
    ck = HASH(CONSTRUCTION)
    h = HASH(HASH(ck, IDENTIFIER), spub)
    msg = bytes([0xC1, 0, 0, 0]) + h2b(v["client_index"]) + pub(ce)
    h = HASH(h, pub(ce))
    ck, k = KDF(2, ck, DH(ce, spub))
    st = AEAD(k, 0, cpub, h)
    h = HASH(h, st)
    ck, k = KDF(2, ck, DH(c, spub))
    sec, nsec = divmod(wall, 10**9)
    tai = struct.pack(">QI", (1 << 62) + 10 + sec, nsec - nsec % (1 << 24))
    ts = AEAD(k, 0, tai, h)
    h = HASH(h, ts)
    msg += st + ts
    msg += MAC(HASH(LABEL_MAC1, spub), msg) + b"\0" * 16
    init = msg
    print("initiation =", init.hex())

    # the server's side of it, then the response: <- e, ee, se
    sck = HASH(CONSTRUCTION)
    sh = HASH(HASH(sck, IDENTIFIER), spub)
    ei = init[8:40]
    sh = HASH(sh, ei)
    sck, k = KDF(2, sck, DH(s, ei))
    assert UNAEAD(k, 0, init[40:88], sh) == cpub
    sh = HASH(sh, init[40:88])
    sck, k = KDF(2, sck, DH(s, cpub))
    assert UNAEAD(k, 0, init[88:116], sh) == tai
    sh = HASH(sh, init[88:116])
    resp = bytes([0xC2, 0, 0, 0]) + h2b(v["server_index"]) + init[4:8] + pub(se)
    sh = HASH(sh, pub(se))
    (sck,) = KDF(1, sck, DH(se, ei))
    sck, k = KDF(2, sck, DH(se, cpub))
    empty = AEAD(k, 0, b"", sh)
    resp += empty
    resp += MAC(HASH(LABEL_MAC1, cpub), resp) + b"\0" * 16
    s_c2s, s_s2c = KDF(2, sck, b"")
    print("response =", resp.hex())

    # the client consumes it
    h = HASH(h, resp[12:44])
    (ck,) = KDF(1, ck, DH(ce, resp[12:44]))
    ck, k = KDF(2, ck, DH(c, resp[12:44]))
    UNAEAD(k, 0, resp[44:60], h)
    c2s, s2c = KDF(2, ck, b"")
    assert (c2s, s2c) == (s_c2s, s_s2c)

    # token and blob (the client's candidates, for the peer)
    lo, hi = sorted([cpub, ppub])
    token = HASH(lo, hi, v["label"].encode())
    print("token =", token.hex())
    bkey = KDF(1, token, DH(c, ppub))[0]
    nonce = h2b(v["blob_nonce"])
    cands = bytes([2]) + addr(4, "192.168.1.20", 51820) + addr(6, "fd00::20", 51820)
    blob = bytes([1]) + nonce + XAEAD(bkey, nonce, cands, token + cpub)
    print("blob =", blob.hex())

    # ANNOUNCE in the first transport message (counter 0), padded to 16
    plain = bytes([1, 0]) + struct.pack("<H", len(blob)) + token + blob
    plain += b"\0" * (-len(plain) % 16)
    transport = bytes([0xC4, 0, 0, 0]) + resp[4:8] + struct.pack("<Q", 0) + AEAD(c2s, 0, plain, b"")
    print("transport =", transport.hex())

    # a cookie reply to the initiation, bound to 203.0.113.7:40000
    src = bytes([4]) + struct.pack(">H", 40000) + bytes([203, 0, 113, 7]) + b"\0" * 12
    cookie = MAC(h2b(v["cookie_secret"]), src)
    cn = h2b(v["cookie_nonce"])
    reply = bytes([0xC3, 0, 0, 0]) + init[4:8] + cn + XAEAD(HASH(LABEL_COOKIE, spub), cn, cookie, init[116:132])
    print("cookie_reply =", reply.hex())


if __name__ == "__main__":
    main()
