/* weftfile.c: reading and writing IFACE.weft (format in weftfile.h): weft's
 * interface settings and its peer records. One pass, line by line, stopping
 * at the first problem with "FILE:LINE: what was expected"; secrets are only
 * copied into the line buffer (wiped when the parse ends) and the records. */
#include "conf/weftfile.h"

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
#include <time.h>
#include <unistd.h>

#define RECS_MIN_CAP 8u
#define SPARE_RECORDS 16u
#define BYTES_PER_RECORD_GUESS 256

static const char *const endpoint_types[] = { "any", "ipv4", "ipv6", "domain" };

bool weft_endpoint_type_parse(const char *s, uint8_t *out)
{
	for (uint8_t i = 0; i < sizeof(endpoint_types) / sizeof(endpoint_types[0]); i++)
		if (conf_word_eq(s, endpoint_types[i])) {
			*out = i;
			return true;
		}
	return false;
}

const char *weft_endpoint_type_name(uint8_t type)
{
	return type < sizeof(endpoint_types) / sizeof(endpoint_types[0]) ? endpoint_types[type] : "any";
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
 * days_from_civil): no time zone, no locale, no table. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

	return era * 146097 + (int64_t)doe - 719468;
}

/* n digits at s into *v. */
static bool digits(const char *s, int n, unsigned *v)
{
	*v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		*v = *v * 10 + (unsigned)(s[i] - '0');
	}
	return true;
}

bool weft_time_parse(const char *s, int64_t *out)
{
	static const unsigned mdays[12] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	unsigned y, mo, d, h = 0, mi = 0, sec = 0;
	size_t n = strlen(s);

	if (n < 10 || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) || s[7] != '-' ||
	    !digits(s + 8, 2, &d) || y < 1970 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1])
		return false;
	if (mo == 2 && d == 29 && (y % 4 || (y % 100 == 0 && y % 400)))
		return false;
	if (n > 10) {
		/* "THH:MMZ" or "THH:MM:SSZ" */
		if ((n != 17 && n != 20) || s[10] != 'T' || !digits(s + 11, 2, &h) || s[13] != ':' ||
		    !digits(s + 14, 2, &mi) || s[n - 1] != 'Z' || h > 23 || mi > 59)
			return false;
		if (n == 20 && (s[16] != ':' || !digits(s + 17, 2, &sec) || sec > 59))
			return false;
	}
	*out = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec;
	return *out > 0;
}

/* The date of a day count since 1970-01-01 (Howard Hinnant's
 * civil_from_days, the inverse of days_from_civil), for days >= 0. */
static void civil_from_days(int64_t z, unsigned *y, unsigned *m, unsigned *d)
{
	z += 719468;
	int64_t era = z / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;

	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (unsigned)(yoe + era * 400) + (*m <= 2);
}

static char *put_digits(char *p, unsigned v, int n)
{
	for (int i = n - 1; i >= 0; i--, v /= 10)
		p[i] = (char)('0' + v % 10);
	return p + n;
}

/* The last second with a four-digit year, 9999-12-31T23:59:59Z. */
#define TIME_FORMAT_LAST INT64_C(253402300799)

void weft_time_format(char out[WEFT_TIME_STRLEN], int64_t t)
{
	/* by hand rather than gmtime_r and strftime (a third of writing
	 * IFACE.weft for 10,000 peers), with the same text; they stay for
	 * times outside four-digit years */
	unsigned y, mo, d, sec;
	char *p = out;

	if (t < 0 || t > TIME_FORMAT_LAST) {
		time_t v = (time_t)t;
		struct tm tm;

		if (!gmtime_r(&v, &tm) || !strftime(out, WEFT_TIME_STRLEN, "%Y-%m-%dT%H:%M:%SZ", &tm))
			snprintf(out, WEFT_TIME_STRLEN, "1970-01-01T00:00:00Z");
		return;
	}
	civil_from_days(t / 86400, &y, &mo, &d);
	sec = (unsigned)(t % 86400);
	p = put_digits(p, y, 4);
	*p++ = '-';
	p = put_digits(p, mo, 2);
	*p++ = '-';
	p = put_digits(p, d, 2);
	*p++ = 'T';
	p = put_digits(p, sec / 3600, 2);
	*p++ = ':';
	p = put_digits(p, sec / 60 % 60, 2);
	*p++ = ':';
	p = put_digits(p, sec % 60, 2);
	*p++ = 'Z';
	*p = '\0';
}

