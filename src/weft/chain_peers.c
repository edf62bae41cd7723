/* chain_peers.c: a new node announced to the servers of a chain through
 * their APIs, and taken back (chain_peers.h). */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chain_api.h"
#include "chain_conf.h"
#include "chain_peers.h"
#include "usage.h"
#include "util/encoding.h"

void chain_peers_init(struct chain_peers *p, const struct chain_state *st, const char *cmd)
{
	memset(p, 0, sizeof(*p));
	p->st = st;
	p->cmd = cmd;
}

static json_t *allowed_json(const struct conf_prefix *v, unsigned n, const struct conf_addr *relay)
{
	json_t *a = json_array();
	char s[CONF_PREFIX_STRLEN];

	for (unsigned i = 0; a && i < n; i++) {
		conf_prefix_format(s, &v[i]);
		json_array_append_new(a, json_string(s));
	}
	if (a && relay) {
		struct conf_prefix p = { .addr = *relay, .cidr = 128 };
		conf_prefix_format(s, &p);
		json_array_append_new(a, json_string(s));
	}
	return a;
}

int chain_peers_post(struct chain_peers *p, unsigned server, const char *layer, const char *role,
		     const uint8_t key[32], const struct conf_prefix *addrs, unsigned n_addrs,
		     const struct conf_addr *relay, const char *endpoint)
{
	const struct chain_node *s = &p->st->nodes[server];
	char b64[WEFT_KEY_B64_LEN + 1], err[512], *body = NULL;
	struct chain_api_reply r;
	json_t *o;
	int ret;

	key_to_base64(b64, key);
	o = json_pack("{s:s, s:s, s:o}", "layer", layer, "public_key", b64, "allowed_ips",
		      allowed_json(addrs, n_addrs, relay));
	if (o && role)
		json_object_set_new(o, "role", json_string(role));
	if (o && endpoint && *endpoint) {
		json_object_set_new(o, "endpoint", json_string(endpoint));
		json_object_set_new(o, "persistent_keepalive", json_integer(CHAIN_KEEPALIVE));
	}
	body = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (!body) {
		fprintf(stderr, "%s %s: out of memory\n", prog_name, p->cmd);
		return -ENOMEM;
	}
	ret = chain_api_request(&s->api, 0, "POST", "/v1/peers", body, CHAIN_PEERS_TIMEOUT_MS, &r, err, sizeof(err));
	free(body);
	if (ret < 0) {
		fprintf(stderr, "%s %s: server %s's API: %s (is the tunnel up? `%s ping %s')\n", prog_name, p->cmd,
			s->name, err, prog_name, s->name);
	} else if (r.status != 200 && r.status != 201) {
		fprintf(stderr, "%s %s: server %s refused the %s peer: %s\n", prog_name, p->cmd, s->name, layer,
			chain_api_error(&r));
		ret = -EPROTO;
	} else if (r.status == 201 && p->n < CHAIN_PEERS_MAX) {
		p->added[p->n].server = server;
		memcpy(p->added[p->n].key, key, 32);
		p->n++;
	}
	chain_api_reply_free(&r);
	return ret;
}

int chain_peers_route_down(struct chain_peers *p, unsigned via, const struct conf_addr *relay)
{
	const struct chain_state *st = p->st;
	unsigned child = via;
	int ret = 0;

	for (int a = st->nodes[via].via; a >= 0 && st->nodes[a].kind == CHAIN_SERVER && !ret;
	     child = (unsigned)a, a = st->nodes[a].via)
		ret = chain_peers_post(p, (unsigned)a, "relay", "server", st->nodes[child].relay_key, NULL, 0, relay,
				       NULL);
	return ret;
}

void chain_peers_undo(struct chain_peers *p)
{
	for (unsigned i = p->n; i-- > 0;) {
		const struct chain_node *s = &p->st->nodes[p->added[i].server];
		char b64[WEFT_KEY_B64_LEN + 1], path[128], err[256];
		struct chain_api_reply r;

		key_to_base64(b64, p->added[i].key);
		for (char *c = b64; *c; c++) /* base64url in the path */
			*c = *c == '+' ? '-' : *c == '/' ? '_' : *c;
		snprintf(path, sizeof(path), "/v1/peers/%s", b64);
		if (chain_api_request(&s->api, 0, "DELETE", path, NULL, CHAIN_PEERS_TIMEOUT_MS, &r, err, sizeof(err)) < 0 ||
		    r.status != 204)
			fprintf(stderr, "%s %s: could not take back the peer added to %s (%s): remove it there\n",
				prog_name, p->cmd, s->name, r.status ? chain_api_error(&r) : err);
		chain_api_reply_free(&r);
	}
	p->n = 0;
}
