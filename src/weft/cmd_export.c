/* cmd_export.c: `weft export IFACE [FILE]` and `weft import FILE` - an
 * interface and all its peers as one JSON document, keys included, so a
 * server can be moved or restored: what its wg-quick file, its IFACE.weft
 * records and its IFACE.peers/ private keys hold. Importing it on a fresh
 * machine and starting the interface gives the same `wg showconf` and the
 * same `peer list`.
 *
 *   { "format": "weft-export", "version": 1,
 *     "interface": { "name", "private_key", "listen_port", "fwmark",
 *       "addresses": [...], "dns": [...], "mtu", "table", "pre_up": [...],
 *       "post_up", "pre_down", "post_down", "save_config",
 *       "public_ipv4", "public_ipv6", "hostname", "public_port",
 *       "peer_dns": [...] },
 *     "peers": [ { "public_key", "private_key" (when weft generated it),
 *       "preshared_key", "allowed_ips": [...], "endpoint",
 *       "persistent_keepalive", "enabled", "name", "owner", "created",
 *       "expires", "endpoint_type", "client_allowed_ips": [...],
 *       "client_dns": [...] (empty: none), "client_keepalive" }, ... ] }
 *
 * Absent keys are unset. Import turns the document back into the text of
 * the two files and reads that with the files' own parsers, so it accepts
 * exactly what a config may say and its errors name the field. The
 * document is written 0600 and never through a symlink; jansson's copies
 * of keys are wiped when freed. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "commands.h"
#include "conf/conf.h"
#include "conf/store.h"
#include "conf/weftfile.h"
#include "conf_path.h"
#include "crypto/crypto.h"
#include "ifname.h"
#include "options.h"
#include "peer_keys.h"
#include "usage.h"
#include "util/atomic_file.h"
#include "util/encoding.h"
#include "util/fd_io.h"

#define FORMAT_NAME "weft-export"
#define FORMAT_VERSION 1
#define FILE_MODE 0600
#define MAX_DOCUMENT (CONF_MAX_FILE_SIZE)

static void json_free_wiped(void *p)
{
	if (p)
		memzero(p, malloc_usable_size(p));
	free(p);
}

/* ---- export ---- */

