/* offload.c: splitting TUN super-packets and coalescing TCP segments for the
 * TUN's vnet header offloads (see offload.h). Pure functions of bytes in and
 * bytes out: no I/O, no allocation.
 *
 * Checksums are summed in host byte order, 8 bytes at a time, and stored
 * back with memcpy: the one's complement sum does not care about byte order
 * as long as every summed span starts at an even offset from the start of
 * the checksummed data, which holds for every header length used here. */
#include "weftd/offload.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <string.h>

#define IPV4_MIN_HDR 20
#define IPV6_HDR 40
#define IPV6_EXT_MAX 8          /* extension headers walked before giving up */
#define TCP_MIN_HDR 20
#define UDP_HDR 8
#define TCP_CSUM_OFF 16         /* offsetof(struct tcphdr, check) */
#define UDP_CSUM_OFF 6          /* offsetof(struct udphdr, check) */

#define IPV4_DF 0x4000
#define IPV4_MF 0x2000
#define IPV4_FRAG_OFF_MASK 0x1fff

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_PSH 0x08
#define TCP_ACK 0x10
#define TCP_URG 0x20
#define TCP_ECE 0x40
#define TCP_CWR 0x80
#define TCP_FLAGS_OFF 13

static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t get32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }
static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void put32(uint8_t *p, uint32_t v) { p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v; }

/* --- checksums ---------------------------------------------------------- */

static inline uint64_t add_carry(uint64_t acc, uint64_t w)
{
	acc += w;
	return acc + (acc < w); /* end-around carry; cannot overflow again */
}

/* The tail is zero-padded, so an odd last byte counts as the high byte of
 * its 16-bit word, as RFC 1071 wants. */
static uint64_t tail_word(const uint8_t *p, size_t n)
{
	uint8_t b[8] = { 0 };
	uint64_t w;

	memcpy(b, p, n);
	memcpy(&w, b, 8);
	return w;
}

/* 32-bit words into four 64-bit sums: independent additions with no carry
 * to chase (a sum cannot overflow before 2^32 words), which the CPU runs
 * side by side; the end-around carry is taken once, at the end. The ones'
 * complement sum is the same over 16-, 32- or 64-bit words. */
struct sum4 { uint64_t s[4]; };

static inline void sum4_add(struct sum4 *a, const uint8_t *p)
{
	uint32_t w[4];

	memcpy(w, p, sizeof(w));
	for (int k = 0; k < 4; k++)
		a->s[k] += w[k];
}

static inline uint64_t sum4_done(const struct sum4 *a, uint64_t acc)
{
	for (int k = 0; k < 4; k++)
		acc = add_carry(acc, a->s[k]);
	return acc;
}

static uint64_t sum_bytes(uint64_t acc, const uint8_t *p, size_t n)
{
	struct sum4 a = { { 0 } };

	for (; n >= 16; p += 16, n -= 16)
		sum4_add(&a, p);
	acc = sum4_done(&a, acc);
	for (; n >= 8; p += 8, n -= 8) {
		uint64_t w;
		memcpy(&w, p, 8);
		acc = add_carry(acc, w);
	}
	return n ? add_carry(acc, tail_word(p, n)) : acc;
}

/* Copies n bytes and adds them to the sum in the same pass. */
static uint64_t copy_sum(uint8_t *dst, const uint8_t *src, size_t n, uint64_t acc)
{
	struct sum4 a = { { 0 } };

	for (; n >= 16; src += 16, dst += 16, n -= 16) {
		memcpy(dst, src, 16);
		sum4_add(&a, src);
	}
	acc = sum4_done(&a, acc);
	memcpy(dst, src, n);
	return sum_bytes(acc, src, n);
}

/* Folds to 16 bits, still in host order (store it with memcpy). */
static uint16_t fold(uint64_t acc)
{
	acc = (acc & 0xffffffffu) + (acc >> 32);
	acc = (acc & 0xffffffffu) + (acc >> 32);
	acc = (acc & 0xffff) + (acc >> 16);
	acc = (acc & 0xffff) + (acc >> 16);
	return (uint16_t)acc;
}

static void store_sum(uint8_t *p, uint16_t host_order_sum)
{
	memcpy(p, &host_order_sum, 2);
}

