/* test_mesh_addr.c: overlay addresses stay inside their prefix, avoid the
 * network and broadcast addresses, and the collision rule gives the same
 * table for every order of the same members (a property test over many
 * random orders), moving only the later member of a collision. */
#include <arpa/inet.h>
#include <errno.h>
#include <sys/socket.h>

#include "crypto/crypto.h"
#include "mesh/addr.h"
#include "test.h"

static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static uint64_t next(void)
{
	rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
	return rng;
}

static void random_key(uint8_t k[32])
{
	for (int i = 0; i < 32; i++)
		k[i] = (uint8_t)next();
}

static void prefixes(void)
{
	struct mesh_prefix p;
	char s[64];

	CHECK_EQ(mesh_prefix_parse(&p, "10.42.0.0/16"), 0);
	CHECK_EQ(p.family, AF_INET);
	CHECK_EQ(p.bits, 16);
	mesh_prefix_format(s, sizeof(s), &p);
	CHECK(!strcmp(s, "10.42.0.0/16"));
	CHECK_EQ(mesh_prefix_parse(&p, "fd00:1::/48"), 0);
	CHECK_EQ(p.family, AF_INET6);
	CHECK_EQ(mesh_prefix_parse(&p, "10.42.0.1/16"), -EINVAL); /* host bits set */
	CHECK_EQ(mesh_prefix_parse(&p, "10.0.0.0/31"), -EINVAL);
	CHECK_EQ(mesh_prefix_parse(&p, "10.0.0.0/7"), -EINVAL);
	CHECK_EQ(mesh_prefix_parse(&p, "10.0.0.0"), -EINVAL);
	CHECK_EQ(mesh_prefix_parse(&p, "10.0.0.0/"), -EINVAL);
	CHECK_EQ(mesh_prefix_parse(&p, "10.0.0.0/-16"), -EINVAL);
	CHECK_EQ(mesh_prefix_parse(&p, "fd00::/125"), -EINVAL);
	CHECK_EQ(mesh_prefix_parse(&p, "nonsense/8"), -EINVAL);
}

static void inside_prefix(void)
{
	struct mesh_prefix p4, p6;
	uint8_t k[32], a[16];
	int bad = 0;

	mesh_prefix_parse(&p4, "192.168.8.0/29");
	mesh_prefix_parse(&p6, "fd12:3456::/120");
	for (int i = 0; i < 2000; i++) {
		random_key(k);
		mesh_addr_candidate(a, &p4, k, (uint32_t)i % 5);
		if (memcmp(a, p4.addr, 3) || (a[3] & 0xf8) != 0 || a[3] == 0 || a[3] == 7)
			bad++;
		mesh_addr_candidate(a, &p6, k, 0);
		if (memcmp(a, p6.addr, 15) || a[15] == 0 || a[15] == 0xff)
			bad++;
	}
	CHECK_EQ(bad, 0);
	/* deterministic: same key, same attempt, same address; attempts differ */
	uint8_t b[16];
	mesh_addr_candidate(a, &p6, k, 3);
	mesh_addr_candidate(b, &p6, k, 3);
	CHECK_MEM(a, b, 16);
	struct mesh_prefix big;
	mesh_prefix_parse(&big, "fd00::/8");
	mesh_addr_candidate(a, &big, k, 0);
	mesh_addr_candidate(b, &big, k, 1);
	CHECK(memcmp(a, b, 16) != 0);
	CHECK_EQ(a[0], 0xfd);
}

static void shuffle(struct mesh_addr_member *m, size_t n)
{
	for (size_t i = n - 1; i > 0; i--) {
		size_t j = next() % (i + 1);
		struct mesh_addr_member t = m[i];
		m[i] = m[j], m[j] = t;
	}
}

static int by_pub(const void *a, const void *b)
{
	return memcmp(((const struct mesh_addr_member *)a)->pub, ((const struct mesh_addr_member *)b)->pub, 32);
}

/* 200 members in a /24 (many collisions): 100 random orders give one table,
 * and no two members share an address. */
