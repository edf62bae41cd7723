/* test_mesh_gossip.c: the membership protocol with real views, in process:
 * 24 members exchange records by anti-entropy (each round, each member
 * compares bucket hashes with one random member and both take the records
 * of the buckets that differ). The mesh splits in two halves that both
 * change (the same members updated differently on each side, a leave, an
 * admin's remove, a new member), each half converges on its own, and after
 * the halves meet again every member holds the same view within a bound
 * of rounds. bench/mesh_sim measures the same protocol at scale. */
#include <sodium.h>

#include "crypto/crypto.h"
#include "mesh/member.h"
#include "test.h"

enum { N = 25, HALF = 12, NOW = 1700000000 }; /* member 24 joins during the split */

static uint8_t admin_pub[32], admin_sec[64], pub[N][32], sec[N][64];
static struct mesh_view views[N];
static uint64_t rng = 0xfeedfacecafebeefULL;

static uint64_t next(void)
{
	rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
	return rng;
}

static struct mesh_record member(int i, int sponsor, uint64_t version, uint8_t kind)
{
	struct mesh_record r;

	memset(&r, 0, sizeof(r));
	r.kind = kind;
	mesh_network_id(r.network_id, admin_pub);
	memcpy(r.subject, pub[i], 32);
	r.version = version;
	r.expires = NOW + 7 * 86400;
	r.joined = NOW - 100 + (uint64_t)i;
	snprintf(r.name, sizeof(r.name), "m%d-v%u", i, (unsigned)(version % 1000));
	mesh_record_admit(&r, sponsor < 0 ? admin_sec : sec[sponsor]);
	CHECK_EQ(mesh_record_sign(&r, sec[i]), 0);
	return r;
}

static void add_to(const struct mesh_record *r, void *arg)
{
	CHECK(mesh_view_add(arg, r, NOW) >= 0);
}

/* One anti-entropy exchange between a and b, both ways. */
static void exchange(struct mesh_view *a, struct mesh_view *b)
{
	uint64_t ba[MESH_BUCKETS], bb[MESH_BUCKETS];

	mesh_view_buckets(a, ba);
	mesh_view_buckets(b, bb);
	for (unsigned k = 0; k < MESH_BUCKETS; k++)
		if (ba[k] != bb[k]) {
			mesh_view_each_in_bucket(a, k, add_to, b);
			mesh_view_each_in_bucket(b, k, add_to, a);
		}
}

/* A round among members lo..hi-1 (those alive); true when they all hold
 * the same view afterwards. */
static bool round_among(int lo, int hi, int n_alive)
{
	uint8_t d0[32], d[32];

	for (int i = lo; i < hi && i < n_alive; i++) {
		int j = lo + (int)(next() % (uint64_t)((hi < n_alive ? hi : n_alive) - lo));
		if (j != i)
			exchange(&views[i], &views[j]);
	}
	mesh_view_digest(&views[lo], d0);
	for (int i = lo + 1; i < hi && i < n_alive; i++) {
		mesh_view_digest(&views[i], d);
		if (memcmp(d, d0, 32))
			return false;
	}
	return true;
}

static bool is_member(struct mesh_view *v, int i)
{
	const struct mesh_record **m;
	long n = mesh_view_members(v, NOW, &m);
	bool found = false;

	for (long k = 0; k < n; k++)
		found |= !memcmp(m[k]->subject, pub[i], 32);
	free(m);
	return found;
}