bool weft_owner_valid(const char *s)
{
	size_t n = strlen(s);

	if (!n || n > WEFT_OWNER_MAX || s[0] == ' ' || s[n - 1] == ' ')
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f || s[i] == '#')
			return false;
	return true;
}

/* ---- the struct ---- */

void weftfile_init(struct weft_file *w)
{
	memset(w, 0, sizeof(*w));
}

static void held_free(struct conf_peer *p)
{
	memzero(p->preshared_key, sizeof(p->preshared_key));
	free(p->allowed_ips.v);
	free(p->endpoint.host);
	free(p->name);
	memset(p, 0, sizeof(*p));
}

void peer_record_free(struct peer_record *r)
{
	free(r->name);
	free(r->owner);
	free(r->client_allowed_ips.v);
	conf_dns_clear(&r->client_dns);
	held_free(&r->held);
	memzero(r, sizeof(*r));
}

void weftfile_free(struct weft_file *w)
{
	free(w->settings.hostname);
	free(w->link.coord);
	conf_dns_clear(&w->settings.peer_dns);
	for (uint32_t i = 0; i < w->n; i++)
		peer_record_free(&w->recs[i]);
	if (w->recs)
		memzero(w->recs, (size_t)w->cap * sizeof(*w->recs));
	free(w->recs);
	weftfile_init(w);
}

/* Room for cap records in all (at most CONF_MAX_PEERS). */
static int reserve(struct weft_file *w, uint32_t cap)
{
	struct peer_record *v;

	if (cap > CONF_MAX_PEERS)
		cap = CONF_MAX_PEERS;
	if (cap <= w->cap)
		return 0;
	/* records hold preshared keys: move them by hand, wiping the old */
	v = calloc(cap, sizeof(*v));
	if (!v)
		return -ENOMEM;
	if (w->recs) {
		memcpy(v, w->recs, (size_t)w->n * sizeof(*v));
		memzero(w->recs, (size_t)w->cap * sizeof(*v));
		free(w->recs);
	}
	w->recs = v;
	w->cap = cap;
	return 0;
}

int weftfile_append(struct weft_file *w, const uint8_t key[CONF_KEY_LEN], struct peer_record **rec)
{
	if (w->n >= CONF_MAX_PEERS)
		return -E2BIG;
	if (w->n == w->cap) {
		int ret = reserve(w, w->cap ? w->cap * 2 : RECS_MIN_CAP);
		if (ret)
			return ret;
	}
	struct peer_record *r = &w->recs[w->n++];
	memset(r, 0, sizeof(*r));
	memcpy(r->public_key, key, CONF_KEY_LEN);
	memcpy(r->held.public_key, key, CONF_KEY_LEN);
	r->enabled = true;
	if (rec)
		*rec = r;
	return 0;
}

/* ---- parsing ---- */

enum wsec { W_NONE, W_WEFT, W_PEER };

enum wkey {
	WK_PUBLIC_IPV4, WK_PUBLIC_IPV6, WK_HOSTNAME, WK_PUBLIC_PORT, WK_PEER_DNS, WK_COORD, WK_COORD_KEY,
	WK_PUBLIC_KEY, WK_NAME, WK_OWNER, WK_CREATED, WK_EXPIRES, WK_ENABLED, WK_ENDPOINT_TYPE,
	WK_CLIENT_ALLOWED_IPS, WK_CLIENT_DNS, WK_CLIENT_KEEPALIVE, WK_ROAMING,
	WK_ALLOWED_IPS, WK_PRESHARED_KEY, WK_ENDPOINT, WK_KEEPALIVE,
	WK_COUNT
};

/* A key's name and its length, compared first. */
#define WKEY(name) name, sizeof(name) - 1