static json_t *key_json(const uint8_t key[CONF_KEY_LEN])
{
	char b64[WEFT_KEY_B64_LEN + 1];
	json_t *s;

	key_to_base64(b64, key);
	s = json_string(b64);
	memzero(b64, sizeof(b64));
	return s;
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

static json_t *dns_json(const struct conf_dns *d)
{
	json_t *a = json_array();
	char s[CONF_ADDR_STRLEN];

	for (uint32_t i = 0; i < d->servers.n; i++) {
		conf_addr_format(s, &d->servers.v[i]);
		json_array_append_new(a, json_string(s));
	}
	for (uint32_t i = 0; i < d->search.n; i++)
		json_array_append_new(a, json_string(d->search.v[i]));
	return a;
}

static json_t *strs_json(const struct conf_str_list *l)
{
	json_t *a = json_array();

	for (uint32_t i = 0; i < l->n; i++)
		json_array_append_new(a, json_string(l->v[i]));
	return a;
}

static json_t *time_json(int64_t t)
{
	char s[WEFT_TIME_STRLEN];

	weft_time_format(s, t);
	return json_string(s);
}

static json_t *interface_json(const char *iface, const struct conf *c)
{
	const struct conf_interface *i = &c->iface;
	const struct conf_weft *w = &c->weft;
	static const char *const hooks[CONF_HOOKS] = { "pre_up", "post_up", "pre_down", "post_down" };
	json_t *o = json_object();
	char a[CONF_ADDR_STRLEN];

	json_object_set_new(o, "name", json_string(iface));
	if (i->has_private_key)
		json_object_set_new(o, "private_key", key_json(i->private_key));
	if (i->has_listen_port)
		json_object_set_new(o, "listen_port", json_integer(i->listen_port));
	if (i->has_fwmark)
		json_object_set_new(o, "fwmark", json_integer(i->fwmark));
	json_object_set_new(o, "addresses", prefixes_json(&i->addresses));
	json_object_set_new(o, "dns", dns_json(&i->dns));
	if (i->has_mtu)
		json_object_set_new(o, "mtu", json_integer(i->mtu));
	switch (i->table.kind) {
	case CONF_TABLE_AUTO:
		json_object_set_new(o, "table", json_string("auto"));
		break;
	case CONF_TABLE_OFF:
		json_object_set_new(o, "table", json_string("off"));
		break;
	case CONF_TABLE_NUMBER:
		snprintf(a, sizeof(a), "%u", i->table.number);
		json_object_set_new(o, "table", json_string(a));
		break;
	case CONF_TABLE_NAME:
		json_object_set_new(o, "table", json_string(i->table.name));
		break;
	case CONF_TABLE_UNSET:
		break;
	}
	for (int h = 0; h < CONF_HOOKS; h++)
		if (i->hooks[h].n)
			json_object_set_new(o, hooks[h], strs_json(&i->hooks[h]));
	if (i->has_save_config)
		json_object_set_new(o, "save_config", json_boolean(i->save_config));
	if (w->has_public_ipv4) {
		conf_addr_format(a, &w->public_ipv4);
		json_object_set_new(o, "public_ipv4", json_string(a));
	}
	if (w->has_public_ipv6) {
		conf_addr_format(a, &w->public_ipv6);
		json_object_set_new(o, "public_ipv6", json_string(a));
	}
	if (w->hostname)
		json_object_set_new(o, "hostname", json_string(w->hostname));
	if (w->has_public_port)
		json_object_set_new(o, "public_port", json_integer(w->public_port));
	json_object_set_new(o, "peer_dns", dns_json(&w->peer_dns));
	return o;
}

/* One peer: its [Peer] settings p (from IFACE.conf, or held by a disabled
 * record) and its record r (NULL: none). */
static json_t *peer_json(const char *conf_path, const struct conf_peer *p, const struct peer_record *r)
{
	json_t *o = json_object();
	uint8_t priv[CONF_KEY_LEN];

	json_object_set_new(o, "public_key", key_json(p->public_key));
	if (peer_key_read(conf_path, p->public_key, priv))
		json_object_set_new(o, "private_key", key_json(priv));
	memzero(priv, sizeof(priv));
	if (p->has_preshared_key)
		json_object_set_new(o, "preshared_key", key_json(p->preshared_key));
	json_object_set_new(o, "allowed_ips", prefixes_json(&p->allowed_ips));
	if (p->endpoint.host) {
		char ep[CONF_ENDPOINT_STRLEN];

		conf_endpoint_format(ep, sizeof(ep), &p->endpoint);
		json_object_set_new(o, "endpoint", json_string(ep));
	}
	if (p->has_persistent_keepalive)
		json_object_set_new(o, "persistent_keepalive", json_integer(p->persistent_keepalive));
	json_object_set_new(o, "enabled", json_boolean(!r || r->enabled));
	if (!r)
		return o;
	if (r->name)
		json_object_set_new(o, "name", json_string(r->name));
	if (r->owner)
		json_object_set_new(o, "owner", json_string(r->owner));
	if (r->created)
		json_object_set_new(o, "created", time_json(r->created));
	if (r->expires)
		json_object_set_new(o, "expires", time_json(r->expires));
	if (r->endpoint_type)
		json_object_set_new(o, "endpoint_type", json_string(weft_endpoint_type_name(r->endpoint_type)));
	if (r->client_allowed_ips.n)
		json_object_set_new(o, "client_allowed_ips", prefixes_json(&r->client_allowed_ips));
	if (r->has_client_dns)
		json_object_set_new(o, "client_dns", dns_json(&r->client_dns));
	if (r->has_client_keepalive)
		json_object_set_new(o, "client_keepalive", json_integer(r->client_keepalive));
	return o;
}

/* A new file for the user: 0600, not through a symlink, not over an
 * existing file. -1 (reported) on failure. */
static int create_output(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, FILE_MODE);

	if (fd < 0) {
		fprintf(stderr, "%s: %s: %s\n", prog_name, path,
			errno == EEXIST ? "exists already (export writes a new file)" : strerror(errno));
		return -1;
	}
	if (fchmod(fd, FILE_MODE) < 0) { /* whatever the umask */
		fprintf(stderr, "%s: %s: %s\n", prog_name, path, strerror(errno));
		close(fd);
		unlink(path);
		return -1;
	}
	return fd;
}

