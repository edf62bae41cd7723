#!/usr/bin/python3
# tests/vectors/handshake_ref.py: an independent reference of WireGuard's handshake and
# first transport message, written from the whitepaper (section 5.4, "Protocol Messages",
# 5.4.2-5.4.6) with other libraries than weft's (hashlib.blake2s, hmac,
# python3-cryptography), to cross-check weft's bytes.
#
#   /usr/bin/python3 handshake_ref.py INPUTS
# prints "initiation = HEX", "response = HEX", "transport = HEX" for the inputs file
# (format described in handshake_inputs.txt). Both parties are simulated in full: the
# responder consumes the initiation before answering and the initiator consumes the
# response before deriving its keys, so each message is checked by the other side's
# code path too. wireguard_go_check.py imports this module to talk to a real peer.
#
# Deliberately naive and slow: clarity over speed, nothing here is hot.

import hashlib
import hmac
import struct
import sys

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives import serialization

# Whitepaper 5.4: protocol constants.
CONSTRUCTION = b"Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s"
IDENTIFIER = b"WireGuard v1 zx2c4 Jason@zx2c4.com"
LABEL_MAC1 = b"mac1----"

# Message types (first byte; the next three bytes are reserved zeros).
TYPE_INITIATION = 1
TYPE_RESPONSE = 2
TYPE_TRANSPORT = 4

INITIATION_LEN = 148
RESPONSE_LEN = 92
TRANSPORT_HEADER_LEN = 16
AEAD_TAG_LEN = 16
MAC_LEN = 16
PADDING_MULTIPLE = 16  # whitepaper 5.4.6: plaintext padded to a multiple of 16

# TAI64N (whitepaper 5.4.2): label 2^62 + 10 (TAI-UTC offset at the epoch, as
# djb's libtai and every WireGuard implementation use). Nanoseconds are rounded
# down to a multiple of 2^24 like the Linux module (noise.c whitens the timestamp
# with rounddown_pow_of_two(NSEC_PER_SEC / INITIATIONS_PER_SECOND)) and wireguard-go.
TAI64_BASE = (1 << 62) + 10
TIMESTAMP_WHITEN = 1 << 24

INPUT_NAMES = {
    "initiator_static_private": 32,
    "responder_static_private": 32,
    "initiator_ephemeral_private": 32,
    "responder_ephemeral_private": 32,
    "preshared_key": 32,
    "initiator_index": 4,
    "responder_index": 4,
}


# --- primitives (whitepaper 5.4 "notation") -------------------------------------------

def HASH(data):
    return hashlib.blake2s(data, digest_size=32).digest()


def MAC(key, data):
    """Keyed BLAKE2s with a 16-byte output (not HMAC)."""
    return hashlib.blake2s(data, digest_size=16, key=key).digest()


def HMAC(key, data):
    return hmac.new(key, data, hashlib.blake2s).digest()


def KDF(n, key, data):
    """KDF_n(key, input): tau0 = HMAC(key, input), tau_i = HMAC(tau0, tau_{i-1} || i)."""
    tau0 = HMAC(key, data)
    out, prev = [], b""
    for i in range(1, n + 1):
        prev = HMAC(tau0, prev + bytes([i]))
        out.append(prev)
    return out


def DH_PUBKEY(private):
    pub = X25519PrivateKey.from_private_bytes(private).public_key()
    return pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def DH(private, public):
    return X25519PrivateKey.from_private_bytes(private).exchange(
        X25519PublicKey.from_public_bytes(public))


def nonce(counter):
    """32 bits of zeros followed by the 64-bit little-endian counter."""
    return b"\0" * 4 + struct.pack("<Q", counter)


def AEAD(key, counter, plain, auth):
    return ChaCha20Poly1305(key).encrypt(nonce(counter), plain, auth)


def AEAD_OPEN(key, counter, sealed, auth):
    """Raises cryptography.exceptions.InvalidTag on a bad tag."""
    return ChaCha20Poly1305(key).decrypt(nonce(counter), sealed, auth)


def TAI64N(wall_time_ns):
    seconds, nanoseconds = divmod(wall_time_ns, 1_000_000_000)
    nanoseconds -= nanoseconds % TIMESTAMP_WHITEN
    return struct.pack(">QI", TAI64_BASE + seconds, nanoseconds)


def initial_chain(responder_static_public):
    """Both sides start from C = HASH(CONSTRUCTION), H = HASH(HASH(C || IDENTIFIER) || S_r^pub)."""
    C = HASH(CONSTRUCTION)
    H = HASH(C + IDENTIFIER)
    H = HASH(H + responder_static_public)
    return C, H


