/* test_offload.c: the TUN offload packet code (src/weftd/offload.c).
 * Splitting TCPv4/TCPv6/UDP super-packets, checked segment by segment with a
 * checksum routine of the test's own (byte by byte, RFC 1071 as written);
 * checksum completion; malformed input refused without reading out of
 * bounds (every input sits in a heap buffer of its exact size, so ASan sees
 * a read past it); coalescing: split-then-coalesce gives back the original,
 * super-packets byte for byte, payloads written from the caller's buffers
 * (no copy) within the iovec bound, TCP checksums not verified, flows kept
 * apart and in order, every reason not to merge, the 64-segment and 64 KiB
 * bounds, and random batches against a deliberately naive model. */
/* The daemon's files are not in libweft.a: compile it in. */
#include "weftd/offload.c"

#include <limits.h>
#include <stdlib.h>

#include "test.h"

/* --- an independent checksum: big-endian words, one byte at a time ------- */

static uint32_t ref_add(uint32_t sum, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		sum += (i & 1) ? p[i] : (uint32_t)p[i] << 8;
	return sum;
}

static uint16_t ref_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

static uint16_t be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }
static void wbe16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void wbe32(uint8_t *p, uint32_t v) { wbe16(p, (uint16_t)(v >> 16)); wbe16(p + 2, (uint16_t)v); }

/* Puts an empty 8-byte hop-by-hop header (PadN) after the fixed IPv6
 * header of the TCP packet in p (which has room for it); the new length. */
static size_t insert_hop_by_hop(uint8_t *p, size_t len)
{
	memmove(p + 48, p + 40, len - 40);
	p[40] = IPPROTO_TCP, p[41] = 0, p[42] = 1, p[43] = 4;
	memset(p + 44, 0, 4);
	p[6] = IPPROTO_HOPOPTS;
	len += 8;
	wbe16(p + 4, (uint16_t)(len - 40));
	return len;
}

static int ip_v6(const uint8_t *p) { return p[0] >> 4 == 6; }
static size_t ip_hlen(const uint8_t *p) { return ip_v6(p) ? 40 : (size_t)(p[0] & 15) * 4; }

static uint32_t ref_pseudo(const uint8_t *ip, uint8_t proto, size_t l4_len)
{
	uint32_t s = ip_v6(ip) ? ref_add(0, ip + 8, 32) : ref_add(0, ip + 12, 8);

	return s + proto + (uint32_t)(l4_len >> 16) + (uint32_t)(l4_len & 0xffff);
}

static int ref_ip4_ok(const uint8_t *ip)
{
	return ref_fold(ref_add(0, ip, ip_hlen(ip))) == 0xffff;
}

static int ref_l4_ok(const uint8_t *ip, size_t len, size_t l4_off, uint8_t proto)
{
	return ref_fold(ref_add(ref_pseudo(ip, proto, len - l4_off), ip + l4_off, len - l4_off)) == 0xffff;
}

static void ref_set_l4(uint8_t *ip, size_t len, size_t l4_off, uint8_t proto, size_t csum_off)
{
	uint16_t c;

	ip[l4_off + csum_off] = ip[l4_off + csum_off + 1] = 0;
	c = (uint16_t)~ref_fold(ref_add(ref_pseudo(ip, proto, len - l4_off), ip + l4_off, len - l4_off));
	if (proto == IPPROTO_UDP && c == 0)
		c = 0xffff;
	wbe16(ip + l4_off + csum_off, c);
}

static void ref_set_ip4(uint8_t *ip)
{
	ip[10] = ip[11] = 0;
	wbe16(ip + 10, (uint16_t)~ref_fold(ref_add(0, ip, ip_hlen(ip))));
}

/* What CHECKSUM_PARTIAL leaves in the checksum field. */
static void ref_set_partial(uint8_t *ip, size_t len, size_t l4_off, uint8_t proto, size_t csum_off)
{
	wbe16(ip + l4_off + csum_off, ref_fold(ref_pseudo(ip, proto, len - l4_off)));
}

/* --- packet builder ------------------------------------------------------ */

/* test.h's generator: WEFT_TEST_SEED replays a run, WEFT_TEST_SCALE shortens it */
static uint32_t rnd(void) { return (uint32_t)(test_rnd() >> 32); }
static uint32_t rnd_in(uint32_t lo, uint32_t hi) { return lo + rnd() % (hi - lo + 1); }

struct spec {
	int v6;
	uint8_t proto;                  /* IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP */
	uint8_t src[16], dst[16];
	uint16_t sport, dport;
	uint32_t seq, ack;
	uint8_t flags;
	uint16_t win;
	uint8_t opts[40];               /* TCP options */
	size_t opts_len;                /* multiple of 4 */
	size_t ip_opts;                 /* IPv4 option bytes (multiple of 4) */
	uint16_t id;
	uint8_t ttl, tos;
	int df;
	uint32_t flowlabel;
};

static void spec_default(struct spec *s, int v6, uint8_t proto)
{
	memset(s, 0, sizeof(*s));
	s->v6 = v6;
	s->proto = proto;
	for (int i = 0; i < 16; i++) {
		s->src[i] = (uint8_t)(v6 ? 0xfd : 10);
		s->dst[i] = (uint8_t)(v6 ? 0xfd : 10);
	}
	s->src[15] = s->src[3] = 1;
	s->dst[15] = s->dst[3] = 2;
	s->sport = 40000;
	s->dport = 5201;
	s->seq = 0xfffff000u;           /* wraps within a 64 KiB burst */
	s->ack = 0x12345678;
	s->flags = TCP_ACK;
	s->win = 501;
	s->ttl = 64;
	s->df = 1;
	s->id = 0xfff0;                 /* wraps too */
	s->flowlabel = 0x12345;
}

static void spec_timestamps(struct spec *s, uint32_t tsval, uint32_t tsecr)
{
	uint8_t *o = s->opts;

	o[0] = 1, o[1] = 1, o[2] = 8, o[3] = 10; /* NOP NOP TS */
	wbe32(o + 4, tsval);
	wbe32(o + 8, tsecr);
	s->opts_len = 12;
}

static size_t l4_off_of(const struct spec *s) { return s->v6 ? 40 : 20 + s->ip_opts; }
static size_t l4_hdr_of(const struct spec *s)
{
	return s->proto == IPPROTO_TCP ? 20 + s->opts_len : s->proto == IPPROTO_UDP ? 8 : 8;
}
static size_t hdrs_of(const struct spec *s) { return l4_off_of(s) + l4_hdr_of(s); }

/* Builds a packet with correct lengths and checksums; returns its length. */
static size_t build(uint8_t *b, const struct spec *s, const uint8_t *payload, size_t n)
{
	size_t l4 = l4_off_of(s), len = hdrs_of(s) + n;
	uint8_t *t = b + l4;

	memset(b, 0, hdrs_of(s));
	if (s->v6) {
		wbe32(b, 6u << 28 | (uint32_t)s->tos << 20 | (s->flowlabel & 0xfffff));
		wbe16(b + 4, (uint16_t)(len - 40));
		b[6] = s->proto;
		b[7] = s->ttl;
		memcpy(b + 8, s->src, 16);
		memcpy(b + 24, s->dst, 16);
	} else {
		b[0] = (uint8_t)(0x40 | (l4 / 4));
		b[1] = s->tos;
		wbe16(b + 2, (uint16_t)len);
		wbe16(b + 4, s->id);
		wbe16(b + 6, s->df ? 0x4000 : 0);
		b[8] = s->ttl;
		b[9] = s->proto;
		memcpy(b + 12, s->src, 4);
		memcpy(b + 16, s->dst, 4);
		for (size_t i = 20; i < l4; i++)
			b[i] = 1; /* NOP options */
	}
	memcpy(b + hdrs_of(s), payload, n);
	if (s->proto == IPPROTO_TCP) {
		wbe16(t, s->sport);
		wbe16(t + 2, s->dport);
		wbe32(t + 4, s->seq);
		wbe32(t + 8, s->ack);
		t[12] = (uint8_t)((20 + s->opts_len) / 4 << 4);
		t[13] = s->flags;
		wbe16(t + 14, s->win);
		memcpy(t + 20, s->opts, s->opts_len);
		ref_set_l4(b, len, l4, IPPROTO_TCP, 16);
	} else if (s->proto == IPPROTO_UDP) {
		wbe16(t, s->sport);
		wbe16(t + 2, s->dport);
		wbe16(t + 4, (uint16_t)(len - l4));
		ref_set_l4(b, len, l4, IPPROTO_UDP, 6);
	} else {
		t[0] = 8; /* echo request */
		wbe16(t + 2, (uint16_t)~ref_fold(ref_add(0, t, len - l4)));
	}
	if (!s->v6)
		ref_set_ip4(b);
	return len;
}

/* A heap copy of exactly len bytes, so that ASan flags any read past it. */
static uint8_t *exact(const uint8_t *p, size_t len)
{
	uint8_t *q = malloc(len ? len : 1);

	if (len)
		memcpy(q, p, len);
	return q;
}

static uint8_t payload_bytes[70000];

static void fill_payload(void)
{
	for (size_t i = 0; i < sizeof(payload_bytes); i++)
		payload_bytes[i] = (uint8_t)rnd();
}

/* A super-packet as the kernel hands it over: NEEDS_CSUM, the pseudo-header
 * sum in the checksum field, hdr_len the header length. */
static size_t build_super(uint8_t *b, const struct spec *s, size_t payload, uint16_t mss, struct virtio_net_hdr *h)
{
	size_t len = build(b, s, payload_bytes, payload), l4 = l4_off_of(s);
	int tcp = s->proto == IPPROTO_TCP;

	ref_set_partial(b, len, l4, s->proto, tcp ? 16 : 6);
	*h = (struct virtio_net_hdr){
		.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
		.gso_type = tcp ? (s->v6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4) : VIRTIO_NET_HDR_GSO_UDP_L4,
		.hdr_len = (uint16_t)hdrs_of(s),
		.gso_size = mss,
		.csum_start = (uint16_t)l4,
		.csum_offset = tcp ? 16 : 6,
	};
	return len;
}

static uint8_t outbuf[1 << 20];
static size_t seg_off[4096], seg_len[4096];
static uint8_t concat[70000];

