/* state.h: what a chained server was told at run time (peers, allowed IPs
 * added to its own, Expose rules, routes; the end-to-end key it made),
 * kept in its state file so that a restart forgets nothing. The file has
 * the config's format (settings.h) and is replaced atomically, mode 0600,
 * after every change. */
#ifndef WEFT_SERVE_STATE_H
#define WEFT_SERVE_STATE_H

#include <stdbool.h>
#include <stdint.h>

#include "conf/conf.h"
#include "serve/settings.h"

enum state_layer { STATE_RELAY_CLIENT, STATE_RELAY_SERVER, STATE_E2E };

struct state_peer {
	enum state_layer layer;
	uint8_t key[32];
	struct conf_prefix_list allowed_ips;   /* what was added at run time */
	char endpoint[CONF_ENDPOINT_STRLEN];   /* "" none; "1.2.3.4:5" or "[v6]:5" */
	bool has_keepalive;
	uint16_t keepalive;
	bool added;                            /* added at run time (else: only IPs added to a file's peer) */
};

struct serve_state {
	bool has_e2e_key;
	uint8_t e2e_key[32];
	struct state_peer *peers;
	uint32_t n_peers, cap_peers;
	char expose[REVERSE_MAX_EXPOSE][160];  /* rules in Expose syntax */
	unsigned n_expose;
	bool has_routes;
	struct conf_prefix_list routes;
};

/* The record of key in that layer (relay: either role), or NULL. */
struct state_peer *state_peer_find(struct serve_state *st, bool e2e, const uint8_t key[32]);
/* A new record, or NULL (out of memory). */
struct state_peer *state_peer_add(struct serve_state *st, enum state_layer layer, const uint8_t key[32]);
void state_peer_remove(struct serve_state *st, struct state_peer *p);
/* A prefix the record does not hold yet. 0 or -ENOMEM / -E2BIG. */
int state_peer_add_ip(struct state_peer *p, const struct conf_prefix *ip);

/* From a state file read by settings_load_state. 0 or -ENOMEM. */
int state_from_settings(struct serve_state *st, const struct serve_settings *loaded);
/* The file's text (malloc'd, holds a key: wipe it). 0 or -ENOMEM. */
int state_text(const struct serve_state *st, char **text, size_t *len);
/* Writes the file. 0 or -errno. */
int state_save(const struct serve_state *st, const char *path);
/* "tcp/127.0.0.1:8080:10.99.0.2:80": the Expose syntax of a rule. */
void state_expose_text(const struct expose_rule *e, char *out, size_t len);
void state_free(struct serve_state *st);   /* wipes the key */

#endif
