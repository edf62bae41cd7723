/* mesh_sim.c: a simulation of weft mesh's membership protocol, no data
 * plane (docs/performance.md, "weft mesh: membership at scale"). N
 * in-process members gossip in rounds of one virtual second:
 *   push:  a member that learnt a record forwards it to FANOUT random
 *          members in each of the HOT rounds that follow;
 *   pull:  every AE seconds each member compares view digests with one
 *          random member and fetches what it lacks (anti-entropy), which
 *          catches what the push missed, and lost datagrams.
 * It reports the rounds (= virtual seconds) until every member holds a new
 * member's record and the datagrams and bytes that cost (simulated), and
 * the bytes per member per minute at rest (computed from the simulated
 * cost of one record and the protocol's message sizes: daily lease
 * renewals, anti-entropy digests and bucket hashes). Byte counts use real record encodings
 * (src/mesh/member.c) plus 60 bytes of IPv4/UDP/WireGuard overhead per
 * datagram. It also times the real code a node runs on a view of N
 * members: merging N signed records, then admission and the address table.
 *   make && build/bench/mesh_sim [members ...]   (default: 1000 10000)
 *   options: --fanout F (3) --hot H (4) --ae S (30) --loss P (0.01) --runs R (20)
 */
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto/crypto.h"
#include "mesh/addr.h"
#include "mesh/member.h"

enum { OVERHEAD = 20 + 8 + 32, DIGEST_MSG = 16 + 32, BUCKETS = 256, DAY = 86400 };

static unsigned fanout = 3, hot = 4, ae = 30, runs = 20;
static double loss = 0.01;
static uint64_t rng = 0x243f6a8885a308d3ULL;

static uint64_t next(void)
{
	rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
	return rng;
}

static bool lost(void)
{
	return (double)(next() % 1000000) / 1e6 < loss;
}

struct spread {
	unsigned rounds;       /* until every member holds the record */
	uint64_t pushes;       /* datagrams carrying the record */
	uint64_t pulls;        /* record transfers by anti-entropy */
};

/* One record born at member 0 spreads to all n. */
static struct spread spread_one(unsigned n)
{
	uint32_t *learnt = malloc(n * sizeof(*learnt)); /* round it was learnt; UINT32_MAX: not yet */
	struct spread s = { 0 };
	unsigned have = 1, last = 0;

	for (unsigned i = 0; i < n; i++)
		learnt[i] = UINT32_MAX;
	learnt[0] = 0;
	/* on until everyone has it and no one is pushing it any more */
	for (unsigned round = 1; have < n || round <= last + hot; round++) {
		/* push: members hot at the start of the round send; those they
		 * reach become hot from the next round */
		for (unsigned i = 0; i < n; i++) {
			if (learnt[i] == UINT32_MAX || learnt[i] >= round || round - learnt[i] > hot)
				continue;
			for (unsigned f = 0; f < fanout; f++) {
				unsigned j = (unsigned)(next() % n);
				if (j == i)
					continue;
				s.pushes++;
				if (!lost() && learnt[j] == UINT32_MAX)
					learnt[j] = round, last = round, have++;
			}
		}
		/* pull: each member's anti-entropy falls on one round in ae,
		 * spread by its index */
		for (unsigned i = 0; i < n && have < n; i++) {
			if ((round + i) % ae || learnt[i] != UINT32_MAX)
				continue;
			unsigned j = (unsigned)(next() % n);
			if (learnt[j] != UINT32_MAX && learnt[j] < round && !lost())
				learnt[i] = round, last = round, have++, s.pulls++;
		}
		if (have < n || !s.rounds)
			s.rounds = round;
	}
	free(learnt);
	return s;
}

static int cmp_u(const void *a, const void *b)
{
	unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;
	return x < y ? -1 : x > y;
}

