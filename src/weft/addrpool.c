/* addrpool.c: the radix trie with use counts behind addrpool.h. Addresses
 * become 128-bit offsets from the network address; the node at depth d
 * covers 2^(host bits - d) offsets, and its count says how many are used.
 *
 * Invariants: a node's count is the sum of its children's (absent = 0),
 * except a full node, which may have no children at all (a marked range, or
 * a subtree collapsed once it filled up). A node whose count drops to 0 is
 * freed. So "lowest free" walks left unless the left child is full: one
 * step per host bit. */
#include "addrpool.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

typedef unsigned __int128 u128;

#define MAX_HOST_BITS 128
#define IPV4_BITS 32
#define IPV6_BITS 128
/* Below this many host bits a network has no room to set aside its network
 * and broadcast addresses (RFC 3021 point-to-point /31, a /32 host). */
#define MIN_BITS_FOR_SPECIAL 2

struct node {
	struct node *child[2];
	u128 used;
};

struct addrpool {
	struct conf_prefix net;
	u128 base;
	unsigned bits; /* host bits: 0..32 or 0..127 */
	struct node *root;
	u128 *reserved; /* offsets; a handful (interface addresses) */
	size_t n_reserved, cap_reserved;
};

static unsigned family_bits(uint8_t family)
{
	return family == AF_INET ? IPV4_BITS : family == AF_INET6 ? IPV6_BITS : 0;
}

static u128 addr_to_u128(const struct conf_addr *a)
{
	unsigned n = family_bits(a->family) / 8;
	u128 v = 0;

	for (unsigned i = 0; i < n; i++)
		v = (v << 8) | a->bytes[i];
	return v;
}

static void u128_to_addr(struct conf_addr *a, uint8_t family, u128 v)
{
	unsigned n = family_bits(family) / 8;

	memset(a, 0, sizeof(*a));
	a->family = family;
	for (unsigned i = n; i-- > 0; v >>= 8)
		a->bytes[i] = (uint8_t)v;
}

/* v with its low_bits (< 128) lowest bits cleared. */
static u128 round_down(u128 v, unsigned low_bits)
{
	return v & ~(((u128)1 << low_bits) - 1);
}

static u128 block_size(const struct addrpool *p, unsigned depth)
{
	return (u128)1 << (p->bits - depth);
}

static bool is_full(const struct addrpool *p, const struct node *n, unsigned depth)
{
	return n && n->used == block_size(p, depth);
}

/* The branch taken at depth by offset off. */
static unsigned branch(const struct addrpool *p, u128 off, unsigned depth)
{
	return (unsigned)(off >> (p->bits - 1 - depth)) & 1;
}

static void free_tree(struct node *n)
{
	if (!n)
		return;
	free_tree(n->child[0]);
	free_tree(n->child[1]);
	free(n);
}

static void drop_children(struct node *n)
{
	free_tree(n->child[0]);
	free_tree(n->child[1]);
	n->child[0] = n->child[1] = NULL;
}

/* Frees the empty nodes at the bottom of a path (path[0] is the root). */
static void prune(struct addrpool *p, struct node **path, unsigned depth, u128 off)
{
	for (unsigned d = depth + 1; d-- > 0;) {
		struct node *n = path[d];

		if (n->used || n->child[0] || n->child[1])
			return;
		free(n);
		if (d == 0)
			p->root = NULL;
		else
			path[d - 1]->child[branch(p, off, d - 1)] = NULL;
	}
}

/* Marks the whole block at depth that contains off as used. */
static int mark_block(struct addrpool *p, u128 off, unsigned depth)
{
	struct node *path[MAX_HOST_BITS + 1];
	struct node **link = &p->root;
	u128 delta;

	for (unsigned d = 0;; d++) {
		struct node *n = *link;

		if (!n) {
			n = calloc(1, sizeof(*n));
			if (!n) {
				if (d)
					prune(p, path, d - 1, off);
				return -ENOMEM;
			}
			*link = n;
		} else if (is_full(p, n, d)) {
			return 0; /* the block lies in one that is used already */
		}
		path[d] = n;
		if (d == depth)
			break;
		link = &n->child[branch(p, off, d)];
	}
	delta = block_size(p, depth) - path[depth]->used;
	drop_children(path[depth]);
	path[depth]->used = block_size(p, depth);
	for (unsigned d = depth; d-- > 0;) {
		path[d]->used += delta;
		if (is_full(p, path[d], d))
			drop_children(path[d]); /* collapse: one node says it all */
	}
	return 0;
}

static int offset_of(const struct addrpool *p, const struct conf_addr *a, u128 *off)
{
	if (!addrpool_contains(p, a))
		return -ERANGE;
	*off = addr_to_u128(a) - p->base;
	return 0;
}

static bool is_reserved(const struct addrpool *p, u128 off)
{
	for (size_t i = 0; i < p->n_reserved; i++)
		if (p->reserved[i] == off)
			return true;
	return false;
}

int addrpool_new(struct addrpool **out, const struct conf_prefix *network)
{
	unsigned fbits = family_bits(network->addr.family);
	struct addrpool *p;

	*out = NULL;
	if (!fbits || network->cidr > fbits || (fbits - network->cidr) >= MAX_HOST_BITS)
		return -EINVAL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->bits = fbits - network->cidr;
	p->base = round_down(addr_to_u128(&network->addr), p->bits);
	u128_to_addr(&p->net.addr, network->addr.family, p->base);
	p->net.cidr = network->cidr;
	*out = p;
	return 0;
}

