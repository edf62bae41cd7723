/* cmd_conf.c: configuration files against a running device, as wg(8) does
 * it: `showconf` prints one (byte for byte wg's output; --json for scripts),
 * `setconf` makes the device exactly the file, `addconf` adds the file to
 * it, and `syncconf` makes it the file while touching only what differs, so
 * unchanged peers keep their sessions. Files are parsed by src/conf in its
 * setconf form (no wg-quick keys, no [Weft]). */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "conf/conf.h"
#include "conf_change.h"
#include "device.h"
#include "json_out.h"
#include "options.h"
#include "usage.h"
#include "util/encoding.h"
#include "util/fd_io.h"

/* ---- showconf ---- */

static void showconf_text(const struct device *dev)
{
	char b64[WEFT_KEY_B64_LEN + 1];

	printf("[Interface]\n");
	if (dev->listen_port)
		printf("ListenPort = %u\n", dev->listen_port);
	if (dev->fwmark)
		printf("FwMark = 0x%x\n", dev->fwmark);
	if (dev->flags & DEV_HAS_PRIVATE_KEY) {
		key_to_base64(b64, dev->private_key);
		printf("PrivateKey = %s\n", b64);
	}
	printf("\n");
	for (size_t i = 0; i < dev->n_peers; i++) {
		const struct dev_peer *p = &dev->peers[i];

		key_to_base64(b64, p->public_key);
		printf("[Peer]\nPublicKey = %s\n", b64);
		if (p->flags & PEER_HAS_PRESHARED_KEY) {
			key_to_base64(b64, p->preshared_key);
			printf("PresharedKey = %s\n", b64);
		}
		if (p->n_allowedips)
			printf("AllowedIPs = ");
		for (size_t j = 0; j < p->n_allowedips; j++) {
			char addr[INET6_ADDRSTRLEN];

			if (!dev_allowedip_addr(addr, &p->allowedips[j]))
				continue;
			printf("%s/%u%s", addr, p->allowedips[j].cidr, j + 1 < p->n_allowedips ? ", " : "");
		}
		if (p->n_allowedips)
			printf("\n");
		if (device_has_endpoint(p)) {
			char ep[DEV_ENDPOINT_STRLEN];

			if (dev_endpoint_format(ep, sizeof(ep), &p->endpoint))
				printf("Endpoint = %s\n", ep);
		}
		if (p->persistent_keepalive)
			printf("PersistentKeepalive = %u\n", p->persistent_keepalive);
		if (i + 1 < dev->n_peers)
			printf("\n");
	}
	memzero(b64, sizeof(b64));
}

/* jansson's own copies of the key strings go back through this, so that
 * they are wiped before the allocator reuses them. */
static void json_free_wiped(void *p)
{
	if (p)
		memzero(p, malloc_usable_size(p));
	free(p);
}

static json_t *key_or_null(const uint8_t key[WG_KEY_LEN], bool have)
{
	char b64[WEFT_KEY_B64_LEN + 1];
	json_t *s;

	if (!have)
		return json_null();
	key_to_base64(b64, key);
	s = json_string(b64);
	memzero(b64, sizeof(b64));
	return s;
}

/* {"name", "private_key", "public_key", "listen_port", "fwmark", "peers":
 * [{"public_key", "preshared_key", "endpoint", "allowed_ips",
 * "persistent_keepalive"}]}: keys as base64 or null, like the text form.
 * Asked for explicitly, so keys are included. */
static int showconf_json(const struct device *dev)
{
	json_t *peers = json_array(), *root;

	for (size_t i = 0; i < dev->n_peers; i++) {
		const struct dev_peer *p = &dev->peers[i];
		json_t *ips = json_array();
		char ep[DEV_ENDPOINT_STRLEN];

		for (size_t j = 0; j < p->n_allowedips; j++) {
			char addr[INET6_ADDRSTRLEN], s[INET6_ADDRSTRLEN + 8];

			if (!dev_allowedip_addr(addr, &p->allowedips[j]))
				continue;
			snprintf(s, sizeof(s), "%s/%u", addr, p->allowedips[j].cidr);
			json_array_append_new(ips, json_string(s));
		}
		json_array_append_new(peers, json_pack("{s:o, s:o, s:o, s:o, s:i}",
			"public_key", key_or_null(p->public_key, true),
			"preshared_key", key_or_null(p->preshared_key, p->flags & PEER_HAS_PRESHARED_KEY),
			"endpoint", device_has_endpoint(p) && dev_endpoint_format(ep, sizeof(ep), &p->endpoint)
				    ? json_string(ep) : json_null(),
			"allowed_ips", ips,
			"persistent_keepalive", (int)p->persistent_keepalive));
	}
	root = json_pack("{s:s, s:o, s:o, s:i, s:I, s:o}",
			 "name", dev->name,
			 "private_key", key_or_null(dev->private_key, dev->flags & DEV_HAS_PRIVATE_KEY),
			 "public_key", key_or_null(dev->public_key, dev->flags & DEV_HAS_PUBLIC_KEY),
			 "listen_port", (int)dev->listen_port,
			 "fwmark", (json_int_t)dev->fwmark,
			 "peers", peers);
	/* jansson keeps its copies of the key strings until print_json
	 * frees root, which wipes them (json_free_wiped). */
	return print_json(root);
}

