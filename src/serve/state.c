/* state.c: a chained server's run-time changes and its state file (see
 * state.h). */
#include "serve/state.h"

#include <errno.h>
#include <stdarg.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "util/atomic_file.h"
#include "util/encoding.h"

struct state_peer *state_peer_find(struct serve_state *st, bool e2e, const uint8_t key[32])
{
	for (uint32_t i = 0; i < st->n_peers; i++)
		if ((st->peers[i].layer == STATE_E2E) == e2e && !memcmp(st->peers[i].key, key, 32))
			return &st->peers[i];
	return NULL;
}

struct state_peer *state_peer_add(struct serve_state *st, enum state_layer layer, const uint8_t key[32])
{
	struct state_peer *p;

	if (st->n_peers == st->cap_peers) {
		uint32_t cap = st->cap_peers ? 2 * st->cap_peers : 8;
		struct state_peer *v;
		if (cap > CONF_MAX_PEERS || !(v = realloc(st->peers, cap * sizeof(*v))))
			return NULL;
		st->peers = v;
		st->cap_peers = cap;
	}
	p = &st->peers[st->n_peers++];
	memset(p, 0, sizeof(*p));
	p->layer = layer;
	memcpy(p->key, key, 32);
	return p;
}

void state_peer_remove(struct serve_state *st, struct state_peer *p)
{
	uint32_t i = (uint32_t)(p - st->peers);

	free(p->allowed_ips.v);
	memmove(p, p + 1, (st->n_peers - i - 1) * sizeof(*p));
	st->n_peers--;
}

static bool same_prefix(const struct conf_prefix *a, const struct conf_prefix *b)
{
	return a->cidr == b->cidr && a->addr.family == b->addr.family && !memcmp(a->addr.bytes, b->addr.bytes, 16);
}

int state_peer_add_ip(struct state_peer *p, const struct conf_prefix *ip)
{
	for (uint32_t i = 0; i < p->allowed_ips.n; i++)
		if (same_prefix(&p->allowed_ips.v[i], ip))
			return 0;
	return conf_prefix_list_add(&p->allowed_ips, ip);
}

static void endpoint_text(const struct conf_endpoint *e, char *out, size_t len)
{
	if (!e->host)
		*out = '\0';
	else if (strchr(e->host, ':'))
		snprintf(out, len, "[%s]:%u", e->host, e->port);
	else
		snprintf(out, len, "%s:%u", e->host, e->port);
}

static int from_conf(struct serve_state *st, const struct conf *c, const struct serve_settings *loaded, bool e2e)
{
	for (uint32_t i = 0; i < c->n_peers; i++) {
		const struct conf_peer *cp = &c->peers[i];
		enum state_layer layer = e2e ? STATE_E2E
				       : settings_is_server(loaded, cp->public_key) ? STATE_RELAY_SERVER
										     : STATE_RELAY_CLIENT;
		struct state_peer *p = state_peer_add(st, layer, cp->public_key);
		if (!p)
			return -ENOMEM;
		/* whether it was the file's is decided when it is applied */
		p->added = true;
		for (uint32_t j = 0; j < cp->allowed_ips.n; j++)
			if (state_peer_add_ip(p, &cp->allowed_ips.v[j]) < 0)
				return -ENOMEM;
		endpoint_text(&cp->endpoint, p->endpoint, sizeof(p->endpoint));
		p->has_keepalive = cp->has_persistent_keepalive;
		p->keepalive = cp->persistent_keepalive;
	}
	return 0;
}

int state_from_settings(struct serve_state *st, const struct serve_settings *loaded)
{
	int ret;

	if (loaded->chain.e2e.iface.has_private_key) {
		st->has_e2e_key = true;
		memcpy(st->e2e_key, loaded->chain.e2e.iface.private_key, 32);
	}
	if ((ret = from_conf(st, &loaded->conf, loaded, false)) < 0 ||
	    (ret = from_conf(st, &loaded->chain.e2e, loaded, true)) < 0)
		return ret;
	for (unsigned i = 0; i < loaded->reverse.n_expose && st->n_expose < REVERSE_MAX_EXPOSE; i++)
		state_expose_text(&loaded->reverse.expose[i], st->expose[st->n_expose++], sizeof(st->expose[0]));
	if (loaded->chain.has_routes) {
		st->has_routes = true;
		for (uint32_t i = 0; i < loaded->chain.routes.n; i++)
			if (conf_prefix_list_add(&st->routes, &loaded->chain.routes.v[i]) < 0)
				return -ENOMEM;
	}
	return 0;
}

