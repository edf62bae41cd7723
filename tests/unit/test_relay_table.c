/* test_relay_table.c: the relay's bookkeeping (src/coord/relay_table.c):
 * two clients joined on one token reach each other and nobody else, a third
 * is refused, channels of a closed pair stay dead after the slot is reused,
 * the token bucket holds a pair to its rate (checked against a plain
 * bytes-over-time account), the table is bounded and idle pairs expire. */
#include <errno.h>

#include "coord/relay_table.h"
#include "test.h"

#define SEC 1000000000ull

static void token(uint8_t t[RELAY_TOKEN_LEN], unsigned n)
{
	/* a distinct token per n, spread over the bucket bits as real ones are */
	uint64_t z = n * 0x9e3779b97f4a7c15ull;

	for (int i = 0; i < RELAY_TOKEN_LEN; i++)
		t[i] = (uint8_t)(z >> (8 * (i % 8))) ^ (uint8_t)i;
}

static void test_pair_routes_both_ways(void)
{
	struct relay_limits l;
	struct relay_table *t;
	uint8_t tok[RELAY_TOKEN_LEN];
	uint32_t ca, cb, c2, to_ch;
	uint64_t to;
	bool ready;

	relay_limits_default(&l);
	t = relay_table_new(&l);
	CHECK(t != NULL);
	token(tok, 1);
	CHECK_EQ(relay_table_join(t, tok, 11, 0, &ca, &ready), 0);
	CHECK(!ready);
	CHECK_EQ(relay_table_route(t, 11, ca, 100, 1, &to, &to_ch), -ENOTCONN);
	CHECK_EQ(relay_table_join(t, tok, 22, 2, &cb, &ready), 0);
	CHECK(ready);
	CHECK(ca != cb && ca && cb);
	CHECK_EQ(relay_table_join(t, tok, 11, 3, &c2, &ready), 0);
	CHECK_EQ(c2, ca);
	CHECK_EQ(relay_table_peer_of(t, ca), 22);
	CHECK_EQ(relay_table_route(t, 11, ca, 100, 4, &to, &to_ch), 0);
	CHECK_EQ(to, 22);
	CHECK_EQ(to_ch, cb);
	CHECK_EQ(relay_table_route(t, 22, cb, 200, 5, &to, &to_ch), 0);
	CHECK_EQ(to, 11);
	CHECK_EQ(to_ch, ca);
	/* a client cannot send on the other's channel, nor a third on either */
	CHECK_EQ(relay_table_route(t, 22, ca, 100, 6, &to, &to_ch), -ENOENT);
	CHECK_EQ(relay_table_route(t, 33, ca, 100, 6, &to, &to_ch), -ENOENT);
	CHECK_EQ(relay_table_join(t, tok, 33, 7, &c2, &ready), -EBUSY);
	CHECK_EQ(relay_table_route(t, 11, ca, RELAY_MAX_DATAGRAM + 1, 8, &to, &to_ch), -EMSGSIZE);
	CHECK_EQ(relay_table_counters(t)->forwarded_packets, 2);
	CHECK_EQ(relay_table_counters(t)->forwarded_bytes, 300);
	CHECK_EQ(relay_table_counters(t)->dropped_bad_channel, 2);
	CHECK_EQ(relay_table_counters(t)->joins_refused_busy, 1);
	CHECK_EQ(relay_table_counters(t)->dropped_no_peer, 1);
	CHECK_EQ(relay_table_counters(t)->dropped_oversize, 1);
	relay_table_free(t);
}

static uint64_t left_other;
static int left_calls;

static void note_left(void *arg, uint64_t other, const uint8_t token[RELAY_TOKEN_LEN])
{
	(void)arg;
	(void)token;
	left_other = other;
	left_calls++;
}

static void test_leave_and_stale_channels(void)
{
	struct relay_limits l;
	struct relay_table *t;
	uint8_t a[RELAY_TOKEN_LEN], b[RELAY_TOKEN_LEN];
	uint32_t ca, cb, na, nb, to_ch;
	uint64_t to;
	bool ready;

	relay_limits_default(&l);
	l.max_pairs = 1;
	t = relay_table_new(&l);
	token(a, 1);
	token(b, 2);
	CHECK_EQ(relay_table_join(t, a, 1, 0, &ca, &ready), 0);
	CHECK_EQ(relay_table_join(t, a, 2, 0, &cb, &ready), 0);
	CHECK_EQ(relay_table_join(t, b, 3, 0, &na, &ready), -ENOSPC);
	CHECK_EQ(relay_table_counters(t)->joins_refused_full, 1);
	CHECK_EQ(relay_table_leave(t, 2, NULL, note_left, NULL), 1);
	CHECK_EQ(left_calls, 1);
	CHECK_EQ(left_other, 1); /* the side that stays is told */
	CHECK_EQ(relay_table_leave(t, 1, b, note_left, NULL), 0); /* not in b's pair */
	CHECK_EQ(relay_table_route(t, 1, ca, 10, 1, &to, &to_ch), -ENOTCONN);
	CHECK_EQ(relay_table_leave(t, 1, a, note_left, NULL), 1);
	CHECK_EQ(left_calls, 1); /* nobody left to tell */
	CHECK_EQ(relay_table_pairs(t), 0);
	/* the one slot again, for other clients: the old channels name nothing */
	CHECK_EQ(relay_table_join(t, b, 1, 2, &na, &ready), 0);
	CHECK_EQ(relay_table_join(t, b, 2, 2, &nb, &ready), 0);
	CHECK(na != ca && na != cb && nb != ca && nb != cb);
	CHECK_EQ(relay_table_route(t, 1, ca, 10, 3, &to, &to_ch), -ENOENT);
	CHECK_EQ(relay_table_route(t, 1, na, 10, 3, &to, &to_ch), 0);
	CHECK_EQ(relay_table_peer_of(t, ca), 0);
	relay_table_free(t);
}

