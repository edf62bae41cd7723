/* api_routes.c: the routes of a chained server's API (see
 * docs/weft-serve-chain.md): status, ping, peers, Expose rules and routes.
 * Every change is saved in the state file before it is answered; one that
 * cannot be saved is undone. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve/server.h"
#include "util/encoding.h"
#include "weftd/log.h"

static int reply(json_t *obj, int status, char **body, size_t *len)
{
	char *text = obj ? json_dumps(obj, JSON_INDENT(1) | JSON_PRESERVE_ORDER) : NULL;

	json_decref(obj);
	if (text) {
		size_t n = strlen(text);
		*body = malloc(n + 2);
		if (*body) {
			memcpy(*body, text, n);
			(*body)[n] = '\n';
			*len = n + 1;
		}
		free(text);
	}
	return status;
}

static int fail(int status, char **body, size_t *len, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int fail(int status, char **body, size_t *len, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return reply(json_pack("{s:s}", "error", msg), status, body, len);
}

static json_t *key_json(const uint8_t key[32])
{
	char b64[WEFT_KEY_B64_LEN + 1];
	key_to_base64(b64, key);
	return json_string(b64);
}

static json_t *addr_json(const uint8_t a[16])
{
	char s[INET6_ADDRSTRLEN];
	inet_ntop(AF_INET6, a, s, sizeof(s));
	return json_string(s);
}

static int ip_to_json(void *ctx, int family, const uint8_t *ip, uint8_t cidr)
{
	char a[INET6_ADDRSTRLEN], s[INET6_ADDRSTRLEN + 5];
	inet_ntop(family, ip, a, sizeof(a));
	snprintf(s, sizeof(s), "%s/%u", a, cidr);
	json_array_append_new(ctx, json_string(s));
	return 0;
}

static json_t *prefixes_json(const struct conf_prefix_list *l)
{
	json_t *a = json_array();
	char s[CONF_PREFIX_STRLEN];

	for (uint32_t i = 0; i < l->n; i++) {
		conf_prefix_format(s, &l->v[i]);
		json_array_append_new(a, json_string(s));
	}
	return a;
}

static json_t *peer_json(struct server *sv, struct weft_peer *p, bool e2e)
{
	struct weft_peer_info info;
	struct state_peer *sp = state_peer_find(&sv->state, e2e, weft_peer_public_key(p));
	json_t *ips = json_array(), *ep = json_null();
	char a[INET6_ADDRSTRLEN], s[INET6_ADDRSTRLEN + 8];

	weft_peer_get_info(p, &info);
	weft_peer_allowed_ips_walk(p, ip_to_json, ips);
	if (info.has_endpoint) {
		if (info.endpoint.addr.sa.sa_family == AF_INET6) {
			inet_ntop(AF_INET6, &info.endpoint.addr.in6.sin6_addr, a, sizeof(a));
			snprintf(s, sizeof(s), "[%s]:%u", a, ntohs(info.endpoint.addr.in6.sin6_port));
		} else {
			inet_ntop(AF_INET, &info.endpoint.addr.in4.sin_addr, a, sizeof(a));
			snprintf(s, sizeof(s), "%s:%u", a, ntohs(info.endpoint.addr.in4.sin_port));
		}
		json_decref(ep);
		ep = json_string(s);
	}
	return json_pack("{s:s, s:s, s:o, s:o, s:o, s:i, s:I, s:I, s:I, s:b}",
			 "layer", e2e ? "e2e" : "relay",
			 "role", !e2e && weft_peer_user(p) == &serve_role_server ? "server" : "client",
			 "public_key", key_json(info.public_key), "allowed_ips", ips, "endpoint", ep,
			 "persistent_keepalive", (int)info.persistent_keepalive,
			 "last_handshake", (json_int_t)(info.last_handshake_wall_ns / 1000000000u),
			 "rx_bytes", (json_int_t)info.rx_bytes, "tx_bytes", (json_int_t)info.tx_bytes,
			 "runtime", sp && sp->added);
}

static bool expose_is_runtime(struct server *sv, const char *rule)
{
	for (unsigned i = 0; i < sv->state.n_expose; i++)
		if (!strcmp(sv->state.expose[i], rule))
			return true;
	return false;
}

static int status(struct server *sv, char **body, size_t *len)
{
	struct serve_chain *c = &sv->set.chain;
	struct flow_counters fc;
	uint8_t pub[32];
	json_t *peers = json_array(), *expose = json_array(), *relay, *e2e = json_null();

	weft_device_public_key(sv->dev, pub);
	relay = json_pack("{s:o, s:i, s:o}", "public_key", key_json(pub), "listen_port", (int)sv->udp.port,
			  "address", c->has_relay_address ? addr_json(c->relay_address) : json_null());
	if (sv->e2e) {
		weft_device_public_key(sv->e2e, pub);
		json_decref(e2e);
		e2e = json_pack("{s:o, s:i}", "public_key", key_json(pub), "port", (int)sv->self.e2e_port);
	}
	for (struct weft_peer *p = weft_peer_first(sv->dev); p; p = weft_peer_next(sv->dev, p))
		json_array_append_new(peers, peer_json(sv, p, false));
	for (struct weft_peer *p = sv->e2e ? weft_peer_first(sv->e2e) : NULL; p; p = weft_peer_next(sv->e2e, p))
		json_array_append_new(peers, peer_json(sv, p, true));
	for (unsigned i = 0; i < sv->set.reverse.n_expose; i++) {
		char rule[160];
		if (sv->set.reverse.expose[i].closed)
			continue;
		state_expose_text(&sv->set.reverse.expose[i], rule, sizeof(rule));
		json_array_append_new(expose, json_pack("{s:s, s:b}", "rule", rule, "runtime",
							 expose_is_runtime(sv, rule)));
	}
	flows_counters(sv->flows, &fc);
	return reply(json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}}",
			       "relay", relay, "e2e", e2e,
			       "api", c->has_api ? addr_json(c->api_address) : json_null(),
			       "addresses", prefixes_json(&sv->set.conf.iface.addresses),
			       "routes", prefixes_json(&c->routes), "peers", peers, "expose", expose,
			       "counters",
			       "relay_forwarded", (json_int_t)sv->cc.forwarded,
			       "relay_forwarded_bytes", (json_int_t)sv->cc.forwarded_bytes,
			       "relay_dropped", (json_int_t)sv->cc.dropped,
			       "e2e_in", (json_int_t)sv->cc.e2e_in, "e2e_out", (json_int_t)sv->cc.e2e_out,
			       "api_requests", (json_int_t)api_requests(sv->api),
			       "flows_tcp", (json_int_t)fc.tcp_active, "flows_udp", (json_int_t)fc.udp_active,
			       "flows_ping", (json_int_t)fc.ping_active,
			       "bytes_up", (json_int_t)fc.bytes_up, "bytes_down", (json_int_t)fc.bytes_down),
		     200, body, len);
}

/* A key from a URL: base64url or base64 (percent-encoded), '=' optional. */
static bool url_key(uint8_t key[32], const char *s)
{
	char b64[64];
	size_t n = 0;

	while (*s && n < sizeof(b64) - 2) {
		char ch = *s++;
		if (ch == '%' && s[0] && s[1]) {
			char hex[3] = { s[0], s[1], 0 };
			ch = (char)strtol(hex, NULL, 16);
			s += 2;
		}
		b64[n++] = ch == '-' ? '+' : ch == '_' ? '/' : ch;
	}
	if (*s)
		return false;
	if (n == 43)
		b64[n++] = '=';
	b64[n] = '\0';
	return key_from_base64(key, b64);
}

