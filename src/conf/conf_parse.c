/* conf_parse.c: reads wg-quick config text into a struct conf, line by line
 * in one pass, and on the first problem stops with "FILE:LINE: what was
 * expected". The syntax is documented in conf.h. Secrets in the input are
 * only ever copied into the line buffer, which is wiped when the parse ends,
 * and into the struct; error messages never quote a private or preshared key. */
#include "conf/conf_internal.h"

#include "crypto/crypto.h"
#include "util/encoding.h"
#include "util/fd_io.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define QUOTE_MAX 48 /* characters of a bad value repeated in a message */

enum section { SEC_NONE, SEC_INTERFACE, SEC_PEER, SEC_WEFT };
static const char *const section_names[] = { "", "[Interface]", "[Peer]", "[Weft]" };

enum key_id {
	K_PRIVATE_KEY, K_LISTEN_PORT, K_FWMARK, K_ADDRESS, K_DNS, K_MTU, K_TABLE,
	K_PRE_UP, K_POST_UP, K_PRE_DOWN, K_POST_DOWN, K_SAVE_CONFIG,
	K_PUBLIC_KEY, K_PRESHARED_KEY, K_ALLOWED_IPS, K_ENDPOINT, K_KEEPALIVE,
	K_PUBLIC_IPV4, K_PUBLIC_IPV6, K_HOSTNAME, K_PUBLIC_PORT, K_PEER_DNS, K_PEER_NAME,
	K_COUNT
};

#define EXPECT_KEY "a base64 key of 44 characters ending in '='"
#define EXPECT_PREFIXES "ADDRESS/CIDR, comma-separated"
#define EXPECT_DNS "IP addresses or search domains, comma-separated"

/* A key's name and its length, compared first. */
#define KEY(name) name, sizeof(name) - 1

static const struct keydef {
	const char *name;
	size_t len;
	enum section section;
	bool list;      /* may repeat; values accumulate */
	bool wg_quick;  /* not part of the wg(8) setconf form */
	bool secret;    /* never quoted in messages */
	const char *what, *expect;
} keys[K_COUNT] = {
	[K_PRIVATE_KEY]  = { KEY("PrivateKey"), SEC_INTERFACE, false, false, true, "a valid key", EXPECT_KEY ", as made by 'weft genkey'" },
	[K_LISTEN_PORT]  = { KEY("ListenPort"), SEC_INTERFACE, false, false, false, "a port", "0..65535" },
	[K_FWMARK]       = { KEY("FwMark"), SEC_INTERFACE, false, false, false, "a firewall mark", "0..4294967295, 0x-hex, or off" },
	[K_ADDRESS]      = { KEY("Address"), SEC_INTERFACE, true, true, false, "an IP prefix", EXPECT_PREFIXES },
	[K_DNS]          = { KEY("DNS"), SEC_INTERFACE, true, true, false, "an IP address or a domain name", EXPECT_DNS },
	[K_MTU]          = { KEY("MTU"), SEC_INTERFACE, false, true, false, "an MTU", "68..65535" },
	[K_TABLE]        = { KEY("Table"), SEC_INTERFACE, false, true, false, "a routing table", "auto, off, 1..4294967295, or a table name" },
	[K_PRE_UP]       = { KEY("PreUp"), SEC_INTERFACE, true, true, false, "a command", "a shell command" },
	[K_POST_UP]      = { KEY("PostUp"), SEC_INTERFACE, true, true, false, "a command", "a shell command" },
	[K_PRE_DOWN]     = { KEY("PreDown"), SEC_INTERFACE, true, true, false, "a command", "a shell command" },
	[K_POST_DOWN]    = { KEY("PostDown"), SEC_INTERFACE, true, true, false, "a command", "a shell command" },
	[K_SAVE_CONFIG]  = { KEY("SaveConfig"), SEC_INTERFACE, false, true, false, "a boolean", "true or false" },
	[K_PUBLIC_KEY]   = { KEY("PublicKey"), SEC_PEER, false, false, false, "a valid key", EXPECT_KEY },
	[K_PRESHARED_KEY]= { KEY("PresharedKey"), SEC_PEER, false, false, true, "a valid key", EXPECT_KEY ", as made by 'weft genpsk'" },
	[K_ALLOWED_IPS]  = { KEY("AllowedIPs"), SEC_PEER, true, false, false, "an IP prefix", EXPECT_PREFIXES },
	[K_ENDPOINT]     = { KEY("Endpoint"), SEC_PEER, false, false, false, "an endpoint", "HOST:PORT or [IPv6]:PORT, port 1..65535" },
	[K_KEEPALIVE]    = { KEY("PersistentKeepalive"), SEC_PEER, false, false, false, "an interval", "seconds 0..65535, or off" },
	[K_PUBLIC_IPV4]  = { KEY("PublicIPv4"), SEC_WEFT, false, true, false, "an IPv4 address", "an IPv4 address such as 203.0.113.1" },
	[K_PUBLIC_IPV6]  = { KEY("PublicIPv6"), SEC_WEFT, false, true, false, "an IPv6 address", "an IPv6 address such as 2001:db8::1" },
	[K_HOSTNAME]     = { KEY("Hostname"), SEC_WEFT, false, true, false, "a host name", "a DNS name such as vpn.example.com" },
	[K_PUBLIC_PORT]  = { KEY("PublicPort"), SEC_WEFT, false, true, false, "a port", "1..65535" },
	[K_PEER_DNS]     = { KEY("PeerDNS"), SEC_WEFT, true, true, false, "an IP address or a domain name", EXPECT_DNS },
	[K_PEER_NAME]    = { KEY("PeerName"), SEC_WEFT, true, true, false, "a peer name", "<base64 public key> <name of 1..64 printable characters, no '#'>" },
};

