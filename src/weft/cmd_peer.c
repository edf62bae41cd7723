/* cmd_peer.c: `weft peer add|remove|list|config` - peers of an interface
 * whose config file has an Address pool: `add` gives a new peer the lowest
 * free address of each pool (addrpool.h), records it in the config file and
 * the running device, and prints the config the peer imports
 * (peer_config.h), as text or a QR code (qr.h).
 *
 * Private keys weft generates for peers are kept (peer_keys.h), so `peer
 * config` can print the same config later; `peer remove` deletes them.
 * Keys never travel on the command line; --public-key takes a public key.
 *
 * Every change happens under a lock on the config directory and either
 * completes or is undone: key file, then config file (atomic), then the
 * running device; a failure at a later step rolls back the earlier ones. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "addrpool.h"
#include "commands.h"
#include "conf/conf.h"
#include "conf_change.h"
#include "conf_path.h"
#include "device.h"
#include "ifname.h"
#include "json_out.h"
#include "keygen.h"
#include "options.h"
#include "peer_config.h"
#include "peer_keys.h"
#include "public_address.h"
#include "qr.h"
#include "usage.h"
#include "util/atomic_file.h"
#include "util/encoding.h"
#include "util/fd_io.h"

#define IPV4_BITS 32
#define IPV6_BITS 128

/* What a peer command works on: the interface's config file (if any) and
 * its running device (if any). */
struct ctx {
	const char *iface;
	char path[PATH_MAX];
	bool exists;
	struct conf conf;
	struct device *dev; /* NULL when not running */
	int lock;
};

/* Options shared by `add` and `config`: how the peer's config looks. pc
 * points into allowed_ips, and into dns once --dns is given. */
struct render_opts {
	struct peer_config_opts pc;
	struct conf_prefix_list allowed_ips;
	struct conf_dns dns;
	bool qr;
	const char *qr_png;
};

static void render_opts_init(struct render_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->pc.endpoint_type = PEER_ENDPOINT_ANY;
	o->pc.keepalive = PEER_DEFAULT_KEEPALIVE;
	o->pc.allowed_ips = &o->allowed_ips;
}

static void render_opts_free(struct render_opts *o)
{
	free(o->allowed_ips.v);
	conf_dns_clear(&o->dns);
}

/* One of the rendering options at argv[*i]: 1 taken, 0 not one of them,
 * -1 a bad value (reported). */
static int take_render_option(int argc, char *argv[], int *i, struct render_opts *o)
{
	const char *v;

	if (!strcmp(argv[*i], "--qr")) {
		o->qr = true;
		return 1;
	}
	if (take_option(argc, argv, i, "--qr-png", &v)) {
		o->qr_png = v;
		return v ? 1 : -1;
	}
	if (take_option(argc, argv, i, "--endpoint-type", &v)) {
		if (v && peer_endpoint_type_parse(v, &o->pc.endpoint_type))
			return 1;
		if (v)
			fprintf(stderr, "%s: --endpoint-type: `%s' is not one of ipv4, ipv6, domain, any\n",
				prog_name, v);
		return -1;
	}
	if (take_option(argc, argv, i, "--allowed-ips", &v))
		return v && parse_prefix_list(&o->allowed_ips, v, "--allowed-ips") ? 1 : -1;
	if (take_option(argc, argv, i, "--keepalive", &v)) {
		uint32_t k = 0;

		if (!v)
			return -1;
		if (strcmp(v, "off") && !conf_parse_uint(v, UINT16_MAX, &k)) {
			fprintf(stderr, "%s: --keepalive: `%s' is not a number of seconds (0-65535) or off\n",
				prog_name, v);
			return -1;
		}
		o->pc.keepalive = (uint16_t)k;
		return 1;
	}
	if (take_option(argc, argv, i, "--dns", &v)) {
		if (!v)
			return -1;
		o->pc.dns = &o->dns; /* even empty ("none"): the server's PeerDNS is not used */
		return !strcmp(v, "none") || parse_dns_list(&o->dns, v, "--dns") ? 1 : -1;
	}
	return 0;
}

/* ---- context ---- */

/* Empty, and safe to ctx_free. */
static void ctx_init(struct ctx *c)
{
	memset(c, 0, sizeof(*c));
	conf_init(&c->conf);
	c->lock = -1;
}

