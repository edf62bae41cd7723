/* conf_write.c: struct conf to canonical text (order and spelling documented
 * in conf.h), the wg(8) setconf form for `strip`, and atomic saving. The
 * output buffer holds keys, so when it grows the old one is wiped rather than
 * realloc'd, and callers free it with conf_text_free(). */
#include "conf/conf_internal.h"

#include "crypto/crypto.h"
#include "util/atomic_file.h"
#include "util/encoding.h"
#include "util/wipe_realloc.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIST_WRAP 1000         /* list values per line before "Key = " starts again */
#define BYTES_PER_PEER_GUESS 160
#define BUF_MIN 4096
#define LINE_GUESS 256       /* room to try formatting a line in before measuring it */
#define CONF_FILE_MODE 0600

static void reserve(struct conf_out *o, size_t more)
{
	if (o->oom || o->len + more + 1 <= o->cap)
		return;
	size_t cap = o->cap ? o->cap * 2 : BUF_MIN;
	while (cap < o->len + more + 1)
		cap *= 2;
	char *b = wipe_realloc(o->buf, o->cap, o->len, cap);
	if (!b) {
		o->oom = true;
		return;
	}
	o->buf = b;
	o->cap = cap;
}

void conf_out_reserve(struct conf_out *o, size_t more)
{
	reserve(o, more);
}

void conf_out_putn(struct conf_out *o, const char *s, size_t n)
{
	reserve(o, n);
	if (o->oom)
		return;
	memcpy(o->buf + o->len, s, n);
	o->len += n;
	o->buf[o->len] = '\0';
}

static void put(struct conf_out *o, const char *s)
{
	conf_out_putn(o, s, strlen(s));
}

void conf_out_put(struct conf_out *o, const char *s)
{
	put(o, s);
}

void conf_out_free(struct conf_out *o)
{
	if (o->buf)
		memzero(o->buf, o->cap);
	free(o->buf);
	memset(o, 0, sizeof(*o));
}

