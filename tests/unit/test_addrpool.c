/* test_addrpool.c: the address allocator (src/weft/addrpool.c) against a
 * deliberately naive reference: a byte per address of a window at the
 * bottom of the pool, "lowest free" found by scanning it. Random sequences
 * of take, release and mark (ranges, as existing peers' AllowedIPs) on
 * IPv4 /30, /24, /16 and IPv6 /120, /64 pools must agree with it step by
 * step, free counts included. Then hand-written cases: network, broadcast and
 * own addresses never handed out, exhaustion, 1,000 distinct addresses,
 * reuse of freed ones lowest first, and the error codes.
 * WEFT_TEST_SEED and WEFT_TEST_SCALE as elsewhere. */
#include "weft/addrpool.c"

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>

#include "test.h"

/* ---- addresses, computed independently of addrpool.c ---- */

static struct conf_prefix prefix(const char *s)
{
	struct conf_prefix p;
	bool ok = conf_prefix_parse(&p, s);

	if (!ok) {
		fprintf(stderr, "bad prefix %s\n", s);
		abort();
	}
	return p;
}

static struct conf_addr addr(const char *s)
{
	struct conf_addr a;

	if (!conf_addr_parse(&a, s)) {
		fprintf(stderr, "bad address %s\n", s);
		abort();
	}
	return a;
}

static unsigned addr_len(const struct conf_addr *a) { return a->family == AF_INET ? 4 : 16; }

/* base + off, byte by byte with carry. */
static struct conf_addr addr_plus(const struct conf_addr *base, uint64_t off)
{
	struct conf_addr a = *base;
	unsigned carry = 0;

	for (unsigned i = addr_len(base); i-- > 0;) {
		unsigned v = a.bytes[i] + (unsigned)(off & 0xff) + carry;
		a.bytes[i] = (uint8_t)v;
		carry = v >> 8;
		off >>= 8;
	}
	return a;
}

/* The network address: host bits cleared. */
static struct conf_addr network_of(const struct conf_prefix *p)
{
	struct conf_addr a = p->addr;

	for (unsigned bit = p->cidr; bit < addr_len(&a) * 8; bit++)
		a.bytes[bit / 8] &= (uint8_t)~(0x80 >> (bit % 8));
	return a;
}

static bool addr_eq(const struct conf_addr *a, const struct conf_addr *b)
{
	return a->family == b->family && !memcmp(a->bytes, b->bytes, addr_len(a));
}

static char *fmt(const struct conf_addr *a)
{
	static char buf[4][CONF_ADDR_STRLEN];
	static int i;

	i = (i + 1) % 4;
	conf_addr_format(buf[i], a);
	return buf[i];
}

/* ---- the reference: a byte per address of [0, window) ---- */

enum { FREE = 0, USED = 1, RESERVED = 2 };

struct ref {
	struct conf_addr base;
	uint8_t *state;
	uint64_t window;
	unsigned __int128 size; /* of the whole pool */
	unsigned __int128 used;
};

static int64_t ref_lowest_free(const struct ref *r)
{
	for (uint64_t i = 0; i < r->window; i++)
		if (r->state[i] == FREE)
			return (int64_t)i;
	return -1;
}

static uint64_t ref_free_count(const struct ref *r)
{
	unsigned __int128 left = r->size - r->used;

	return left > UINT64_MAX ? UINT64_MAX : (uint64_t)left;
}

struct scenario {
	const char *address; /* the interface Address the pool comes from */
	uint64_t window;     /* addresses the reference tracks */
	size_t ops;
	bool marks;          /* also mark random ranges */
};

