/* chain_conf.c: the configs of a network of servers from a client's state
 * (chain_conf.h). Client files are struct confs (wg-quick files any
 * WireGuard loads); a server's file is text, as `weft serve` reads it:
 * conf_write's [Interface] and [Peer]s, then [Relay], [E2E], [E2EPeer] and
 * [Serve] sections. */
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chain_conf.h"
#include "crypto/crypto.h"
#include "util/encoding.h"
#include "util/wipe_realloc.h"

int chain_first_hop(const struct chain_state *st, unsigned idx)
{
	int via = st->nodes[idx].via;

	if (via >= 0 && st->nodes[via].kind == CHAIN_SERVER)
		return via;
	/* the first client hangs from nothing: its first hop is the first
	 * server attached to it */
	for (unsigned i = 0; i < st->n_nodes; i++)
		if (st->nodes[i].via == (int)idx && st->nodes[i].kind == CHAIN_SERVER)
			return (int)i;
	return -1;
}

bool chain_is_first_hop(const struct chain_state *st, unsigned client, unsigned server)
{
	return st->nodes[client].via == (int)server || st->nodes[server].via == (int)client;
}

/* The server at the top of server idx's tree: the one attached to a client. */
static unsigned tree_root(const struct chain_state *st, unsigned idx)
{
	for (unsigned k = 0; k < CHAIN_MAX_NODES; k++) {
		int via = st->nodes[idx].via;
		if (via < 0 || st->nodes[via].kind != CHAIN_SERVER)
			break;
		idx = (unsigned)via;
	}
	return idx;
}

bool chain_reaches_e2e(const struct chain_state *st, unsigned client, unsigned server)
{
	unsigned root = tree_root(st, server);

	/* relay neighbours route between servers only: a server is reached
	 * through the tree of one of the client's first hops */
	if (chain_is_first_hop(st, client, server))
		return false;
	for (unsigned i = 0; i < st->n_nodes; i++)
		if (st->nodes[i].kind == CHAIN_SERVER && chain_is_first_hop(st, client, i) && tree_root(st, i) == root)
			return true;
	return false;
}

static struct conf_prefix host_prefix(const struct conf_addr *a)
{
	struct conf_prefix p = { .addr = *a, .cidr = a->family == AF_INET ? 32 : 128 };

	return p;
}

static int add_list(struct conf_prefix_list *l, const struct conf_prefix *v, unsigned n)
{
	int ret = 0;

	for (unsigned i = 0; i < n && !ret; i++)
		ret = conf_prefix_list_add(l, &v[i]);
	return ret;
}

/* What a client routes to server s: its routes, its Address, its API. */
static int server_allowed(const struct chain_node *s, struct conf_prefix_list *l)
{
	int ret = add_list(l, s->routes, s->n_routes);

	if (!ret)
		ret = add_list(l, s->addrs, s->n_addrs);
	if (!ret && s->has_api) {
		struct conf_prefix p = host_prefix(&s->api);
		ret = conf_prefix_list_add(l, &p);
	}
	return ret;
}

static int set_endpoint(struct conf_peer *peer, const char *endpoint)
{
	struct conf_endpoint ep = { 0 };
	int ret;

	if (!endpoint[0])
		return 0;
	if (!conf_endpoint_parse(&ep, endpoint))
		return -EINVAL;
	ret = conf_peer_set_endpoint(peer, ep.host, ep.port);
	free(ep.host);
	return ret;
}

static void client_iface(struct conf *out, const uint8_t priv[32], uint16_t mtu)
{
	conf_init(out);
	out->has_interface = true;
	memcpy(out->iface.private_key, priv, 32);
	out->iface.has_private_key = true;
	out->iface.mtu = mtu;
	out->iface.has_mtu = true;
}

int chain_conf_client_relay(const struct chain_state *st, unsigned idx, const uint8_t priv[32], struct conf *out)
{
	const struct chain_node *c = &st->nodes[idx];
	int hop = chain_first_hop(st, idx), ret;

	client_iface(out, priv, CHAIN_RELAY_MTU);
	if (hop < 0)
		return -ENOENT;
	ret = add_list(&out->iface.addresses, c->addrs, c->n_addrs);
	if (!ret && c->has_relay) {
		struct conf_prefix p = host_prefix(&c->relay);
		ret = conf_prefix_list_add(&out->iface.addresses, &p);
	}
	/* a peer per first hop: the first one for the whole relay prefix, a
	 * server attached to this client besides it for its own subtree */
	for (unsigned i = 0; i < st->n_nodes && !ret; i++) {
		struct conf_peer *peer;

		if (st->nodes[i].kind != CHAIN_SERVER || !chain_is_first_hop(st, idx, i))
			continue;
		if (!(ret = conf_peer_add(out, st->nodes[i].relay_key, &peer)))
			ret = server_allowed(&st->nodes[i], &peer->allowed_ips);
		if (!ret)
			ret = (int)i == hop ? conf_prefix_list_add(&peer->allowed_ips, &st->relay_prefix) :
					      chain_subtree_relays(st, i, &peer->allowed_ips);
		if (!ret)
			ret = set_endpoint(peer, st->nodes[i].endpoint);
		if (!ret) {
			peer->persistent_keepalive = CHAIN_KEEPALIVE;
			peer->has_persistent_keepalive = true;
		}
	}
	return ret;
}

