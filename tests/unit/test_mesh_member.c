/* test_mesh_member.c: membership records (encoding bounds, signatures) and
 * the merge rule's properties: any order and duplication of one set of
 * records gives the same view; two halves of a split that both changed
 * converge once they exchange records; removes, leaves, revocations and
 * sponsorship decide who is admitted. */
#include <errno.h>
#include <sodium.h>

#include "crypto/crypto.h"
#include "mesh/member.h"
#include "test.h"

enum { NODES = 40, NOW = 1700000000 };

static uint8_t admin_pub[MESH_PUB_LEN], admin_sec[MESH_SEC_LEN];
static uint8_t node_pub[NODES + 2][MESH_PUB_LEN], node_sec[NODES + 2][MESH_SEC_LEN];
static uint8_t net_id[MESH_ID_LEN];

static uint64_t rng = 0x1234567887654321ULL;
static uint64_t next(void)
{
	rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
	return rng;
}

/* A MEMBER (or LEAVE) record of node i, sponsored by sponsor (-1: admin). */
static struct mesh_record member(int i, int sponsor, uint64_t version, uint8_t kind, uint8_t tok)
{
	struct mesh_record r;

	memset(&r, 0, sizeof(r));
	r.kind = kind;
	memcpy(r.network_id, net_id, MESH_ID_LEN);
	memcpy(r.subject, node_pub[i], MESH_PUB_LEN);
	r.version = version;
	r.expires = NOW + 7 * 86400;
	r.joined = NOW - 1000 + (uint64_t)i;
	memset(r.token_id, tok, MESH_TOKEN_ID_LEN);
	snprintf(r.name, sizeof(r.name), "node-%d", i);
	r.v4[0] = 10, r.v4[3] = (uint8_t)i;
	r.n_candidates = (uint8_t)(version % 3);
	for (unsigned c = 0; c < r.n_candidates; c++) {
		r.candidates[c].family = 4;
		r.candidates[c].addr[0] = 192, r.candidates[c].addr[3] = (uint8_t)version;
		r.candidates[c].port = (uint16_t)(51820 + c);
	}
	mesh_record_admit(&r, sponsor < 0 ? admin_sec : node_sec[sponsor]);
	CHECK_EQ(mesh_record_sign(&r, node_sec[i]), 0);
	return r;
}

static struct mesh_record admin_record(uint8_t kind, const uint8_t *subject, size_t len, uint64_t at)
{
	struct mesh_record r;

	memset(&r, 0, sizeof(r));
	r.kind = kind;
	memcpy(r.network_id, net_id, MESH_ID_LEN);
	memcpy(r.subject, subject, len);
	r.version = at * 1000;
	r.expires = NOW + 365 * 86400;
	r.joined = at;
	CHECK_EQ(mesh_record_sign(&r, admin_sec), 0);
	return r;
}

/* The scenario: 40 nodes, 0-4 sponsored by the admin, the others by an
 * earlier node; versions 1-3 each; node 7 left; node 9 was removed (so
 * those it alone sponsored are out); token 0xbb revoked at a time after
 * which two nodes joined with it. */
static struct mesh_record all[400];
static size_t n_all;
static int sponsor_of[NODES];

static void build_scenario(void)
{
	n_all = 0;
	for (int i = 0; i < NODES; i++) {
		sponsor_of[i] = i < 5 ? -1 : (int)(next() % (uint64_t)i);
		uint8_t tok = i >= 30 && i < 32 ? 0xbb : 0xaa;
		for (uint64_t ver = 1; ver <= 3; ver++)
			all[n_all++] = member(i, sponsor_of[i], (uint64_t)NOW * 1000 + ver * 10, MESH_MEMBER, tok);
	}
	all[n_all++] = member(7, sponsor_of[7], (uint64_t)NOW * 1000 + 100, MESH_LEAVE, 0xaa);
	all[n_all++] = admin_record(MESH_REMOVE, node_pub[9], MESH_PUB_LEN, NOW - 10);
	uint8_t tok[MESH_TOKEN_ID_LEN];
	memset(tok, 0xbb, sizeof(tok));
	all[n_all++] = admin_record(MESH_REVOKE, tok, sizeof(tok), NOW - 1000 + 31); /* node 31 joined at it */
}

