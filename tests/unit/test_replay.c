/* test_replay.c: the replay window against a deliberately naive reference:
 * the set of every counter ever accepted, plus the rule
 *
 *   accept iff counter < limit, counter is not in the set, and
 *   counter + REPLAY_WINDOW >= the greatest counter accepted so far
 *
 * (so the greatest and the REPLAY_WINDOW = 8128 counters below it are
 * tracked; see src/wg/replay.c). Millions of operations: in-order streams
 * with reordering, duplicates and losses, far jumps, the window's edge, jumps
 * of about a whole ring (stale bits), and counters near the limit and near
 * UINT64_MAX. Some accepted-by-check counters are never updated, as when a
 * packet fails its tag. WEFT_TEST_SEED and WEFT_TEST_SCALE as elsewhere. */
#include "wg/replay.h"
#include "test.h"

#include <stdbool.h>

enum {
	SEQUENCES = 12,
	OPS_PER_SEQUENCE = 1000000,
	RECENT = 256, /* accepted counters remembered for duplicates */
};
/* REJECT_AFTER_MESSAGES (whitepaper section 6.4): 2^64 - 2^13 - 1. */
static const uint64_t REJECT_AFTER = UINT64_MAX - 8192;

/* ---- the reference ---- */
struct ref {
	uint64_t *slots; /* counter + 1; 0 = empty */
	size_t cap, n;
	bool any;
	uint64_t greatest;
};

static size_t hash(uint64_t v, size_t cap)
{
	return (size_t)((v * 0x9e3779b97f4a7c15ull) >> 20) & (cap - 1);
}

static bool ref_seen(const struct ref *r, uint64_t c)
{
	for (size_t i = hash(c + 1, r->cap);; i = (i + 1) & (r->cap - 1)) {
		if (r->slots[i] == c + 1)
			return true;
		if (!r->slots[i])
			return false;
	}
}

static void ref_add_slot(struct ref *r, uint64_t v)
{
	size_t i = hash(v, r->cap);
	while (r->slots[i])
		i = (i + 1) & (r->cap - 1);
	r->slots[i] = v;
}

static void ref_add(struct ref *r, uint64_t c)
{
	if (2 * (r->n + 1) > r->cap) {
		uint64_t *old = r->slots;
		size_t old_cap = r->cap;
		r->cap = old_cap ? 2 * old_cap : 1024;
		r->slots = calloc(r->cap, sizeof(uint64_t));
		if (!r->slots)
			abort();
		for (size_t i = 0; i < old_cap; i++)
			if (old[i])
				ref_add_slot(r, old[i]);
		free(old);
	}
	ref_add_slot(r, c + 1);
	r->n++;
	if (!r->any || c > r->greatest)
		r->greatest = c;
	r->any = true;
}

static bool ref_accepts(const struct ref *r, uint64_t c, uint64_t limit)
{
	if (c >= limit || (r->n && ref_seen(r, c)))
		return false;
	return !r->any || (unsigned __int128)c + REPLAY_WINDOW >= r->greatest;
}

/* ---- one sequence ---- */
struct run {
	struct replay_window w;
	struct ref ref;
	uint64_t limit, next; /* next in-order counter the sender would use */
	uint64_t recent[RECENT];
	size_t recent_n;
	size_t ops, accepted, mismatches, impure, changed_on_reject;
};

static void op(struct run *s, uint64_t c)
{
	struct replay_window before;
	bool snapshot = (s->ops & 15) == 0;
	if (snapshot)
		before = s->w;
	bool want = ref_accepts(&s->ref, c, s->limit);
	bool got = replay_check(&s->w, c, s->limit);
	if (snapshot && memcmp(&before, &s->w, sizeof(before)))
		s->impure++;
	if (got != want && s->mismatches++ < 5)
		fprintf(stderr, "  op %zu: check(%" PRIu64 ") = %d, reference %d (greatest %" PRIu64 ")\n",
			s->ops, c, got, want, s->ref.greatest);
	s->ops++;
	if (test_below(10) == 0)
		return; /* the tag did not verify: no update */
	if (!want)
		before = s->w;
	bool updated = replay_update(&s->w, c, s->limit);
	if (updated != want && s->mismatches++ < 5)
		fprintf(stderr, "  op %zu: update(%" PRIu64 ") = %d, reference %d\n", s->ops, c, updated, want);
	if (!want && memcmp(&before, &s->w, sizeof(before)))
		s->changed_on_reject++;
	if (want) {
		ref_add(&s->ref, c);
		s->accepted++;
		s->recent[s->recent_n++ % RECENT] = c;
	}
}

static uint64_t sat_sub(uint64_t a, uint64_t b) { return a > b ? a - b : 0; }
static uint64_t sat_add(uint64_t a, uint64_t b) { return a > UINT64_MAX - b ? UINT64_MAX : a + b; }

/* A sender's stream: mostly in order, reordered within a random depth,
 * with losses and duplicates. */
