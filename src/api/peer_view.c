/* peer_view.c: one peer as the routes see it (peer_view.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "peer_view.h"
#include "util/encoding.h"
#include "util/fd_io.h"
#include "weft/device.h"
#include "weft/peer_config.h"
#include "weft/public_address.h"
#include "weft/qr.h"

static void file_id(struct api_file_id *id, const char *path)
{
	struct stat st;

	memset(id, 0, sizeof(*id));
	if (stat(path, &st) < 0)
		return;
	id->exists = true;
	id->dev = st.st_dev;
	id->ino = st.st_ino;
	id->size = st.st_size;
	id->mtime = st.st_mtim;
}

static bool file_same(const struct api_file_id *a, const struct api_file_id *b)
{
	return a->exists == b->exists && a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec;
}

bool view_open(struct api *api, struct api_request *r, struct peer_ctx *c, unsigned flags)
{
	struct api_file_id conf, weft;
	double now = api_mono_now();
	int lock = -1;

	memset(c, 0, sizeof(*c));
	c->st.lock = -1;
	if ((flags & PEER_CTX_LOCK) && (lock = store_lock_dir(api->conf_path)) < 0)
		goto fail;
	/* before reading: a change after this makes the next request read again */
	file_id(&conf, api->conf_path);
	if (api->cache.valid) {
		file_id(&weft, api->cache.c.st.weft_path);
		if (file_same(&conf, &api->cache.conf) && file_same(&weft, &api->cache.weft)) {
			*c = api->cache.c;
			api->cache.valid = false;
			if (!(flags & PEER_CTX_NO_DEVICE) && ((flags & PEER_CTX_LOCK) || now - api->cache.dev_at >= 1.0)) {
				if (!peer_ctx_reload_device(c)) {
					peer_ctx_close(c);
					goto fail;
				}
				api->cache.dev_at = now;
			}
			c->st.lock = lock;
			return true;
		}
		peer_ctx_close(&api->cache.c);
		api->cache.valid = false;
	}
	/* the lock, when wanted, is ours already */
	if (!peer_ctx_open(c, api->iface, (flags & ~PEER_CTX_LOCK & ~PEER_CTX_NO_DEVICE) | PEER_CTX_NEED_CONF)) {
		peer_ctx_close(c);
		goto fail;
	}
	api->cache.conf = conf;
	file_id(&api->cache.weft, c->st.weft_path);
	api->cache.dev_at = now;
	c->st.lock = lock;
	return true;
fail:
	if (lock >= 0)
		close(lock);
	api_reply_error(r, 503, "the interface's config cannot be read or locked (see the server's log)");
	return false;
}

void view_close(struct api *api, struct api_request *r, struct peer_ctx *c)
{
	int lock = c->st.lock;

	c->st.lock = -1;
	if (lock >= 0 && r->status >= 400) {
		peer_ctx_close(c);
	} else {
		/* still under the lock after a change: these are our files */
		if (lock >= 0) {
			file_id(&api->cache.conf, api->conf_path);
			file_id(&api->cache.weft, c->st.weft_path);
		}
		if (api->cache.valid)
			peer_ctx_close(&api->cache.c);
		api->cache.c = *c;
		api->cache.valid = true;
		memset(c, 0, sizeof(*c));
	}
	if (lock >= 0)
		close(lock);
}

bool view_key_parse(uint8_t key[32], const char *s)
{
	char b[WEFT_KEY_B64_LEN + 1];
	size_t n = strlen(s);

	if (n != 43 && n != 44)
		return false;
	for (size_t i = 0; i < n; i++)
		b[i] = s[i] == '-' ? '+' : s[i] == '_' ? '/' : s[i];
	b[43] = '=';
	b[44] = '\0';
	return (n == 43 || s[43] == '=') && key_from_base64(key, b);
}

bool view_may(const struct token *t, const struct peer_record *rec)
{
	if (t->admin)
		return true;
	return rec && rec->owner && !strcmp(rec->owner, t->id);
}

static json_t *time_json(int64_t t)
{
	char s[WEFT_TIME_STRLEN];

	if (!t)
		return json_null();
	weft_time_format(s, t);
	return json_string(s);
}