static bool descends_from(int i, int ancestor)
{
	for (int j = i; j >= 0; j = sponsor_of[j])
		if (j == ancestor)
			return true;
	return false;
}

static int expected_member(int i)
{
	if (i == 7 || i == 31 || descends_from(i, 9) || descends_from(i, 31))
		return 0;
	return 1;
}

static void view_of(struct mesh_view *v, const struct mesh_record *recs, size_t n, bool shuffle_dup)
{
	mesh_view_init(v, admin_pub);
	if (!shuffle_dup) {
		for (size_t i = 0; i < n; i++)
			CHECK(mesh_view_add(v, &recs[i], NOW) >= 0);
		return;
	}
	size_t *idx = calloc(2 * n, sizeof(*idx));
	for (size_t i = 0; i < 2 * n; i++)
		idx[i] = i % n;
	for (size_t i = 2 * n - 1; i > 0; i--) {
		size_t j = next() % (i + 1), t = idx[i];
		idx[i] = idx[j], idx[j] = t;
	}
	size_t take = n + next() % (n + 1); /* every record at least once (first n of a shuffle may miss some: add all) */
	for (size_t i = 0; i < take; i++)
		CHECK(mesh_view_add(v, &recs[idx[i]], NOW) >= 0);
	for (size_t i = 0; i < n; i++)
		CHECK(mesh_view_add(v, &recs[(i * 7919) % n], NOW) >= 0);
	free(idx);
}

static void encode_decode(void)
{
	struct mesh_record r = member(3, -1, 5, MESH_MEMBER, 1), d;
	uint8_t buf[MESH_RECORD_MAX];
	int n = mesh_record_encode(&r, buf, sizeof(buf));

	CHECK(n > 0 && n <= MESH_RECORD_MAX);
	CHECK_EQ(mesh_record_decode(&d, buf, (size_t)n), 0);
	CHECK(d.version == r.version && d.joined == r.joined && !strcmp(d.name, r.name));
	CHECK(d.n_candidates == r.n_candidates && !memcmp(d.candidates, r.candidates, sizeof(r.candidates)));
	CHECK(!memcmp(d.sig, r.sig, MESH_SIG_LEN) && !memcmp(d.sponsor_sig, r.sponsor_sig, MESH_SIG_LEN));
	CHECK(mesh_record_verify(&d, admin_pub));
	int refused = 0;
	for (int len = 0; len < n; len++)
		refused += mesh_record_decode(&d, buf, (size_t)len) == -EINVAL;
	CHECK_EQ(refused, n);
	uint8_t longer[MESH_RECORD_MAX + 1];
	memcpy(longer, buf, (size_t)n);
	longer[n] = 0;
	CHECK_EQ(mesh_record_decode(&d, longer, (size_t)n + 1), -EINVAL);
	/* a NUL inside the name (found by fuzz_mesh): refused, since it would
	 * not encode back to the same bytes */
	size_t name_at = 1 + 16 + 32 + 8 * 3 + 8 + 32 + 64 + 4 + 16;
	CHECK_EQ(buf[name_at], strlen(r.name));
	buf[name_at + 2] = 0;
	CHECK_EQ(mesh_record_decode(&d, buf, (size_t)n), -EINVAL);
	/* a name out of the charset, a candidate of another family */
	struct mesh_record bad = r;
	strcpy(bad.name, "Bad_Name");
	CHECK_EQ(mesh_record_encode(&bad, buf, sizeof(buf)), -EINVAL);
	bad = r;
	bad.n_candidates = 1, bad.candidates[0].family = 5;
	CHECK_EQ(mesh_record_encode(&bad, buf, sizeof(buf)), -EINVAL);
	CHECK_EQ(mesh_record_encode(&r, buf, 100), -ENOSPC);
	CHECK(mesh_name_ok("a") && mesh_name_ok("web-1") && !mesh_name_ok("-a") && !mesh_name_ok("a-") &&
	      !mesh_name_ok(""));
}