static void ctx_free(struct ctx *c)
{
	conf_free(&c->conf);
	device_free(c->dev);
	if (c->lock >= 0)
		close(c->lock);
}

/* Loads iface's config (needed when need_conf) and its running device.
 * lock: take the config directory's lock first (for changes). */
static bool ctx_load(struct ctx *c, const char *iface, bool need_conf, bool lock)
{
	char err[CONF_ERR_LEN];
	int ret;

	ctx_init(c);
	c->iface = iface;
	if (!interface_name_valid(iface)) {
		fprintf(stderr, "%s: `%s' is not a valid interface name\n", prog_name, iface);
		return false;
	}
	if (!iface_conf_path(c->path, sizeof(c->path), iface, &c->exists)) {
		fprintf(stderr, "%s: %s: config path too long\n", prog_name, iface);
		return false;
	}
	if (lock && c->exists) {
		c->lock = iface_conf_lock(c->path);
		if (c->lock < 0) {
			fprintf(stderr, "%s: %s: cannot lock its directory: %s\n", prog_name, c->path,
				strerror(-c->lock));
			return false;
		}
		c->exists = !access(c->path, F_OK); /* it may have changed while we waited */
	}
	if (c->exists) {
		if (conf_load(&c->conf, c->path, 0, err, sizeof(err)) < 0) {
			fprintf(stderr, "%s: %s\n", prog_name, err);
			return false;
		}
	} else if (need_conf) {
		fprintf(stderr, "%s: %s: no config file %s; start with `%s interface add %s --address CIDR'\n",
			prog_name, iface, c->path, prog_name, iface);
		return false;
	}
	ret = device_get(&c->dev, iface);
	if (ret < 0 && ret != -ENODEV) {
		fprintf(stderr, "%s: %s: cannot read the running device: %s\n", prog_name, iface, strerror(-ret));
		return false;
	}
	if (!c->exists && !c->dev) {
		fprintf(stderr, "%s: %s: no such interface (not running, no config file %s)\n",
			prog_name, iface, c->path);
		return false;
	}
	return true;
}

static struct dev_peer *dev_find(const struct device *dev, const uint8_t key[WG_KEY_LEN])
{
	for (size_t i = 0; dev && i < dev->n_peers; i++)
		if (!memcmp(dev->peers[i].public_key, key, WG_KEY_LEN))
			return &dev->peers[i];
	return NULL;
}

static const struct conf_peer *named_peer(const struct conf *conf, const char *name)
{
	for (uint32_t i = 0; i < conf->n_peers; i++)
		if (conf->peers[i].name && !strcmp(conf->peers[i].name, name))
			return &conf->peers[i];
	return NULL;
}

/* NAME or base64 PUBKEY into key: true if the config or the device has
 * that peer. */
static bool find_peer(const struct ctx *c, const char *which, uint8_t key[WG_KEY_LEN])
{
	const struct conf_peer *cp;

	if (key_from_base64(key, which))
		return conf_peer_find(&c->conf, key) || dev_find(c->dev, key);
	cp = named_peer(&c->conf, which);
	if (cp)
		memcpy(key, cp->public_key, WG_KEY_LEN);
	return cp != NULL;
}

static bool server_public_key(const struct ctx *c, uint8_t pub[WG_KEY_LEN])
{
	if (c->conf.iface.has_private_key)
		return x25519_public(pub, c->conf.iface.private_key);
	if (c->dev && (c->dev->flags & DEV_HAS_PUBLIC_KEY)) {
		memcpy(pub, c->dev->public_key, WG_KEY_LEN);
		return true;
	}
	fprintf(stderr, "%s: %s: the interface has no private key (PrivateKey in %s)\n",
		prog_name, c->iface, c->path);
	return false;
}

/* ---- address pools ---- */

struct pools {
	struct addrpool **v;
	size_t n;
};

static void pools_free(struct pools *p)
{
	for (size_t i = 0; i < p->n; i++)
		addrpool_free(p->v[i]);
	free(p->v);
	p->n = 0;
	p->v = NULL;
}

static unsigned family_bits(uint8_t family)
{
	return family == AF_INET ? IPV4_BITS : IPV6_BITS;
}

