/* packet.c: parsing and building the tunnel's IP packets (see packet.h). */
#include "serve/packet.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

/* ICMP errors quote the offending packet up to these sizes, the minimum
 * MTUs of each family (RFC 1812 4.3.2.3, RFC 4443 2.4 (c)). */
#define ICMP4_ERROR_MAX 576
#define ICMP6_ERROR_MAX 1280

#define ICMP4_ECHO_REQUEST 8
#define ICMP4_ECHO_REPLY 0
#define ICMP6_ECHO_REQUEST 128
#define ICMP6_ECHO_REPLY 129

static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

uint32_t pkt_sum(uint32_t sum, const uint8_t *buf, size_t len)
{
	uint64_t s = sum;

	while (len >= 2) {
		s += get16(buf);
		buf += 2;
		len -= 2;
	}
	if (len)
		s += (uint32_t)buf[0] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint32_t)s;
}

uint16_t pkt_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static size_t addr_len(int family) { return family == AF_INET ? 4 : 16; }

static uint32_t pseudo_sum(int family, const uint8_t *src, const uint8_t *dst, uint8_t proto,
			   size_t len)
{
	uint32_t s = pkt_sum(0, src, addr_len(family));
	uint8_t tail[8] = { 0 };

	s = pkt_sum(s, dst, addr_len(family));
	put32(tail, (uint32_t)len);
	tail[7] = proto;
	return pkt_sum(s, tail, sizeof(tail));
}

static enum pkt_kind parse_l4(struct pkt *p)
{
	const uint8_t *l4 = p->l4;
	size_t n = p->l4_len;

	switch (p->proto) {
	case IPPROTO_TCP: {
		size_t off;
		if (n < PKT_TCP_HDR)
			return PKT_MALFORMED;
		off = (size_t)(l4[12] >> 4) * 4;
		if (off < PKT_TCP_HDR || off > n)
			return PKT_MALFORMED;
		p->sport = get16(l4);
		p->dport = get16(l4 + 2);
		p->tcp_seq = get32(l4 + 4);
		p->tcp_ack = get32(l4 + 8);
		p->tcp_flags = l4[13];
		p->payload = l4 + off;
		p->payload_len = n - off;
		return PKT_OK;
	}
	case IPPROTO_UDP:
		if (n < PKT_UDP_HDR || get16(l4 + 4) < PKT_UDP_HDR || get16(l4 + 4) > n)
			return PKT_MALFORMED;
		p->sport = get16(l4);
		p->dport = get16(l4 + 2);
		p->payload = l4 + PKT_UDP_HDR;
		p->payload_len = get16(l4 + 4) - PKT_UDP_HDR;
		return PKT_OK;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		if (n < PKT_ICMP_HDR)
			return PKT_MALFORMED;
		p->icmp_type = l4[0];
		p->icmp_code = l4[1];
		p->echo_request = p->icmp_code == 0 &&
			l4[0] == (p->proto == IPPROTO_ICMP ? ICMP4_ECHO_REQUEST : ICMP6_ECHO_REQUEST);
		p->sport = get16(l4 + 4);
		p->icmp_seq = get16(l4 + 6);
		p->payload = l4 + PKT_ICMP_HDR;
		p->payload_len = n - PKT_ICMP_HDR;
		return PKT_OK;
	default:
		return PKT_UNSUPPORTED;
	}
}

enum pkt_kind pkt_parse(struct pkt *p, const uint8_t *buf, size_t len)
{
	memset(p, 0, sizeof(*p));
	if (len < 1)
		return PKT_MALFORMED;
	if (buf[0] >> 4 == 4) {
		size_t ihl = (size_t)(buf[0] & 15) * 4, total;
		if (len < PKT_IPV4_HDR || ihl < PKT_IPV4_HDR)
			return PKT_MALFORMED;
		total = get16(buf + 2);
		if (total < ihl || total > len)
			return PKT_MALFORMED;
		p->family = AF_INET;
		p->proto = buf[9];
		memcpy(p->src, buf + 12, 4);
		memcpy(p->dst, buf + 16, 4);
		/* MF set or a fragment offset: reassembly is not worth its
		 * memory here; WireGuard's MTU makes fragments rare. */
		if (get16(buf + 6) & 0x3fff)
			return PKT_FRAGMENT;
		if (ihl != PKT_IPV4_HDR)
			return PKT_EXTENSION;
		if (p->proto == IPPROTO_ICMPV6)
			return PKT_UNSUPPORTED;
		p->l4 = buf + ihl;
		p->l4_len = total - ihl;
		return parse_l4(p);
	}
	if (buf[0] >> 4 == 6) {
		size_t plen;
		if (len < PKT_IPV6_HDR)
			return PKT_MALFORMED;
		plen = get16(buf + 4);
		if (PKT_IPV6_HDR + plen > len)
			return PKT_MALFORMED;
		p->family = AF_INET6;
		p->proto = buf[6];
		memcpy(p->src, buf + 8, 16);
		memcpy(p->dst, buf + 24, 16);
		if (p->proto == 44)
			return PKT_FRAGMENT;
		/* hop-by-hop, routing, destination options: none is needed to
		 * reach a destination from here */
		if (p->proto == 0 || p->proto == 43 || p->proto == 60)
			return PKT_EXTENSION;
		if (p->proto == IPPROTO_ICMP)
			return PKT_UNSUPPORTED;
		p->l4 = buf + PKT_IPV6_HDR;
		p->l4_len = plen;
		return parse_l4(p);
	}
	return PKT_MALFORMED;
}

