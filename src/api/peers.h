/* peers.h: the pieces of the /v1/peers routes (peers.c) that the
 * Tether-compatible routes (tether.c) use too. */
#ifndef WEFT_API_PEERS_H
#define WEFT_API_PEERS_H

#include <jansson.h>

#include "api.h"
#include "conf/conf.h"

struct enrol {
	uint8_t key[32];
	bool has_key;              /* else the server makes the key pair */
	char *name;
	struct conf_prefix_list allowed_ips;
	bool has_dns;
	struct conf_dns dns;
	int64_t expires;
	int endpoint_type;         /* -1: the interface's default */
};

void enrol_init(struct enrol *e);
void enrol_free(struct enrol *e);
/* Enrols e for t: true with *out (the peer's JSON, "private_key" in it
 * when the server made it) and its config; false after answering. */
bool enrol_peer(struct api *api, struct api_request *r, struct token *t, struct enrol *e, json_t **out,
		char **config, size_t *config_len);

/* Answers with the config of the peer of arg (text or PNG). */
bool peer_config_reply(struct api *api, struct api_request *r, struct token *t, const char *arg,
		       int endpoint_type, bool qr);
/* Removes the peer of arg (idempotent), answering ok_status. */
bool peer_delete(struct api *api, struct api_request *r, struct token *t, const char *arg, int ok_status);

#endif
