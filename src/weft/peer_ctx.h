/* peer_ctx.h: what the peer commands (`weft peer ...`, `weft export`) work
 * on: the interface's peer store (conf/store.h) and its running device, and
 * the steps they share - finding a peer by name or key, the server's public
 * key, a peer's tunnel addresses, putting a peer on the running device or
 * taking it off, and reading --expires. Functions that return bool have
 * said why on stderr when they return false. */
#ifndef WEFT_CLI_PEER_CTX_H
#define WEFT_CLI_PEER_CTX_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "conf/store.h"

struct device;
struct dev_peer;

struct peer_ctx {
	const char *iface;
	char path[PATH_MAX];     /* IFACE.conf */
	bool exists;             /* it is there (else the store is empty) */
	struct store st;
	struct device *dev;      /* NULL when not running */
	struct dev_peer **by_key; /* dev's peers sorted by key, for lookups */
	bool brief;              /* PEER_CTX_DEVICE_BRIEF */
};

enum peer_ctx_flags {
	PEER_CTX_LOCK = 1u << 0,      /* for changes: the store's lock */
	PEER_CTX_NEED_CONF = 1u << 1, /* no config file is an error */
	PEER_CTX_NO_DEVICE = 1u << 2, /* do not ask the running device */
	PEER_CTX_READ_ONLY = 1u << 3, /* the command changes nothing (store.h) */
	/* only the device's keys and port and its peers' keys and allowed IPs
	 * are read (device_get_brief): enough to tell which are taken */
	PEER_CTX_DEVICE_BRIEF = 1u << 4,
};

bool peer_ctx_open(struct peer_ctx *c, const char *iface, unsigned flags);
/* Read-only, with only the peer which (a name or key) of the store
 * (store_open_peer): `peer config` at 10,000 peers. */
bool peer_ctx_open_peer(struct peer_ctx *c, const char *iface, const char *which, unsigned flags);
/* Asks the running device after an open with PEER_CTX_NO_DEVICE (its
 * peers are read whole: 10,000 of them cost more than the files). */
bool peer_ctx_load_device(struct peer_ctx *c);
void peer_ctx_close(struct peer_ctx *c); /* safe after a failed open */
/* Reads the running device again (none: c->dev NULL), for a context kept
 * open across changes (weft api). false (reported) if it cannot be read. */
bool peer_ctx_reload_device(struct peer_ctx *c);

/* The running device's peer with this key, or NULL. O(log peers), or
 * O(peers) in a PEER_CTX_DEVICE_BRIEF context. */
struct dev_peer *peer_ctx_dev_peer(const struct peer_ctx *c, const uint8_t key[32]);
/* NAME or base64 KEY of a peer the store or the device knows into key. */
bool peer_ctx_find(struct peer_ctx *c, const char *which, uint8_t key[32]);
/* The interface's public key, from its config or its device. */
bool peer_ctx_server_key(const struct peer_ctx *c, uint8_t pub[32]);
/* store_save, reported. */
bool peer_ctx_save(struct peer_ctx *c);

/* p added to (or updated on) the running device; 0 when it is not
 * running. 0 or -errno (endpoint resolution has said why). */
int peer_ctx_dev_put(struct peer_ctx *c, const struct conf_peer *p);
/* The peer with key taken off the running device; 0 when it is not
 * running or does not have it. */
int peer_ctx_dev_drop(struct peer_ctx *c, const uint8_t key[32]);

/* A peer's tunnel addresses: its AllowedIPs inside the interface's
 * Address networks, appended to out. 0 or -ENOMEM. */
int peer_addresses(const struct conf *conf, const struct conf_prefix_list *allowed,
		   struct conf_prefix_list *out);

/* --expires: a UTC date ("2027-01-31", "2027-01-31T12:00:00Z"), a
 * duration from now ("90d", "12h", "30m", "2w", "3600s"), or "never" (0).
 * false (reported) for anything else or a time in the past. */
bool peer_expiry_parse(const char *s, int64_t now, int64_t *out);

#endif
