/* cmd_peer.c: `weft peer add|remove|list|config|set|rename|disable|enable|
 * expire` - the peers of an interface whose config file has an Address
 * pool, kept in its peer store (conf/store.h: the wg-quick file plus
 * IFACE.weft with one record per peer):
 *   add      gives a new peer the lowest free address of each pool
 *            (addrpool.h), a preshared key (unless --no-psk), records it
 *            with every option given, puts it on the running device, and
 *            prints the config the peer imports (peer_config.h), as text
 *            or a QR code (qr.h);
 *   config   prints that config again, exactly as it was handed out;
 *   set      changes the options the config is printed with, and --expires;
 *   disable  takes a peer off the running device and out of the wg-quick
 *            file, keeping its addresses reserved; enable puts it back;
 *   expire   disables every peer whose --expires time has passed.
 *
 * Private keys weft generates for peers are kept (peer_keys.h), so `peer
 * config` can print the same config later; `peer remove` deletes them.
 * Keys never travel on the command line; --public-key takes a public key.
 *
 * Every change happens under the store's lock and either completes or is
 * undone: key file, then the store's files (atomic, durable), then the
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
#include "conf/store.h"
#include "conf_change.h"
#include "crypto/crypto.h"
#include "device.h"
#include "heap.h"
#include "json_out.h"
#include "keygen.h"
#include "options.h"
#include "peer_config.h"
#include "peer_ctx.h"
#include "peer_keys.h"
#include "peer_pools.h"
#include "public_address.h"
#include "qr.h"
#include "usage.h"
#include "util/encoding.h"
#include "util/fd_io.h"
#include "util/random.h"

#define IPV4_BITS 32
#define IPV6_BITS 128

/* How a peer's config looks: the options of `add`, remembered in its
 * record, given again to `config` (for this one printing) or to `set`.
 * pc points into the lists below; has_* say which options were given. */
struct render_opts {
	struct peer_config_opts pc;
	struct conf_prefix_list allowed_ips;
	struct conf_dns dns;
	bool has_endpoint_type, has_allowed_ips, has_dns, has_keepalive;
	bool reset_allowed_ips, reset_dns, reset_keepalive; /* `set ... default` */
	bool qr;
	const char *qr_png;
};

static void render_opts_init(struct render_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->pc.endpoint_type = WEFT_ENDPOINT_ANY;
	o->pc.keepalive = PEER_DEFAULT_KEEPALIVE;
	o->pc.allowed_ips = &o->allowed_ips;
}

static void render_opts_free(struct render_opts *o)
{
	free(o->allowed_ips.v);
	conf_dns_clear(&o->dns);
}

/* One of the config options at argv[*i]: 1 taken, 0 not one of them, -1 a
 * bad value (reported). output: --qr and --qr-png are accepted too. */
static int take_render_option(int argc, char *argv[], int *i, struct render_opts *o, bool output)
{
	const char *v;

	if (output && !strcmp(argv[*i], "--qr")) {
		o->qr = true;
		return 1;
	}
	if (output && take_option(argc, argv, i, "--qr-png", &v)) {
		o->qr_png = v;
		return v ? 1 : -1;
	}
	if (take_option(argc, argv, i, "--endpoint-type", &v)) {
		if (v && weft_endpoint_type_parse(v, &o->pc.endpoint_type)) {
			o->has_endpoint_type = true;
			return 1;
		}
		if (v)
			fprintf(stderr, "%s: --endpoint-type: `%s' is not one of ipv4, ipv6, domain, any\n",
				prog_name, v);
		return -1;
	}
	if (take_option(argc, argv, i, "--allowed-ips", &v)) {
		if (!v)
			return -1;
		o->has_allowed_ips = true;
		o->allowed_ips.n = 0;
		if (!strcmp(v, "default")) {
			o->reset_allowed_ips = true;
			return 1;
		}
		return parse_prefix_list(&o->allowed_ips, v, "--allowed-ips") ? 1 : -1;
	}
	if (take_option(argc, argv, i, "--keepalive", &v)) {
		uint32_t k = 0;

		if (!v)
			return -1;
		if (!strcmp(v, "default")) {
			o->reset_keepalive = o->has_keepalive = true;
			o->pc.keepalive = PEER_DEFAULT_KEEPALIVE;
			return 1;
		}
		if (strcmp(v, "off") && !conf_parse_uint(v, UINT16_MAX, &k)) {
			fprintf(stderr, "%s: --keepalive: `%s' is not a number of seconds (0-65535), off or default\n",
				prog_name, v);
			return -1;
		}
		o->pc.keepalive = (uint16_t)k;
		o->has_keepalive = true;
		return 1;
	}
	if (take_option(argc, argv, i, "--dns", &v)) {
		if (!v)
			return -1;
		o->has_dns = true;
		conf_dns_clear(&o->dns);
		if (!strcmp(v, "default")) {
			o->reset_dns = true;
			o->pc.dns = NULL;
			return 1;
		}
		o->pc.dns = &o->dns; /* even empty ("none"): the server's PeerDNS is not used */
		return !strcmp(v, "none") || parse_dns_list(&o->dns, v, "--dns") ? 1 : -1;
	}
	return 0;
}