/* Every segment of a split super-packet, checked against the original. */
static void check_segments(const uint8_t *sup, size_t len, uint16_t mss, int n, const uint8_t *out)
{
	size_t l4 = ip_hlen(sup);
	int v6 = ip_v6(sup);
	uint8_t proto = v6 ? sup[6] : sup[9];
	size_t payload, hdrs, got = 0;
	int tcp = proto == IPPROTO_TCP;

	hdrs = l4 + (tcp ? (size_t)(sup[l4 + 12] >> 4) * 4 : 8);
	payload = len - hdrs;
	CHECK_EQ(n, (payload + mss - 1) / mss);
	for (int i = 0; i < n; i++) {
		const uint8_t *p = out + seg_off[i];
		size_t sl = seg_len[i], want = payload - (size_t)i * mss < mss ? payload - (size_t)i * mss : mss;

		CHECK_EQ(sl, hdrs + want);
		if (sl != hdrs + want)
			return;
		if (v6) {
			CHECK_EQ(be16(p + 4), sl - 40);
			CHECK_MEM(p, sup, 4);
			CHECK_MEM(p + 6, sup + 6, 34);
		} else {
			CHECK(ref_ip4_ok(p));
			CHECK_EQ(be16(p + 2), sl);
			CHECK_EQ(be16(p + 4), (uint16_t)(be16(sup + 4) + i));
			CHECK_MEM(p + 6, sup + 6, 4);
			CHECK_MEM(p + 12, sup + 12, l4 - 12);
		}
		CHECK(ref_l4_ok(p, sl, l4, proto));
		CHECK_MEM(p + l4, sup + l4, 4); /* ports */
		if (tcp) {
			uint8_t want_f = sup[l4 + 13];

			if (i + 1 < n)
				want_f &= (uint8_t)~(TCP_FIN | TCP_PSH);
			if (i > 0)
				want_f &= (uint8_t)~TCP_CWR;
			CHECK_EQ(be32(p + l4 + 4), (uint32_t)(be32(sup + l4 + 4) + (uint32_t)i * mss));
			CHECK_EQ(p[l4 + 13], want_f);
			CHECK_MEM(p + l4 + 8, sup + l4 + 8, 5);  /* ack, data offset */
			CHECK_MEM(p + l4 + 14, sup + l4 + 14, 2); /* window */
			CHECK_MEM(p + l4 + 18, sup + l4 + 18, hdrs - l4 - 18); /* urg, options */
		} else {
			CHECK_EQ(be16(p + l4 + 4), sl - l4);
		}
		memcpy(concat + got, p + hdrs, sl - hdrs);
		got += sl - hdrs;
	}
	CHECK_EQ(got, payload);
	CHECK_MEM(concat, sup + hdrs, payload);
}

static int split_exact(const struct virtio_net_hdr *h, const uint8_t *pkt, size_t len)
{
	uint8_t *q = exact(pkt, len);
	int n = offload_split(h, q, len, outbuf, sizeof(outbuf), seg_off, seg_len, 4096);

	free(q);
	return n;
}

/* --- splitting ----------------------------------------------------------- */

static void split_tcp_sizes(void)
{
	static const uint16_t msses[] = { 1, 7, 100, 536, 1240, 1380, 1448, 9000 };
	static const size_t sizes[] = { 1, 2, 99, 100, 101, 536, 1379, 1380, 1381, 4000, 13800, 30001, 65535 - 40 - 32 };
	uint8_t *sup = malloc(70000);
	struct virtio_net_hdr h;

	for (int v6 = 0; v6 <= 1; v6++)
		for (size_t mi = 0; mi < sizeof(msses) / sizeof(msses[0]); mi++)
			for (size_t si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++) {
				struct spec s;
				size_t len;
				int n;

				if (sizes[si] / msses[mi] >= 4096)
					continue;
				spec_default(&s, v6, IPPROTO_TCP);
				spec_timestamps(&s, 0x01020304, 0xa0b0c0d0);
				s.flags = TCP_ACK | TCP_PSH | TCP_FIN | TCP_CWR;
				len = build_super(sup, &s, sizes[si], msses[mi], &h);
				n = split_exact(&h, sup, len);
				CHECK(n > 0);
				if (n > 0)
					check_segments(sup, len, msses[mi], n, outbuf);
				CHECK_EQ(n, offload_split_count(&h, sup, len));
			}
	free(sup);
}

/* The checksum field of the input is ignored; ECN super-packets keep CWR on
 * the first segment only; a super-packet of one segment still works. */
static void split_tcp_details(void)
{
	uint8_t *sup = malloc(70000);
	struct virtio_net_hdr h;
	struct spec s;
	size_t len;
	int n;

	spec_default(&s, 0, IPPROTO_TCP);
	s.flags = TCP_ACK | TCP_CWR | TCP_ECE;
	s.df = 0;
	len = build_super(sup, &s, 5000, 1400, &h);
	h.gso_type |= VIRTIO_NET_HDR_GSO_ECN;
	sup[20 + 16] ^= 0x5a; /* garbage in the checksum field */
	n = split_exact(&h, sup, len);
	CHECK_EQ(n, 4);
	sup[20 + 16] ^= 0x5a;
	if (n == 4) {
		check_segments(sup, len, 1400, n, outbuf);
		CHECK_EQ(outbuf[seg_off[0] + 20 + 13], TCP_ACK | TCP_CWR | TCP_ECE);
		CHECK_EQ(outbuf[seg_off[3] + 20 + 13], TCP_ACK | TCP_ECE);
	}
	/* one segment */
	len = build_super(sup, &s, 1000, 1400, &h);
	n = split_exact(&h, sup, len);
	CHECK_EQ(n, 1);
	if (n == 1) {
		CHECK_EQ(seg_len[0], len);
		CHECK(ref_l4_ok(outbuf, len, 20, IPPROTO_TCP));
	}
	/* hdr_len as on the forwarding path (whole first segment) or 0 */
	len = build_super(sup, &s, 5000, 1400, &h);
	h.hdr_len = 1440;
	CHECK_EQ(split_exact(&h, sup, len), 4);
	check_segments(sup, len, 1400, 4, outbuf);
	h.hdr_len = 0;
	CHECK_EQ(split_exact(&h, sup, len), 4);
	/* no NEEDS_CSUM: still split with full checksums */
	h.flags = 0;
	h.csum_start = h.csum_offset = 0;
	CHECK_EQ(split_exact(&h, sup, len), 4);
	check_segments(sup, len, 1400, 4, outbuf);
	/* IPv4 with options, IPv6 with hop-by-hop options */
	s.ip_opts = 8;
	len = build_super(sup, &s, 3000, 1000, &h);
	CHECK_EQ(split_exact(&h, sup, len), 3);
	check_segments(sup, len, 1000, 3, outbuf);
	{
		uint8_t *v6 = malloc(70000);
		struct spec s6;
		size_t l;

		spec_default(&s6, 1, IPPROTO_TCP);
		l = build(v6, &s6, payload_bytes, 3000);
		l = insert_hop_by_hop(v6, l);
		h = (struct virtio_net_hdr){ .flags = 1, .gso_type = VIRTIO_NET_HDR_GSO_TCPV6, .hdr_len = 68,
					     .gso_size = 1000, .csum_start = 48, .csum_offset = 16 };
		n = split_exact(&h, v6, l);
		CHECK_EQ(n, 3);
		for (int i = 0; i < n; i++) {
			CHECK(ref_l4_ok(outbuf + seg_off[i], seg_len[i], 48, IPPROTO_TCP));
			CHECK_EQ(be16(outbuf + seg_off[i] + 4), seg_len[i] - 40);
			CHECK_MEM(outbuf + seg_off[i] + 40, v6 + 40, 8);
		}
		free(v6);
	}
	free(sup);
}

static void split_udp(void)
{
	static const size_t sizes[] = { 1, 1200, 1201, 5000, 64000 };
	uint8_t *sup = malloc(70000);
	struct virtio_net_hdr h;

	for (int v6 = 0; v6 <= 1; v6++)
		for (size_t si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++) {
			struct spec s;
			size_t len;
			int n;

			spec_default(&s, v6, IPPROTO_UDP);
			len = build_super(sup, &s, sizes[si], 1200, &h);
			n = split_exact(&h, sup, len);
			CHECK_EQ(n, (sizes[si] + 1199) / 1200);
			if (n > 0)
				check_segments(sup, len, 1200, n, outbuf);
			for (int i = 0; i < n; i++)
				CHECK(be16(outbuf + seg_off[i] + (v6 ? 40 : 20) + 6) != 0);
		}
	free(sup);
}

/* A UDP segment whose checksum folds to 0 must carry 0xffff. */
static void split_udp_zero_checksum(void)
{
	uint8_t pkt[64], *b;
	struct virtio_net_hdr h;
	struct spec s;
	size_t len;
	int n;

	spec_default(&s, 0, IPPROTO_UDP);
	memset(payload_bytes, 0, 2);
	len = build(pkt, &s, payload_bytes, 2);
	/* make the checksum 0xffff-complement: adjust the payload so that
	 * the sum over everything but the checksum is 0xffff */
	{
		uint32_t sum = ref_pseudo(pkt, IPPROTO_UDP, len - 20);

		pkt[26] = pkt[27] = 0;
		sum = ref_fold(ref_add(sum, pkt + 20, len - 20));
		wbe16(pkt + 28, (uint16_t)(0xffff - sum));
	}
	ref_set_partial(pkt, len, 20, IPPROTO_UDP, 6);
	h = (struct virtio_net_hdr){ .flags = 1, .gso_type = VIRTIO_NET_HDR_GSO_UDP_L4, .hdr_len = 28,
				     .gso_size = 1, .csum_start = 20, .csum_offset = 6 };
	n = split_exact(&h, pkt, len);
	CHECK_EQ(n, 2);
	for (int i = 0; i < n; i++)
		CHECK(ref_l4_ok(outbuf + seg_off[i], seg_len[i], 20, IPPROTO_UDP));
	/* one GSO segment holding all of it: its checksum folds to zero */
	h.gso_size = 2;
	n = split_exact(&h, pkt, len);
	CHECK_EQ(n, 1);
	CHECK_EQ(be16(outbuf + 26), 0xffff);
	CHECK(ref_l4_ok(outbuf, len, 20, IPPROTO_UDP));
	h.gso_size = 1;
	/* non-GSO completion of the same packet gives 0xffff */
	h.gso_type = 0;
	n = split_exact(&h, pkt, len);
	CHECK_EQ(n, 1);
	CHECK_EQ(be16(outbuf + 26), 0xffff);
	CHECK(ref_l4_ok(outbuf, len, 20, IPPROTO_UDP));
	b = exact(pkt, len);
	CHECK_EQ(offload_csum_inplace(&h, b, len), 0);
	CHECK_MEM(b, outbuf, len);
	free(b);
	fill_payload();
}

