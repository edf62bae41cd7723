/* chain_state.c: a client's knowledge of its servers and the other clients
 * (chain_state.h), kept as a small JSON file beside its config. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chain_state.h"
#include "util/atomic_file.h"
#include "util/encoding.h"
#include "util/fd_io.h"

#define DEFAULT_RELAY "fd:17::/48"
#define DEFAULT_API "fd:16::/48"
#define DEFAULT_TUNNEL_V4 "10.99.0.0/24"
#define DEFAULT_TUNNEL_V6 "fd99::/64"
#define DEFAULT_E2E_PORT 51821

void chain_state_init(struct chain_state *st)
{
	memset(st, 0, sizeof(*st));
	conf_prefix_parse(&st->relay_prefix, DEFAULT_RELAY);
	conf_prefix_parse(&st->api_prefix, DEFAULT_API);
	conf_prefix_parse(&st->tunnel_v4, DEFAULT_TUNNEL_V4);
	conf_prefix_parse(&st->tunnel_v6, DEFAULT_TUNNEL_V6);
	st->e2e_port = DEFAULT_E2E_PORT;
}

bool chain_state_path(char *out, size_t size, const char *conf_path)
{
	size_t n = strlen(conf_path);
	int len;

	if (n >= 5 && !strcmp(conf_path + n - 5, ".conf"))
		n -= 5;
	len = snprintf(out, size, "%.*s.chain", (int)n, conf_path);
	return len > 0 && (size_t)len < size;
}

bool chain_name_valid(const char *name)
{
	size_t n = strlen(name);

	if (!n || n > CHAIN_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == '-'))
			return false;
	}
	return true;
}

static unsigned addr_len(const struct conf_addr *a)
{
	return a->family == AF_INET ? 4 : 16;
}

bool chain_prefix_contains(const struct conf_prefix *p, const struct conf_addr *a)
{
	unsigned bits = p->cidr, i;

	if (p->addr.family != a->family)
		return false;
	for (i = 0; bits >= 8; i++, bits -= 8)
		if (p->addr.bytes[i] != a->bytes[i])
			return false;
	if (bits) {
		uint8_t mask = (uint8_t)(0xff << (8 - bits));
		if ((p->addr.bytes[i] & mask) != (a->bytes[i] & mask))
			return false;
	}
	return true;
}

bool chain_prefix_host(struct conf_addr *out, const struct conf_prefix *p, uint32_t n)
{
	unsigned len = addr_len(&p->addr), host_bits = len * 8 - p->cidr;
	uint64_t carry = n;

	if (!n || (host_bits < 32 && n >= (1ull << host_bits) - 1))
		return false; /* the network's own address, or past its last host */
	*out = p->addr;
	/* the network address, then plus n from the last byte up */
	for (unsigned b = p->cidr, i = 0; i < len; i++) {
		unsigned keep = b >= 8 ? 8 : b;
		out->bytes[i] &= (uint8_t)(0xff << (8 - keep));
		b -= keep;
	}
	for (unsigned i = len; i-- > 0 && carry;) {
		carry += out->bytes[i];
		out->bytes[i] = (uint8_t)carry;
		carry >>= 8;
	}
	return true;
}

static bool host_taken(const struct chain_state *st, uint32_t h)
{
	struct conf_addr a[4];
	bool ok[4] = {
		chain_prefix_host(&a[0], &st->relay_prefix, h), chain_prefix_host(&a[1], &st->api_prefix, h),
		chain_prefix_host(&a[2], &st->tunnel_v4, h), chain_prefix_host(&a[3], &st->tunnel_v6, h),
	};

	if (!ok[0] || !ok[1] || !ok[2] || !ok[3])
		return true; /* past the end of a prefix: not usable */
	for (unsigned i = 0; i < st->n_nodes; i++) {
		const struct chain_node *n = &st->nodes[i];
		if ((n->has_relay && !memcmp(&n->relay, &a[0], sizeof(a[0]))) ||
		    (n->has_api && !memcmp(&n->api, &a[1], sizeof(a[1]))))
			return true;
		for (unsigned j = 0; j < n->n_addrs; j++)
			if (!memcmp(&n->addrs[j].addr, &a[2], sizeof(a[2])) ||
			    !memcmp(&n->addrs[j].addr, &a[3], sizeof(a[3])))
				return true;
	}
	return false;
}