int cmd_export(int argc, char *argv[])
{
	const char *iface, *out_path;
	char path[PATH_MAX], err[CONF_ERR_LEN], *text = NULL;
	json_t *root = NULL, *peers;
	struct store st;
	bool exists;
	int fd = -1, ret = 1;

	memset(&st, 0, sizeof(st));
	if (argc < 2 || argc > 3 || argv[1][0] == '-') {
		command_usage(stderr, "export");
		return 1;
	}
	iface = argv[1];
	out_path = argc == 3 && strcmp(argv[2], "-") ? argv[2] : NULL;
	if (!interface_name_valid(iface)) {
		fprintf(stderr, "%s: `%s' is not a valid interface name\n", prog_name, iface);
		return 1;
	}
	if (!iface_conf_path(path, sizeof(path), iface, &exists) || !exists) {
		fprintf(stderr, "%s: %s: no config file %s\n", prog_name, iface, path);
		return 1;
	}
	json_set_alloc_funcs(malloc, json_free_wiped);
	/* the lock: a snapshot no other weft process is halfway through */
	if (store_open(&st, path, STORE_LOCK, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s: %s\n", prog_name, err);
		goto out;
	}
	peers = json_array();
	for (uint32_t i = 0; i < st.conf.n_peers; i++) {
		const struct conf_peer *p = &st.conf.peers[i];

		json_array_append_new(peers, peer_json(path, p, store_record(&st, p->public_key)));
	}
	for (uint32_t i = 0; i < st.w.n; i++)
		if (!st.w.recs[i].enabled)
			json_array_append_new(peers, peer_json(path, &st.w.recs[i].held, &st.w.recs[i]));
	root = json_pack("{s:s, s:i, s:o, s:o}", "format", FORMAT_NAME, "version", FORMAT_VERSION,
			 "interface", interface_json(iface, &st.conf), "peers", peers);
	text = root ? json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
	if (!text) {
		fprintf(stderr, "%s: out of memory\n", prog_name);
		goto out;
	}
	fd = out_path ? create_output(out_path) : STDOUT_FILENO;
	if (fd < 0)
		goto out;
	if (fd_write_all(fd, text, strlen(text)) < 0 || fd_write_all(fd, "\n", 1) < 0 ||
	    (out_path && fsync(fd) < 0)) {
		fprintf(stderr, "%s: %s: cannot write: %s\n", prog_name, out_path ? out_path : "stdout", strerror(errno));
		if (out_path)
			unlink(out_path);
		goto out;
	}
	ret = 0;
out:
	if (fd >= 0 && out_path && close(fd) < 0 && !ret) {
		fprintf(stderr, "%s: %s: %s\n", prog_name, out_path, strerror(errno));
		ret = 1;
	}
	free(text); /* jansson's allocator: wiped */
	json_decref(root);
	store_close(&st);
	return ret;
}

/* ---- import ---- */

/* Text built from the document: a growing string that is wiped. */
struct text {
	char *buf;
	size_t len, cap;
	bool bad;          /* a value that cannot be one line of a file */
	char what[96];     /* the field that was bad */
};

static void text_free(struct text *t)
{
	if (t->buf)
		memzero(t->buf, t->cap);
	free(t->buf);
	memset(t, 0, sizeof(*t));
}

static void addf(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void addf(struct text *t, const char *fmt, ...)
{
	char line[CONF_MAX_LINE + 2];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line)) {
		t->bad = true;
		snprintf(t->what, sizeof(t->what), "a value too long for one line");
		memzero(line, sizeof(line));
		return;
	}
	if (t->len + (size_t)n + 1 > t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 4096;
		char *b;

		while (cap < t->len + (size_t)n + 1)
			cap *= 2;
		b = malloc(cap);
		if (!b) {
			t->bad = true;
			snprintf(t->what, sizeof(t->what), "out of memory");
			memzero(line, sizeof(line));
			return;
		}
		if (t->buf) {
			memcpy(b, t->buf, t->len);
			memzero(t->buf, t->cap);
			free(t->buf);
		}
		t->buf = b;
		t->cap = cap;
	}
	memcpy(t->buf + t->len, line, (size_t)n + 1);
	t->len += (size_t)n;
	memzero(line, sizeof(line));
}

/* A string value that can stand on one line ("" when absent or null).
 * Anything else marks the text bad, naming the field. */