void state_expose_text(const struct expose_rule *e, char *out, size_t len)
{
	char b[INET6_ADDRSTRLEN + 8], t[INET6_ADDRSTRLEN + 8];

	reverse_addr_text(&e->bind, b, sizeof(b));
	reverse_addr_text(&e->to, t, sizeof(t));
	snprintf(out, len, "%s/%s:%s", e->proto == IPPROTO_UDP ? "udp" : "tcp", b, t);
}

/* A growing text. */
struct text {
	char *p;
	size_t len, cap;
	bool failed;
};

static void put(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (t->failed)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(t->p ? t->p + t->len : NULL, t->p ? t->cap - t->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			t->failed = true;
			return;
		}
		if (t->p && t->len + (size_t)n < t->cap) {
			t->len += (size_t)n;
			return;
		}
		size_t cap = (t->cap + (size_t)n + 1) * 2;
		char *np = malloc(cap);
		if (!np) {
			t->failed = true;
			return;
		}
		if (t->p) {
			memcpy(np, t->p, t->len);
			memzero(t->p, t->cap);
			free(t->p);
		}
		t->p = np;
		t->cap = cap;
	}
}

int state_text(const struct serve_state *st, char **out, size_t *out_len)
{
	static const char *const headers[] = { "[Peer]", "[Relay]", "[E2EPeer]" };
	struct text t = { 0 };
	char b64[WEFT_KEY_B64_LEN + 1], pfx[CONF_PREFIX_STRLEN];

	put(&t, "# weft serve: changes made through the API, read after the config at start.\n"
		"# Rewritten by the server; stop it before editing.\n");
	if (st->has_e2e_key) {
		key_to_base64(b64, st->e2e_key);
		put(&t, "\n[E2E]\nPrivateKey = %s\n", b64);
		memzero(b64, sizeof(b64));
	}
	for (uint32_t i = 0; i < st->n_peers; i++) {
		const struct state_peer *p = &st->peers[i];
		key_to_base64(b64, p->key);
		put(&t, "\n%s\nPublicKey = %s\n", headers[p->layer], b64);
		for (uint32_t j = 0; j < p->allowed_ips.n; j++) {
			conf_prefix_format(pfx, &p->allowed_ips.v[j]);
			put(&t, "AllowedIPs = %s\n", pfx);
		}
		if (p->endpoint[0])
			put(&t, "Endpoint = %s\n", p->endpoint);
		if (p->has_keepalive)
			put(&t, "PersistentKeepalive = %u\n", p->keepalive);
	}
	if (st->n_expose || st->has_routes)
		put(&t, "\n[Serve]\n");
	for (unsigned i = 0; i < st->n_expose; i++)
		put(&t, "Expose = %s\n", st->expose[i]);
	if (st->has_routes) {
		put(&t, "Routes =");
		for (uint32_t i = 0; i < st->routes.n; i++) {
			conf_prefix_format(pfx, &st->routes.v[i]);
			put(&t, "%s %s", i ? "," : "", pfx);
		}
		put(&t, "\n");
	}
	if (t.failed) {
		if (t.p) {
			memzero(t.p, t.cap);
			free(t.p);
		}
		return -ENOMEM;
	}
	*out = t.p;
	*out_len = t.len;
	return 0;
}

int state_save(const struct serve_state *st, const char *path)
{
	char *text;
	size_t len;
	int ret = state_text(st, &text, &len);

	if (ret < 0)
		return ret;
	ret = atomic_file_write(path, text, len, 0600);
	memzero(text, len);
	free(text);
	return ret;
}

void state_free(struct serve_state *st)
{
	for (uint32_t i = 0; i < st->n_peers; i++)
		free(st->peers[i].allowed_ips.v);
	free(st->peers);
	free(st->routes.v);
	memzero(st, sizeof(*st));
}
