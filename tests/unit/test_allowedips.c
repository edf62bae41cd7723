/* test_allowedips.c: the routing trie against deliberately naive references.
 *
 * The main reference is a hash map from (family, cidr, masked address) to an
 * owner; a lookup probes it once per prefix length, longest first. That one is
 * in turn checked against the most naive reference there is, a scan of every
 * live prefix for the longest that matches.
 *
 *   WEFT_TEST_SEED    PRNG seed (default fixed; printed so a failure replays)
 *   WEFT_TEST_SCALE   divides the random counts (default 1: 100,000 prefixes,
 *                     1,000,000 lookups per check)
 */
#include "wg/allowedips.h"
#include "test.h"

#include <errno.h>
#include <malloc.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <time.h>

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

enum {
	PREFIXES = 100000,
	LOOKUPS = 1000000,
	SCAN_LOOKUPS = 2000, /* against the full linear scan */
	OWNERS = 1000,
	SITES = 24,          /* addresses cluster around these, so prefixes nest */
	REF_SLOTS = 1 << 18, /* > 2 * PREFIXES, a power of two */
	MEM_PREFIXES = 100000,
	MAX_BYTES_PER_V4_HOST = 160, /* 2 nodes per /32 at worst, 64 bytes each + slack */
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static unsigned max_bits(int family) { return family == AF_INET ? 32 : 128; }
static unsigned addr_len(int family) { return family == AF_INET ? 4 : 16; }

/* Clears the bits of ip past cidr. */
static void mask(uint8_t *ip, int family, unsigned cidr)
{
	for (unsigned i = 0; i < addr_len(family); i++) {
		if (cidr >= 8 * (i + 1))
			continue;
		unsigned keep = cidr > 8 * i ? cidr - 8 * i : 0;
		ip[i] &= (uint8_t)(0xff00 >> keep);
	}
}

static bool matches(const uint8_t *prefix, unsigned cidr, const uint8_t *ip, int family)
{
	uint8_t a[16];
	memcpy(a, ip, addr_len(family));
	mask(a, family, cidr);
	return !memcmp(a, prefix, addr_len(family));
}

/* ---- the reference: one slot per distinct prefix ever inserted ---- */
struct ref {
	bool used;
	uint8_t family_is6, cidr;
	uint8_t ip[16];  /* host bits clear */
	uint64_t w[2];   /* the same as two big-endian words, for quick compares */
	int owner;       /* -1: removed */
	uint64_t seq;    /* when it was last inserted: the walk's order */
};
static struct ref *ref;
static size_t ref_live;
static uint64_t ref_seq;
static size_t ref_per_owner[OWNERS];
static size_t ref_per_length[2][129]; /* live prefixes per family and cidr */

static void words(uint64_t w[2], const uint8_t *ip, int family)
{
	w[0] = w[1] = 0;
	for (unsigned i = 0; i < addr_len(family); i++)
		w[i / 8] |= (uint64_t)ip[i] << (56 - 8 * (i % 8));
}

static void mask_words(uint64_t out[2], const uint64_t w[2], unsigned cidr)
{
	out[0] = cidr == 0 ? 0 : cidr >= 64 ? w[0] : w[0] & ~(~0ull >> cidr);
	out[1] = cidr <= 64 ? 0 : cidr == 128 ? w[1] : w[1] & ~(~0ull >> (cidr - 64));
}

static size_t ref_hash(bool is6, const uint64_t w[2], unsigned cidr)
{
	uint64_t h = (w[0] * 0x9e3779b97f4a7c15ull) ^ (w[1] * 0xc2b2ae3d27d4eb4full) ^
		     ((uint64_t)cidr << 1 | is6);
	h *= 0xff51afd7ed558ccdull;
	return (size_t)(h >> 40);
}

/* The slot for a masked prefix: its own, or the empty one where it would go. */
static struct ref *ref_slot_w(bool is6, const uint64_t w[2], unsigned cidr)
{
	size_t i = ref_hash(is6, w, cidr) & (REF_SLOTS - 1);
	for (;; i = (i + 1) & (REF_SLOTS - 1)) {
		struct ref *r = &ref[i];
		if (!r->used || (r->family_is6 == is6 && r->cidr == cidr && r->w[0] == w[0] &&
				 r->w[1] == w[1]))
			return r;
	}
}

static struct ref *ref_slot(int family, const uint8_t *ip, unsigned cidr)
{
	uint64_t w[2], m[2];
	words(w, ip, family);
	mask_words(m, w, cidr);
	return ref_slot_w(family == AF_INET6, m, cidr);
}

static void ref_insert(int family, const uint8_t *ip, unsigned cidr, int owner)
{
	struct ref *r = ref_slot(family, ip, cidr);
	if (!r->used) {
		r->used = true;
		r->family_is6 = family == AF_INET6;
		r->cidr = (uint8_t)cidr;
		uint64_t w[2];
		words(w, ip, family);
		mask_words(r->w, w, cidr);
		memset(r->ip, 0, 16);
		for (unsigned i = 0; i < addr_len(family); i++)
			r->ip[i] = (uint8_t)(r->w[i / 8] >> (56 - 8 * (i % 8)));
		r->owner = -1;
	}
	if (r->owner < 0) {
		ref_live++;
		ref_per_length[r->family_is6][cidr]++;
	} else {
		ref_per_owner[r->owner]--;
	}
	r->owner = owner;
	r->seq = ref_seq++;
	ref_per_owner[owner]++;
}

static void ref_remove(struct ref *r)
{
	ref_per_owner[r->owner]--;
	ref_per_length[r->family_is6][r->cidr]--;
	r->owner = -1;
	ref_live--;
}

/* Longest first, one exact probe per prefix length. */
static int ref_lookup(int family, const uint8_t *ip)
{
	bool is6 = family == AF_INET6;
	uint64_t w[2], m[2];
	words(w, ip, family);
	for (int cidr = (int)max_bits(family); cidr >= 0; cidr--) {
		if (!ref_per_length[is6][cidr])
			continue;
		mask_words(m, w, (unsigned)cidr);
		struct ref *r = ref_slot_w(is6, m, (unsigned)cidr);
		if (r->used && r->owner >= 0)
			return r->owner;
	}
	return -1;
}

/* The most naive reference: every live prefix in a plain array, longest
 * first, the first that matches byte by byte wins. */
static struct ref **scan_list;
static size_t scan_len;

static int by_length_desc(const void *a, const void *b)
{
	const struct ref *x = *(struct ref *const *)a, *y = *(struct ref *const *)b;
	return (int)y->cidr - (int)x->cidr;
}

static void scan_prepare(void)
{
	free(scan_list);
	scan_list = malloc((ref_live + 1) * sizeof(*scan_list));
	if (!scan_list)
		abort();
	scan_len = 0;
	for (size_t i = 0; i < REF_SLOTS; i++)
		if (ref[i].used && ref[i].owner >= 0)
			scan_list[scan_len++] = &ref[i];
	qsort(scan_list, scan_len, sizeof(*scan_list), by_length_desc);
}

static int scan_lookup(int family, const uint8_t *ip)
{
	bool is6 = family == AF_INET6;
	for (size_t i = 0; i < scan_len; i++) {
		const struct ref *r = scan_list[i];
		if (r->family_is6 == is6 && matches(r->ip, r->cidr, ip, family))
			return r->owner;
	}
	return -1;
}

/* ---- random prefixes and addresses ---- */
static uint8_t sites[2][SITES][16];

static void random_bytes(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)test_rnd();
}

