/* guard.c: allow/deny prefixes for destinations (see guard.h). A linear
 * scan: rules are few and are checked once per new flow and per TCP segment
 * that opens nothing. */
#include "serve/guard.h"

#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "conf/conf.h"

static const struct {
	const char *prefix;
} builtin_denies[] = {
	{ "0.0.0.0/8" }, { "127.0.0.0/8" }, { "169.254.0.0/16" }, { "224.0.0.0/4" },
	{ "255.255.255.255/32" }, { "::/128" }, { "::1/128" }, { "fe80::/10" }, { "ff00::/8" },
	{ "::ffff:0:0/96" }, /* IPv4-mapped: the IPv4 rules decide, never a detour */
};

static bool add_prefix(struct guard *g, const struct conf_prefix *p, bool allow, bool builtin)
{
	struct guard_rule *r;

	if (g->n == GUARD_MAX_RULES)
		return false;
	r = &g->rules[g->n++];
	r->family = p->addr.family;
	r->len = p->cidr;
	r->allow = allow;
	r->builtin = builtin;
	memcpy(r->addr, p->addr.bytes, sizeof(r->addr));
	return true;
}

void guard_init(struct guard *g)
{
	memset(g, 0, sizeof(*g));
	for (size_t i = 0; i < sizeof(builtin_denies) / sizeof(builtin_denies[0]); i++) {
		struct conf_prefix p;
		if (conf_prefix_parse(&p, builtin_denies[i].prefix))
			add_prefix(g, &p, false, true);
	}
}

static bool matches(const struct guard_rule *r, int family, const uint8_t *addr);

static bool inside_builtin(const struct guard *g, const struct guard_rule *r)
{
	for (unsigned i = 0; i < g->n; i++)
		if (g->rules[i].builtin && r->len >= g->rules[i].len &&
		    matches(&g->rules[i], r->family, r->addr))
			return true;
	return false;
}

int guard_add(struct guard *g, const char *prefix, bool allow)
{
	struct conf_prefix p;

	if (!conf_prefix_parse(&p, prefix))
		return -EINVAL;
	if (!add_prefix(g, &p, allow, false))
		return -E2BIG;
	/* an Allow inside a built-in deny lifts that deny and nothing else;
	 * any other Allow makes the allow list the whole story */
	if (allow && !inside_builtin(g, &g->rules[g->n - 1]))
		g->has_allow = true;
	return 0;
}

int guard_add_list(struct guard *g, const char *list, bool allow)
{
	char item[CONF_PREFIX_STRLEN + 1];

	while (*list) {
		size_t n = strcspn(list, ", \t");
		int ret;
		if (n) {
			if (n >= sizeof(item))
				return -EINVAL;
			memcpy(item, list, n);
			item[n] = '\0';
			if ((ret = guard_add(g, item, allow)) < 0)
				return ret;
		}
		list += n;
		list += strspn(list, ", \t");
	}
	return 0;
}

static bool matches(const struct guard_rule *r, int family, const uint8_t *addr)
{
	unsigned full = r->len / 8, rest = r->len % 8;

	if (r->family != family)
		return false;
	if (memcmp(r->addr, addr, full))
		return false;
	return !rest || ((r->addr[full] ^ addr[full]) & (uint8_t)(0xff << (8 - rest))) == 0;
}

bool guard_allows(const struct guard *g, int family, const uint8_t *addr)
{
	int best_len = -1;
	bool allowed = !g->has_allow, best_builtin = false;

	for (unsigned i = 0; i < g->n; i++) {
		const struct guard_rule *r = &g->rules[i];
		if (!matches(r, family, addr) || r->len < best_len)
			continue;
		if (r->len > best_len || (best_builtin && !r->builtin)) {
			allowed = r->allow; /* longer, or the operator's over a built-in */
			best_builtin = r->builtin;
		} else if (r->builtin == best_builtin) {
			allowed = allowed && r->allow; /* a tie denies */
		}
		best_len = r->len;
	}
	return allowed;
}
