#!/usr/bin/env python3
"""pcap_streams.py FILE: the TCP payload of a capture, each stream reassembled.

A key that crosses a segment boundary is cut in two by the capture's record
headers, so a grep over the raw file can miss it; this writes each direction
of each TCP connection whole, in sequence order (retransmissions once), one
after another, to stdout. Ethernet (Linux loopback) and raw IP links."""
import struct
import sys


def frames(data):
    magic = struct.unpack_from("<I", data)[0]
    if magic in (0xA1B2C3D4, 0xA1B23C4D):
        end = "<"
    elif magic in (0xD4C3B2A1, 0x4D3CB2A1):
        end = ">"
    else:
        sys.exit("pcap_streams: %s is not a pcap file" % sys.argv[1])
    link = struct.unpack_from(end + "I", data, 20)[0]
    off = 24
    while off + 16 <= len(data):
        incl = struct.unpack_from(end + "I", data, off + 8)[0]
        yield link, data[off + 16:off + 16 + incl]
        off += 16 + incl


def tcp_segments(link, pkt):
    if link == 1:  # Ethernet
        if len(pkt) < 14:
            return
        etype = struct.unpack_from(">H", pkt, 12)[0]
        pkt = pkt[14:]
        if etype not in (0x0800, 0x86DD):
            return
    elif link not in (101, 228, 229):  # raw IP
        return
    if not pkt:
        return
    ver = pkt[0] >> 4
    if ver == 4:
        ihl = (pkt[0] & 15) * 4
        if len(pkt) < ihl + 20 or pkt[9] != 6:
            return
        total = struct.unpack_from(">H", pkt, 2)[0]
        src, dst, seg = pkt[12:16], pkt[16:20], pkt[ihl:total]
    elif ver == 6:
        if len(pkt) < 60 or pkt[6] != 6:
            return
        plen = struct.unpack_from(">H", pkt, 4)[0]
        src, dst, seg = pkt[8:24], pkt[24:40], pkt[40:40 + plen]
    else:
        return
    sport, dport, seq = struct.unpack_from(">HHI", seg)
    doff = (seg[12] >> 4) * 4
    if seg[doff:]:
        yield (src, sport, dst, dport), seq, seg[doff:]


def main():
    data = open(sys.argv[1], "rb").read()
    streams = {}
    for link, pkt in frames(data):
        for key, seq, payload in tcp_segments(link, pkt):
            streams.setdefault(key, {}).setdefault(seq, payload)
    out = sys.stdout.buffer
    for segs in streams.values():
        first = min(segs)
        buf = bytearray()
        for seq in sorted(segs, key=lambda s: (s - first) & 0xFFFFFFFF):
            at = (seq - first) & 0xFFFFFFFF
            payload = segs[seq]
            if at + len(payload) > len(buf):
                buf[at:] = payload
        out.write(bytes(buf) + b"\n")


main()