/* Randomises every bit of ip from bit `from` on. */
static void randomise_tail(uint8_t *ip, int family, unsigned from)
{
	uint8_t r[16];
	random_bytes(r, sizeof(r));
	for (unsigned i = 0; i < addr_len(family); i++) {
		if (from >= 8 * (i + 1))
			continue;
		unsigned keep = from > 8 * i ? from - 8 * i : 0;
		uint8_t m = (uint8_t)(0xff00 >> keep);
		ip[i] = (uint8_t)((ip[i] & m) | (r[i] & ~m));
	}
}

static int owner_index(const struct allowedips_owner *owners, const struct allowedips_owner *o)
{
	return o ? (int)(o - owners) : -1;
}

/* A random live reference entry, or NULL when none is found quickly. */
static struct ref *random_live(void)
{
	for (int tries = 0; tries < 10000; tries++) {
		struct ref *r = &ref[test_rnd() & (REF_SLOTS - 1)];
		if (r->used && r->owner >= 0)
			return r;
	}
	return NULL;
}

/* An address: inside a live prefix (most), near a site, or anywhere. */
static int random_address(uint8_t *ip)
{
	unsigned kind = test_below(10);
	struct ref *r;
	if (kind < 6 && (r = random_live())) {
		int family = r->family_is6 ? AF_INET6 : AF_INET;
		memcpy(ip, r->ip, 16);
		randomise_tail(ip, family, r->cidr);
		return family;
	}
	int family = test_below(2) ? AF_INET6 : AF_INET;
	memset(ip, 0, 16);
	if (kind < 9) {
		memcpy(ip, sites[family == AF_INET6][test_below(SITES)], addr_len(family));
		randomise_tail(ip, family, test_below(max_bits(family) + 1));
	} else {
		random_bytes(ip, addr_len(family));
	}
	return family;
}

/* Random prefixes start with a site's first MIN_CIDR bits, so addresses
 * elsewhere miss; a rare shorter one (down to /0) covers them for a while. */
