/* peers.c: the /v1/peers routes - enrol, list, read, change, remove a
 * peer, and its config. Every change is made under the store's lock and
 * is durable (store_save) before the answer; the running device follows,
 * and a device that refuses undoes the change in the files. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto/crypto.h"
#include "peer_view.h"
#include "peers.h"
#include "routes.h"
#include "util/encoding.h"
#include "util/random.h"
#include "weft/conf_change.h"
#include "weft/device.h"
#include "weft/peer_keys.h"
#include "weft/peer_pools.h"

/* ---- reading the body ---- */

/* The body as a JSON object ({} when empty), or NULL after answering 400. */
static json_t *body_object(struct api_request *r)
{
	json_error_t jerr;
	json_t *j;

	if (!r->body_len)
		return json_object();
	j = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, &jerr);
	if (!j) {
		api_reply_error(r, 400, "the body is not JSON: %s (line %d)", jerr.text, jerr.line);
		return NULL;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		api_reply_error(r, 400, "the body must be a JSON object");
		return NULL;
	}
	return j;
}

/* Only these keys in o; else answers 400. */
static bool only_keys(struct api_request *r, json_t *o, const char *const *keys)
{
	const char *k;
	json_t *v;

	json_object_foreach(o, k, v) {
		size_t i;

		for (i = 0; keys[i] && strcmp(keys[i], k); i++)
			;
		if (!keys[i])
			return api_reply_error(r, 400, "unknown field `%s'", k), false;
	}
	return true;
}

/* A string or an array of strings, each parsed by add. */
static bool string_list(struct api_request *r, json_t *v, const char *field,
			bool (*add)(void *list, const char *s), void *list)
{
	size_t i;
	json_t *e;

	if (json_is_string(v))
		v = json_pack("[O]", v);
	else
		json_incref(v);
	if (!json_is_array(v)) {
		json_decref(v);
		return api_reply_error(r, 400, "`%s' must be a list of strings", field), false;
	}
	json_array_foreach(v, i, e) {
		if (!json_is_string(e) || !add(list, json_string_value(e))) {
			json_decref(v);
			return api_reply_error(r, 400, "`%s': `%s' is not valid", field,
					       json_is_string(e) ? json_string_value(e) : "(not a string)"), false;
		}
	}
	json_decref(v);
	return true;
}

static bool add_prefix(void *list, const char *s)
{
	struct conf_prefix p;

	return conf_prefix_parse(&p, s) && conf_prefix_list_add(list, &p) == 0;
}

static bool add_dns(void *dns, const char *s)
{
	return *s && strlen(s) < 254 && conf_dns_add(dns, s) == 0;
}

/* A peer name: the CLI's set, and not something that reads as a key. */
static bool name_ok(const char *name)
{
	uint8_t k[32];

	return store_name_valid(name) && !view_key_parse(k, name);
}

/* "expires": a time, a duration, "never" or null. */
static bool expires_of(struct api_request *r, json_t *v, int64_t *out)
{
	if (json_is_null(v) || (json_is_string(v) && !strcmp(json_string_value(v), "never"))) {
		*out = 0;
		return true;
	}
	if (!json_is_string(v) || !peer_expiry_parse(json_string_value(v), time(NULL), out))
		return api_reply_error(r, 400, "`expires' must be a UTC time (2027-01-31T12:00:00Z), a "
				       "duration (90d, 12h, 30m, 2w) or \"never\", and not in the past"), false;
	return true;
}

/* ---- enrolling ---- */

void enrol_init(struct enrol *e)
{
	memset(e, 0, sizeof(*e));
	e->endpoint_type = -1;
}

void enrol_free(struct enrol *e)
{
	free(e->allowed_ips.v);
	conf_dns_clear(&e->dns);
	free(e->name);
	memzero(e, sizeof(*e));
}

/* How many peers the interface has, enabled and disabled. */
static uint32_t peer_count(struct peer_ctx *c)
{
	uint32_t n = c->st.conf.n_peers;

	for (uint32_t i = 0; i < c->st.w.n; i++)
		n += !c->st.w.recs[i].enabled;
	return n;
}