static void refused_records(void)
{
	struct mesh_view v;
	struct mesh_record r = member(1, -1, 5, MESH_MEMBER, 1);

	mesh_view_init(&v, admin_pub);
	struct mesh_record forged = r;
	forged.v4[3] ^= 1; /* changed after signing */
	CHECK_EQ(mesh_view_add(&v, &forged, NOW), -EBADMSG);
	forged = r;
	forged.sponsor_sig[0] ^= 1;
	CHECK_EQ(mesh_view_add(&v, &forged, NOW), -EBADMSG);
	/* a member cannot sign a remove: only the admin can */
	struct mesh_record rm;
	memset(&rm, 0, sizeof(rm));
	rm.kind = MESH_REMOVE;
	memcpy(rm.network_id, net_id, MESH_ID_LEN);
	memcpy(rm.subject, node_pub[2], MESH_PUB_LEN);
	rm.version = 1, rm.expires = NOW + 10;
	mesh_record_sign(&rm, node_sec[1]);
	CHECK_EQ(mesh_view_add(&v, &rm, NOW), -EBADMSG);
	forged = r;
	forged.network_id[0] ^= 1;
	CHECK_EQ(mesh_view_add(&v, &forged, NOW), -EINVAL);
	CHECK_EQ(mesh_view_add(&v, &r, r.expires), -ESTALE);
	/* fields out of range are refused before any comparison */
	forged = r;
	forged.n_candidates = MESH_MAX_CANDIDATES + 1;
	CHECK_EQ(mesh_view_add(&v, &forged, NOW), -EINVAL);
	forged = r;
	strcpy(forged.name, "UPPER");
	CHECK_EQ(mesh_view_add(&v, &forged, NOW), -EINVAL);
	CHECK_EQ(mesh_view_add(&v, &r, NOW), 1);
	CHECK_EQ(mesh_view_add(&v, &r, NOW), 0);
	/* older version: no change */
	struct mesh_record old = member(1, -1, 4, MESH_MEMBER, 1);
	CHECK_EQ(mesh_view_add(&v, &old, NOW), 0);
	/* expiry drops it */
	CHECK_EQ(mesh_view_expire(&v, r.expires), 1);
	const struct mesh_record **m;
	CHECK_EQ(mesh_view_members(&v, r.expires - 1, &m), 0);
	free(m);
	mesh_view_free(&v);
}

static void admission(void)
{
	struct mesh_view v;
	const struct mesh_record **m;

	build_scenario();
	view_of(&v, all, n_all, false);
	long n = mesh_view_members(&v, NOW, &m);
	int expected = 0, wrong = 0;
	for (int i = 0; i < NODES; i++) {
		int found = 0;
		for (long k = 0; k < n; k++)
			if (!memcmp(m[k]->subject, node_pub[i], MESH_PUB_LEN)) {
				found = 1;
				wrong += m[k]->version != (uint64_t)NOW * 1000 + 30; /* the newest version */
			}
		wrong += found != expected_member(i);
		expected += expected_member(i);
	}
	CHECK_EQ(wrong, 0);
	CHECK_EQ(n, expected);
	CHECK(expected < NODES - 3);
	for (long k = 1; k < n; k++)
		CHECK(memcmp(m[k - 1]->subject, m[k]->subject, MESH_PUB_LEN) < 0);
	free(m);
	/* the node that left joins again with a newer version: a member again */
	struct mesh_record back = member(7, sponsor_of[7], (uint64_t)NOW * 1000 + 200, MESH_MEMBER, 0xaa);
	CHECK_EQ(mesh_view_add(&v, &back, NOW), 1);
	long n2 = mesh_view_members(&v, NOW, &m);
	CHECK_EQ(n2, n + 1); /* 7's sponsors all sort before 9 and 31: its chain holds */
	free(m);
	/* the removed node signs a newer record: still out */
	struct mesh_record again = member(9, sponsor_of[9], (uint64_t)NOW * 1000 + 999, MESH_MEMBER, 0xaa);
	CHECK_EQ(mesh_view_add(&v, &again, NOW), 1);
	CHECK_EQ(mesh_view_members(&v, NOW, &m), n2);
	free(m);
	/* an unknown sponsor admits nobody */
	struct mesh_record orphan = member(NODES, NODES + 1, 5, MESH_MEMBER, 0xaa);
	CHECK_EQ(mesh_view_add(&v, &orphan, NOW), 1);
	CHECK_EQ(mesh_view_members(&v, NOW, &m), n2);
	free(m);
	mesh_view_free(&v);
}