/* Sum of the pseudo-header: the two addresses as they sit in the IP header,
 * the protocol and the transport length. */
static uint64_t pseudo_sum(const uint8_t *addrs, size_t addr_len, uint8_t proto, uint32_t l4_len)
{
	uint64_t acc = sum_bytes(0, addrs, 2 * addr_len);

	acc = add_carry(acc, htons(proto));
	acc = add_carry(acc, htons((uint16_t)(l4_len >> 16)));
	return add_carry(acc, htons((uint16_t)l4_len));
}

static void ipv4_set_csum(uint8_t *iph, size_t l3_len)
{
	iph[10] = iph[11] = 0;
	store_sum(iph + 10, (uint16_t)~fold(sum_bytes(0, iph, l3_len)));
}

/* --- parsing ------------------------------------------------------------ */

struct l3 {
	bool v6;
	uint8_t proto;          /* transport protocol */
	size_t l4_off;          /* transport header offset */
	size_t addr_off, addr_len;
};

/* The IP header of a packet whose length fields must agree with len. */
static int parse_ip(const uint8_t *pkt, size_t len, struct l3 *l)
{
	if (len < 1)
		return -EINVAL;
	if (pkt[0] >> 4 == 4) {
		size_t ihl = (size_t)(pkt[0] & 0x0f) * 4;

		if (len < IPV4_MIN_HDR || ihl < IPV4_MIN_HDR || ihl > len || get16(pkt + 2) != len)
			return -EINVAL;
		if (get16(pkt + 6) & (IPV4_MF | IPV4_FRAG_OFF_MASK))
			return -EINVAL; /* a fragment has no transport header to segment */
		*l = (struct l3){ .v6 = false, .proto = pkt[9], .l4_off = ihl, .addr_off = 12, .addr_len = 4 };
		return 0;
	}
	if (pkt[0] >> 4 == 6) {
		size_t off = IPV6_HDR;
		uint8_t nh;

		if (len < IPV6_HDR || get16(pkt + 4) != len - IPV6_HDR)
			return -EINVAL;
		nh = pkt[6];
		/* Hop-by-hop and destination options do not change the
		 * pseudo-header; a routing header would (final destination),
		 * and a fragment header cannot be segmented. */
		for (int i = 0; (nh == IPPROTO_HOPOPTS || nh == IPPROTO_DSTOPTS) && i < IPV6_EXT_MAX; i++) {
			if (len - off < 8)
				return -EINVAL;
			nh = pkt[off];
			off += ((size_t)pkt[off + 1] + 1) * 8;
			if (off > len)
				return -EINVAL;
		}
		*l = (struct l3){ .v6 = true, .proto = nh, .l4_off = off, .addr_off = 8, .addr_len = 16 };
		return 0;
	}
	return -EINVAL;
}

/* What splitting one read involves. */
struct plan {
	struct l3 l3;
	bool gso, tcp;
	size_t l4_len;          /* transport header bytes */
	size_t hdrs;            /* l4_off + l4_len: copied into every segment */
	size_t payload;         /* bytes after the headers */
	size_t mss;
	size_t segs;
};