int cmd_showconf(int argc, char *argv[])
{
	/* stdout's buffer will hold the private key: make it one we can wipe. */
	static char outbuf[BUFSIZ];
	bool json = take_flag(&argc, argv, "--json");
	struct device *dev;
	int err, ret;

	if (argc != 2) {
		command_usage(stderr, argv[0]);
		return 1;
	}
	err = device_get(&dev, argv[1]);
	if (err < 0) {
		fprintf(stderr, "Unable to access interface %s: %s\n", argv[1], strerror(-err));
		return 1;
	}
	setvbuf(stdout, outbuf, isatty(STDOUT_FILENO) ? _IOLBF : _IOFBF, sizeof(outbuf));
	if (json) {
		json_set_alloc_funcs(malloc, json_free_wiped);
		ret = showconf_json(dev);
	} else {
		showconf_text(dev);
		ret = 0;
	}
	if (fflush(stdout)) {
		perror("write");
		ret = 1;
	}
	memzero(outbuf, sizeof(outbuf));
	device_free(dev);
	return ret;
}

/* ---- reading a file into a device change ---- */

/* The whole of path (a pipe such as wg-quick's <(...) works too) into a
 * fresh buffer that the caller frees with conf_text_free. */
static char *read_file(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), e;
	char *buf;

	if (fd < 0) {
		fprintf(stderr, "Unable to open configuration file `%s': %s\n", path, strerror(errno));
		return NULL;
	}
	e = fd_read_all(fd, CONF_MAX_FILE_SIZE, &buf, len);
	close(fd);
	if (e == -E2BIG)
		fprintf(stderr, "%s: larger than %u bytes\n", path, CONF_MAX_FILE_SIZE);
	else if (e == -ENOMEM)
		fprintf(stderr, "%s: %s\n", path, strerror(ENOMEM));
	else if (e < 0)
		fprintf(stderr, "Unable to read configuration file `%s': %s\n", path, strerror(-e));
	return e < 0 ? NULL : buf;
}

/* ---- syncconf: the minimal change from what runs to what the file says ---- */

static const struct dev_peer *sort_peers;

static int cmp_peer_index(const void *a, const void *b)
{
	return memcmp(sort_peers[*(const size_t *)a].public_key, sort_peers[*(const size_t *)b].public_key,
		      WG_KEY_LEN);
}

/* Indices of peers[0..n) in public-key order. NULL on ENOMEM. */
static size_t *sorted_by_key(const struct dev_peer *peers, size_t n)
{
	size_t *v = calloc(n ? n : 1, sizeof(*v));

	if (!v)
		return NULL;
	for (size_t i = 0; i < n; i++)
		v[i] = i;
	sort_peers = peers;
	qsort(v, n, sizeof(*v), cmp_peer_index);
	return v;
}

static int cmp_allowedip(const void *x, const void *y)
{
	const struct dev_allowedip *a = x, *b = y;

	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	if (a->cidr != b->cidr)
		return a->cidr < b->cidr ? -1 : 1;
	return memcmp(a->family == AF_INET ? (const void *)&a->ip4 : (const void *)&a->ip6,
		      b->family == AF_INET ? (const void *)&b->ip4 : (const void *)&b->ip6,
		      a->family == AF_INET ? 4 : 16);
}

/* The set of prefixes the backend would hold: host bits masked, sorted,
 * duplicates dropped. *n is updated. NULL on ENOMEM. */