static void needs_csum(void)
{
	uint8_t pkt[2000], *b;
	struct virtio_net_hdr h;
	int n;

	for (int v6 = 0; v6 <= 1; v6++)
		for (int udp = 0; udp <= 1; udp++)
			for (size_t plen = 0; plen < 40; plen += 13) {
				struct spec s;
				size_t len, l4, off = udp ? 6 : 16;

				spec_default(&s, v6, udp ? IPPROTO_UDP : IPPROTO_TCP);
				len = build(pkt, &s, payload_bytes, plen + 1000);
				l4 = l4_off_of(&s);
				ref_set_partial(pkt, len, l4, s.proto, off);
				h = (struct virtio_net_hdr){ .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
							     .csum_start = (uint16_t)l4, .csum_offset = (uint16_t)off };
				n = split_exact(&h, pkt, len);
				CHECK_EQ(n, 1);
				CHECK_EQ(seg_len[0], len);
				CHECK(ref_l4_ok(outbuf, len, l4, s.proto));
				CHECK_MEM(outbuf, pkt, l4 + off); /* nothing else changed */
				CHECK_MEM(outbuf + l4 + off + 2, pkt + l4 + off + 2, len - l4 - off - 2);
				b = exact(pkt, len);
				CHECK_EQ(offload_csum_inplace(&h, b, len), 0);
				CHECK_MEM(b, outbuf, len);
				free(b);
			}
}

static void passthrough(void)
{
	uint8_t pkt[1500];
	struct virtio_net_hdr h = { 0 };
	struct spec s;
	size_t len;

	spec_default(&s, 0, IPPROTO_TCP);
	len = build(pkt, &s, payload_bytes, 1000);
	pkt[36] ^= 0xff; /* a wrong checksum stays wrong: not ours to fix */
	CHECK_EQ(split_exact(&h, pkt, len), 1);
	CHECK_EQ(seg_len[0], len);
	CHECK_MEM(outbuf, pkt, len);
	h.flags = VIRTIO_NET_HDR_F_DATA_VALID;
	CHECK_EQ(split_exact(&h, pkt, len), 1);
	CHECK_MEM(outbuf, pkt, len);
	/* anything at all, when no offload is asked for */
	memset(pkt, 0xee, 3);
	CHECK_EQ(split_exact(&h, pkt, 3), 1);
	CHECK_MEM(outbuf, pkt, 3);
	CHECK_EQ(offload_csum_inplace(&h, pkt, 3), 0);
}

static void split_malformed(void)
{
	uint8_t *sup = malloc(70000), *b;
	struct virtio_net_hdr h, g;
	struct spec s;
	size_t len;

	spec_default(&s, 0, IPPROTO_TCP);
	len = build_super(sup, &s, 3000, 1000, &h);
	CHECK_EQ(split_exact(&h, sup, len), 3); /* the control */

	/* setup edits b (a full copy), g and blen; the packet then goes in as
	 * an exact-size heap copy of blen bytes */
#define BAD(expr_setup) do { \
		uint8_t *full = exact(sup, len); size_t blen = len; g = h; b = full; expr_setup; \
		b = exact(full, blen); \
		CHECK_EQ(offload_split(&g, b, blen, outbuf, sizeof(outbuf), seg_off, seg_len, 4096), -EINVAL); \
		free(b); free(full); } while (0)
#define CUT(n) (blen = (n), g.hdr_len = 0, wbe16(b + 2, (uint16_t)blen))

	BAD(g.hdr_len = (uint16_t)(len + 1));
	BAD(g.gso_size = 0);
	BAD(b[0] = 0x4f);                          /* IHL 15: says options that are not there */
	BAD(b[0] = 0x44);                          /* IHL 4 */
	BAD(b[0] = 0x40);
	BAD(b[0] = 0x55);                          /* version 5 */
	BAD(wbe16(b + 2, (uint16_t)(len - 1)));    /* total length lies */
	BAD(wbe16(b + 2, (uint16_t)(len + 1)));
	BAD(b[6] |= 0x20);                         /* a fragment */
	BAD(b[7] = 1);
	BAD(b[9] = IPPROTO_UDP);                   /* TCPV4 on a UDP packet */
	BAD(g.gso_type = VIRTIO_NET_HDR_GSO_TCPV6);
	BAD(g.gso_type = VIRTIO_NET_HDR_GSO_UDP);  /* UFO */
	BAD(g.gso_type = 2);
	BAD(g.gso_type = 6);
	BAD(g.gso_type = VIRTIO_NET_HDR_GSO_ECN);
	BAD(g.gso_type = VIRTIO_NET_HDR_GSO_UDP_L4 | VIRTIO_NET_HDR_GSO_ECN; b[9] = IPPROTO_UDP; g.csum_offset = 6);
	BAD(g.csum_start = 24);
	BAD(g.csum_offset = 6);
	BAD(b[32] = 0x40);                         /* TCP data offset 4 */
	BAD(CUT(20 + 19));                         /* truncated TCP header */
	BAD(CUT(20 + 10));
	BAD(CUT(19));
	BAD(CUT(1));
	BAD(blen = 0);
	BAD(CUT(39); b[0] = 0x4f);                 /* IHL 60 in a 39-byte packet */
	BAD(CUT(59); b[0] = 0x4f; g.flags = 0);
	BAD(CUT(40));                              /* no payload: just the headers */
#undef CUT
#undef BAD

	/* a TCP header that claims more than the packet holds */
	{
		uint8_t small[20 + 24];
		struct spec t;
		size_t l;

		spec_default(&t, 0, IPPROTO_TCP);
		l = build(small, &t, payload_bytes, 4);
		small[32] = 0xf0; /* 60 bytes of header, 24 there */
		g = (struct virtio_net_hdr){ .flags = 1, .gso_type = 1, .hdr_len = 40, .gso_size = 1, .csum_start = 20, .csum_offset = 16 };
		CHECK_EQ(split_exact(&g, small, l), -EINVAL);
	}
	/* IPv6: payload length lies, an extension header running off the end,
	 * a routing header (would change the pseudo-header), a UDP header cut short */
	{
		struct spec t;
		size_t l;

		spec_default(&t, 1, IPPROTO_TCP);
		l = build_super(sup, &t, 3000, 1000, &h);
		CHECK_EQ(split_exact(&h, sup, l), 3);
		wbe16(sup + 4, (uint16_t)(l - 41));
		CHECK_EQ(split_exact(&h, sup, l), -EINVAL);
		sup[6] = IPPROTO_DSTOPTS;
		sup[41] = 255; /* 2 KiB of options in a 140-byte packet */
		wbe16(sup + 4, 100);
		g = h;
		g.hdr_len = 0;
		CHECK_EQ(split_exact(&g, sup, 140), -EINVAL);
		for (size_t cut = 40; cut < 48; cut++) { /* a hop-by-hop header cut short */
			sup[6] = IPPROTO_HOPOPTS;
			wbe16(sup + 4, (uint16_t)(cut - 40));
			CHECK_EQ(split_exact(&g, sup, cut), -EINVAL);
		}
		wbe16(sup + 4, (uint16_t)(l - 40));
		sup[6] = IPPROTO_ROUTING;
		CHECK_EQ(split_exact(&h, sup, l), -EINVAL);
		sup[6] = IPPROTO_TCP;
		g = h;
		g.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
		CHECK_EQ(split_exact(&g, sup, l), -EINVAL);

		spec_default(&t, 1, IPPROTO_UDP);
		l = build_super(sup, &t, 3000, 1000, &h);
		CHECK_EQ(split_exact(&h, sup, l), 3);
		wbe16(sup + 4, 4);
		h.hdr_len = 0;
		CHECK_EQ(split_exact(&h, sup, 44), -EINVAL);
	}
	/* NEEDS_CSUM without GSO: the field must lie inside the packet */
	{
		uint8_t p[100];
		struct spec t;
		size_t l;

		spec_default(&t, 0, IPPROTO_UDP);
		l = build(p, &t, payload_bytes, 10);
		g = (struct virtio_net_hdr){ .flags = 1, .csum_start = (uint16_t)(l - 2), .csum_offset = 1 };
		CHECK_EQ(split_exact(&g, p, l), -EINVAL);
		b = exact(p, l);
		CHECK_EQ(offload_csum_inplace(&g, b, l), -EINVAL);
		g.csum_offset = 0; /* the last two bytes: allowed */
		CHECK_EQ(offload_csum_inplace(&g, b, l), 0);
		CHECK_EQ(split_exact(&g, p, l), 1);
		g.csum_start = 0xffff;
		g.csum_offset = 0xffff;
		CHECK_EQ(offload_csum_inplace(&g, b, l), -EINVAL);
		free(b);
	}
	free(sup);
}