static int copy_prefixes(struct conf_prefix_list *to, const struct conf_prefix_list *from)
{
	int ret = 0;

	to->n = 0;
	for (uint32_t i = 0; !ret && i < from->n; i++)
		ret = conf_prefix_list_add(to, &from->v[i]);
	return ret;
}

static int copy_dns(struct conf_dns *to, const struct conf_dns *from)
{
	int ret = 0;

	conf_dns_clear(to);
	for (uint32_t i = 0; !ret && i < from->servers.n; i++)
		ret = conf_addr_list_add(&to->servers, &from->servers.v[i]);
	for (uint32_t i = 0; !ret && i < from->search.n; i++)
		ret = conf_dns_add(to, from->search.v[i]);
	return ret;
}

/* The options remembered in r, under the ones given in o (config: for one
 * printing). */
static int opts_from_record(struct render_opts *o, const struct peer_record *r)
{
	int ret = 0;

	if (!o->has_endpoint_type)
		o->pc.endpoint_type = r->endpoint_type;
	if (!o->has_allowed_ips)
		ret = copy_prefixes(&o->allowed_ips, &r->client_allowed_ips);
	if (!ret && !o->has_dns && r->has_client_dns) {
		ret = copy_dns(&o->dns, &r->client_dns);
		o->pc.dns = &o->dns;
	}
	if (!o->has_keepalive && r->has_client_keepalive)
		o->pc.keepalive = r->client_keepalive;
	return ret;
}

/* The options given in o into r (add, set). */
static int opts_to_record(const struct render_opts *o, struct peer_record *r)
{
	int ret = 0;

	if (o->has_endpoint_type)
		r->endpoint_type = o->pc.endpoint_type;
	if (o->has_allowed_ips)
		ret = copy_prefixes(&r->client_allowed_ips, &o->allowed_ips);
	if (!ret && o->has_dns) {
		r->has_client_dns = !o->reset_dns;
		ret = copy_dns(&r->client_dns, &o->dns);
	}
	if (o->has_keepalive) {
		r->has_client_keepalive = !o->reset_keepalive;
		r->client_keepalive = o->pc.keepalive;
	}
	return ret;
}

static void key_b64(char out[WEFT_KEY_B64_LEN + 1], const uint8_t key[32])
{
	key_to_base64(out, key);
}

/* "alice" or the key, for messages. */
static const char *peer_label(struct peer_ctx *c, const uint8_t key[32], char buf[WEFT_KEY_B64_LEN + 1])
{
	const struct peer_record *r = store_record(&c->st, key);

	if (r && r->name)
		return r->name;
	key_b64(buf, key);
	return buf;
}

/* A peer name: the documented set, not something that reads as a key, and
 * not starting with '-': config, set, rename, disable and enable take a
 * leading '-' for an option, so such a peer could not be named to them. */
static bool name_ok(const char *name, const char *what)
{
	uint8_t k[32];

	if (store_name_valid(name) && name[0] != '-' && !key_from_base64(k, name))
		return true;
	fprintf(stderr, "%s: %s: `%s' is not a valid peer name (1-%d of letters, digits and -_.@, "
		"not starting with -)\n", prog_name, what, name, CONF_NAME_MAX);
	return false;
}

static unsigned family_bits(uint8_t family)
{
	return family == AF_INET ? IPV4_BITS : IPV6_BITS;
}

/* ---- output ---- */

/* The config the peer imports, into *text (free it with conf_text_free).
 * priv is the peer's private key when weft knows it, psk its preshared
 * key. false (reported) when the interface leaves a gap, such as no
 * public address. */