static unsigned min_cidr(int family) { return family == AF_INET ? 8 : 16; }

/* A prefix: a duplicate of a live one, one nested in or covering a live
 * one, or a fresh one near a site. Host bits are left set on purpose. */
static int random_prefix(uint8_t *ip, unsigned *cidr)
{
	unsigned kind = test_below(20);
	struct ref *r = kind < 6 ? random_live() : NULL;
	int family;
	if (r) {
		family = r->family_is6 ? AF_INET6 : AF_INET;
		unsigned mb = max_bits(family), lo = min_cidr(family);
		memcpy(ip, r->ip, 16);
		if (kind == 0)
			*cidr = r->cidr;                                  /* duplicate */
		else if (kind < 4)
			*cidr = r->cidr + test_below(mb - r->cidr + 1);        /* nested inside */
		else if (r->cidr > lo)
			*cidr = lo + test_below(r->cidr - lo + 1);             /* covering */
		else
			*cidr = r->cidr;
		randomise_tail(ip, family, r->cidr);
		return family;
	}
	family = test_below(2) ? AF_INET6 : AF_INET;
	unsigned mb = max_bits(family), lo = min_cidr(family);
	memset(ip, 0, 16);
	memcpy(ip, sites[family == AF_INET6][test_below(SITES)], addr_len(family));
	if (test_below(1000) == 0) {
		*cidr = test_below(lo);
		randomise_tail(ip, family, 0);
		return family;
	}
	/* Mostly long prefixes as real configs have, some of every length. */
	*cidr = test_below(4) ? mb - test_below(mb / 2 + 1) : lo + test_below(mb - lo + 1);
	randomise_tail(ip, family, lo + test_below(*cidr - lo + 1));
	return family;
}

/* ---- checks ---- */
static void check_lookups(const struct allowedips *t, const struct allowedips_owner *owners,
			  size_t n, const char *phase, bool expect_misses)
{
	size_t bad = 0, hits = 0;
	for (size_t i = 0; i < n; i++) {
		uint8_t ip[16];
		int family = random_address(ip);
		int want = ref_lookup(family, ip);
		int got = owner_index(owners, allowedips_lookup(t, family, ip));
		hits += want >= 0;
		if (got != want && bad++ < 5)
			fprintf(stderr, "  %s: lookup %zu (%s): trie %d, reference %d\n", phase, i,
				family == AF_INET ? "v4" : "v6", got, want);
	}
	CHECK_EQ(bad, 0);
	printf("# allowedips: %s: %zu lookups, %zu matched\n", phase, n, hits);
	CHECK(hits > n / 4); /* the test really exercises matches */
	if (expect_misses)
		CHECK(n - hits > n / 20); /* ... and misses */
}

static void check_against_scan(const struct allowedips *t, const struct allowedips_owner *owners,
			       size_t n)
{
	size_t bad = 0;
	scan_prepare();
	CHECK_EQ(scan_len, ref_live);
	for (size_t i = 0; i < n; i++) {
		uint8_t ip[16];
		int family = random_address(ip);
		int want = scan_lookup(family, ip);
		bad += ref_lookup(family, ip) != want;
		bad += owner_index(owners, allowedips_lookup(t, family, ip)) != want;
	}
	CHECK_EQ(bad, 0);
}

struct walked {
	size_t n, cap;
	struct ref *items;
};

static int collect(void *ctx, int family, const uint8_t *ip, uint8_t cidr)
{
	struct walked *w = ctx;
	if (w->n == w->cap) {
		w->cap = w->cap ? 2 * w->cap : 64;
		w->items = realloc(w->items, w->cap * sizeof(*w->items));
		if (!w->items)
			abort();
	}
	struct ref *r = &w->items[w->n++];
	memset(r, 0, sizeof(*r));
	r->family_is6 = family == AF_INET6;
	r->cidr = cidr;
	memcpy(r->ip, ip, addr_len(family));
	return 0;
}

/* Each owner's walk gives exactly its reference prefixes, in insertion order. */
static void check_walks(const struct allowedips_owner *owners)
{
	struct walked *w = calloc(OWNERS, sizeof(*w));
	size_t total = 0, bad_prefix = 0, bad_order = 0;
	for (int o = 0; o < OWNERS; o++) {
		CHECK_EQ(owners[o].count, ref_per_owner[o]);
		CHECK_EQ(allowedips_walk_owner(&owners[o], collect, &w[o]), 0);
		CHECK_EQ(w[o].n, ref_per_owner[o]);
		total += w[o].n;
		uint64_t last_seq = 0;
		for (size_t i = 0; i < w[o].n; i++) {
			struct ref *got = &w[o].items[i];
			struct ref *r = ref_slot(got->family_is6 ? AF_INET6 : AF_INET, got->ip, got->cidr);
			if (!r->used || r->owner != o) {
				bad_prefix++;
				continue;
			}
			if (i && r->seq <= last_seq)
				bad_order++;
			last_seq = r->seq;
		}
		free(w[o].items);
	}
	CHECK_EQ(total, ref_live);
	CHECK_EQ(bad_prefix, 0);
	CHECK_EQ(bad_order, 0);
	free(w);
}