/* 60 random orders, each with duplicates: one digest, one member list. */
static void any_order_converges(void)
{
	struct mesh_view ref, v;
	uint8_t d0[32], d[32];
	int differ = 0;

	build_scenario();
	view_of(&ref, all, n_all, false);
	CHECK_EQ(mesh_view_digest(&ref, d0), 0);
	for (int round = 0; round < 60; round++) {
		view_of(&v, all, n_all, true);
		mesh_view_digest(&v, d);
		differ += memcmp(d, d0, 32) != 0;
		const struct mesh_record **a, **b;
		long na = mesh_view_members(&ref, NOW, &a), nb = mesh_view_members(&v, NOW, &b);
		differ += na != nb;
		for (long k = 0; k < na && k < nb; k++)
			differ += a[k]->version != b[k]->version || memcmp(a[k]->subject, b[k]->subject, 32);
		free(a), free(b);
		mesh_view_free(&v);
	}
	CHECK_EQ(differ, 0);
	mesh_view_free(&ref);
}

/* Two different records of one subject with one version: the same winner
 * whichever arrives first. */
static void tie_break(void)
{
	struct mesh_record a = member(2, -1, 77, MESH_MEMBER, 1), b = a;
	struct mesh_view v1, v2;
	uint8_t d1[32], d2[32];

	strcpy(b.name, "other");
	mesh_record_sign(&b, node_sec[2]);
	mesh_view_init(&v1, admin_pub), mesh_view_init(&v2, admin_pub);
	CHECK_EQ(mesh_view_add(&v1, &a, NOW), 1);
	mesh_view_add(&v1, &b, NOW);
	CHECK_EQ(mesh_view_add(&v2, &b, NOW), 1);
	mesh_view_add(&v2, &a, NOW);
	mesh_view_digest(&v1, d1), mesh_view_digest(&v2, d2);
	CHECK_MEM(d1, d2, 32);
	mesh_view_free(&v1), mesh_view_free(&v2);
}

static void merge_into(const struct mesh_record *r, void *arg)
{
	CHECK(mesh_view_add(arg, r, NOW) >= 0);
}

/* A split: both halves start from one view, change (overlapping subjects,
 * a leave, a remove, new joins), then exchange all their records. */
static void split_and_rejoin(void)
{
	struct mesh_view a, b, u;
	static struct mesh_record ra[64], rb[64], both[400 + 128];
	size_t na = 0, nb = 0;
	uint8_t da[32], db[32], du[32];

	build_scenario();
	view_of(&a, all, n_all, true);
	view_of(&b, all, n_all, true);
	for (int i = 1; i <= 10; i++)
		ra[na++] = member(i, sponsor_of[i], (uint64_t)NOW * 1000 + 500 + (uint64_t)i, MESH_MEMBER, 0xaa);
	ra[na++] = member(11, sponsor_of[11], (uint64_t)NOW * 1000 + 600, MESH_LEAVE, 0xaa);
	ra[na++] = member(NODES, 0, (uint64_t)NOW * 1000 + 1, MESH_MEMBER, 0xaa);
	for (int i = 5; i <= 15; i++)
		rb[nb++] = member(i, sponsor_of[i], (uint64_t)NOW * 1000 + 520, MESH_MEMBER, 0xaa);
	rb[nb++] = admin_record(MESH_REMOVE, node_pub[12], MESH_PUB_LEN, NOW - 5);
	rb[nb++] = member(NODES + 1, 1, (uint64_t)NOW * 1000 + 1, MESH_MEMBER, 0xaa);
	for (size_t i = 0; i < na; i++)
		CHECK_EQ(mesh_view_add(&a, &ra[i], NOW), 1);
	for (size_t i = 0; i < nb; i++)
		CHECK_EQ(mesh_view_add(&b, &rb[i], NOW), 1);
	mesh_view_digest(&a, da), mesh_view_digest(&b, db);
	CHECK(memcmp(da, db, 32) != 0);
	/* rejoin: each sends the other everything it holds */
	mesh_view_each(&b, merge_into, &a);
	mesh_view_each(&a, merge_into, &b);
	mesh_view_digest(&a, da), mesh_view_digest(&b, db);
	CHECK_MEM(da, db, 32);
	/* and both equal a view made from the union in one go */
	size_t n = 0;
	for (size_t i = 0; i < n_all; i++)
		both[n++] = all[i];
	for (size_t i = 0; i < na; i++)
		both[n++] = ra[i];
	for (size_t i = 0; i < nb; i++)
		both[n++] = rb[i];
	view_of(&u, both, n, true);
	mesh_view_digest(&u, du);
	CHECK_MEM(da, du, 32);
	const struct mesh_record **m;
	long k = mesh_view_members(&a, NOW, &m);
	int has12 = 0, has11 = 0, new_a = 0, new_b = 0;
	for (long i = 0; i < k; i++) {
		has12 |= !memcmp(m[i]->subject, node_pub[12], 32);
		has11 |= !memcmp(m[i]->subject, node_pub[11], 32);
		new_a |= !memcmp(m[i]->subject, node_pub[NODES], 32);
		new_b |= !memcmp(m[i]->subject, node_pub[NODES + 1], 32);
		if (!memcmp(m[i]->subject, node_pub[8], 32))
			CHECK_EQ(m[i]->version, (uint64_t)NOW * 1000 + 520); /* b's 520 beat a's 508 */
		if (!memcmp(m[i]->subject, node_pub[10], 32))
			CHECK_EQ(m[i]->version, (uint64_t)NOW * 1000 + 520);
	}
	free(m);
	CHECK(!has12 && !has11 && new_a && new_b);
	mesh_view_free(&a), mesh_view_free(&b), mesh_view_free(&u);
}

