/* test_ratelimiter.c: the handshake rate limiter under an injected clock,
 * against a naive reference bucket (credit in ns, capped, one packet's cost
 * per pass): bursts, refill, independent sources, IPv6 /64 grouping, the
 * bounded table, sweeping and the keyed hash. */
#include "wg/ratelimiter.h"
#include "test.h"

#include <stdbool.h>
#include <sys/socket.h>

static const uint64_t MS = 1000000ull;
static const uint64_t SEC = 1000000000ull;
static const uint64_t START = 1000 * 1000000000ull; /* an arbitrary "now" */
static const uint8_t KEY[16] = "0123456789abcdef";

static const uint8_t *v4(uint32_t a)
{
	static uint8_t ring[4][4];
	static unsigned i;
	uint8_t *p = ring[i++ % 4];
	p[0] = (uint8_t)(a >> 24), p[1] = (uint8_t)(a >> 16), p[2] = (uint8_t)(a >> 8), p[3] = (uint8_t)a;
	return p;
}

/* 2001:db8:<net>:<net>:<host>::<host> */
static const uint8_t *v6(uint32_t net, uint32_t host)
{
	static uint8_t ring[4][16];
	static unsigned i;
	uint8_t *p = ring[i++ % 4];
	memset(p, 0, 16);
	p[0] = 0x20, p[1] = 0x01, p[2] = 0x0d, p[3] = 0xb8;
	p[4] = (uint8_t)(net >> 24), p[5] = (uint8_t)(net >> 16), p[6] = (uint8_t)(net >> 8), p[7] = (uint8_t)net;
	p[8] = (uint8_t)(host >> 24), p[15] = (uint8_t)host;
	return p;
}

static int allowed_now(struct ratelimiter *r, int family, const uint8_t *ip, uint64_t now, int tries)
{
	int n = 0;
	for (int i = 0; i < tries; i++)
		n += ratelimiter_allow(r, family, ip, now);
	return n;
}

static void burst_then_refuse(void)
{
	struct ratelimiter r;
	CHECK_EQ(ratelimiter_init(&r, KEY), 0);
	CHECK_EQ(allowed_now(&r, AF_INET, v4(0x0a000001), START, 20), RATELIMIT_BURST);
	CHECK_EQ(r.entries, 1);
	/* Refusals cost nothing: the credit still builds up underneath. */
	CHECK(!ratelimiter_allow(&r, AF_INET, v4(0x0a000001), START + 49 * MS));
	CHECK(ratelimiter_allow(&r, AF_INET, v4(0x0a000001), START + 50 * MS));
	CHECK(!ratelimiter_allow(&r, AF_INET, v4(0x0a000001), START + 50 * MS));
	/* A long pause refills to the burst, no more. */
	CHECK_EQ(allowed_now(&r, AF_INET, v4(0x0a000001), START + 900 * MS, 20), RATELIMIT_BURST);
	CHECK(!ratelimiter_allow(&r, AF_UNIX, v4(0x0a000001), START));
	ratelimiter_free(&r);
	CHECK(r.buckets == NULL);
}

/* A naive bucket: credit in ns, capped at the burst, one packet's cost each. */
struct ref_bucket {
	bool seen;
	uint64_t credit, last;
};

static bool ref_allow(struct ref_bucket *b, uint64_t now)
{
	const uint64_t cost = SEC / RATELIMIT_PACKETS_PER_SECOND, cap = cost * RATELIMIT_BURST;
	if (!b->seen || now - b->last > SEC) { /* new, or idle long enough to be full */
		b->seen = true;
		b->credit = cap;
	} else {
		b->credit += now - b->last;
		if (b->credit > cap)
			b->credit = cap;
	}
	b->last = now;
	if (b->credit < cost)
		return false;
	b->credit -= cost;
	return true;
}

/* A source sending at random intervals, against the reference. */
static void refill_against_reference(void)
{
	struct ratelimiter r;
	struct ref_bucket b = { 0 };
	uint64_t now = START, state = 42;
	size_t mismatches = 0, allowed = 0, n = 200000;
	CHECK_EQ(ratelimiter_init(&r, KEY), 0);
	for (size_t i = 0; i < n; i++) {
		state = state * 6364136223846793005ull + 1442695040888963407ull;
		uint64_t step = (state >> 33) % 8 == 0 ? (state >> 20) % (3 * SEC / 2) : (state >> 20) % (60 * MS);
		now += step;
		bool got = ratelimiter_allow(&r, AF_INET6, v6(7, 1), now);
		mismatches += got != ref_allow(&b, now);
		allowed += got;
	}
	CHECK_EQ(mismatches, 0);
	CHECK(allowed > n / 4 && allowed < n); /* both outcomes happen */
	ratelimiter_free(&r);
}

/* A flood at 1000/s for 10 s gets the burst plus 20 a second. */
static void sustained_rate(void)
{
	struct ratelimiter r;
	CHECK_EQ(ratelimiter_init(&r, KEY), 0);
	int allowed = 0;
	for (uint64_t t = 0; t < 10 * SEC; t += MS)
		allowed += ratelimiter_allow(&r, AF_INET, v4(0xc0000201), START + t);
	int want = RATELIMIT_BURST + 10 * RATELIMIT_PACKETS_PER_SECOND;
	CHECK(allowed >= want - 1 && allowed <= want);
	ratelimiter_free(&r);
}