static const struct wkeydef {
	const char *name;
	size_t len;
	enum wsec sec;
	bool list;
	const char *expect;
} wkeys[WK_COUNT] = {
	[WK_PUBLIC_IPV4] = { WKEY("PublicIPv4"), W_WEFT, false, "an IPv4 address" },
	[WK_PUBLIC_IPV6] = { WKEY("PublicIPv6"), W_WEFT, false, "an IPv6 address" },
	[WK_HOSTNAME] = { WKEY("Hostname"), W_WEFT, false, "a DNS name" },
	[WK_PUBLIC_PORT] = { WKEY("PublicPort"), W_WEFT, false, "a port 1..65535" },
	[WK_PEER_DNS] = { WKEY("PeerDNS"), W_WEFT, true, "IP addresses or search domains, comma-separated" },
	[WK_COORD] = { WKEY("Coord"), W_WEFT, false, "HOST:PORT or [IPv6]:PORT" },
	[WK_COORD_KEY] = { WKEY("CoordKey"), W_WEFT, false, "a base64 key of 44 characters" },
	[WK_PUBLIC_KEY] = { WKEY("PublicKey"), W_PEER, false, "a base64 key of 44 characters" },
	[WK_NAME] = { WKEY("Name"), W_PEER, false, "a peer name of 1..64 characters" },
	[WK_OWNER] = { WKEY("Owner"), W_PEER, false, "1..128 printable characters, no '#'" },
	[WK_CREATED] = { WKEY("Created"), W_PEER, false, "a UTC time such as 2026-12-07T21:48:01Z" },
	[WK_EXPIRES] = { WKEY("Expires"), W_PEER, false, "a UTC time such as 2026-12-07T21:48:01Z" },
	[WK_ENABLED] = { WKEY("Enabled"), W_PEER, false, "true or false" },
	[WK_ENDPOINT_TYPE] = { WKEY("EndpointType"), W_PEER, false, "any, ipv4, ipv6 or domain" },
	[WK_CLIENT_ALLOWED_IPS] = { WKEY("ClientAllowedIPs"), W_PEER, true, "ADDRESS/CIDR, comma-separated" },
	[WK_CLIENT_DNS] = { WKEY("ClientDNS"), W_PEER, true, "IP addresses or search domains, or none" },
	[WK_CLIENT_KEEPALIVE] = { WKEY("ClientKeepalive"), W_PEER, false, "seconds 0..65535" },
	[WK_ROAMING] = { WKEY("Roaming"), W_PEER, false, "true or false" },
	[WK_ALLOWED_IPS] = { WKEY("AllowedIPs"), W_PEER, true, "ADDRESS/CIDR, comma-separated" },
	[WK_PRESHARED_KEY] = { WKEY("PresharedKey"), W_PEER, false, "a base64 key of 44 characters" },
	[WK_ENDPOINT] = { WKEY("Endpoint"), W_PEER, false, "HOST:PORT or [IPv6]:PORT" },
	[WK_KEEPALIVE] = { WKEY("PersistentKeepalive"), W_PEER, false, "seconds 0..65535, or off" },
};

struct wparser {
	struct weft_file w;
	const char *file;
	char *err;
	size_t errlen;
	uint32_t line, weft_line, section_line;
	enum wsec sec;
	bool has_key;
	uint32_t seen[WK_COUNT];
	struct conf_keyset set;   /* the records' keys, for the duplicate check */
	char buf[CONF_MAX_LINE + 1];
};

static int wfail(struct wparser *p, uint32_t line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int wfail(struct wparser *p, uint32_t line, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!p->errlen)
		return -EINVAL;
	n = snprintf(p->err, p->errlen, "%s:%u: ", p->file, line);
	va_start(ap, fmt);
	if (n >= 0 && (size_t)n < p->errlen)
		vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static char *wtrim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = '\0';
	return s;
}

static int list_values(struct wparser *p, enum wkey k, char *v, void *list, bool dns)
{
	for (char *save = NULL, *e = strtok_r(v, ",", &save); e; e = strtok_r(NULL, ",", &save)) {
		struct conf_prefix pre;
		char *t = wtrim(e);
		int ret;

		if (dns) {
			ret = conf_dns_add(list, t);
		} else {
			if (!conf_prefix_parse(&pre, t))
				return wfail(p, p->line, "%s: '%.48s' is not %s", wkeys[k].name, t, wkeys[k].expect);
			ret = conf_prefix_list_add(list, &pre);
		}
		if (ret == -ENOMEM)
			return ret;
		if (ret)
			return wfail(p, p->line, "%s: '%.48s' is not %s", wkeys[k].name, t, wkeys[k].expect);
	}
	return 0;
}