static int mark_prefix(struct pools *p, const struct conf_prefix *range)
{
	int ret = 0;

	for (size_t i = 0; !ret && i < p->n; i++)
		if (addrpool_covers(p->v[i], range))
			ret = addrpool_mark(p->v[i], range);
	return ret;
}

/* One pool per network of the interface's Addresses that has room for
 * peers (shorter than /32 or /128), with every address already in use
 * marked: the interface's own, and every peer's AllowedIPs inside it, in
 * the config and on the running device. */
static int pools_build(struct pools *p, const struct ctx *c)
{
	const struct conf_prefix_list *addrs = &c->conf.iface.addresses;
	int ret = 0;

	p->v = calloc(addrs->n ? addrs->n : 1, sizeof(*p->v));
	p->n = 0;
	if (!p->v)
		return -ENOMEM;
	for (uint32_t i = 0; !ret && i < addrs->n; i++) {
		const struct conf_prefix *a = &addrs->v[i];
		bool have = false;

		if (a->cidr >= family_bits(a->addr.family))
			continue;
		/* A second address in a network we have: one pool (the loop
		 * below reserves both). */
		for (size_t k = 0; k < p->n && !have; k++)
			have = addrpool_network(p->v[k])->cidr == a->cidr && addrpool_contains(p->v[k], &a->addr);
		if (!have && !(ret = addrpool_new_for_address(&p->v[p->n], a)))
			p->n++;
	}
	/* Every interface address in every pool it lies in (a /32 within a /24,
	 * too). */
	for (uint32_t i = 0; !ret && i < addrs->n; i++)
		for (size_t k = 0; !ret && k < p->n; k++)
			if (addrpool_contains(p->v[k], &addrs->v[i].addr))
				ret = addrpool_reserve(p->v[k], &addrs->v[i].addr);
	for (uint32_t i = 0; !ret && i < c->conf.n_peers; i++)
		for (uint32_t j = 0; !ret && j < c->conf.peers[i].allowed_ips.n; j++)
			ret = mark_prefix(p, &c->conf.peers[i].allowed_ips.v[j]);
	for (size_t i = 0; !ret && c->dev && i < c->dev->n_peers; i++) {
		const struct dev_peer *dp = &c->dev->peers[i];

		for (size_t j = 0; !ret && j < dp->n_allowedips; j++) {
			struct conf_prefix r;

			allowedip_to_prefix(&r, &dp->allowedips[j]);
			ret = mark_prefix(p, &r);
		}
	}
	if (ret < 0)
		pools_free(p);
	return ret;
}

/* A peer's tunnel addresses: its AllowedIPs inside the interface's
 * networks. */