int chain_conf_client_e2e(const struct chain_state *st, unsigned idx, const uint8_t priv[32], struct conf *out)
{
	const struct chain_node *c = &st->nodes[idx];
	int ret, n = 0;

	client_iface(out, priv, CHAIN_E2E_MTU);
	ret = add_list(&out->iface.addresses, c->addrs, c->n_addrs);
	for (unsigned i = 0; i < st->n_nodes && !ret; i++) {
		const struct chain_node *s = &st->nodes[i];
		struct conf_peer *peer;
		char ep[CONF_ADDR_STRLEN];

		if (s->kind != CHAIN_SERVER || !chain_reaches_e2e(st, idx, i) || !s->has_e2e_key || !s->has_relay)
			continue;
		if ((ret = conf_peer_add(out, s->e2e_key, &peer)) < 0 ||
		    (ret = server_allowed(s, &peer->allowed_ips)) < 0)
			break;
		conf_addr_format(ep, &s->relay);
		if ((ret = conf_peer_set_endpoint(peer, ep, st->e2e_port)) < 0)
			break;
		peer->persistent_keepalive = CHAIN_KEEPALIVE;
		peer->has_persistent_keepalive = true;
		n++;
	}
	return ret < 0 ? ret : n;
}

int chain_subtree_relays(const struct chain_state *st, unsigned idx, struct conf_prefix_list *list)
{
	/* nodes are listed after the node they hang from, so one pass in
	 * order marks the whole subtree */
	bool in[CHAIN_MAX_NODES] = { 0 };
	int ret = 0;

	in[idx] = true;
	for (unsigned i = idx + 1; i < st->n_nodes; i++)
		if (st->nodes[i].via >= 0 && in[st->nodes[i].via])
			in[i] = true;
	for (unsigned i = idx; i < st->n_nodes && !ret; i++)
		if (in[i] && st->nodes[i].has_relay) {
			struct conf_prefix p = host_prefix(&st->nodes[i].relay);
			ret = conf_prefix_list_add(list, &p);
		}
	return ret;
}

/* ---- a server's text ---- */

struct text {
	char *buf;
	size_t len, cap;
	int err;
};

__attribute__((format(printf, 2, 3)))
static void put(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (t->err)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(t->buf ? t->buf + t->len : NULL, t->buf ? t->cap - t->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			t->err = -EINVAL;
			return;
		}
		if (t->buf && t->len + (size_t)n < t->cap) {
			t->len += (size_t)n;
			return;
		}
		{
			size_t cap = (t->cap ? t->cap * 2 : 4096) + (size_t)n;
			char *nb = wipe_realloc(t->buf, t->cap, t->len, cap);
			if (!nb) {
				t->err = -ENOMEM;
				return;
			}
			t->buf = nb;
			t->cap = cap;
		}
	}
}

static void put_key(struct text *t, const char *name, const uint8_t key[32])
{
	char b64[WEFT_KEY_B64_LEN + 1];

	key_to_base64(b64, key);
	put(t, "%s = %s\n", name, b64);
	memzero(b64, sizeof(b64));
}

static void put_prefixes(struct text *t, const char *name, const struct conf_prefix *v, unsigned n)
{
	char s[CONF_PREFIX_STRLEN];

	if (!n)
		return;
	put(t, "%s = ", name);
	for (unsigned i = 0; i < n; i++) {
		conf_prefix_format(s, &v[i]);
		put(t, "%s%s", i ? ", " : "", s);
	}
	put(t, "\n");
}

static void put_relay(struct text *t, const struct chain_node *n, const struct conf_prefix_list *allowed,
		      const char *endpoint)
{
	put(t, "\n[Relay]\n");
	put_key(t, "PublicKey", n->relay_key);
	put_prefixes(t, "AllowedIPs", allowed->v, allowed->n);
	if (endpoint && *endpoint) {
		put(t, "Endpoint = %s\n", endpoint);
		put(t, "PersistentKeepalive = %d\n", CHAIN_KEEPALIVE);
	}
}