static int wvalue(struct wparser *p, enum wkey k, char *v)
{
	struct conf_weft *s = &p->w.settings;
	struct peer_record *r = p->sec == W_PEER ? &p->w.recs[p->w.n - 1] : NULL;
	uint32_t n;
	int ret;

	switch (k) {
	case WK_PUBLIC_IPV4:
		if (!conf_addr_parse(&s->public_ipv4, v) || s->public_ipv4.family != AF_INET)
			goto bad;
		s->has_public_ipv4 = true;
		return 0;
	case WK_PUBLIC_IPV6:
		if (!conf_addr_parse(&s->public_ipv6, v) || s->public_ipv6.family != AF_INET6)
			goto bad;
		s->has_public_ipv6 = true;
		return 0;
	case WK_HOSTNAME:
		ret = conf_weft_set_hostname(s, v);
		return ret == -EINVAL ? wfail(p, p->line, "Hostname: '%.48s' is not a DNS name", v) : ret;
	case WK_PUBLIC_PORT:
		if (!conf_parse_uint(v, 65535, &n) || !n)
			goto bad;
		s->has_public_port = true;
		s->public_port = (uint16_t)n;
		return 0;
	case WK_PEER_DNS:
		return list_values(p, k, v, &s->peer_dns, true);
	case WK_COORD: {
		struct conf_endpoint e = { 0 };

		if (!conf_endpoint_parse(&e, v))
			goto bad;
		free(e.host);
		p->w.link.coord = strdup(v);
		return p->w.link.coord ? 0 : -ENOMEM;
	}
	case WK_COORD_KEY:
		if (!key_from_base64(p->w.link.coord_key, v))
			goto bad;
		p->w.link.has_coord_key = true;
		return 0;
	case WK_PUBLIC_KEY: {
		uint32_t other;

		if (!key_from_base64(r->public_key, v))
			goto bad;
		ret = conf_keyset_insert(&p->set, p->w.recs, p->w.n - 1, &other);
		if (ret == -EEXIST)
			return wfail(p, p->line, "PublicKey: '%.48s' has a second record (expected one per peer)", v);
		if (ret)
			return ret;
		memcpy(r->held.public_key, r->public_key, CONF_KEY_LEN);
		p->has_key = true;
		return 0;
	}
	case WK_NAME:
		if (!conf_name_valid(v))
			goto bad;
		r->name = strdup(v);
		return r->name ? 0 : -ENOMEM;
	case WK_OWNER:
		if (!weft_owner_valid(v))
			goto bad;
		r->owner = strdup(v);
		return r->owner ? 0 : -ENOMEM;
	case WK_CREATED:
		return weft_time_parse(v, &r->created) ? 0 : wfail(p, p->line, "Created: '%.48s' is not %s", v, wkeys[k].expect);
	case WK_EXPIRES:
		return weft_time_parse(v, &r->expires) ? 0 : wfail(p, p->line, "Expires: '%.48s' is not %s", v, wkeys[k].expect);
	case WK_ENABLED:
		if (conf_word_eq(v, "true"))
			r->enabled = true;
		else if (conf_word_eq(v, "false"))
			r->enabled = false;
		else
			goto bad;
		return 0;
	case WK_ROAMING:
		if (conf_word_eq(v, "true"))
			r->roaming = true;
		else if (conf_word_eq(v, "false"))
			r->roaming = false;
		else
			goto bad;
		return 0;
	case WK_ENDPOINT_TYPE:
		return weft_endpoint_type_parse(v, &r->endpoint_type) ? 0 : wfail(p, p->line, "EndpointType: '%.48s' is not %s", v, wkeys[k].expect);
	case WK_CLIENT_ALLOWED_IPS:
		return list_values(p, k, v, &r->client_allowed_ips, false);
	case WK_CLIENT_DNS:
		r->has_client_dns = true;
		return conf_word_eq(v, "none") ? 0 : list_values(p, k, v, &r->client_dns, true);
	case WK_CLIENT_KEEPALIVE:
		if (!conf_parse_uint(v, 65535, &n))
			goto bad;
		r->has_client_keepalive = true;
		r->client_keepalive = (uint16_t)n;
		return 0;
	case WK_ALLOWED_IPS:
		return list_values(p, k, v, &r->held.allowed_ips, false);
	case WK_PRESHARED_KEY:
		if (!key_from_base64(r->held.preshared_key, v))
			return wfail(p, p->line, "PresharedKey: not %s", wkeys[k].expect);
		r->held.has_preshared_key = true;
		return 0;
	case WK_ENDPOINT:
		return conf_endpoint_parse(&r->held.endpoint, v) ? 0 : wfail(p, p->line, "Endpoint: '%.48s' is not %s", v, wkeys[k].expect);
	case WK_KEEPALIVE:
		if (conf_word_eq(v, "off"))
			n = 0;
		else if (!conf_parse_uint(v, 65535, &n))
			goto bad;
		r->held.has_persistent_keepalive = true;
		r->held.persistent_keepalive = (uint16_t)n;
		return 0;
	case WK_COUNT:
		break;
	}
bad:
	return wfail(p, p->line, "%s: '%.48s' is not %s", wkeys[k].name, v, wkeys[k].expect);
}