static void run_scenario(const struct scenario *sc)
{
	struct conf_prefix ifaddr = prefix(sc->address);
	unsigned fbits = ifaddr.addr.family == AF_INET ? 32 : 128;
	unsigned host_bits = fbits - ifaddr.cidr;
	struct addrpool *pool = NULL;
	struct ref r = { 0 };
	size_t takes = 0, fulls = 0, releases = 0, marks = 0, mismatches = 0;
	size_t ops = sc->ops / test_scale();

	r.base = network_of(&ifaddr);
	r.window = sc->window;
	r.size = (unsigned __int128)1 << host_bits;
	r.state = calloc(r.window, 1);
	CHECK(r.state != NULL);
	CHECK_EQ(addrpool_new_for_address(&pool, &ifaddr), 0);
	if (!pool || !r.state)
		goto out;

	/* The reference's idea of what is reserved. */
	{
		uint64_t own = 0;
		struct conf_addr a = r.base;
		/* own offset: walk the low 8 bytes (all scenarios keep own < window). */
		for (unsigned i = addr_len(&a) > 8 ? addr_len(&a) - 8 : 0; i < addr_len(&a); i++)
			own = (own << 8) | (uint8_t)(ifaddr.addr.bytes[i] - a.bytes[i]);
		CHECK(own < r.window);
		r.state[own] = RESERVED;
		if (host_bits >= 2) {
			r.state[0] = RESERVED;
			if (ifaddr.addr.family == AF_INET)
				r.state[r.window - 1] = RESERVED; /* window = size for IPv4 here */
		}
		for (uint64_t i = 0; i < r.window; i++)
			r.used += r.state[i] != FREE;
	}
	CHECK_EQ(addrpool_free_count(pool), ref_free_count(&r));

	for (size_t op = 0; op < ops; op++) {
		/* Phases of filling and draining, so the pool sees every level. */
		bool filling = (op / 2000) % 2 == 0;
		unsigned take_pct = filling ? 70 : 30;
		uint64_t roll = test_below(100);

		if (r.used >= r.window - r.window / 8 && r.size > r.window)
			take_pct = 0; /* keep a huge pool's use inside the window */

		if (sc->marks && roll < 3) {
			unsigned k = (unsigned)test_below(7);
			uint64_t blk = (uint64_t)1 << k;
			if (blk > r.window / 4)
				continue;
			uint64_t off = test_below(r.window / blk) * blk;
			struct conf_prefix range = { addr_plus(&r.base, off), (uint8_t)(fbits - k) };
			CHECK_EQ(addrpool_mark(pool, &range), 0);
			for (uint64_t i = off; i < off + blk; i++)
				if (r.state[i] == FREE) {
					r.state[i] = USED;
					r.used++;
				}
			marks++;
		} else if (roll < 3 + take_pct) {
			int64_t want = ref_lowest_free(&r);
			struct conf_addr got;
			int ret = addrpool_take(pool, &got);

			if (want < 0 && r.size == r.window) {
				CHECK_EQ(ret, -ENOSPC);
				fulls++;
			} else {
				struct conf_addr expect = addr_plus(&r.base, (uint64_t)want);

				CHECK(want >= 0);
				CHECK_EQ(ret, 0);
				if (!addr_eq(&got, &expect) && mismatches++ < 5)
					fprintf(stderr, "  %s: op %zu: took %s, reference says %s\n",
						sc->address, op, fmt(&got), fmt(&expect));
				CHECK(addr_eq(&got, &expect));
				if (want >= 0) {
					r.state[want] = USED;
					r.used++;
				}
				takes++;
			}
		} else {
			/* Release the first used address at or after a random one;
			 * now and then ask for a reserved or a free one instead. */
			uint64_t start = test_below(r.window), i = start;
			bool found = false;

			do {
				if (r.state[i] == USED) {
					found = true;
					break;
				}
				i = (i + 1) % r.window;
			} while (i != start);
			if (found) {
				struct conf_addr a = addr_plus(&r.base, i);
				CHECK_EQ(addrpool_release(pool, &a), 0);
				r.state[i] = FREE;
				r.used--;
				releases++;
			}
			struct conf_addr b = addr_plus(&r.base, start);
			if (r.state[start] == RESERVED)
				CHECK_EQ(addrpool_release(pool, &b), -EPERM);
			else if (r.state[start] == FREE)
				CHECK_EQ(addrpool_release(pool, &b), -ENOENT);
		}
		CHECK_EQ(addrpool_free_count(pool), ref_free_count(&r));
		if (op % 1000 == 0) {
			for (int k = 0; k < 64; k++) {
				uint64_t o = test_below(r.window);
				struct conf_addr a = addr_plus(&r.base, o);
				CHECK_EQ(addrpool_is_used(pool, &a), r.state[o] != FREE);
			}
		}
	}
	printf("# addrpool: %s: %zu ops: %zu takes, %zu exhausted, %zu releases, %zu marks\n",
	       sc->address, ops, takes, fulls, releases, marks);
	CHECK(takes > 0);
	CHECK(releases > 0);
	if (r.size == r.window && r.window > 4 && r.window <= 256) /* small pools fill up */
		CHECK(fulls > 0);

	/* Drain everything: only the reserved addresses stay used, and the
	 * trie shrinks back to their paths. */
	for (uint64_t i = 0; i < r.window; i++) {
		if (r.state[i] != USED)
			continue;
		struct conf_addr a = addr_plus(&r.base, i);
		CHECK_EQ(addrpool_release(pool, &a), 0);
		r.state[i] = FREE;
		r.used--;
	}
	CHECK_EQ(addrpool_free_count(pool), ref_free_count(&r));
out:
	addrpool_free(pool);
	free(r.state);
}