static int post_peer(struct server *sv, const char *text, size_t text_len, char **body, size_t *len)
{
	json_error_t jerr;
	json_t *in = json_loadb(text, text_len, JSON_REJECT_DUPLICATES, &jerr), *v;
	const char *layer_s = "relay", *role_s = "client", *key_s = NULL, *endpoint = NULL;
	struct conf_prefix ips[64];
	uint32_t n_ips = 0;
	bool e2e, is_server, has_ka = false, created;
	uint16_t ka = 0;
	uint8_t key[32], own[32];
	struct weft_device *dev;
	struct weft_peer *p;
	struct state_peer *sp;
	struct state_peer saved = { 0 };
	int status_code, ret;

	if (!in || !json_is_object(in)) {
		json_decref(in);
		return fail(400, body, len, "expected a JSON object: %s", jerr.text);
	}
	if ((v = json_object_get(in, "layer")) && !(layer_s = json_string_value(v)))
		goto bad;
	if ((v = json_object_get(in, "role")) && !(role_s = json_string_value(v)))
		goto bad;
	if (!(v = json_object_get(in, "public_key")) || !(key_s = json_string_value(v)) || !key_from_base64(key, key_s)) {
		json_decref(in);
		return fail(400, body, len, "public_key: expected a base64 WireGuard key");
	}
	if (strcmp(layer_s, "relay") && strcmp(layer_s, "e2e")) {
		json_decref(in);
		return fail(400, body, len, "layer: expected relay or e2e");
	}
	if (strcmp(role_s, "client") && strcmp(role_s, "server")) {
		json_decref(in);
		return fail(400, body, len, "role: expected client or server");
	}
	e2e = !strcmp(layer_s, "e2e");
	is_server = !strcmp(role_s, "server");
	if (e2e && is_server) {
		json_decref(in);
		return fail(400, body, len, "role: the end-to-end layer has clients only");
	}
	if ((v = json_object_get(in, "allowed_ips"))) {
		size_t i;
		json_t *item;
		if (!json_is_array(v) || json_array_size(v) > 64) {
			json_decref(in);
			return fail(400, body, len, "allowed_ips: expected a list of up to 64 prefixes");
		}
		json_array_foreach(v, i, item) {
			const char *s = json_string_value(item);
			if (!s || !conf_prefix_parse(&ips[n_ips], s)) {
				json_decref(in);
				return fail(400, body, len, "allowed_ips: `%s' is not a prefix", s ? s : "?");
			}
			n_ips++;
		}
	}
	if ((v = json_object_get(in, "endpoint")) && !json_is_null(v)) {
		struct conf_endpoint ce = { 0 };
		bool ok = (endpoint = json_string_value(v)) && conf_endpoint_parse(&ce, endpoint) &&
			  inet_pton(strchr(ce.host, ':') ? AF_INET6 : AF_INET, ce.host, own) == 1;
		free(ce.host);
		if (!ok) {
			json_decref(in);
			return fail(400, body, len, "endpoint: expected IP:PORT or [IPV6]:PORT");
		}
	}
	if ((v = json_object_get(in, "persistent_keepalive"))) {
		json_int_t k = json_integer_value(v);
		if (!json_is_integer(v) || k < 0 || k > 65535) {
			json_decref(in);
			return fail(400, body, len, "persistent_keepalive: expected 0 to 65535 seconds");
		}
		has_ka = true;
		ka = (uint16_t)k;
	} else if (is_server && endpoint) {
		has_ka = true;
		ka = SERVE_KEEPALIVE;
	}
	dev = e2e ? sv->e2e : sv->dev;
	if (!dev) {
		json_decref(in);
		return fail(409, body, len, "this server has no end-to-end layer (no RelayAddress)");
	}
	/* the key must not be this server's own or a peer of the other kind */
	weft_device_public_key(sv->dev, own);
	if (!memcmp(own, key, 32) || (sv->e2e && weft_device_public_key(sv->e2e, own) && !memcmp(own, key, 32))) {
		json_decref(in);
		return fail(409, body, len, "public_key is this server's own");
	}
	if ((p = weft_peer_lookup(e2e ? sv->dev : sv->e2e ? sv->e2e : sv->dev, key)) && (e2e || sv->e2e)) {
		json_decref(in);
		return fail(409, body, len, "public_key is a peer of the %s layer", e2e ? "relay" : "end-to-end");
	}
	p = weft_peer_lookup(dev, key);
	if (p && !e2e && (weft_peer_user(p) == &serve_role_server) != is_server) {
		json_decref(in);
		return fail(409, body, len, "public_key is a relay peer with the role %s",
			    is_server ? "client" : "server");
	}
	created = !p;
	/* the record first, so that it can be saved before the change */
	sp = state_peer_find(&sv->state, e2e, key);
	if (sp) {
		saved = *sp;
		saved.allowed_ips.v = NULL;
		saved.allowed_ips.n = saved.allowed_ips.cap = 0;
		for (uint32_t i = 0; i < sp->allowed_ips.n; i++)
			conf_prefix_list_add(&saved.allowed_ips, &sp->allowed_ips.v[i]);
	} else if (sv->state.n_peers >= CONF_MAX_PEERS) {
		json_decref(in);
		return fail(409, body, len, "this server holds as many peers as it may (%u)", CONF_MAX_PEERS);
	} else if (!(sp = state_peer_add(&sv->state, e2e ? STATE_E2E : is_server ? STATE_RELAY_SERVER
										: STATE_RELAY_CLIENT, key))) {
		json_decref(in);
		return fail(500, body, len, "out of memory");
	} else {
		sp->added = created;
	}
	ret = 0;
	for (uint32_t i = 0; i < n_ips && !ret; i++)
		ret = state_peer_add_ip(sp, &ips[i]);
	if (endpoint)
		snprintf(sp->endpoint, sizeof(sp->endpoint), "%s", endpoint);
	if (has_ka) {
		sp->has_keepalive = true;
		sp->keepalive = ka;
	}
	if (!ret)
		ret = server_save_state(sv);
	if (ret < 0 && ret != -ENOENT) {
		/* undo the record */
		if (saved.layer == sp->layer && !memcmp(saved.key, key, 32)) {
			free(sp->allowed_ips.v);
			*sp = saved;
		} else {
			state_peer_remove(&sv->state, sp);
		}
		json_decref(in);
		return fail(500, body, len, "the state file cannot be written: %s", strerror(-ret));
	}
	free(saved.allowed_ips.v);
	ret = server_peer_apply(sv, dev, key, is_server, ips, n_ips, endpoint, has_ka, ka);
	json_decref(in);
	if (ret < 0)
		return fail(500, body, len, "the peer cannot be added: %s", strerror(-ret));
	p = weft_peer_lookup(dev, key);
	status_code = created ? 201 : 200;
	{
		char b64[WEFT_KEY_B64_LEN + 1];
		key_to_base64(b64, key);
		log_verbose("API: %s %s peer %s (%s)", created ? "added" : "extended", e2e ? "end-to-end" : "relay",
			    b64, is_server ? "server" : "client");
	}
	return reply(peer_json(sv, p, e2e), status_code, body, len);
bad:
	json_decref(in);
	return fail(400, body, len, "layer and role: expected strings");
}

