/* reverse_settings.c: reading the Expose and SOCKS5 settings of `weft
 * serve` (see reverse.h) and saying them back in log lines. */
#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "serve/reverse.h"

/* "ADDR" or "[ADDR6]" with a port into ss. */
static bool parse_addr_port(struct sockaddr_storage *ss, const char *addr, size_t alen, const char *port)
{
	char a[INET6_ADDRSTRLEN + 2];
	uint32_t p;

	if (!conf_parse_uint(port, 65535, &p) || !p || alen >= sizeof(a))
		return false;
	memcpy(a, addr, alen);
	a[alen] = '\0';
	memset(ss, 0, sizeof(*ss));
	if (alen >= 2 && a[0] == '[' && a[alen - 1] == ']') {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
		a[alen - 1] = '\0';
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)p);
		return inet_pton(AF_INET6, a + 1, &s6->sin6_addr) == 1;
	}
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	s4->sin_family = AF_INET;
	s4->sin_port = htons((uint16_t)p);
	return inet_pton(AF_INET, a, &s4->sin_addr) == 1;
}

static void loopback(struct sockaddr_storage *ss, const char *port_text)
{
	parse_addr_port(ss, "127.0.0.1", 9, port_text);
}

/* Splits s at the colons outside brackets: at most max fields. */
static int split_colons(char *s, char **field, int max)
{
	int n = 0, depth = 0;

	field[n++] = s;
	for (char *p = s; *p; p++) {
		if (*p == '[')
			depth++;
		else if (*p == ']')
			depth--;
		else if (*p == ':' && !depth) {
			if (n == max)
				return -1;
			*p = '\0';
			field[n++] = p + 1;
		}
	}
	return n;
}

static const char *expose_one(struct reverse_settings *rs, char *v)
{
	static const char *want = "[tcp/|udp/][BIND:]PORT:ADDRESS:PORT (IPv6 in brackets)";
	struct expose_rule e = { .proto = IPPROTO_TCP };
	char *f[4];
	int n;

	if (!strncasecmp(v, "tcp/", 4))
		v += 4;
	else if (!strncasecmp(v, "udp/", 4)) {
		e.proto = IPPROTO_UDP;
		v += 4;
	}
	n = split_colons(v, f, 4);
	if (n == 3) {
		uint32_t p;
		if (!conf_parse_uint(f[0], 65535, &p) || !p)
			return want;
		loopback(&e.bind, f[0]);
		if (!parse_addr_port(&e.to, f[1], strlen(f[1]), f[2]))
			return want;
	} else if (n == 4) {
		if (!parse_addr_port(&e.bind, f[0], strlen(f[0]), f[1]) ||
		    !parse_addr_port(&e.to, f[2], strlen(f[2]), f[3]))
			return want;
	} else {
		return want;
	}
	if (rs->n_expose == REVERSE_MAX_EXPOSE)
		return "at most 64 Expose rules";
	rs->expose[rs->n_expose++] = e;
	return NULL;
}

const char *reverse_setting(struct reverse_settings *rs, const char *key, const char *value, bool *known)
{
	char buf[1024];

	*known = true;
	if (!strcasecmp(key, "Expose")) {
		if (strlen(value) >= sizeof(buf))
			return "a shorter list";
		strcpy(buf, value);
		for (char *save = NULL, *item = strtok_r(buf, ", \t", &save); item;
		     item = strtok_r(NULL, ", \t", &save)) {
			const char *what = expose_one(rs, item);
			if (what)
				return what;
		}
		return NULL;
	}
	if (!strcasecmp(key, "SOCKS5")) {
		static const char *want = "[BIND:]PORT, e.g. 1080 or 127.0.0.1:1080";
		char *f[2];
		int n;
		uint32_t p;
		if (strlen(value) >= sizeof(buf))
			return want;
		strcpy(buf, value);
		n = split_colons(buf, f, 2);
		if (n == 1) {
			if (!conf_parse_uint(f[0], 65535, &p) || !p)
				return want;
			loopback(&rs->socks5_bind, f[0]);
		} else if (n != 2 || !parse_addr_port(&rs->socks5_bind, f[0], strlen(f[0]), f[1])) {
			return want;
		}
		rs->socks5 = true;
		return NULL;
	}
	if (!strcasecmp(key, "SOCKS5User") || !strcasecmp(key, "SOCKS5Password")) {
		char *dst = toupper((unsigned char)key[6]) == 'U' ? rs->socks5_user : rs->socks5_password;
		size_t len = strlen(value);
		if (!len || len > SOCKS5_FIELD_MAX)
			return "1 to 255 bytes";
		memcpy(dst, value, len + 1);
		return NULL;
	}
	*known = false;
	return NULL;
}

void reverse_addr_text(const struct sockaddr_storage *ss, char *out, size_t len)
{
	char a[INET6_ADDRSTRLEN] = "?";

	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
		inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof(a));
		snprintf(out, len, "[%s]:%u", a, ntohs(s6->sin6_port));
	} else {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
		inet_ntop(AF_INET, &s4->sin_addr, a, sizeof(a));
		snprintf(out, len, "%s:%u", a, ntohs(s4->sin_port));
	}
}

void expose_rule_text(const struct expose_rule *e, char *out, size_t len)
{
	char b[64], t[64];

	reverse_addr_text(&e->bind, b, sizeof(b));
	reverse_addr_text(&e->to, t, sizeof(t));
	snprintf(out, len, "%s %s -> %s", e->proto == IPPROTO_UDP ? "udp" : "tcp", b, t);
}