/* count random prefixes, each to a random owner, into the trie and the
 * reference alike; how many of them the trie refused. */
static size_t insert_random(struct allowedips *t, struct allowedips_owner *owners, size_t count)
{
	size_t fails = 0;
	for (size_t i = 0; i < count; i++) {
		uint8_t ip[16];
		unsigned cidr;
		int family = random_prefix(ip, &cidr);
		int o = (int)test_below(OWNERS);
		fails += allowedips_insert(t, family, ip, (uint8_t)cidr, &owners[o]) != 0;
		ref_insert(family, ip, cidr, o);
	}
	return fails;
}

static void random_against_reference(void)
{
	test_seed(0x5eed0a11);
	size_t prefixes = PREFIXES / test_scale(), lookups = LOOKUPS / test_scale();

	ref = calloc(REF_SLOTS, sizeof(*ref));
	struct allowedips_owner *owners = calloc(OWNERS, sizeof(*owners));
	if (!ref || !owners)
		abort();
	memset(ref_per_owner, 0, sizeof(ref_per_owner));
	memset(ref_per_length, 0, sizeof(ref_per_length));
	ref_live = 0;
	for (int f = 0; f < 2; f++)
		for (int s = 0; s < SITES; s++)
			random_bytes(sites[f][s], 16);

	struct allowedips t;
	allowedips_init(&t);

	double t0 = now_s();
	size_t fails = insert_random(&t, owners, prefixes);
	double t1 = now_s();
	CHECK_EQ(fails, 0);
	CHECK_EQ(t.count, ref_live);
	CHECK(ref_live > prefixes * 6 / 10); /* duplicates happened, but not too many */
	CHECK(ref_live < prefixes);
	printf("# allowedips: %zu inserts (%zu distinct) in %.3f s\n", prefixes, ref_live, t1 - t0);

	check_lookups(&t, owners, lookups, "after insert", false);
	check_against_scan(&t, owners, SCAN_LOOKUPS / test_scale() + 1);
	check_walks(owners);

	/* Remove a third: whole owners, single prefixes, and refused attempts. */
	size_t target = ref_live / 3, removed = 0, wrong_owner = 0, wrong_refused = 0;
	while (removed < target) {
		if (test_below(100) == 0) {
			int o = (int)test_below(OWNERS);
			size_t had = ref_per_owner[o];
			allowedips_remove_owner(&t, &owners[o]);
			for (size_t i = 0; i < REF_SLOTS && ref_per_owner[o]; i++)
				if (ref[i].used && ref[i].owner == o)
					ref_remove(&ref[i]);
			CHECK(owners[o].first == NULL);
			CHECK_EQ(owners[o].count, 0);
			removed += had;
			continue;
		}
		struct ref *r = random_live();
		if (!r)
			break;
		int family = r->family_is6 ? AF_INET6 : AF_INET;
		uint8_t ip[16];
		memcpy(ip, r->ip, 16);
		randomise_tail(ip, family, r->cidr); /* host bits are ignored on removal too */
		if (test_below(10) == 0) {
			int other = (r->owner + 1 + (int)test_below(OWNERS - 1)) % OWNERS;
			size_t count = t.count;
			wrong_owner++;
			wrong_refused += allowedips_remove(&t, family, ip, r->cidr, &owners[other]) == -ENOENT;
			CHECK_EQ(t.count, count);
			CHECK_EQ(owner_index(owners, allowedips_lookup(&t, family, r->ip)),
				 ref_lookup(family, r->ip));
			continue;
		}
		if (allowedips_remove(&t, family, ip, r->cidr, &owners[r->owner]))
			fails++;
		ref_remove(r);
		removed++;
	}
	/* The short prefixes go too, so that lookups can miss. */
	for (size_t i = 0; i < REF_SLOTS; i++) {
		struct ref *r = &ref[i];
		int family = r->family_is6 ? AF_INET6 : AF_INET;
		if (r->used && r->owner >= 0 && r->cidr < min_cidr(family)) {
			fails += allowedips_remove(&t, family, r->ip, r->cidr, &owners[r->owner]) != 0;
			ref_remove(r);
		}
	}
	CHECK_EQ(fails, 0);
	CHECK(wrong_owner > 0);
	CHECK_EQ(wrong_refused, wrong_owner);
	CHECK_EQ(t.count, ref_live);

	/* A prefix nobody has: refused, nothing changes. */
	uint8_t none[16] = { 0 };
	unsigned none_cidr = 128;
	random_bytes(none, 16);
	if (!ref_slot(AF_INET6, none, none_cidr)->used)
		CHECK_EQ(allowedips_remove(&t, AF_INET6, none, (uint8_t)none_cidr, &owners[0]), -ENOENT);

	check_lookups(&t, owners, lookups, "after removal", true);
	check_against_scan(&t, owners, SCAN_LOOKUPS / test_scale() + 1);
	check_walks(owners);

	/* Insert again over the survivors (moves between owners included). */
	fails += insert_random(&t, owners, prefixes / 4);
	CHECK_EQ(fails, 0);
	CHECK_EQ(t.count, ref_live);
	check_lookups(&t, owners, lookups / 4, "after reinsert", false);
	check_walks(owners);

	/* Emptying the table by owners must leave no node behind. */
	for (int o = 0; o < OWNERS; o++)
		allowedips_remove_owner(&t, &owners[o]);
	CHECK_EQ(t.count, 0);
	CHECK(t.root4 == NULL);
	CHECK(t.root6 == NULL);

	/* Fill once more, then free: every owner comes back empty. */
	for (size_t i = 0; i < prefixes / 10; i++) {
		uint8_t ip[16];
		unsigned cidr;
		int family = random_prefix(ip, &cidr);
		fails += allowedips_insert(&t, family, ip, (uint8_t)cidr, &owners[test_below(OWNERS)]) != 0;
	}
	CHECK_EQ(fails, 0);
	allowedips_free(&t);
	size_t nonempty = 0;
	for (int o = 0; o < OWNERS; o++)
		nonempty += owners[o].first != NULL || owners[o].count != 0;
	CHECK_EQ(nonempty, 0);
	CHECK_EQ(t.count, 0);
	CHECK(t.root4 == NULL && t.root6 == NULL);

	free(owners);
	free(ref);
	ref = NULL;
	free(scan_list);
	scan_list = NULL;
}

