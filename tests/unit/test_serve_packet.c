/* test_serve_packet.c: the packets `weft serve` parses and builds
 * (src/serve/packet.c): fields, checksums checked against a plain
 * byte-by-byte sum, RST and ICMP answers as RFC 9293 / RFC 792 / RFC 4443
 * shape them, fragments and extension headers recognised, and random or
 * truncated input never read past its end. */
#include <netinet/in.h>

#include "serve/packet.h"
#include "test.h"

static const uint8_t A4[16] = { 10, 99, 0, 2 }, B4[16] = { 192, 0, 2, 7 };
static const uint8_t A6[16] = { 0xfd, 0x99, [15] = 2 }, B6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 7 };

/* The reference: RFC 1071's sum, one 16-bit word at a time, no tricks. */
static uint16_t naive_sum(const uint8_t *p, size_t n)
{
	uint32_t s = 0;

	for (size_t i = 0; i < n; i++)
		s += i % 2 ? p[i] : (uint32_t)p[i] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

/* A transport checksum verifies when pseudo-header + segment sum to 0xffff. */
static bool l4_ok(const uint8_t *pkt, size_t len)
{
	struct pkt p;
	uint8_t buf[70000];
	size_t alen, n = 0;

	if (pkt_parse(&p, pkt, len) != PKT_OK)
		return false;
	if (p.proto == IPPROTO_ICMP)
		return naive_sum(p.l4, p.l4_len) == 0xffff;
	alen = p.family == AF_INET ? 4 : 16;
	memcpy(buf, p.src, alen);
	memcpy(buf + alen, p.dst, alen);
	n = 2 * alen;
	buf[n++] = 0; buf[n++] = 0;
	buf[n++] = (uint8_t)(p.l4_len >> 8); buf[n++] = (uint8_t)p.l4_len;
	buf[n++] = 0; buf[n++] = 0; buf[n++] = 0; buf[n++] = p.proto;
	memcpy(buf + n, p.l4, p.l4_len);
	n += p.l4_len;
	return naive_sum(buf, n) == 0xffff;
}

static void checksum_matches_reference(void)
{
	uint8_t buf[2001];

	for (int round = 0; round < 2000; round++) {
		size_t n = test_below(sizeof(buf));
		for (size_t i = 0; i < n; i++)
			buf[i] = (uint8_t)test_rnd();
		CHECK_EQ(pkt_sum(0, buf, n), naive_sum(buf, n));
	}
}

static void udp_roundtrip(void)
{
	uint8_t out[2048], data[100];
	struct pkt p;

	for (int fam = 0; fam < 2; fam++) {
		int family = fam ? AF_INET6 : AF_INET;
		const uint8_t *a = fam ? A6 : A4, *b = fam ? B6 : B4;
		size_t n;
		for (size_t i = 0; i < sizeof(data); i++)
			data[i] = (uint8_t)i;
		n = pkt_build_udp(out, sizeof(out), family, a, 5353, b, 7000, data, sizeof(data));
		CHECK_EQ(n, (fam ? PKT_IPV6_HDR : PKT_IPV4_HDR) + PKT_UDP_HDR + sizeof(data));
		CHECK_EQ(pkt_parse(&p, out, n), PKT_OK);
		CHECK_EQ(p.family, family);
		CHECK_EQ(p.proto, IPPROTO_UDP);
		CHECK_EQ(p.sport, 5353);
		CHECK_EQ(p.dport, 7000);
		CHECK_EQ(p.payload_len, sizeof(data));
		CHECK_MEM(p.payload, data, sizeof(data));
		CHECK_MEM(p.src, a, fam ? 16 : 4);
		CHECK_MEM(p.dst, b, fam ? 16 : 4);
		CHECK(l4_ok(out, n));
		if (!fam)
			CHECK_EQ(naive_sum(out, PKT_IPV4_HDR), 0xffff); /* IPv4 header checksum */
		CHECK_EQ(pkt_build_udp(out, n - 1, family, a, 1, b, 2, data, sizeof(data)), 0);
	}
}

/* A SYN as a client sends it: seq 1000, window, MSS option. */
static size_t make_syn(uint8_t *out, int family, uint8_t flags, uint32_t seq, uint32_t ack)
{
	uint8_t tmp[64];
	size_t h = family == AF_INET ? PKT_IPV4_HDR : PKT_IPV6_HDR, n;
	const uint8_t *a = family == AF_INET ? A4 : A6, *b = family == AF_INET ? B4 : B6;

	/* build through the UDP builder for the IP header, then rewrite as TCP */
	memset(tmp, 0, sizeof(tmp));
	n = pkt_build_udp(out, 2048, family, a, 40000, b, 80, tmp, 24 - PKT_UDP_HDR);
	uint8_t *t = out + h;
	memset(t, 0, 24);
	t[0] = 40000 >> 8; t[1] = 40000 & 255; t[2] = 0; t[3] = 80;
	t[4] = (uint8_t)(seq >> 24); t[5] = (uint8_t)(seq >> 16); t[6] = (uint8_t)(seq >> 8); t[7] = (uint8_t)seq;
	t[8] = (uint8_t)(ack >> 24); t[9] = (uint8_t)(ack >> 16); t[10] = (uint8_t)(ack >> 8); t[11] = (uint8_t)ack;
	t[12] = 6 << 4;
	t[13] = flags;
	t[14] = 0xff; t[15] = 0xff;
	t[20] = 2; t[21] = 4; t[22] = 0x05; t[23] = 0x64; /* MSS 1380 */
	if (family == AF_INET) {
		out[9] = IPPROTO_TCP;
		out[10] = out[11] = 0;
		uint16_t c = pkt_fold(pkt_sum(0, out, PKT_IPV4_HDR));
		out[10] = (uint8_t)(c >> 8); out[11] = (uint8_t)c;
	} else {
		out[6] = IPPROTO_TCP;
	}
	return n;
}

static uint32_t get32(const uint8_t *p) { return (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3]; }

static void rst_answers_syn_and_ack(void)
{
	uint8_t syn[2048], out[2048];
	struct pkt p, r;

	for (int fam = 0; fam < 2; fam++) {
		int family = fam ? AF_INET6 : AF_INET;
		size_t n = make_syn(syn, family, TCP_SYN, 1000, 0), m;
		CHECK_EQ(pkt_parse(&p, syn, n), PKT_OK);
		CHECK_EQ(p.tcp_flags, TCP_SYN);
		CHECK_EQ(p.tcp_seq, 1000);
		m = pkt_build_rst(out, sizeof(out), &p);
		CHECK(m > 0);
		CHECK_EQ(pkt_parse(&r, out, m), PKT_OK);
		CHECK_EQ(r.tcp_flags, TCP_RST | TCP_ACK);
		CHECK_EQ(r.sport, 80);
		CHECK_EQ(r.dport, 40000);
		CHECK_EQ(get32(r.l4 + 8), 1001); /* the SYN counts one */
		CHECK_EQ(get32(r.l4 + 4), 0);
		CHECK_MEM(r.src, p.dst, 16);
		CHECK(l4_ok(out, m));

		n = make_syn(syn, family, TCP_ACK, 5000, 77777);
		CHECK_EQ(pkt_parse(&p, syn, n), PKT_OK);
		m = pkt_build_rst(out, sizeof(out), &p);
		CHECK_EQ(pkt_parse(&r, out, m), PKT_OK);
		CHECK_EQ(r.tcp_flags, TCP_RST);
		CHECK_EQ(get32(r.l4 + 4), 77777); /* seq = the segment's ack */
		CHECK(l4_ok(out, m));

		/* never a RST for a RST */
		n = make_syn(syn, family, TCP_RST, 5000, 0);
		CHECK_EQ(pkt_parse(&p, syn, n), PKT_OK);
		CHECK_EQ(pkt_build_rst(out, sizeof(out), &p), 0);
	}
}

static void unreach_quotes_and_codes(void)
{
	uint8_t orig[2048], out[2048], data[1400] = { 1 };
	struct pkt p, r;

	for (int fam = 0; fam < 2; fam++) {
		int family = fam ? AF_INET6 : AF_INET;
		const uint8_t *a = fam ? A6 : A4, *b = fam ? B6 : B4;
		size_t n = pkt_build_udp(orig, sizeof(orig), family, a, 5353, b, 7000, data, sizeof(data)), m;
		static const uint8_t c4[] = { 1, 3, 13 }, c6[] = { 3, 4, 1 };

		CHECK_EQ(pkt_parse(&p, orig, n), PKT_OK);
		for (int why = 0; why < 3; why++) {
			m = pkt_build_unreach(out, sizeof(out), &p, orig, n, (enum pkt_unreach)why);
			CHECK(m > 0);
			CHECK(m <= (size_t)(fam ? 1280 : 576)); /* the minimum MTU */
			CHECK_EQ(pkt_parse(&r, out, m), PKT_OK);
			CHECK_EQ(r.proto, fam ? IPPROTO_ICMPV6 : IPPROTO_ICMP);
			CHECK_EQ(r.icmp_type, fam ? 1 : 3);
			CHECK_EQ(r.icmp_code, fam ? c6[why] : c4[why]);
			CHECK_MEM(r.src, p.dst, 16);
			CHECK_MEM(r.dst, p.src, 16);
			CHECK_MEM(r.l4 + PKT_ICMP_HDR, orig, r.l4_len - PKT_ICMP_HDR);
			CHECK(l4_ok(out, m));
			/* no ICMP error about an ICMP error */
			struct pkt e;
			CHECK_EQ(pkt_parse(&e, out, m), PKT_OK);
			CHECK_EQ(pkt_build_unreach(orig, sizeof(orig), &e, out, m, UNREACH_HOST), 0);
			n = pkt_build_udp(orig, sizeof(orig), family, a, 5353, b, 7000, data, sizeof(data));
		}
	}
}

static void echo_reply(void)
{
	uint8_t out[2048], body[56];
	struct pkt p;

	for (size_t i = 0; i < sizeof(body); i++)
		body[i] = (uint8_t)(i * 7);
	for (int fam = 0; fam < 2; fam++) {
		size_t m = pkt_build_echo_reply(out, sizeof(out), fam ? AF_INET6 : AF_INET, fam ? B6 : B4,
						fam ? A6 : A4, 0x1234, 9, body, sizeof(body));
		CHECK_EQ(pkt_parse(&p, out, m), PKT_OK);
		CHECK_EQ(p.icmp_type, fam ? 129 : 0);
		CHECK_EQ(p.sport, 0x1234);
		CHECK_EQ(p.icmp_seq, 9);
		CHECK(!p.echo_request);
		CHECK_MEM(p.payload, body, sizeof(body));
		CHECK(l4_ok(out, m));
	}
}

static void fragments_and_extensions(void)
{
	uint8_t buf[2048], data[20] = { 0 };
	struct pkt p;
	size_t n;

	n = pkt_build_udp(buf, sizeof(buf), AF_INET, A4, 1, B4, 2, data, sizeof(data));
	buf[6] |= 0x20; /* MF */
	CHECK_EQ(pkt_parse(&p, buf, n), PKT_FRAGMENT);
	n = pkt_build_udp(buf, sizeof(buf), AF_INET, A4, 1, B4, 2, data, sizeof(data));
	buf[7] = 1; /* an offset */
	CHECK_EQ(pkt_parse(&p, buf, n), PKT_FRAGMENT);
	n = pkt_build_udp(buf, sizeof(buf), AF_INET, A4, 1, B4, 2, data, sizeof(data));
	buf[0] = 0x46; /* IPv4 options */
	CHECK_EQ(pkt_parse(&p, buf, n), PKT_EXTENSION);
	static const uint8_t ext[] = { 0, 43, 60, 44 };
	for (size_t i = 0; i < sizeof(ext); i++) {
		n = pkt_build_udp(buf, sizeof(buf), AF_INET6, A6, 1, B6, 2, data, sizeof(data));
		buf[6] = ext[i];
		CHECK_EQ(pkt_parse(&p, buf, n), ext[i] == 44 ? PKT_FRAGMENT : PKT_EXTENSION);
	}
	n = pkt_build_udp(buf, sizeof(buf), AF_INET6, A6, 1, B6, 2, data, sizeof(data));
	buf[6] = 132; /* SCTP */
	CHECK_EQ(pkt_parse(&p, buf, n), PKT_UNSUPPORTED);
}

/* Truncations and random bytes: a verdict every time, pointers inside. */
static void hostile_input(void)
{
	uint8_t buf[256], data[40] = { 0 };
	struct pkt p;

	for (int fam = 0; fam < 2; fam++) {
		size_t n = pkt_build_udp(buf, sizeof(buf), fam ? AF_INET6 : AF_INET, fam ? A6 : A4, 1,
					 fam ? B6 : B4, 2, data, sizeof(data));
		for (size_t cut = 0; cut < n; cut++)
			CHECK(pkt_parse(&p, buf, cut) != PKT_OK);
	}
	for (int round = 0; round < 100000; round++) {
		size_t n = test_below(sizeof(buf));
		for (size_t i = 0; i < n; i++)
			buf[i] = (uint8_t)test_rnd();
		if (n && test_below(2))
			buf[0] = (uint8_t)(test_below(2) ? 0x45 : 0x60);
		if (pkt_parse(&p, buf, n) == PKT_OK) {
			CHECK(p.l4 >= buf && p.l4 + p.l4_len <= buf + n);
			CHECK(p.payload >= p.l4 && p.payload + p.payload_len <= buf + n);
		}
	}
}

/* An empty datagram or echo without a data pointer (what an error about a
 * flow whose packet is gone builds): no copy from NULL, a valid packet. */
static void empty_without_data(void)
{
	uint8_t buf[128];
	struct pkt p;

	for (int fam = 0; fam < 2; fam++) {
		int family = fam ? AF_INET6 : AF_INET;
		size_t n = pkt_build_udp(buf, sizeof(buf), family, fam ? A6 : A4, 1, fam ? B6 : B4, 2, NULL, 0);
		CHECK_EQ(n, (fam ? PKT_IPV6_HDR : PKT_IPV4_HDR) + PKT_UDP_HDR);
		CHECK_EQ(pkt_parse(&p, buf, n), PKT_OK);
		CHECK_EQ(p.payload_len, 0);
		n = pkt_build_echo_reply(buf, sizeof(buf), family, fam ? A6 : A4, fam ? B6 : B4, 1, 2, NULL, 0);
		CHECK_EQ(n, (fam ? PKT_IPV6_HDR : PKT_IPV4_HDR) + PKT_ICMP_HDR);
		CHECK_EQ(pkt_parse(&p, buf, n), PKT_OK);
	}
}

/* sockaddrs and back, both families */
static void sockaddr_roundtrip(void)
{
	struct sockaddr_storage ss;
	uint8_t addr[16];
	uint16_t port = 0;

	for (int fam = 0; fam < 2; fam++) {
		pkt_sockaddr(&ss, fam ? AF_INET6 : AF_INET, fam ? B6 : B4, 8443);
		CHECK_EQ(ss.ss_family, fam ? AF_INET6 : AF_INET);
		pkt_sockaddr_parts(&ss, addr, &port);
		CHECK_EQ(port, 8443);
		CHECK_MEM(addr, fam ? B6 : B4, fam ? 16 : 4);
	}
}

int main(void)
{
	test_suite_name = "serve_packet";
	test_seed(16);
	RUN(checksum_matches_reference);
	RUN(udp_roundtrip);
	RUN(rst_answers_syn_and_ack);
	RUN(unreach_quotes_and_codes);
	RUN(echo_reply);
	RUN(fragments_and_extensions);
	RUN(hostile_input);
	RUN(empty_without_data);
	RUN(sockaddr_roundtrip);
	TEST_EXIT();
}