static int delete_peer(struct server *sv, const char *key_text, char **body, size_t *len)
{
	uint8_t key[32];
	struct state_peer *sp;
	bool e2e;
	struct weft_device *dev;
	int ret;

	if (!url_key(key, key_text))
		return fail(400, body, len, "expected /v1/peers/KEY (base64url or percent-encoded base64)");
	e2e = !state_peer_find(&sv->state, false, key) && sv->e2e;
	sp = state_peer_find(&sv->state, e2e, key);
	dev = e2e ? sv->e2e : sv->dev;
	if (!weft_peer_lookup(dev, key))
		return fail(404, body, len, "no such peer");
	if (!sp || !sp->added)
		return fail(409, body, len, "a peer of the config file: edit the file");
	{
		struct state_peer keep = *sp;
		keep.allowed_ips.v = NULL;
		state_peer_remove(&sv->state, sp);
		if ((ret = server_save_state(sv)) < 0 && ret != -ENOENT) {
			struct state_peer *back = state_peer_add(&sv->state, keep.layer, key);
			if (back)
				*back = keep; /* its allowed IPs are lost from memory: the peer stays */
			return fail(500, body, len, "the state file cannot be written: %s", strerror(-ret));
		}
	}
	weft_peer_remove(dev, weft_peer_lookup(dev, key));
	return 204;
}