static void stream_burst(struct run *s)
{
	uint64_t depth = test_below(4) ? 1 + test_below(64) : 1 + test_below(2 * REPLAY_WINDOW);
	uint64_t len = 1 + test_below(2000);
	uint64_t base = s->next;
	for (uint64_t i = 0; i < len; i++) {
		uint64_t c = sat_add(base, i);
		if (test_below(3) == 0)
			c = sat_sub(c, test_below(depth)); /* arrives late */
		if (test_below(50) == 0)
			continue; /* lost */
		op(s, c);
		if (test_below(30) == 0)
			op(s, c); /* duplicated by the network */
	}
	s->next = sat_add(base, len);
}

static void random_op(struct run *s)
{
	uint64_t g = s->ref.greatest;
	uint64_t c, r = test_below(100);
	if (r < 20)       /* next in order */
		c = sat_add(g, 1);
	else if (r < 35)  /* behind, inside and just outside the window */
		c = sat_sub(g, test_below(REPLAY_WINDOW + 200));
	else if (r < 45)  /* the window's edge */
		c = sat_add(sat_sub(g, REPLAY_WINDOW + 2), test_below(5));
	else if (r < 55)  /* a duplicate of a recent one */
		c = s->recent_n ? s->recent[test_below(s->recent_n < RECENT ? s->recent_n : RECENT)] : g;
	else if (r < 70)  /* a jump of up to 2^16 */
		c = sat_add(g, 1 + test_below(UINT64_C(1) << test_below(17)));
	else if (r < 78)  /* about a whole ring ahead: stale bits must not survive */
		c = sat_add(g, REPLAY_WORDS * REPLAY_BITS_PER_WORD - 130 + test_below(260));
	else if (r < 88)  /* a word boundary ahead */
		c = sat_add(g, REPLAY_BITS_PER_WORD * (1 + test_below(3)) - 1 + test_below(3));
	else if (r < 98)  /* far behind */
		c = sat_sub(g, test_below(3 * REPLAY_WINDOW));
	else if (r < 99)  /* a far jump */
		c = sat_add(g, test_below(UINT64_C(1) << 40));
	else if (test_below(10)) /* behind again */
		c = sat_sub(g, test_below(REPLAY_WINDOW));
	else              /* around the limit, which ends the session's acceptances */
		c = sat_add(sat_sub(s->limit, 3), test_below(6));
	op(s, c);
}

/* One receiving session: a fresh window and reference, counters starting at
 * a place that depends on `which` (zero, near the limit, near UINT64_MAX,
 * or a small limit). */
static void session(struct run *s, int which, size_t ops)
{
	replay_init(&s->w);
	free(s->ref.slots);
	memset(&s->ref, 0, sizeof(s->ref));
	s->recent_n = 0;
	switch (which % 4) {
	case 0: s->next = 0; s->limit = REJECT_AFTER; break;
	case 1: s->next = REJECT_AFTER - test_below(3000000); s->limit = REJECT_AFTER; break;
	case 2: s->next = UINT64_MAX - test_below(3000000); s->limit = UINT64_MAX; break;
	default: s->next = test_below(1000); s->limit = 200000 + test_below(500000); break;
	}
	size_t end = s->ops + ops;
	while (s->ops < end) {
		if (test_below(2))
			stream_burst(s);
		else
			for (int i = 0; i < 100; i++)
				random_op(s);
		if (s->ref.any && s->next <= s->ref.greatest)
			s->next = sat_add(s->ref.greatest, 1); /* the sender is always ahead */
	}
}

static void run_sequence(int which, size_t ops)
{
	struct run *s = calloc(1, sizeof(*s));
	if (!s)
		abort();
	while (s->ops < ops)
		session(s, which, 1000 + test_below(50000));
	CHECK_EQ(s->mismatches, 0);
	CHECK_EQ(s->impure, 0);
	CHECK_EQ(s->changed_on_reject, 0);
	CHECK(s->accepted > s->ops / 10); /* both outcomes are exercised */
	CHECK(s->accepted < s->ops - s->ops / 10);
	printf("# replay: sequence %d: %zu ops, %zu accepted\n", which, s->ops, s->accepted);
	free(s->ref.slots);
	free(s);
}

static void random_against_reference(void)
{
	test_seed(0x7e91a7);
	size_t ops = OPS_PER_SEQUENCE / test_scale();
	for (int i = 0; i < SEQUENCES; i++)
		run_sequence(i, ops);
}