static const char *const section_keys[] = {
	[SEC_NONE] = "",
	[SEC_INTERFACE] = "PrivateKey, ListenPort, FwMark, Address, DNS, MTU, Table, PreUp, PostUp, PreDown, PostDown, SaveConfig",
	[SEC_PEER] = "PublicKey, PresharedKey, AllowedIPs, Endpoint, PersistentKeepalive",
	[SEC_WEFT] = "PublicIPv4, PublicIPv6, Hostname, PublicPort, PeerDNS, PeerName",
};

/* PeerName lines name peers that may come later in the file. */
struct pending_name {
	uint8_t key[CONF_KEY_LEN];
	char *name;
	uint32_t line;
};

struct parser {
	struct conf c;
	const char *file;
	unsigned flags;
	char *err;
	size_t errlen;
	uint32_t line;
	enum section sec;
	uint32_t section_line;
	uint32_t seen[K_COUNT];     /* line a single-valued key was set, this section */
	bool peer_has_key;
	uint32_t interface_line, weft_line;
	struct conf_keyset set;
	struct pending_name *names;
	uint32_t n_names, cap_names;
	char quoted[QUOTE_MAX * 4 + 8];
	char buf[CONF_MAX_LINE + 1];
};

static int failv(struct parser *p, int err, uint32_t line, const char *fmt, va_list ap)
{
	if (p->errlen) {
		int n = line ? snprintf(p->err, p->errlen, "%s:%u: ", p->file, line)
			     : snprintf(p->err, p->errlen, "%s: ", p->file);
		if (n >= 0 && (size_t)n < p->errlen)
			vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
	}
	return err;
}

static int fail(struct parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct parser *p, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int ret = failv(p, -EINVAL, p->line, fmt, ap);
	va_end(ap);
	return ret;
}

