/* relay_table.c: the relay's pairs, channels, buckets and counters (see
 * relay_table.h). Fixed arrays sized once from max_pairs: a slot per pair, a
 * free stack, and hash buckets over the token (already a uniform hash, so
 * its first bytes are the bucket) chained through the slots. Nothing here
 * allocates after relay_table_new, so the per-datagram path is a few loads. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "coord/relay_table.h"
#include "crypto/crypto.h"

/* channel = generation << 20 | slot << 1 | side; generation is never 0, so
 * neither is a channel */
#define SLOT_BITS 19
#define GEN_SHIFT (SLOT_BITS + 1)
#define GEN_MASK 0xfffu

struct side {
	uint64_t client; /* 0: free */
};

struct bucket {
	uint64_t tokens; /* bytes */
	uint64_t last_ns;
};

struct pair {
	uint8_t token[RELAY_TOKEN_LEN];
	struct side side[2];
	struct bucket bucket[2]; /* by sending side */
	uint64_t active_ns;
	uint32_t next;           /* hash chain: slot + 1, 0 ends */
	uint16_t gen;            /* 0: slot free */
};

struct relay_table {
	struct relay_limits lim;
	struct pair *pairs;
	uint32_t *free_stack, nfree;
	uint32_t *heads, mask;  /* hash buckets: slot + 1 */
	size_t used;
	struct relay_counters c;
};

void relay_limits_default(struct relay_limits *l)
{
	*l = (struct relay_limits){ .max_pairs = 4096, .rate = 0, .burst = 0,
				    .idle_ns = 60ull * 1000000000ull };
}

struct relay_table *relay_table_new(const struct relay_limits *l)
{
	struct relay_table *t;
	uint32_t nb = 1;

	/* burst below 2^34 keeps burst * 10^9 inside 64 bits */
	if (!l->max_pairs || l->max_pairs > RELAY_MAX_PAIRS_LIMIT || !l->idle_ns ||
	    l->burst >= 1ull << 34) {
		errno = EINVAL;
		return NULL;
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->lim = *l;
	if (t->lim.rate && !t->lim.burst) {
		t->lim.burst = t->lim.rate / 10;
		if (t->lim.burst < 65536)
			t->lim.burst = 65536;
	}
	while (nb < l->max_pairs)
		nb <<= 1;
	t->mask = nb - 1;
	t->pairs = calloc(l->max_pairs, sizeof(*t->pairs));
	t->free_stack = calloc(l->max_pairs, sizeof(*t->free_stack));
	t->heads = calloc(nb, sizeof(*t->heads));
	if (!t->pairs || !t->free_stack || !t->heads) {
		relay_table_free(t);
		return NULL;
	}
	/* the lowest slots on top, so that a small table stays in a few lines */
	for (uint32_t i = 0; i < l->max_pairs; i++)
		t->free_stack[i] = l->max_pairs - 1 - i;
	t->nfree = l->max_pairs;
	return t;
}

void relay_table_free(struct relay_table *t)
{
	if (!t)
		return;
	if (t->pairs)
		memzero(t->pairs, (size_t)t->lim.max_pairs * sizeof(*t->pairs));
	free(t->pairs);
	free(t->free_stack);
	free(t->heads);
	free(t);
}

static uint32_t rt_bucket_of(const struct relay_table *t, const uint8_t token[RELAY_TOKEN_LEN])
{
	uint32_t h;

	memcpy(&h, token, sizeof(h));
	return h & t->mask;
}

static uint32_t rt_channel_of(uint32_t slot, uint16_t gen, int side)
{
	return (uint32_t)gen << GEN_SHIFT | slot << 1 | (uint32_t)side;
}

/* the pair a channel names, or NULL when the slot is free or was reused */
static struct pair *rt_pair_of(const struct relay_table *t, uint32_t channel, int *side)
{
	uint32_t slot = (channel >> 1) & ((1u << SLOT_BITS) - 1);
	struct pair *p;