size_t pkt_addr_len(int family)
{
	return family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
}

void pkt_sockaddr(struct sockaddr_storage *ss, int family, const uint8_t *addr, uint16_t port)
{
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		memcpy(&sin->sin_addr, addr, 4);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		memcpy(&sin6->sin6_addr, addr, 16);
	}
}

void pkt_sockaddr_parts(const struct sockaddr_storage *ss, uint8_t addr[16], uint16_t *port)
{
	memset(addr, 0, 16);
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
		memcpy(addr, &sin->sin_addr, 4);
		*port = ntohs(sin->sin_port);
	} else {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;
		memcpy(addr, &sin6->sin6_addr, 16);
		*port = ntohs(sin6->sin6_port);
	}
}

void pkt_src_addr(const struct pkt *p, struct sockaddr_storage *ss)
{
	pkt_sockaddr(ss, p->family, p->src, p->sport);
}

void pkt_dst_addr(const struct pkt *p, struct sockaddr_storage *ss)
{
	pkt_sockaddr(ss, p->family, p->dst, p->dport);
}

/* An IP header for l4_len bytes of proto from src to dst; returns its size. */
static size_t put_ip(uint8_t *out, int family, const uint8_t *src, const uint8_t *dst,
		     uint8_t proto, size_t l4_len)
{
	if (family == AF_INET) {
		memset(out, 0, PKT_IPV4_HDR);
		out[0] = 0x45;
		put16(out + 2, (uint16_t)(PKT_IPV4_HDR + l4_len));
		put16(out + 6, 0x4000); /* DF */
		out[8] = 64;
		out[9] = proto;
		memcpy(out + 12, src, 4);
		memcpy(out + 16, dst, 4);
		put16(out + 10, pkt_fold(pkt_sum(0, out, PKT_IPV4_HDR)));
		return PKT_IPV4_HDR;
	}
	memset(out, 0, PKT_IPV6_HDR);
	out[0] = 0x60;
	put16(out + 4, (uint16_t)l4_len);
	out[6] = proto;
	out[7] = 64;
	memcpy(out + 8, src, 16);
	memcpy(out + 24, dst, 16);
	return PKT_IPV6_HDR;
}

static size_t ip_hdr_len(int family) { return family == AF_INET ? PKT_IPV4_HDR : PKT_IPV6_HDR; }

/* The transport checksum at offset csum_off of the l4 part. ICMPv4 has no
 * pseudo-header. */
static void put_l4_sum(uint8_t *l4, size_t len, int family, const uint8_t *src, const uint8_t *dst,
		       uint8_t proto, size_t csum_off)
{
	uint32_t s = proto == IPPROTO_ICMP ? 0 : pseudo_sum(family, src, dst, proto, len);
	uint16_t c;

	put16(l4 + csum_off, 0);
	c = pkt_fold(pkt_sum(s, l4, len));
	if (proto == IPPROTO_UDP && c == 0)
		c = 0xffff;
	put16(l4 + csum_off, c);
}