static int post_expose(struct server *sv, const char *text, size_t text_len, char **body, size_t *len)
{
	json_error_t jerr;
	json_t *in = json_loadb(text, text_len, 0, &jerr);
	const char *rule = in ? json_string_value(json_object_get(in, "rule")) : NULL;
	struct reverse_settings *rs = &sv->set.reverse;
	char canon[160];
	const char *what;
	bool known;
	int ret;

	if (!rule) {
		json_decref(in);
		return fail(400, body, len, "expected {\"rule\": \"[tcp/|udp/][BIND:]PORT:ADDRESS:PORT\"}");
	}
	if (rs->n_expose >= REVERSE_MAX_EXPOSE || sv->state.n_expose >= REVERSE_MAX_EXPOSE) {
		json_decref(in);
		return fail(409, body, len, "%d Expose rules at most", REVERSE_MAX_EXPOSE);
	}
	if ((what = reverse_setting(rs, "Expose", rule, &known))) {
		json_decref(in);
		return fail(400, body, len, "rule: expected %s", what);
	}
	json_decref(in);
	state_expose_text(&rs->expose[rs->n_expose - 1], canon, sizeof(canon));
	for (unsigned i = 0; i + 1 < rs->n_expose; i++) {
		char other[160];
		if (rs->expose[i].closed)
			continue;
		state_expose_text(&rs->expose[i], other, sizeof(other));
		if (!strcmp(other, canon)) {
			rs->n_expose--;
			return fail(409, body, len, "%s is exposed already", canon);
		}
	}
	if (!sv->reverse || (ret = reverse_expose_add(sv->reverse, &rs->expose[rs->n_expose - 1])) < 0) {
		rs->n_expose--;
		return fail(409, body, len, "%s cannot be opened: %s", canon,
			    sv->reverse ? strerror(-ret) : "no reverse direction");
	}
	snprintf(sv->state.expose[sv->state.n_expose++], sizeof(sv->state.expose[0]), "%s", canon);
	if ((ret = server_save_state(sv)) < 0 && ret != -ENOENT) {
		/* the listener stays until the restart; the file is what failed */
		sv->state.n_expose--;
		return fail(500, body, len, "the state file cannot be written: %s", strerror(-ret));
	}
	return reply(json_pack("{s:s, s:b}", "rule", canon, "runtime", 1), 201, body, len);
}