static int wend_section(struct wparser *p)
{
	if (p->sec == W_PEER && !p->has_key)
		return wfail(p, p->section_line, "[Peer] has no PublicKey (expected one in every record)");
	memset(p->seen, 0, sizeof(p->seen));
	return 0;
}

/* One line of n bytes (NUL-terminated at s[n], no NUL inside). */
static int wline(struct wparser *p, char *s, size_t n)
{
	char *hash = memchr(s, '#', n);
	int ret;

	if (hash)
		n = (size_t)(hash - s);
	while (n && conf_blank(*s))
		s++, n--;
	while (n && conf_blank(s[n - 1]))
		n--;
	s[n] = '\0';
	if (!n)
		return 0;
	if (*s == '[') {
		ret = wend_section(p);
		if (ret)
			return ret;
		if (conf_word_eq(s, "[Weft]")) {
			if (p->weft_line)
				return wfail(p, p->line, "second [Weft] section (the first is at line %u)", p->weft_line);
			p->weft_line = p->line;
			p->sec = W_WEFT;
		} else if (conf_word_eq(s, "[Peer]")) {
			ret = weftfile_append(&p->w, (const uint8_t[CONF_KEY_LEN]){ 0 }, NULL);
			if (ret == -E2BIG)
				return wfail(p, p->line, "too many records (at most %u)", (unsigned)CONF_MAX_PEERS);
			if (ret)
				return ret;
			p->sec = W_PEER;
			p->has_key = false;
		} else {
			return wfail(p, p->line, "unknown section '%.48s' (expected [Weft] or [Peer])", s);
		}
		p->section_line = p->line;
		return 0;
	}
	char *eq = memchr(s, '=', n);
	if (!eq)
		return wfail(p, p->line, "'%.48s' is not a setting (expected Key = Value or a section header)", s);
	*eq = '\0';
	char *name = s, *v = eq + 1;
	size_t name_n = (size_t)(eq - s);
	while (name_n && conf_blank(name[name_n - 1]))
		name[--name_n] = '\0';
	while (conf_blank(*v))
		v++;
	int k;
	for (k = 0; k < WK_COUNT; k++)
		if (wkeys[k].len == name_n && conf_word_maybe(name, wkeys[k].name) && conf_word_eq(name, wkeys[k].name))
			break;
	if (k == WK_COUNT || p->sec == W_NONE || wkeys[k].sec != p->sec)
		return wfail(p, p->line, "unexpected key '%.48s' here (expected %s)", name,
			     p->sec == W_WEFT ? "PublicIPv4, PublicIPv6, Hostname, PublicPort, PeerDNS, Coord or CoordKey" :
			     p->sec == W_PEER ? "a peer record key such as PublicKey, Name, Enabled" :
			     "a [Weft] or [Peer] header first");
	if (!wkeys[k].list) {
		if (p->seen[k])
			return wfail(p, p->line, "%s set twice (first at line %u)", wkeys[k].name, p->seen[k]);
		p->seen[k] = p->line;
	}
	if (!*v)
		return wfail(p, p->line, "%s: no value (expected %s)", wkeys[k].name, wkeys[k].expect);
	return wvalue(p, (enum wkey)k, v);
}

int weftfile_parse(struct weft_file *out, const char *text, size_t len, const char *name,
		   char *err, size_t errlen)
{
	return weftfile_parse_keyed(out, NULL, text, len, name, err, errlen);
}

