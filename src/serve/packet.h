/* packet.h: the IP packets `weft serve` reads from and writes into the
 * tunnel: parsing IPv4/IPv6 with TCP, UDP and ICMP/ICMPv6 far enough to
 * find a flow, and building the few packets the server answers with itself
 * (RST, ICMP errors, UDP datagrams, echo replies). */
#ifndef WEFT_SERVE_PACKET_H
#define WEFT_SERVE_PACKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define PKT_IPV4_HDR 20
#define PKT_IPV6_HDR 40
#define PKT_TCP_HDR 20
#define PKT_UDP_HDR 8
#define PKT_ICMP_HDR 8
#define PKT_MAX 65535

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_ACK 0x10

/* What a tunnel packet is, as far as the server needs to know. */
enum pkt_kind {
	PKT_OK = 0,
	PKT_MALFORMED = -1,   /* truncated, bad version or lengths */
	PKT_FRAGMENT = -2,    /* IPv4 fragment or IPv6 fragment header: dropped on purpose */
	PKT_EXTENSION = -3,   /* IPv6 extension header or IPv4 options: dropped on purpose */
	PKT_UNSUPPORTED = -4, /* another protocol (GRE, SCTP...) */
};

struct pkt {
	int family;            /* AF_INET or AF_INET6 */
	uint8_t proto;         /* IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP, IPPROTO_ICMPV6 */
	uint8_t src[16], dst[16]; /* IPv4 in the first 4 bytes */
	uint16_t sport, dport; /* TCP/UDP ports; ICMP echo: id in sport */
	const uint8_t *l4;     /* the transport header */
	size_t l4_len;         /* header + payload */
	const uint8_t *payload;
	size_t payload_len;
	uint8_t tcp_flags;
	uint32_t tcp_seq, tcp_ack;
	uint8_t icmp_type, icmp_code;
	uint16_t icmp_seq;
	bool echo_request;     /* ICMP/ICMPv6 echo request */
};

/* Parses a whole IP packet; the pointers in p point into it. */
enum pkt_kind pkt_parse(struct pkt *p, const uint8_t *buf, size_t len);

/* The addresses and ports of p as sockaddrs. */
void pkt_src_addr(const struct pkt *p, struct sockaddr_storage *ss);
void pkt_dst_addr(const struct pkt *p, struct sockaddr_storage *ss);
size_t pkt_addr_len(int family);
/* addr (4 or 16 bytes by family) and port as a sockaddr. */
void pkt_sockaddr(struct sockaddr_storage *ss, int family, const uint8_t *addr, uint16_t port);
/* and back: the address (IPv4 in the first 4 bytes, the rest zero) and port. */
void pkt_sockaddr_parts(const struct sockaddr_storage *ss, uint8_t addr[16], uint16_t *port);

/* Each builder writes into out (at least PKT_IPV6_HDR + 1280 bytes... see
 * each) and returns the packet's length, or 0 if it does not fit. */

/* The RST a closed port answers p (a TCP segment) with. */
size_t pkt_build_rst(uint8_t *out, size_t cap, const struct pkt *p);
/* ICMP destination unreachable (IPv4 type 3 / IPv6 type 1) with code for
 * the offending packet orig (as much of it as fits the minimum MTU), sent
 * from orig's destination. */
#define ICMP4_HOST_UNREACH 1
#define ICMP4_PORT_UNREACH 3
#define ICMP4_ADMIN_PROHIB 13
#define ICMP6_ADDR_UNREACH 3
#define ICMP6_PORT_UNREACH 4
#define ICMP6_ADMIN_PROHIB 1
enum pkt_unreach { UNREACH_HOST, UNREACH_PORT, UNREACH_ADMIN };
size_t pkt_build_unreach(uint8_t *out, size_t cap, const struct pkt *orig,
			 const uint8_t *orig_buf, size_t orig_len, enum pkt_unreach why);
/* A UDP datagram from (src, sport) to (dst, dport). */
size_t pkt_build_udp(uint8_t *out, size_t cap, int family, const uint8_t *src, uint16_t sport,
		     const uint8_t *dst, uint16_t dport, const uint8_t *data, size_t len);
/* An echo reply from src to dst; body is the ICMP message after the
 * 8-byte header (what the echo request carried). */
size_t pkt_build_echo_reply(uint8_t *out, size_t cap, int family, const uint8_t *src,
			    const uint8_t *dst, uint16_t id, uint16_t seq,
			    const uint8_t *body, size_t len);

/* The Internet checksum (RFC 1071) folded, not inverted, of len bytes,
 * starting from sum. */
uint32_t pkt_sum(uint32_t sum, const uint8_t *buf, size_t len);
uint16_t pkt_fold(uint32_t sum);

#endif