def mac1_key(receiver_static_public):
    return HASH(LABEL_MAC1 + receiver_static_public)


class ProtocolError(Exception):
    pass


def check_mac1(msg, receiver_static_public):
    """mac1 covers the message up to mac1; mac2 must be zero here (no cookie)."""
    body, mac1, mac2 = msg[:-2 * MAC_LEN], msg[-2 * MAC_LEN:-MAC_LEN], msg[-MAC_LEN:]
    if not hmac.compare_digest(MAC(mac1_key(receiver_static_public), body), mac1):
        raise ProtocolError("bad mac1")
    return mac2


def header(msg_type):
    return bytes([msg_type, 0, 0, 0])


# --- initiator (whitepaper 5.4.2 and the initiator half of 5.4.3/5.4.5) ---------------

class Initiator:
    def __init__(self, static_private, ephemeral_private, responder_static_public,
                 preshared_key, sender_index):
        self.s_priv = static_private
        self.s_pub = DH_PUBKEY(static_private)
        self.e_priv = ephemeral_private
        self.e_pub = DH_PUBKEY(ephemeral_private)
        self.r_pub = responder_static_public
        self.psk = preshared_key
        self.index = sender_index  # 4 wire bytes

    def create_initiation(self, wall_time_ns):
        C, H = initial_chain(self.r_pub)
        C = KDF(1, C, self.e_pub)[0]
        H = HASH(H + self.e_pub)
        C, k = KDF(2, C, DH(self.e_priv, self.r_pub))
        enc_static = AEAD(k, 0, self.s_pub, H)
        H = HASH(H + enc_static)
        C, k = KDF(2, C, DH(self.s_priv, self.r_pub))
        enc_timestamp = AEAD(k, 0, TAI64N(wall_time_ns), H)
        H = HASH(H + enc_timestamp)
        body = header(TYPE_INITIATION) + self.index + self.e_pub + enc_static + enc_timestamp
        msg = body + MAC(mac1_key(self.r_pub), body) + b"\0" * MAC_LEN
        assert len(msg) == INITIATION_LEN
        self.C, self.H = C, H
        return msg

    def consume_response(self, msg):
        """Checks a response to our initiation; returns (responder index, send key, recv key)."""
        if len(msg) != RESPONSE_LEN or msg[:4] != header(TYPE_RESPONSE):
            raise ProtocolError("not a handshake response")
        check_mac1(msg, self.s_pub)
        sender, receiver = msg[4:8], msg[8:12]
        e_r = msg[12:44]
        enc_empty = msg[44:60]
        if receiver != self.index:
            raise ProtocolError("response for another index")
        C, H = self.C, self.H
        C = KDF(1, C, e_r)[0]
        H = HASH(H + e_r)
        C = KDF(1, C, DH(self.e_priv, e_r))[0]
        C = KDF(1, C, DH(self.s_priv, e_r))[0]
        C, tau, k = KDF(3, C, self.psk)
        H = HASH(H + tau)
        AEAD_OPEN(k, 0, enc_empty, H)  # the empty payload authenticates the whole transcript
        H = HASH(H + enc_empty)
        send, recv = KDF(2, C, b"")  # whitepaper 5.4.5: initiator sends with the first key
        return sender, send, recv


# --- responder (whitepaper 5.4.2 consumed, 5.4.3 created, 5.4.5 responder half) -------

class Responder:
    def __init__(self, static_private, ephemeral_private, initiator_static_public,
                 preshared_key, sender_index):
        self.s_priv = static_private
        self.s_pub = DH_PUBKEY(static_private)
        self.e_priv = ephemeral_private
        self.e_pub = DH_PUBKEY(ephemeral_private)
        self.i_pub = initiator_static_public  # the configured peer
        self.psk = preshared_key
        self.index = sender_index

    def consume_initiation(self, msg):
        """Returns the TAI64N timestamp the initiator sent."""
        if len(msg) != INITIATION_LEN or msg[:4] != header(TYPE_INITIATION):
            raise ProtocolError("not a handshake initiation")
        check_mac1(msg, self.s_pub)
        self.peer_index = msg[4:8]
        e_i, enc_static, enc_timestamp = msg[8:40], msg[40:88], msg[88:116]
        C, H = initial_chain(self.s_pub)
        C = KDF(1, C, e_i)[0]
        H = HASH(H + e_i)
        C, k = KDF(2, C, DH(self.s_priv, e_i))
        s_i = AEAD_OPEN(k, 0, enc_static, H)
        if s_i != self.i_pub:
            raise ProtocolError("initiation from an unknown static key")
        H = HASH(H + enc_static)
        C, k = KDF(2, C, DH(self.s_priv, s_i))
        timestamp = AEAD_OPEN(k, 0, enc_timestamp, H)
        H = HASH(H + enc_timestamp)
        self.e_i, self.C, self.H = e_i, C, H
        return timestamp

    def create_response(self):
        C, H = self.C, self.H
        C = KDF(1, C, self.e_pub)[0]
        H = HASH(H + self.e_pub)
        C = KDF(1, C, DH(self.e_priv, self.e_i))[0]
        C = KDF(1, C, DH(self.e_priv, self.i_pub))[0]
        C, tau, k = KDF(3, C, self.psk)
        H = HASH(H + tau)
        enc_empty = AEAD(k, 0, b"", H)
        H = HASH(H + enc_empty)
        body = (header(TYPE_RESPONSE) + self.index + self.peer_index + self.e_pub + enc_empty)
        msg = body + MAC(mac1_key(self.i_pub), body) + b"\0" * MAC_LEN
        assert len(msg) == RESPONSE_LEN
        recv, send = KDF(2, C, b"")  # mirror of the initiator's (send, recv)
        self.send, self.recv = send, recv
        return msg