static int fail_at(struct parser *p, uint32_t line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail_at(struct parser *p, uint32_t line, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int ret = failv(p, -EINVAL, line, fmt, ap);
	va_end(ap);
	return ret;
}

static int fail_errno(struct parser *p, int err, const char *what)
{
	if (err == -ENOMEM) {
		fail(p, "out of memory");
		return -ENOMEM;
	}
	if (err == -E2BIG)
		return fail(p, "%s: too many entries (at most %u)", what, (unsigned)CONF_MAX_LIST);
	return fail(p, "%s: %s", what, strerror(-err));
}

/* A value as it may appear in a message: shortened, non-ASCII as '?'. */
static const char *quote(struct parser *p, const char *v)
{
	size_t n = 0, i;

	for (i = 0; v[i] && i < QUOTE_MAX; i++) {
		unsigned char c = (unsigned char)v[i];
		p->quoted[n++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	if (v[i]) {
		memcpy(p->quoted + n, "...", 3);
		n += 3;
	}
	p->quoted[n] = '\0';
	return p->quoted;
}

static int bad_value(struct parser *p, enum key_id k, const char *v)
{
	const struct keydef *d = &keys[k];
	if (d->secret)
		return fail(p, "%s: not %s (expected %s)", d->name, d->what, d->expect);
	return fail(p, "%s: '%s' is not %s (expected %s)", d->name, quote(p, v), d->what, d->expect);
}

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = '\0';
	return s;
}

/* ---- values ---- */

static bool parse_off_or_uint(const char *v, uint32_t max, uint32_t *out)
{
	if (conf_word_eq(v, "off")) {
		*out = 0;
		return true;
	}
	return conf_parse_uint(v, max, out);
}

/* Calls one(p, k, entry, ctx) for each comma-separated entry of v. */
static int each_entry(struct parser *p, enum key_id k, char *v,
		      int (*one)(struct parser *, enum key_id, char *, void *), void *ctx)
{
	for (;;) {
		char *comma = strchr(v, ',');
		if (comma)
			*comma = '\0';
		char *e = trim(v);
		if (!*e)
			return fail(p, "%s: empty entry in the list (expected %s)", keys[k].name, keys[k].expect);
		int ret = one(p, k, e, ctx);
		if (ret || !comma)
			return ret;
		v = comma + 1;
	}
}

static int prefix_entry(struct parser *p, enum key_id k, char *e, void *ctx)
{
	struct conf_prefix pre;
	if (!conf_prefix_parse(&pre, e))
		return bad_value(p, k, e);
	int ret = conf_prefix_list_add(ctx, &pre);
	return ret ? fail_errno(p, ret, keys[k].name) : 0;
}

static int dns_entry(struct parser *p, enum key_id k, char *e, void *ctx)
{
	int ret = conf_dns_add(ctx, e);
	if (ret == -EINVAL)
		return bad_value(p, k, e);
	return ret ? fail_errno(p, ret, keys[k].name) : 0;
}

static int set_key(struct parser *p, enum key_id k, const char *v, uint8_t out[CONF_KEY_LEN], bool *has)
{
	if (!key_from_base64(out, v))
		return bad_value(p, k, v);
	*has = true;
	return 0;
}

static int peer_public_key(struct parser *p, const char *v)
{
	struct conf_peer *peer = &p->c.peers[p->c.n_peers - 1];
	uint32_t other;

	if (!key_from_base64(peer->public_key, v))
		return bad_value(p, K_PUBLIC_KEY, v);
	int ret = conf_keyset_insert(&p->set, p->c.peers, p->c.n_peers - 1, &other);
	if (ret == -EEXIST)
		return fail(p, "PublicKey: peer '%s' appears twice (first in the [Peer] at line %u)",
			    quote(p, v), p->c.peers[other].line);
	if (ret)
		return fail_errno(p, ret, "PublicKey");
	p->peer_has_key = true;
	return 0;
}

static int table_value(struct parser *p, const char *v)
{
	struct conf_table *t = &p->c.iface.table;
	uint32_t n;

	if (conf_word_eq(v, "auto")) {
		t->kind = CONF_TABLE_AUTO;
	} else if (conf_word_eq(v, "off")) {
		t->kind = CONF_TABLE_OFF;
	} else if (v[0] >= '0' && v[0] <= '9') {
		if (!conf_parse_uint(v, UINT32_MAX, &n) || !n)
			return bad_value(p, K_TABLE, v);
		t->kind = CONF_TABLE_NUMBER;
		t->number = n;
	} else {
		if (!conf_table_name_valid(v))
			return bad_value(p, K_TABLE, v);
		t->kind = CONF_TABLE_NAME;
		snprintf(t->name, sizeof(t->name), "%s", v);
	}
	return 0;
}

static int peer_name(struct parser *p, char *v)
{
	size_t split = strcspn(v, " \t");
	char *name = trim(v + split);
	struct pending_name *pn;

	if (!v[split] || !*name)
		return fail(p, "PeerName: '%s' is not a public key and a name (expected %s)",
			    quote(p, v), keys[K_PEER_NAME].expect);
	v[split] = '\0';
	int ret = conf_grow((void **)&p->names, &p->cap_names, p->n_names + 1, sizeof(*p->names),
			    CONF_MAX_PEERS);
	if (ret)
		return fail_errno(p, ret, "PeerName");
	pn = &p->names[p->n_names];
	if (!key_from_base64(pn->key, v))
		return fail(p, "PeerName: '%s' is not a valid public key (expected %s)", quote(p, v), EXPECT_KEY);
	if (!conf_name_valid(name))
		return fail(p, "PeerName: '%s' is not a peer name (expected 1..%u printable characters, no '#')",
			    quote(p, name), (unsigned)CONF_NAME_MAX);
	pn->name = strdup(name);
	if (!pn->name)
		return fail_errno(p, -ENOMEM, "PeerName");
	pn->line = p->line;
	p->n_names++;
	return 0;
}

static int set_value(struct parser *p, enum key_id k, char *v)
{
	struct conf_interface *i = &p->c.iface;
	struct conf_weft *w = &p->c.weft;
	struct conf_peer *peer = p->sec == SEC_PEER ? &p->c.peers[p->c.n_peers - 1] : NULL;
	uint32_t n;
	int ret;

	switch (k) {
	case K_PRIVATE_KEY:
		return set_key(p, k, v, i->private_key, &i->has_private_key);
	case K_LISTEN_PORT:
		if (!conf_parse_uint(v, CONF_PORT_MAX, &n))
			return bad_value(p, k, v);
		i->has_listen_port = true;
		i->listen_port = (uint16_t)n;
		return 0;
	case K_FWMARK:
		if (!parse_off_or_uint(v, UINT32_MAX, &n) && !conf_parse_hex32(v, &n))
			return bad_value(p, k, v);
		i->has_fwmark = true;
		i->fwmark = n;
		return 0;
	case K_ADDRESS:
		return each_entry(p, k, v, prefix_entry, &i->addresses);
	case K_DNS:
		return each_entry(p, k, v, dns_entry, &i->dns);
	case K_MTU:
		if (!conf_parse_uint(v, CONF_MTU_MAX, &n) || n < CONF_MTU_MIN)
			return bad_value(p, k, v);
		i->has_mtu = true;
		i->mtu = (uint16_t)n;
		return 0;
	case K_TABLE:
		return table_value(p, v);
	case K_PRE_UP:
	case K_POST_UP:
	case K_PRE_DOWN:
	case K_POST_DOWN:
		ret = conf_hook_add(i, (enum conf_hook)(k - K_PRE_UP), v);
		if (ret == -EINVAL)
			return fail(p, "%s: command longer than %u bytes", keys[k].name, (unsigned)CONF_HOOK_MAX);
		return ret ? fail_errno(p, ret, keys[k].name) : 0;
	case K_SAVE_CONFIG:
		if (conf_word_eq(v, "true"))
			i->save_config = true;
		else if (conf_word_eq(v, "false"))
			i->save_config = false;
		else
			return bad_value(p, k, v);
		i->has_save_config = true;
		return 0;
	case K_PUBLIC_KEY:
		return peer_public_key(p, v);
	case K_PRESHARED_KEY:
		return set_key(p, k, v, peer->preshared_key, &peer->has_preshared_key);
	case K_ALLOWED_IPS:
		return each_entry(p, k, v, prefix_entry, &peer->allowed_ips);
	case K_ENDPOINT:
		if (!conf_endpoint_parse(&peer->endpoint, v))
			return bad_value(p, k, v);
		return 0;
	case K_KEEPALIVE:
		if (!parse_off_or_uint(v, CONF_KEEPALIVE_MAX, &n))
			return bad_value(p, k, v);
		peer->has_persistent_keepalive = true;
		peer->persistent_keepalive = (uint16_t)n;
		return 0;
	case K_PUBLIC_IPV4:
		if (!conf_addr_parse(&w->public_ipv4, v) || w->public_ipv4.family != AF_INET)
			return bad_value(p, k, v);
		w->has_public_ipv4 = true;
		return 0;
	case K_PUBLIC_IPV6:
		if (!conf_addr_parse(&w->public_ipv6, v) || w->public_ipv6.family != AF_INET6)
			return bad_value(p, k, v);
		w->has_public_ipv6 = true;
		return 0;
	case K_HOSTNAME:
		ret = conf_weft_set_hostname(w, v);
		if (ret == -EINVAL)
			return bad_value(p, k, v);
		return ret ? fail_errno(p, ret, keys[k].name) : 0;
	case K_PUBLIC_PORT:
		if (!conf_parse_uint(v, CONF_PORT_MAX, &n) || !n)
			return bad_value(p, k, v);
		w->has_public_port = true;
		w->public_port = (uint16_t)n;
		return 0;
	case K_PEER_DNS:
		return each_entry(p, k, v, dns_entry, &w->peer_dns);
	case K_PEER_NAME:
		return peer_name(p, v);
	case K_COUNT:
		break;
	}
	return fail(p, "internal error: key %d", (int)k);
}

/* ---- lines and sections ---- */

static int end_section(struct parser *p)
{
	if (p->sec == SEC_PEER && !p->peer_has_key && !(p->flags & CONF_PARSE_PEER_KEY_OPTIONAL))
		return fail_at(p, p->section_line, "[Peer] has no PublicKey (expected one in every [Peer])");
	memset(p->seen, 0, sizeof(p->seen));
	return 0;
}

static int section_header(struct parser *p, char *s)
{
	size_t len = strlen(s);
	enum section sec;
	int ret;

	if (s[len - 1] != ']')
		return fail(p, "'%s' is not a section header (expected [Interface], [Peer] or [Weft])", quote(p, s));
	s[len - 1] = '\0';
	if (conf_word_eq(s + 1, "Interface"))
		sec = SEC_INTERFACE;
	else if (conf_word_eq(s + 1, "Peer"))
		sec = SEC_PEER;
	else if (conf_word_eq(s + 1, "Weft"))
		sec = SEC_WEFT;
	else
		return fail(p, "unknown section '[%s]' (expected [Interface], [Peer] or [Weft])", quote(p, s + 1));

	ret = end_section(p);
	if (ret)
		return ret;
	p->sec = sec;
	p->section_line = p->line;
	switch (sec) {
	case SEC_INTERFACE:
		if (p->interface_line)
			return fail(p, "second [Interface] section (the first is at line %u; expected one)",
				    p->interface_line);
		p->interface_line = p->line;
		p->c.has_interface = true;
		break;
	case SEC_WEFT:
		if (p->flags & CONF_PARSE_SETCONF)
			return fail(p, "[Weft] is not part of the wg setconf form (expected [Interface] or [Peer]; try 'weft strip')");
		if (p->weft_line)
			return fail(p, "second [Weft] section (the first is at line %u; expected at most one)",
				    p->weft_line);
		p->weft_line = p->line;
		break;
	case SEC_PEER:
		ret = conf_peer_append(&p->c, NULL);
		if (ret == -E2BIG)
			return fail(p, "too many peers (at most %u)", (unsigned)CONF_MAX_PEERS);
		if (ret)
			return fail_errno(p, ret, "[Peer]");
		p->c.peers[p->c.n_peers - 1].line = p->line;
		p->peer_has_key = false;
		break;
	case SEC_NONE:
		break;
	}
	return 0;
}

/* A trimmed line of n bytes that is not a header. */
static int key_line(struct parser *p, char *s, size_t n)
{
	char *eq = memchr(s, '=', n);
	int k;

	if (!eq)
		return fail(p, "'%s' is not a setting (expected Key = Value or a [Section] header)", quote(p, s));
	*eq = '\0';
	/* s has no blanks at either end: only those around '=' go */
	char *name = s, *v = eq + 1;
	size_t name_n = (size_t)(eq - s);
	while (name_n && conf_blank(name[name_n - 1]))
		name[--name_n] = '\0';
	while (conf_blank(*v))
		v++;
	for (k = 0; k < K_COUNT; k++)
		if (keys[k].len == name_n && conf_word_maybe(name, keys[k].name) && conf_word_eq(name, keys[k].name))
			break;
	if (!*name)
		return fail(p, "'= %s' has no key (expected Key = Value)", quote(p, v));
	if (p->sec == SEC_NONE)
		return fail(p, "'%s' is outside any section (expected [Interface] or [Peer] before it)", quote(p, name));
	if (k == K_COUNT)
		return fail(p, "unknown key '%s' in %s (expected one of %s)", quote(p, name),
			    section_names[p->sec], section_keys[p->sec]);
	const struct keydef *d = &keys[k];
	if (d->section != p->sec)
		return fail(p, "%s belongs in %s, not in %s", d->name, section_names[d->section], section_names[p->sec]);
	if (d->wg_quick && (p->flags & CONF_PARSE_SETCONF))
		return fail(p, "%s is a wg-quick setting, not part of the wg setconf form (expected %s; try 'weft strip')",
			    d->name, "PrivateKey, ListenPort, FwMark or [Peer] keys");
	if (!d->list) {
		if (p->seen[k])
			return fail(p, "%s set twice in this section (first at line %u; expected once)",
				    d->name, p->seen[k]);
		p->seen[k] = p->line;
	}
	if (!*v)
		return fail(p, "%s: no value (expected %s)", d->name, d->expect);
	return set_value(p, (enum key_id)k, v);
}

static int parse_line(struct parser *p, char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!c)
			return fail(p, "NUL byte (expected text; is this a binary file?)");
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return fail(p, "control character 0x%02x (expected text; is this a binary file?)", c);
	}
	char *hash = memchr(s, '#', len);
	if (hash)
		len = (size_t)(hash - s);
	while (len && conf_blank(*s))
		s++, len--;
	while (len && conf_blank(s[len - 1]))
		len--;
	s[len] = '\0';
	if (!len)
		return 0;
	if (*s == '[')
		return section_header(p, s);
	return key_line(p, s, len);
}