static void split_and_heal(void)
{
	static struct mesh_record initial[N];
	int rounds_a = 0, rounds_b = 0, rounds_all = 0;

	/* a formed mesh of 24: 0-3 admitted by the admin, the others by an
	 * earlier member; every member holds every record */
	for (int i = 0; i < N - 1; i++)
		initial[i] = member(i, i < 4 ? -1 : (int)(next() % (uint64_t)i), (uint64_t)NOW * 1000 + 1, MESH_MEMBER);
	for (int i = 0; i < N - 1; i++) {
		mesh_view_init(&views[i], admin_pub);
		for (int k = 0; k < N - 1; k++)
			CHECK_EQ(mesh_view_add(&views[i], &initial[k], NOW), 1);
	}
	/* the split: side A is 0-11, side B 12-23 */
	for (int i = 0; i < 4; i++) { /* the same four members change on both sides */
		struct mesh_record ra = member(i, -1, (uint64_t)NOW * 1000 + 50 + (uint64_t)i, MESH_MEMBER);
		struct mesh_record rb = member(i, -1, (uint64_t)NOW * 1000 + 60, MESH_MEMBER);
		CHECK_EQ(mesh_view_add(&views[i], &ra, NOW), 1);
		CHECK_EQ(mesh_view_add(&views[HALF + i], &rb, NOW), 1);
	}
	struct mesh_record leave = member(5, -1, (uint64_t)NOW * 1000 + 70, MESH_LEAVE);
	CHECK_EQ(mesh_view_add(&views[5], &leave, NOW), 1);
	struct mesh_record rm;
	memset(&rm, 0, sizeof(rm));
	rm.kind = MESH_REMOVE;
	mesh_network_id(rm.network_id, admin_pub);
	memcpy(rm.subject, pub[14], 32);
	rm.version = 1, rm.expires = UINT64_MAX;
	CHECK_EQ(mesh_record_sign(&rm, admin_sec), 0);
	CHECK_EQ(mesh_view_add(&views[12], &rm, NOW), 1);
	/* member 24 joins through 13 (admitted by the admin: 13's chain is
	 * beside the point here), fetching 13's view */
	struct mesh_record joiner = member(N - 1, -1, (uint64_t)NOW * 1000 + 80, MESH_MEMBER);
	CHECK_EQ(mesh_view_add(&views[13], &joiner, NOW), 1);
	mesh_view_init(&views[N - 1], admin_pub);
	exchange(&views[N - 1], &views[13]);

	while (!round_among(0, HALF, N) && ++rounds_a < 50)
		;
	while (!round_among(HALF, N, N) && ++rounds_b < 50)
		;
	CHECK(rounds_a < 50 && rounds_b < 50);
	uint8_t da[32], db[32];
	mesh_view_digest(&views[0], da);
	mesh_view_digest(&views[HALF], db);
	CHECK(memcmp(da, db, 32) != 0);
	CHECK(!is_member(&views[0], 5) && is_member(&views[HALF], 5));
	CHECK(is_member(&views[0], 14) && !is_member(&views[HALF], 14));
	CHECK(!is_member(&views[0], N - 1) && is_member(&views[HALF], N - 1));

	/* healed: everyone with everyone */
	while (!round_among(0, N, N) && ++rounds_all < 50)
		;
	CHECK(rounds_all < 20);
	int wrong = 0;
	for (int i = 0; i < N; i++) {
		wrong += is_member(&views[i], 5) || is_member(&views[i], 14) || !is_member(&views[i], N - 1);
		const struct mesh_record **m;
		long n = mesh_view_members(&views[i], NOW, &m);
		wrong += n != N - 2;
		for (long k = 0; k < n; k++)
			if (!memcmp(m[k]->subject, pub[2], 32))
				wrong += m[k]->version != (uint64_t)NOW * 1000 + 60; /* B's 60 beat A's 52 */
		free(m);
	}
	CHECK_EQ(wrong, 0);
	fprintf(stderr, "  halves converged in %d and %d rounds, the healed mesh in %d\n", rounds_a + 1, rounds_b + 1,
	       rounds_all + 1);
	for (int i = 0; i < N; i++)
		mesh_view_free(&views[i]);
}

int main(void)
{
	test_suite_name = "mesh_gossip";
	if (crypto_init() || sodium_init() < 0)
		return 1;
	mesh_keypair(admin_pub, admin_sec);
	for (int i = 0; i < N; i++)
		mesh_keypair(pub[i], sec[i]);
	RUN(split_and_heal);
	TEST_EXIT();
}