/* The bucket against a naive account: over any run, what passed is at most
 * burst + rate * elapsed, and a sender that keeps just under the rate loses
 * nothing. */
static void test_rate_limit(void)
{
	struct relay_limits l;
	struct relay_table *t;
	uint8_t tok[RELAY_TOKEN_LEN];
	uint32_t ca, cb, to_ch;
	uint64_t to, now = 5 * SEC, passed = 0, start = now;
	bool ready;

	relay_limits_default(&l);
	l.rate = 1000000; /* 1 MB/s */
	l.burst = 100000;
	l.idle_ns = 3600 * SEC;
	t = relay_table_new(&l);
	token(tok, 9);
	relay_table_join(t, tok, 1, now, &ca, &ready);
	relay_table_join(t, tok, 2, now, &cb, &ready);
	/* flood: 1000-byte datagrams every 100 us (10 MB/s) for 2 s */
	for (int i = 0; i < 20000; i++, now += 100000)
		if (!relay_table_route(t, 1, ca, 1000, now, &to, &to_ch))
			passed += 1000;
	CHECK(passed <= l.burst + l.rate * (now - start) / SEC);
	CHECK(passed >= l.rate * (now - start) / SEC); /* and the link is not starved */
	CHECK(relay_table_counters(t)->dropped_rate > 0);
	/* the other direction has its own bucket, still full */
	CHECK_EQ(relay_table_route(t, 2, cb, 1000, now, &to, &to_ch), 0);
	/* after a rest, a sender at 90 % of the rate in small steps loses nothing,
	 * even though each step earns a fraction of a datagram */
	now += 10 * SEC;
	uint64_t before = relay_table_counters(t)->dropped_rate;
	for (int i = 0; i < 50000; i++, now += 1000)
		if (i % 1111 == 0)
			relay_table_route(t, 1, ca, 1000, now, &to, &to_ch);
	CHECK_EQ(relay_table_counters(t)->dropped_rate, before);
	/* small steps at a low rate still earn: 1 byte every 10 us ends up full */
	relay_table_free(t);
	l.rate = 1000;
	l.burst = 1000;
	t = relay_table_new(&l);
	relay_table_join(t, tok, 1, 0, &ca, &ready);
	relay_table_join(t, tok, 2, 0, &cb, &ready);
	CHECK_EQ(relay_table_route(t, 1, ca, 1000, 1, &to, &to_ch), 0);
	CHECK_EQ(relay_table_route(t, 1, ca, 500, 2, &to, &to_ch), -ENOBUFS);
	for (now = 2; now < SEC / 2; now += 10000)
		relay_table_route(t, 1, ca, 0, now, &to, &to_ch);
	CHECK_EQ(relay_table_route(t, 1, ca, 480, now, &to, &to_ch), 0);
	relay_table_free(t);
}

static void test_expire_and_bounds(void)
{
	struct relay_limits l;
	struct relay_table *t;
	uint8_t tok[RELAY_TOKEN_LEN];
	uint32_t ch, to_ch;
	uint64_t to;
	bool ready;
	int ok = 0;

	relay_limits_default(&l);
	l.max_pairs = 1000;
	l.idle_ns = 10 * SEC;
	t = relay_table_new(&l);
	for (unsigned i = 0; i < 1200; i++) {
		token(tok, i);
		ok += relay_table_join(t, tok, i + 1, i < 500 ? 0 : 5 * SEC, &ch, &ready) == 0;
	}
	CHECK_EQ(ok, 1000);
	CHECK_EQ(relay_table_pairs(t), 1000);
	CHECK_EQ(relay_table_counters(t)->joins_refused_full, 200);
	CHECK_EQ(relay_table_expire(t, 12 * SEC), 500);
	CHECK_EQ(relay_table_pairs(t), 500);
	/* every survivor still found by its token: joining again gives its channel */
	token(tok, 700);
	CHECK_EQ(relay_table_join(t, tok, 701, 12 * SEC, &ch, &ready), 0);
	CHECK_EQ(relay_table_route(t, 701, ch, 1, 12 * SEC, &to, &to_ch), -ENOTCONN);
	CHECK_EQ(relay_table_expire(t, 100 * SEC), 500);
	CHECK_EQ(relay_table_pairs(t), 0);
	l.max_pairs = 0;
	CHECK(relay_table_new(&l) == NULL);
	l.max_pairs = RELAY_MAX_PAIRS_LIMIT + 1;
	CHECK(relay_table_new(&l) == NULL);
	relay_table_free(t);
}

int main(void)
{
	test_suite_name = "relay_table";
	RUN(test_pair_routes_both_ways);
	RUN(test_leave_and_stale_channels);
	RUN(test_rate_limit);
	RUN(test_expire_and_bounds);
	TEST_EXIT();
}
