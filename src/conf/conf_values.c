/* conf_values.c: the syntax of single values in a config file (addresses,
 * prefixes, endpoints, host names, numbers, peer names), shared by the parser,
 * the writer's self-check and the CLI. Every parser here is strict: the whole
 * string must match, with no surrounding spaces. */
#include "conf/conf_internal.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define UINT32_DIGITS 10
#define HEX32_DIGITS 8
#define CIDR_DIGITS 3

static bool is_digit(char c) { return c >= '0' && c <= '9'; }
static bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static bool is_alnum(char c) { return is_alpha(c) || is_digit(c); }

static int hex_digit(char c)
{
	if (is_digit(c))
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

bool conf_word_eq(const char *a, const char *b)
{
	/* most characters match as they are (every key name of every line of
	 * a file is compared once): case is looked at only when they differ,
	 * by the 0x20 bit alone, and then only a letter may differ so */
	for (;; a++, b++) {
		unsigned char x = (unsigned char)*a, y = (unsigned char)*b;

		if (x == y) {
			if (!x)
				return true;
			continue;
		}
		if ((x ^ y) != 0x20 || (unsigned)((x | 0x20) - 'a') > 'z' - 'a')
			return false;
	}
}

bool conf_word_eq_n(const char *s, size_t n, const char *word)
{
	size_t i;

	for (i = 0; i < n; i++) {
		char x = s[i], y = word[i];
		if (x >= 'A' && x <= 'Z')
			x = (char)(x - 'A' + 'a');
		if (y >= 'A' && y <= 'Z')
			y = (char)(y - 'A' + 'a');
		if (x != y || !y)
			return false;
	}
	return !word[n];
}

bool conf_parse_uint(const char *s, uint32_t max, uint32_t *out)
{
	uint64_t v = 0;
	size_t n = 0;

	for (; is_digit(s[n]); n++) {
		if (n == UINT32_DIGITS)
			return false;
		v = v * 10 + (uint64_t)(s[n] - '0');
	}
	if (!n || s[n] || v > max)
		return false;
	*out = (uint32_t)v;
	return true;
}

bool conf_parse_hex32(const char *s, uint32_t *out)
{
	uint32_t v = 0;
	size_t n = 0;

	if (s[0] != '0' || (s[1] != 'x' && s[1] != 'X'))
		return false;
	s += 2;
	for (int d; (d = hex_digit(s[n])) >= 0; n++) {
		if (n == HEX32_DIGITS)
			return false;
		v = v << 4 | (uint32_t)d;
	}
	if (!n || s[n])
		return false;
	*out = v;
	return true;
}

bool conf_addr_parse(struct conf_addr *a, const char *s)
{
	struct conf_addr tmp;

	memset(&tmp, 0, sizeof(tmp));
	if (strchr(s, ':')) {
		if (inet_pton(AF_INET6, s, tmp.bytes) != 1)
			return false;
		tmp.family = AF_INET6;
	} else {
		if (inet_pton(AF_INET, s, tmp.bytes) != 1)
			return false;
		tmp.family = AF_INET;
	}
	*a = tmp;
	return true;
}

static unsigned max_cidr(uint8_t family)
{
	return family == AF_INET ? 32 : 128;
}

bool conf_prefix_parse(struct conf_prefix *p, const char *s)
{
	char addr[CONF_ADDR_STRLEN];
	const char *slash = strchr(s, '/');
	size_t alen = slash ? (size_t)(slash - s) : strlen(s);
	struct conf_prefix tmp;
	uint32_t cidr;

	if (alen >= sizeof(addr))
		return false;
	memcpy(addr, s, alen);
	addr[alen] = '\0';
	if (!conf_addr_parse(&tmp.addr, addr))
		return false;
	if (!slash) {
		cidr = max_cidr(tmp.addr.family);
	} else if (strlen(slash + 1) > CIDR_DIGITS ||
		   !conf_parse_uint(slash + 1, max_cidr(tmp.addr.family), &cidr)) {
		return false;
	}
	tmp.cidr = (uint8_t)cidr;
	*p = tmp;
	return true;
}

void conf_addr_format(char out[CONF_ADDR_STRLEN], const struct conf_addr *a)
{
	if (!inet_ntop(a->family == AF_INET ? AF_INET : AF_INET6, a->bytes, out, CONF_ADDR_STRLEN))
		snprintf(out, CONF_ADDR_STRLEN, "?");
}

/* Decimal 0..255 at out; returns the end. */
static char *put_u8(char *out, unsigned v)
{
	if (v >= 100)
		*out++ = (char)('0' + v / 100);
	if (v >= 10)
		*out++ = (char)('0' + v / 10 % 10);
	*out++ = (char)('0' + v % 10);
	return out;
}

/* Files with thousands of peers hold thousands of IPv4 prefixes: these are
 * written by hand rather than through inet_ntop and snprintf, which cost
 * ten times more (the same text: dotted decimal, no leading zeros). */
void conf_prefix_format(char out[CONF_PREFIX_STRLEN], const struct conf_prefix *p)
{
	char a[CONF_ADDR_STRLEN];

	if (p->addr.family == AF_INET && p->cidr <= 32) {
		char *o = out;

		for (int i = 0; i < 4; i++) {
			o = put_u8(o, p->addr.bytes[i]);
			*o++ = i < 3 ? '.' : '/';
		}
		*put_u8(o, p->cidr) = '\0';
		return;
	}
	conf_addr_format(a, &p->addr);
	snprintf(out, CONF_PREFIX_STRLEN, "%s/%u", a, p->cidr);
}

/* A name of only digits and dots would be read by getaddrinfo as a (legacy)
 * IPv4 literal, so it is not a host name (RFC 3696 section 2). */
bool conf_hostname_valid(const char *s)
{
	size_t len = strlen(s), label = 0;
	bool numeric = true;

	if (!len || len > CONF_HOSTNAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (c == '.') {
			/* empty labels only as the one trailing dot of an FQDN */
			if (!label || s[i - 1] == '-' || (i + 1 < len && s[i + 1] == '.'))
				return false;
			label = 0;
			continue;
		}
		if (!is_alnum(c) && c != '-' && c != '_')
			return false;
		if (c == '-' && !label)
			return false;
		if (!is_digit(c))
			numeric = false;
		if (++label > 63)
			return false;
	}
	if (label && s[len - 1] == '-')
		return false;
	return !numeric;
}

bool conf_name_valid(const char *s)
{
	size_t len = strlen(s);

	if (!len || len > CONF_NAME_MAX || s[0] == ' ' || s[len - 1] == ' ')
		return false;
	for (size_t i = 0; i < len; i++)
		if (s[i] < 0x20 || s[i] > 0x7e || s[i] == '#')
			return false;
	return true;
}

bool conf_table_name_valid(const char *s)
{
	size_t len = strlen(s);

	if (!len || len > CONF_TABLE_NAME_MAX || !is_alpha(s[0]))
		return false;
	for (size_t i = 1; i < len; i++)
		if (!is_alnum(s[i]) && s[i] != '_' && s[i] != '-' && s[i] != '.')
			return false;
	/* these are keywords, not names */
	return !conf_word_eq(s, "auto") && !conf_word_eq(s, "off");
}

bool conf_hook_valid(const char *s)
{
	size_t len = strlen(s);

	if (!len || len > CONF_HOOK_MAX)
		return false;
	/* the parser trims, so surrounding blanks would not survive a round trip */
	if (s[0] == ' ' || s[0] == '\t' || s[len - 1] == ' ' || s[len - 1] == '\t')
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f || c == '#')
			return false;
	}
	return true;
}