static void putf(struct conf_out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(struct conf_out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	/* most lines fit the room left: format once, and again only if not */
	reserve(o, LINE_GUESS);
	if (o->oom)
		return;
	va_start(ap, fmt);
	n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
	va_end(ap);
	if (n < 0) {
		o->oom = true;
		return;
	}
	if ((size_t)n >= o->cap - o->len) {
		reserve(o, (size_t)n);
		if (o->oom)
			return;
		va_start(ap, fmt);
		vsnprintf(o->buf + o->len, (size_t)n + 1, fmt, ap);
		va_end(ap);
	}
	o->len += (size_t)n;
}

/* Comma-joined lists, starting a new "Key = " line past LIST_WRAP so that no
 * line can exceed CONF_MAX_LINE however long the list. */
struct list {
	struct conf_out *o;
	const char *key;
	size_t width; /* value characters on the current line; 0 = no line yet */
};

static void item(struct list *l, const char *v)
{
	size_t n = strlen(v);
	if (l->width && l->width + 2 + n > LIST_WRAP) {
		put(l->o, "\n");
		l->width = 0;
	}
	if (!l->width) {
		putf(l->o, "%s = %s", l->key, v);
	} else {
		putf(l->o, ", %s", v);
		l->width += 2;
	}
	l->width += n;
}

static void end_list(struct list *l)
{
	if (l->width)
		put(l->o, "\n");
}

static void put_prefixes(struct conf_out *o, const char *key, const struct conf_prefix_list *pl)
{
	struct list l = { o, key, 0 };
	char s[CONF_PREFIX_STRLEN];

	for (uint32_t i = 0; i < pl->n; i++) {
		conf_prefix_format(s, &pl->v[i]);
		item(&l, s);
	}
	end_list(&l);
}

static void put_dns(struct conf_out *o, const char *key, const struct conf_dns *d)
{
	struct list l = { o, key, 0 };
	char s[CONF_ADDR_STRLEN];

	for (uint32_t i = 0; i < d->servers.n; i++) {
		conf_addr_format(s, &d->servers.v[i]);
		item(&l, s);
	}
	for (uint32_t i = 0; i < d->search.n; i++)
		item(&l, d->search.v[i]);
	end_list(&l);
}

static void put_key(struct conf_out *o, const char *name, const uint8_t key[CONF_KEY_LEN])
{
	char b64[WEFT_KEY_B64_LEN + 1];

	key_to_base64(b64, key);
	putf(o, "%s = %s\n", name, b64);
	memzero(b64, sizeof(b64));
}

static const char *const field_names[CONF_FIELDS] = {
	[CONF_F_PRIVATE_KEY] = "PrivateKey", [CONF_F_LISTEN_PORT] = "ListenPort",
	[CONF_F_FWMARK] = "FwMark", [CONF_F_ADDRESS] = "Address", [CONF_F_DNS] = "DNS",
	[CONF_F_MTU] = "MTU", [CONF_F_TABLE] = "Table", [CONF_F_PRE_UP] = "PreUp",
	[CONF_F_POST_UP] = "PostUp", [CONF_F_PRE_DOWN] = "PreDown", [CONF_F_POST_DOWN] = "PostDown",
	[CONF_F_SAVE_CONFIG] = "SaveConfig", [CONF_F_PUBLIC_KEY] = "PublicKey",
	[CONF_F_PRESHARED_KEY] = "PresharedKey", [CONF_F_ALLOWED_IPS] = "AllowedIPs",
	[CONF_F_ENDPOINT] = "Endpoint", [CONF_F_KEEPALIVE] = "PersistentKeepalive",
};

int conf_field_lookup(const char *name)
{
	for (int f = 0; f < CONF_FIELDS; f++)
		if (conf_word_maybe(name, field_names[f]) && conf_word_eq(name, field_names[f]))
			return f;
	return -1;
}

static void put_iface_field(struct conf_out *o, const struct conf_interface *i, enum conf_field f)
{
	switch (f) {
	case CONF_F_PRIVATE_KEY:
		if (i->has_private_key)
			put_key(o, "PrivateKey", i->private_key);
		break;
	case CONF_F_LISTEN_PORT:
		if (i->has_listen_port)
			putf(o, "ListenPort = %u\n", i->listen_port);
		break;
	case CONF_F_FWMARK:
		if (i->has_fwmark) {
			if (i->fwmark)
				putf(o, "FwMark = 0x%x\n", i->fwmark);
			else
				put(o, "FwMark = off\n");
		}
		break;
	case CONF_F_ADDRESS:
		put_prefixes(o, "Address", &i->addresses);
		break;
	case CONF_F_DNS:
		put_dns(o, "DNS", &i->dns);
		break;
	case CONF_F_MTU:
		if (i->has_mtu)
			putf(o, "MTU = %u\n", i->mtu);
		break;
	case CONF_F_TABLE:
		switch (i->table.kind) {
		case CONF_TABLE_UNSET:
			break;
		case CONF_TABLE_AUTO:
			put(o, "Table = auto\n");
			break;
		case CONF_TABLE_OFF:
			put(o, "Table = off\n");
			break;
		case CONF_TABLE_NUMBER:
			putf(o, "Table = %u\n", i->table.number);
			break;
		case CONF_TABLE_NAME:
			putf(o, "Table = %s\n", i->table.name);
			break;
		}
		break;
	case CONF_F_PRE_UP:
	case CONF_F_POST_UP:
	case CONF_F_PRE_DOWN:
	case CONF_F_POST_DOWN: {
		int h = (int)(f - CONF_F_PRE_UP);
		for (uint32_t k = 0; k < i->hooks[h].n; k++)
			putf(o, "%s = %s\n", field_names[f], i->hooks[h].v[k]);
		break;
	}
	case CONF_F_SAVE_CONFIG:
		if (i->has_save_config)
			putf(o, "SaveConfig = %s\n", i->save_config ? "true" : "false");
		break;
	default:
		break;
	}
}

static void put_peer_field(struct conf_out *o, const struct conf_peer *p, enum conf_field f)
{
	switch (f) {
	case CONF_F_PUBLIC_KEY:
		put_key(o, "PublicKey", p->public_key);
		break;
	case CONF_F_PRESHARED_KEY:
		if (p->has_preshared_key)
			put_key(o, "PresharedKey", p->preshared_key);
		break;
	case CONF_F_ALLOWED_IPS:
		put_prefixes(o, "AllowedIPs", &p->allowed_ips);
		break;
	case CONF_F_ENDPOINT:
		if (p->endpoint.host) {
			char ep[CONF_ENDPOINT_STRLEN];

			conf_endpoint_format(ep, sizeof(ep), &p->endpoint);
			putf(o, "Endpoint = %s\n", ep);
		}
		break;
	case CONF_F_KEEPALIVE:
		if (p->has_persistent_keepalive) {
			if (p->persistent_keepalive)
				putf(o, "PersistentKeepalive = %u\n", p->persistent_keepalive);
			else
				put(o, "PersistentKeepalive = off\n");
		}
		break;
	default:
		break;
	}
}

void conf_put_field(struct conf_out *o, const struct conf *c, const struct conf_peer *peer, enum conf_field f)
{
	if (peer)
		put_peer_field(o, peer, f);
	else
		put_iface_field(o, &c->iface, f);
}

static void put_interface(struct conf_out *o, const struct conf *c, bool strip)
{
	const struct conf_interface *i = &c->iface;

	if (strip && !c->has_interface && !i->has_private_key && !i->has_listen_port && !i->has_fwmark)
		return;
	put(o, "[Interface]\n");
	for (int f = CONF_F_PRIVATE_KEY; f <= (strip ? CONF_F_FWMARK : CONF_F_SAVE_CONFIG); f++)
		put_iface_field(o, i, (enum conf_field)f);
}

static bool weft_empty(const struct conf *c)
{
	const struct conf_weft *w = &c->weft;

	if (w->has_public_ipv4 || w->has_public_ipv6 || w->hostname || w->has_public_port ||
	    w->peer_dns.servers.n || w->peer_dns.search.n)
		return false;
	for (uint32_t i = 0; i < c->n_peers; i++)
		if (c->peers[i].name)
			return false;
	return true;
}

static void put_weft(struct conf_out *o, const struct conf *c)
{
	const struct conf_weft *w = &c->weft;
	char a[CONF_ADDR_STRLEN], b64[WEFT_KEY_B64_LEN + 1];

	put(o, "\n[Weft]\n");
	if (w->has_public_ipv4) {
		conf_addr_format(a, &w->public_ipv4);
		putf(o, "PublicIPv4 = %s\n", a);
	}
	if (w->has_public_ipv6) {
		conf_addr_format(a, &w->public_ipv6);
		putf(o, "PublicIPv6 = %s\n", a);
	}
	if (w->hostname)
		putf(o, "Hostname = %s\n", w->hostname);
	if (w->has_public_port)
		putf(o, "PublicPort = %u\n", w->public_port);
	put_dns(o, "PeerDNS", &w->peer_dns);
	for (uint32_t i = 0; i < c->n_peers; i++) {
		if (!c->peers[i].name)
			continue;
		key_to_base64(b64, c->peers[i].public_key);
		putf(o, "PeerName = %s %s\n", b64, c->peers[i].name);
	}
}

void conf_put_peer(struct conf_out *o, const struct conf_peer *p)
{
	/* a blank line after what came before; none in a header-less
	 * setconf file that starts with its peers */
	put(o, o->len ? "\n[Peer]\n" : "[Peer]\n");
	for (int f = CONF_F_PUBLIC_KEY; f < CONF_FIELDS; f++)
		put_peer_field(o, p, (enum conf_field)f);
}

int conf_write(const struct conf *c, unsigned flags, char **text, size_t *len)
{
	bool strip = flags & CONF_WRITE_STRIP;
	struct conf_out o = { 0 };

	*text = NULL;
	*len = 0;
	if (!conf_check(c))
		return -EINVAL;
	reserve(&o, BUF_MIN + (size_t)c->n_peers * BYTES_PER_PEER_GUESS);
	put_interface(&o, c, strip);
	if (!strip && (flags & CONF_WRITE_WEFT) && !weft_empty(c))
		put_weft(&o, c);
	for (uint32_t i = 0; i < c->n_peers; i++)
		conf_put_peer(&o, &c->peers[i]);
	if (o.oom) {
		if (o.buf)
			memzero(o.buf, o.cap);
		free(o.buf);
		return -ENOMEM;
	}
	if (!o.buf) {
		o.buf = calloc(1, 1);
		if (!o.buf)
			return -ENOMEM;
	}
	*text = o.buf;
	*len = o.len;
	return 0;
}

void conf_text_free(char *text, size_t len)
{
	if (!text)
		return;
	/* len is the text length; the wipe covers it and the NUL */
	memzero(text, len + 1);
	free(text);
}

int conf_save(const struct conf *c, const char *path, unsigned flags, char *err, size_t errlen)
{
	char *text;
	size_t len;
	int ret;

	if (errlen)
		err[0] = '\0';
	ret = conf_write(c, flags, &text, &len);
	if (ret) {
		snprintf(err, errlen, "%s: %s", path,
			 ret == -ENOMEM ? "out of memory" : "the configuration holds invalid values");
		return ret;
	}
	ret = atomic_file_write(path, text, len, CONF_FILE_MODE);
	conf_text_free(text, len);
	if (ret)
		snprintf(err, errlen, "%s: cannot write: %s", path, strerror(-ret));
	return ret;
}