size_t pkt_build_rst(uint8_t *out, size_t cap, const struct pkt *p)
{
	size_t h = ip_hdr_len(p->family), n = h + PKT_TCP_HDR;
	uint8_t *t = out + h;
	uint32_t seg_len = (uint32_t)p->payload_len + !!(p->tcp_flags & TCP_SYN) + !!(p->tcp_flags & TCP_FIN);

	if (cap < n || p->proto != IPPROTO_TCP || (p->tcp_flags & TCP_RST))
		return 0;
	put_ip(out, p->family, p->dst, p->src, IPPROTO_TCP, PKT_TCP_HDR);
	memset(t, 0, PKT_TCP_HDR);
	put16(t, p->dport);
	put16(t + 2, p->sport);
	/* RFC 9293 3.10.7.1: an ACK is answered with seq = its ack; anything
	 * else with seq 0 and an ACK of what it carried. */
	if (p->tcp_flags & TCP_ACK) {
		put32(t + 4, p->tcp_ack);
		t[13] = TCP_RST;
	} else {
		put32(t + 8, p->tcp_seq + seg_len);
		t[13] = TCP_RST | TCP_ACK;
	}
	t[12] = (PKT_TCP_HDR / 4) << 4;
	put_l4_sum(t, PKT_TCP_HDR, p->family, p->dst, p->src, IPPROTO_TCP, 16);
	return n;
}

size_t pkt_build_unreach(uint8_t *out, size_t cap, const struct pkt *orig,
			 const uint8_t *orig_buf, size_t orig_len, enum pkt_unreach why)
{
	bool v4 = orig->family == AF_INET;
	size_t h = ip_hdr_len(orig->family), max = v4 ? ICMP4_ERROR_MAX : ICMP6_ERROR_MAX;
	size_t quote = orig_len, n;
	uint8_t proto = v4 ? IPPROTO_ICMP : IPPROTO_ICMPV6, *icmp = out + h;
	static const uint8_t code4[] = { ICMP4_HOST_UNREACH, ICMP4_PORT_UNREACH, ICMP4_ADMIN_PROHIB };
	static const uint8_t code6[] = { ICMP6_ADDR_UNREACH, ICMP6_PORT_UNREACH, ICMP6_ADMIN_PROHIB };

	/* never an error about an error (RFC 1122 3.2.2) */
	if ((orig->proto == IPPROTO_ICMP || orig->proto == IPPROTO_ICMPV6) && !orig->echo_request)
		return 0;
	if (h + PKT_ICMP_HDR + quote > max)
		quote = max - h - PKT_ICMP_HDR;
	n = h + PKT_ICMP_HDR + quote;
	if (cap < n)
		return 0;
	put_ip(out, orig->family, orig->dst, orig->src, proto, PKT_ICMP_HDR + quote);
	memset(icmp, 0, PKT_ICMP_HDR);
	icmp[0] = v4 ? 3 : 1;
	icmp[1] = v4 ? code4[why] : code6[why];
	memcpy(icmp + PKT_ICMP_HDR, orig_buf, quote);
	put_l4_sum(icmp, PKT_ICMP_HDR + quote, orig->family, orig->dst, orig->src, proto, 2);
	return n;
}

size_t pkt_build_udp(uint8_t *out, size_t cap, int family, const uint8_t *src, uint16_t sport,
		     const uint8_t *dst, uint16_t dport, const uint8_t *data, size_t len)
{
	size_t h = ip_hdr_len(family), n = h + PKT_UDP_HDR + len;
	uint8_t *u = out + h;

	if (cap < n || n > PKT_MAX)
		return 0;
	put_ip(out, family, src, dst, IPPROTO_UDP, PKT_UDP_HDR + len);
	put16(u, sport);
	put16(u + 2, dport);
	put16(u + 4, (uint16_t)(PKT_UDP_HDR + len));
	if (len) /* an empty datagram may come with data NULL */
		memmove(u + PKT_UDP_HDR, data, len);
	put_l4_sum(u, PKT_UDP_HDR + len, family, src, dst, IPPROTO_UDP, 6);
	return n;
}

size_t pkt_build_echo_reply(uint8_t *out, size_t cap, int family, const uint8_t *src,
			    const uint8_t *dst, uint16_t id, uint16_t seq,
			    const uint8_t *body, size_t len)
{
	bool v4 = family == AF_INET;
	size_t h = ip_hdr_len(family), n = h + PKT_ICMP_HDR + len;
	uint8_t proto = v4 ? IPPROTO_ICMP : IPPROTO_ICMPV6, *icmp = out + h;

	if (cap < n || n > PKT_MAX)
		return 0;
	put_ip(out, family, src, dst, proto, PKT_ICMP_HDR + len);
	memset(icmp, 0, PKT_ICMP_HDR);
	icmp[0] = v4 ? ICMP4_ECHO_REPLY : ICMP6_ECHO_REPLY;
	put16(icmp + 4, id);
	put16(icmp + 6, seq);
	if (len)
		memmove(icmp + PKT_ICMP_HDR, body, len);
	put_l4_sum(icmp, PKT_ICMP_HDR + len, family, src, dst, proto, 2);
	return n;
}