static int make_plan(const struct virtio_net_hdr *hdr, const uint8_t *pkt, size_t len, struct plan *p)
{
	uint8_t type = hdr->gso_type & (uint8_t)~VIRTIO_NET_HDR_GSO_ECN;
	bool needs_csum = hdr->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM;
	int r;

	memset(p, 0, sizeof(*p));
	if (len == 0)
		return -EINVAL;
	if (type == VIRTIO_NET_HDR_GSO_NONE) {
		if (hdr->gso_type & VIRTIO_NET_HDR_GSO_ECN)
			return -EINVAL;
		if (needs_csum && (size_t)hdr->csum_start + hdr->csum_offset + 2 > len)
			return -EINVAL;
		p->segs = 1;
		p->payload = len;
		return 0;
	}
	if (type != VIRTIO_NET_HDR_GSO_TCPV4 && type != VIRTIO_NET_HDR_GSO_TCPV6 &&
	    type != VIRTIO_NET_HDR_GSO_UDP_L4)
		return -EINVAL; /* UFO (3) would need IP fragmentation; nothing else exists */
	if (type == VIRTIO_NET_HDR_GSO_UDP_L4 && (hdr->gso_type & VIRTIO_NET_HDR_GSO_ECN))
		return -EINVAL; /* ECN (CWR on the first segment only) is TCP's */
	if (hdr->gso_size == 0 || hdr->hdr_len > len)
		return -EINVAL;
	if ((r = parse_ip(pkt, len, &p->l3)) < 0)
		return r;
	p->gso = true;
	p->tcp = type != VIRTIO_NET_HDR_GSO_UDP_L4;
	if ((type == VIRTIO_NET_HDR_GSO_TCPV4 && p->l3.v6) || (type == VIRTIO_NET_HDR_GSO_TCPV6 && !p->l3.v6))
		return -EINVAL;
	if (p->l3.proto != (p->tcp ? IPPROTO_TCP : IPPROTO_UDP))
		return -EINVAL;
	if (p->tcp) {
		if (len - p->l3.l4_off < TCP_MIN_HDR)
			return -EINVAL;
		p->l4_len = (size_t)(pkt[p->l3.l4_off + 12] >> 4) * 4;
		if (p->l4_len < TCP_MIN_HDR || p->l4_len > len - p->l3.l4_off)
			return -EINVAL;
	} else {
		if (len - p->l3.l4_off < UDP_HDR)
			return -EINVAL;
		p->l4_len = UDP_HDR;
	}
	if (needs_csum && (hdr->csum_start != p->l3.l4_off ||
			   hdr->csum_offset != (p->tcp ? TCP_CSUM_OFF : UDP_CSUM_OFF)))
		return -EINVAL;
	p->hdrs = p->l3.l4_off + p->l4_len;
	p->payload = len - p->hdrs;
	if (p->payload == 0)
		return -EINVAL;
	p->mss = hdr->gso_size;
	p->segs = (p->payload + p->mss - 1) / p->mss;
	return 0;
}

static size_t seg_bytes(const struct plan *p, size_t i)
{
	size_t start, n;

	if (!p->gso)
		return p->payload;
	start = i * p->mss;
	n = p->payload - start < p->mss ? p->payload - start : p->mss;
	return p->hdrs + n;
}

static void complete_csum(uint8_t *pkt, size_t len, size_t start, size_t off)
{
	uint16_t c = (uint16_t)~fold(sum_bytes(0, pkt + start, len - start));

	/* 0 and 0xffff are the same one's complement number; 0 would read as
	 * "no checksum" in UDP over IPv4 (skb_checksum_help does the same). */
	store_sum(pkt + start + off, c ? c : 0xffff);
}

static void write_segment(const struct virtio_net_hdr *hdr, const struct plan *p, const uint8_t *pkt,
			  size_t len, size_t i, uint8_t *o)
{
	size_t start, n, total;
	uint8_t *th;
	uint64_t acc;
	uint16_t c;

	if (!p->gso) {
		memcpy(o, pkt, len);
		if (hdr->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM)
			complete_csum(o, len, hdr->csum_start, hdr->csum_offset);
		return;
	}
	start = p->hdrs + i * p->mss;
	total = seg_bytes(p, i);
	n = total - p->hdrs;
	memcpy(o, pkt, p->hdrs);
	if (p->l3.v6) {
		put16(o + 4, (uint16_t)(total - IPV6_HDR));
	} else {
		put16(o + 2, (uint16_t)total);
		put16(o + 4, (uint16_t)(get16(pkt + 4) + i));
		ipv4_set_csum(o, p->l3.l4_off);
	}
	th = o + p->l3.l4_off;
	if (p->tcp) {
		put32(th + 4, get32(th + 4) + (uint32_t)(i * p->mss));
		if (i + 1 < p->segs)
			th[TCP_FLAGS_OFF] &= (uint8_t)~(TCP_FIN | TCP_PSH);
		if (i > 0)
			th[TCP_FLAGS_OFF] &= (uint8_t)~TCP_CWR;
		th[TCP_CSUM_OFF] = th[TCP_CSUM_OFF + 1] = 0;
	} else {
		put16(th + 4, (uint16_t)(p->l4_len + n));
		th[UDP_CSUM_OFF] = th[UDP_CSUM_OFF + 1] = 0;
	}
	acc = pseudo_sum(pkt + p->l3.addr_off, p->l3.addr_len, p->tcp ? IPPROTO_TCP : IPPROTO_UDP,
			 (uint32_t)(p->l4_len + n));
	acc = sum_bytes(acc, th, p->l4_len);
	acc = copy_sum(o + p->hdrs, pkt + start, n, acc);
	c = (uint16_t)~fold(acc);
	if (!p->tcp && c == 0)
		c = 0xffff; /* UDP: 0 means "no checksum" */
	store_sum(th + (p->tcp ? TCP_CSUM_OFF : UDP_CSUM_OFF), c);
}