static const char *jstr(struct text *t, json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	const char *s;

	if (!v || json_is_null(v))
		return "";
	s = json_string_value(v);
	if (!s || strlen(s) != json_string_length(v) || strpbrk(s, "\n\r#")) {
		t->bad = true;
		snprintf(t->what, sizeof(t->what), "\"%s\" (expected a string of one line, no '#')", key);
		return "";
	}
	return s;
}

/* "Key = value" when the field is there: a string, a number or a bool. */
static void field(struct text *t, const char *name, json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	if (!v || json_is_null(v))
		return;
	if (json_is_integer(v))
		addf(t, "%s = %lld\n", name, (long long)json_integer_value(v));
	else if (json_is_boolean(v))
		addf(t, "%s = %s\n", name, json_is_true(v) ? "true" : "false");
	else
		addf(t, "%s = %s\n", name, jstr(t, o, key));
}

/* A list field: one "Key = entry" line each (both parsers accumulate);
 * none = "Key = none" for an empty list (ClientDNS). An entry is one value:
 * no comma, except in a hook command, which is a whole line. */
static void list_field(struct text *t, const char *name, json_t *o, const char *key, bool none)
{
	bool hook = !strncmp(name, "Pre", 3) || !strncmp(name, "Post", 4);
	json_t *a = json_object_get(o, key), *e;
	size_t i;

	if (!a || json_is_null(a))
		return;
	if (!json_is_array(a)) {
		t->bad = true;
		snprintf(t->what, sizeof(t->what), "\"%s\" (expected a list of strings)", key);
		return;
	}
	if (none && !json_array_size(a))
		addf(t, "%s = none\n", name);
	json_array_foreach(a, i, e) {
		const char *s = json_string_value(e);

		if (!s || strlen(s) != json_string_length(e) || strpbrk(s, hook ? "\n\r#" : "\n\r#,")) {
			t->bad = true;
			snprintf(t->what, sizeof(t->what), "\"%s\" (expected a list of strings)", key);
			return;
		}
		addf(t, "%s = %s\n", name, s);
	}
}

static void peer_settings(struct text *t, json_t *p, bool weft)
{
	if (!weft)
		addf(t, "\n[Peer]\nPublicKey = %s\n", jstr(t, p, "public_key"));
	field(t, "PresharedKey", p, "preshared_key");
	list_field(t, "AllowedIPs", p, "allowed_ips", false);
	field(t, "Endpoint", p, "endpoint");
	field(t, "PersistentKeepalive", p, "persistent_keepalive");
}

static void peer_record_text(struct text *t, json_t *p, bool enabled)
{
	addf(t, "\n[Peer]\nPublicKey = %s\n", jstr(t, p, "public_key"));
	field(t, "Name", p, "name");
	field(t, "Owner", p, "owner");
	field(t, "Created", p, "created");
	field(t, "Expires", p, "expires");
	addf(t, "Enabled = %s\n", enabled ? "true" : "false");
	field(t, "EndpointType", p, "endpoint_type");
	list_field(t, "ClientAllowedIPs", p, "client_allowed_ips", false);
	list_field(t, "ClientDNS", p, "client_dns", true);
	field(t, "ClientKeepalive", p, "client_keepalive");
	if (!enabled)
		peer_settings(t, p, true);
}

/* The two files' text from the document. */
static void document_text(json_t *root, struct text *conf, struct text *weft)
{
	static const char *const hooks[CONF_HOOKS][2] = {
		{ "PreUp", "pre_up" }, { "PostUp", "post_up" }, { "PreDown", "pre_down" }, { "PostDown", "post_down" },
	};
	json_t *i = json_object_get(root, "interface"), *peers = json_object_get(root, "peers"), *p;
	size_t k;

	addf(conf, "[Interface]\n");
	field(conf, "PrivateKey", i, "private_key");
	field(conf, "ListenPort", i, "listen_port");
	field(conf, "FwMark", i, "fwmark");
	list_field(conf, "Address", i, "addresses", false);
	list_field(conf, "DNS", i, "dns", false);
	field(conf, "MTU", i, "mtu");
	field(conf, "Table", i, "table");
	for (int h = 0; h < CONF_HOOKS; h++)
		list_field(conf, hooks[h][0], i, hooks[h][1], false);
	field(conf, "SaveConfig", i, "save_config");

	addf(weft, "[Weft]\n");
	field(weft, "PublicIPv4", i, "public_ipv4");
	field(weft, "PublicIPv6", i, "public_ipv6");
	field(weft, "Hostname", i, "hostname");
	field(weft, "PublicPort", i, "public_port");
	list_field(weft, "PeerDNS", i, "peer_dns", false);

	json_array_foreach(peers, k, p) {
		json_t *en = json_object_get(p, "enabled");
		bool enabled = !en || json_is_true(en);

		if (!json_is_object(p)) {
			conf->bad = true;
			snprintf(conf->what, sizeof(conf->what), "\"peers\" (expected a list of objects)");
			return;
		}
		if (enabled)
			peer_settings(conf, p, false);
		peer_record_text(weft, p, enabled);
	}
}

