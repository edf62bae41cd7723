/* chain_peers.h: telling the servers of a chain about a new node through
 * their APIs (POST /v1/peers), and taking it back when a later step fails:
 * what `weft add server` and `weft add client` ask before they write any
 * file. Each call prints one line saying which server refused or did not
 * answer, and why. */
#ifndef WEFT_CLI_CHAIN_PEERS_H
#define WEFT_CLI_CHAIN_PEERS_H

#include <stdbool.h>
#include <stdint.h>

#include "chain_state.h"

#define CHAIN_PEERS_TIMEOUT_MS 5000
#define CHAIN_PEERS_MAX (CHAIN_MAX_NODES + 2)

struct chain_peers {
	const struct chain_state *st;
	const char *cmd;  /* for messages: "add server" */
	struct { unsigned server; uint8_t key[32]; } added[CHAIN_PEERS_MAX]; /* new there: to take back */
	unsigned n;
};

void chain_peers_init(struct chain_peers *p, const struct chain_state *st, const char *cmd);

/* POST /v1/peers to server: layer "relay" or "e2e", role "client" or
 * "server" (relay only; NULL: none), the key, the allowed IPs (addrs, and
 * relay as a /128 when not NULL), an endpoint (IP:PORT, with keepalive
 * 25; NULL: none). A peer the server did not have yet is remembered for
 * chain_peers_undo. 0, or -errno after saying why. */
int chain_peers_post(struct chain_peers *p, unsigned server, const char *layer, const char *role,
		     const uint8_t key[32], const struct conf_prefix *addrs, unsigned n_addrs,
		     const struct conf_addr *relay, const char *endpoint);

/* Every server above via, up to the first one, learns that relay (a new
 * node attached to via) is reached through its peer towards via. Allowed
 * IPs only add up on an existing peer: nothing of this is taken back. */
int chain_peers_route_down(struct chain_peers *p, unsigned via, const struct conf_addr *relay);

/* DELETE /v1/peers/KEY of every peer added, latest first; says which it
 * could not take back. */
void chain_peers_undo(struct chain_peers *p);

#endif