/* Every truncation and every IHL/data-offset value: refused or correct. */
static void split_sweeps(void)
{
	uint8_t *sup = malloc(70000);
	struct virtio_net_hdr h;
	struct spec s;
	size_t len;

	for (int v6 = 0; v6 <= 1; v6++) {
		spec_default(&s, v6, IPPROTO_TCP);
		spec_timestamps(&s, 1, 2);
		len = build_super(sup, &s, 2500, 1000, &h);
		for (size_t l = 0; l < len; l++)
			CHECK_EQ(split_exact(&h, sup, l), -EINVAL);
		/* again with IP lengths that agree and no hdr_len: refused
		 * while the headers are incomplete, sound once they are */
		for (size_t l = 0; l < len; l++) {
			uint8_t *b = exact(sup, l);
			struct virtio_net_hdr g = h;
			int n;

			if (l >= 6)
				wbe16(b + (v6 ? 4 : 2), (uint16_t)(v6 ? (l >= 40 ? l - 40 : 0) : l));
			g.hdr_len = 0;
			n = offload_split(&g, b, l, outbuf, sizeof(outbuf), seg_off, seg_len, 4096);
			CHECK_EQ(n, l <= hdrs_of(&s) ? -EINVAL : (int)((l - hdrs_of(&s) + 999) / 1000));
			for (int i = 0; i < n; i++)
				CHECK(ref_l4_ok(outbuf + seg_off[i], seg_len[i], l4_off_of(&s), IPPROTO_TCP));
			free(b);
		}
	}
	spec_default(&s, 0, IPPROTO_TCP);
	len = build_super(sup, &s, 2500, 1000, &h);
	for (int ihl = 0; ihl < 16; ihl++)
		for (int doff = 0; doff < 16; doff++)
			for (int flags = 0; flags < 2; flags++) {
				uint8_t *b = exact(sup, len);
				struct virtio_net_hdr g = h;
				int n;

				b[0] = (uint8_t)(0x40 | ihl);
				b[ihl * 4 + 12 < (int)len ? ihl * 4 + 12 : 0] = (uint8_t)(doff << 4);
				if (!flags)
					g.flags = 0;
				n = offload_split(&g, b, len, outbuf, sizeof(outbuf), seg_off, seg_len, 4096);
				CHECK(n == -EINVAL || (ihl >= 5 && doff >= 5));
				if (flags)
					CHECK(n == -EINVAL || ihl == 5);
				if (ihl == 5 && doff >= 5)
					CHECK_EQ(n, (2500 + 20 - doff * 4 + 999) / 1000);
				for (int i = 0; i < n; i++) {
					CHECK(ref_ip4_ok(outbuf + seg_off[i]));
					CHECK(ref_l4_ok(outbuf + seg_off[i], seg_len[i], (size_t)ihl * 4, IPPROTO_TCP));
					CHECK_EQ(be16(outbuf + seg_off[i] + 2), seg_len[i]);
				}
				free(b);
			}
	free(sup);
}

/* Random header and byte damage: whatever comes out must be sound. */
static void split_fuzz(void)
{
	uint8_t *sup = malloc(70000);

	for (unsigned iter = 0; iter < 20000 / test_scale(); iter++) {
		struct virtio_net_hdr h;
		struct spec s;
		size_t len, l;
		uint8_t *b;
		int n, v6 = (int)(rnd() & 1);

		spec_default(&s, v6, rnd() & 1 ? IPPROTO_TCP : IPPROTO_UDP);
		if (s.proto == IPPROTO_TCP && rnd() & 1)
			spec_timestamps(&s, rnd(), rnd());
		len = build_super(sup, &s, rnd_in(1, 6000), (uint16_t)rnd_in(1, 2000), &h);
		l = rnd() % 4 ? len : rnd() % (len + 1);
		for (int k = (int)rnd_in(0, 3); k > 0; k--)
			sup[rnd() % 70] = (uint8_t)rnd();
		if (rnd() % 4 == 0)
			((uint8_t *)&h)[rnd() % sizeof(h)] = (uint8_t)rnd();
		b = exact(sup, l);
		n = offload_split(&h, b, l, outbuf, sizeof(outbuf), seg_off, seg_len, 4096);
		CHECK(n == -EINVAL || n == -ENOSPC || n >= 1);
		if (n >= 1 && h.gso_type != 0) {
			for (int i = 0; i < n; i++) {
				const uint8_t *p = outbuf + seg_off[i];
				int pv6 = ip_v6(p);
				size_t l4 = h.csum_start && (h.flags & 1) ? h.csum_start : ip_hlen(p);
				uint8_t proto = (h.gso_type & 0x7f) == VIRTIO_NET_HDR_GSO_UDP_L4 ? IPPROTO_UDP : IPPROTO_TCP;

				if (pv6 && p[6] != proto)
					continue; /* extension headers made up by the damage */

				if (!pv6) {
					CHECK(ref_ip4_ok(p));
					CHECK_EQ(be16(p + 2), seg_len[i]);
				} else {
					CHECK_EQ(be16(p + 4), seg_len[i] - 40);
				}
				CHECK(ref_l4_ok(p, seg_len[i], l4, proto));
			}
		}
		free(b);
	}
	free(sup);
}

static void split_space(void)
{
	uint8_t *sup = malloc(70000), *out2 = malloc(1 << 20);
	static size_t off2[2048], len2[2048];
	struct virtio_net_hdr h;
	struct spec s;
	size_t len, bytes;
	int total;

	spec_default(&s, 0, IPPROTO_TCP);
	spec_timestamps(&s, 5, 6);
	len = build_super(sup, &s, 65000, 48, &h); /* Linux's smallest MSS: 1355 segments */
	total = offload_split_count(&h, sup, len);
	bytes = offload_split_bytes(&h, sup, len);
	CHECK_EQ(total, (65000 + 47) / 48);
	CHECK_EQ(offload_split(&h, sup, len, outbuf, sizeof(outbuf), seg_off, seg_len, (size_t)total - 1), -ENOSPC);
	CHECK_EQ(offload_split(&h, sup, len, outbuf, bytes - 1, seg_off, seg_len, 4096), -ENOSPC);
	CHECK_EQ(offload_split(&h, sup, len, outbuf, bytes, seg_off, seg_len, (size_t)total), total);
	check_segments(sup, len, 48, total, outbuf);
	/* the same in slices of 64 segments or 4000 bytes */
	{
		size_t first = 0, used = 0;
		int n;

		while ((n = offload_split_from(&h, sup, len, first, out2 + used, 4000, off2, len2, 64)) > 0) {
			for (int i = 0; i < n; i++) {
				CHECK_EQ(len2[i], seg_len[first + (size_t)i]);
				CHECK_MEM(out2 + used + off2[i], outbuf + seg_off[first + (size_t)i], len2[i]);
			}
			used += off2[n - 1] + len2[n - 1];
			first += (size_t)n;
		}
		CHECK_EQ(n, 0);
		CHECK_EQ(first, (size_t)total);
		CHECK_EQ(offload_split_from(&h, sup, len, 0, out2, 10, off2, len2, 64), -ENOSPC);
		CHECK_EQ(offload_split_from(&h, sup, len, 0, out2, 4000, off2, len2, 0), -ENOSPC);
	}
	free(sup);
	free(out2);
}

/* --- coalescing ---------------------------------------------------------- */

/* Every write, its packet reassembled from iov[1..] (exactly its size on the
 * heap, for ASan). A write that breaks the flush contract is counted. */
#define CAP_MAX 1024
struct capture {
	size_t n;
	struct virtio_net_hdr hdr[CAP_MAX];
	uint8_t *pkt[CAP_MAX];
	size_t len[CAP_MAX];
	int iovcnt[CAP_MAX];
	int bad_iov;
};

static int capture_write(void *ctx, const struct iovec *iov, int iovcnt)
{
	struct capture *c = ctx;
	size_t len = 0;

	if (iovcnt < 2 || iovcnt > OFFLOAD_GRO_MAX_IOV || iov[0].iov_len != sizeof(struct virtio_net_hdr) ||
	    c->n >= CAP_MAX) {
		c->bad_iov++;
		return -EINVAL;
	}
	for (int i = 1; i < iovcnt; i++) {
		if (iov[i].iov_len == 0)
			c->bad_iov++; /* a wasted iovec */
		len += iov[i].iov_len;
	}
	memcpy(&c->hdr[c->n], iov[0].iov_base, sizeof(struct virtio_net_hdr));
	c->pkt[c->n] = malloc(len ? len : 1);
	for (int i = 1, off = 0; i < iovcnt; off += (int)iov[i].iov_len, i++)
		memcpy(c->pkt[c->n] + off, iov[i].iov_base, iov[i].iov_len);
	c->len[c->n] = len;
	c->iovcnt[c->n] = iovcnt;
	c->n++;
	return 0;
}

static void capture_free(struct capture *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->pkt[i]);
	c->n = 0;
}

static int hdr_is_zero(const struct virtio_net_hdr *h)
{
	static const struct virtio_net_hdr z;

	return !memcmp(h, &z, sizeof(z));
}

static struct offload_gro gro;
static struct capture cap;

/* Feeds GRO afresh the n segments of one stream, each after the first
 * merging, and flushes: they must come out as one packet, in cap. */
static void gro_merge_all(uint8_t *const *pkts, const size_t *lens, size_t n)
{
	offload_gro_init(&gro);
	for (size_t i = 0; i < n; i++)
		CHECK_EQ(offload_gro_add(&gro, pkts[i], lens[i]), i > 0);
	offload_gro_flush(&gro, capture_write, &cap);
	CHECK_EQ(cap.bad_iov, 0);
	CHECK_EQ(cap.n, 1);
}

/* A kernel-accepted GSO write: the checks virtio_net_hdr_to_skb and
 * tcp_gso_segment make, and what our own splitter needs. */