static void random_against_reference(void)
{
	static const struct scenario scenarios[] = {
		{ "10.0.0.1/30", 4, 20000, false },
		{ "10.0.0.2/29", 8, 20000, true },
		{ "10.9.8.77/24", 256, 200000, true },
		{ "172.16.5.9/16", 65536, 200000, true },
		{ "fd00::1:80/120", 256, 100000, true },
		{ "fd00:1:2:3::5/64", 4096, 100000, true },
	};
	test_seed(0xadd9001);
	for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++)
		run_scenario(&scenarios[i]);
}

/* ---- hand-written cases ---- */

/* Takes until -ENOSPC; returns how many, checking each against avoid[]. */
static size_t take_all(struct addrpool *pool, const struct conf_addr *avoid, size_t n_avoid)
{
	struct conf_addr a;
	size_t n = 0;
	int ret;

	while ((ret = addrpool_take(pool, &a)) == 0) {
		for (size_t i = 0; i < n_avoid; i++)
			CHECK(!addr_eq(&a, &avoid[i]));
		if (++n > 70000)
			break;
	}
	CHECK_EQ(ret, -ENOSPC);
	return n;
}

static void never_special_addresses(void)
{
	struct addrpool *pool;
	struct conf_prefix p = prefix("192.168.7.100/24");
	struct conf_addr avoid[] = { addr("192.168.7.0"), addr("192.168.7.255"), addr("192.168.7.100") };

	CHECK_EQ(addrpool_new_for_address(&pool, &p), 0);
	CHECK_EQ(addrpool_free_count(pool), 253);
	CHECK_EQ(take_all(pool, avoid, 3), 253);
	addrpool_free(pool);

	/* The same with the interface on the broadcast-looking last address. */
	p = prefix("10.1.0.254/23");
	struct conf_addr avoid2[] = { addr("10.1.0.0"), addr("10.1.1.255"), addr("10.1.0.254") };
	CHECK_EQ(addrpool_new_for_address(&pool, &p), 0);
	CHECK_EQ(take_all(pool, avoid2, 3), 509);
	addrpool_free(pool);

	/* IPv6: the subnet-router anycast address and our own; no broadcast. */
	p = prefix("fd42::ff/120");
	struct conf_addr avoid6[] = { addr("fd42::"), addr("fd42::ff") };
	CHECK_EQ(addrpool_new_for_address(&pool, &p), 0);
	CHECK_EQ(take_all(pool, avoid6, 2), 254);
	addrpool_free(pool);

	/* /30: the two in the middle, one of them ours. */
	p = prefix("10.0.0.1/30");
	CHECK_EQ(addrpool_new_for_address(&pool, &p), 0);
	struct conf_addr a;
	CHECK_EQ(addrpool_take(pool, &a), 0);
	struct conf_addr two = addr("10.0.0.2");
	CHECK(addr_eq(&a, &two));
	CHECK_EQ(addrpool_take(pool, &a), -ENOSPC);
	addrpool_free(pool);

	/* /31 (RFC 3021) has no network or broadcast address; /32 no room. */
	p = prefix("10.0.0.4/31");
	CHECK_EQ(addrpool_new_for_address(&pool, &p), 0);
	CHECK_EQ(addrpool_take(pool, &a), 0);
	struct conf_addr five = addr("10.0.0.5");
	CHECK(addr_eq(&a, &five));
	CHECK_EQ(addrpool_take(pool, &a), -ENOSPC);
	addrpool_free(pool);
	p = prefix("10.0.0.4/32");
	CHECK_EQ(addrpool_new_for_address(&pool, &p), 0);
	CHECK_EQ(addrpool_free_count(pool), 0);
	CHECK_EQ(addrpool_take(pool, &a), -ENOSPC);
	addrpool_free(pool);
}