json_t *view_peer_json(struct peer_ctx *c, const uint8_t key[32])
{
	struct peer_record *rec = store_record(&c->st, key);
	const struct conf_peer *cp = store_peer_settings(&c->st, key);
	const struct dev_peer *dp = peer_ctx_dev_peer(c, key);
	struct conf_prefix_list addrs = { 0 };
	char b64[WEFT_KEY_B64_LEN + 1], ep[DEV_ENDPOINT_STRLEN];
	json_t *o, *a;

	if (!rec || !cp)
		return NULL;
	key_to_base64(b64, key);
	a = json_array();
	if (!a || peer_addresses(&c->st.conf, &cp->allowed_ips, &addrs) < 0) {
		json_decref(a);
		free(addrs.v);
		return NULL;
	}
	for (uint32_t i = 0; i < addrs.n; i++) {
		char p[CONF_PREFIX_STRLEN];

		conf_prefix_format(p, &addrs.v[i]);
		json_array_append_new(a, json_string(p));
	}
	free(addrs.v);
	o = json_pack("{s:s,s:o,s:o,s:o,s:b,s:o,s:o}", "public_key", b64,
		      "name", rec->name ? json_string(rec->name) : json_null(),
		      "owner", rec->owner ? json_string(rec->owner) : json_null(),
		      "addresses", a, "enabled", rec->enabled,
		      "created", time_json(rec->created), "expires", time_json(rec->expires));
	if (!o)
		return NULL;
	json_object_set_new(o, "latest_handshake", time_json(dp ? dp->last_handshake_sec : 0));
	json_object_set_new(o, "handshake_age", dp && dp->last_handshake_sec ?
			    json_integer(time(NULL) - dp->last_handshake_sec) : json_null());
	json_object_set_new(o, "rx_bytes", json_integer(dp ? (json_int_t)dp->rx_bytes : 0));
	json_object_set_new(o, "tx_bytes", json_integer(dp ? (json_int_t)dp->tx_bytes : 0));
	json_object_set_new(o, "endpoint", dp && device_has_endpoint(dp) && dev_endpoint_format(ep, sizeof(ep), &dp->endpoint) ?
			    json_string(ep) : json_null());
	return o;
}

int view_config(struct peer_ctx *c, const uint8_t key[32], const uint8_t *priv, int endpoint_type,
		char **text, size_t *len, char *err, size_t errlen)
{
	const struct peer_record *rec = store_record(&c->st, key);
	const struct conf_peer *cp = store_peer_settings(&c->st, key);
	struct conf_prefix_list addrs = { 0 };
	struct peer_config_opts o = { 0 };
	uint8_t server_pub[32];
	char fallback[INET6_ADDRSTRLEN];
	int ret;

	if (!rec || !cp) {
		snprintf(err, errlen, "no such peer");
		return -ENOENT;
	}
	if (!peer_ctx_server_key(c, server_pub)) {
		snprintf(err, errlen, "the interface has no key");
		return -EINVAL;
	}
	o.endpoint_type = endpoint_type >= 0 ? (uint8_t)endpoint_type : rec->endpoint_type;
	o.allowed_ips = &rec->client_allowed_ips;
	o.dns = rec->has_client_dns ? &rec->client_dns : NULL;
	o.keepalive = rec->has_client_keepalive ? rec->client_keepalive : PEER_DEFAULT_KEEPALIVE;
	o.preshared_key = cp->has_preshared_key ? cp->preshared_key : NULL;
	o.running_port = c->dev ? c->dev->listen_port : 0;
	o.fallback_host = peer_config_has_host(&c->st.conf, o.endpoint_type) ? NULL :
			  public_address_fallback(c->iface, o.endpoint_type, fallback);
	ret = peer_addresses(&c->st.conf, &cp->allowed_ips, &addrs);
	if (ret < 0) {
		snprintf(err, errlen, "out of memory");
		return ret;
	}
	ret = peer_config_render(&c->st.conf, server_pub, &addrs, key, priv, &o, text, len, err, errlen);
	free(addrs.v);
	return ret;
}

int view_qr_png(const char *text, char **png, size_t *len)
{
	char dir[] = "/tmp/weft-api-qr.XXXXXX", path[64];
	int ret, fd;

	/* qrencode draws into a file: a private directory of our own */
	if (!mkdtemp(dir))
		return -errno;
	snprintf(path, sizeof(path), "%s/qr.png", dir);
	ret = qr_write_png(path, text);
	if (!ret) {
		fd = open(path, O_RDONLY | O_CLOEXEC);
		ret = fd < 0 ? -errno : fd_read_all(fd, 4 << 20, png, len);
		if (fd >= 0)
			close(fd);
	}
	unlink(path);
	rmdir(dir);
	return ret;
}