bool enrol_peer(struct api *api, struct api_request *r, struct token *t, struct enrol *e, json_t **out,
		char **config, size_t *config_len)
{
	uint8_t priv[32], psk[32];
	struct conf_prefix_list addrs = { 0 };
	struct peer_pools pools = { 0 };
	struct conf_peer np;
	struct peer_record *rec;
	struct token *tk;
	struct peer_ctx c;
	char err[256], *text = NULL, id[TOKEN_ID_LEN + 1];
	size_t len = 0;
	bool saved = false, ok = false;
	int ret;

	memset(&np, 0, sizeof(np));
	if (!view_open(api, r, &c, PEER_CTX_LOCK))
		return false;
	/* the token again, under the lock: another process may have
	 * changed the file (a new token, a revoked one, a use) */
	snprintf(id, sizeof(id), "%s", t->id); /* t dies if the file is read again */
	if (tokens_refresh(&api->tokens, api->tokens_path, err, sizeof(err)) < 0 ||
	    !(tk = tokens_by_id(&api->tokens, id))) {
		api_reply_error(r, 401, "unknown token");
		goto out;
	}
	if (!tk->admin && tk->peers && tk->used >= tk->peers) {
		api_reply_error(r, 403, "this token has enrolled all of its %u peer%s", tk->peers,
				tk->peers == 1 ? "" : "s");
		goto out;
	}
	if (api->limits.max_peers && peer_count(&c) >= api->limits.max_peers) {
		api_reply_error(r, 429, "the interface has its maximum of %u peers", api->limits.max_peers);
		goto out;
	}
	if (!e->has_key) {
		if (!random_fill(priv, sizeof(priv))) {
			api_reply_error(r, 500, "no random numbers");
			goto out;
		}
		x25519_generate_private(priv, priv);
		if (!x25519_public(e->key, priv)) {
			api_reply_error(r, 500, "cannot make a key");
			goto out;
		}
	}
	if (store_record(&c.st, e->key) || store_conf_peer(&c.st, e->key) || peer_ctx_dev_peer(&c, e->key)) {
		api_reply_error(r, 409, "a peer with this public key exists");
		goto out;
	}
	if (e->name && store_record_by_name(&c.st, e->name)) {
		api_reply_error(r, 409, "a peer named `%s' exists", e->name);
		goto out;
	}
	ret = peer_pools_build(&pools, &c);
	if (ret < 0) {
		api_reply_error(r, 500, "%s", strerror(-ret));
		goto out;
	}
	if (!pools.n) {
		api_reply_error(r, 409, "the interface's Address has no room for peers");
		goto out;
	}
	ret = peer_pools_take(&pools, &addrs, err, sizeof(err));
	if (ret < 0) {
		api_reply_error(r, ret == -ENOSPC ? 409 : 500, "%s", err);
		goto out;
	}
	if (!random_fill(psk, sizeof(psk))) {
		api_reply_error(r, 500, "no random numbers");
		goto out;
	}
	/* the token's use first: a crash after it costs a use, never gives
	 * one more peer than the token allows */
	if (!tk->admin) {
		tk->used++;
		ret = tokens_save(&api->tokens, api->tokens_path);
		if (ret < 0) {
			tk->used--;
			api_reply_error(r, 500, "the token file cannot be written: %s", strerror(-ret));
			goto out;
		}
	}
	memcpy(np.public_key, e->key, 32);
	np.has_preshared_key = true;
	memcpy(np.preshared_key, psk, 32);
	np.allowed_ips = addrs;
	ret = store_peer_add(&c.st, &np, &rec);
	if (ret < 0) {
		api_reply_error(r, 500, "%s", strerror(-ret));
		goto out;
	}
	rec->created = time(NULL);
	rec->expires = e->expires;
	if (e->endpoint_type >= 0)
		rec->endpoint_type = (uint8_t)e->endpoint_type;
	if ((e->name && !(rec->name = strdup(e->name))) || !(rec->owner = strdup(tk->id)))
		goto oom;
	for (uint32_t i = 0; i < e->allowed_ips.n; i++)
		if (conf_prefix_list_add(&rec->client_allowed_ips, &e->allowed_ips.v[i]) < 0)
			goto oom;
	if (e->has_dns) {
		rec->has_client_dns = true;
		for (uint32_t i = 0; i < e->dns.servers.n; i++)
			if (conf_addr_list_add(&rec->client_dns.servers, &e->dns.servers.v[i]) < 0)
				goto oom;
		for (uint32_t i = 0; i < e->dns.search.n; i++)
			if (conf_dns_add(&rec->client_dns, e->dns.search.v[i]) < 0)
				goto oom;
	}
	/* the config before anything is written: a gap in the interface's
	 * settings (no public address, no port) fails here */
	ret = view_config(&c, e->key, e->has_key ? NULL : priv, -1, &text, &len, err, sizeof(err));
	if (ret < 0) {
		api_reply_error(r, 409, "the interface cannot give a config: %s", err);
		goto out;
	}
	ret = store_save(&c.st, err, sizeof(err));
	if (ret < 0) {
		fprintf(stderr, "weft: api: %s\n", err);
		api_reply_error(r, 500, "the peer could not be saved");
		goto out;
	}
	saved = true;
	ret = peer_ctx_dev_put(&c, store_conf_peer(&c.st, e->key));
	if (ret < 0) {
		api_reply_error(r, 500, "the running device refused the peer: %s", strerror(-ret));
		goto out;
	}
	*out = view_peer_json(&c, e->key);
	if (!*out)
		goto oom;
	if (!e->has_key) {
		char b64[WEFT_KEY_B64_LEN + 1];

		key_to_base64(b64, priv);
		json_object_set_new(*out, "private_key", json_string(b64));
		memzero(b64, sizeof(b64));
	}
	*config = text;
	*config_len = len;
	text = NULL;
	saved = false;
	ok = true;
	goto out;
oom:
	api_reply_error(r, 500, "out of memory");
out:
	if (saved && (store_peer_remove(&c.st, e->key) < 0 || store_save(&c.st, err, sizeof(err)) < 0))
		fprintf(stderr, "weft: api: %s: could not undo a refused enrolment\n", api->iface);
	if (text)
		conf_text_free(text, len);
	memzero(priv, sizeof(priv));
	memzero(psk, sizeof(psk));
	memzero(&np, sizeof(np));
	peer_pools_free(&pools);
	free(addrs.v);
	view_close(api, r, &c);
	return ok;
}