static void exhaustion(void)
{
	struct addrpool *pool;
	struct conf_prefix p = prefix("10.0.0.1/29");
	struct conf_addr a;

	CHECK_EQ(addrpool_new_for_address(&pool, &p), 0);
	for (int i = 2; i <= 6; i++) {
		struct conf_addr want = addr_plus(&(struct conf_addr){ .family = AF_INET, .bytes = { 10 } }, (uint64_t)i);
		CHECK_EQ(addrpool_take(pool, &a), 0);
		CHECK(addr_eq(&a, &want));
	}
	CHECK_EQ(addrpool_free_count(pool), 0);
	CHECK_EQ(addrpool_take(pool, &a), -ENOSPC);
	CHECK_EQ(addrpool_take(pool, &a), -ENOSPC); /* and stays so */
	struct conf_addr four = addr("10.0.0.4");
	CHECK_EQ(addrpool_release(pool, &four), 0);
	CHECK_EQ(addrpool_take(pool, &a), 0);
	CHECK(addr_eq(&a, &four));
	CHECK_EQ(addrpool_take(pool, &a), -ENOSPC);
	addrpool_free(pool);
}

static void thousand_distinct(void)
{
	struct addrpool *pool;
	struct conf_prefix p = prefix("10.100.0.1/16");
	struct conf_addr *got = calloc(1000, sizeof(*got));
	struct conf_addr base = addr("10.100.0.0");
	size_t dup = 0;

	CHECK(got != NULL);
	if (!got)
		return;
	CHECK_EQ(addrpool_new_for_address(&pool, &p), 0);
	for (int i = 0; i < 1000; i++) {
		CHECK_EQ(addrpool_take(pool, &got[i]), 0);
		/* lowest first: .2, .3, ... (.0 is the network, .1 ours) */
		struct conf_addr want = addr_plus(&base, (uint64_t)i + 2);
		CHECK(addr_eq(&got[i], &want));
	}
	for (int i = 0; i < 1000; i++)
		for (int j = 0; j < i; j++)
			dup += addr_eq(&got[i], &got[j]);
	CHECK_EQ(dup, 0);
	CHECK_EQ(addrpool_free_count(pool), 65536 - 3 - 1000);
	addrpool_free(pool);
	free(got);
}

static void reuse_lowest_first(void)
{
	struct addrpool *pool;
	struct conf_prefix p = prefix("fd00:77::1/64");
	struct conf_addr base = addr("fd00:77::"), a;

	CHECK_EQ(addrpool_new_for_address(&pool, &p), 0);
	for (int i = 0; i < 10; i++)
		CHECK_EQ(addrpool_take(pool, &a), 0); /* ::2 .. ::b */
	struct conf_addr seven = addr_plus(&base, 7), three = addr_plus(&base, 3);
	CHECK_EQ(addrpool_release(pool, &seven), 0);
	CHECK_EQ(addrpool_release(pool, &three), 0);
	CHECK_EQ(addrpool_release(pool, &three), -ENOENT);
	CHECK_EQ(addrpool_take(pool, &a), 0);
	CHECK(addr_eq(&a, &three));
	CHECK_EQ(addrpool_take(pool, &a), 0);
	CHECK(addr_eq(&a, &seven));
	struct conf_addr twelve = addr_plus(&base, 12);
	CHECK_EQ(addrpool_take(pool, &a), 0);
	CHECK(addr_eq(&a, &twelve));
	/* A /64 counts 2^64 - 3 free before these: saturated to UINT64_MAX. */
	CHECK(addrpool_free_count(pool) == UINT64_MAX - 13 + 1);
	addrpool_free(pool);
}