static struct dev_allowedip *canonical_ips(const struct dev_allowedip *v, size_t *n)
{
	struct dev_allowedip *c = malloc((*n ? *n : 1) * sizeof(*c));
	size_t out = 0;

	if (!c)
		return NULL;
	for (size_t i = 0; i < *n; i++) {
		c[i] = v[i];
		c[i].flags = 0;
		dev_allowedip_mask(&c[i]);
	}
	qsort(c, *n, sizeof(*c), cmp_allowedip);
	for (size_t i = 0; i < *n; i++)
		if (!out || cmp_allowedip(&c[out - 1], &c[i]))
			c[out++] = c[i];
	*n = out;
	return c;
}

static int same_allowedips(const struct dev_peer *a, const struct dev_peer *b)
{
	size_t na = a->n_allowedips, nb = b->n_allowedips;
	struct dev_allowedip *ca = canonical_ips(a->allowedips, &na);
	struct dev_allowedip *cb = canonical_ips(b->allowedips, &nb);
	int same = -ENOMEM;

	if (ca && cb)
		same = na == nb && (!na || !memcmp(ca, cb, na * sizeof(*ca)));
	free(ca);
	free(cb);
	return same;
}

static bool same_endpoint(const union dev_endpoint *a, const union dev_endpoint *b)
{
	if (a->addr.sa_family != b->addr.sa_family)
		return false;
	if (a->addr.sa_family == AF_INET)
		return a->addr4.sin_port == b->addr4.sin_port &&
		       a->addr4.sin_addr.s_addr == b->addr4.sin_addr.s_addr;
	if (a->addr.sa_family == AF_INET6)
		return a->addr6.sin6_port == b->addr6.sin6_port &&
		       a->addr6.sin6_scope_id == b->addr6.sin6_scope_id &&
		       !memcmp(&a->addr6.sin6_addr, &b->addr6.sin6_addr, sizeof(a->addr6.sin6_addr));
	return true;
}

/* want: the file as a full peer entry; have: the running peer. Narrows want
 * to the fields that differ. false if nothing does. */
static int peer_diff(struct dev_peer *want, const struct dev_peer *have)
{
	uint8_t have_psk[WG_KEY_LEN] = { 0 };
	int same_ips;
	bool changed = false;

	/* A file without PresharedKey / PersistentKeepalive means none, as in
	 * current wg (1.0.20210914 left the running value in place). */
	if (have->flags & PEER_HAS_PRESHARED_KEY)
		memcpy(have_psk, have->preshared_key, WG_KEY_LEN);
	if (memeq_ct(want->preshared_key, have_psk, WG_KEY_LEN))
		want->flags &= ~PEER_HAS_PRESHARED_KEY;
	else {
		want->flags |= PEER_HAS_PRESHARED_KEY; /* zero clears it */
		changed = true;
	}
	memzero(have_psk, sizeof(have_psk));

	if (want->persistent_keepalive == have->persistent_keepalive)
		want->flags &= ~PEER_HAS_PERSISTENT_KEEPALIVE;
	else {
		want->flags |= PEER_HAS_PERSISTENT_KEEPALIVE;
		changed = true;
	}
	/* No Endpoint in the file leaves the current (perhaps roamed) one. */
	if (device_has_endpoint(want) && device_has_endpoint(have) && same_endpoint(&want->endpoint, &have->endpoint))
		memset(&want->endpoint, 0, sizeof(want->endpoint));
	else if (device_has_endpoint(want))
		changed = true;

	same_ips = same_allowedips(want, have);
	if (same_ips < 0)
		return same_ips;
	if (same_ips) {
		want->flags &= ~PEER_REPLACE_ALLOWEDIPS;
		want->n_allowedips = 0;
	} else
		changed = true;
	return changed;
}

/* Rebuilds want's peer list as: removals of have's peers listed in gone
 * (first, as wg sends them), then want's peers marked keep, in file order.
 * Dropped entries are wiped. One pass, so a million peers stay cheap. */