int weftfile_parse_keyed(struct weft_file *out, struct conf_keyset *key_set, const char *text, size_t len,
			 const char *name, char *err, size_t errlen)
{
	struct wparser *p = calloc(1, sizeof(*p));
	size_t pos = 0;
	int ret;

	if (errlen)
		err[0] = '\0';
	if (!p)
		return -ENOMEM;
	p->file = name;
	p->err = err;
	p->errlen = errlen;
	weftfile_init(&p->w);
	ret = conf_keyset_init_stride(&p->set, sizeof(struct peer_record));
	if (len > CONF_MAX_FILE_SIZE)
		ret = wfail(p, 0, "larger than %u bytes", (unsigned)CONF_MAX_FILE_SIZE);
	/* one block for the records (and a few more: the file is read to be
	 * changed), not doublings that copy and wipe them */
	if (!ret)
		ret = reserve(&p->w, conf_count_headers(text, len) + SPARE_RECORDS);
	while (!ret && pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t l = nl ? (size_t)(nl - text - pos) : len - pos;
		const char *start = text + pos;

		pos += l + (nl ? 1 : 0);
		p->line++;
		if (l && start[l - 1] == '\r')
			l--;
		if (l > CONF_MAX_LINE) {
			ret = wfail(p, p->line, "line longer than %u bytes", (unsigned)CONF_MAX_LINE);
			break;
		}
		memcpy(p->buf, start, l);
		p->buf[l] = '\0';
		if (memchr(p->buf, '\0', l))
			ret = wfail(p, p->line, "NUL byte (expected text)");
		else
			ret = wline(p, p->buf, l);
		/* the buffer is wiped with the parser, once, not line by line */
	}
	if (!ret)
		ret = wend_section(p);
	if (ret == -ENOMEM && errlen)
		snprintf(err, errlen, "%s: out of memory", name);
	if (!ret)
		*out = p->w;
	else
		weftfile_free(&p->w);
	if (!ret && key_set) {
		*key_set = p->set; /* the caller's now */
		memset(&p->set, 0, sizeof(p->set));
	}
	conf_keyset_free(&p->set);
	memzero(p, sizeof(*p));
	free(p);
	return ret;
}

int weftfile_load(struct weft_file *out, const char *path, char *err, size_t errlen)
{
	char *buf = NULL;
	size_t len = 0;
	struct stat st;
	int fd, ret;

	if (errlen)
		err[0] = '\0';
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return ret;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > CONF_MAX_FILE_SIZE) {
		snprintf(err, errlen, "%s: not a regular file of at most %u bytes", path, (unsigned)CONF_MAX_FILE_SIZE);
		close(fd);
		return -EINVAL;
	}
	ret = fd_read_sized(fd, (size_t)st.st_size, &buf, &len);
	close(fd);
	if (ret < 0) {
		snprintf(err, errlen, "%s: cannot read: %s", path, strerror(-ret));
		return ret == -E2BIG ? -EINVAL : ret;
	}
	ret = weftfile_parse(out, buf, len, path, err, errlen);
	conf_text_free(buf, len);
	return ret;
}

/* ---- writing ---- */

static void wputf(struct conf_out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void wputf(struct conf_out *o, const char *fmt, ...)
{
	char line[CONF_MAX_LINE + 1];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line)) {
		o->oom = true; /* cannot happen for bounded values; fail rather than cut */
		n = (int)sizeof(line) - 1;
	} else {
		conf_out_putn(o, line, (size_t)n);
	}
	/* only what vsnprintf wrote (the line and its NUL): wiping the whole
	 * 8 KiB for every short line was half the cost of writing the file */
	memzero(line, (size_t)n + 1);
}

/* "key = value\n" put together without a format: records of 10,000 peers
 * are mostly such lines, and vsnprintf was most of writing them. */
static void wkv(struct conf_out *o, const char *key, const char *value)
{
	conf_out_put(o, key);
	conf_out_putn(o, " = ", 3);
	conf_out_put(o, value);
	conf_out_putn(o, "\n", 1);
}

/* Lists go one entry a line, so no line can outgrow CONF_MAX_LINE. */
static void wprefixes(struct conf_out *o, const char *key, const struct conf_prefix_list *l)
{
	char s[CONF_PREFIX_STRLEN];

	for (uint32_t i = 0; i < l->n; i++) {
		conf_prefix_format(s, &l->v[i]);
		wkv(o, key, s);
	}
}

