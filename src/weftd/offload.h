/* offload.h: the packet side of the TUN device's offloads, with no I/O.
 *
 * With IFF_VNET_HDR every TUN read and write starts with a struct
 * virtio_net_hdr (10 bytes, host byte order: the TUN default on
 * little-endian hosts; see TUNSETVNETLE). TUNSETOFFLOAD tells the kernel
 * what it may hand us:
 *   TUN_F_CSUM            packets whose TCP/UDP checksum is left to us
 *                         (flags NEEDS_CSUM, csum_start/csum_offset);
 *   TUN_F_TSO4/6          TCP super-packets up to 64 KiB (gso_type TCPV4/6),
 *   TUN_F_TSO_ECN         ...also with CWR set (gso_type | GSO_ECN);
 *   TUN_F_USO4/6          UDP super-packets (gso_type UDP_L4, Linux >= 6.2).
 * Read side: offload_split() turns what one read returns into plain IP
 * packets with correct headers and checksums, ready for weft_send().
 * Write side: struct offload_gro coalesces a batch of decrypted TCP segments
 * into super-packets the kernel takes in one write (the kernel accepts them
 * whatever TUNSETOFFLOAD said; the flags only govern what it hands us).
 *
 * Neither direction trusts the header or the packet: every length is checked
 * before it is used, and a packet that does not parse is refused (split) or
 * written through unchanged (GRO), never read out of bounds. */
#ifndef WEFTD_OFFLOAD_H
#define WEFTD_OFFLOAD_H

#include <linux/virtio_net.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/* Newer than Debian 12's headers (Linux 6.2). */
#ifndef VIRTIO_NET_HDR_GSO_UDP_L4
#define VIRTIO_NET_HDR_GSO_UDP_L4 5
#endif
#ifndef TUN_F_USO4
#define TUN_F_USO4 0x20
#define TUN_F_USO6 0x40
#endif

#define OFFLOAD_VNET_HDR_LEN sizeof(struct virtio_net_hdr) /* 10 */
/* The largest IP packet either direction handles: IPv6 is 40 bytes of header
 * plus a 16-bit payload length. A TUN read buffer needs the vnet header on
 * top of this. */
#define OFFLOAD_IP_MAX (40 + 65535)
#define OFFLOAD_READ_MAX (OFFLOAD_VNET_HDR_LEN + OFFLOAD_IP_MAX)

/* Splitting (TUN read side).
 *
 * hdr is the vnet header of one read, pkt/len the IP packet after it.
 * - gso_type TCPV4/TCPV6 (| GSO_ECN) or UDP_L4: the payload is cut into
 *   gso_size pieces, each a full IP packet: IPv4 total length, id (first id
 *   + segment index) and header checksum; IPv6 payload length; TCP sequence
 *   advanced, FIN/PSH kept only on the last segment and CWR only on the
 *   first; UDP length; a full TCP/UDP checksum with the pseudo-header.
 *   hdr_len is only checked against len: the kernel reports skb_headlen()
 *   there, which on the forwarding path can span the whole first segment, so
 *   the header length comes from the packet itself (as wireguard-go does).
 *   csum_start, when NEEDS_CSUM is set, must point at the transport header.
 * - gso_type NONE with NEEDS_CSUM: the checksum is completed (the field holds
 *   the pseudo-header sum, as for CHECKSUM_PARTIAL).
 * - anything else (flags 0 or DATA_VALID): copied through unchanged.
 * Segment i lands at out + seg_off[i], seg_len[i] bytes; segments are packed
 * one after another. Returns the number of segments, -EINVAL for a malformed
 * packet or header (bad lengths, unsupported gso_type or IP/transport header,
 * gso_size 0, empty GSO payload), -ENOSPC when max_segs or out_cap is short
 * (nothing useful is written then). */
int offload_split(const struct virtio_net_hdr *hdr, const uint8_t *pkt, size_t len,
		  uint8_t *out, size_t out_cap, size_t *seg_off, size_t *seg_len, size_t max_segs);

/* How many segments offload_split() would make (1 for a non-GSO packet), or
 * -EINVAL; with out_cap = offload_split_bytes() it cannot fail with -ENOSPC. */
int offload_split_count(const struct virtio_net_hdr *hdr, const uint8_t *pkt, size_t len);
/* Bytes all of those segments take (0 when malformed). */
size_t offload_split_bytes(const struct virtio_net_hdr *hdr, const uint8_t *pkt, size_t len);

/* Resumable form for fixed-size output arrays: writes segments first,
 * first+1, ... while they fit in out_cap and max_segs, and returns how many
 * (0 once first is past the last one), or -EINVAL; -ENOSPC only when not even
 * one segment fits. A tiny MSS (Linux allows 48) makes a 64 KiB super-packet
 * over a thousand segments; loop with first += n instead of dropping it. */
int offload_split_from(const struct virtio_net_hdr *hdr, const uint8_t *pkt, size_t len, size_t first,
		       uint8_t *out, size_t out_cap, size_t *seg_off, size_t *seg_len, size_t max_segs);

/* Completes a NEEDS_CSUM checksum in place (what offload_split does for a
 * non-GSO packet, without the copy). 0 (also when there is nothing to do),
 * or -EINVAL when csum_start/csum_offset fall outside the packet. */