static int rebuild_peers(struct device *want, const bool *keep, const struct device *have,
			 const size_t *gone, size_t n_gone)
{
	size_t n = n_gone, out = 0;
	struct dev_peer *peers;

	for (size_t k = 0; k < want->n_peers; k++)
		n += keep[k];
	peers = calloc(n ? n : 1, sizeof(*peers));
	if (!peers)
		return -ENOMEM;
	for (size_t k = 0; k < n_gone; k++, out++) {
		memcpy(peers[out].public_key, have->peers[gone[k]].public_key, WG_KEY_LEN);
		peers[out].flags = PEER_HAS_PUBLIC_KEY | PEER_REMOVE_ME;
	}
	for (size_t k = 0; k < want->n_peers; k++) {
		if (keep[k])
			peers[out++] = want->peers[k];
		else
			free(want->peers[k].allowedips);
	}
	memzero(want->peers, want->cap_peers * sizeof(*want->peers));
	free(want->peers);
	want->peers = peers;
	want->n_peers = want->cap_peers = n;
	return 0;
}

/* Turns the setconf change `want` into the minimal one against `have`. */
static int sync_change(struct device *want, const struct device *have)
{
	size_t n_want = want->n_peers, n_have = have->n_peers, i = 0, j = 0, n_gone = 0;
	size_t *w = sorted_by_key(want->peers, n_want);
	size_t *h = sorted_by_key(have->peers, n_have);
	size_t *gone = calloc(n_have ? n_have : 1, sizeof(*gone));
	bool *keep = calloc(n_want ? n_want : 1, sizeof(*keep));
	uint8_t have_priv[WG_KEY_LEN] = { 0 };
	int ret = -ENOMEM;

	if (!w || !h || !gone || !keep)
		goto out;

	want->flags &= ~DEV_REPLACE_PEERS;
	if (have->flags & DEV_HAS_PRIVATE_KEY)
		memcpy(have_priv, have->private_key, WG_KEY_LEN);
	if (memeq_ct(want->private_key, have_priv, WG_KEY_LEN))
		want->flags &= ~DEV_HAS_PRIVATE_KEY;
	memzero(have_priv, sizeof(have_priv));
	if (want->fwmark == have->fwmark)
		want->flags &= ~DEV_HAS_FWMARK;
	/* Port 0 asks for a fresh random port, as wg's syncconf does. */
	if (want->listen_port && want->listen_port == have->listen_port)
		want->flags &= ~DEV_HAS_LISTEN_PORT;

	/* Walk both key-sorted lists: only in the file = add as written; in
	 * both = narrow to what differs; only running = remove. */
	while (i < n_want || j < n_have) {
		int c = i == n_want ? 1 : j == n_have ? -1 :
			memcmp(want->peers[w[i]].public_key, have->peers[h[j]].public_key, WG_KEY_LEN);

		if (c < 0) {
			keep[w[i++]] = true;
		} else if (c > 0) {
			gone[n_gone++] = h[j++];
		} else {
			int changed = peer_diff(&want->peers[w[i]], &have->peers[h[j]]);

			if (changed < 0)
				goto out;
			keep[w[i++]] = changed;
			j++;
		}
	}
	ret = rebuild_peers(want, keep, have, gone, n_gone);
out:
	free(w);
	free(h);
	free(gone);
	free(keep);
	return ret;
}

int cmd_setconf(int argc, char *argv[])
{
	char err[CONF_ERR_LEN];
	struct device *change = NULL, *have = NULL;
	struct conf conf;
	size_t len = 0;
	char *text;
	int ret = 1, e;

	if (argc != 3) {
		command_usage(stderr, argv[0]);
		return 1;
	}
	text = read_file(argv[2], &len);
	if (!text)
		return 1;
	e = conf_parse(&conf, text, len, argv[2], CONF_PARSE_SETCONF, err, sizeof(err));
	conf_text_free(text, len);
	if (e < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	change = file_change(&conf, argv[1], strcmp(argv[0], "addconf") != 0);
	conf_free(&conf);
	if (!change)
		return 1;

	if (!strcmp(argv[0], "syncconf")) {
		e = device_get(&have, change->name);
		if (e < 0) {
			fprintf(stderr, "Unable to retrieve current interface configuration of %s: %s\n",
				change->name, strerror(-e));
			goto out;
		}
		e = sync_change(change, have);
		if (e < 0) {
			fprintf(stderr, "%s: %s\n", argv[0], strerror(-e));
			goto out;
		}
		if (!change->flags && !change->n_peers) {
			ret = 0; /* already in sync */
			goto out;
		}
	}
	e = device_set(change);
	if (e < 0) {
		fprintf(stderr, "Unable to modify interface %s: %s\n", change->name, strerror(-e));
		goto out;
	}
	ret = 0;
out:
	device_free(have);
	device_free(change);
	return ret;
}
