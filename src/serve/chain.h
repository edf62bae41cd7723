/* chain.h: where a packet goes in a server of a chain (see
 * docs/weft-serve-chain.md): the relay layer routes what its peers send
 * between the end-to-end layer, the flows (exit and API) and the other
 * relay peers. Decisions on packets only, no I/O, so they can be tested
 * alone; serve.c acts on them. */
#ifndef WEFT_SERVE_CHAIN_H
#define WEFT_SERVE_CHAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf/conf.h"

/* This server's place in the chain. */
struct chain_self {
	bool has_relay, has_api;
	uint8_t relay[16], api[16];   /* its relay and API addresses */
	struct conf_prefix relay_prefix;
	uint16_t e2e_port;
};

enum chain_verdict {
	CHAIN_E2E,      /* UDP to the relay address's e2e port: for the e2e device */
	CHAIN_API,      /* to the API address, from a client: the flows (their API hook) */
	CHAIN_EXIT,     /* from a client, to elsewhere: the flows */
	CHAIN_RELAYED,  /* an e2e datagram (UDP to or from the e2e port, which every
			 * server of a chain shares) for another relay address:
			 * forward it if a peer has it */
	CHAIN_DROP,     /* a server's packet that is not for relaying, or nowhere to go */
};

/* A packet the relay device delivered, from a client (a [Peer]) or not (a
 * [Relay] server). On CHAIN_E2E, *payload / *payload_len are the UDP
 * payload and src / sport the sender's relay address and port. */
enum chain_verdict chain_classify(const struct chain_self *self, bool from_client, const uint8_t *pkt,
				  size_t len, const uint8_t **payload, size_t *payload_len,
				  uint8_t src[16], uint16_t *sport);

/* Before a packet is forwarded: the IPv6 hop limit goes down by one; false
 * when it has run out (the packet is dropped, so a loop of wrong routes
 * ends). */
bool chain_forward_hop(uint8_t *pkt, size_t len);

/* Is a (16 bytes) inside p (IPv6)? */
bool chain_prefix_has(const struct conf_prefix *p, const uint8_t *a);

#endif