/* ---- hand-written cases ---- */
static const uint8_t *v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
	static uint8_t ring[8][4];
	static unsigned i;
	uint8_t *p = ring[i++ % 8];
	p[0] = a, p[1] = b, p[2] = c, p[3] = d;
	return p;
}

static const uint8_t *v6(uint16_t w0, uint16_t w1, uint16_t w7)
{
	static uint8_t ring[8][16];
	static unsigned i;
	uint8_t *p = ring[i++ % 8];
	memset(p, 0, 16);
	p[0] = (uint8_t)(w0 >> 8), p[1] = (uint8_t)w0;
	p[2] = (uint8_t)(w1 >> 8), p[3] = (uint8_t)w1;
	p[14] = (uint8_t)(w7 >> 8), p[15] = (uint8_t)w7;
	return p;
}

static void nested_ipv4(void)
{
	struct allowedips t;
	struct allowedips_owner a = { 0 }, b = { 0 }, c = { 0 }, d = { 0 };
	allowedips_init(&t);
	CHECK(allowedips_lookup(&t, AF_INET, v4(10, 1, 2, 3)) == NULL);
	CHECK_EQ(allowedips_insert(&t, AF_INET, v4(10, 1, 0, 0), 16, &c), 0);
	CHECK_EQ(allowedips_insert(&t, AF_INET, v4(10, 0, 0, 0), 8, &b), 0); /* covers the /16 */
	CHECK_EQ(allowedips_insert(&t, AF_INET, v4(0, 0, 0, 0), 0, &a), 0);
	CHECK_EQ(allowedips_insert(&t, AF_INET, v4(10, 1, 2, 3), 32, &d), 0);
	CHECK(allowedips_lookup(&t, AF_INET, v4(10, 1, 2, 3)) == &d);
	CHECK(allowedips_lookup(&t, AF_INET, v4(10, 1, 2, 4)) == &c);
	CHECK(allowedips_lookup(&t, AF_INET, v4(10, 1, 255, 255)) == &c);
	CHECK(allowedips_lookup(&t, AF_INET, v4(10, 2, 0, 1)) == &b);
	CHECK(allowedips_lookup(&t, AF_INET, v4(10, 0, 0, 0)) == &b);
	CHECK(allowedips_lookup(&t, AF_INET, v4(11, 0, 0, 0)) == &a);
	CHECK(allowedips_lookup(&t, AF_INET, v4(255, 255, 255, 255)) == &a);
	CHECK(allowedips_lookup(&t, AF_INET6, v6(0x2001, 0xdb8, 1)) == NULL); /* families apart */
	CHECK_EQ(t.count, 4);

	/* The /16 goes: its addresses fall back to the /8, the /32 stays. */
	CHECK_EQ(allowedips_remove(&t, AF_INET, v4(10, 1, 0, 0), 16, &c), 0);
	CHECK(allowedips_lookup(&t, AF_INET, v4(10, 1, 2, 4)) == &b);
	CHECK(allowedips_lookup(&t, AF_INET, v4(10, 1, 2, 3)) == &d);
	CHECK_EQ(allowedips_remove(&t, AF_INET, v4(0, 0, 0, 0), 0, &a), 0);
	CHECK(allowedips_lookup(&t, AF_INET, v4(11, 0, 0, 0)) == NULL);
	CHECK_EQ(allowedips_remove(&t, AF_INET, v4(10, 1, 2, 3), 32, &d), 0);
	CHECK_EQ(allowedips_remove(&t, AF_INET, v4(10, 0, 0, 0), 8, &b), 0);
	CHECK(t.root4 == NULL);
	CHECK_EQ(t.count, 0);

	/* Two /32s that differ in the last bit, and the whole space. */
	CHECK_EQ(allowedips_insert(&t, AF_INET, v4(192, 168, 0, 0), 32, &a), 0);
	CHECK_EQ(allowedips_insert(&t, AF_INET, v4(192, 168, 0, 1), 32, &b), 0);
	CHECK_EQ(allowedips_insert(&t, AF_INET, v4(0, 0, 0, 0), 0, &c), 0);
	CHECK(allowedips_lookup(&t, AF_INET, v4(192, 168, 0, 0)) == &a);
	CHECK(allowedips_lookup(&t, AF_INET, v4(192, 168, 0, 1)) == &b);
	CHECK(allowedips_lookup(&t, AF_INET, v4(192, 168, 0, 2)) == &c);
	allowedips_free(&t);
	CHECK(a.first == NULL && b.first == NULL && c.first == NULL);
}