static int resolve_names(struct parser *p)
{
	for (uint32_t i = 0; i < p->n_names; i++) {
		struct pending_name *pn = &p->names[i];
		uint32_t idx;
		char b64[WEFT_KEY_B64_LEN + 1];

		key_to_base64(b64, pn->key);
		if (!conf_keyset_find(&p->set, p->c.peers, pn->key, &idx))
			return fail_at(p, pn->line, "PeerName: no [Peer] has PublicKey '%s' (expected a peer of this file)", b64);
		if (p->c.peers[idx].name)
			return fail_at(p, pn->line, "PeerName: peer '%s' is named twice (expected one name per peer)", b64);
		p->c.peers[idx].name = pn->name;
		pn->name = NULL;
	}
	return 0;
}

static int parse_all(struct parser *p, const char *text, size_t len)
{
	size_t pos = 0;
	int ret;

	if (len > CONF_MAX_FILE_SIZE)
		return fail_at(p, 0, "larger than %u bytes (expected a config file)", (unsigned)CONF_MAX_FILE_SIZE);
	if (conf_peers_reserve(&p->c, conf_count_headers(text, len)))
		return fail_errno(p, -ENOMEM, "[Peer]");
	while (pos < len) {
		const char *start = text + pos;
		const char *nl = memchr(start, '\n', len - pos);
		size_t l = nl ? (size_t)(nl - start) : len - pos;

		pos += l + (nl ? 1 : 0);
		p->line++;
		if (l && start[l - 1] == '\r')
			l--;
		if (l > CONF_MAX_LINE)
			return fail(p, "line longer than %u bytes (expected a text config)", (unsigned)CONF_MAX_LINE);
		memcpy(p->buf, start, l);
		p->buf[l] = '\0';
		ret = parse_line(p, p->buf, l);
		/* the buffer is wiped with the parser, once, not line by line */
		if (ret)
			return ret;
	}
	ret = end_section(p);
	if (ret)
		return ret;
	if (!p->c.has_interface && !(p->flags & CONF_PARSE_SETCONF))
		return fail_at(p, p->line ? p->line : 1, "no [Interface] section (expected one)");
	return resolve_names(p);
}