uint32_t chain_state_free_host(const struct chain_state *st)
{
	/* each node takes at most one number of each kind, so one of the
	 * first n_nodes + 4 numbers (host 1 is taken by the first server's
	 * 10.99.0.1) is free when the prefixes are large enough */
	for (uint32_t h = 1; h <= CHAIN_MAX_NODES * 4u + 4; h++)
		if (!host_taken(st, h))
			return h;
	return 0;
}

int chain_state_self(const struct chain_state *st)
{
	for (unsigned i = 0; i < st->n_nodes; i++)
		if (st->nodes[i].self)
			return (int)i;
	return -1;
}

int chain_state_find(const struct chain_state *st, const char *what)
{
	struct conf_addr a;
	uint8_t key[32];
	bool is_addr = conf_addr_parse(&a, what), is_key = strlen(what) == WEFT_KEY_B64_LEN && key_from_base64(key, what);

	for (unsigned i = 0; i < st->n_nodes; i++) {
		const struct chain_node *n = &st->nodes[i];
		if (!strcmp(n->name, what))
			return (int)i;
		if (is_addr && n->has_api && !memcmp(&n->api, &a, sizeof(a)))
			return (int)i;
		if (is_key && (!memcmp(n->relay_key, key, 32) || (n->has_e2e_key && !memcmp(n->e2e_key, key, 32))))
			return (int)i;
	}
	return -1;
}

int chain_state_add(struct chain_state *st, const struct chain_node *node)
{
	if (!chain_name_valid(node->name) || node->via < -1 || node->via >= (int)st->n_nodes ||
	    node->n_addrs > CHAIN_MAX_ADDRS || node->n_routes > CHAIN_MAX_ROUTES)
		return -EINVAL;
	for (unsigned i = 0; i < st->n_nodes; i++)
		if (!strcmp(st->nodes[i].name, node->name))
			return -EEXIST;
	if (st->n_nodes >= CHAIN_MAX_NODES)
		return -ENOSPC;
	st->nodes[st->n_nodes] = *node;
	return (int)st->n_nodes++;
}

/* ---- JSON ---- */

static json_t *prefix_json(const struct conf_prefix *p)
{
	char s[CONF_PREFIX_STRLEN];

	conf_prefix_format(s, p);
	return json_string(s);
}

static json_t *prefixes_json(const struct conf_prefix *v, unsigned n)
{
	json_t *a = json_array();

	for (unsigned i = 0; a && i < n; i++)
		if (json_array_append_new(a, prefix_json(&v[i])) < 0) {
			json_decref(a);
			return NULL;
		}
	return a;
}

static json_t *key_json(const uint8_t key[32])
{
	char s[WEFT_KEY_B64_LEN + 1];

	key_to_base64(s, key);
	return json_string(s);
}