int addrpool_new_for_address(struct addrpool **out, const struct conf_prefix *address)
{
	struct addrpool *p;
	struct conf_addr a;
	int ret = addrpool_new(&p, address);

	if (ret < 0)
		return ret;
	ret = addrpool_reserve(p, &address->addr);
	if (!ret && p->bits >= MIN_BITS_FOR_SPECIAL) {
		u128_to_addr(&a, p->net.addr.family, p->base);
		ret = addrpool_reserve(p, &a);
		if (!ret && p->net.addr.family == AF_INET) {
			u128_to_addr(&a, AF_INET, p->base + block_size(p, 0) - 1);
			ret = addrpool_reserve(p, &a);
		}
	}
	if (ret < 0) {
		addrpool_free(p);
		return ret;
	}
	*out = p;
	return 0;
}

void addrpool_free(struct addrpool *pool)
{
	if (!pool)
		return;
	free_tree(pool->root);
	free(pool->reserved);
	free(pool);
}

const struct conf_prefix *addrpool_network(const struct addrpool *pool)
{
	return &pool->net;
}

bool addrpool_contains(const struct addrpool *pool, const struct conf_addr *a)
{
	u128 v;

	if (a->family != pool->net.addr.family)
		return false;
	v = addr_to_u128(a);
	/* bits < 128 (addrpool_new), so the shift is defined */
	return (v >> pool->bits) == (pool->base >> pool->bits);
}

bool addrpool_covers(const struct addrpool *pool, const struct conf_prefix *range)
{
	return range->addr.family == pool->net.addr.family && range->cidr >= pool->net.cidr &&
	       range->cidr <= family_bits(range->addr.family) && addrpool_contains(pool, &range->addr);
}

int addrpool_reserve(struct addrpool *pool, const struct conf_addr *a)
{
	u128 off;
	int ret = offset_of(pool, a, &off);

	if (ret < 0)
		return ret;
	if (is_reserved(pool, off))
		return 0;
	if (pool->n_reserved == pool->cap_reserved) {
		size_t cap = pool->cap_reserved ? pool->cap_reserved * 2 : 4;
		u128 *v = realloc(pool->reserved, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		pool->reserved = v;
		pool->cap_reserved = cap;
	}
	ret = mark_block(pool, off, pool->bits);
	if (ret < 0)
		return ret;
	pool->reserved[pool->n_reserved++] = off;
	return 0;
}

int addrpool_mark(struct addrpool *pool, const struct conf_prefix *range)
{
	unsigned depth;
	u128 off;

	if (!addrpool_covers(pool, range))
		return -ERANGE;
	depth = range->cidr - pool->net.cidr;
	off = round_down(addr_to_u128(&range->addr) - pool->base, pool->bits - depth);
	return mark_block(pool, off, depth);
}

int addrpool_take(struct addrpool *pool, struct conf_addr *out)
{
	const struct node *n = pool->root;
	u128 off = 0;
	int ret;

	if (is_full(pool, n, 0))
		return -ENOSPC;
	/* n is never full here: the root was not, and a child is entered only
	 * when it is not full (left) or when its full sibling leaves the
	 * parent's free addresses all to it (right). */
	for (unsigned d = 0; n && d < pool->bits; d++) {
		const struct node *left = n->child[0];

		if (!left || !is_full(pool, left, d + 1)) {
			n = left;
		} else {
			off |= (u128)1 << (pool->bits - 1 - d);
			n = n->child[1];
		}
	}
	ret = mark_block(pool, off, pool->bits);
	if (ret < 0)
		return ret;
	u128_to_addr(out, pool->net.addr.family, pool->base + off);
	return 0;
}

int addrpool_release(struct addrpool *pool, const struct conf_addr *a)
{
	struct node *path[MAX_HOST_BITS + 1];
	struct node **link = &pool->root;
	u128 off;
	int ret = offset_of(pool, a, &off);

	if (ret < 0)
		return ret;
	if (is_reserved(pool, off))
		return -EPERM;
	for (unsigned d = 0;; d++) {
		struct node *n = *link;

		if (!n)
			return -ENOENT;
		path[d] = n;
		if (d == pool->bits)
			break;
		if (!n->child[0] && !n->child[1] && is_full(pool, n, d)) {
			/* A whole used block: split it so one address can go. */
			struct node *l = calloc(1, sizeof(*l)), *r = calloc(1, sizeof(*r));

			if (!l || !r) {
				free(l);
				free(r);
				return -ENOMEM;
			}
			l->used = r->used = block_size(pool, d + 1);
			n->child[0] = l;
			n->child[1] = r;
		}
		link = &n->child[branch(pool, off, d)];
	}
	for (unsigned d = 0; d <= pool->bits; d++)
		path[d]->used--;
	prune(pool, path, pool->bits, off);
	return 0;
}

bool addrpool_is_used(const struct addrpool *pool, const struct conf_addr *a)
{
	const struct node *n = pool->root;
	u128 off;

	if (offset_of(pool, a, &off) < 0)
		return false;
	for (unsigned d = 0; n; d++) {
		if (is_full(pool, n, d))
			return true;
		if (d == pool->bits)
			return false;
		n = n->child[branch(pool, off, d)];
	}
	return false;
}

uint64_t addrpool_free_count(const struct addrpool *pool)
{
	u128 left = block_size(pool, 0) - (pool->root ? pool->root->used : 0);

	return left > UINT64_MAX ? UINT64_MAX : (uint64_t)left;
}