int conf_parse(struct conf *out, const char *text, size_t len, const char *name,
	       unsigned flags, char *err, size_t errlen)
{
	return conf_parse_keyed(out, NULL, text, len, name, flags, err, errlen);
}

int conf_parse_keyed(struct conf *out, struct conf_keyset *key_set, const char *text, size_t len,
		     const char *name, unsigned flags, char *err, size_t errlen)
{
	struct parser *p = calloc(1, sizeof(*p));
	int ret;

	if (errlen)
		err[0] = '\0';
	if (!p) {
		if (errlen)
			snprintf(err, errlen, "%s: out of memory", name);
		return -ENOMEM;
	}
	p->file = name;
	p->flags = flags;
	p->err = err;
	p->errlen = errlen;
	conf_init(&p->c);
	ret = conf_keyset_init(&p->set);
	if (ret)
		fail_at(p, 0, "cannot initialise libsodium");
	else
		ret = parse_all(p, text, len);

	if (!ret)
		*out = p->c;
	else
		conf_free(&p->c);
	for (uint32_t i = 0; i < p->n_names; i++)
		free(p->names[i].name);
	free(p->names);
	if (!ret && key_set) {
		*key_set = p->set; /* the caller's now */
		memset(&p->set, 0, sizeof(p->set));
	}
	conf_keyset_free(&p->set);
	memzero(p, sizeof(*p));
	free(p);
	return ret;
}