/* Bytes of all the segments: the headers again in each, the payload once. */
static size_t plan_bytes(const struct plan *p, size_t len)
{
	return p->gso ? p->segs * p->hdrs + p->payload : len;
}

int offload_split_count(const struct virtio_net_hdr *hdr, const uint8_t *pkt, size_t len)
{
	struct plan p;
	int r = make_plan(hdr, pkt, len, &p);

	return r < 0 ? r : (int)p.segs; /* at most 65535: gso_size >= 1 */
}

size_t offload_split_bytes(const struct virtio_net_hdr *hdr, const uint8_t *pkt, size_t len)
{
	struct plan p;

	return make_plan(hdr, pkt, len, &p) < 0 ? 0 : plan_bytes(&p, len);
}

int offload_split_from(const struct virtio_net_hdr *hdr, const uint8_t *pkt, size_t len, size_t first,
		       uint8_t *out, size_t out_cap, size_t *seg_off, size_t *seg_len, size_t max_segs)
{
	struct plan p;
	size_t used = 0, k = 0;
	int r = make_plan(hdr, pkt, len, &p);

	if (r < 0)
		return r;
	for (size_t i = first; i < p.segs && k < max_segs; i++, k++) {
		size_t n = seg_bytes(&p, i);

		if (n > out_cap - used)
			break;
		write_segment(hdr, &p, pkt, len, i, out + used);
		seg_off[k] = used;
		seg_len[k] = n;
		used += n;
	}
	if (k == 0 && first < p.segs)
		return -ENOSPC;
	return (int)k;
}

int offload_split(const struct virtio_net_hdr *hdr, const uint8_t *pkt, size_t len,
		  uint8_t *out, size_t out_cap, size_t *seg_off, size_t *seg_len, size_t max_segs)
{
	struct plan p;
	int r = make_plan(hdr, pkt, len, &p);

	if (r < 0)
		return r;
	if (p.segs > max_segs || plan_bytes(&p, len) > out_cap)
		return -ENOSPC;
	return offload_split_from(hdr, pkt, len, 0, out, out_cap, seg_off, seg_len, max_segs);
}

int offload_csum_inplace(const struct virtio_net_hdr *hdr, uint8_t *pkt, size_t len)
{
	if (!(hdr->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM))
		return 0;
	if ((size_t)hdr->csum_start + hdr->csum_offset + 2 > len)
		return -EINVAL;
	complete_csum(pkt, len, hdr->csum_start, hdr->csum_offset);
	return 0;
}

/* --- coalescing ---------------------------------------------------------- */

/* Checksums are not verified here. Every packet handed to GRO has just been
 * opened by ChaCha20-Poly1305 under a key only one known peer holds, so its
 * bytes are exactly what that peer sent: nothing on the path can have damaged
 * them. The Linux module draws the same conclusion and marks every decrypted
 * packet CHECKSUM_UNNECESSARY for all levels (receive.c,
 * wg_packet_consume_data_done), never reading the inner checksums. A TUN
 * write cannot say "unnecessary" (tun_get_user ignores DATA_VALID), but a
 * super-packet sent as CHECKSUM_PARTIAL is trusted the same way.
 * The IPv4 header checksum is the exception, and costs 20 bytes: the kernel
 * checks it on every packet whatever ip_summed says (ip_rcv_core), the
 * module's included, and a super-packet's header is rewritten here with a
 * fresh one, so a packet the kernel would drop alone must not merge. */

_Static_assert(OFFLOAD_GRO_MAX_IOV <= IOV_MAX, "one super-packet fits one writev");
_Static_assert(OFFLOAD_GRO_MAX_PKTS <= INT16_MAX, "item and segment indexes fit int16_t");