int offload_csum_inplace(const struct virtio_net_hdr *hdr, uint8_t *pkt, size_t len);

/* Coalescing (TUN write side, GRO).
 *
 * Consecutive TCP segments of one flow merge when the kernel's own GRO would
 * merge them (tcp_gro_receive, inet/ipv6_gro_receive): same addresses, ports
 * and IP version; no IPv4 options or fragments, no IPv6 extension headers;
 * equal TOS/TTL/DF (IPv4; without DF the id must count up by one) or equal
 * version/class/flow label/hop limit (IPv6); equal TCP header length and
 * options bytes (timestamps included), ACK number and window; flags ACK or
 * ACK|PSH; a valid IPv4 header checksum; sequence numbers contiguous;
 * payloads of the first one's size except a shorter last; PSH only on the
 * last. TCP checksums are not looked at (see offload.c for why).
 * A packet only ever merges into the newest entry of its flow, so each flow's
 * packets leave in the order they came; flows may interleave.
 * A super-packet holds at most OFFLOAD_GRO_MAX_SEGS segments and
 * OFFLOAD_GRO_MAX_BYTES bytes of IP packet. It is written with gso_type
 * TCPV4/TCPV6, gso_size = the first payload size, flags NEEDS_CSUM,
 * csum_start = the TCP header, csum_offset 16, hdr_len = IP + TCP header,
 * and the TCP checksum field holding the pseudo-header sum (CHECKSUM_PARTIAL).
 * Everything else is written as it came, after a zero vnet header.
 *
 * Memory: nothing is copied but a super-packet's headers. gro_add() keeps a
 * pointer to each packet, which must stay valid and unchanged until flush
 * returns; the packets themselves are never written to. */
#define OFFLOAD_GRO_MAX_PKTS 256      /* adds between two flushes */
#define OFFLOAD_GRO_MAX_SEGS 64       /* segments per super-packet (the kernel's GRO limit) */
#define OFFLOAD_GRO_MAX_BYTES 65535   /* IP bytes per super-packet: an IPv4 total length */
#define OFFLOAD_GRO_HASH_SIZE 512     /* flow buckets: a power of two, >= 2 * MAX_PKTS */
#define OFFLOAD_GRO_HDR_MAX (40 + 60) /* IPv6 + the longest TCP header (IPv4 merges without options) */
/* iovecs of one write: vnet header, rewritten headers, first payload, and
 * one per later segment; far below IOV_MAX (1024), checked in offload.c. */
#define OFFLOAD_GRO_MAX_IOV (OFFLOAD_GRO_MAX_SEGS + 2)

struct offload_gro_item {
	const uint8_t *pkt;           /* the first packet */
	uint32_t len;                 /* IP bytes so far */
	uint32_t next_seq;            /* sequence number the next segment must carry */
	uint32_t hash;                /* flow hash; meaningful when flow is set */
	int16_t prev;                 /* older item in the same bucket, -1 none */
	int16_t more, last;           /* first and last later segment in segs[], -1 none */
	uint16_t gso_size;            /* payload bytes of the first segment */
	uint16_t segs;
	uint16_t first_id;            /* IPv4 id of the first segment */
	uint8_t l3_len, l4_len;       /* IP and TCP header bytes */
	uint8_t flow;                 /* 1: a TCP flow member (in the hash) */
	uint8_t open;                 /* 1: more segments may still be appended */
	uint8_t psh;                  /* 1: the last segment carried PSH */
};

/* The payload of a segment merged into an item. */
struct offload_gro_seg {
	const uint8_t *payload;
	uint32_t len;
	int16_t next;                 /* the item's next segment, -1 none */
};

struct offload_gro {
	struct offload_gro_item items[OFFLOAD_GRO_MAX_PKTS];
	struct offload_gro_seg segs[OFFLOAD_GRO_MAX_PKTS];
	size_t count, seg_count;      /* count + seg_count = adds since the last flush */
	int16_t bucket[OFFLOAD_GRO_HASH_SIZE]; /* newest item per bucket, -1 empty */
	struct virtio_net_hdr vnet;   /* of the write being made by flush */
	uint8_t hdr[OFFLOAD_GRO_HDR_MAX]; /* its super-packet's rewritten IP + TCP header */
};

void offload_gro_init(struct offload_gro *g);
/* Queues one IP packet (referenced, see above). Returns 1 when it merged into
 * an earlier packet, 0 when queued on its own, -ENOSPC after
 * OFFLOAD_GRO_MAX_PKTS adds (flush, then add it again), -EINVAL for an empty
 * packet. */
int offload_gro_add(struct offload_gro *g, const uint8_t *pkt, size_t len);
/* Writes every queued packet, first packets first, and resets g. Each write
 * is one IP packet behind its vnet header: iov[0] = the header, the packet's
 * bytes in iov[1] .. iov[iovcnt - 1] in order (iovcnt 2 for a packet written
 * as it came, at most OFFLOAD_GRO_MAX_IOV for a super-packet, whose later
 * iovecs point into the added packets). The iovecs point into g and the
 * caller's packets: write must be done with them when it returns
 * (writev(tun_fd, iov, iovcnt) is). Its return value is ignored here; count
 * failures in ctx. */
void offload_gro_flush(struct offload_gro *g, int (*write)(void *ctx, const struct iovec *iov, int iovcnt),
		       void *ctx);

#endif