int conf_load(struct conf *out, const char *path, unsigned flags, char *err, size_t errlen)
{
	struct stat st;
	char *buf;
	size_t len;
	int fd, ret;

	if (errlen)
		err[0] = '\0';
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return ret;
	}
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		snprintf(err, errlen, "%s: cannot stat: %s", path, strerror(errno));
		close(fd);
		return ret;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file (expected a config file)", path);
		close(fd);
		return -EINVAL;
	}
	if ((uint64_t)st.st_size > CONF_MAX_FILE_SIZE) {
		snprintf(err, errlen, "%s: larger than %u bytes (expected a config file)", path, (unsigned)CONF_MAX_FILE_SIZE);
		close(fd);
		return -EINVAL;
	}
	/* room for one byte more than the size, to notice a file that grew
	 * meanwhile: fd_read_all stops with -E2BIG when that byte comes */
	ret = fd_read_sized(fd, (size_t)st.st_size, &buf, &len);
	close(fd);
	if (ret == -E2BIG) {
		snprintf(err, errlen, "%s: changed while being read (expected a stable file)", path);
		return -EINVAL;
	}
	if (ret == -ENOMEM) {
		snprintf(err, errlen, "%s: out of memory", path);
		return ret;
	}
	if (ret < 0) {
		snprintf(err, errlen, "%s: cannot read: %s", path, strerror(-ret));
		return ret;
	}
	ret = conf_parse(out, buf, len, path, flags, err, errlen);
	conf_text_free(buf, len);
	return ret;
}