static bool render(const struct peer_ctx *c, struct render_opts *o, const uint8_t server_pub[WG_KEY_LEN],
		   const struct conf_prefix_list *addrs, const uint8_t pub[WG_KEY_LEN],
		   const uint8_t *priv, const uint8_t *psk, char **text, size_t *len)
{
	char err[CONF_ERR_LEN], fallback[INET6_ADDRSTRLEN];

	o->pc.running_port = c->dev ? c->dev->listen_port : 0;
	o->pc.preshared_key = psk;
	o->pc.fallback_host = peer_config_has_host(&c->st.conf, o->pc.endpoint_type) ? NULL :
			      public_address_fallback(c->iface, o->pc.endpoint_type, fallback);
	if (peer_config_render(&c->st.conf, server_pub, addrs, pub, priv, &o->pc, text, len, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s: %s: %s (%s)\n", prog_name, c->iface, err, c->path);
		return false;
	}
	return true;
}

/* The config as text on stdout, or as a QR code with --qr, under a line
 * naming the peer and its addresses (a code alone says nothing). */
static bool emit(const char *text, size_t len, const struct render_opts *o, bool has_key,
		 const char *label, const struct conf_prefix_list *addrs)
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
	printf("%s:", label);
	for (uint32_t i = 0; i < addrs->n; i++) {
		char a[CONF_PREFIX_STRLEN];

		conf_prefix_format(a, &addrs->v[i]);
		printf("%s %s", i ? "," : "", a);
	}
	printf("\n");
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

/* pub is not of small order: X25519 of any scalar with it is not all
 * zeros (the scalar, a throwaway one, is a multiple of the cofactor). */
static bool key_can_handshake(const uint8_t pub[WG_KEY_LEN])
{
	uint8_t priv[WG_KEY_LEN], shared[WG_KEY_LEN];
	bool ok = generate_private_key(priv) && x25519(shared, priv, pub);

	memzero(priv, sizeof(priv));
	memzero(shared, sizeof(shared));
	return ok;
}

static int peer_add(int argc, char *argv[])
{
	const char *iface = argv[1], *name = NULL, *pubarg = NULL, *expires = NULL, *v;
	uint8_t pub[WG_KEY_LEN], priv[WG_KEY_LEN], psk[WG_KEY_LEN], server_pub[WG_KEY_LEN];
	struct conf_prefix_list addrs = { 0 };
	bool generate = false, no_psk = false, key_written = false, saved = false, png_written = false;
	char *text = NULL, b64[WEFT_KEY_B64_LEN + 1];
	struct render_opts o;
	struct peer_pools pools = { 0 };
	struct conf_peer np;
	struct peer_record *rec;
	struct peer_ctx c;
	int64_t now = time(NULL), exp = 0;
	size_t len = 0;
	int ret, status = 1;

	memset(&np, 0, sizeof(np));
	memset(&c, 0, sizeof(c));
	render_opts_init(&o);
	for (int i = 2; i < argc; i++) {
		int r = take_render_option(argc, argv, &i, &o, true);

		if (r < 0)
			goto out;
		if (r)
			continue;
		if (!strcmp(argv[i], "--generate-key")) {
			generate = true;
		} else if (!strcmp(argv[i], "--no-psk")) {
			no_psk = true;
		} else if (take_option(argc, argv, &i, "--public-key", &v)) {
			if (!v)
				goto out;
			pubarg = v;
		} else if (take_option(argc, argv, &i, "--name", &v)) {
			if (!v)
				goto out;
			name = v;
		} else if (take_option(argc, argv, &i, "--expires", &v)) {
			if (!v)
				goto out;
			expires = v;
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
	if (pubarg && !key_can_handshake(pub)) {
		fprintf(stderr, "%s: --public-key: `%s' is a point of small order (such as all zeros): no "
			"handshake can complete with it\n", prog_name, pubarg);
		goto out;
	}
	if ((name && !name_ok(name, "--name")) || (expires && !peer_expiry_parse(expires, now, &exp)))
		goto out;
	/* the device only says which keys and addresses are taken */
	if (!peer_ctx_open(&c, iface, PEER_CTX_LOCK | PEER_CTX_NEED_CONF | PEER_CTX_DEVICE_BRIEF))
		goto out;
	if (!pubarg) {
		if (!generate_private_key(priv) || !x25519_public(pub, priv)) {
			fprintf(stderr, "%s: cannot generate a key: %s\n", prog_name, strerror(errno));
			goto out;
		}
		generate = true;
	}
	if (store_record(&c.st, pub) || store_conf_peer(&c.st, pub) || peer_ctx_dev_peer(&c, pub)) {
		key_b64(b64, pub);
		fprintf(stderr, "%s: %s: peer %s already exists\n", prog_name, iface, b64);
		goto out;
	}
	if (name && store_record_by_name(&c.st, name)) {
		fprintf(stderr, "%s: %s: a peer named `%s' already exists\n", prog_name, iface, name);
		goto out;
	}
	if (!peer_ctx_server_key(&c, server_pub))
		goto out;
	if (memeq_ct(pub, server_pub, WG_KEY_LEN)) {
		/* the kernel module and weftd ignore such a peer without a word */
		fprintf(stderr, "%s: %s: --public-key: that is the interface's own public key\n", prog_name, iface);
		goto out;
	}

	/* The addresses: the lowest free one of every pool. */
	ret = peer_pools_build(&pools, &c);
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
	/* A preshared key per peer, as wg-easy gives one: a second secret
	 * that a future break of X25519 alone does not reveal. */
	if (!no_psk && !random_fill(psk, sizeof(psk))) {
		fprintf(stderr, "%s: getrandom: %s\n", prog_name, strerror(errno));
		goto out;
	}

	/* The config the peer imports, before anything changes: a gap in the
	 * interface's settings fails here and leaves everything as it was. */
	if (!render(&c, &o, server_pub, &addrs, pub, generate ? priv : NULL, no_psk ? NULL : psk, &text, &len))
		goto out;
	if (o.qr_png) {
		if (!write_png(o.qr_png, text))
			goto out;
		png_written = true;
	}

	/* Commit: key file, the store's files, the running device. */
	if (generate) {
		ret = peer_key_write(c.path, pub, priv);
		if (ret < 0) {
			fprintf(stderr, "%s: %s: cannot store the peer's private key: %s\n", prog_name, iface,
				strerror(-ret));
			goto out;
		}
		key_written = true;
	}
	memcpy(np.public_key, pub, WG_KEY_LEN);
	if (!no_psk) {
		np.has_preshared_key = true;
		memcpy(np.preshared_key, psk, WG_KEY_LEN);
	}
	np.allowed_ips = addrs;
	ret = store_peer_add(&c.st, &np, &rec);
	if (ret < 0)
		goto oom;
	rec->created = now;
	rec->expires = exp;
	if ((name && !(rec->name = strdup(name))) || opts_to_record(&o, rec) < 0)
		goto oom;
	if (!peer_ctx_save(&c))
		goto out;
	saved = true;
	ret = peer_ctx_dev_put(&c, store_conf_peer(&c.st, pub));
	if (ret < 0) {
		fprintf(stderr, "%s: %s: the running device refused the peer: %s\n", prog_name, iface,
			strerror(-ret));
		goto out;
	}
	status = emit(text, len, &o, generate, name ? name : (key_b64(b64, pub), b64), &addrs) ? 0 : 1;
	/* The peer is in place even if stdout failed: keep it (peer config
	 * prints it again). */
	saved = key_written = png_written = false;
	goto out;
oom:
	fprintf(stderr, "%s: out of memory\n", prog_name);
out:
	if (saved && (store_peer_remove(&c.st, pub) < 0 || !peer_ctx_save(&c)))
		fprintf(stderr, "%s: %s: could not undo the change\n", prog_name, iface);
	if (key_written)
		peer_key_remove(c.path, pub);
	if (png_written)
		unlink(o.qr_png);
	memzero(priv, sizeof(priv));
	memzero(psk, sizeof(psk));
	memzero(&np, sizeof(np));
	conf_text_free(text, len);
	peer_pools_free(&pools);
	free(addrs.v);
	render_opts_free(&o);
	peer_ctx_close(&c);
	return status;
}

/* ---- peer remove ---- */

static int peer_remove(int argc, char *argv[])
{
	uint8_t pub[WG_KEY_LEN];
	struct device *undo = NULL;
	const struct conf_peer *cp;
	struct peer_ctx c;
	bool on_dev, in_store;
	int ret, status = 1;

	memset(&c, 0, sizeof(c));
	if (argc != 3) {
		command_usage(stderr, "peer");
		return 1;
	}
	if (!peer_ctx_open(&c, argv[1], PEER_CTX_LOCK))
		goto out;
	if (!peer_ctx_find(&c, argv[2], pub)) {
		fprintf(stderr, "%s: %s: no peer `%s'\n", prog_name, c.iface, argv[2]);
		goto out;
	}
	on_dev = peer_ctx_dev_peer(&c, pub) != NULL;
	in_store = store_record(&c.st, pub) || store_conf_peer(&c.st, pub);
	/* what puts it back on the device if the files cannot be written */
	cp = store_conf_peer(&c.st, pub);
	if (on_dev && cp) {
		undo = device_new(c.iface);
		if (undo && device_peer_from_conf(undo, cp) < 0) {
			device_free(undo);
			undo = NULL;
		}
	}
	ret = peer_ctx_dev_drop(&c, pub);
	if (ret < 0) {
		fprintf(stderr, "%s: %s: the running device refused: %s\n", prog_name, c.iface, strerror(-ret));
		goto out;
	}
	if (in_store && (store_peer_remove(&c.st, pub) < 0 || !peer_ctx_save(&c))) {
		/* all or nothing */
		if (on_dev && (!undo || device_set(undo) < 0))
			fprintf(stderr, "%s: %s: could not put the peer back on the device\n", prog_name, c.iface);
		goto out;
	}
	peer_key_remove(c.path, pub);
	status = 0;
out:
	device_free(undo);
	peer_ctx_close(&c);
	return status;
}

/* ---- peer config ---- */

static int peer_config(int argc, char *argv[])
{
	uint8_t pub[WG_KEY_LEN], priv[WG_KEY_LEN], server_pub[WG_KEY_LEN];
	struct conf_prefix_list addrs = { 0 };
	const struct conf_peer *settings;
	const struct peer_record *rec;
	const char *which = NULL;
	char *text = NULL, b64[WEFT_KEY_B64_LEN + 1];
	struct render_opts o;
	bool have_key = false;
	struct peer_ctx c;
	size_t len = 0;
	int status = 1;

	memset(&c, 0, sizeof(c));
	render_opts_init(&o);
	for (int i = 2; i < argc; i++) {
		int r = take_render_option(argc, argv, &i, &o, true);

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
	if (!peer_ctx_open_peer(&c, argv[1], which, PEER_CTX_NEED_CONF | PEER_CTX_NO_DEVICE))
		goto out;
	/* The running device only fills in what the files lack: the server's
	 * key and the port peers reach. (A peer only on the device has no
	 * config to print.) */
	if ((!c.st.conf.iface.has_private_key ||
	     (!c.st.conf.weft.has_public_port && !c.st.conf.iface.listen_port)) &&
	    !peer_ctx_load_device(&c))
		goto out;
	if (!peer_ctx_find(&c, which, pub) || !(settings = store_peer_settings(&c.st, pub))) {
		fprintf(stderr, "%s: %s: no peer `%s' in %s\n", prog_name, c.iface, which, c.path);
		goto out;
	}
	rec = store_record(&c.st, pub);
	if (!rec || opts_from_record(&o, rec) < 0) {
		fprintf(stderr, "%s: out of memory\n", prog_name);
		goto out;
	}
	settings = store_peer_settings(&c.st, pub); /* store_record may have moved it */
	if (!peer_ctx_server_key(&c, server_pub))
		goto out;
	if (peer_addresses(&c.st.conf, &settings->allowed_ips, &addrs) < 0) {
		fprintf(stderr, "%s: out of memory\n", prog_name);
		goto out;
	}
	if (!addrs.n) {
		fprintf(stderr, "%s: %s: peer `%s' has no AllowedIPs inside the interface's Address networks\n",
			prog_name, c.iface, which);
		goto out;
	}
	have_key = peer_key_read(c.path, pub, priv);
	if (!render(&c, &o, server_pub, &addrs, pub, have_key ? priv : NULL,
		    settings->has_preshared_key ? settings->preshared_key : NULL, &text, &len))
		goto out;
	if (o.qr_png && !write_png(o.qr_png, text))
		goto out;
	if (!rec->enabled)
		fprintf(stderr, "%s: note: peer `%s' is disabled; `%s peer enable %s %s' lets it in again\n",
			prog_name, which, prog_name, c.iface, which);
	status = emit(text, len, &o, have_key, rec->name ? rec->name : (key_b64(b64, pub), b64), &addrs) ? 0 : 1;
out:
	memzero(priv, sizeof(priv));
	conf_text_free(text, len);
	free(addrs.v);
	render_opts_free(&o);
	peer_ctx_close(&c);
	return status;
}

/* ---- peer set, rename ---- */

static int peer_set(int argc, char *argv[])
{
	const char *which = NULL, *expires = NULL, *v;
	struct peer_record *rec;
	struct render_opts o;
	struct peer_ctx c;
	uint8_t pub[WG_KEY_LEN];
	int64_t exp = 0;
	int status = 1, roaming = -1;

	memset(&c, 0, sizeof(c));
	render_opts_init(&o);
	for (int i = 2; i < argc; i++) {
		int r = take_render_option(argc, argv, &i, &o, false);

		if (r < 0)
			goto out;
		if (r)
			continue;
		if (take_option(argc, argv, &i, "--expires", &v)) {
			if (!v)
				goto out;
			expires = v;
		} else if (take_option(argc, argv, &i, "--roaming", &v)) {
			/* `weft link' manages the peer even with a static Endpoint */
			if (!v)
				goto out;
			if (strcmp(v, "on") && strcmp(v, "off")) {
				fprintf(stderr, "%s: --roaming: `%s' is not on or off\n", prog_name, v);
				goto out;
			}
			roaming = !strcmp(v, "on") ? 1 : 0;
		} else if (which || argv[i][0] == '-') {
			fprintf(stderr, "%s: unexpected `%s'\n", prog_name, argv[i]);
			command_usage(stderr, "peer");
			goto out;
		} else {
			which = argv[i];
		}
	}
	if (!which || (!o.has_endpoint_type && !o.has_allowed_ips && !o.has_dns && !o.has_keepalive && !expires &&
		       roaming < 0)) {
		fprintf(stderr, "%s: peer set: which peer, and what to change?\n", prog_name);
		command_usage(stderr, "peer");
		goto out;
	}
	if (expires && !peer_expiry_parse(expires, time(NULL), &exp))
		goto out;
	if (!peer_ctx_open(&c, argv[1], PEER_CTX_LOCK | PEER_CTX_NEED_CONF | PEER_CTX_NO_DEVICE))
		goto out;
	if (store_lookup(&c.st, which, pub) < 0 || !(rec = store_record(&c.st, pub))) {
		fprintf(stderr, "%s: %s: no peer `%s' in %s\n", prog_name, c.iface, which, c.path);
		goto out;
	}
	if (opts_to_record(&o, rec) < 0) {
		fprintf(stderr, "%s: out of memory\n", prog_name);
		goto out;
	}
	if (expires)
		rec->expires = exp;
	if (roaming >= 0)
		rec->roaming = roaming;
	status = peer_ctx_save(&c) ? 0 : 1;
out:
	render_opts_free(&o);
	peer_ctx_close(&c);
	return status;
}

static int peer_rename(int argc, char *argv[])
{
	uint8_t pub[WG_KEY_LEN];
	struct peer_ctx c;
	int ret, status = 1;

	memset(&c, 0, sizeof(c));
	if (argc != 4 || argv[2][0] == '-' || argv[3][0] == '-') {
		command_usage(stderr, "peer");
		return 1;
	}
	if (!name_ok(argv[3], "peer rename"))
		return 1;
	if (!peer_ctx_open(&c, argv[1], PEER_CTX_LOCK | PEER_CTX_NEED_CONF | PEER_CTX_NO_DEVICE))
		goto out;
	if (store_lookup(&c.st, argv[2], pub) < 0) {
		fprintf(stderr, "%s: %s: no peer `%s' in %s\n", prog_name, c.iface, argv[2], c.path);
		goto out;
	}
	ret = store_peer_rename(&c.st, pub, argv[3]);
	if (ret == -EEXIST)
		fprintf(stderr, "%s: %s: a peer named `%s' already exists\n", prog_name, c.iface, argv[3]);
	else if (ret < 0)
		fprintf(stderr, "%s: %s: %s\n", prog_name, c.iface, strerror(-ret));
	else
		status = peer_ctx_save(&c) ? 0 : 1;
out:
	peer_ctx_close(&c);
	return status;
}

/* ---- peer disable, enable, expire ---- */

/* Takes the peers keys[0..n) out of IFACE.conf and off the running device
 * (their records keep everything); the files first, so that a device that
 * refuses leaves them disabled where it counts at the next start. */
static bool disable_peers(struct peer_ctx *c, const uint8_t (*keys)[WG_KEY_LEN], size_t n)
{
	bool ok = true;
	int ret = store_peers_disable(&c->st, keys, n);

	if (ret < 0) {
		fprintf(stderr, "%s: %s: %s\n", prog_name, c->iface, strerror(-ret));
		return false;
	}
	if (n && !peer_ctx_save(c))
		return false;
	for (size_t i = 0; i < n; i++) {
		ret = peer_ctx_dev_drop(c, keys[i]);
		if (ret < 0) {
			char b64[WEFT_KEY_B64_LEN + 1];

			key_b64(b64, keys[i]);
			fprintf(stderr, "%s: %s: the running device still has %s: %s\n", prog_name, c->iface, b64,
				strerror(-ret));
			ok = false;
		}
	}
	return ok;
}

static int peer_disable_enable(int argc, char *argv[], bool enable)
{
	uint8_t pub[WG_KEY_LEN];
	char b64[WEFT_KEY_B64_LEN + 1], when[WEFT_TIME_STRLEN];
	const struct peer_record *rec;
	struct peer_ctx c;
	int ret, status = 1;

	memset(&c, 0, sizeof(c));
	if (argc != 3 || argv[2][0] == '-') {
		command_usage(stderr, "peer");
		return 1;
	}
	if (!peer_ctx_open(&c, argv[1], PEER_CTX_LOCK | PEER_CTX_NEED_CONF))
		goto out;
	if (store_lookup(&c.st, argv[2], pub) < 0) {
		fprintf(stderr, "%s: %s: no peer `%s' in %s\n", prog_name, c.iface, argv[2], c.path);
		goto out;
	}
	rec = store_record(&c.st, pub);
	if (!rec) {
		fprintf(stderr, "%s: out of memory\n", prog_name);
		goto out;
	}
	if (!enable) {
		if (!rec->enabled) {
			fprintf(stderr, "%s: %s: peer `%s' is disabled already\n", prog_name, c.iface, argv[2]);
			status = 0;
			goto out;
		}
		status = disable_peers(&c, (const uint8_t (*)[WG_KEY_LEN])&pub, 1) ? 0 : 1;
		goto out;
	}
	if (rec->enabled) {
		fprintf(stderr, "%s: %s: peer `%s' is enabled already\n", prog_name, c.iface, argv[2]);
		status = 0;
		goto out;
	}
	if (rec->expires && rec->expires <= time(NULL)) {
		weft_time_format(when, rec->expires);
		fprintf(stderr, "%s: %s: peer `%s' expired at %s; give it a new time first "
			"(`%s peer set %s %s --expires DATE|DURATION|never')\n", prog_name, c.iface, argv[2], when,
			prog_name, c.iface, argv[2]);
		goto out;
	}
	ret = store_peer_enable(&c.st, pub);
	if (ret < 0) {
		fprintf(stderr, "%s: %s: %s\n", prog_name, c.iface, strerror(-ret));
		goto out;
	}
	if (!peer_ctx_save(&c))
		goto out;
	ret = peer_ctx_dev_put(&c, store_conf_peer(&c.st, pub));
	if (ret < 0) {
		fprintf(stderr, "%s: %s: the running device refused %s: %s; it stays disabled\n", prog_name,
			c.iface, peer_label(&c, pub, b64), strerror(-ret));
		if (store_peer_disable(&c.st, pub) < 0 || !peer_ctx_save(&c))
			fprintf(stderr, "%s: %s: could not undo the change\n", prog_name, c.iface);
		goto out;
	}
	status = 0;
out:
	peer_ctx_close(&c);
	return status;
}

/* `peer expire IFACE`: every enabled peer whose time has come is disabled;
 * one line each on stdout. Run from a timer; nothing to do is success. */
static int peer_expire(int argc, char *argv[])
{
	uint8_t (*keys)[WG_KEY_LEN] = NULL;
	int64_t now = time(NULL);
	struct peer_ctx c;
	size_t n = 0;
	int status = 1;

	memset(&c, 0, sizeof(c));
	if (argc != 2) {
		command_usage(stderr, "peer");
		return 1;
	}
	if (!peer_ctx_open(&c, argv[1], PEER_CTX_LOCK | PEER_CTX_NEED_CONF))
		goto out;
	keys = calloc((size_t)c.st.w.n + 1, sizeof(*keys));
	if (!keys) {
		fprintf(stderr, "%s: out of memory\n", prog_name);
		goto out;
	}
	for (uint32_t i = 0; i < c.st.w.n; i++) {
		const struct peer_record *r = &c.st.w.recs[i];

		if (r->enabled && r->expires && r->expires <= now)
			memcpy(keys[n++], r->public_key, WG_KEY_LEN);
	}
	if (!disable_peers(&c, (const uint8_t (*)[WG_KEY_LEN])keys, n))
		goto out;
	for (size_t i = 0; i < n; i++) {
		const struct peer_record *r = store_record(&c.st, keys[i]);
		char b64[WEFT_KEY_B64_LEN + 1], when[WEFT_TIME_STRLEN];

		weft_time_format(when, r ? r->expires : 0);
		printf("%s: disabled %s (expired %s)\n", c.iface, peer_label(&c, keys[i], b64), when);
	}
	status = 0;
out:
	free(keys);
	peer_ctx_close(&c);
	return status;
}

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
	uint8_t key[WG_KEY_LEN];
	const struct peer_record *rec;           /* NULL: not in the store */
	const struct conf_prefix_list *conf_ips; /* NULL: not in the store */
	const struct dev_peer *dp;               /* NULL: not on the device */
	char *ips;                               /* "10.0.0.2/32, fd00::2/128" */
};

/* "enabled", "disabled", "expired" (not yet disabled by `peer expire`),
 * "until 2027-01-31", or "not in config" for a peer only the device has. */
static void row_status(char *out, size_t size, const struct row *r, int64_t now)
{
	char when[WEFT_TIME_STRLEN];

	if (!r->rec)
		snprintf(out, size, "not in config");
	else if (!r->rec->enabled)
		snprintf(out, size, "disabled");
	else if (r->rec->expires && r->rec->expires <= now)
		snprintf(out, size, "expired");
	else if (r->rec->expires) {
		weft_time_format(when, r->rec->expires);
		snprintf(out, size, "until %.10s", when);
	} else
		snprintf(out, size, "enabled");
}

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

	if (!r->conf_ips && !r->dp) {
		r->ips = strdup("-");
		return r->ips != NULL;
	}
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

static json_t *row_json(const struct peer_ctx *c, const struct row *r, const char *b64)
{
	json_t *o = json_object(), *ipa = json_array();
	const struct dev_peer *dp = r->dp;
	char when[WEFT_TIME_STRLEN];

	for (size_t j = 0; (r->conf_ips || dp) && j < row_n_ips(r); j++) {
		char ip[CONF_PREFIX_STRLEN];

		row_ip(ip, r, j);
		json_array_append_new(ipa, json_string(ip));
	}
	json_object_set_new(o, "name", r->rec && r->rec->name ? json_string(r->rec->name) : json_null());
	json_object_set_new(o, "public_key", json_string(b64));
	json_object_set_new(o, "allowed_ips", ipa);
	json_object_set_new(o, "in_config", json_boolean(r->rec != NULL));
	json_object_set_new(o, "enabled", json_boolean(!r->rec || r->rec->enabled));
	if (r->rec && r->rec->created) {
		weft_time_format(when, r->rec->created);
		json_object_set_new(o, "created", json_string(when));
	} else {
		json_object_set_new(o, "created", json_null());
	}
	if (r->rec && r->rec->expires) {
		weft_time_format(when, r->rec->expires);
		json_object_set_new(o, "expires", json_string(when));
	} else {
		json_object_set_new(o, "expires", json_null());
	}
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

/* `peer list`: every peer of the store (enabled ones in config order, then
 * disabled ones) and every one only the device has; a header even when
 * there is none. Lookups are hashed or sorted: O(n log n) for n peers. */
static int peer_list(int argc, char *argv[])
{
	bool json = take_flag(&argc, argv, "--json");
	struct row *rows = NULL;
	size_t n = 0, name_w = 4, ips_w = 9, st_w = 6;
	time_t now = time(NULL);
	json_t *arr = NULL;
	struct peer_ctx c;
	int status = 1;

	memset(&c, 0, sizeof(c));
	if (argc != 2) {
		command_usage(stderr, "peer");
		return 1;
	}
	if (!peer_ctx_open(&c, argv[1], PEER_CTX_READ_ONLY))
		goto out;
	/* every peer of the config gets its record now, so none moves later */
	for (uint32_t i = 0; i < c.st.conf.n_peers; i++)
		if (!store_record(&c.st, c.st.conf.peers[i].public_key))
			goto oom;
	rows = calloc((size_t)c.st.conf.n_peers + c.st.w.n + (c.dev ? c.dev->n_peers : 0) + 1, sizeof(*rows));
	if (!rows)
		goto oom;
	for (uint32_t i = 0; i < c.st.conf.n_peers; i++, n++) {
		memcpy(rows[n].key, c.st.conf.peers[i].public_key, WG_KEY_LEN);
		rows[n].rec = store_record(&c.st, rows[n].key);
		rows[n].conf_ips = &c.st.conf.peers[i].allowed_ips;
		rows[n].dp = peer_ctx_dev_peer(&c, rows[n].key);
	}
	for (uint32_t i = 0; i < c.st.w.n; i++) {
		const struct peer_record *r = &c.st.w.recs[i];

		if (r->enabled)
			continue;
		memcpy(rows[n].key, r->public_key, WG_KEY_LEN);
		rows[n].rec = r;
		rows[n].conf_ips = &r->held.allowed_ips;
		rows[n].dp = peer_ctx_dev_peer(&c, r->public_key);
		n++;
	}
	for (size_t i = 0; c.dev && i < c.dev->n_peers; i++) {
		if (store_record(&c.st, c.dev->peers[i].public_key))
			continue;
		memcpy(rows[n].key, c.dev->peers[i].public_key, WG_KEY_LEN);
		rows[n++].dp = &c.dev->peers[i];
	}
	for (size_t i = 0; i < n; i++) {
		char st[32];

		if (!row_format_ips(&rows[i]))
			goto oom;
		row_status(st, sizeof(st), &rows[i], now);
		if (rows[i].rec && rows[i].rec->name && strlen(rows[i].rec->name) > name_w)
			name_w = strlen(rows[i].rec->name);
		if (strlen(rows[i].ips) > ips_w)
			ips_w = strlen(rows[i].ips);
		if (strlen(st) > st_w)
			st_w = strlen(st);
	}
	if (json)
		arr = json_array();
	else if (c.dev)
		printf("%-*s  %-44s  %-*s  %-*s  %-16s  %s\n", (int)name_w, "NAME", "PUBLIC KEY", (int)ips_w,
		       "ADDRESSES", (int)st_w, "STATUS", "LATEST HANDSHAKE", "TRANSFER (RX / TX)");
	else
		printf("%-*s  %-44s  %-*s  %s\n", (int)name_w, "NAME", "PUBLIC KEY", (int)ips_w, "ADDRESSES",
		       "STATUS (not running)");
	for (size_t i = 0; i < n; i++) {
		char b64[WEFT_KEY_B64_LEN + 1], hs[32] = "-", rx[24] = "-", tx[24] = "-", st[32];
		const struct dev_peer *dp = rows[i].dp;
		const char *nm = rows[i].rec && rows[i].rec->name ? rows[i].rec->name : "-";

		key_b64(b64, rows[i].key);
		if (json) {
			json_array_append_new(arr, row_json(&c, &rows[i], b64));
			continue;
		}
		row_status(st, sizeof(st), &rows[i], now);
		if (!c.dev) {
			printf("%-*s  %-44s  %-*s  %s\n", (int)name_w, nm, b64, (int)ips_w, rows[i].ips, st);
			continue;
		}
		if (dp) {
			format_ago(hs, sizeof(hs), dp->last_handshake_sec, now);
			format_bytes(rx, sizeof(rx), dp->rx_bytes);
			format_bytes(tx, sizeof(tx), dp->tx_bytes);
		}
		printf("%-*s  %-44s  %-*s  %-*s  %-16s  %s / %s\n", (int)name_w, nm, b64, (int)ips_w, rows[i].ips,
		       (int)st_w, st, hs, rx, tx);
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
	peer_ctx_close(&c);
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
	if (!strcmp(sub, "set"))
		return peer_set(argc - 1, argv + 1);
	if (!strcmp(sub, "rename"))
		return peer_rename(argc - 1, argv + 1);
	if (!strcmp(sub, "disable"))
		return peer_disable_enable(argc - 1, argv + 1, false);
	if (!strcmp(sub, "enable"))
		return peer_disable_enable(argc - 1, argv + 1, true);
	if (!strcmp(sub, "expire"))
		return peer_expire(argc - 1, argv + 1);
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
	heap_prepare(); /* whole stores are read and written */
	ret = peer_command(argc, argv);
	if (fflush(stdout) && !ret) {
		perror("write");
		ret = 1;
	}
	memzero(outbuf, sizeof(outbuf));
	return ret;
}