ROUTE(route_peer_add)
{
	static const char *const keys[] = { "public_key", "name", "allowed_ips", "dns", "expires", NULL };
	json_t *b = body_object(r), *v, *peer = NULL;
	struct enrol e;
	char *config = NULL;
	size_t len = 0;

	if (!b)
		return true;
	enrol_init(&e);
	if (!only_keys(r, b, keys))
		goto out;
	if ((v = json_object_get(b, "public_key")) && !json_is_null(v)) {
		if (!json_is_string(v) || !view_key_parse(e.key, json_string_value(v))) {
			api_reply_error(r, 400, "`public_key' is not a base64 WireGuard key");
			goto out;
		}
		e.has_key = true;
	}
	if ((v = json_object_get(b, "name")) && !json_is_null(v)) {
		if (!json_is_string(v) || !name_ok(json_string_value(v))) {
			api_reply_error(r, 400, "`name' must be 1-%d of letters, digits and -_.@", CONF_NAME_MAX);
			goto out;
		}
		if (!(e.name = strdup(json_string_value(v)))) {
			api_reply_error(r, 500, "out of memory");
			goto out;
		}
	}
	if ((v = json_object_get(b, "allowed_ips")) && !string_list(r, v, "allowed_ips", add_prefix, &e.allowed_ips))
		goto out;
	if ((v = json_object_get(b, "dns"))) {
		e.has_dns = true;
		if (!string_list(r, v, "dns", add_dns, &e.dns))
			goto out;
	}
	if ((v = json_object_get(b, "expires")) && !expires_of(r, v, &e.expires))
		goto out;
	if (!enrol_peer(api, r, t, &e, &peer, &config, &len))
		goto out;
	json_object_set_new(peer, "config", json_stringn(config, len));
	api_reply_json(r, 201, peer);
out:
	if (config)
		conf_text_free(config, len);
	enrol_free(&e);
	json_decref(b);
	return true;
}