/* A query's value, percent-decoded into out; false when absent or too long. */
static bool query_value(const char *path, const char *name, char *out, size_t size)
{
	const char *q = strchr(path, '?');
	size_t n = strlen(name), o = 0;

	while (q) {
		q++;
		if (!strncmp(q, name, n) && q[n] == '=') {
			for (q += n + 1; *q && *q != '&'; q++) {
				char ch = *q;
				if (ch == '%' && isxdigit((unsigned char)q[1]) && isxdigit((unsigned char)q[2])) {
					char hex[3] = { q[1], q[2], 0 };
					ch = (char)strtol(hex, NULL, 16);
					q += 2;
				} else if (ch == '+') {
					ch = ' ';
				}
				if (o + 1 >= size || !ch)
					return false;
				out[o++] = ch;
			}
			out[o] = '\0';
			return o > 0;
		}
		q = strchr(q, '&');
	}
	return false;
}

static int delete_expose(struct server *sv, const char *path, char **body, size_t *len)
{
	struct reverse_settings *rs = &sv->set.reverse;
	char rule[160];
	unsigned k;
	int ret;

	if (!query_value(path, "rule", rule, sizeof(rule)))
		return fail(400, body, len, "expected /v1/expose?rule=RULE (as /v1/status lists it, percent-encoded)");
	for (unsigned i = 0; i < rs->n_expose; i++) {
		char text[160];
		if (rs->expose[i].closed)
			continue;
		state_expose_text(&rs->expose[i], text, sizeof(text));
		if (strcmp(text, rule))
			continue;
		for (k = 0; k < sv->state.n_expose && strcmp(sv->state.expose[k], rule); k++)
			;
		if (k == sv->state.n_expose)
			return fail(409, body, len, "%s is in the config file: edit the file", rule);
		memmove(sv->state.expose[k], sv->state.expose[k + 1],
			(sv->state.n_expose - k - 1) * sizeof(sv->state.expose[0]));
		sv->state.n_expose--;
		if ((ret = server_save_state(sv)) < 0 && ret != -ENOENT) {
			snprintf(sv->state.expose[sv->state.n_expose++], sizeof(sv->state.expose[0]), "%s", rule);
			return fail(500, body, len, "the state file cannot be written: %s", strerror(-ret));
		}
		reverse_expose_remove(sv->reverse, &rs->expose[i]);
		rs->expose[i].closed = true;
		return 204;
	}
	return fail(404, body, len, "no Expose rule %s", rule);
}