static void nested_ipv6(void)
{
	struct allowedips t;
	struct allowedips_owner a = { 0 }, b = { 0 }, c = { 0 };
	allowedips_init(&t);
	CHECK_EQ(allowedips_insert(&t, AF_INET6, v6(0, 0, 0), 0, &a), 0);
	CHECK_EQ(allowedips_insert(&t, AF_INET6, v6(0x2001, 0xdb8, 0), 32, &b), 0);
	CHECK_EQ(allowedips_insert(&t, AF_INET6, v6(0x2001, 0xdb8, 7), 128, &c), 0);
	CHECK(allowedips_lookup(&t, AF_INET6, v6(0x2001, 0xdb8, 7)) == &c);
	CHECK(allowedips_lookup(&t, AF_INET6, v6(0x2001, 0xdb8, 6)) == &b);
	CHECK(allowedips_lookup(&t, AF_INET6, v6(0x2001, 0xdb9, 7)) == &a);
	CHECK(allowedips_lookup(&t, AF_INET6, v6(0xfe80, 0, 1)) == &a);
	CHECK(allowedips_lookup(&t, AF_INET, v4(1, 2, 3, 4)) == NULL); /* ::/0 is not 0.0.0.0/0 */
	/* Bits in the second 64-bit half decide. */
	uint8_t x[16], y[16];
	memcpy(x, v6(0x2001, 0xdb8, 0), 16);
	memcpy(y, x, 16);
	x[8] = 0x80;
	CHECK_EQ(allowedips_insert(&t, AF_INET6, x, 65, &a), 0);
	CHECK(allowedips_lookup(&t, AF_INET6, x) == &a);
	CHECK(allowedips_lookup(&t, AF_INET6, y) == &b);
	CHECK_EQ(t.count, 4);
	allowedips_remove_owner(&t, &a);
	CHECK(allowedips_lookup(&t, AF_INET6, x) == &b);
	CHECK(allowedips_lookup(&t, AF_INET6, v6(0xfe80, 0, 1)) == NULL);
	CHECK_EQ(t.count, 2);
	allowedips_free(&t);
}

static int first_prefix(void *ctx, int family, const uint8_t *ip, uint8_t cidr)
{
	memcpy(ctx, ip, family == AF_INET ? 4 : 16);
	((uint8_t *)ctx)[16] = cidr;
	return 7; /* stops the walk and comes back */
}