static void independent_sources(void)
{
	struct ratelimiter r;
	CHECK_EQ(ratelimiter_init(&r, KEY), 0);
	CHECK_EQ(allowed_now(&r, AF_INET, v4(0x0a000001), START, 10), RATELIMIT_BURST);
	CHECK_EQ(allowed_now(&r, AF_INET, v4(0x0a000002), START, 10), RATELIMIT_BURST);
	/* Same bytes, other family: another source. */
	uint8_t six[16] = { 0x0a, 0, 0, 0x01 };
	CHECK_EQ(allowed_now(&r, AF_INET6, six, START, 10), RATELIMIT_BURST);
	CHECK_EQ(r.entries, 3);
	/* The same /64 is one source, whatever the host half says. */
	CHECK_EQ(allowed_now(&r, AF_INET6, v6(1, 1), START, 3), 3);
	CHECK_EQ(allowed_now(&r, AF_INET6, v6(1, 0xffffffff), START, 10), RATELIMIT_BURST - 3);
	CHECK_EQ(allowed_now(&r, AF_INET6, v6(2, 1), START, 10), RATELIMIT_BURST); /* next /64 */
	CHECK_EQ(r.entries, 5);
	ratelimiter_free(&r);
}

static void full_table_and_sweep(void)
{
	struct ratelimiter r;
	CHECK_EQ(ratelimiter_init(&r, KEY), 0);
	int ok = 0;
	for (uint32_t i = 0; i < RATELIMIT_MAX_ENTRIES; i++)
		ok += ratelimiter_allow(&r, AF_INET, v4(0x0a000000 + i), START);
	CHECK_EQ(ok, RATELIMIT_MAX_ENTRIES);
	CHECK_EQ(r.entries, RATELIMIT_MAX_ENTRIES);
	/* The hash spreads them: with 8 a bucket on average, next to every
	 * bucket is used (an even hash leaves about 1024 * e^-8 < 1 empty). */
	size_t used = 0;
	for (size_t i = 0; i < r.bucket_count; i++)
		used += r.buckets[i] != NULL;
	CHECK(r.bucket_count >= RATELIMIT_MAX_ENTRIES / 16);
	CHECK(used > r.bucket_count - r.bucket_count / 64);

	/* Full: strangers are refused, known sources keep their buckets. */
	CHECK(!ratelimiter_allow(&r, AF_INET, v4(0x0b000000), START + 500 * MS));
	CHECK(!ratelimiter_allow(&r, AF_INET6, v6(9, 9), START + 500 * MS));
	CHECK(ratelimiter_allow(&r, AF_INET, v4(0x0a000005), START + 500 * MS));
	CHECK_EQ(r.entries, RATELIMIT_MAX_ENTRIES);
	/* A second on, the idle ones are swept and strangers get in. */
	CHECK(ratelimiter_allow(&r, AF_INET, v4(0x0b000000), START + 1100 * MS));
	CHECK_EQ(r.entries, 2); /* 10.0.0.5 was seen 0.6 s ago, and the newcomer */
	ratelimiter_free(&r);
}

/* Sweeps run at most once a second and drop exactly the entries idle > 1 s. */
static void sweep_schedule(void)
{
	struct ratelimiter r;
	CHECK_EQ(ratelimiter_init(&r, KEY), 0);
	for (uint32_t i = 0; i < 100; i++) /* the first call also sweeps: at START */
		CHECK_EQ(allowed_now(&r, AF_INET, v4(0x0a000000 + i), START, 10), RATELIMIT_BURST);
	for (uint32_t i = 0; i < 100; i++)
		CHECK(ratelimiter_allow(&r, AF_INET6, v6(i, 0), START + 600 * MS));
	CHECK_EQ(r.entries, 200);
	CHECK(ratelimiter_allow(&r, AF_INET, v4(0x0c000000), START + 1100 * MS)); /* sweeps */
	CHECK_EQ(r.entries, 101);
	/* The first hundred were forgotten: full buckets again. */
	CHECK_EQ(allowed_now(&r, AF_INET, v4(0x0a000000), START + 1100 * MS, 10), RATELIMIT_BURST);
	CHECK_EQ(r.entries, 102);
	/* 0.8 s after that sweep the IPv6 ones are idle 1.3 s, but no sweep is due. */
	CHECK(ratelimiter_allow(&r, AF_INET, v4(0x0c000001), START + 1900 * MS));
	CHECK_EQ(r.entries, 103);
	/* Now one is: the IPv6 hundred, 12.0.0.0 and 10.0.0.0 (idle 1.2 s) go. */
	CHECK(ratelimiter_allow(&r, AF_INET, v4(0x0c000002), START + 2300 * MS));
	CHECK_EQ(r.entries, 2); /* 10.0.0.0 went too; 12.0.0.1 and the newcomer stay */
	ratelimiter_free(&r);
}

/* The key decides where a source lands, so it cannot be aimed at a chain. */
static void keyed_hash(void)
{
	uint8_t other[16];
	memcpy(other, KEY, 16);
	other[0] ^= 1;
	size_t differ = 0;
	for (uint32_t s = 0; s < 32; s++) {
		size_t where[2] = { 0, 0 };
		for (int k = 0; k < 2; k++) {
			struct ratelimiter r;
			CHECK_EQ(ratelimiter_init(&r, k ? other : KEY), 0);
			CHECK(ratelimiter_allow(&r, AF_INET, v4(0xc6336400 + s), START));
			for (size_t i = 0; i < r.bucket_count; i++)
				if (r.buckets[i])
					where[k] = i;
			ratelimiter_free(&r);
		}
		differ += where[0] != where[1];
	}
	CHECK(differ > 24);
}

int main(void)
{
	test_suite_name = "ratelimiter";
	RUN(burst_then_refuse);
	RUN(refill_against_reference);
	RUN(sustained_rate);
	RUN(independent_sources);
	RUN(full_table_and_sweep);
	RUN(sweep_schedule);
	RUN(keyed_hash);
	TEST_EXIT();
}