static void existing_peers(void)
{
	struct addrpool *pool;
	struct conf_prefix p = prefix("10.0.0.1/24");
	struct conf_prefix peer = prefix("10.0.0.2/32"), site = prefix("10.0.0.16/28");
	struct conf_prefix outside = prefix("10.0.1.5/32"), wider = prefix("10.0.0.0/16");
	struct conf_prefix v6 = prefix("fd00::2/128");
	struct conf_addr a;

	CHECK_EQ(addrpool_new_for_address(&pool, &p), 0);
	CHECK_EQ(addrpool_mark(pool, &peer), 0);
	CHECK_EQ(addrpool_mark(pool, &peer), 0); /* twice is fine */
	CHECK_EQ(addrpool_mark(pool, &site), 0);
	CHECK_EQ(addrpool_mark(pool, &outside), -ERANGE);
	CHECK_EQ(addrpool_mark(pool, &wider), -ERANGE);
	CHECK_EQ(addrpool_mark(pool, &v6), -ERANGE);
	CHECK(addrpool_covers(pool, &site));
	CHECK(!addrpool_covers(pool, &wider));
	CHECK_EQ(addrpool_free_count(pool), 256 - 3 - 1 - 16);
	/* .3 .. .15 first, then past the /28. */
	for (int i = 3; i <= 15; i++)
		CHECK_EQ(addrpool_take(pool, &a), 0);
	CHECK_EQ(addrpool_take(pool, &a), 0);
	struct conf_addr want = addr("10.0.0.32");
	CHECK(addr_eq(&a, &want));
	/* One address out of the marked range: the range splits. */
	struct conf_addr mid = addr("10.0.0.21");
	CHECK(addrpool_is_used(pool, &mid));
	CHECK_EQ(addrpool_release(pool, &mid), 0);
	CHECK(!addrpool_is_used(pool, &mid));
	CHECK_EQ(addrpool_take(pool, &a), 0);
	CHECK(addr_eq(&a, &mid));
	addrpool_free(pool);
}

static void errors(void)
{
	struct addrpool *pool = NULL;
	struct conf_prefix p = prefix("10.0.0.1/24"), all6 = prefix("::/0"), all4 = prefix("0.0.0.0/0");
	struct conf_addr own = addr("10.0.0.1"), net = addr("10.0.0.0"), bc = addr("10.0.0.255");
	struct conf_addr out4 = addr("10.0.1.1"), v6 = addr("fd00::1"), free4 = addr("10.0.0.9");

	CHECK_EQ(addrpool_new(&pool, &all6), -EINVAL);
	CHECK(pool == NULL);
	CHECK_EQ(addrpool_new(&pool, &all4), 0); /* 2^32 addresses: fine */
	CHECK_EQ(addrpool_free_count(pool), 1ull << 32);
	addrpool_free(pool);

	CHECK_EQ(addrpool_new_for_address(&pool, &p), 0);
	CHECK(addrpool_network(pool)->cidr == 24);
	CHECK(addr_eq(&addrpool_network(pool)->addr, &net));
	CHECK_EQ(addrpool_release(pool, &own), -EPERM);
	CHECK_EQ(addrpool_release(pool, &net), -EPERM);
	CHECK_EQ(addrpool_release(pool, &bc), -EPERM);
	CHECK_EQ(addrpool_release(pool, &out4), -ERANGE);
	CHECK_EQ(addrpool_release(pool, &v6), -ERANGE);
	CHECK_EQ(addrpool_release(pool, &free4), -ENOENT);
	CHECK_EQ(addrpool_reserve(pool, &out4), -ERANGE);
	CHECK(!addrpool_contains(pool, &v6));
	CHECK(addrpool_contains(pool, &bc));
	/* A second interface address in the same network. */
	CHECK_EQ(addrpool_reserve(pool, &free4), 0);
	CHECK_EQ(addrpool_release(pool, &free4), -EPERM);
	CHECK_EQ(addrpool_free_count(pool), 252);
	addrpool_free(pool);
}

/* Lowest-free stays one walk down the trie however full the pool: 200,000
 * takes in a /8 must not slow down as it fills (a scan would be quadratic). */
static void many_in_big_pool(void)
{
	struct addrpool *pool;
	struct conf_prefix p = prefix("10.0.0.1/8");
	struct conf_addr a, base = addr("10.0.0.0");
	size_t n = 200000 / test_scale();
	bool in_order = true;

	CHECK_EQ(addrpool_new_for_address(&pool, &p), 0);
	for (size_t i = 0; i < n; i++) {
		CHECK_EQ(addrpool_take(pool, &a), 0);
		struct conf_addr want = addr_plus(&base, i + 2);
		in_order &= addr_eq(&a, &want);
	}
	CHECK(in_order);
	CHECK_EQ(addrpool_free_count(pool), (1u << 24) - 3 - n);
	addrpool_free(pool);
}

int main(void)
{
	test_suite_name = "addrpool";
	RUN(random_against_reference);
	RUN(never_special_addresses);
	RUN(exhaustion);
	RUN(thousand_distinct);
	RUN(reuse_lowest_first);
	RUN(existing_peers);
	RUN(errors);
	RUN(many_in_big_pool);
	TEST_EXIT();
}