/* ---- hand-written cases ---- */
static void window_size(void)
{
	struct replay_window w;
	CHECK(REPLAY_WINDOW >= 8128);
	replay_init(&w);
	CHECK(replay_update(&w, 10000, REJECT_AFTER));
	CHECK(replay_check(&w, 10000 - REPLAY_WINDOW, REJECT_AFTER));
	CHECK(!replay_check(&w, 10000 - REPLAY_WINDOW - 1, REJECT_AFTER));
	CHECK(replay_update(&w, 10000 - REPLAY_WINDOW, REJECT_AFTER));
	CHECK(!replay_update(&w, 10000 - REPLAY_WINDOW, REJECT_AFTER));
	CHECK(!replay_update(&w, 10000 - REPLAY_WINDOW - 1, REJECT_AFTER));
	/* Every counter in the window, in reverse, exactly once. */
	size_t fresh = 0, again = 0;
	for (uint64_t c = 10000; c-- > 10000 - REPLAY_WINDOW;)
		fresh += replay_update(&w, c, REJECT_AFTER);
	for (uint64_t c = 10000 - REPLAY_WINDOW; c <= 10000; c++)
		again += replay_update(&w, c, REJECT_AFTER);
	CHECK_EQ(fresh, REPLAY_WINDOW - 1); /* 10000 - WINDOW was taken above */
	CHECK_EQ(again, 0);
}

static void basics(void)
{
	struct replay_window w;
	replay_init(&w);
	CHECK(replay_check(&w, 0, REJECT_AFTER));
	CHECK(replay_check(&w, 0, REJECT_AFTER)); /* check alone changes nothing */
	CHECK(replay_update(&w, 0, REJECT_AFTER));
	CHECK(!replay_check(&w, 0, REJECT_AFTER));
	CHECK(!replay_update(&w, 0, REJECT_AFTER));
	CHECK(replay_update(&w, 2, REJECT_AFTER));
	CHECK(replay_update(&w, 1, REJECT_AFTER)); /* late but new */
	CHECK(!replay_update(&w, 1, REJECT_AFTER));

	/* A far jump forgets everything before the window. */
	CHECK(replay_update(&w, 1000000, REJECT_AFTER));
	CHECK(!replay_check(&w, 3, REJECT_AFTER));
	CHECK(replay_check(&w, 999999, REJECT_AFTER));
	CHECK(!replay_check(&w, 1000000, REJECT_AFTER));

	/* The limit. */
	CHECK(!replay_check(&w, REJECT_AFTER, REJECT_AFTER));
	CHECK(!replay_update(&w, REJECT_AFTER, REJECT_AFTER));
	CHECK(!replay_update(&w, UINT64_MAX, UINT64_MAX));
	CHECK(replay_update(&w, REJECT_AFTER - 1, REJECT_AFTER));
	CHECK(!replay_update(&w, REJECT_AFTER - 1, REJECT_AFTER));
	CHECK(!replay_check(&w, 999999, REJECT_AFTER)); /* now far behind */
	CHECK(replay_update(&w, UINT64_MAX - 1, UINT64_MAX)); /* no overflow at the top */
	CHECK(!replay_check(&w, UINT64_MAX - 1, UINT64_MAX));
	CHECK(replay_check(&w, UINT64_MAX - 1 - REPLAY_WINDOW, UINT64_MAX));
	CHECK(!replay_check(&w, UINT64_MAX - 2 - REPLAY_WINDOW, UINT64_MAX));
}

/* Seen bits from one lap of the ring must not reject counters of the next. */
static void ring_wrap(void)
{
	struct replay_window w;
	replay_init(&w);
	const uint64_t ring = REPLAY_WORDS * REPLAY_BITS_PER_WORD;
	size_t fresh = 0;
	for (uint64_t c = 100; c < 100 + ring; c++)
		fresh += replay_update(&w, c, REJECT_AFTER);
	CHECK_EQ(fresh, ring);
	fresh = 0;
	for (uint64_t c = 100 + ring; c < 100 + 3 * ring; c += 7)
		fresh += replay_update(&w, c, REJECT_AFTER);
	CHECK_EQ(fresh, (2 * ring + 6) / 7);
	/* Jumps of exactly a ring, and a ring plus and minus one word. */
	uint64_t g = 100 + 3 * ring;
	CHECK(replay_update(&w, g, REJECT_AFTER));
	CHECK(replay_update(&w, g + ring, REJECT_AFTER));
	CHECK(replay_check(&w, g + ring - 1, REJECT_AFTER));
	CHECK(replay_check(&w, g + ring - REPLAY_WINDOW, REJECT_AFTER));
	CHECK(replay_update(&w, g + 2 * ring + REPLAY_BITS_PER_WORD, REJECT_AFTER));
	CHECK(replay_check(&w, g + 2 * ring, REJECT_AFTER));
	CHECK(replay_update(&w, g + 3 * ring, REJECT_AFTER));
	CHECK(replay_check(&w, g + 2 * ring + REPLAY_BITS_PER_WORD, REJECT_AFTER) == false);
	CHECK(replay_check(&w, g + 2 * ring + REPLAY_BITS_PER_WORD + 1, REJECT_AFTER));
}

int main(void)
{
	test_suite_name = "replay";
	RUN(basics);
	RUN(window_size);
	RUN(ring_wrap);
	RUN(random_against_reference);
	TEST_EXIT();
}