static void host_bits_and_errors(void)
{
	struct allowedips t;
	struct allowedips_owner a = { 0 }, b = { 0 };
	uint8_t seen[17] = { 0 };
	allowedips_init(&t);
	CHECK_EQ(allowedips_insert(&t, AF_INET, v4(10, 1, 2, 3), 8, &a), 0);
	CHECK_EQ(allowedips_walk_owner(&a, first_prefix, seen), 7);
	CHECK_MEM(seen, v4(10, 0, 0, 0), 4);
	CHECK_EQ(seen[16], 8);
	CHECK(allowedips_lookup(&t, AF_INET, v4(10, 200, 0, 1)) == &a);

	uint8_t six[16];
	memset(six, 0xff, 16);
	CHECK_EQ(allowedips_insert(&t, AF_INET6, six, 67, &a), 0);
	CHECK_EQ(a.count, 2);
	uint8_t want6[16] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xe0 };
	struct walked w = { 0 };
	CHECK_EQ(allowedips_walk_owner(&a, collect, &w), 0);
	CHECK_EQ(w.n, 2);
	if (w.n == 2) {
		CHECK_MEM(w.items[1].ip, want6, 16);
		CHECK_EQ(w.items[1].cidr, 67);
	}
	free(w.items);

	/* Bad input. */
	CHECK_EQ(allowedips_insert(&t, AF_INET, v4(1, 2, 3, 4), 33, &a), -EINVAL);
	CHECK_EQ(allowedips_insert(&t, AF_INET6, six, 129, &a), -EINVAL);
	CHECK_EQ(allowedips_insert(&t, AF_UNIX, six, 8, &a), -EINVAL);
	CHECK_EQ(allowedips_remove(&t, AF_INET, v4(10, 0, 0, 0), 33, &a), -EINVAL);
	CHECK_EQ(allowedips_remove(&t, 12345, six, 8, &a), -EINVAL);
	CHECK(allowedips_lookup(&t, AF_UNIX, six) == NULL);
	CHECK_EQ(t.count, 2);

	/* Someone else's prefix, and prefixes that are not there. */
	CHECK_EQ(allowedips_remove(&t, AF_INET, v4(10, 0, 0, 0), 8, &b), -ENOENT);
	CHECK_EQ(allowedips_remove(&t, AF_INET, v4(10, 0, 0, 0), 9, &a), -ENOENT);
	CHECK_EQ(allowedips_remove(&t, AF_INET, v4(10, 0, 0, 0), 7, &a), -ENOENT);
	CHECK_EQ(allowedips_remove(&t, AF_INET, v4(11, 0, 0, 0), 8, &a), -ENOENT);
	CHECK(allowedips_lookup(&t, AF_INET, v4(10, 0, 0, 1)) == &a);
	CHECK_EQ(t.count, 2);

	/* A branch point is not a prefix anyone owns. */
	CHECK_EQ(allowedips_insert(&t, AF_INET, v4(192, 168, 1, 0), 24, &b), 0);
	CHECK_EQ(allowedips_insert(&t, AF_INET, v4(192, 168, 2, 0), 24, &b), 0);
	CHECK_EQ(allowedips_remove(&t, AF_INET, v4(192, 168, 0, 0), 22, &b), -ENOENT);
	CHECK_EQ(t.count, 4);

	/* Inserting an existing prefix moves it, host bits or not. */
	CHECK_EQ(allowedips_insert(&t, AF_INET, v4(10, 9, 9, 9), 8, &b), 0);
	CHECK(allowedips_lookup(&t, AF_INET, v4(10, 0, 0, 1)) == &b);
	CHECK_EQ(a.count, 1);
	CHECK_EQ(b.count, 3);
	CHECK_EQ(t.count, 4);
	CHECK_EQ(allowedips_remove(&t, AF_INET, v4(10, 0, 0, 0), 8, &a), -ENOENT);
	CHECK_EQ(allowedips_remove(&t, AF_INET, v4(10, 4, 4, 4), 8, &b), 0);
	CHECK(allowedips_lookup(&t, AF_INET, v4(10, 0, 0, 1)) == NULL);
	CHECK_EQ(t.count, 3);

	allowedips_free(&t);
	CHECK(a.first == NULL && a.count == 0 && b.first == NULL && b.count == 0);
	/* The table is usable again after free. */
	CHECK_EQ(allowedips_insert(&t, AF_INET, v4(1, 1, 1, 1), 32, &a), 0);
	CHECK(allowedips_lookup(&t, AF_INET, v4(1, 1, 1, 1)) == &a);
	allowedips_free(&t);
}