static int put_routes(struct server *sv, const char *text, size_t text_len, char **body, size_t *len)
{
	json_error_t jerr;
	json_t *in = json_loadb(text, text_len, 0, &jerr), *list = in ? json_object_get(in, "routes") : NULL, *item;
	struct conf_prefix_list routes = { 0 };
	size_t i;
	int ret;

	if (!json_is_array(list) || json_array_size(list) > SERVE_MAX_ROUTES) {
		json_decref(in);
		return fail(400, body, len, "expected {\"routes\": [PREFIX, ...]} (up to %d)", SERVE_MAX_ROUTES);
	}
	json_array_foreach(list, i, item) {
		struct conf_prefix p;
		const char *s = json_string_value(item);
		if (!s || !conf_prefix_parse(&p, s) || conf_prefix_list_add(&routes, &p) < 0) {
			free(routes.v);
			json_decref(in);
			return fail(400, body, len, "routes: `%s' is not a prefix", s ? s : "?");
		}
	}
	json_decref(in);
	free(sv->state.routes.v);
	sv->state.routes = routes;
	sv->state.has_routes = true;
	sv->set.chain.routes.n = 0;
	for (uint32_t j = 0; j < routes.n; j++)
		conf_prefix_list_add(&sv->set.chain.routes, &routes.v[j]);
	sv->set.chain.has_routes = true;
	if ((ret = server_save_state(sv)) < 0 && ret != -ENOENT)
		return fail(500, body, len, "the state file cannot be written: %s", strerror(-ret));
	return reply(json_pack("{s:o}", "routes", prefixes_json(&sv->set.chain.routes)), 200, body, len);
}

int api_routes(void *ctx, const struct api_request *req, char **body, size_t *len)
{
	struct server *sv = ctx;
	const char *path = req->path, *m = req->method;

	if (!strcmp(path, "/v1/ping"))
		return strcmp(m, "GET") ? fail(405, body, len, "GET only")
					: reply(json_pack("{s:b}", "pong", 1), 200, body, len);
	if (!strcmp(path, "/v1/status"))
		return strcmp(m, "GET") ? fail(405, body, len, "GET only") : status(sv, body, len);
	if (!strcmp(path, "/v1/peers"))
		return strcmp(m, "POST") ? fail(405, body, len, "POST only")
					 : post_peer(sv, req->body, req->body_len, body, len);
	if (!strncmp(path, "/v1/peers/", 10))
		return strcmp(m, "DELETE") ? fail(405, body, len, "DELETE only")
					   : delete_peer(sv, path + 10, body, len);
	if (!strcmp(path, "/v1/expose"))
		return strcmp(m, "POST") ? fail(405, body, len, "POST only")
					 : post_expose(sv, req->body, req->body_len, body, len);
	if (!strncmp(path, "/v1/expose?", 11))
		return strcmp(m, "DELETE") ? fail(405, body, len, "DELETE only") : delete_expose(sv, path, body, len);
	if (!strcmp(path, "/v1/routes"))
		return strcmp(m, "PUT") ? fail(405, body, len, "PUT only")
					: put_routes(sv, req->body, req->body_len, body, len);
	return fail(404, body, len, "no route %s", path);
}
