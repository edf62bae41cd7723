/* ratelimiter.c: token buckets per source address for handshake messages
 * under load (whitepaper section 5.3).
 *
 * Tokens are counted in nanoseconds of credit: a packet costs 1/20 s, a
 * bucket holds at most RATELIMIT_BURST packets' worth, and credit accrues
 * with elapsed time. A new source starts with a full bucket (and pays for
 * its first packet). An entry idle for more than a second has refilled past
 * the burst anyway, so dropping it forgets nothing: sweeps, at most once a
 * second and run from ratelimiter_allow itself, drop them.
 *
 * Sources are hashed with SipHash (crypto_shorthash) under a random key, so
 * that an attacker cannot choose addresses that all land in one chain. The
 * table holds at most RATELIMIT_MAX_ENTRIES; once full, new sources are
 * refused until a sweep makes room, which keeps memory bounded under a flood
 * of spoofed addresses. The caller injects the time; there is no clock here. */
#include "wg/ratelimiter.h"

#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

enum {
	BUCKET_LOAD = 8, /* entries per bucket when the table is full */
	BUCKETS = RATELIMIT_MAX_ENTRIES / BUCKET_LOAD,
	IPV4_LEN = 4,
	IPV6_PREFIX_LEN = 8, /* one /64: what one host controls */
};
_Static_assert((BUCKETS & (BUCKETS - 1)) == 0, "bucket index is a mask");
_Static_assert(crypto_shorthash_KEYBYTES == 16, "the key is two 64-bit words");

static const uint64_t NSEC_PER_SEC = 1000000000ull;
static const uint64_t PACKET_COST = 1000000000ull / RATELIMIT_PACKETS_PER_SECOND;
static const uint64_t TOKEN_MAX = 1000000000ull / RATELIMIT_PACKETS_PER_SECOND * RATELIMIT_BURST;
static const uint64_t IDLE_NS = 1000000000ull; /* entries idle longer are swept */

struct ratelimiter_entry {
	struct ratelimiter_entry *next;
	uint64_t last_ns; /* when it was last seen */
	uint64_t tokens;  /* credit in ns, at most TOKEN_MAX */
	uint8_t family_is6;
	uint8_t addr[IPV6_PREFIX_LEN]; /* IPv4 address, or the IPv6 /64 */
};

int ratelimiter_init(struct ratelimiter *r, const uint8_t random_key[16])
{
	memset(r, 0, sizeof(*r));
	if (sodium_init() < 0) /* idempotent; libsodium wants it before any use */
		return -EIO;
	r->buckets = calloc(BUCKETS, sizeof(*r->buckets));
	if (!r->buckets)
		return -ENOMEM;
	r->bucket_count = BUCKETS;
	memcpy(r->key, random_key, sizeof(r->key));
	return 0;
}

void ratelimiter_free(struct ratelimiter *r)
{
	for (size_t i = 0; r->buckets && i < r->bucket_count; i++) {
		struct ratelimiter_entry *e = r->buckets[i], *next;
		for (; e; e = next) {
			next = e->next;
			free(e);
		}
	}
	free(r->buckets);
	sodium_memzero(r->key, sizeof(r->key)); /* the key hides the table's layout */
	memset(r, 0, sizeof(*r));
}

static void sweep(struct ratelimiter *r, uint64_t now_ns)
{
	for (size_t i = 0; i < r->bucket_count; i++) {
		struct ratelimiter_entry **link = &r->buckets[i], *e;
		while ((e = *link)) {
			if (now_ns > e->last_ns && now_ns - e->last_ns > IDLE_NS) {
				*link = e->next;
				free(e);
				r->entries--;
			} else {
				link = &e->next;
			}
		}
	}
	r->last_sweep_ns = now_ns;
}

bool ratelimiter_allow(struct ratelimiter *r, int family, const uint8_t *ip, uint64_t now_ns)
{
	uint8_t key[1 + IPV6_PREFIX_LEN] = { 0 };
	size_t len;
	if (family == AF_INET)
		len = IPV4_LEN;
	else if (family == AF_INET6)
		len = IPV6_PREFIX_LEN;
	else
		return false;
	key[0] = family == AF_INET6;
	memcpy(key + 1, ip, len);

	if (now_ns > r->last_sweep_ns && now_ns - r->last_sweep_ns >= NSEC_PER_SEC)
		sweep(r, now_ns);

	uint64_t h;
	crypto_shorthash((unsigned char *)&h, key, sizeof(key), (const unsigned char *)r->key);
	struct ratelimiter_entry **bucket = &r->buckets[h & (r->bucket_count - 1)], *e;
	for (e = *bucket; e; e = e->next) {
		if (e->family_is6 != key[0] || memcmp(e->addr, key + 1, sizeof(e->addr)))
			continue;
		uint64_t elapsed = now_ns > e->last_ns ? now_ns - e->last_ns : 0;
		e->tokens = elapsed >= TOKEN_MAX - e->tokens ? TOKEN_MAX : e->tokens + elapsed;
		e->last_ns = now_ns;
		if (e->tokens < PACKET_COST)
			return false;
		e->tokens -= PACKET_COST;
		return true;
	}

	if (r->entries >= RATELIMIT_MAX_ENTRIES)
		return false;
	if (!(e = malloc(sizeof(*e))))
		return false;
	memcpy(e->addr, key + 1, sizeof(e->addr));
	e->family_is6 = key[0];
	e->last_ns = now_ns;
	e->tokens = TOKEN_MAX - PACKET_COST;
	e->next = *bucket;
	*bucket = e;
	r->entries++;
	return true;
}
