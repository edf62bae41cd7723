/* chain.c: the relay layer's routing decisions (see chain.h). */
#include "serve/chain.h"

#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "serve/packet.h"

bool chain_prefix_has(const struct conf_prefix *p, const uint8_t *a)
{
	unsigned bits = p->cidr;

	if (p->addr.family != AF_INET6)
		return false;
	for (unsigned i = 0; bits; i++) {
		uint8_t mask = bits >= 8 ? 0xff : (uint8_t)(0xff << (8 - bits));
		if ((p->addr.bytes[i] ^ a[i]) & mask)
			return false;
		bits = bits >= 8 ? bits - 8 : 0;
	}
	return true;
}

enum chain_verdict chain_classify(const struct chain_self *self, bool from_client, const uint8_t *pkt,
				  size_t len, const uint8_t **payload, size_t *payload_len,
				  uint8_t src[16], uint16_t *sport)
{
	const uint8_t *dst;

	if (len < 1 || (pkt[0] >> 4) != 6 || len < PKT_IPV6_HDR)
		return from_client ? CHAIN_EXIT : CHAIN_DROP; /* IPv4: never the chain's */
	dst = pkt + 24;
	if (self->has_relay && !memcmp(dst, self->relay, 16)) {
		struct pkt p;
		/* only whole, plain UDP to the e2e port is for this server */
		if (pkt_parse(&p, pkt, len) != PKT_OK || p.proto != IPPROTO_UDP || p.dport != self->e2e_port)
			return CHAIN_DROP;
		*payload = p.payload;
		*payload_len = p.payload_len;
		memcpy(src, p.src, 16);
		*sport = p.sport;
		return CHAIN_E2E;
	}
	if (self->has_api && !memcmp(dst, self->api, 16))
		return from_client ? CHAIN_API : CHAIN_DROP;
	if (chain_prefix_has(&self->relay_prefix, dst)) {
		struct pkt p;
		/* The relay layer carries e2e datagrams only: to a server's e2e
		 * port, or from one to a client. Anything else would let a
		 * server reach the services of a client's machine, or a client
		 * those of another. */
		if (pkt_parse(&p, pkt, len) != PKT_OK || p.proto != IPPROTO_UDP ||
		    (p.dport != self->e2e_port && p.sport != self->e2e_port))
			return CHAIN_DROP;
		return CHAIN_RELAYED;
	}
	return from_client ? CHAIN_EXIT : CHAIN_DROP;
}

bool chain_forward_hop(uint8_t *pkt, size_t len)
{
	if (len < PKT_IPV6_HDR || (pkt[0] >> 4) != 6 || pkt[7] <= 1)
		return false;
	pkt[7]--;
	return true;
}
