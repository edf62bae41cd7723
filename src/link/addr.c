/* addr.c: endpoint values and the local address list (addr.h). */
#include "link/addr.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool link_addr_is_set(const union link_addr *a)
{
	return a->sa.sa_family == AF_INET || a->sa.sa_family == AF_INET6;
}

bool link_addr_same_host(const union link_addr *a, const union link_addr *b)
{
	if (a->sa.sa_family != b->sa.sa_family)
		return false;
	if (a->sa.sa_family == AF_INET)
		return a->in4.sin_addr.s_addr == b->in4.sin_addr.s_addr;
	if (a->sa.sa_family == AF_INET6)
		return !memcmp(&a->in6.sin6_addr, &b->in6.sin6_addr, 16) &&
		       a->in6.sin6_scope_id == b->in6.sin6_scope_id;
	return false;
}

bool link_addr_equal(const union link_addr *a, const union link_addr *b)
{
	return link_addr_same_host(a, b) && link_addr_port(a) == link_addr_port(b);
}

socklen_t link_addr_len(const union link_addr *a)
{
	return a->sa.sa_family == AF_INET ? sizeof(a->in4) : a->sa.sa_family == AF_INET6 ? sizeof(a->in6) : 0;
}

uint16_t link_addr_port(const union link_addr *a)
{
	return a->sa.sa_family == AF_INET ? ntohs(a->in4.sin_port) :
	       a->sa.sa_family == AF_INET6 ? ntohs(a->in6.sin6_port) : 0;
}

void link_addr_set_port(union link_addr *a, uint16_t port)
{
	if (a->sa.sa_family == AF_INET)
		a->in4.sin_port = htons(port);
	else if (a->sa.sa_family == AF_INET6)
		a->in6.sin6_port = htons(port);
}

void link_addr_format(char out[LINK_ADDR_STRLEN], const union link_addr *a)
{
	char h[INET6_ADDRSTRLEN];

	if (a->sa.sa_family == AF_INET && inet_ntop(AF_INET, &a->in4.sin_addr, h, sizeof(h)))
		snprintf(out, LINK_ADDR_STRLEN, "%s:%u", h, link_addr_port(a));
	else if (a->sa.sa_family == AF_INET6 && inet_ntop(AF_INET6, &a->in6.sin6_addr, h, sizeof(h)))
		snprintf(out, LINK_ADDR_STRLEN, "[%s]:%u", h, link_addr_port(a));
	else
		snprintf(out, LINK_ADDR_STRLEN, "-");
}

bool link_addr_parse(union link_addr *out, const char *s)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon, *h = s;
	size_t hl;
	char *end;
	unsigned long port;

	if (*s == '[') {
		const char *rb = strchr(s, ']');
		if (!rb || rb[1] != ':')
			return false;
		h = s + 1;
		hl = (size_t)(rb - h);
		colon = rb + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return false;
		hl = (size_t)(colon - s);
	}
	if (!hl || hl >= sizeof(host))
		return false;
	memcpy(host, h, hl);
	host[hl] = '\0';
	port = strtoul(colon + 1, &end, 10);
	if (!colon[1] || *end || port > 65535)
		return false;
	memset(out, 0, sizeof(*out));
	if (*s != '[' && inet_pton(AF_INET, host, &out->in4.sin_addr) == 1) {
		out->in4.sin_family = AF_INET;
		out->in4.sin_port = htons((uint16_t)port);
		return true;
	}
	if (*s == '[' && inet_pton(AF_INET6, host, &out->in6.sin6_addr) == 1) {
		out->in6.sin6_family = AF_INET6;
		out->in6.sin6_port = htons((uint16_t)port);
		return true;
	}
	return false;
}

bool link_addr_is_private(const union link_addr *a)
{
	if (a->sa.sa_family == AF_INET) {
		uint32_t v = ntohl(a->in4.sin_addr.s_addr);
		return (v >> 24) == 10 || (v >> 20) == (172u << 4 | 1) || (v >> 16) == (192u << 8 | 168) ||
		       (v >> 22) == (100u << 2 | 1) /* 100.64/10 */ || (v >> 16) == (169u << 8 | 254);
	}
	if (a->sa.sa_family == AF_INET6) {
		const uint8_t *b = a->in6.sin6_addr.s6_addr;
		return (b[0] & 0xfe) == 0xfc || (b[0] == 0xfe && (b[1] & 0xc0) == 0x80);
	}
	return false;
}

bool link_addr_is_unusable(const union link_addr *a)
{
	if (a->sa.sa_family == AF_INET) {
		uint32_t v = ntohl(a->in4.sin_addr.s_addr);
		return !v || (v >> 24) == 127 || (v >> 28) == 0xe || v == 0xffffffffu;
	}
	if (a->sa.sa_family == AF_INET6) {
		const struct in6_addr *x = &a->in6.sin6_addr;
		return IN6_IS_ADDR_UNSPECIFIED(x) || IN6_IS_ADDR_LOOPBACK(x) || IN6_IS_ADDR_MULTICAST(x) ||
		       IN6_IS_ADDR_V4MAPPED(x);
	}
	return true;
}

static bool local_same(const struct local_addr *a, const struct local_addr *b)
{
	return link_addr_same_host(&a->addr, &b->addr) && a->prefix_len == b->prefix_len &&
	       a->ifindex == b->ifindex;
}

bool local_addrs_update(struct local_addrs *l, const struct local_addr *a, bool remove)
{
	for (uint32_t i = 0; i < l->n; i++) {
		if (!local_same(&l->v[i], a))
			continue;
		if (!remove)
			return false;
		l->v[i] = l->v[--l->n];
		return true;
	}
	if (remove || l->n >= LINK_MAX_LOCAL)
		return false;
	l->v[l->n++] = *a;
	return true;
}

static bool prefix_match(const uint8_t *x, const uint8_t *y, unsigned bits)
{
	unsigned whole = bits / 8, rest = bits % 8;

	if (memcmp(x, y, whole))
		return false;
	return !rest || ((x[whole] ^ y[whole]) & (uint8_t)(0xff00 >> rest)) == 0;
}

bool local_addrs_on_link(const struct local_addrs *l, const union link_addr *a)
{
	for (uint32_t i = 0; i < l->n; i++) {
		const union link_addr *m = &l->v[i].addr;

		if (m->sa.sa_family != a->sa.sa_family)
			continue;
		if (a->sa.sa_family == AF_INET && l->v[i].prefix_len <= 32 &&
		    prefix_match((const uint8_t *)&m->in4.sin_addr, (const uint8_t *)&a->in4.sin_addr, l->v[i].prefix_len))
			return true;
		if (a->sa.sa_family == AF_INET6 && l->v[i].prefix_len <= 128 &&
		    prefix_match(m->in6.sin6_addr.s6_addr, a->in6.sin6_addr.s6_addr, l->v[i].prefix_len))
			return true;
	}
	return false;
}

bool local_addrs_equal(const struct local_addrs *a, const struct local_addrs *b)
{
	if (a->n != b->n)
		return false;
	for (uint32_t i = 0; i < a->n; i++) {
		uint32_t j;
		for (j = 0; j < b->n && !local_same(&a->v[i], &b->v[j]); j++)
			;
		if (j == b->n)
			return false;
	}
	return true;
}