/* One TCP packet as GRO sees it. */
struct seg {
	struct l3 l3;
	size_t l4_len, payload;
	uint32_t seq;
	uint8_t flags;
	bool candidate;         /* may merge with neighbours at all */
};

enum { NOT_FLOW, FLOW };

/* FLOW when pkt is TCP with its ports in reach (a member of a flow whose
 * order matters); s->candidate when it could also be coalesced. */
static int classify(const uint8_t *pkt, size_t len, struct seg *s)
{
	memset(s, 0, sizeof(*s));
	if (len < 1)
		return NOT_FLOW;
	if (pkt[0] >> 4 == 4) {
		size_t ihl = (size_t)(pkt[0] & 0x0f) * 4;

		if (len < IPV4_MIN_HDR || ihl < IPV4_MIN_HDR || ihl > len || pkt[9] != IPPROTO_TCP)
			return NOT_FLOW;
		if (get16(pkt + 6) & IPV4_FRAG_OFF_MASK)
			return NOT_FLOW; /* a later fragment: no ports */
		s->l3 = (struct l3){ .v6 = false, .proto = IPPROTO_TCP, .l4_off = ihl, .addr_off = 12, .addr_len = 4 };
		if (len - ihl < 4)
			return NOT_FLOW;
		s->candidate = ihl == IPV4_MIN_HDR && get16(pkt + 2) == len && !(get16(pkt + 6) & IPV4_MF);
	} else if (pkt[0] >> 4 == 6) {
		if (len < IPV6_HDR + 4 || pkt[6] != IPPROTO_TCP)
			return NOT_FLOW; /* extension headers: left alone */
		s->l3 = (struct l3){ .v6 = true, .proto = IPPROTO_TCP, .l4_off = IPV6_HDR, .addr_off = 8, .addr_len = 16 };
		s->candidate = get16(pkt + 4) == len - IPV6_HDR;
	} else {
		return NOT_FLOW;
	}
	if (len - s->l3.l4_off < TCP_MIN_HDR) {
		s->candidate = false;
		return FLOW;
	}
	s->l4_len = (size_t)(pkt[s->l3.l4_off + 12] >> 4) * 4;
	if (s->l4_len < TCP_MIN_HDR || s->l4_len > len - s->l3.l4_off) {
		s->candidate = false;
		return FLOW;
	}
	s->payload = len - s->l3.l4_off - s->l4_len;
	s->seq = get32(pkt + s->l3.l4_off + 4);
	s->flags = pkt[s->l3.l4_off + TCP_FLAGS_OFF];
	/* Only plain data may merge: SYN/FIN/RST/URG/ECE/CWR each mean
	 * something for this one packet (the kernel's GRO flushes on them). */
	if (s->flags != TCP_ACK && s->flags != (TCP_ACK | TCP_PSH))
		s->candidate = false;
	if (s->payload == 0)
		s->candidate = false;
	/* the one checksum still checked (see the top of this section) */
	if (s->candidate && !s->l3.v6 && fold(sum_bytes(0, pkt, IPV4_MIN_HDR)) != 0xffff)
		s->candidate = false;
	return FLOW;
}

static uint32_t flow_hash(const uint8_t *pkt, const struct l3 *l)
{
	const uint8_t *a = pkt + l->addr_off;
	uint32_t h = l->v6 ? 0x9e3779b9u : 0x7f4a7c15u, w;

	for (size_t i = 0; i < 2 * l->addr_len; i += 4) {
		memcpy(&w, a + i, 4);
		h = (h ^ w) * 0x01000193u;
		h ^= h >> 15;
	}
	memcpy(&w, pkt + l->l4_off, 4); /* both ports */
	h = (h ^ w) * 0x85ebca6bu;
	return h ^ (h >> 13) ^ (h >> 16);
}

static bool same_flow(const struct offload_gro_item *it, const uint8_t *pkt, const struct l3 *l)
{
	const uint8_t *q = it->pkt;

	return q[0] >> 4 == pkt[0] >> 4 &&
	       !memcmp(q + l->addr_off, pkt + l->addr_off, 2 * l->addr_len) &&
	       !memcmp(q + it->l3_len, pkt + l->l4_off, 4);
}

