/* chain_conf.h: the configs of a network of `weft serve` servers, made from
 * a client's knowledge of it (chain_state.h) as docs/weft-serve-chain.md
 * lays them out: a client's relay file (its first hop), its end-to-end file
 * (every other server) and a server's file (its relay neighbours, its e2e
 * key and clients, its [Serve] addresses). Pure: no files, no network. */
#ifndef WEFT_CLI_CHAIN_CONF_H
#define WEFT_CLI_CHAIN_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chain_state.h"
#include "conf/conf.h"

#define CHAIN_RELAY_MTU 1420
#define CHAIN_E2E_MTU 1340  /* relay MTU - IPv6 40 - UDP 8 - WireGuard 32 */
#define CHAIN_KEEPALIVE 25

/* The first hop of client idx: the server it is attached to (the first
 * client: the first server attached to it), or -1. */
int chain_first_hop(const struct chain_state *st, unsigned idx);

/* server is a first hop of client: either hangs from the other. A client
 * may have several (servers attached to it with `add server --via` it). */
bool chain_is_first_hop(const struct chain_state *st, unsigned client, unsigned server);

/* client reaches server end to end: not one of its first hops, and in the
 * tree of one of them (servers relay between servers only, never through
 * a client). */
bool chain_reaches_e2e(const struct chain_state *st, unsigned client, unsigned server);

/* The relay file of client idx with private key priv: Address = its tunnel
 * addresses and relay address, MTU; a peer per first hop, for that server's
 * routes, Address, API address and the relay prefix (the first one) or its
 * subtree's relay addresses (another attached to this client). *out is
 * conf_init()ed here and the caller's to conf_free(). 0 or -errno. */
int chain_conf_client_relay(const struct chain_state *st, unsigned idx, const uint8_t priv[32], struct conf *out);

/* The end-to-end file of client idx: Address = its tunnel addresses, MTU;
 * a peer per server it reaches end to end (chain_reaches_e2e) whose e2e
 * key is known,
 * reached at [its relay address]:e2e port, for its routes, Address and API
 * address. The number of peers (0: the client needs no e2e file), or
 * -errno. */
int chain_conf_client_e2e(const struct chain_state *st, unsigned idx, const uint8_t priv[32], struct conf *out);

/* What a server's [Serve] section carries besides the addresses. */
struct chain_serve_opts {
	const char *allow, *deny;  /* lists as the user wrote them, or NULL */
	bool server_loopback;
	const char *via_endpoint;  /* IP:PORT the server reaches the server it is attached to at, or NULL */
};

/* The config text of server idx (keys relay_priv and e2e_priv): its
 * [Interface] and a [Peer] per client whose first hop it is, a [Relay] per
 * neighbouring server (towards the first server: the whole relay prefix;
 * towards one attached to it: that one's subtree), [E2E], an [E2EPeer]
 * per other client whose e2e key is known, [Serve]. *text is malloc'd and
 * holds keys: the caller memzero()s and frees it. 0 or -errno (-E2BIG for
 * lists past the bounds). */
int chain_conf_server(const struct chain_state *st, unsigned idx, const uint8_t relay_priv[32],
		      const uint8_t e2e_priv[32], const struct chain_serve_opts *o, char **text, size_t *len);

/* The relay addresses of node idx and of everything attached below it, as
 * /128 prefixes appended to list (what a server's [Relay] towards it
 * routes). 0 or -errno. */
int chain_subtree_relays(const struct chain_state *st, unsigned idx, struct conf_prefix_list *list);

#endif
