/* stun_port.c: STUN from the device's port through a raw socket (stun_port.h). */
#include "link/stun_port.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util/random.h"

/* Datagrams looked at per read: the socket sees all UDP traffic, the
 * tunnel's too, and must not keep the loop busy. */
#define STUN_PORT_READ_BUDGET 64

void stun_port_init(struct stun_port *s)
{
	memset(s, 0, sizeof(*s));
	s->fd = -1;
}

void stun_port_close(struct stun_port *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
}

static uint32_t sum16(uint32_t acc, const void *data, size_t len)
{
	const uint8_t *p = data;

	for (size_t i = 0; i + 1 < len; i += 2)
		acc += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		acc += (uint32_t)p[len - 1] << 8;
	return acc;
}

/* The UDP checksum over the pseudo-header (RFC 768; RFC 8200 8.1). */
static uint16_t udp_checksum(const union link_addr *src, const union link_addr *dst, const uint8_t *udp, size_t len)
{
	uint32_t acc = 0;
	uint8_t tail[4] = { 0, 0, 0, IPPROTO_UDP };

	if (src->sa.sa_family == AF_INET) {
		acc = sum16(acc, &src->in4.sin_addr, 4);
		acc = sum16(acc, &dst->in4.sin_addr, 4);
		acc += IPPROTO_UDP + (uint32_t)len;
	} else {
		uint32_t l = htonl((uint32_t)len);
		acc = sum16(acc, &src->in6.sin6_addr, 16);
		acc = sum16(acc, &dst->in6.sin6_addr, 16);
		acc = sum16(acc, &l, 4);
		acc = sum16(acc, tail, 4);
	}
	acc = sum16(acc, udp, len);
	while (acc >> 16)
		acc = (acc & 0xffff) + (acc >> 16);
	uint16_t c = (uint16_t)~acc;
	return c ? c : 0xffff;
}

int stun_port_send(struct stun_port *s, const union link_addr *server, uint16_t port)
{
	uint8_t pkt[sizeof(struct udphdr) + STUN_HEADER_LEN];
	struct udphdr *uh = (struct udphdr *)pkt;
	union link_addr src = { 0 }, dst = *server;
	socklen_t sl = sizeof(src);
	int fd, ret;

	stun_port_close(s);
	if (!link_addr_is_set(server) || !port)
		return -EINVAL;
	if (!random_fill(s->txid, sizeof(s->txid)))
		return -errno;
	fd = socket(server->sa.sa_family, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);
	if (fd < 0)
		return -errno;
	/* raw sockets take no port: connect only picks the route and source */
	link_addr_set_port(&dst, 0);
	if (connect(fd, &dst.sa, link_addr_len(&dst)) < 0 || getsockname(fd, &src.sa, &sl) < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	uh->source = htons(port);
	uh->dest = htons(link_addr_port(server));
	uh->len = htons(sizeof(pkt));
	uh->check = 0;
	if (stun_binding_request(pkt + sizeof(*uh), STUN_HEADER_LEN, s->txid, false) != STUN_HEADER_LEN) {
		close(fd);
		return -EINVAL;
	}
	uh->check = htons(udp_checksum(&src, &dst, pkt, sizeof(pkt)));
	if (send(fd, pkt, sizeof(pkt), 0) < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	s->fd = fd;
	s->port = port;
	s->server = *server;
	return 0;
}

/* A Binding success response to our transaction: the mapping it tells. */
static bool answer(const uint8_t *pkt, size_t len, const uint8_t txid[STUN_TXID_LEN], union link_addr *mapped)
{
	struct stun_msg m;
	struct sockaddr_storage ss;
	socklen_t sl;

	if (stun_parse(&m, pkt, len) || m.type != STUN_BINDING_SUCCESS || memcmp(m.txid, txid, STUN_TXID_LEN))
		return false;
	sl = coord_addr_to_sockaddr(m.has_xor_mapped ? &m.xor_mapped : &m.mapped, &ss);
	if ((!m.has_xor_mapped && !m.has_mapped) || !sl || sl > sizeof(*mapped))
		return false;
	memset(mapped, 0, sizeof(*mapped));
	memcpy(mapped, &ss, sl);
	return true;
}

int stun_port_read(struct stun_port *s, union link_addr *mapped)
{
	uint8_t buf[2048];

	for (int i = 0; s->fd >= 0 && i < STUN_PORT_READ_BUDGET; i++) {
		union link_addr from = { 0 };
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(s->fd, buf, sizeof(buf), 0, &from.sa, &fl);
		const uint8_t *udp = buf;
		size_t len;

		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -errno;
		len = (size_t)n;
		/* IPv4 raw sockets hand over the IP header, IPv6 ones do not */
		if (s->server.sa.sa_family == AF_INET) {
			size_t ihl;

			if (len < 20 || (buf[0] >> 4) != 4)
				continue;
			ihl = (size_t)(buf[0] & 0x0f) * 4;
			if (ihl < 20 || ihl + sizeof(struct udphdr) > len)
				continue;
			udp += ihl;
			len -= ihl;
		}
		if (len < sizeof(struct udphdr) || !link_addr_same_host(&from, &s->server))
			continue;
		const struct udphdr *uh = (const struct udphdr *)udp;
		if (ntohs(uh->source) != link_addr_port(&s->server) || ntohs(uh->dest) != s->port)
			continue;
		if (answer(udp + sizeof(*uh), len - sizeof(*uh), s->txid, mapped)) {
			stun_port_close(s);
			return 1;
		}
	}
	return 0;
}