static void check_super(const struct virtio_net_hdr *h, const uint8_t *p, size_t len)
{
	size_t l4 = ip_hlen(p), hdrs = l4 + (size_t)(p[l4 + 12] >> 4) * 4;

	CHECK_EQ(h->flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
	CHECK_EQ(h->gso_type, ip_v6(p) ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4);
	CHECK_EQ(h->csum_start, l4);
	CHECK_EQ(h->csum_offset, 16);
	CHECK_EQ(h->hdr_len, hdrs);
	CHECK(h->gso_size > 0);
	CHECK(len - hdrs > h->gso_size); /* else the kernel would not treat it as GSO */
	CHECK(len <= OFFLOAD_GRO_MAX_BYTES);
	CHECK((len - hdrs + h->gso_size - 1) / h->gso_size <= OFFLOAD_GRO_MAX_SEGS);
	if (ip_v6(p)) {
		CHECK_EQ(be16(p + 4), len - 40);
	} else {
		CHECK(ref_ip4_ok(p));
		CHECK_EQ(be16(p + 2), len);
	}
	CHECK_EQ(be16(p + l4 + 16), ref_fold(ref_pseudo(p, IPPROTO_TCP, len - l4)));
}

/* Split what GRO wrote back into segments (the inverse the kernel applies
 * when it forwards a super-packet), into a scratch area. */
static int resplit(size_t w, uint8_t *out, size_t *offs, size_t *lens)
{
	if (hdr_is_zero(&cap.hdr[w])) {
		memcpy(out, cap.pkt[w], cap.len[w]);
		offs[0] = 0;
		lens[0] = cap.len[w];
		return 1;
	}
	check_super(&cap.hdr[w], cap.pkt[w], cap.len[w]);
	return offload_split(&cap.hdr[w], cap.pkt[w], cap.len[w], out, 1 << 20, offs, lens, 256);
}

static uint8_t rsbuf[1 << 20];
static size_t rsoff[256], rslen[256];

static void gro_roundtrip(void)
{
	uint8_t *sup = malloc(70000);
	struct virtio_net_hdr h;

	for (int v6 = 0; v6 <= 1; v6++)
		for (int fin = 0; fin <= 1; fin++) {
			struct spec s;
			uint8_t *segs[64];
			size_t len;
			int n;

			spec_default(&s, v6, IPPROTO_TCP);
			spec_timestamps(&s, 77, 88);
			s.flags = TCP_ACK | TCP_PSH | (fin ? TCP_FIN : 0);
			len = build_super(sup, &s, 20 * 1300 + 333, 1300, &h);
			n = split_exact(&h, sup, len);
			CHECK_EQ(n, 21);
			if (n != 21)
				continue;
			offload_gro_init(&gro);
			for (int i = 0; i < n; i++) {
				segs[i] = exact(outbuf + seg_off[i], seg_len[i]);
				CHECK_EQ(offload_gro_add(&gro, segs[i], seg_len[i]), i == 0 || (fin && i == n - 1) ? 0 : 1);
			}
			offload_gro_flush(&gro, capture_write, &cap);
			CHECK_EQ(cap.bad_iov, 0);
			if (!fin) {
				/* exactly the super-packet the kernel handed over */
				CHECK_EQ(cap.n, 1);
				CHECK_EQ(cap.len[0], len);
				if (cap.len[0] == len)
					CHECK_MEM(cap.pkt[0], sup, len);
				CHECK_MEM(&cap.hdr[0], &h, sizeof(h));
				check_super(&cap.hdr[0], cap.pkt[0], cap.len[0]);
			} else {
				/* a FIN never merges: it follows on its own */
				CHECK_EQ(cap.n, 2);
				if (cap.n == 2) {
					int m = resplit(0, rsbuf, rsoff, rslen);

					CHECK_EQ(m, 20);
					for (int i = 0; i < m && i < 20; i++) {
						CHECK_EQ(rslen[i], seg_len[i]);
						CHECK_MEM(rsbuf + rsoff[i], segs[i], seg_len[i]);
					}
					CHECK(hdr_is_zero(&cap.hdr[1]));
					CHECK_EQ(cap.len[1], seg_len[20]);
					CHECK_MEM(cap.pkt[1], segs[20], seg_len[20]);
				}
			}
			capture_free(&cap);
			for (int i = 0; i < n; i++)
				free(segs[i]);
		}
	CHECK_EQ(gro.count, 0);
	free(sup);
}

/* A stream of ready-made segments, for flows longer than one super-packet. */
static size_t make_stream(uint8_t **pkts, size_t *lens, struct spec *s, size_t total, size_t mss)
{
	uint8_t buf[70000];
	size_t n = 0, done = 0;

	while (done < total) {
		size_t k = total - done < mss ? total - done : mss;

		lens[n] = build(buf, s, payload_bytes + done % 60000, k);
		pkts[n] = exact(buf, lens[n]);
		s->seq += (uint32_t)k;
		s->id++;
		done += k;
		n++;
	}
	return n;
}

static void free_all(uint8_t **pkts, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(pkts[i]);
}

/* The bytes of a super-packet, field by field: the first packet's headers
 * with the new lengths, IPv4 header checksum, the PSH of the last segment
 * and the pseudo-header seed; then every payload, in order, unchanged. */
static void gro_concat(void)
{
	for (int v6 = 0; v6 <= 1; v6++)
		for (int psh = 0; psh <= 1; psh++) {
			struct spec s;
			uint8_t *pkts[8], *want = malloc(70000);
			size_t lens[8], n, hdrs, off, l4;

			spec_default(&s, v6, IPPROTO_TCP);
			spec_timestamps(&s, 5, 6);
			n = make_stream(pkts, lens, &s, 7 * 1200 + 100, 1200);
			CHECK_EQ(n, 8);
			hdrs = hdrs_of(&s);
			l4 = l4_off_of(&s);
			if (psh) { /* on the last one only: it still merges, and ends the packet */
				pkts[7][l4 + 13] |= TCP_PSH;
				ref_set_l4(pkts[7], lens[7], l4, IPPROTO_TCP, 16);
			}
			gro_merge_all(pkts, lens, n);
			/* the expected bytes, built by hand */
			memcpy(want, pkts[0], hdrs);
			off = hdrs;
			for (size_t i = 0; i < n; i++) {
				memcpy(want + off, pkts[i] + hdrs, lens[i] - hdrs);
				off += lens[i] - hdrs;
			}
			CHECK_EQ(off, hdrs + 7 * 1200 + 100);
			if (v6) {
				wbe16(want + 4, (uint16_t)(off - 40));
			} else {
				wbe16(want + 2, (uint16_t)off);
				ref_set_ip4(want);
			}
			if (psh)
				want[l4 + 13] |= TCP_PSH;
			ref_set_partial(want, off, l4, IPPROTO_TCP, 16);
			if (cap.n == 1) {
				CHECK_EQ(cap.len[0], off);
				if (cap.len[0] == off)
					CHECK_MEM(cap.pkt[0], want, off);
				CHECK_EQ(cap.hdr[0].flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
				CHECK_EQ(cap.hdr[0].gso_type, v6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4);
				CHECK_EQ(cap.hdr[0].hdr_len, hdrs);
				CHECK_EQ(cap.hdr[0].gso_size, 1200);
				CHECK_EQ(cap.hdr[0].csum_start, l4);
				CHECK_EQ(cap.hdr[0].csum_offset, 16);
				/* header copy, first payload, 7 more payloads */
				CHECK_EQ(cap.iovcnt[0], 1 + 1 + 8);
			}
			capture_free(&cap);
			free_all(pkts, n);
			free(want);
		}
}

/* No copy of the payloads: a 64-segment super-packet is written with one
 * iovec per payload, each pointing into the packet it came from, within the
 * iovec bound; the added packets are left as they were. */
struct recorded {
	int n, iovcnt[4];
	struct iovec iov[4][OFFLOAD_GRO_MAX_IOV];
	struct virtio_net_hdr hdr[4];
};

static int record_write(void *ctx, const struct iovec *iov, int iovcnt)
{
	struct recorded *r = ctx;

	if (r->n < 4 && iovcnt >= 1 && iovcnt <= OFFLOAD_GRO_MAX_IOV) {
		memcpy(r->iov[r->n], iov, (size_t)iovcnt * sizeof(*iov));
		memcpy(&r->hdr[r->n], iov[0].iov_base, sizeof(r->hdr[r->n]));
		r->iovcnt[r->n] = iovcnt;
	}
	r->n++;
	return 0;
}

static void gro_zero_copy(void)
{
	CHECK(OFFLOAD_GRO_MAX_IOV <= IOV_MAX);
	for (int v6 = 0; v6 <= 1; v6++) {
		static struct recorded r;
		struct spec s;
		uint8_t *pkts[70], *orig[70];
		size_t lens[70], n, hdrs;

		spec_default(&s, v6, IPPROTO_TCP);
		spec_timestamps(&s, 1, 2);
		/* 65 segments of 100 bytes: the segment bound, not the byte bound */
		n = make_stream(pkts, lens, &s, 65 * 100, 100);
		CHECK_EQ(n, 65);
		hdrs = hdrs_of(&s);
		for (size_t i = 0; i < n; i++)
			orig[i] = exact(pkts[i], lens[i]);
		memset(&r, 0, sizeof(r));
		offload_gro_init(&gro);
		for (size_t i = 0; i < n; i++)
			CHECK_EQ(offload_gro_add(&gro, pkts[i], lens[i]), i != 0 && i != 64);
		offload_gro_flush(&gro, record_write, &r);
		CHECK_EQ(r.n, 2);
		CHECK_EQ(r.iovcnt[0], OFFLOAD_GRO_MAX_IOV);
		CHECK_EQ(r.iovcnt[0], 64 + 2);
		CHECK_EQ(r.hdr[0].gso_size, 100);
		if (r.iovcnt[0] == 66) {
			/* the rewritten headers live in g, not in the first packet */
			CHECK((uint8_t *)r.iov[0][1].iov_base >= (uint8_t *)&gro &&
			      (uint8_t *)r.iov[0][1].iov_base < (uint8_t *)(&gro + 1));
			CHECK_EQ(r.iov[0][1].iov_len, hdrs);
			for (int i = 0; i < 64; i++) {
				CHECK(r.iov[0][2 + i].iov_base == pkts[i] + hdrs);
				CHECK_EQ(r.iov[0][2 + i].iov_len, 100);
			}
		}
		/* the 65th: alone, its own buffer, a plain header */
		CHECK_EQ(r.iovcnt[1], 2);
		CHECK(r.iov[1][1].iov_base == pkts[64]);
		CHECK_EQ(r.iov[1][1].iov_len, lens[64]);
		CHECK(hdr_is_zero(&r.hdr[1]));
		for (size_t i = 0; i < n; i++)
			CHECK_MEM(pkts[i], orig[i], lens[i]);
		free_all(pkts, n);
		free_all(orig, n);
	}
}

static void gro_bounds(void)
{
	static const struct { size_t mss, total; int v6; } cases[] = {
		{ 536, 150 * 536, 0 },     /* the segment bound: 64 + 64 + 22 */
		{ 1448, 100000, 0 },       /* the byte bound: 45 * 1448 > 65535 - 52 */
		{ 1428, 100000, 1 },
		{ 100, 64 * 100 + 1, 1 },
		{ 1, 200, 0 },             /* tiny MSS: the segment bound again */
		{ 9000, 70000, 0 },
	};
	uint8_t *pkts[256];
	size_t lens[256];

	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct spec s;
		size_t n, w, k = 0, got = 0;
		uint32_t seq0;

		spec_default(&s, cases[c].v6, IPPROTO_TCP);
		spec_timestamps(&s, 1, 1);
		seq0 = s.seq;
		n = make_stream(pkts, lens, &s, cases[c].total, cases[c].mss);
		offload_gro_init(&gro);
		for (size_t i = 0; i < n; i++)
			CHECK(offload_gro_add(&gro, pkts[i], lens[i]) >= 0);
		offload_gro_flush(&gro, capture_write, &cap);
		CHECK_EQ(cap.bad_iov, 0);
		CHECK(cap.n >= (cases[c].total + 65000) / 65535);
		for (w = 0; w < cap.n; w++) {
			int m = resplit(w, rsbuf, rsoff, rslen);

			CHECK(m >= 1 && m <= OFFLOAD_GRO_MAX_SEGS);
			CHECK(cap.len[w] <= OFFLOAD_GRO_MAX_BYTES);
			CHECK_EQ(cap.iovcnt[w], m == 1 ? 2 : m + 2);
			for (int i = 0; i < m && k < n; i++, k++) {
				CHECK_EQ(rslen[i], lens[k]);
				CHECK_MEM(rsbuf + rsoff[i], pkts[k], lens[k]);
				got += rslen[i] - hdrs_of(&s);
			}
		}
		CHECK_EQ(k, n);
		CHECK_EQ(got, cases[c].total);
		CHECK_EQ(s.seq - seq0, cases[c].total);
		/* the bounds were reached, not merely respected */
		if (c == 0)
			CHECK_EQ(cap.n, 3);
		if (c == 1)
			CHECK(cap.n == 2 || cap.n == 3);
		if (c == 4)
			CHECK_EQ(cap.n, 4); /* 64 + 64 + 64 + 8 */
		capture_free(&cap);
		free_all(pkts, n);
	}
}

/* Two flows of TCP, one of IPv6 TCP, UDP and ICMP, interleaved. */
static void gro_interleaved(void)
{
	struct spec fa, fb, fc, u, ic;
	uint8_t *a[10], *bb[10], *c[10], *others[4], buf[2000];
	size_t la[10], lb[10], lc[10], lo[4], no;
	uint8_t *order[34];
	size_t olen[34], k = 0;

	spec_default(&fa, 0, IPPROTO_TCP);
	spec_default(&fb, 0, IPPROTO_TCP);
	fb.sport = 40001; /* same addresses, another port */
	spec_default(&fc, 1, IPPROTO_TCP);
	spec_default(&u, 0, IPPROTO_UDP);
	spec_default(&ic, 0, IPPROTO_ICMP);
	make_stream(a, la, &fa, 10 * 1000, 1000);
	make_stream(bb, lb, &fb, 10 * 700, 700);
	make_stream(c, lc, &fc, 10 * 1200, 1200);
	lo[0] = build(buf, &u, payload_bytes, 300);
	others[0] = exact(buf, lo[0]);
	lo[1] = build(buf, &ic, payload_bytes, 56);
	others[1] = exact(buf, lo[1]);
	lo[2] = build(buf, &u, payload_bytes + 5, 300);
	others[2] = exact(buf, lo[2]);
	lo[3] = 7;
	others[3] = exact((const uint8_t *)"garbage", 7);
	no = 0;
	for (int i = 0; i < 10; i++) {
		order[k] = a[i], olen[k++] = la[i];
		if (i == 2 || i == 5 || i == 7 || i == 8)
			order[k] = others[no], olen[k++] = lo[no], no++;
		order[k] = bb[i], olen[k++] = lb[i];
		order[k] = c[i], olen[k++] = lc[i];
	}
	offload_gro_init(&gro);
	for (size_t i = 0; i < k; i++)
		CHECK(offload_gro_add(&gro, order[i], olen[i]) >= 0);
	offload_gro_flush(&gro, capture_write, &cap);
	CHECK_EQ(cap.bad_iov, 0);
	/* first arrivals: a, b, c, then the others in order */
	CHECK_EQ(cap.n, 3 + 4);
	if (cap.n == 7) {
		uint8_t **flows[3] = { a, bb, c };
		size_t *flens[3] = { la, lb, lc };

		for (int f = 0; f < 3; f++) {
			int m = resplit((size_t)f, rsbuf, rsoff, rslen);

			CHECK_EQ(m, 10);
			for (int i = 0; i < m && i < 10; i++) {
				CHECK_EQ(rslen[i], flens[f][i]);
				CHECK_MEM(rsbuf + rsoff[i], flows[f][i], flens[f][i]);
			}
		}
		/* written as they came: a zero header (no DATA_VALID, which a
		 * TUN write ignores) and the packet as one iovec */
		for (int i = 0; i < 4; i++) {
			CHECK(hdr_is_zero(&cap.hdr[3 + i]));
			CHECK_EQ(cap.iovcnt[3 + i], 2);
			CHECK_EQ(cap.len[3 + i], lo[i]);
			CHECK_MEM(cap.pkt[3 + i], others[i], lo[i]);
		}
	}
	capture_free(&cap);
	free_all(a, 10);
	free_all(bb, 10);
	free_all(c, 10);
	free_all(others, 4);
}

/* Two segments, the second one altered: must not merge (and the unaltered
 * pair must, or the test proves nothing). */
enum variant {
	V_NONE, V_GAP, V_RETRANSMIT, V_SYN, V_FIN, V_RST, V_URG, V_ECE, V_CWR, V_NOACK,
	V_TSVAL, V_OPTLEN, V_ACKNO, V_WINDOW, V_TTL, V_TOS, V_DF, V_ID, V_IPOPT,
	V_BADIP, V_FIRSTBADIP, V_BIGGER, V_FIRSTPSH, V_EMPTY, V_PORT, V_ADDR, V_FLOWLABEL,
	V_V6EXT, V_TOTLEN, V_COUNT
};

static void gro_not_merged(void)
{
	for (int v6 = 0; v6 <= 1; v6++)
		for (int v = 0; v < V_COUNT; v++) {
			struct spec s, t;
			uint8_t b1[3000], b2[3000], *p1, *p2;
			size_t l1, l2, n1 = 1000, n2 = 1000;
			int expect_merge = v == V_NONE;

			if (!v6 && (v == V_FLOWLABEL || v == V_V6EXT))
				continue;
			if (v6 && (v == V_DF || v == V_ID || v == V_IPOPT || v == V_BADIP || v == V_FIRSTBADIP ||
				   v == V_TOTLEN))
				continue;
			spec_default(&s, v6, IPPROTO_TCP);
			spec_timestamps(&s, 100, 200);
			if (v == V_ID)
				s.df = 0;
			if (v == V_FIRSTPSH)
				s.flags |= TCP_PSH;
			if (v == V_BIGGER)
				n1 = 500;
			l1 = build(b1, &s, payload_bytes, n1);
			if (v == V_FIRSTBADIP)
				b1[10] ^= 0x80;
			t = s;
			t.flags = TCP_ACK;
			t.seq = s.seq + (uint32_t)n1;
			t.id = (uint16_t)(s.id + 1);
			switch (v) {
			case V_GAP: t.seq += 1; break;
			case V_RETRANSMIT: t.seq = s.seq; break;
			case V_SYN: t.flags |= TCP_SYN; break;
			case V_FIN: t.flags |= TCP_FIN; break;
			case V_RST: t.flags |= TCP_RST; break;
			case V_URG: t.flags |= TCP_URG; break;
			case V_ECE: t.flags |= TCP_ECE; break;
			case V_CWR: t.flags |= TCP_CWR; break;
			case V_NOACK: t.flags = TCP_PSH; break;
			case V_TSVAL: spec_timestamps(&t, 101, 200); break;
			case V_OPTLEN: t.opts_len = 0; break;
			case V_ACKNO: t.ack++; break;
			case V_WINDOW: t.win++; break;
			case V_TTL: t.ttl--; break;
			case V_TOS: t.tos = 0x10; break;
			case V_DF: t.df = 0; break;
			case V_ID: t.id += 2; break;
			case V_IPOPT: t.ip_opts = 4; break;
			case V_EMPTY: n2 = 0; break;
			case V_TOTLEN: n2 = 500; break;
			case V_PORT: t.dport++; break;
			case V_ADDR: t.src[v6 ? 15 : 3]++; break;
			case V_FLOWLABEL: t.flowlabel++; break;
			default: break;
			}
			l2 = build(b2, &t, payload_bytes + n1, n2);
			if (v == V_BADIP)
				b2[10] ^= 0x80; /* only the IP header checksum is wrong */
			if (v == V_TOTLEN) {
				/* two bytes of trailer after the IP packet, chosen so that
				 * the TCP checksum still holds if they were taken as data:
				 * only the total length tells */
				b2[l2++] = 0xff;
				b2[l2++] = 0xfd;
			}
			if (v == V_V6EXT)
				l2 = insert_hop_by_hop(b2, l2);
			p1 = exact(b1, l1);
			p2 = exact(b2, l2);
			offload_gro_init(&gro);
			CHECK_EQ(offload_gro_add(&gro, p1, l1), 0);
			CHECK_EQ(offload_gro_add(&gro, p2, l2), expect_merge);
			offload_gro_flush(&gro, capture_write, &cap);
			CHECK_EQ(cap.bad_iov, 0);
			if (expect_merge) {
				CHECK_EQ(cap.n, 1);
				check_super(&cap.hdr[0], cap.pkt[0], cap.len[0]);
			} else {
				CHECK_EQ(cap.n, 2);
				if (cap.n == 2) {
					CHECK(hdr_is_zero(&cap.hdr[0]) && hdr_is_zero(&cap.hdr[1]));
					CHECK_EQ(cap.len[0], l1);
					CHECK_EQ(cap.len[1], l2);
					CHECK_MEM(cap.pkt[0], b1, l1);
					CHECK_MEM(cap.pkt[1], b2, l2);
				}
			}
			if (cap.n != (expect_merge ? 1u : 2u))
				fprintf(stderr, "  variant %d v6=%d\n", v, v6);
			capture_free(&cap);
			free(p1);
			free(p2);
		}
}

/* TCP checksums are not verified (the packets were just authenticated): a
 * segment whose checksum is wrong, first, in the middle or last, merges like
 * any other, its bytes unchanged; resegmenting the super-packet gives back
 * every segment with a correct checksum, the others byte for byte. */
static void gro_tcp_checksum_ignored(void)
{
	for (int v6 = 0; v6 <= 1; v6++)
		for (int where = 0; where < 3; where++)
			for (int field = 0; field <= 1; field++) {
				static const size_t bad_at[3] = { 0, 2, 4 };
				struct spec s;
				uint8_t *pkts[5], *good[5];
				size_t lens[5], n, k = bad_at[where], l4, hdrs;

				spec_default(&s, v6, IPPROTO_TCP);
				n = make_stream(pkts, lens, &s, 5 * 1000, 1000);
				CHECK_EQ(n, 5);
				l4 = l4_off_of(&s);
				hdrs = hdrs_of(&s);
				for (size_t i = 0; i < n; i++)
					good[i] = exact(pkts[i], lens[i]);
				if (field)
					pkts[k][l4 + 16] ^= 0x21;       /* the checksum field */
				else
					pkts[k][hdrs + 17] ^= 0x04;     /* a payload byte */
				CHECK(!ref_l4_ok(pkts[k], lens[k], l4, IPPROTO_TCP));
				gro_merge_all(pkts, lens, n);
				if (cap.n == 1 && cap.len[0] == hdrs + 5000) {
					int m;

					/* the payload bytes went through as they were */
					for (size_t i = 0; i < n; i++)
						CHECK_MEM(cap.pkt[0] + hdrs + 1000 * i, pkts[i] + hdrs, 1000);
					m = resplit(0, rsbuf, rsoff, rslen);
					CHECK_EQ(m, 5);
					for (int i = 0; i < m && i < 5; i++) {
						const uint8_t *q = rsbuf + rsoff[i];

						CHECK_EQ(rslen[i], lens[i]);
						CHECK(ref_l4_ok(q, rslen[i], l4, IPPROTO_TCP));
						if ((size_t)i != k || field) {
							CHECK_MEM(q, good[i], lens[i]);
						} else { /* all but the checksum field */
							CHECK_MEM(q, pkts[i], l4 + 16);
							CHECK_MEM(q + l4 + 18, pkts[i] + l4 + 18, lens[i] - l4 - 18);
						}
					}
				}
				capture_free(&cap);
				free_all(pkts, n);
				free_all(good, n);
			}
}

/* A short segment ends a super-packet; PSH ends it too; the third packet
 * starts the next one; a non-DF stream with counting ids merges. */
static void gro_short_and_psh(void)
{
	struct spec s;
	uint8_t buf[3000], *p[6];
	size_t l[6];
	static const size_t sizes[6] = { 1000, 500, 1000, 1000, 1000, 1000 };

	spec_default(&s, 0, IPPROTO_TCP);
	s.df = 0;
	for (int i = 0; i < 6; i++) {
		s.flags = i == 3 ? TCP_ACK | TCP_PSH : TCP_ACK;
		l[i] = build(buf, &s, payload_bytes + 1000 * i, sizes[i]);
		p[i] = exact(buf, l[i]);
		s.seq += (uint32_t)sizes[i];
		s.id++;
	}
	offload_gro_init(&gro);
	for (int i = 0; i < 6; i++)
		CHECK_EQ(offload_gro_add(&gro, p[i], l[i]), i == 1 || i == 3 || i == 5);
	offload_gro_flush(&gro, capture_write, &cap);
	CHECK_EQ(cap.n, 3);
	if (cap.n == 3) {
		size_t k = 0;

		for (size_t w = 0; w < 3; w++) {
			int m = resplit(w, rsbuf, rsoff, rslen);

			CHECK_EQ(m, 2);
			for (int i = 0; i < m; i++, k++)
				CHECK(rslen[i] == l[k] && !memcmp(rsbuf + rsoff[i], p[k], l[k]));
		}
		CHECK(cap.pkt[1][20 + 13] & TCP_PSH);
		CHECK(!(p[2][20 + 13] & TCP_PSH)); /* set in the copy, not the caller's packet */
		CHECK_EQ(cap.hdr[0].gso_size, 1000);
	}
	capture_free(&cap);
	free_all(p, 6);
}

/* As many bursting flows as a batch can hold all coalesce at once: there is
 * no per-flow buffer to run out of. */
static void gro_many_flows(void)
{
	enum { FLOWS = OFFLOAD_GRO_MAX_PKTS / 2 };
	static uint8_t *p[FLOWS][2];
	static size_t l[FLOWS][2];

	for (int f = 0; f < FLOWS; f++) {
		struct spec s;

		spec_default(&s, f & 1, IPPROTO_TCP);
		s.sport = (uint16_t)(10000 + f);
		make_stream(p[f], l[f], &s, 2 * 900, 900);
	}
	offload_gro_init(&gro);
	for (int i = 0; i < 2; i++)
		for (int f = 0; f < FLOWS; f++)
			CHECK_EQ(offload_gro_add(&gro, p[f][i], l[f][i]), i);
	offload_gro_flush(&gro, capture_write, &cap);
	CHECK_EQ(cap.bad_iov, 0);
	CHECK_EQ(cap.n, FLOWS);
	for (size_t w = 0; w < cap.n && w < FLOWS; w++) {
		int m = resplit(w, rsbuf, rsoff, rslen);

		CHECK_EQ(m, 2);
		for (int i = 0; i < m && i < 2; i++)
			CHECK(rslen[i] == l[w][i] && !memcmp(rsbuf + rsoff[i], p[w][i], l[w][i]));
	}
	capture_free(&cap);
	for (int f = 0; f < FLOWS; f++)
		free_all(p[f], 2);
}

/* OFFLOAD_GRO_MAX_PKTS adds between flushes, merged or not. */
static void gro_capacity(void)
{
	uint8_t pkt[100], *tcp[OFFLOAD_GRO_MAX_PKTS + 1];
	size_t tl[OFFLOAD_GRO_MAX_PKTS + 1];
	struct spec s;
	size_t l;

	spec_default(&s, 0, IPPROTO_UDP);
	l = build(pkt, &s, payload_bytes, 10);
	offload_gro_init(&gro);
	for (int i = 0; i < OFFLOAD_GRO_MAX_PKTS; i++)
		CHECK_EQ(offload_gro_add(&gro, pkt, l), 0);
	CHECK_EQ(offload_gro_add(&gro, pkt, l), -ENOSPC);
	CHECK_EQ(offload_gro_add(&gro, pkt, 0), -EINVAL);
	offload_gro_flush(&gro, capture_write, &cap);
	CHECK_EQ(cap.n, OFFLOAD_GRO_MAX_PKTS);
	capture_free(&cap);
	CHECK_EQ(offload_gro_add(&gro, pkt, l), 0);
	offload_gro_flush(&gro, capture_write, &cap);
	CHECK_EQ(cap.n, 1);
	capture_free(&cap);

	/* one long stream: 4 super-packets of 64, then no room */
	spec_default(&s, 1, IPPROTO_TCP);
	CHECK_EQ(make_stream(tcp, tl, &s, (OFFLOAD_GRO_MAX_PKTS + 1) * 10, 10), OFFLOAD_GRO_MAX_PKTS + 1);
	offload_gro_init(&gro);
	for (int i = 0; i < OFFLOAD_GRO_MAX_PKTS; i++)
		CHECK_EQ(offload_gro_add(&gro, tcp[i], tl[i]), i % OFFLOAD_GRO_MAX_SEGS != 0);
	CHECK_EQ(offload_gro_add(&gro, tcp[OFFLOAD_GRO_MAX_PKTS], tl[OFFLOAD_GRO_MAX_PKTS]), -ENOSPC);
	offload_gro_flush(&gro, capture_write, &cap);
	CHECK_EQ(cap.n, OFFLOAD_GRO_MAX_PKTS / OFFLOAD_GRO_MAX_SEGS);
	capture_free(&cap);
	/* flushed: room again, and it starts a fresh packet */
	CHECK_EQ(offload_gro_add(&gro, tcp[OFFLOAD_GRO_MAX_PKTS], tl[OFFLOAD_GRO_MAX_PKTS]), 0);
	offload_gro_flush(&gro, capture_write, &cap);
	CHECK_EQ(cap.n, 1);
	capture_free(&cap);
	free_all(tcp, OFFLOAD_GRO_MAX_PKTS + 1);
}

/* Broken TCP packets (cut short, lying IHL or data offset, length fields
 * that disagree), each after a good segment of the same flow: never merged,
 * written unchanged, never read past their end. */
static void gro_malformed(void)
{
	uint8_t good[1100], bad[1200];
	struct spec s, t;

	for (int v6 = 0; v6 <= 1; v6++)
		for (int mode = 0; mode < 4; mode++) {
			size_t lg, lb;

			spec_default(&s, v6, IPPROTO_TCP);
			lg = build(good, &s, payload_bytes, 1000);
			t = s;
			t.seq += 1000;
			t.id++;
			lb = build(bad, &t, payload_bytes + 1000, 500);
			for (size_t l = 0; l <= lb; l++)
				for (int field = 0; field < (mode == 0 ? 1 : 16); field++) {
					uint8_t *g1 = exact(good, lg), *b;

					b = exact(bad, l);
					if (mode == 1 && l > 0 && !v6)
						b[0] = (uint8_t)(0x40 | field);                  /* IHL */
					if (mode == 2 && l > (v6 ? 52u : 32u))
						b[v6 ? 52 : 32] = (uint8_t)(field << 4);         /* data offset */
					if (mode == 3 && l >= 6)
						wbe16(b + (v6 ? 4 : 2), (uint16_t)(v6 ? l - 40 + (size_t)field : l + (size_t)field));
					offload_gro_init(&gro);
					CHECK_EQ(offload_gro_add(&gro, g1, lg), 0);
					CHECK(offload_gro_add(&gro, b, l) >= 0 || l == 0);
					offload_gro_flush(&gro, capture_write, &cap);
					if ((l == lb && (mode == 0 || (mode == 1 && (v6 || field == 5)) ||
							 (mode == 2 && field == 5) || (mode == 3 && field == 0))) ||
					    /* cut short with lengths that agree (and, for
					     * IPv4, a header checksum that holds by chance):
					     * a valid shorter segment, TCP checksum or not */
					    (mode == 3 && field == 0 && l > hdrs_of(&t) && (v6 || ref_ip4_ok(b)))) {
						CHECK_EQ(cap.n, 1); /* the unbroken control merges */
					} else if (l > 0) {
						CHECK_EQ(cap.n, 2);
						if (cap.n == 2) {
							CHECK(hdr_is_zero(&cap.hdr[1]));
							CHECK(cap.len[1] == l && !memcmp(cap.pkt[1], b, l));
							CHECK(cap.len[0] == lg && !memcmp(cap.pkt[0], good, lg));
						}
					}
					capture_free(&cap);
					free(g1);
					free(b);
				}
		}
}

/* Random batches against a naive model of the rules, written from the
 * packets' known attributes rather than from their bytes. */
struct meta {
	int flow;               /* -1: not TCP */
	uint32_t seq;
	size_t payload;
	int psh, plain, badsum; /* plain: ACK or ACK|PSH with data */
	uint16_t id;
	uint32_t tsval;
};

struct group {
	int flow, open, segs;
	size_t first, bytes, mss;
	uint32_t next_seq;
	uint16_t first_id;
	uint32_t tsval;
	int members[OFFLOAD_GRO_MAX_SEGS];
};

static void gro_random(void)
{
	enum { FLOWS = 5, BATCH = OFFLOAD_GRO_MAX_PKTS };
	static struct group groups[BATCH];
	static struct meta meta[BATCH];
	static uint8_t *pk[BATCH], *good[BATCH];
	static size_t pl[BATCH];
	uint8_t buf[3000];
	unsigned merged_badsum = 0;

	for (unsigned iter = 0; iter < 400 / test_scale(); iter++) {
		struct spec fs[FLOWS];
		size_t mss[FLOWS], n = rnd_in(1, BATCH), ng = 0;
		int last_group[FLOWS], nflows = (int)rnd_in(1, FLOWS);

		for (int f = 0; f < nflows; f++) {
			spec_default(&fs[f], (int)(rnd() & 1), IPPROTO_TCP);
			fs[f].sport = (uint16_t)(1000 + f);
			fs[f].df = (int)(rnd() & 1);
			fs[f].seq = rnd();
			fs[f].id = (uint16_t)rnd();
			if (rnd() & 1)
				spec_timestamps(&fs[f], 7, 9);
			mss[f] = rnd() % 4 ? rnd_in(1200, 1448) : rnd_in(1, 300);
			last_group[f] = -1;
		}
		offload_gro_init(&gro);
		for (size_t i = 0; i < n; i++) {
			int f = (int)(rnd() % (uint32_t)(nflows + 1)), r = (int)(rnd() % 100);
			struct meta *m = &meta[i];

			memset(m, 0, sizeof(*m));
			if (f == nflows) { /* not TCP */
				struct spec u;

				spec_default(&u, (int)(rnd() & 1), rnd() & 1 ? IPPROTO_UDP : IPPROTO_ICMP);
				pl[i] = build(buf, &u, payload_bytes, rnd_in(0, 1400));
				m->flow = -1;
			} else {
				struct spec *s = &fs[f], t;
				size_t k = r < 80 ? mss[f] : rnd_in(0, (uint32_t)mss[f]);

				if (r >= 90 && r < 93)
					s->seq += rnd_in(1, 5000);            /* loss */
				t = *s;
				if (r >= 93 && r < 95)
					t.seq -= (uint32_t)rnd_in(1, 3000);   /* retransmission */
				t.flags = TCP_ACK;
				if (rnd() % 10 == 0)
					t.flags |= TCP_PSH;
				if (r == 95)
					t.flags |= TCP_FIN;
				if (r == 96)
					t.flags = TCP_SYN | TCP_ACK;
				if (r == 97 && t.opts_len)
					spec_timestamps(&t, 8, 9), spec_timestamps(s, 8, 9);
				pl[i] = build(buf, &t, payload_bytes + rnd() % 60000, k);
				m->flow = f;
				m->seq = t.seq;
				m->payload = k;
				m->psh = !!(t.flags & TCP_PSH);
				m->plain = (t.flags & ~TCP_PSH) == TCP_ACK && k > 0;
				m->badsum = r == 98;
				m->id = t.id;
				m->tsval = t.opts_len ? be32(t.opts + 4) : 0;
				if (t.seq == s->seq)
					s->seq += (uint32_t)k;
				s->id++;
			}
			good[i] = exact(buf, pl[i]);
			if (m->badsum) /* a wrong TCP checksum changes nothing */
				buf[l4_off_of(&fs[m->flow]) + 16] ^= 0x40;
			pk[i] = exact(buf, pl[i]);
			CHECK(offload_gro_add(&gro, pk[i], pl[i]) >= 0);

			/* the model */
			if (m->flow >= 0 && last_group[m->flow] >= 0) {
				struct group *g = &groups[last_group[m->flow]];
				int df = fs[m->flow].df;

				if (g->open && m->plain && m->seq == g->next_seq && m->payload <= g->mss &&
				    g->segs < OFFLOAD_GRO_MAX_SEGS && g->bytes + m->payload <= OFFLOAD_GRO_MAX_BYTES &&
				    m->tsval == g->tsval && (df || m->id == (uint16_t)(g->first_id + g->segs))) {
					g->members[g->segs++] = (int)i;
					g->bytes += m->payload;
					g->next_seq += (uint32_t)m->payload;
					if (m->psh || m->payload < g->mss)
						g->open = 0;
					continue;
				}
			}
			groups[ng] = (struct group){
				.flow = m->flow, .open = m->flow >= 0 && m->plain && !m->psh,
				.segs = 1, .first = i, .bytes = pl[i], .mss = m->payload,
				.next_seq = m->seq + (uint32_t)m->payload, .first_id = m->id, .tsval = m->tsval,
			};
			groups[ng].members[0] = (int)i;
			if (m->flow >= 0)
				last_group[m->flow] = (int)ng;
			ng++;
		}
		offload_gro_flush(&gro, capture_write, &cap);
		CHECK_EQ(cap.bad_iov, 0);
		CHECK_EQ(cap.n, ng);
		for (size_t w = 0; w < cap.n && w < ng; w++) {
			int m = resplit(w, rsbuf, rsoff, rslen), segs = groups[w].segs;

			CHECK_EQ(m, segs);
			CHECK_EQ(hdr_is_zero(&cap.hdr[w]), segs == 1);
			CHECK_EQ(cap.iovcnt[w], segs == 1 ? 2 : segs + 2);
			for (int i = 0; i < m && i < segs; i++) {
				int k = groups[w].members[i];
				/* resegmented: checksums made right; alone: as it came */
				const uint8_t *want = segs > 1 ? good[k] : pk[k];

				CHECK_EQ(rslen[i], pl[k]);
				CHECK(rslen[i] == pl[k] && !memcmp(rsbuf + rsoff[i], want, pl[k]));
				merged_badsum += segs > 1 && meta[k].badsum;
			}
		}
		capture_free(&cap);
		free_all(pk, n);
		free_all(good, n);
	}
	CHECK(merged_badsum > 0); /* the case was exercised */
}

/* Garbage in: nothing crashes, nothing is lost. Every write stands for as
 * many of the added packets as it has segments. */
static void gro_fuzz(void)
{
	static uint8_t *pk[OFFLOAD_GRO_MAX_PKTS];
	uint8_t buf[3000];

	for (unsigned iter = 0; iter < 300 / test_scale(); iter++) {
		size_t n = rnd_in(1, OFFLOAD_GRO_MAX_PKTS), segs = 0;
		struct spec s;

		spec_default(&s, (int)(rnd() & 1), IPPROTO_TCP);
		offload_gro_init(&gro);
		for (size_t i = 0; i < n; i++) {
			size_t l = build(buf, &s, payload_bytes, 100), cut;

			s.seq += 100;
			s.id++;
			for (int k = (int)rnd_in(0, 2); k > 0; k--)
				buf[rnd() % 80] = (uint8_t)rnd();
			cut = rnd() % 3 ? l : rnd_in(1, (uint32_t)l);
			pk[i] = exact(buf, cut);
			CHECK(offload_gro_add(&gro, pk[i], cut) >= 0);
		}
		offload_gro_flush(&gro, capture_write, &cap);
		CHECK_EQ(cap.bad_iov, 0);
		for (size_t w = 0; w < cap.n; w++) {
			if (hdr_is_zero(&cap.hdr[w])) {
				segs++;
				continue;
			}
			check_super(&cap.hdr[w], cap.pkt[w], cap.len[w]);
			segs += (size_t)offload_split_count(&cap.hdr[w], cap.pkt[w], cap.len[w]);
		}
		CHECK_EQ(segs, n);
		capture_free(&cap);
		free_all(pk, n);
	}
}

int main(void)
{
	test_suite_name = "offload";
	test_seed(0x0ff10ad);
	fill_payload();
	RUN(split_tcp_sizes);
	RUN(split_tcp_details);
	RUN(split_udp);
	RUN(split_udp_zero_checksum);
	RUN(needs_csum);
	RUN(passthrough);
	RUN(split_malformed);
	RUN(split_sweeps);
	RUN(split_fuzz);
	RUN(split_space);
	RUN(gro_roundtrip);
	RUN(gro_concat);
	RUN(gro_zero_copy);
	RUN(gro_bounds);
	RUN(gro_interleaved);
	RUN(gro_not_merged);
	RUN(gro_tcp_checksum_ignored);
	RUN(gro_short_and_psh);
	RUN(gro_many_flows);
	RUN(gro_capacity);
	RUN(gro_malformed);
	RUN(gro_random);
	RUN(gro_fuzz);
	TEST_EXIT();
}
