/* chain_state.h: what a client knows of its network of `weft serve`
 * servers (a chain or a tree of them) and of the other clients: each
 * node's name, public keys, addresses, API address, routes and the node it
 * is attached to. `weft configure` writes it with the first server, `weft
 * add server` and `weft add client` grow it, `weft status` draws it and
 * `weft ping` finds a server's API address in it.
 *
 * It lives beside the client's config, IFACE.chain (JSON, 0600, replaced
 * atomically), and holds public keys only: the private keys are in the
 * configs. Everything is bounded (CHAIN_MAX_*): a file past those is
 * refused, not truncated. */
#ifndef WEFT_CLI_CHAIN_STATE_H
#define WEFT_CLI_CHAIN_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf/conf.h"

#define CHAIN_STATE_VERSION 1
#define CHAIN_MAX_NODES 64      /* clients and servers together */
#define CHAIN_MAX_ROUTES 64     /* a server's routes */
#define CHAIN_MAX_ADDRS 4       /* a node's own addresses */
#define CHAIN_NAME_MAX 32       /* bytes of a node's name */
#define CHAIN_PATH_MAX 4096
#define CHAIN_MAX_FILE (1u << 20)

enum chain_kind { CHAIN_CLIENT, CHAIN_SERVER };

struct chain_node {
	enum chain_kind kind;
	char name[CHAIN_NAME_MAX + 1];    /* [A-Za-z0-9_.-], unique */
	int via;                          /* index of the node it is attached to; -1: none (the first client) */
	bool self;                        /* this machine (the client that keeps this file) */
	uint8_t relay_key[32];            /* public key in the relay layer (the hop-by-hop tunnels) */
	bool has_e2e_key;
	uint8_t e2e_key[32];              /* public key in the end-to-end layer */
	struct conf_prefix addrs[CHAIN_MAX_ADDRS]; /* its tunnel addresses (a server's Address: optional) */
	unsigned n_addrs;
	bool has_relay;
	struct conf_addr relay;           /* its relay address (in the relay prefix) */
	/* servers only */
	bool has_api;
	struct conf_addr api;             /* its API address, reached through the tunnel */
	struct conf_prefix routes[CHAIN_MAX_ROUTES]; /* what it reaches for the clients */
	unsigned n_routes;
	char endpoint[CONF_ENDPOINT_STRLEN]; /* HOST:PORT its via node reaches it at; "" if unknown */
	uint16_t listen_port;             /* its UDP port; 0 if unknown */
	char config[CHAIN_PATH_MAX];      /* the file its config was written to; "" if none */
};

struct chain_state {
	/* the network's address plan (docs/weft-serve-chain.md): the relay
	 * prefix, the API prefix, the tunnel prefixes clients and servers take
	 * their addresses from, and the end-to-end UDP port of servers */
	struct conf_prefix relay_prefix, api_prefix, tunnel_v4, tunnel_v6;
	uint16_t e2e_port;
	/* this machine's interfaces: the relay one (the first server's tunnel)
	 * and the end-to-end one ("" until a second server exists) */
	char relay_iface[16], e2e_iface[16];
	struct chain_node nodes[CHAIN_MAX_NODES];
	unsigned n_nodes;
};

/* Empty state with the default address plan (docs/weft-serve-chain.md). */
void chain_state_init(struct chain_state *st);

/* IFACE.chain beside conf_path (its ".conf" replaced, else ".chain"
 * appended). false if it does not fit. */
bool chain_state_path(char *out, size_t size, const char *conf_path);

/* Reads path into *st. 0; -ENOENT when there is none; -EINVAL (with a
 * line naming the file and what is wrong in err), -E2BIG, -errno. *st is
 * only changed on success. */
int chain_state_load(struct chain_state *st, const char *path, char *err, size_t errlen);

/* Writes st to path, 0600, atomically, never through a symlink nor over
 * another user's file (atomic_file_create). 0 or -errno (err says so). */
int chain_state_save(const struct chain_state *st, const char *path, char *err, size_t errlen);

/* The JSON object of st (as saved and as `weft status --json` prints it), a
 * jansson json_t * the caller json_decref()s; NULL on no memory. */
struct json_t *chain_state_to_json(const struct chain_state *st);

/* Fills *st from a JSON document of chain_state_to_json's shape; -EINVAL and
 * err ("what: why") on anything out of shape or bounds. */
int chain_state_from_json(struct chain_state *st, const struct json_t *root, char *err, size_t errlen);

/* A node by name, by API address (as text) or by public key (base64, either
 * layer): its index, or -1. */
int chain_state_find(const struct chain_state *st, const char *what);

/* Appends a node (copied); its index, or -ENOSPC when full, -EEXIST when
 * the name is taken, -EINVAL for a bad name or via. */
int chain_state_add(struct chain_state *st, const struct chain_node *node);

/* The node of this machine, or -1. */
int chain_state_self(const struct chain_state *st);

/* A valid node name: 1..CHAIN_NAME_MAX of [A-Za-z0-9_.-]. */
bool chain_name_valid(const char *name);

/* The lowest host number n >= 1 that no node uses as its relay address,
 * API address or tunnel address (host n of each prefix): the numbers new
 * nodes take. 0 when none is left (CHAIN_MAX_NODES bounds it first). */
uint32_t chain_state_free_host(const struct chain_state *st);

/* The n-th host address (n >= 1) in prefix p: p's network address plus n.
 * false if it does not fit in the prefix. */
bool chain_prefix_host(struct conf_addr *out, const struct conf_prefix *p, uint32_t n);

/* True when a lies inside prefix p. */
bool chain_prefix_contains(const struct conf_prefix *p, const struct conf_addr *a);

#endif