/* Walk order is insertion order; inserting a prefix again moves it last. */
static void walk_order(void)
{
	struct allowedips t;
	struct allowedips_owner a = { 0 };
	allowedips_init(&t);
	for (uint8_t i = 0; i < 5; i++)
		CHECK_EQ(allowedips_insert(&t, AF_INET, v4(10, 0, 0, i), 32, &a), 0);
	CHECK_EQ(allowedips_insert(&t, AF_INET, v4(10, 0, 0, 1), 32, &a), 0);
	CHECK_EQ(allowedips_remove(&t, AF_INET, v4(10, 0, 0, 3), 32, &a), 0);
	CHECK_EQ(allowedips_remove(&t, AF_INET, v4(10, 0, 0, 4), 32, &a), 0); /* the last one */
	CHECK_EQ(allowedips_insert(&t, AF_INET, v4(10, 0, 0, 9), 32, &a), 0);
	struct walked w = { 0 };
	CHECK_EQ(allowedips_walk_owner(&a, collect, &w), 0);
	const uint8_t want[] = { 0, 2, 1, 9 };
	CHECK_EQ(w.n, sizeof(want));
	for (size_t i = 0; i < w.n && i < sizeof(want); i++)
		CHECK_EQ(w.items[i].ip[3], want[i]);
	free(w.items);
	CHECK_EQ(allowedips_remove(&t, AF_INET, v4(10, 0, 0, 0), 32, &a), 0); /* the first one */
	w = (struct walked){ 0 };
	CHECK_EQ(allowedips_walk_owner(&a, collect, &w), 0);
	CHECK_EQ(w.n, 3);
	if (w.n == 3)
		CHECK_EQ(w.items[0].ip[3], 2);
	free(w.items);
	allowedips_free(&t);
}

/* Add/remove cycles give the heap back exactly (the trie is canonical), and
 * a table of /32s stays small. Needs glibc's counters, so not under ASan. */
static void memory(void)
{
	struct allowedips t;
	struct allowedips_owner *owners = calloc(OWNERS, sizeof(*owners));
	allowedips_init(&t);
	test_rnd_state = 0x3e3017;
	size_t n = MEM_PREFIXES / test_scale();
	struct mallinfo2 m0 = mallinfo2();
	double t0 = now_s();
	for (uint32_t i = 0; i < n; i++) {
		uint32_t a = (uint32_t)test_rnd();
		uint8_t ip[4] = { (uint8_t)(a >> 24), (uint8_t)(a >> 16), (uint8_t)(a >> 8), (uint8_t)a };
		CHECK_EQ(allowedips_insert(&t, AF_INET, ip, 32, &owners[i % OWNERS]), 0);
	}
	double t1 = now_s();
	struct mallinfo2 m1 = mallinfo2();
	size_t lookups = 4 * n, found = 0;
	for (size_t i = 0; i < lookups; i++) {
		uint32_t a = (uint32_t)test_rnd();
		uint8_t ip[4] = { (uint8_t)(a >> 24), (uint8_t)(a >> 16), (uint8_t)(a >> 8), (uint8_t)a };
		found += allowedips_lookup(&t, AF_INET, ip) != NULL;
	}
	double t2 = now_s();
	CHECK(found < lookups); /* random addresses mostly miss; keeps the loop alive */
	size_t hosts = t.count;
	double per = (double)(m1.uordblks - m0.uordblks) / (double)hosts;
	printf("# allowedips: %zu random IPv4 /32: %.1f bytes each, insert %.0f ns, lookup %.0f ns\n",
	       t.count, per, (t1 - t0) * 1e9 / (double)n, (t2 - t1) * 1e9 / (double)lookups);
	if (!UNDER_ASAN) {
		CHECK(m1.uordblks > m0.uordblks); /* else `per` measures nothing */
		CHECK(per <= MAX_BYTES_PER_V4_HOST);
	}

	/* Cycles of random mixed prefixes on top: the heap comes back exactly. */
	uint8_t (*ips)[16] = malloc(n * sizeof(*ips));
	uint8_t *cidrs = malloc(n), *fam6 = malloc(n);
	struct allowedips_owner cycle = { 0 };
	for (int round = 0; round < 3; round++) {
		struct mallinfo2 before = mallinfo2();
		for (size_t i = 0; i < n / 4; i++) {
			fam6[i] = (uint8_t)test_below(2);
			random_bytes(ips[i], 16);
			cidrs[i] = (uint8_t)test_below(fam6[i] ? 129 : 33);
			CHECK_EQ(allowedips_insert(&t, fam6[i] ? AF_INET6 : AF_INET, ips[i], cidrs[i], &cycle), 0);
		}
		for (size_t i = 0; i < n / 4; i += 2) /* half one by one, the rest at once */
			allowedips_remove(&t, fam6[i] ? AF_INET6 : AF_INET, ips[i], cidrs[i], &cycle);
		allowedips_remove_owner(&t, &cycle);
		struct mallinfo2 after = mallinfo2();
		CHECK_EQ(t.count, hosts);
		if (!UNDER_ASAN)
			CHECK_EQ(after.uordblks, before.uordblks);
	}
	free(ips);
	free(cidrs);
	free(fam6);
	allowedips_free(&t);
	free(owners);
}

int main(void)
{
	test_suite_name = "allowedips";
	RUN(nested_ipv4);
	RUN(nested_ipv6);
	RUN(host_bits_and_errors);
	RUN(walk_order);
	RUN(random_against_reference);
	RUN(memory);
	TEST_EXIT();
}
