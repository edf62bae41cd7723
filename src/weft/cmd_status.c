/* cmd_status.c: `weft status`, the tree of a client's network as its .chain
 * file knows it: this machine at the top, its first server below it, each
 * server's servers and clients below that, with their public keys,
 * addresses, API addresses and routes. --json prints the file's document;
 * --live also asks each server's API (chain_api.h) whether it answers. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chain_api.h"
#include "chain_cli.h"
#include "chain_conf.h"
#include "commands.h"
#include "json_out.h"
#include "usage.h"
#include "util/encoding.h"

#define STATUS_PREFIX_MAX 256 /* 64 levels of 4 bytes ("│  ") */

struct status_ctx {
	const struct chain_state *st;
	int self; /* this machine's node, or -1 */
	bool live;
	int live_timeout_ms;
};

static void key_line(const char *lead, const char *label, const uint8_t key[32])
{
	char b64[WEFT_KEY_B64_LEN + 1];

	key_to_base64(b64, key);
	printf("%s%-10s %s\n", lead, label, b64);
}

static void prefixes_line(const char *lead, const char *label, const struct conf_prefix *v, unsigned n)
{
	char s[CONF_PREFIX_STRLEN];

	printf("%s%-10s", lead, label);
	if (!n)
		printf(" (none)");
	for (unsigned i = 0; i < n; i++) {
		conf_prefix_format(s, &v[i]);
		printf("%s%s", i ? ", " : " ", s);
	}
	printf("\n");
}

static bool has_children(const struct chain_state *st, unsigned idx)
{
	for (unsigned i = 0; i < st->n_nodes; i++)
		if (st->nodes[i].via == (int)idx)
			return true;
	return false;
}

static void live_line(const struct status_ctx *c, const char *lead, const struct chain_node *n)
{
	struct chain_api_reply r;
	char err[256];
	int ret = chain_api_get(&n->api, "/v1/status", c->live_timeout_ms, &r, err, sizeof(err));

	if (ret < 0)
		printf("%s%-10s unreachable: %s\n", lead, "live", err);
	else
		printf("%s%-10s HTTP %d in %.1f ms\n", lead, "live", r.status, r.rtt_us / 1000.0);
	chain_api_reply_free(&r);
}

/* --json --live: each server's answer to GET /v1/status beside its node,
 * {"reachable", "http_status", "rtt_ms", "status" (the server's document)}
 * or {"reachable": false, "error"}. */
static void add_live(const struct status_ctx *c, json_t *nodes)
{
	for (unsigned i = 0; i < c->st->n_nodes; i++) {
		const struct chain_node *n = &c->st->nodes[i];
		struct chain_api_reply r;
		char err[256];
		json_t *live;

		if (n->kind != CHAIN_SERVER || !n->has_api)
			continue;
		if (chain_api_get(&n->api, "/v1/status", c->live_timeout_ms, &r, err, sizeof(err)) < 0) {
			live = json_pack("{s:b, s:s}", "reachable", 0, "error", err);
		} else {
			json_t *doc = r.body ? json_loadb(r.body, r.body_len, 0, NULL) : NULL;
			live = json_pack("{s:b, s:i, s:f, s:o}", "reachable", 1, "http_status", r.status,
					 "rtt_ms", r.rtt_us / 1000.0, "status", doc ? doc : json_null());
		}
		chain_api_reply_free(&r);
		json_object_set_new(json_array_get(nodes, i), "live", live);
	}
}

/* One node and, below it, what is attached to it. prefix is what stands
 * before this node's branch on every line (the bars of its ancestors). */
static void draw(const struct status_ctx *c, unsigned idx, const char *prefix, bool root, bool last, int depth)
{
	const struct chain_state *st = c->st;
	const struct chain_node *n = &st->nodes[idx];
	char child[STATUS_PREFIX_MAX], lead[STATUS_PREFIX_MAX + 8], addr[CONF_ADDR_STRLEN];
	unsigned kids = 0, seen = 0;

	printf("%s%s%s: %s", prefix, root ? "" : last ? "└─ " : "├─ ", n->name,
	       n->kind == CHAIN_SERVER ? "server" : "client");
	if (n->self)
		printf(", this machine%s%s%s", st->relay_iface[0] ? " (" : "", st->relay_iface,
		       st->relay_iface[0] ? ")" : "");
	printf("\n");
	snprintf(child, sizeof(child), "%s%s", prefix, root ? "" : last ? "   " : "│  ");
	for (unsigned i = 0; i < st->n_nodes; i++)
		kids += st->nodes[i].via == (int)idx;
	snprintf(lead, sizeof(lead), "%s%s", child, has_children(st, idx) ? "│    " : "     ");
	key_line(lead, n->has_e2e_key ? "relay key" : "key", n->relay_key);
	if (n->has_e2e_key)
		key_line(lead, "e2e key", n->e2e_key);
	prefixes_line(lead, "addresses", n->addrs, n->n_addrs);
	if (n->has_relay) {
		conf_addr_format(addr, &n->relay);
		printf("%s%-10s %s\n", lead, "relay", addr);
	}
	if (n->has_api) {
		conf_addr_format(addr, &n->api);
		printf("%s%-10s %s\n", lead, "api", addr);
	}
	if (n->kind == CHAIN_SERVER)
		prefixes_line(lead, "routes", n->routes, n->n_routes);
	if (n->endpoint[0])
		printf("%s%-10s %s\n", lead, "endpoint", n->endpoint);
	if (n->kind == CHAIN_SERVER && c->self >= 0)
		printf("%s%-10s %s\n", lead, "reached",
		       chain_is_first_hop(st, (unsigned)c->self, idx) ? "through the relay tunnel (first hop)" :
		       chain_reaches_e2e(st, (unsigned)c->self, idx) ? "end to end, inside the relay tunnels" :
								    "not from this machine");
	if (c->live && n->kind == CHAIN_SERVER && n->has_api)
		live_line(c, lead, n);
	if (depth >= CHAIN_MAX_NODES)
		return; /* a loop cannot be in a loaded file; never recurse past the bound anyway */
	for (unsigned i = 0; i < st->n_nodes; i++)
		if (st->nodes[i].via == (int)idx)
			draw(c, i, child, false, ++seen == kids, depth + 1);
}

int cmd_status(int argc, char *argv[])
{
	struct chain_files files;
	struct chain_state *st;
	struct status_ctx c = { .live_timeout_ms = 3000 };
	const char *arg = NULL;
	bool json = false;
	int ret = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = true;
		else if (!strcmp(argv[i], "--live"))
			c.live = true;
		else if (argv[i][0] != '-' && !arg)
			arg = argv[i];
		else {
			command_usage(stderr, "status");
			return 1;
		}
	}
	if (!chain_files_find(&files, arg, "status"))
		return 1;
	st = malloc(sizeof(*st));
	if (!st || !chain_files_load(&files, st, "status")) {
		free(st);
		return 1;
	}
	c.st = st;
	c.self = chain_state_self(st);
	if (json) {
		json_t *root = chain_state_to_json(st);
		if (root && c.live)
			add_live(&c, json_object_get(root, "nodes"));
		ret = print_json(root);
	} else {
		bool any = false;
		for (unsigned i = 0; i < st->n_nodes; i++)
			if (st->nodes[i].via < 0) {
				draw(&c, i, "", true, true, 0);
				any = true;
			}
		if (!any)
			printf("(no nodes in %s)\n", files.state);
	}
	free(st);
	return ret;
}
