/* test_serve_guard.c: which destinations `weft serve` lets peers reach
 * (src/serve/guard.c): the built-in denies of the server's own loopback and
 * link-local addresses, operator allows and denies decided by the longest
 * prefix, and random rule sets against a bit-by-bit reference. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>

#include "serve/guard.h"
#include "test.h"

static bool allows(const struct guard *g, const char *addr)
{
	uint8_t a[16] = { 0 };
	int family = strchr(addr, ':') ? AF_INET6 : AF_INET;

	if (inet_pton(family, addr, a) != 1) {
		fprintf(stderr, "  bad test address %s\n", addr);
		return false;
	}
	return guard_allows(g, family, a);
}

static struct guard g;

static void builtin_denies(void)
{
	guard_init(&g);
	CHECK(!allows(&g, "127.0.0.1"));
	CHECK(!allows(&g, "127.255.0.9"));
	CHECK(!allows(&g, "169.254.169.254")); /* cloud metadata lives here */
	CHECK(!allows(&g, "0.0.0.0"));
	CHECK(!allows(&g, "224.0.0.1"));
	CHECK(!allows(&g, "255.255.255.255"));
	CHECK(!allows(&g, "::1"));
	CHECK(!allows(&g, "::"));
	CHECK(!allows(&g, "fe80::1"));
	CHECK(!allows(&g, "ff02::1"));
	CHECK(!allows(&g, "::ffff:127.0.0.1")); /* no detour through a mapped address */
	CHECK(allows(&g, "10.1.2.3"));
	CHECK(allows(&g, "192.0.2.1"));
	CHECK(allows(&g, "2001:db8::1"));
	CHECK(allows(&g, "128.0.0.1"));
}

static void longest_prefix_wins(void)
{
	guard_init(&g);
	CHECK_EQ(guard_add(&g, "10.0.0.0/8", false), 0);
	CHECK_EQ(guard_add(&g, "10.1.2.3/32", true), 0);
	CHECK(allows(&g, "10.1.2.3"));
	CHECK(!allows(&g, "10.1.2.4"));
	/* an Allow outside the built-ins makes the allow list the whole story */
	CHECK(!allows(&g, "11.0.0.1"));

	guard_init(&g);
	CHECK_EQ(guard_add_list(&g, "10.0.0.0/8, fd00::/8", false), 0);
	CHECK(!allows(&g, "10.9.9.9"));
	CHECK(!allows(&g, "fd12::1"));
	CHECK(allows(&g, "11.0.0.1"));
	CHECK(allows(&g, "2001:db8::1"));
}

static void allow_list(void)
{
	guard_init(&g);
	CHECK_EQ(guard_add(&g, "192.168.0.0/16", true), 0);
	CHECK(allows(&g, "192.168.7.7"));
	CHECK(!allows(&g, "8.8.8.8"));
	CHECK(!allows(&g, "2001:db8::1"));
	/* a tie denies */
	CHECK_EQ(guard_add(&g, "192.168.7.0/24", true), 0);
	CHECK_EQ(guard_add(&g, "192.168.7.0/24", false), 0);
	CHECK(!allows(&g, "192.168.7.7"));
	CHECK(allows(&g, "192.168.8.1"));
}

static void lifting_a_builtin(void)
{
	guard_init(&g);
	CHECK_EQ(guard_add(&g, "127.0.0.1", true), 0);
	CHECK(allows(&g, "127.0.0.1"));
	CHECK(!allows(&g, "127.0.0.2"));
	CHECK(allows(&g, "8.8.8.8")); /* lifting loopback is not an allow list */
	CHECK_EQ(guard_add(&g, "::1/128", true), 0);
	CHECK(allows(&g, "::1"));
	CHECK(!allows(&g, "fe80::1"));
}

static void bad_input(void)
{
	guard_init(&g);
	CHECK_EQ(guard_add(&g, "10.0.0.0/33", true), -EINVAL);
	CHECK_EQ(guard_add(&g, "nonsense", false), -EINVAL);
	CHECK_EQ(guard_add_list(&g, "10.0.0.0/8,,bad", false), -EINVAL);
	guard_init(&g);
	int ret = 0;
	for (int i = 0; i < GUARD_MAX_RULES + 1 && !ret; i++)
		ret = guard_add(&g, "10.0.0.0/8", false);
	CHECK_EQ(ret, -E2BIG);
}

/* The reference: every rule checked bit by bit; the longest match decides,
 * the operator's over a built-in of the same length, a tie of the same kind
 * denies; no match: allowed unless an allow list exists. */