/* A typical member record: a 12-character name, 4 candidates. */
static int record_size(void)
{
	struct mesh_record r;
	uint8_t buf[MESH_RECORD_MAX];

	memset(&r, 0, sizeof(r));
	r.kind = MESH_MEMBER;
	strcpy(r.name, "web-frontend");
	r.n_candidates = 4;
	for (int i = 0; i < 4; i++)
		r.candidates[i].family = i < 2 ? 4 : 6;
	return mesh_record_encode(&r, buf, sizeof(buf));
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The real code on a view of n members: merge n signed records (each
 * verified), compute the admitted members and the address table. */
static void time_view(unsigned n)
{
	uint8_t admin_pub[32], admin_sec[64], pub[32], sec[64];
	struct mesh_record *recs = calloc(n, sizeof(*recs));
	struct mesh_addr_member *am = calloc(n, sizeof(*am));
	struct mesh_view v;
	struct mesh_prefix p;
	const struct mesh_record **m;
	uint64_t now = 1700000000;

	mesh_keypair(admin_pub, admin_sec);
	for (unsigned i = 0; i < n; i++) {
		struct mesh_record *r = &recs[i];
		mesh_keypair(pub, sec);
		r->kind = MESH_MEMBER;
		mesh_network_id(r->network_id, admin_pub);
		memcpy(r->subject, pub, 32);
		r->version = now * 1000, r->expires = now + 7 * DAY, r->joined = now - n + i;
		snprintf(r->name, sizeof(r->name), "node-%u", i);
		mesh_record_admit(r, admin_sec);
		mesh_record_sign(r, sec);
	}
	mesh_view_init(&v, admin_pub);
	double t0 = now_s();
	for (unsigned i = 0; i < n; i++)
		mesh_view_add(&v, &recs[i], now);
	double t1 = now_s();
	long k = mesh_view_members(&v, now, &m);
	for (long i = 0; i < k; i++)
		memcpy(am[i].pub, m[i]->subject, 32), am[i].joined = m[i]->joined;
	mesh_prefix_parse(&p, "10.64.0.0/10");
	mesh_addr_assign(&p, am, (size_t)k);
	double t2 = now_s();
	unsigned moved = 0;
	for (long i = 0; i < k; i++)
		moved += am[i].attempt > 0;
	printf("  real code, %u members: merging %u signed records %.0f ms, admission + addresses in a /10 %.1f ms "
	       "(%u moved by a collision)\n", n, n, (t1 - t0) * 1e3, (t2 - t1) * 1e3, moved);
	free(m);
	mesh_view_free(&v);
	free(recs);
	free(am);
}

static void simulate(unsigned n, int rec)
{
	unsigned *rounds = calloc(runs, sizeof(*rounds));
	uint64_t pushes = 0, pulls = 0;

	for (unsigned r = 0; r < runs; r++) {
		struct spread s = spread_one(n);
		rounds[r] = s.rounds;
		pushes += s.pushes, pulls += s.pulls;
	}
	qsort(rounds, runs, sizeof(*rounds), cmp_u);
	double per_member = (double)pushes / runs / n; /* datagrams of one record, per member */
	double join_bytes = (double)(pushes + pulls) / runs * (rec + OVERHEAD);
	/* At rest the only changes are the daily lease renewals: n a day.
	 * Pushed like a join, each costs per_member datagrams per member.
	 * Left to anti-entropy (the design), each member receives each once,
	 * and sends as many on average; a digest exchange every ae seconds
	 * (both ways), with the bucket hashes too when the views differ
	 * (a renewal happened since: probability 1 - e^(-n ae / DAY)). */
	double per_min = (double)n / (DAY / 60.0);
	double renew_push = per_min * per_member * (rec + OVERHEAD);
	double renew_pull = per_min * (rec + OVERHEAD);
	double differ = 1 - exp(-(double)n * ae / DAY);
	double ae_b = 60.0 / ae * (2 * (DIGEST_MSG + OVERHEAD) + differ * 2 * (BUCKETS * 8 + OVERHEAD));
	printf("%6u members: converged in %u s median, %u s worst of %u runs (%.1f members got it by anti-entropy);\n"
	       "        one join: %.1f datagrams sent per member, %.0f kB for the whole mesh; a new member fetches\n"
	       "        %u records (%.0f kB) from its sponsor;\n"
	       "        at rest, per member: %.0f B/min with renewals by anti-entropy (%.0f renewals + %.0f digests),\n"
	       "        %.0f B/min if renewals were pushed like joins\n",
	       n, rounds[runs / 2], rounds[runs - 1], runs, (double)pulls / runs, per_member, join_bytes / 1e3, n,
	       (double)n * rec / 1e3, renew_pull + ae_b, renew_pull, ae_b, renew_push + ae_b);
	free(rounds);
}

int main(int argc, char *argv[])
{
	unsigned sizes[16], n_sizes = 0;

	if (crypto_init() || sodium_init() < 0)
		return 1;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--fanout") && i + 1 < argc)
			fanout = (unsigned)atoi(argv[++i]);
		else if (!strcmp(argv[i], "--hot") && i + 1 < argc)
			hot = (unsigned)atoi(argv[++i]);
		else if (!strcmp(argv[i], "--ae") && i + 1 < argc)
			ae = (unsigned)atoi(argv[++i]);
		else if (!strcmp(argv[i], "--loss") && i + 1 < argc)
			loss = atof(argv[++i]);
		else if (!strcmp(argv[i], "--runs") && i + 1 < argc)
			runs = (unsigned)atoi(argv[++i]);
		else if (atoi(argv[i]) > 1 && n_sizes < 16)
			sizes[n_sizes++] = (unsigned)atoi(argv[i]);
		else {
			fprintf(stderr, "usage: %s [members ...] [--fanout F] [--hot H] [--ae S] [--loss P] [--runs R]\n", argv[0]);
			return 1;
		}
	}
	if (!n_sizes)
		sizes[n_sizes++] = 1000, sizes[n_sizes++] = 10000;
	if (!fanout || !hot || !ae || !runs || loss < 0 || loss >= 1) {
		fprintf(stderr, "%s: fanout, hot, ae and runs must be positive, loss in [0, 1)\n", argv[0]);
		return 1;
	}
	int rec = record_size();
	printf("weft mesh membership simulation: fanout %u, hot %u rounds, anti-entropy every %u s, loss %.1f%%, "
	       "a member record is %d bytes\n", fanout, hot, ae, loss * 100, rec);
	for (unsigned i = 0; i < n_sizes; i++)
		simulate(sizes[i], rec);
	for (unsigned i = 0; i < n_sizes; i++)
		time_view(sizes[i]);
	return 0;
}
