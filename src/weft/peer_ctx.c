/* peer_ctx.c: the store and running device behind the peer commands (see
 * peer_ctx.h). Device peers are sorted once by key so that joining them
 * with 10,000 stored peers stays O(n log n); a brief context, which looks
 * up a key or two, scans them instead. */
#include "peer_ctx.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conf_change.h"
#include "conf_path.h"
#include "crypto/crypto.h"
#include "device.h"
#include "ifname.h"
#include "usage.h"
#include "util/encoding.h"

#define IPV4_BITS 32
#define IPV6_BITS 128

static int by_key_cmp(const void *a, const void *b)
{
	const struct dev_peer *const *x = a, *const *y = b;

	return memcmp((*x)->public_key, (*y)->public_key, WG_KEY_LEN);
}

static bool open_ctx(struct peer_ctx *c, const char *iface, const char *which, unsigned flags);

bool peer_ctx_open(struct peer_ctx *c, const char *iface, unsigned flags)
{
	return open_ctx(c, iface, NULL, flags);
}

bool peer_ctx_open_peer(struct peer_ctx *c, const char *iface, const char *which, unsigned flags)
{
	return open_ctx(c, iface, which, flags | PEER_CTX_READ_ONLY);
}

static bool open_ctx(struct peer_ctx *c, const char *iface, const char *which, unsigned flags)
{
	char err[CONF_ERR_LEN];
	int ret;

	memset(c, 0, sizeof(*c));
	c->st.lock = -1;
	c->iface = iface;
	c->brief = flags & PEER_CTX_DEVICE_BRIEF;
	if (!interface_name_valid(iface)) {
		fprintf(stderr, "%s: `%s' is not a valid interface name\n", prog_name, iface);
		return false;
	}
	if (!iface_conf_path(c->path, sizeof(c->path), iface, &c->exists)) {
		fprintf(stderr, "%s: %s: config path too long\n", prog_name, iface);
		return false;
	}
	if (!c->exists && (flags & PEER_CTX_NEED_CONF)) {
		fprintf(stderr, "%s: %s: no config file %s; start with `%s interface add %s --address CIDR'\n",
			prog_name, iface, c->path, prog_name, iface);
		return false;
	}
	/* Without a config file the store is an empty one that is never
	 * saved (a device-only interface). */
	if (which && c->exists)
		ret = store_open_peer(&c->st, c->path, which, err, sizeof(err));
	else
		ret = store_open(&c->st, c->path, (c->exists && (flags & PEER_CTX_LOCK) ? STORE_LOCK : 0) |
				 (c->exists ? 0 : STORE_CREATE) | (flags & PEER_CTX_READ_ONLY ? STORE_READ_ONLY : 0),
				 err, sizeof(err));
	if (ret == -ENOENT && c->exists && (flags & PEER_CTX_NEED_CONF)) {
		fprintf(stderr, "%s: %s: its config file %s went away\n", prog_name, iface, c->path);
		return false;
	}
	if (ret < 0) {
		fprintf(stderr, "%s: %s\n", prog_name, err);
		return false;
	}
	if (flags & PEER_CTX_NO_DEVICE)
		return true;
	return peer_ctx_load_device(c);
}

bool peer_ctx_load_device(struct peer_ctx *c)
{
	if (c->dev)
		return true;
	if (!peer_ctx_reload_device(c))
		return false;
	if (!c->exists && !c->dev) {
		fprintf(stderr, "%s: %s: no such interface (not running, no config file %s)\n",
			prog_name, c->iface, c->path);
		return false;
	}
	return true;
}

bool peer_ctx_reload_device(struct peer_ctx *c)
{
	int ret;

	device_free(c->dev);
	free(c->by_key);
	c->dev = NULL;
	c->by_key = NULL;
	ret = c->brief ? device_get_brief(&c->dev, c->iface) : device_get(&c->dev, c->iface);
	if (ret < 0 && ret != -ENODEV) {
		fprintf(stderr, "%s: %s: cannot read the running device: %s\n", prog_name, c->iface, strerror(-ret));
		return false;
	}
	/* a brief context looks up one key or two (peer add): a scan costs
	 * less than sorting 10,000 */
	if (c->dev && c->dev->n_peers && !c->brief) {
		c->by_key = calloc(c->dev->n_peers, sizeof(*c->by_key));
		if (!c->by_key) {
			fprintf(stderr, "%s: out of memory\n", prog_name);
			return false;
		}
		for (size_t i = 0; i < c->dev->n_peers; i++)
			c->by_key[i] = &c->dev->peers[i];
		qsort(c->by_key, c->dev->n_peers, sizeof(*c->by_key), by_key_cmp);
	}
	return true;
}

void peer_ctx_close(struct peer_ctx *c)
{
	store_close(&c->st);
	device_free(c->dev);
	free(c->by_key);
	c->dev = NULL;
	c->by_key = NULL;
}

struct dev_peer *peer_ctx_dev_peer(const struct peer_ctx *c, const uint8_t key[32])
{
	struct dev_peer probe, *pp = &probe, **hit;