	if (slot >= t->lim.max_pairs)
		return NULL;
	p = &t->pairs[slot];
	if (!p->gen || p->gen != (channel >> GEN_SHIFT))
		return NULL;
	*side = channel & 1;
	return p;
}

static struct pair *rt_find(const struct relay_table *t, const uint8_t token[RELAY_TOKEN_LEN])
{
	for (uint32_t s = t->heads[rt_bucket_of(t, token)]; s; s = t->pairs[s - 1].next)
		if (!memcmp(t->pairs[s - 1].token, token, RELAY_TOKEN_LEN))
			return &t->pairs[s - 1];
	return NULL;
}

static void rt_bucket_fill(struct bucket *b, uint64_t burst, uint64_t now_ns)
{
	b->tokens = burst;
	b->last_ns = now_ns;
}

static void rt_close_pair(struct relay_table *t, struct pair *p)
{
	uint32_t slot = (uint32_t)(p - t->pairs);
	uint32_t *link = &t->heads[rt_bucket_of(t, p->token)];
	uint16_t gen = p->gen;

	while (*link && *link != slot + 1)
		link = &t->pairs[*link - 1].next;
	if (*link)
		*link = p->next;
	memzero(p, sizeof(*p));
	/* the next pair in this slot numbers its channels apart from ours */
	gen = (uint16_t)((gen & GEN_MASK) + 1);
	if (gen > GEN_MASK)
		gen = 1;
	/* remember the generation in the free slot's next field: gen stays 0
	 * so that pair_of refuses every channel of a free slot */
	p->next = gen;
	t->free_stack[t->nfree++] = slot;
	t->used--;
	t->c.pairs_closed++;
}

int relay_table_join(struct relay_table *t, const uint8_t token[RELAY_TOKEN_LEN],
		     uint64_t client, uint64_t now_ns, uint32_t *channel, bool *ready)
{
	struct pair *p = rt_find(t, token);
	uint32_t slot;
	int s;

	if (!client)
		return -EINVAL;
	if (!p) {
		if (!t->nfree) {
			t->c.joins_refused_full++;
			return -ENOSPC;
		}
		slot = t->free_stack[--t->nfree];
		p = &t->pairs[slot];
		p->gen = p->next ? (uint16_t)p->next : 1;
		memcpy(p->token, token, RELAY_TOKEN_LEN);
		p->next = t->heads[rt_bucket_of(t, token)];
		t->heads[rt_bucket_of(t, token)] = slot + 1;
		t->used++;
		t->c.pairs_opened++;
	}
	slot = (uint32_t)(p - t->pairs);
	if (p->side[0].client == client)
		s = 0;
	else if (p->side[1].client == client)
		s = 1;
	else if (!p->side[0].client)
		s = 0;
	else if (!p->side[1].client)
		s = 1;
	else {
		t->c.joins_refused_busy++;
		return -EBUSY;
	}
	if (p->side[s].client != client) {
		p->side[s].client = client;
		rt_bucket_fill(&p->bucket[s], t->lim.burst, now_ns);
	}
	p->active_ns = now_ns;
	*channel = rt_channel_of(slot, p->gen, s);
	*ready = p->side[!s].client != 0;
	return 0;
}

static int rt_leave_pair(struct relay_table *t, struct pair *p, uint64_t client, relay_left_fn cb, void *arg)
{
	int n = 0;

	for (int s = 0; s < 2; s++)
		if (p->side[s].client == client) {
			p->side[s].client = 0;
			n++;
			if (cb && p->side[!s].client)
				cb(arg, p->side[!s].client, p->token);
		}
	if (!p->side[0].client && !p->side[1].client)
		rt_close_pair(t, p);
	return n;
}

int relay_table_leave(struct relay_table *t, uint64_t client, const uint8_t *token,
		      relay_left_fn cb, void *arg)
{
	int n = 0;

	if (!client)
		return 0;
	if (token) {
		struct pair *p = rt_find(t, token);

		return p ? rt_leave_pair(t, p, client, cb, arg) : 0;
	}
	for (uint32_t i = 0; i < t->lim.max_pairs && t->used; i++)
		if (t->pairs[i].gen)
			n += rt_leave_pair(t, &t->pairs[i], client, cb, arg);
	return n;
}

/* Token bucket: refill by the time since the last datagram, at most burst;
 * a datagram passes when the bucket holds its size. Integer arithmetic in
 * bytes and nanoseconds (rate * elapsed stays below 2^64 because elapsed is
 * capped at the time it takes to fill the bucket). */
static bool rt_bucket_take(struct bucket *b, uint64_t rate, uint64_t burst, size_t len, uint64_t now_ns)
{
	if (!rate)
		return true;
	if (now_ns > b->last_ns) {
		uint64_t el = now_ns - b->last_ns, full_ns = burst * 1000000000ull / rate + 1;

		if (el >= full_ns) {
			b->tokens = burst;
			b->last_ns = now_ns;
		} else {
			uint64_t credit = el * rate / 1000000000ull;

			/* advance only by the time that earned whole bytes, so that
			 * frequent small steps at a low rate still add up */
			b->last_ns += credit * 1000000000ull / rate;
			b->tokens += credit;
			if (b->tokens >= burst) {
				b->tokens = burst;
				b->last_ns = now_ns;
			}
		}
	}
	if (b->tokens < len)
		return false;
	b->tokens -= len;
	return true;
}

int relay_table_route(struct relay_table *t, uint64_t client, uint32_t channel, size_t len,
		      uint64_t now_ns, uint64_t *to_client, uint32_t *to_channel)
{
	int s;
	struct pair *p = rt_pair_of(t, channel, &s);

	if (!p || !client || p->side[s].client != client) {
		t->c.dropped_bad_channel++;
		return -ENOENT;
	}
	if (len > RELAY_MAX_DATAGRAM) {
		t->c.dropped_oversize++;
		return -EMSGSIZE;
	}
	if (!p->side[!s].client) {
		t->c.dropped_no_peer++;
		return -ENOTCONN;
	}
	if (!rt_bucket_take(&p->bucket[s], t->lim.rate, t->lim.burst, len, now_ns)) {
		t->c.dropped_rate++;
		return -ENOBUFS;
	}
	p->active_ns = now_ns;
	*to_client = p->side[!s].client;
	*to_channel = rt_channel_of((uint32_t)(p - t->pairs), p->gen, !s);
	t->c.forwarded_packets++;
	t->c.forwarded_bytes += len;
	return 0;
}

int relay_table_expire(struct relay_table *t, uint64_t now_ns)
{
	int n = 0;

	for (uint32_t i = 0; i < t->lim.max_pairs && t->used; i++) {
		struct pair *p = &t->pairs[i];

		if (p->gen && now_ns > p->active_ns && now_ns - p->active_ns > t->lim.idle_ns) {
			rt_close_pair(t, p);
			t->c.pairs_expired++;
			n++;
		}
	}
	return n;
}

uint64_t relay_table_peer_of(const struct relay_table *t, uint32_t channel)
{
	int s;
	const struct pair *p = rt_pair_of(t, channel, &s);

	return p ? p->side[!s].client : 0;
}

size_t relay_table_pairs(const struct relay_table *t)
{
	return t->used;
}

const struct relay_counters *relay_table_counters(const struct relay_table *t)
{
	return &t->c;
}