struct rrule { int family; uint8_t addr[16]; int len; bool allow, builtin; };

static bool bit(const uint8_t *a, int i) { return a[i / 8] >> (7 - i % 8) & 1; }

static bool reference(const struct rrule *r, int n, bool has_allow, int family, const uint8_t *a)
{
	int best = -1;
	bool verdict = !has_allow;

	for (int len = 128; len >= 0 && best < 0; len--) {
		bool any_op = false, op_verdict = true, any_bi = false, bi_verdict = true;
		for (int i = 0; i < n; i++) {
			bool match = r[i].family == family && r[i].len == len;
			for (int b = 0; match && b < len; b++)
				match = bit(r[i].addr, b) == bit(a, b);
			if (!match)
				continue;
			if (r[i].builtin) {
				any_bi = true;
				bi_verdict = bi_verdict && r[i].allow;
			} else {
				any_op = true;
				op_verdict = op_verdict && r[i].allow;
			}
		}
		if (any_op || any_bi) {
			best = len;
			verdict = any_op ? op_verdict : bi_verdict;
		}
	}
	return verdict;
}

static void random_against_reference(void)
{
	static const char *const builtins[] = { "0.0.0.0/8", "127.0.0.0/8", "169.254.0.0/16", "224.0.0.0/4",
		"255.255.255.255/32", "::/128", "::1/128", "fe80::/10", "ff00::/8", "::ffff:0:0/96" };
	struct rrule r[80];

	for (int round = 0; round < 300; round++) {
		int n = 0, extra = (int)test_below(40);
		bool has_allow = false;

		guard_init(&g);
		for (size_t i = 0; i < sizeof(builtins) / sizeof(builtins[0]); i++) {
			char buf[64];
			snprintf(buf, sizeof(buf), "%s", builtins[i]);
			*strchr(buf, '/') = '\0';
			r[n].family = strchr(buf, ':') ? AF_INET6 : AF_INET;
			memset(r[n].addr, 0, 16);
			inet_pton(r[n].family, buf, r[n].addr);
			r[n].len = atoi(strchr(builtins[i], '/') + 1);
			r[n].allow = false;
			r[n].builtin = true;
			n++;
		}
		for (int i = 0; i < extra; i++) {
			char text[128], addr[64];
			struct rrule *x = &r[n];
			x->family = test_below(2) ? AF_INET6 : AF_INET;
			memset(x->addr, 0, 16);
			/* few distinct prefixes, so that they overlap */
			x->addr[0] = (uint8_t)(test_below(2) ? 10 : 127);
			x->addr[1] = (uint8_t)test_below(3);
			x->len = (int)test_below(x->family == AF_INET ? 33 : 129);
			for (int b = x->len; b < 128; b++)
				x->addr[b / 8] &= (uint8_t)~(1u << (7 - b % 8));
			x->allow = test_below(2);
			x->builtin = false;
			inet_ntop(x->family, x->addr, addr, sizeof(addr));
			snprintf(text, sizeof(text), "%s/%d", addr, x->len);
			CHECK_EQ(guard_add(&g, text, x->allow), 0);
			if (x->allow) {
				/* inside a built-in deny it only lifts that one */
				bool inside = false;
				for (int k = 0; k < 10; k++) {
					bool m = r[k].family == x->family && x->len >= r[k].len;
					for (int b = 0; m && b < r[k].len; b++)
						m = bit(r[k].addr, b) == bit(x->addr, b);
					inside = inside || m;
				}
				has_allow = has_allow || !inside;
			}
			n++;
		}
		for (int q = 0; q < 200; q++) {
			uint8_t a[16] = { 0 };
			int family = test_below(2) ? AF_INET6 : AF_INET;
			a[0] = (uint8_t)(test_below(2) ? 10 : 127);
			a[1] = (uint8_t)test_below(3);
			for (int i = 2; i < 16; i++)
				a[i] = test_below(4) ? 0 : (uint8_t)test_rnd();
			if (family == AF_INET)
				memset(a + 4, 0, 12);
			CHECK_EQ(guard_allows(&g, family, a), reference(r, n, has_allow, family, a));
		}
	}
}

int main(void)
{
	test_suite_name = "serve_guard";
	test_seed(66);
	RUN(builtin_denies);
	RUN(longest_prefix_wins);
	RUN(allow_list);
	RUN(lifting_a_builtin);
	RUN(bad_input);
	RUN(random_against_reference);
	TEST_EXIT();
}