/* ---- reading ---- */

ROUTE(route_peer_list)
{
	json_t *a = json_array();
	struct peer_ctx c;

	if (!a)
		return api_reply_error(r, 500, "out of memory");
	if (!view_open(api, r, &c, 0)) {
		json_decref(a);
		return true;
	}
	/* every enabled peer gets a record (store_record makes one) */
	for (uint32_t i = 0; i < c.st.conf.n_peers; i++)
		store_record(&c.st, c.st.conf.peers[i].public_key);
	for (uint32_t i = 0; i < c.st.w.n; i++) {
		const struct peer_record *rec = &c.st.w.recs[i];

		if (view_may(t, rec))
			json_array_append_new(a, view_peer_json(&c, rec->public_key));
	}
	view_close(api, r, &c);
	return api_reply_json(r, 200, json_pack("{s:o}", "peers", a));
}

/* The peer of the path's key that t may see: true with c open, or false
 * after answering (400, 404, 403). */
static bool find_peer(struct api *api, struct api_request *r, struct token *t, const char *arg, unsigned flags,
		      struct peer_ctx *c, uint8_t key[32])
{
	struct peer_record *rec;

	if (!view_key_parse(key, arg))
		return api_reply_error(r, 400, "`%s' is not a base64 WireGuard key", arg), false;
	if (!view_open(api, r, c, flags))
		return false;
	rec = store_record(&c->st, key);
	if (!rec || !store_peer_settings(&c->st, key)) {
		api_reply_error(r, 404, "no such peer");
	} else if (!view_may(t, rec)) {
		api_reply_error(r, 403, "this peer was enrolled with another token");
	} else {
		return true;
	}
	view_close(api, r, c);
	return false;
}

ROUTE(route_peer_get)
{
	struct peer_ctx c;
	uint8_t key[32];

	if (!find_peer(api, r, t, args[0], 0, &c, key))
		return true;
	api_reply_json(r, 200, view_peer_json(&c, key));
	view_close(api, r, &c);
	return true;
}

bool peer_config_reply(struct api *api, struct api_request *r, struct token *t, const char *arg, int endpoint_type,
		       bool qr)
{
	uint8_t key[32];
	struct peer_ctx c;
	char err[256], *text = NULL, *png = NULL;
	size_t len = 0, png_len = 0;
	int ret;

	if (!find_peer(api, r, t, arg, 0, &c, key))
		return true;
	/* the private key is never kept for peers enrolled here; one made
	 * by `weft peer add` is, and its config holds it */
	uint8_t priv[32];
	bool have = peer_key_read(c.path, key, priv);

	ret = view_config(&c, key, have ? priv : NULL, endpoint_type, &text, &len, err, sizeof(err));
	memzero(priv, sizeof(priv));
	if (ret < 0) {
		api_reply_error(r, 409, "the interface cannot give a config: %s", err);
	} else if (qr) {
		ret = view_qr_png(text, &png, &png_len);
		if (ret < 0)
			api_reply_error(r, 500, "cannot draw the QR code: %s", strerror(-ret));
		else
			api_reply(r, 200, "image/png", png, png_len);
	} else {
		api_reply(r, 200, "text/plain; charset=utf-8", text, len);
	}
	if (png) {
		memzero(png, png_len);
		free(png);
	}
	if (text)
		conf_text_free(text, len);
	view_close(api, r, &c);
	return true;
}

ROUTE(route_peer_config)
{
	const char *f = api_query(r, "format");

	if (f && strcmp(f, "qr") && strcmp(f, "text"))
		return api_reply_error(r, 400, "format must be text or qr");
	return peer_config_reply(api, r, t, args[0], -1, f && !strcmp(f, "qr"));
}

/* ---- changing ---- */