static int peer_addresses(const struct conf *conf, const struct conf_prefix_list *allowed,
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

/* ---- output ---- */

/* The config the peer imports, into *text (free it with conf_text_free).
 * priv is the peer's private key when weft knows it. false (reported)
 * when the interface's config leaves a gap, such as no Endpoint. */
static bool render(const struct ctx *c, struct render_opts *o, const uint8_t server_pub[WG_KEY_LEN],
		   const struct conf_prefix_list *addrs, const uint8_t pub[WG_KEY_LEN],
		   const uint8_t *priv, char **text, size_t *len)
{
	char err[CONF_ERR_LEN], fallback[INET6_ADDRSTRLEN];

	o->pc.running_port = c->dev ? c->dev->listen_port : 0;
	o->pc.fallback_host = peer_config_has_host(&c->conf, o->pc.endpoint_type) ? NULL :
			      public_address_fallback(c->iface, o->pc.endpoint_type, fallback);
	if (peer_config_render(&c->conf, server_pub, addrs, pub, priv, &o->pc, text, len, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s: %s: %s (%s)\n", prog_name, c->iface, err, c->path);
		return false;
	}
	return true;
}

/* The config as text on stdout, or as a QR code with --qr. */
static bool emit(const char *text, size_t len, const struct render_opts *o, bool has_key)
{
	int ret;

	if (!o->qr) {
		fflush(stdout);
		ret = fd_write_all(STDOUT_FILENO, text, len);
		if (ret < 0) {
			fprintf(stderr, "%s: cannot write the config: %s\n", prog_name, strerror(-ret));
			return false;
		}
		return true;
	}
	if (!has_key)
		fprintf(stderr, "%s: note: the code has no private key; the phone's app must add it\n", prog_name);
	ret = qr_write_terminal(stdout, text);
	if (ret < 0)
		fprintf(stderr, "%s: cannot draw the QR code: %s\n", prog_name,
			ret == -EFBIG ? "the config is too long for a QR code" : strerror(-ret));
	return ret == 0;
}

static bool write_png(const char *path, const char *text)
{
	int ret = qr_write_png(path, text);

	if (ret < 0)
		fprintf(stderr, "%s: %s: cannot write the QR code: %s\n", prog_name, path,
			ret == -EFBIG ? "the config is too long for a QR code" :
			ret == -ELOOP ? "it is a symbolic link, which is not followed" :
			ret == -EPERM ? "the file belongs to another user" : strerror(-ret));
	return ret == 0;
}

/* ---- peer add ---- */

static int peer_add(int argc, char *argv[])
{
	const char *iface = argv[1], *name = NULL, *pubarg = NULL, *v;
	uint8_t pub[WG_KEY_LEN], priv[WG_KEY_LEN], server_pub[WG_KEY_LEN];
	struct conf_prefix_list addrs = { 0 };
	bool generate = false, key_written = false, conf_saved = false, png_written = false;
	char err[CONF_ERR_LEN], *text = NULL;
	struct render_opts o;
	struct pools pools = { 0 };
	struct conf_peer *cp;
	struct device *change = NULL;
	struct ctx c;
	size_t len = 0;
	int ret, status = 1;

	render_opts_init(&o);
	ctx_init(&c);
	for (int i = 2; i < argc; i++) {
		int r = take_render_option(argc, argv, &i, &o);

		if (r < 0)
			goto out;
		if (r)
			continue;
		if (!strcmp(argv[i], "--generate-key")) {
			generate = true;
		} else if (take_option(argc, argv, &i, "--public-key", &v)) {
			if (!v)
				goto out;
			pubarg = v;
		} else if (take_option(argc, argv, &i, "--name", &v)) {
			if (!v)
				goto out;
			name = v;
		} else {
			fprintf(stderr, "%s: unknown option `%s'\n", prog_name, argv[i]);
			command_usage(stderr, "peer");
			goto out;
		}
	}
	if (generate && pubarg) {
		fprintf(stderr, "%s: --public-key and --generate-key exclude each other\n", prog_name);
		goto out;
	}
	if (pubarg && !key_from_base64(pub, pubarg)) {
		fprintf(stderr, "%s: --public-key: `%s' is not a base64 WireGuard key\n", prog_name, pubarg);
		goto out;
	}
	if (name && (!conf_name_valid(name) || key_from_base64(priv, name))) {
		fprintf(stderr, "%s: --name: `%s' is not a valid peer name (1-%d printable characters, "
			"no '#', not a key)\n", prog_name, name, CONF_NAME_MAX);
		goto out;
	}
	if (!ctx_load(&c, iface, true, true))
		goto out;
	if (!pubarg) {
		if (!generate_private_key(priv) || !x25519_public(pub, priv)) {
			fprintf(stderr, "%s: cannot generate a key: %s\n", prog_name, strerror(errno));
			goto out;
		}
		generate = true;
	}
	if (conf_peer_find(&c.conf, pub) || dev_find(c.dev, pub)) {
		char b64[WEFT_KEY_B64_LEN + 1];

		key_to_base64(b64, pub);
		fprintf(stderr, "%s: %s: peer %s already exists\n", prog_name, iface, b64);
		goto out;
	}
	if (name && named_peer(&c.conf, name)) {
		fprintf(stderr, "%s: %s: a peer named `%s' already exists\n", prog_name, iface, name);
		goto out;
	}
	if (!server_public_key(&c, server_pub))
		goto out;

	/* The addresses: the lowest free one of every pool. */
	ret = pools_build(&pools, &c);
	if (ret < 0) {
		fprintf(stderr, "%s: %s: %s\n", prog_name, iface, strerror(-ret));
		goto out;
	}
	if (!pools.n) {
		fprintf(stderr, "%s: %s: no Address in %s has room for peers (it needs a prefix such as "
			"10.0.0.1/24 or fd00::1/64)\n", prog_name, iface, c.path);
		goto out;
	}
	for (size_t i = 0; i < pools.n; i++) {
		struct conf_prefix p;

		ret = addrpool_take(pools.v[i], &p.addr);
		if (ret < 0) {
			char net[CONF_PREFIX_STRLEN];

			conf_prefix_format(net, addrpool_network(pools.v[i]));
			if (ret == -ENOSPC)
				fprintf(stderr, "%s: %s: no free address left in %s\n", prog_name, iface, net);
			else
				fprintf(stderr, "%s: %s: %s: %s\n", prog_name, iface, net, strerror(-ret));
			goto out;
		}
		p.cidr = (uint8_t)family_bits(p.addr.family);
		if (conf_prefix_list_add(&addrs, &p) < 0)
			goto oom;
	}

	/* The config the peer imports, before anything changes: a gap in
	 * [Weft] fails here and leaves everything as it was. */
	if (!render(&c, &o, server_pub, &addrs, pub, generate ? priv : NULL, &text, &len))
		goto out;
	if (o.qr_png) {
		if (!write_png(o.qr_png, text))
			goto out;
		png_written = true;
	}

	/* Commit: key file, config file, running device. */
	if (generate) {
		ret = peer_key_write(c.path, pub, priv);
		if (ret < 0) {
			fprintf(stderr, "%s: %s: cannot store the peer's private key: %s\n", prog_name, iface,
				strerror(-ret));
			goto out;
		}
		key_written = true;
	}
	if (conf_peer_add(&c.conf, pub, &cp) < 0)
		goto oom;
	for (uint32_t i = 0; i < addrs.n; i++)
		if (conf_prefix_list_add(&cp->allowed_ips, &addrs.v[i]) < 0)
			goto oom;
	if (name && conf_peer_set_name(cp, name) < 0)
		goto oom;
	if (conf_save(&c.conf, c.path, CONF_WRITE_WEFT, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s: %s\n", prog_name, err);
		goto out;
	}
	conf_saved = true;
	if (c.dev) {
		change = device_new(iface);
		if (!change || device_peer_from_conf(change, cp) < 0)
			goto oom;
		ret = device_set(change);
		if (ret < 0) {
			fprintf(stderr, "%s: %s: the running device refused the peer: %s\n", prog_name, iface,
				strerror(-ret));
			goto out;
		}
	}
	status = emit(text, len, &o, generate) ? 0 : 1;
	/* The peer is in place even if stdout failed: keep it (peer config
	 * prints it again). */
	conf_saved = key_written = png_written = false;
	goto out;
oom:
	fprintf(stderr, "%s: out of memory\n", prog_name);
out:
	if (conf_saved) {
		conf_peer_remove(&c.conf, pub);
		if (conf_save(&c.conf, c.path, CONF_WRITE_WEFT, err, sizeof(err)) < 0)
			fprintf(stderr, "%s: could not undo the change: %s\n", prog_name, err);
	}
	if (key_written)
		peer_key_remove(c.path, pub);
	if (png_written)
		unlink(o.qr_png);
	memzero(priv, sizeof(priv));
	conf_text_free(text, len);
	device_free(change);
	pools_free(&pools);
	free(addrs.v);
	render_opts_free(&o);
	ctx_free(&c);
	return status;
}

/* ---- peer remove ---- */

static int peer_remove(int argc, char *argv[])
{
	uint8_t pub[WG_KEY_LEN];
	char err[CONF_ERR_LEN];
	struct device *change = NULL;
	struct dev_peer *dp;
	struct ctx c;
	bool in_conf, on_dev;
	int ret, status = 1;

	if (argc != 3) {
		command_usage(stderr, "peer");
		return 1;
	}
	if (!ctx_load(&c, argv[1], false, true))
		goto out;
	if (!find_peer(&c, argv[2], pub)) {
		fprintf(stderr, "%s: %s: no peer `%s'\n", prog_name, c.iface, argv[2]);
		goto out;
	}
	in_conf = conf_peer_find(&c.conf, pub) != NULL;
	on_dev = dev_find(c.dev, pub) != NULL;
	if (on_dev) {
		change = device_new(c.iface);
		if (!change || !(dp = device_add_peer(change))) {
			fprintf(stderr, "%s: out of memory\n", prog_name);
			goto out;
		}
		memcpy(dp->public_key, pub, WG_KEY_LEN);
		dp->flags = PEER_HAS_PUBLIC_KEY | PEER_REMOVE_ME;
		ret = device_set(change);
		if (ret < 0) {
			fprintf(stderr, "%s: %s: the running device refused: %s\n", prog_name, c.iface, strerror(-ret));
			goto out;
		}
	}
	if (in_conf) {
		struct device *undo = device_new(c.iface);
		bool undo_ok = undo && device_peer_from_conf(undo, conf_peer_find(&c.conf, pub)) == 0;

		conf_peer_remove(&c.conf, pub);
		if (conf_save(&c.conf, c.path, CONF_WRITE_WEFT, err, sizeof(err)) < 0) {
			fprintf(stderr, "%s: %s\n", prog_name, err);
			/* Put the peer back on the device: all or nothing. */
			if (on_dev && (!undo_ok || device_set(undo) < 0))
				fprintf(stderr, "%s: %s: could not put the peer back on the device\n",
					prog_name, c.iface);
			device_free(undo);
			goto out;
		}
		device_free(undo);
	}
	peer_key_remove(c.path, pub);
	status = 0;
out:
	device_free(change);
	ctx_free(&c);
	return status;
}

/* ---- peer config ---- */

static int peer_config(int argc, char *argv[])
{
	uint8_t pub[WG_KEY_LEN], priv[WG_KEY_LEN], server_pub[WG_KEY_LEN];
	struct conf_prefix_list addrs = { 0 };
	const struct conf_peer *cp;
	const char *which = NULL;
	char *text = NULL;
	struct render_opts o;
	bool have_key = false;
	struct ctx c;
	size_t len = 0;
	int status = 1;

	render_opts_init(&o);
	ctx_init(&c);
	for (int i = 2; i < argc; i++) {
		int r = take_render_option(argc, argv, &i, &o);

		if (r < 0)
			goto out;
		if (r)
			continue;
		if (which || argv[i][0] == '-') {
			fprintf(stderr, "%s: unexpected `%s'\n", prog_name, argv[i]);
			command_usage(stderr, "peer");
			goto out;
		}
		which = argv[i];
	}
	if (!which) {
		command_usage(stderr, "peer");
		goto out;
	}
	if (!ctx_load(&c, argv[1], true, false))
		goto out;
	if (!find_peer(&c, which, pub) || !(cp = conf_peer_find(&c.conf, pub))) {
		fprintf(stderr, "%s: %s: no peer `%s' in %s\n", prog_name, c.iface, which, c.path);
		goto out;
	}
	if (!server_public_key(&c, server_pub))
		goto out;
	if (peer_addresses(&c.conf, &cp->allowed_ips, &addrs) < 0) {
		fprintf(stderr, "%s: out of memory\n", prog_name);
		goto out;
	}
	if (!addrs.n) {
		fprintf(stderr, "%s: %s: peer `%s' has no AllowedIPs inside the interface's Address networks\n",
			prog_name, c.iface, which);
		goto out;
	}
	have_key = peer_key_read(c.path, pub, priv);
	if (!render(&c, &o, server_pub, &addrs, pub, have_key ? priv : NULL, &text, &len))
		goto out;
	if (o.qr_png && !write_png(o.qr_png, text))
		goto out;
	status = emit(text, len, &o, have_key) ? 0 : 1;
out:
	memzero(priv, sizeof(priv));
	conf_text_free(text, len);
	free(addrs.v);
	render_opts_free(&o);
	ctx_free(&c);
	return status;
}

/* ---- peer list ---- */

/* "3m 20s ago", "2h 5m ago", "4d 1h ago", "never". */
static void format_ago(char *out, size_t size, int64_t then, time_t now)
{
	int64_t s = now - then;

	if (!then) {
		snprintf(out, size, "never");
		return;
	}
	if (s < 0)
		s = 0;
	if (s < 60)
		snprintf(out, size, "%llds ago", (long long)s);
	else if (s < 3600)
		snprintf(out, size, "%lldm %llds ago", (long long)(s / 60), (long long)(s % 60));
	else if (s < 86400)
		snprintf(out, size, "%lldh %lldm ago", (long long)(s / 3600), (long long)(s % 3600 / 60));
	else
		snprintf(out, size, "%lldd %lldh ago", (long long)(s / 86400), (long long)(s % 86400 / 3600));
}

static void format_bytes(char *out, size_t size, uint64_t b)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)b;
	size_t u = 0;

	while (v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1024;
		u++;
	}
	if (u)
		snprintf(out, size, "%.2f %s", v, units[u]);
	else
		snprintf(out, size, "%llu B", (unsigned long long)b);
}

/* One line of the list: a peer of the config (and perhaps of the device),
 * or one only the device has. */
struct row {
	const char *name;
	uint8_t key[WG_KEY_LEN];
	const struct conf_prefix_list *conf_ips; /* NULL: not in the config */
	const struct dev_peer *dp;               /* NULL: not on the device */
	char *ips;                               /* "10.0.0.2/32, fd00::2/128" */
};

/* The row's addresses: the config's AllowedIPs, else the device's. */
static size_t row_n_ips(const struct row *r)
{
	return r->conf_ips ? r->conf_ips->n : r->dp->n_allowedips;
}

static void row_ip(char out[CONF_PREFIX_STRLEN], const struct row *r, size_t j)
{
	struct conf_prefix p;

	if (r->conf_ips)
		p = r->conf_ips->v[j];
	else
		allowedip_to_prefix(&p, &r->dp->allowedips[j]);
	conf_prefix_format(out, &p);
}

/* r->ips, the addresses comma-joined (cut short past a few KiB). */
static bool row_format_ips(struct row *r)
{
	char text[4096];
	size_t off = 0;

	text[0] = '\0';
	for (size_t j = 0; j < row_n_ips(r) && off < sizeof(text); j++) {
		char ip[CONF_PREFIX_STRLEN];
		int n;

		row_ip(ip, r, j);
		n = snprintf(text + off, sizeof(text) - off, "%s%s", j ? ", " : "", ip);
		if (n < 0)
			break;
		off += (size_t)n;
	}
	r->ips = strdup(text);
	return r->ips != NULL;
}

static json_t *row_json(const struct ctx *c, const struct row *r, const char *b64)
{
	json_t *o = json_object(), *ipa = json_array();
	const struct dev_peer *dp = r->dp;

	for (size_t j = 0; j < row_n_ips(r); j++) {
		char ip[CONF_PREFIX_STRLEN];

		row_ip(ip, r, j);
		json_array_append_new(ipa, json_string(ip));
	}
	json_object_set_new(o, "name", r->name ? json_string(r->name) : json_null());
	json_object_set_new(o, "public_key", json_string(b64));
	json_object_set_new(o, "allowed_ips", ipa);
	json_object_set_new(o, "in_config", json_boolean(r->conf_ips != NULL));
	json_object_set_new(o, "has_private_key", json_boolean(peer_key_exists(c->path, r->key)));
	if (dp) {
		char ep[DEV_ENDPOINT_STRLEN];

		json_object_set_new(o, "endpoint", device_has_endpoint(dp) &&
				    dev_endpoint_format(ep, sizeof(ep), &dp->endpoint) ? json_string(ep) : json_null());
		json_object_set_new(o, "latest_handshake", json_integer(dp->last_handshake_sec));
		json_object_set_new(o, "transfer_rx", json_integer((json_int_t)dp->rx_bytes));
		json_object_set_new(o, "transfer_tx", json_integer((json_int_t)dp->tx_bytes));
	}
	return o;
}

static int peer_list(int argc, char *argv[])
{
	bool json = take_flag(&argc, argv, "--json");
	struct row *rows = NULL;
	size_t n = 0, name_w = 4, ips_w = 9;
	time_t now = time(NULL);
	json_t *arr = NULL;
	struct ctx c;
	int status = 1;

	if (argc != 2) {
		command_usage(stderr, "peer");
		return 1;
	}
	if (!ctx_load(&c, argv[1], false, false))
		goto out;
	rows = calloc((size_t)c.conf.n_peers + (c.dev ? c.dev->n_peers : 0) + 1, sizeof(*rows));
	if (!rows)
		goto oom;
	for (uint32_t i = 0; i < c.conf.n_peers; i++, n++) {
		rows[n].name = c.conf.peers[i].name;
		memcpy(rows[n].key, c.conf.peers[i].public_key, WG_KEY_LEN);
		rows[n].conf_ips = &c.conf.peers[i].allowed_ips;
		rows[n].dp = dev_find(c.dev, rows[n].key);
	}
	for (size_t i = 0; c.dev && i < c.dev->n_peers; i++) {
		if (conf_peer_find(&c.conf, c.dev->peers[i].public_key))
			continue;
		memcpy(rows[n].key, c.dev->peers[i].public_key, WG_KEY_LEN);
		rows[n++].dp = &c.dev->peers[i];
	}
	for (size_t i = 0; i < n; i++) {
		if (!row_format_ips(&rows[i]))
			goto oom;
		if (rows[i].name && strlen(rows[i].name) > name_w)
			name_w = strlen(rows[i].name);
		if (strlen(rows[i].ips) > ips_w)
			ips_w = strlen(rows[i].ips);
	}
	if (json)
		arr = json_array();
	else if (n && c.dev)
		printf("%-*s  %-44s  %-*s  %-16s  %s\n", (int)name_w, "NAME", "PUBLIC KEY", (int)ips_w,
		       "ADDRESSES", "LATEST HANDSHAKE", "TRANSFER (RX / TX)");
	else if (n)
		printf("%-*s  %-44s  %s\n", (int)name_w, "NAME", "PUBLIC KEY", "ADDRESSES (not running)");
	for (size_t i = 0; i < n; i++) {
		char b64[WEFT_KEY_B64_LEN + 1], hs[32] = "-", rx[24] = "-", tx[24] = "-";
		const struct dev_peer *dp = rows[i].dp;
		const char *nm = rows[i].name ? rows[i].name : "-";

		key_to_base64(b64, rows[i].key);
		if (json) {
			json_array_append_new(arr, row_json(&c, &rows[i], b64));
			continue;
		}
		if (!c.dev) {
			printf("%-*s  %-44s  %s\n", (int)name_w, nm, b64, rows[i].ips);
			continue;
		}
		if (dp) {
			format_ago(hs, sizeof(hs), dp->last_handshake_sec, now);
			format_bytes(rx, sizeof(rx), dp->rx_bytes);
			format_bytes(tx, sizeof(tx), dp->tx_bytes);
		}
		printf("%-*s  %-44s  %-*s  %-16s  %s / %s%s\n", (int)name_w, nm, b64, (int)ips_w, rows[i].ips,
		       hs, rx, tx, rows[i].conf_ips ? "" : "  (not in the config)");
	}
	if (json && print_json(json_pack("{s:s, s:b, s:o, s:o}", "interface", c.iface, "running", c.dev != NULL,
					 "config", c.exists ? json_string(c.path) : json_null(), "peers", arr)))
		goto out;
	status = fflush(stdout) ? 1 : 0;
	goto out;
oom:
	fprintf(stderr, "%s: out of memory\n", prog_name);
out:
	for (size_t i = 0; rows && i < n; i++)
		free(rows[i].ips);
	free(rows);
	ctx_free(&c);
	return status;
}

static int peer_command(int argc, char *argv[])
{
	const char *sub = argc > 1 ? argv[1] : "";

	if (argc < 3 || !strcmp(argv[2], "-h") || !strcmp(argv[2], "--help")) {
		command_usage(argc < 3 ? stderr : stdout, "peer");
		return argc < 3;
	}
	if (argv[2][0] == '-') {
		fprintf(stderr, "%s: peer %s: the interface comes first, before `%s'\n", prog_name, sub, argv[2]);
		command_usage(stderr, "peer");
		return 1;
	}
	if (!strcmp(sub, "add"))
		return peer_add(argc - 1, argv + 1);
	if (!strcmp(sub, "remove"))
		return peer_remove(argc - 1, argv + 1);
	if (!strcmp(sub, "list"))
		return peer_list(argc - 1, argv + 1);
	if (!strcmp(sub, "config"))
		return peer_config(argc - 1, argv + 1);
	fprintf(stderr, "%s: unknown peer command `%s'\n", prog_name, sub);
	command_usage(stderr, "peer");
	return 1;
}

int cmd_peer(int argc, char *argv[])
{
	/* A QR code is as secret as the private key in it: stdout's buffer,
	 * which holds the drawing, is one we can wipe. */
	static char outbuf[BUFSIZ];
	int ret;

	setvbuf(stdout, outbuf, isatty(STDOUT_FILENO) ? _IOLBF : _IOFBF, sizeof(outbuf));
	ret = peer_command(argc, argv);
	if (fflush(stdout) && !ret) {
		perror("write");
		ret = 1;
	}
	memzero(outbuf, sizeof(outbuf));
	return ret;
}