	if (c->dev && !c->by_key) {
		for (size_t i = 0; i < c->dev->n_peers; i++)
			if (!memcmp(c->dev->peers[i].public_key, key, WG_KEY_LEN))
				return &c->dev->peers[i];
		return NULL;
	}
	if (!c->by_key)
		return NULL;
	memcpy(probe.public_key, key, WG_KEY_LEN);
	hit = bsearch(&pp, c->by_key, c->dev->n_peers, sizeof(*c->by_key), by_key_cmp);
	return hit ? *hit : NULL;
}

bool peer_ctx_find(struct peer_ctx *c, const char *which, uint8_t key[32])
{
	if (store_lookup(&c->st, which, key) == 0)
		return true;
	return key_from_base64(key, which) && peer_ctx_dev_peer(c, key);
}

bool peer_ctx_server_key(const struct peer_ctx *c, uint8_t pub[32])
{
	if (c->st.conf.iface.has_private_key)
		return x25519_public(pub, c->st.conf.iface.private_key);
	if (c->dev && (c->dev->flags & DEV_HAS_PUBLIC_KEY)) {
		memcpy(pub, c->dev->public_key, WG_KEY_LEN);
		return true;
	}
	fprintf(stderr, "%s: %s: the interface has no private key (PrivateKey in %s)\n",
		prog_name, c->iface, c->path);
	return false;
}

bool peer_ctx_save(struct peer_ctx *c)
{
	char err[CONF_ERR_LEN];

	if (store_save(&c->st, err, sizeof(err)) == 0)
		return true;
	fprintf(stderr, "%s: %s\n", prog_name, err);
	return false;
}

int peer_ctx_dev_put(struct peer_ctx *c, const struct conf_peer *p)
{
	struct device *change;
	int ret;

	if (!c->dev)
		return 0;
	change = device_new(c->iface);
	if (!change)
		return -ENOMEM;
	ret = device_peer_from_conf(change, p);
	if (!ret)
		ret = device_set(change);
	device_free(change);
	return ret;
}

int peer_ctx_dev_drop(struct peer_ctx *c, const uint8_t key[32])
{
	struct device *change;
	struct dev_peer *dp;
	int ret;

	if (!peer_ctx_dev_peer(c, key))
		return 0;
	change = device_new(c->iface);
	if (!change || !(dp = device_add_peer(change))) {
		device_free(change);
		return -ENOMEM;
	}
	memcpy(dp->public_key, key, WG_KEY_LEN);
	dp->flags = PEER_HAS_PUBLIC_KEY | PEER_REMOVE_ME;
	ret = device_set(change);
	device_free(change);
	return ret;
}

static unsigned family_bits(uint8_t family)
{
	return family == AF_INET ? IPV4_BITS : IPV6_BITS;
}

int peer_addresses(const struct conf *conf, const struct conf_prefix_list *allowed,
		   struct conf_prefix_list *out)
{
	const struct conf_prefix_list *addrs = &conf->iface.addresses;
	int ret = 0;

	for (uint32_t i = 0; !ret && i < allowed->n; i++) {
		for (uint32_t k = 0; k < addrs->n; k++) {
			const struct conf_prefix *net = &addrs->v[k], *ip = &allowed->v[i];
			unsigned bits = net->cidr, full = bits / 8;

			if (ip->addr.family != net->addr.family || ip->cidr < bits ||
			    net->cidr >= family_bits(net->addr.family))
				continue;
			if (memcmp(ip->addr.bytes, net->addr.bytes, full) ||
			    (bits % 8 && ((ip->addr.bytes[full] ^ net->addr.bytes[full]) & (0xff00 >> (bits % 8)) & 0xff)))
				continue;
			ret = conf_prefix_list_add(out, ip);
			break;
		}
	}
	return ret;
}

/* 9999-12-31T23:59:59Z: IFACE.weft writes times with four-digit years, so
 * a later one would be written as a line its parser refuses, and every
 * command on the interface would fail until the file was edited by hand. */
#define EXPIRY_LAST INT64_C(253402300799)

bool peer_expiry_parse(const char *s, int64_t now, int64_t *out)
{
	static const struct { char unit; int64_t seconds; } units[] = {
		{ 's', 1 }, { 'm', 60 }, { 'h', 3600 }, { 'd', 86400 }, { 'w', 7 * 86400 },
	};
	size_t n = strlen(s);
	uint32_t v;

	if (!strcmp(s, "never")) {
		*out = 0;
		return true;
	}
	if (weft_time_parse(s, out)) {
		if (*out > now)
			return true;
		fprintf(stderr, "%s: --expires: `%s' is in the past\n", prog_name, s);
		return false;
	}
	for (size_t i = 0; n > 1 && i < sizeof(units) / sizeof(units[0]); i++) {
		char num[16];

		if (s[n - 1] != units[i].unit || n - 1 >= sizeof(num))
			continue;
		memcpy(num, s, n - 1);
		num[n - 1] = '\0';
		if (conf_parse_uint(num, UINT32_MAX, &v) && v) {
			*out = now + (int64_t)v * units[i].seconds;
			if (*out <= EXPIRY_LAST)
				return true;
			fprintf(stderr, "%s: --expires: `%s' is past 9999-12-31, the last date weft keeps\n",
				prog_name, s);
			return false;
		}
	}
	fprintf(stderr, "%s: --expires: `%s' is not a date (2027-01-31 or 2027-01-31T12:00:00Z, UTC), "
		"a duration (90d, 12h, 30m, 2w) or never\n", prog_name, s);
	return false;
}