/* Whether s (in pkt) may follow the segments already in it. */
static bool can_append(const struct offload_gro_item *it, const uint8_t *pkt, const struct seg *s)
{
	const uint8_t *q = it->pkt, *qt = q + it->l3_len, *pt = pkt + s->l3.l4_off;

	if (!it->open || it->l3_len != s->l3.l4_off || it->l4_len != s->l4_len)
		return false;
	if (s->seq != it->next_seq || s->payload > it->gso_size)
		return false;
	if (it->segs >= OFFLOAD_GRO_MAX_SEGS || it->len + s->payload > OFFLOAD_GRO_MAX_BYTES)
		return false;
	if (s->l3.v6) {
		/* version, traffic class, flow label; hop limit */
		if (memcmp(q, pkt, 4) || q[7] != pkt[7])
			return false;
	} else {
		uint16_t frag = get16(pkt + 6);

		if (q[1] != pkt[1] || q[8] != pkt[8] || get16(q + 6) != frag)
			return false; /* TOS, TTL, DF */
		/* Without DF, resegmenting must give back the same ids. */
		if (!(frag & IPV4_DF) && get16(pkt + 4) != (uint16_t)(it->first_id + it->segs))
			return false;
	}
	/* ACK number, then data offset/flags/window: the flags differ only
	 * by PSH here, which the candidate test allowed. */
	if (memcmp(qt + 8, pt + 8, 4) || qt[12] != pt[12] || memcmp(qt + 14, pt + 14, 2))
		return false;
	/* options, timestamps included, byte for byte */
	return !memcmp(qt + TCP_MIN_HDR, pt + TCP_MIN_HDR, s->l4_len - TCP_MIN_HDR);
}

/* Links s's payload (in pkt, referenced, not copied) behind it. */
static void append(struct offload_gro *g, struct offload_gro_item *it, const uint8_t *pkt, const struct seg *s)
{
	int16_t k = (int16_t)g->seg_count++;

	g->segs[k] = (struct offload_gro_seg){
		.payload = pkt + s->l3.l4_off + s->l4_len,
		.len = (uint32_t)s->payload,
		.next = -1,
	};
	if (it->last >= 0)
		g->segs[it->last].next = k;
	else
		it->more = k;
	it->last = k;
	it->len += (uint32_t)s->payload;
	it->next_seq += (uint32_t)s->payload;
	it->segs++;
	if (s->flags & TCP_PSH) {
		it->psh = 1;
		it->open = 0;
	}
	if (s->payload < it->gso_size)
		it->open = 0; /* a short segment can only be the last */
}

void offload_gro_init(struct offload_gro *g)
{
	memset(g, 0, sizeof(*g));
	memset(g->bucket, 0xff, sizeof(g->bucket)); /* -1 */
}

int offload_gro_add(struct offload_gro *g, const uint8_t *pkt, size_t len)
{
	struct offload_gro_item *it;
	struct seg s;
	uint32_t h = 0;
	int16_t newest = -1;
	int kind;

	if (len == 0)
		return -EINVAL;
	if (g->count + g->seg_count >= OFFLOAD_GRO_MAX_PKTS)
		return -ENOSPC;
	kind = classify(pkt, len, &s);
	if (kind == FLOW) {
		h = flow_hash(pkt, &s.l3);
		for (int16_t i = g->bucket[h & (OFFLOAD_GRO_HASH_SIZE - 1)]; i >= 0; i = g->items[i].prev)
			if (g->items[i].hash == h && same_flow(&g->items[i], pkt, &s.l3)) {
				newest = i;
				break;
			}
	}
	/* can_append made sure both have the same IP header shape (s.l3) */
	if (newest >= 0 && s.candidate && can_append(&g->items[newest], pkt, &s)) {
		append(g, &g->items[newest], pkt, &s);
		return 1;
	}
	it = &g->items[g->count];
	*it = (struct offload_gro_item){
		.pkt = pkt,
		.len = (uint32_t)len,
		.prev = -1,
		.more = -1,
		.last = -1,
	};
	if (kind == FLOW) {
		it->flow = 1;
		it->hash = h;
		it->prev = g->bucket[h & (OFFLOAD_GRO_HASH_SIZE - 1)];
		g->bucket[h & (OFFLOAD_GRO_HASH_SIZE - 1)] = (int16_t)g->count;
		it->l3_len = (uint8_t)s.l3.l4_off;
		it->l4_len = (uint8_t)s.l4_len;
		/* PSH ends a super-packet; so does anything over 64 KiB */
		it->open = s.candidate && !(s.flags & TCP_PSH) && len <= OFFLOAD_GRO_MAX_BYTES;
		it->gso_size = (uint16_t)s.payload;
		it->next_seq = s.seq + (uint32_t)s.payload;
		it->first_id = s.l3.v6 ? 0 : get16(pkt + 4);
	}
	it->segs = 1;
	g->count++;
	return 0;
}