static bool scope_valid(const char *s)
{
	size_t len = strlen(s);

	if (!len || len > CONF_SCOPE_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!is_alnum(s[i]) && s[i] != '_' && s[i] != '-' && s[i] != '.')
			return false;
	return true;
}

bool conf_endpoint_host_valid(const char *s)
{
	struct conf_addr a;

	if (strchr(s, ':')) {
		char addr[CONF_ADDR_STRLEN];
		const char *pct = strchr(s, '%');
		size_t alen = pct ? (size_t)(pct - s) : strlen(s);
		if (alen >= sizeof(addr))
			return false;
		memcpy(addr, s, alen);
		addr[alen] = '\0';
		return inet_pton(AF_INET6, addr, a.bytes) == 1 && (!pct || scope_valid(pct + 1));
	}
	return conf_addr_parse(&a, s) || conf_hostname_valid(s);
}

bool conf_endpoint_parse(struct conf_endpoint *e, const char *s)
{
	const char *host = s, *port;
	size_t hlen;
	uint32_t p;

	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (!close || close[1] != ':')
			return false;
		host = s + 1;
		hlen = (size_t)(close - host);
		port = close + 2;
	} else {
		const char *colon = strrchr(s, ':');
		if (!colon)
			return false;
		hlen = (size_t)(colon - s);
		port = colon + 1;
	}
	if (!hlen || hlen > CONF_HOSTNAME_MAX || !conf_parse_uint(port, CONF_PORT_MAX, &p) || !p)
		return false;
	char *copy = strndup(host, hlen);
	if (!copy)
		return false;
	/* a bracket is needed exactly when the host is IPv6 */
	bool v6 = strchr(copy, ':') != NULL;
	if (v6 != (s[0] == '[') || !conf_endpoint_host_valid(copy)) {
		free(copy);
		return false;
	}
	e->host = copy;
	e->port = (uint16_t)p;
	return true;
}

int conf_endpoint_format(char *out, size_t size, const struct conf_endpoint *e)
{
	if (!e->host)
		return snprintf(out, size, "%s", "");
	if (strchr(e->host, ':'))
		return snprintf(out, size, "[%s]:%u", e->host, e->port);
	return snprintf(out, size, "%s:%u", e->host, e->port);
}