static void wdns(struct conf_out *o, const char *key, const struct conf_dns *d, bool none)
{
	char s[CONF_ADDR_STRLEN];

	if (none && !d->servers.n && !d->search.n)
		wkv(o, key, "none");
	for (uint32_t i = 0; i < d->servers.n; i++) {
		conf_addr_format(s, &d->servers.v[i]);
		wkv(o, key, s);
	}
	for (uint32_t i = 0; i < d->search.n; i++)
		wkv(o, key, d->search.v[i]);
}

static bool record_empty(const struct peer_record *r)
{
	return r->enabled && !r->name && !r->owner && !r->created && !r->expires && !r->endpoint_type &&
	       !r->client_allowed_ips.n && !r->has_client_dns && !r->has_client_keepalive && !r->roaming;
}

static void wrecord(struct conf_out *o, const struct peer_record *r)
{
	char b64[WEFT_KEY_B64_LEN + 1], t[WEFT_TIME_STRLEN];

	key_to_base64(b64, r->public_key);
	conf_out_putn(o, "\n[Peer]\n", 8);
	wkv(o, "PublicKey", b64);
	if (r->name)
		wkv(o, "Name", r->name);
	if (r->owner)
		wkv(o, "Owner", r->owner);
	if (r->created) {
		weft_time_format(t, r->created);
		wkv(o, "Created", t);
	}
	if (r->expires) {
		weft_time_format(t, r->expires);
		wkv(o, "Expires", t);
	}
	wkv(o, "Enabled", r->enabled ? "true" : "false");
	if (r->endpoint_type)
		wkv(o, "EndpointType", weft_endpoint_type_name(r->endpoint_type));
	wprefixes(o, "ClientAllowedIPs", &r->client_allowed_ips);
	if (r->has_client_dns)
		wdns(o, "ClientDNS", &r->client_dns, true);
	if (r->has_client_keepalive)
		wputf(o, "ClientKeepalive = %u\n", r->client_keepalive);
	if (r->roaming)
		wkv(o, "Roaming", "true");
	if (r->enabled)
		return;
	wprefixes(o, "AllowedIPs", &r->held.allowed_ips);
	if (r->held.has_preshared_key) {
		key_to_base64(b64, r->held.preshared_key);
		wkv(o, "PresharedKey", b64);
		memzero(b64, sizeof(b64));
	}
	if (r->held.endpoint.host) {
		char ep[CONF_ENDPOINT_STRLEN];

		conf_endpoint_format(ep, sizeof(ep), &r->held.endpoint);
		wkv(o, "Endpoint", ep);
	}
	if (r->held.has_persistent_keepalive)
		wputf(o, "PersistentKeepalive = %u\n", r->held.persistent_keepalive);
}

int weftfile_write(const struct weft_file *w, char **text, size_t *len)
{
	const struct conf_weft *s = &w->settings;
	struct conf_out o = { 0 };
	char a[CONF_ADDR_STRLEN];

	*text = NULL;
	*len = 0;
	conf_out_reserve(&o, 4096 + (size_t)w->n * BYTES_PER_RECORD_GUESS);
	conf_out_put(&o, "# weft's settings and peer records for the wg-quick file beside it.\n"
			 "# Written by weft; holds preshared keys of disabled peers.\n\n[Weft]\n");
	if (s->has_public_ipv4) {
		conf_addr_format(a, &s->public_ipv4);
		wputf(&o, "PublicIPv4 = %s\n", a);
	}
	if (s->has_public_ipv6) {
		conf_addr_format(a, &s->public_ipv6);
		wputf(&o, "PublicIPv6 = %s\n", a);
	}
	if (s->hostname)
		wputf(&o, "Hostname = %s\n", s->hostname);
	if (s->has_public_port)
		wputf(&o, "PublicPort = %u\n", s->public_port);
	wdns(&o, "PeerDNS", &s->peer_dns, false);
	if (w->link.coord)
		wputf(&o, "Coord = %s\n", w->link.coord);
	if (w->link.has_coord_key) {
		char b64[WEFT_KEY_B64_LEN + 1];

		key_to_base64(b64, w->link.coord_key);
		wkv(&o, "CoordKey", b64);
	}
	for (uint32_t i = 0; i < w->n; i++)
		if (!record_empty(&w->recs[i]))
			wrecord(&o, &w->recs[i]);
	if (o.oom) {
		conf_out_free(&o);
		return -ENOMEM;
	}
	*text = o.buf;
	*len = o.len;
	return 0;
}