/* The iovecs of a coalesced packet: the first packet's headers, copied into
 * g->hdr with the super-packet's lengths, IPv4 header checksum, PSH and
 * CHECKSUM_PARTIAL seed; then every payload where it lies. g->vnet asks the
 * kernel for the rest. Returns the iovec count. */
static int super_iov(struct offload_gro *g, const struct offload_gro_item *it, struct iovec *iov)
{
	uint8_t *p = g->hdr;
	bool v6 = it->pkt[0] >> 4 == 6;
	size_t addr_off = v6 ? 8 : 12, addr_len = v6 ? 16 : 4, hdrs = (size_t)it->l3_len + it->l4_len;
	uint32_t l4 = it->len - it->l3_len;
	int n = 0;

	memcpy(p, it->pkt, hdrs);
	if (v6) {
		put16(p + 4, (uint16_t)l4);
	} else {
		put16(p + 2, (uint16_t)it->len);
		ipv4_set_csum(p, it->l3_len);
	}
	if (it->psh)
		p[it->l3_len + TCP_FLAGS_OFF] |= TCP_PSH;
	/* The folded pseudo-header sum, not complemented: the kernel adds the
	 * rest from csum_start on and complements (CHECKSUM_PARTIAL). */
	store_sum(p + it->l3_len + TCP_CSUM_OFF, fold(pseudo_sum(p + addr_off, addr_len, IPPROTO_TCP, l4)));
	g->vnet = (struct virtio_net_hdr){
		.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
		.gso_type = v6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4,
		.hdr_len = (uint16_t)hdrs,
		.gso_size = it->gso_size,
		.csum_start = it->l3_len,
		.csum_offset = TCP_CSUM_OFF,
	};
	iov[n++] = (struct iovec){ .iov_base = &g->vnet, .iov_len = sizeof(g->vnet) };
	iov[n++] = (struct iovec){ .iov_base = p, .iov_len = hdrs };
	iov[n++] = (struct iovec){ .iov_base = (void *)(it->pkt + hdrs), .iov_len = it->gso_size };
	for (int16_t k = it->more; k >= 0; k = g->segs[k].next)
		iov[n++] = (struct iovec){ .iov_base = (void *)g->segs[k].payload, .iov_len = g->segs[k].len };
	return n; /* it->segs + 2 <= OFFLOAD_GRO_MAX_IOV */
}

void offload_gro_flush(struct offload_gro *g, int (*write)(void *ctx, const struct iovec *iov, int iovcnt),
		       void *ctx)
{
	struct iovec iov[OFFLOAD_GRO_MAX_IOV];

	for (size_t i = 0; i < g->count; i++) {
		const struct offload_gro_item *it = &g->items[i];

		if (it->segs > 1) {
			write(ctx, iov, super_iov(g, it, iov));
			continue;
		}
		memset(&g->vnet, 0, sizeof(g->vnet));
		iov[0] = (struct iovec){ .iov_base = &g->vnet, .iov_len = sizeof(g->vnet) };
		iov[1] = (struct iovec){ .iov_base = (void *)it->pkt, .iov_len = it->len };
		write(ctx, iov, 2);
	}
	for (size_t i = 0; i < g->count; i++)
		if (g->items[i].flow)
			g->bucket[g->items[i].hash & (OFFLOAD_GRO_HASH_SIZE - 1)] = -1;
	g->count = 0;
	g->seg_count = 0;
}