static void any_order_same_table(void)
{
	enum { N = 200 };
	static struct mesh_addr_member ref[N], m[N];
	struct mesh_prefix p;
	int differ = 0, dup = 0, moved = 0;

	mesh_prefix_parse(&p, "10.1.2.0/24");
	for (int i = 0; i < N; i++) {
		random_key(ref[i].pub);
		ref[i].joined = 1000 + next() % 50; /* ties on joined too */
	}
	CHECK_EQ(mesh_addr_assign(&p, ref, N), 0);
	qsort(ref, N, sizeof(ref[0]), by_pub);
	for (int i = 0; i < N; i++) {
		moved += ref[i].attempt > 0;
		for (int j = i + 1; j < N; j++)
			dup += ref[i].assigned && ref[j].assigned && !memcmp(ref[i].addr, ref[j].addr, 4);
	}
	CHECK_EQ(dup, 0);
	CHECK(moved > 0); /* the test did exercise collisions */
	for (int round = 0; round < 100; round++) {
		memcpy(m, ref, sizeof(m));
		for (int i = 0; i < N; i++)
			memset(m[i].addr, 0, 16), m[i].assigned = false;
		shuffle(m, N);
		CHECK_EQ(mesh_addr_assign(&p, m, N), 0);
		qsort(m, N, sizeof(m[0]), by_pub);
		for (int i = 0; i < N; i++)
			differ += m[i].assigned != ref[i].assigned || memcmp(m[i].addr, ref[i].addr, 16);
	}
	CHECK_EQ(differ, 0);
}

/* Two keys whose first candidate collide: the one that joined first keeps
 * it, whichever comes first in the input; the other moves. */
static void forced_collision(void)
{
	struct mesh_prefix p;
	struct mesh_addr_member m[2] = { 0 };
	uint8_t a0[16], a1[16];
	int tries = 0;

	mesh_prefix_parse(&p, "10.9.9.0/28");
	random_key(m[0].pub);
	mesh_addr_candidate(a0, &p, m[0].pub, 0);
	do {
		random_key(m[1].pub);
		mesh_addr_candidate(a1, &p, m[1].pub, 0);
	} while (memcmp(a0, a1, 4) && ++tries < 10000);
	CHECK(!memcmp(a0, a1, 4));
	m[0].joined = 50, m[1].joined = 40;
	CHECK_EQ(mesh_addr_assign(&p, m, 2), 0);
	CHECK(m[1].assigned && m[1].attempt == 0 && !memcmp(m[1].addr, a0, 4));
	CHECK(m[0].assigned && m[0].attempt > 0 && memcmp(m[0].addr, a0, 4));
	struct mesh_addr_member r[2] = { m[1], m[0] };
	CHECK_EQ(mesh_addr_assign(&p, r, 2), 0);
	CHECK_MEM(r[0].addr, m[1].addr, 16);
	CHECK_MEM(r[1].addr, m[0].addr, 16);
}

/* A /29 has 6 usable addresses: 6 members fit; of 7 members, at most 6
 * get one, the one that joined last in order is the candidate for none. */
static void full_prefix(void)
{
	struct mesh_prefix p;
	struct mesh_addr_member m[7] = { 0 };
	int assigned = 0;

	mesh_prefix_parse(&p, "10.0.0.0/29");
	for (int i = 0; i < 7; i++)
		random_key(m[i].pub), m[i].joined = (uint64_t)i;
	CHECK_EQ(mesh_addr_assign(&p, m, 7), 0);
	for (int i = 0; i < 7; i++)
		assigned += m[i].assigned;
	CHECK(assigned <= 6);
	CHECK(!m[6].assigned || assigned == 6);
	CHECK_EQ(mesh_addr_assign(&p, m, 0), 0);
}

int main(void)
{
	test_suite_name = "mesh_addr";
	if (crypto_init())
		return 1;
	RUN(prefixes);
	RUN(inside_prefix);
	RUN(any_order_same_table);
	RUN(forced_collision);
	RUN(full_prefix);
	TEST_EXIT();
}