static void merge_bucket_into(const struct mesh_record *r, void *arg)
{
	CHECK(mesh_view_add(arg, r, NOW) >= 0);
}

/* Anti-entropy by buckets: equal views have equal buckets; after a split,
 * only the buckets of the changed subjects differ, and sending the records
 * of those buckets both ways makes the views equal. */
static void buckets(void)
{
	struct mesh_view a, b;
	uint64_t ba[MESH_BUCKETS], bb[MESH_BUCKETS];
	uint8_t da[32], db[32];
	int differ = 0;
	bool expected[MESH_BUCKETS] = { false };

	build_scenario();
	view_of(&a, all, n_all, true);
	view_of(&b, all, n_all, true);
	mesh_view_buckets(&a, ba), mesh_view_buckets(&b, bb);
	CHECK(!memcmp(ba, bb, sizeof(ba)));
	for (int i = 1; i <= 3; i++) {
		struct mesh_record r = member(i, sponsor_of[i], (uint64_t)NOW * 1000 + 900, MESH_MEMBER, 0xaa);
		CHECK_EQ(mesh_view_add(&a, &r, NOW), 1);
		expected[node_pub[i][0]] = true;
	}
	struct mesh_record rm = admin_record(MESH_REMOVE, node_pub[20], MESH_PUB_LEN, NOW - 3);
	CHECK_EQ(mesh_view_add(&b, &rm, NOW), 1);
	expected[node_pub[20][0]] = true;
	mesh_view_buckets(&a, ba), mesh_view_buckets(&b, bb);
	int wrong = 0;
	for (unsigned k = 0; k < MESH_BUCKETS; k++) {
		bool d = ba[k] != bb[k];
		differ += d;
		wrong += d != expected[k];
		if (d) {
			mesh_view_each_in_bucket(&a, k, merge_bucket_into, &b);
			mesh_view_each_in_bucket(&b, k, merge_bucket_into, &a);
		}
	}
	CHECK_EQ(wrong, 0);
	CHECK(differ >= 1 && differ <= 4);
	mesh_view_digest(&a, da), mesh_view_digest(&b, db);
	CHECK_MEM(da, db, 32);
	mesh_view_buckets(&a, ba), mesh_view_buckets(&b, bb);
	CHECK(!memcmp(ba, bb, sizeof(ba)));
	mesh_view_free(&a), mesh_view_free(&b);
}

int main(void)
{
	test_suite_name = "mesh_member";
	if (crypto_init() || sodium_init() < 0)
		return 1;
	mesh_keypair(admin_pub, admin_sec);
	mesh_network_id(net_id, admin_pub);
	for (int i = 0; i < NODES + 2; i++)
		mesh_keypair(node_pub[i], node_sec[i]);
	RUN(encode_decode);
	RUN(refused_records);
	RUN(admission);
	RUN(any_order_converges);
	RUN(tie_break);
	RUN(split_and_rejoin);
	RUN(buckets);
	TEST_EXIT();
}