int chain_conf_server(const struct chain_state *st, unsigned idx, const uint8_t relay_priv[32],
		      const uint8_t e2e_priv[32], const struct chain_serve_opts *o, char **text, size_t *len)
{
	const struct chain_node *s = &st->nodes[idx];
	struct text t = { 0 };
	struct conf sc;
	char *head = NULL, a[CONF_ADDR_STRLEN];
	size_t head_len = 0;
	int ret;

	/* [Interface] and the clients whose first hop this is: a wg-quick part */
	conf_init(&sc);
	sc.has_interface = true;
	memcpy(sc.iface.private_key, relay_priv, 32);
	sc.iface.has_private_key = true;
	sc.iface.listen_port = s->listen_port;
	sc.iface.has_listen_port = s->listen_port != 0;
	ret = add_list(&sc.iface.addresses, s->addrs, s->n_addrs);
	for (unsigned i = 0; i < st->n_nodes && !ret; i++) {
		const struct chain_node *c = &st->nodes[i];
		struct conf_peer *peer;

		if (c->kind != CHAIN_CLIENT || !chain_is_first_hop(st, i, idx))
			continue;
		/* its addresses as hosts: an Address of 10.99.0.2/24 on the
		 * client is 10.99.0.2/32 here */
		if (!(ret = conf_peer_add(&sc, c->relay_key, &peer)))
			for (unsigned j = 0; j < c->n_addrs && !ret; j++) {
				struct conf_prefix p = host_prefix(&c->addrs[j].addr);
				ret = conf_prefix_list_add(&peer->allowed_ips, &p);
			}
		if (!ret && c->has_relay) {
			struct conf_prefix p = host_prefix(&c->relay);
			ret = conf_prefix_list_add(&peer->allowed_ips, &p);
		}
	}
	if (!ret)
		ret = conf_write(&sc, 0, &head, &head_len);
	conf_free(&sc);
	if (ret < 0)
		return ret;
	put(&t, "%s", head);
	conf_text_free(head, head_len);

	/* the relay neighbours: towards the first server, everything of the
	 * relay prefix that is not below this one; below, each subtree */
	for (unsigned i = 0; i < st->n_nodes; i++) {
		const struct chain_node *n = &st->nodes[i];
		struct conf_prefix_list allowed = { 0 };

		if (n->kind != CHAIN_SERVER)
			continue;
		if ((int)i == s->via) {
			conf_prefix_list_add(&allowed, &st->relay_prefix);
			put_relay(&t, n, &allowed, o ? o->via_endpoint : NULL);
		} else if (n->via == (int)idx) {
			if ((ret = chain_subtree_relays(st, i, &allowed)) < 0)
				t.err = ret;
			put_relay(&t, n, &allowed, n->endpoint);
		}
		free(allowed.v);
	}

	put(&t, "\n[E2E]\n");
	put_key(&t, "PrivateKey", e2e_priv);
	put(&t, "ListenPort = %u\n", st->e2e_port);
	for (unsigned i = 0; i < st->n_nodes; i++) {
		const struct chain_node *c = &st->nodes[i];

		if (c->kind != CHAIN_CLIENT || !c->has_e2e_key || !chain_reaches_e2e(st, i, idx))
			continue;
		put(&t, "\n[E2EPeer]\n");
		put_key(&t, "PublicKey", c->e2e_key);
		put_prefixes(&t, "AllowedIPs", c->addrs, c->n_addrs);
	}

	put(&t, "\n[Serve]\n");
	if (s->has_relay) {
		conf_addr_format(a, &s->relay);
		put(&t, "RelayAddress = %s\n", a);
	}
	if (s->has_api) {
		conf_addr_format(a, &s->api);
		put(&t, "API = %s\n", a);
	}
	put_prefixes(&t, "Routes", s->routes, s->n_routes);
	put(&t, "# Destinations the peers may reach (longest prefix wins); see weft serve --help\n");
	if (o && o->allow)
		put(&t, "Allow = %s\n", o->allow);
	if (o && o->deny)
		put(&t, "Deny = %s\n", o->deny);
	put(&t, "ServerLoopback = %s\n", o && o->server_loopback ? "true" : "false");
	put(&t, "# From this machine into the tunnel, on 127.0.0.1 (docs/weft-serve.md):\n"
		"# Expose = 8080:10.99.0.2:80\n# SOCKS5 = 1080\n");
	if (t.err) {
		if (t.buf)
			memzero(t.buf, t.cap);
		free(t.buf);
		return t.err;
	}
	*text = t.buf;
	*len = t.len;
	return 0;
}