# --- transport data (whitepaper 5.4.6) -------------------------------------------------

def seal_transport(key, receiver_index, counter, packet):
    padded = packet + b"\0" * (-len(packet) % PADDING_MULTIPLE)
    return (header(TYPE_TRANSPORT) + receiver_index + struct.pack("<Q", counter)
            + AEAD(key, counter, padded, b""))


def open_transport(key, msg):
    """Returns (receiver index, counter, padded plaintext)."""
    if len(msg) < TRANSPORT_HEADER_LEN + AEAD_TAG_LEN or msg[:4] != header(TYPE_TRANSPORT):
        raise ProtocolError("not a transport data message")
    counter = struct.unpack("<Q", msg[8:16])[0]
    return msg[4:8], counter, AEAD_OPEN(key, counter, msg[16:], b"")


# --- inputs and main -------------------------------------------------------------------

def parse_inputs(path):
    values = {}
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            name, sep, value = (part.strip() for part in line.partition("="))
            if not sep or not name or not value:
                raise ValueError(f"{path}:{lineno}: expected 'name = value'")
            if name in values:
                raise ValueError(f"{path}:{lineno}: {name} given twice")
            if name == "wall_time_ns":
                values[name] = int(value, 10)
            elif name in INPUT_NAMES or name == "payload":
                raw = bytes.fromhex(value)
                want = INPUT_NAMES.get(name)
                if want is not None and len(raw) != want:
                    raise ValueError(f"{path}:{lineno}: {name} must be {want} bytes of hex")
                values[name] = raw
            else:
                raise ValueError(f"{path}:{lineno}: unknown name {name}")
    missing = [n for n in list(INPUT_NAMES) + ["wall_time_ns", "payload"] if n not in values]
    if missing:
        raise ValueError(f"{path}: missing {', '.join(missing)}")
    return values


def run(inputs):
    """Simulates both parties; returns the three messages."""
    i_static, r_static = inputs["initiator_static_private"], inputs["responder_static_private"]
    initiator = Initiator(i_static, inputs["initiator_ephemeral_private"], DH_PUBKEY(r_static),
                          inputs["preshared_key"], inputs["initiator_index"])
    responder = Responder(r_static, inputs["responder_ephemeral_private"], DH_PUBKEY(i_static),
                          inputs["preshared_key"], inputs["responder_index"])

    initiation = initiator.create_initiation(inputs["wall_time_ns"])
    if responder.consume_initiation(initiation) != TAI64N(inputs["wall_time_ns"]):
        raise ProtocolError("timestamp did not survive the round trip")
    response = responder.create_response()
    peer_index, send, recv = initiator.consume_response(response)
    if peer_index != inputs["responder_index"] or send != responder.recv or recv != responder.send:
        raise ProtocolError("the two sides derived different transport keys")

    transport = seal_transport(send, peer_index, 0, inputs["payload"])
    _, _, plain = open_transport(responder.recv, transport)
    payload = inputs["payload"]
    if plain != payload + b"\0" * (-len(payload) % PADDING_MULTIPLE):
        raise ProtocolError("transport payload did not survive the round trip")
    return initiation, response, transport


def main(argv):
    if len(argv) != 2:
        print(f"usage: {argv[0]} INPUTS", file=sys.stderr)
        return 2
    initiation, response, transport = run(parse_inputs(argv[1]))
    print(f"initiation = {initiation.hex()}")
    print(f"response = {response.hex()}")
    print(f"transport = {transport.hex()}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