static json_t *read_document(const char *path)
{
	json_error_t jerr;
	json_t *root;
	char *buf = NULL;
	size_t len = 0;
	int fd = strcmp(path, "-") ? open(path, O_RDONLY | O_CLOEXEC) : STDIN_FILENO, ret;

	if (fd < 0) {
		fprintf(stderr, "%s: %s: %s\n", prog_name, path, strerror(errno));
		return NULL;
	}
	ret = fd_read_all(fd, MAX_DOCUMENT, &buf, &len);
	if (fd != STDIN_FILENO)
		close(fd);
	if (ret < 0) {
		fprintf(stderr, "%s: %s: cannot read: %s\n", prog_name, path,
			ret == -E2BIG ? "too large" : strerror(-ret));
		return NULL;
	}
	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	memzero(buf, len);
	free(buf);
	if (!root)
		fprintf(stderr, "%s: %s:%d: %s\n", prog_name, path, jerr.line, jerr.text);
	return root;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Peers are found by name: two with one name would make it name neither
 * (peer add and rename refuse a taken name; the file parser does not
 * look across records). Sorted, so 10,000 peers cost no more than a sort. */
static bool names_unique(const struct weft_file *w, const char *file)
{
	const char **v = calloc((size_t)w->n + 1, sizeof(*v));
	size_t n = 0;
	bool ok = true;

	if (!v) {
		fprintf(stderr, "%s: out of memory\n", prog_name);
		return false;
	}
	for (uint32_t i = 0; i < w->n; i++)
		if (w->recs[i].name)
			v[n++] = w->recs[i].name;
	qsort(v, n, sizeof(*v), name_cmp);
	for (size_t i = 1; ok && i < n; i++) {
		if (!strcmp(v[i - 1], v[i])) {
			fprintf(stderr, "%s: %s: two peers are named `%s'\n", prog_name, file, v[i]);
			ok = false;
		}
	}
	free(v);
	return ok;
}

int cmd_import(int argc, char *argv[])
{
	const char *file = NULL, *name = NULL, *v;
	struct text conf_text = { 0 }, weft_text = { 0 };
	struct conf c;
	struct weft_file w;
	char path[PATH_MAX], weft_path[PATH_MAX], err[CONF_ERR_LEN], *out = NULL;
	size_t out_len = 0;
	json_t *root = NULL, *iface, *peers, *p;
	bool exists, written = false, *ours = NULL; /* ours[k]: this import made peer k's key file */
	int lock = -1, ret = 1;
	size_t k;

	conf_init(&c);
	weftfile_init(&w);
	for (int i = 1; i < argc; i++) {
		if (take_option(argc, argv, &i, "--name", &v)) {
			if (!v)
				return 1;
			name = v;
		} else if (!file && (argv[i][0] != '-' || !strcmp(argv[i], "-"))) {
			file = argv[i];
		} else {
			command_usage(stderr, "import");
			return 1;
		}
	}
	if (!file) {
		command_usage(stderr, "import");
		return 1;
	}
	json_set_alloc_funcs(malloc, json_free_wiped);
	root = read_document(file);
	if (!root)
		goto out;
	iface = json_object_get(root, "interface");
	peers = json_object_get(root, "peers");
	if (!json_is_object(iface) || !json_is_array(peers) ||
	    strcmp(json_string_value(json_object_get(root, "format")) ?: "", FORMAT_NAME) ||
	    json_integer_value(json_object_get(root, "version")) != FORMAT_VERSION) {
		fprintf(stderr, "%s: %s: not a weft export document (format \"%s\", version %d)\n", prog_name,
			file, FORMAT_NAME, FORMAT_VERSION);
		goto out;
	}
	if (!name)
		name = json_string_value(json_object_get(iface, "name"));
	if (!name || !interface_name_valid(name)) {
		fprintf(stderr, "%s: %s: no valid interface name (give one with --name)\n", prog_name, file);
		goto out;
	}
	document_text(root, &conf_text, &weft_text);
	if (conf_text.bad || weft_text.bad) {
		fprintf(stderr, "%s: %s: %s\n", prog_name, file, conf_text.bad ? conf_text.what : weft_text.what);
		goto out;
	}
	/* the files' own parsers judge every value */
	if (conf_parse(&c, conf_text.buf, conf_text.len, file, 0, err, sizeof(err)) < 0 ||
	    weftfile_parse(&w, weft_text.buf, weft_text.len, file, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s: %s (in the text made from the document)\n", prog_name, err);
		goto out;
	}
	if (!names_unique(&w, file))
		goto out;
	if (!iface_conf_path(path, sizeof(path), name, &exists)) {
		fprintf(stderr, "%s: %s: config path too long\n", prog_name, name);
		goto out;
	}
	lock = store_lock_dir(path);
	if (lock < 0) {
		fprintf(stderr, "%s: %s: cannot lock its directory: %s\n", prog_name, path, strerror(-lock));
		goto out;
	}
	snprintf(weft_path, sizeof(weft_path), "%.*s" STORE_WEFT_SUFFIX,
		 (int)(strlen(path) - strlen(STORE_CONF_SUFFIX)), path);
	if (conf_file_exists(path) || !access(weft_path, F_OK)) {
		fprintf(stderr, "%s: %s: %s exists already; import makes a new interface (--name another)\n",
			prog_name, name, conf_file_exists(path) ? path : weft_path);
		goto out;
	}
	/* peer keys, then IFACE.weft, then IFACE.conf: until the last is
	 * written there is no interface to find */
	ours = calloc(json_array_size(peers) + 1, sizeof(*ours));
	if (!ours) {
		fprintf(stderr, "%s: out of memory\n", prog_name);
		goto out;
	}
	json_array_foreach(peers, k, p) {
		uint8_t pub[CONF_KEY_LEN], priv[CONF_KEY_LEN], check[CONF_KEY_LEN];
		const char *ps = json_string_value(json_object_get(p, "private_key"));

		if (!ps)
			continue;
		if (!key_from_base64(pub, json_string_value(json_object_get(p, "public_key")) ?: "") ||
		    !key_from_base64(priv, ps) || !x25519_public(check, priv) || !memeq_ct(check, pub, CONF_KEY_LEN)) {
			memzero(priv, sizeof(priv));
			fprintf(stderr, "%s: %s: peer %zu: private_key does not belong to its public_key\n",
				prog_name, file, k + 1);
			goto undo;
		}
		written = true;
		/* a key file that was there before is not this import's to
		 * remove on an undo */
		ours[k] = !peer_key_exists(path, pub);
		if (peer_key_write(path, pub, priv) < 0) {
			memzero(priv, sizeof(priv));
			fprintf(stderr, "%s: %s: cannot write peer %zu's private key\n", prog_name, name, k + 1);
			goto undo;
		}
		memzero(priv, sizeof(priv));
	}
	if (weftfile_write(&w, &out, &out_len) < 0 || atomic_file_write(weft_path, out, out_len, FILE_MODE) < 0) {
		fprintf(stderr, "%s: %s: cannot write: %s\n", prog_name, weft_path, strerror(errno));
		goto undo;
	}
	written = true;
	conf_text_free(out, out_len);
	out = NULL;
	if (conf_save(&c, path, 0, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s: %s\n", prog_name, err);
		goto undo;
	}
	printf("%s: %s with %u peer(s); start it with `%s up %s' or `%s interface add %s'\n", name, path,
	       (unsigned)json_array_size(peers), prog_name, name, prog_name, name);
	ret = 0;
	goto out;
undo:
	if (written) {
		json_array_foreach(peers, k, p) {
			uint8_t pub[CONF_KEY_LEN];

			if (ours[k] && key_from_base64(pub, json_string_value(json_object_get(p, "public_key")) ?: ""))
				peer_key_remove(path, pub);
		}
		unlink(weft_path);
	}
out:
	free(ours);
	conf_text_free(out, out_len);
	text_free(&conf_text);
	text_free(&weft_text);
	conf_free(&c);
	weftfile_free(&w);
	json_decref(root);
	if (lock >= 0)
		close(lock);
	return ret;
}