static json_t *node_json(const struct chain_state *st, const struct chain_node *n)
{
	json_t *o = json_object();
	char s[CONF_ADDR_STRLEN];
	int bad = 0;

	if (!o)
		return NULL;
	bad |= json_object_set_new(o, "name", json_string(n->name));
	bad |= json_object_set_new(o, "kind", json_string(n->kind == CHAIN_SERVER ? "server" : "client"));
	bad |= json_object_set_new(o, "via", n->via >= 0 ? json_string(st->nodes[n->via].name) : json_null());
	if (n->self)
		bad |= json_object_set_new(o, "self", json_true());
	bad |= json_object_set_new(o, "relay_key", key_json(n->relay_key));
	if (n->has_e2e_key)
		bad |= json_object_set_new(o, "e2e_key", key_json(n->e2e_key));
	bad |= json_object_set_new(o, "addresses", prefixes_json(n->addrs, n->n_addrs));
	if (n->has_relay) {
		conf_addr_format(s, &n->relay);
		bad |= json_object_set_new(o, "relay_address", json_string(s));
	}
	if (n->has_api) {
		conf_addr_format(s, &n->api);
		bad |= json_object_set_new(o, "api", json_string(s));
	}
	if (n->kind == CHAIN_SERVER)
		bad |= json_object_set_new(o, "routes", prefixes_json(n->routes, n->n_routes));
	if (n->endpoint[0])
		bad |= json_object_set_new(o, "endpoint", json_string(n->endpoint));
	if (n->listen_port)
		bad |= json_object_set_new(o, "listen_port", json_integer(n->listen_port));
	if (n->config[0])
		bad |= json_object_set_new(o, "config", json_string(n->config));
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

json_t *chain_state_to_json(const struct chain_state *st)
{
	json_t *root = json_object(), *nodes = json_array();
	int bad = !root || !nodes;

	if (!bad) {
		bad |= json_object_set_new(root, "version", json_integer(CHAIN_STATE_VERSION));
		bad |= json_object_set_new(root, "relay_prefix", prefix_json(&st->relay_prefix));
		bad |= json_object_set_new(root, "api_prefix", prefix_json(&st->api_prefix));
		bad |= json_object_set_new(root, "tunnel_prefixes", prefixes_json(&st->tunnel_v4, 2));
		bad |= json_object_set_new(root, "e2e_port", json_integer(st->e2e_port));
		bad |= json_object_set_new(root, "relay_interface", json_string(st->relay_iface));
		if (st->e2e_iface[0])
			bad |= json_object_set_new(root, "e2e_interface", json_string(st->e2e_iface));
	}
	for (unsigned i = 0; !bad && i < st->n_nodes; i++)
		bad |= json_array_append_new(nodes, node_json(st, &st->nodes[i]));
	if (bad) {
		json_decref(root);
		json_decref(nodes);
		return NULL;
	}
	json_object_set_new(root, "nodes", nodes);
	return root;
}

/* ---- reading ---- */

__attribute__((format(printf, 3, 4)))
static int bad(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* A string member: NULL when absent or null (optional), or not a string
 * (*wrong). */
static const char *str_member(const json_t *o, const char *key, bool *wrong)
{
	const json_t *v = json_object_get(o, key);

	if (!v || json_is_null(v))
		return NULL;
	if (!json_is_string(v)) {
		*wrong = true;
		return NULL;
	}
	return json_string_value(v);
}

static int read_prefixes(struct conf_prefix *v, unsigned *n, unsigned max, const json_t *a, const char *what,
			 char *err, size_t errlen)
{
	size_t i;
	const json_t *e;

	*n = 0;
	if (!a)
		return 0;
	if (!json_is_array(a))
		return bad(err, errlen, "%s: not a list", what);
	if (json_array_size(a) > max)
		return bad(err, errlen, "%s: more than %u entries", what, max);
	json_array_foreach(a, i, e) {
		if (!json_is_string(e) || !conf_prefix_parse(&v[i], json_string_value(e)))
			return bad(err, errlen, "%s: entry %zu is not an address/prefix", what, i + 1);
		(*n)++;
	}
	return 0;
}

static int read_key(uint8_t key[32], const json_t *o, const char *name, const char *what, bool *has,
		    char *err, size_t errlen)
{
	bool wrong = false;
	const char *s = str_member(o, name, &wrong);

	if (has)
		*has = s != NULL;
	if (wrong || (s && !key_from_base64(key, s)))
		return bad(err, errlen, "%s: %s is not a base64 public key", what, name);
	if (!s && !has)
		return bad(err, errlen, "%s: no %s", what, name);
	return 0;
}

static int copy_str(char *out, size_t size, const char *s, const char *what, const char *name, char *err,
		    size_t errlen)
{
	if (strlen(s) >= size)
		return bad(err, errlen, "%s: %s is too long", what, name);
	memcpy(out, s, strlen(s) + 1);
	return 0;
}

static int read_node(struct chain_state *st, unsigned idx, const json_t *o, char *err, size_t errlen)
{
	struct chain_node *n = &st->nodes[idx];
	char what[64];
	bool wrong = false;
	const char *name, *kind, *via, *api, *relay, *endpoint, *config;
	const json_t *port;
	int ret;

	snprintf(what, sizeof(what), "node %u", idx + 1);
	if (!json_is_object(o))
		return bad(err, errlen, "%s: not an object", what);
	memset(n, 0, sizeof(*n));
	name = str_member(o, "name", &wrong);
	if (!name || wrong || !chain_name_valid(name))
		return bad(err, errlen, "%s: no valid name (1-%d of A-Z a-z 0-9 _.-)", what, CHAIN_NAME_MAX);
	memcpy(n->name, name, strlen(name) + 1);
	snprintf(what, sizeof(what), "node %s", name);
	for (unsigned i = 0; i < idx; i++)
		if (!strcmp(st->nodes[i].name, name))
			return bad(err, errlen, "%s: the name is used twice", what);
	kind = str_member(o, "kind", &wrong);
	if (kind && !strcmp(kind, "server"))
		n->kind = CHAIN_SERVER;
	else if (kind && !strcmp(kind, "client"))
		n->kind = CHAIN_CLIENT;
	else
		return bad(err, errlen, "%s: kind is neither \"server\" nor \"client\"", what);
	/* via names an earlier node: a file that lists a node before the one
	 * it hangs from, or a loop, is refused */
	n->via = -1;
	if ((via = str_member(o, "via", &wrong))) {
		for (unsigned i = 0; i < idx; i++)
			if (!strcmp(st->nodes[i].name, via))
				n->via = (int)i;
		if (n->via < 0)
			return bad(err, errlen, "%s: via `%s' is not a node listed before it", what, via);
	} else if (wrong)
		return bad(err, errlen, "%s: via is not a name", what);
	n->self = json_is_true(json_object_get(o, "self"));
	if ((ret = read_key(n->relay_key, o, "relay_key", what, NULL, err, errlen)) < 0 ||
	    (ret = read_key(n->e2e_key, o, "e2e_key", what, &n->has_e2e_key, err, errlen)) < 0 ||
	    (ret = read_prefixes(n->addrs, &n->n_addrs, CHAIN_MAX_ADDRS, json_object_get(o, "addresses"),
				 "addresses", err, errlen)) < 0 ||
	    (ret = read_prefixes(n->routes, &n->n_routes, CHAIN_MAX_ROUTES, json_object_get(o, "routes"),
				 "routes", err, errlen)) < 0)
		return ret;
	if ((relay = str_member(o, "relay_address", &wrong))) {
		if (!conf_addr_parse(&n->relay, relay))
			return bad(err, errlen, "%s: relay_address `%s' is not an address", what, relay);
		n->has_relay = true;
	}
	if ((api = str_member(o, "api", &wrong))) {
		if (!conf_addr_parse(&n->api, api))
			return bad(err, errlen, "%s: api `%s' is not an address", what, api);
		n->has_api = true;
	}
	if ((endpoint = str_member(o, "endpoint", &wrong)) &&
	    (ret = copy_str(n->endpoint, sizeof(n->endpoint), endpoint, what, "endpoint", err, errlen)) < 0)
		return ret;
	if ((config = str_member(o, "config", &wrong)) &&
	    (ret = copy_str(n->config, sizeof(n->config), config, what, "config", err, errlen)) < 0)
		return ret;
	if (wrong)
		return bad(err, errlen, "%s: a field that should be a string is not", what);
	if ((port = json_object_get(o, "listen_port"))) {
		if (!json_is_integer(port) || json_integer_value(port) < 1 || json_integer_value(port) > 65535)
			return bad(err, errlen, "%s: listen_port is not a port", what);
		n->listen_port = (uint16_t)json_integer_value(port);
	}
	return 0;
}

int chain_state_from_json(struct chain_state *st, const json_t *root, char *err, size_t errlen)
{
	const json_t *nodes, *v, *e;
	const char *s;
	bool wrong = false;
	size_t i;
	int ret;

	chain_state_init(st);
	if (!json_is_object(root))
		return bad(err, errlen, "not a JSON object");
	v = json_object_get(root, "version");
	if (!json_is_integer(v) || json_integer_value(v) != CHAIN_STATE_VERSION)
		return bad(err, errlen, "version is not %d", CHAIN_STATE_VERSION);
	if ((s = str_member(root, "relay_prefix", &wrong)) &&
	    (!conf_prefix_parse(&st->relay_prefix, s) || st->relay_prefix.addr.family != AF_INET6))
		return bad(err, errlen, "relay_prefix `%s' is not an IPv6 prefix", s);
	if ((s = str_member(root, "api_prefix", &wrong)) && !conf_prefix_parse(&st->api_prefix, s))
		return bad(err, errlen, "api_prefix `%s' is not a prefix", s);
	if ((v = json_object_get(root, "tunnel_prefixes"))) {
		struct conf_prefix t[2];
		unsigned n;
		if ((ret = read_prefixes(t, &n, 2, v, "tunnel_prefixes", err, errlen)) < 0)
			return ret;
		if (n != 2 || t[0].addr.family != AF_INET || t[1].addr.family != AF_INET6)
			return bad(err, errlen, "tunnel_prefixes: not an IPv4 and an IPv6 prefix");
		st->tunnel_v4 = t[0];
		st->tunnel_v6 = t[1];
	}
	if ((v = json_object_get(root, "e2e_port"))) {
		if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 65535)
			return bad(err, errlen, "e2e_port is not a port");
		st->e2e_port = (uint16_t)json_integer_value(v);
	}
	if ((s = str_member(root, "relay_interface", &wrong)) &&
	    (ret = copy_str(st->relay_iface, sizeof(st->relay_iface), s, "state", "relay_interface", err, errlen)) < 0)
		return ret;
	if ((s = str_member(root, "e2e_interface", &wrong)) &&
	    (ret = copy_str(st->e2e_iface, sizeof(st->e2e_iface), s, "state", "e2e_interface", err, errlen)) < 0)
		return ret;
	if (wrong)
		return bad(err, errlen, "a field that should be a string is not");
	nodes = json_object_get(root, "nodes");
	if (!json_is_array(nodes))
		return bad(err, errlen, "no list of nodes");
	if (json_array_size(nodes) > CHAIN_MAX_NODES)
		return bad(err, errlen, "more than %d nodes", CHAIN_MAX_NODES);
	json_array_foreach(nodes, i, e) {
		if ((ret = read_node(st, (unsigned)i, e, err, errlen)) < 0)
			return ret;
		st->n_nodes++;
	}
	return 0;
}

int chain_state_load(struct chain_state *out, const char *path, char *err, size_t errlen)
{
	struct chain_state *st;
	json_error_t jerr;
	json_t *root;
	char *text = NULL, inner[CONF_ERR_LEN];
	size_t len = 0;
	int fd, ret;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return ret;
	}
	ret = fd_read_all(fd, CHAIN_MAX_FILE, &text, &len);
	close(fd);
	if (ret < 0) {
		snprintf(err, errlen, "%s: %s", path,
			 ret == -E2BIG ? "larger than 1 MiB, which no network of ours needs" : strerror(-ret));
		return ret;
	}
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	free(text);
	if (!root) {
		snprintf(err, errlen, "%s:%d: %s", path, jerr.line, jerr.text);
		return -EINVAL;
	}
	st = malloc(sizeof(*st));
	if (!st) {
		json_decref(root);
		return -ENOMEM;
	}
	ret = chain_state_from_json(st, root, inner, sizeof(inner));
	json_decref(root);
	if (ret < 0)
		snprintf(err, errlen, "%s: %s", path, inner);
	else
		*out = *st;
	free(st);
	return ret;
}

int chain_state_save(const struct chain_state *st, const char *path, char *err, size_t errlen)
{
	json_t *root = chain_state_to_json(st);
	char *text = root ? json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
	int ret;

	json_decref(root);
	if (!text) {
		snprintf(err, errlen, "%s: cannot format the network's state: out of memory", path);
		return -ENOMEM;
	}
	{
		size_t len = strlen(text);
		char *nl = realloc(text, len + 2);
		if (nl) {
			text = nl;
			text[len] = '\n';
			text[len + 1] = 0;
		}
	}
	ret = atomic_file_create(path, text, strlen(text), 0600);
	if (ret < 0)
		snprintf(err, errlen, "%s: cannot write: %s", path, strerror(-ret));
	free(text);
	return ret;
}