ROUTE(route_peer_patch)
{
	static const char *const keys[] = { "name", "enabled", "expires", NULL };
	json_t *b = body_object(r), *name, *enabled, *expires;
	struct peer_record *rec;
	struct peer_ctx c;
	uint8_t key[32];
	int64_t exp = 0;
	char err[256];
	int ret;

	if (!b)
		return true;
	if (!only_keys(r, b, keys))
		goto out_b;
	name = json_object_get(b, "name");
	enabled = json_object_get(b, "enabled");
	expires = json_object_get(b, "expires");
	if (name && !json_is_null(name) && (!json_is_string(name) || !name_ok(json_string_value(name)))) {
		api_reply_error(r, 400, "`name' must be 1-%d of letters, digits and -_.@, or null", CONF_NAME_MAX);
		goto out_b;
	}
	if (enabled && !json_is_boolean(enabled)) {
		api_reply_error(r, 400, "`enabled' must be true or false");
		goto out_b;
	}
	if (expires && !expires_of(r, expires, &exp))
		goto out_b;
	if (enabled && !t->admin) {
		api_reply_error(r, 403, "only an admin token may enable or disable a peer");
		goto out_b;
	}
	if (!find_peer(api, r, t, args[0], PEER_CTX_LOCK, &c, key))
		goto out_b;
	if (name) {
		ret = store_peer_rename(&c.st, key, json_is_null(name) ? NULL : json_string_value(name));
		if (ret == -EEXIST) {
			api_reply_error(r, 409, "a peer named `%s' exists", json_string_value(name));
			goto out;
		}
		if (ret < 0) {
			api_reply_error(r, 400, "%s", strerror(-ret));
			goto out;
		}
	}
	rec = store_record(&c.st, key);
	if (expires)
		rec->expires = exp;
	if (enabled && json_is_true(enabled) != rec->enabled) {
		ret = json_is_true(enabled) ? store_peer_enable(&c.st, key) : store_peer_disable(&c.st, key);
		if (ret < 0) {
			api_reply_error(r, 500, "%s", strerror(-ret));
			goto out;
		}
	}
	ret = store_save(&c.st, err, sizeof(err));
	if (ret < 0) {
		fprintf(stderr, "weft: api: %s\n", err);
		api_reply_error(r, 500, "the change could not be saved");
		goto out;
	}
	if (enabled) {
		ret = json_is_true(enabled) ? peer_ctx_dev_put(&c, store_conf_peer(&c.st, key)) :
					      peer_ctx_dev_drop(&c, key);
		if (ret < 0)
			fprintf(stderr, "weft: api: %s: the running device refused: %s\n", api->iface, strerror(-ret));
	}
	api_reply_json(r, 200, view_peer_json(&c, key));
out:
	view_close(api, r, &c);
out_b:
	json_decref(b);
	return true;
}

bool peer_delete(struct api *api, struct api_request *r, struct token *t, const char *arg, int ok_status)
{
	struct peer_record *rec;
	struct peer_ctx c;
	uint8_t key[32];
	char err[256];
	int ret;

	if (!view_key_parse(key, arg))
		return api_reply_error(r, 400, "`%s' is not a base64 WireGuard key", arg);
	if (!view_open(api, r, &c, PEER_CTX_LOCK))
		return true;
	rec = store_record(&c.st, key);
	if (!rec && !peer_ctx_dev_peer(&c, key)) {
		/* idempotent: gone already */
		api_reply_empty(r, ok_status);
		goto out;
	}
	if (!view_may(t, rec)) {
		api_reply_error(r, 403, "this peer was enrolled with another token");
		goto out;
	}
	if (rec && (ret = store_peer_remove(&c.st, key)) < 0) {
		api_reply_error(r, 500, "%s", strerror(-ret));
		goto out;
	}
	ret = store_save(&c.st, err, sizeof(err));
	if (ret < 0) {
		fprintf(stderr, "weft: api: %s\n", err);
		api_reply_error(r, 500, "the change could not be saved");
		goto out;
	}
	ret = peer_ctx_dev_drop(&c, key);
	if (ret < 0)
		fprintf(stderr, "weft: api: %s: the running device refused: %s\n", api->iface, strerror(-ret));
	peer_key_remove(c.path, key);
	api_reply_empty(r, ok_status);
out:
	view_close(api, r, &c);
	return true;
}

ROUTE(route_peer_delete)
{
	return peer_delete(api, r, t, args[0], 204);
}
