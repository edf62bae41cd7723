/* allowedips.c: the cryptokey routing table, a path-compressed binary trie
 * per address family plus a list of prefixes per owner.
 *
 * Shape. Every node is a prefix (key, cidr). A child extends its parent's
 * prefix, and bit number `cidr` of the child's key (counting from the most
 * significant bit) says which of the parent's two slots it sits in. Runs of
 * single-child nodes are skipped (path compression), so a node either carries
 * an owner or is a branch point with exactly two children. That invariant
 * makes the trie canonical for a given set of prefixes: removing what was
 * added gives back exactly the nodes there were before, so add/remove cycles
 * cannot leak. With n prefixes there are at most 2n - 1 nodes.
 *
 * Keys are stored as host-order 64-bit words, most significant bit first:
 * IPv4 uses one word (the address in the high 32 bits), IPv6 two. An IPv4
 * node is 56 bytes (64 with malloc's header); an IPv6 node 64 (80). With the
 * branch points, a table of n /32s takes about 128 bytes a prefix (measured:
 * 122 MiB for a million peers).
 *
 * Lookup walks down while the node's prefix matches and remembers the last
 * owner seen: O(prefix length), no allocation, no writes. Insert and remove
 * also walk from the root; nodes keep no parent pointer because a removal
 * only ever needs the slot of the node and of its parent.
 *
 * Each owner's prefixes are a doubly linked list: `next` ends in NULL, and
 * the first node's `prev` points at the last, so appending (insertion order)
 * and unlinking are both O(1). */
#include "wg/allowedips.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

enum {
	IPV4_BITS = 32,
	IPV6_BITS = 128,
	WORD_BITS = 64,
};

struct allowedips_node {
	struct allowedips_owner *owner;       /* NULL: only a branch point */
	struct allowedips_node *child[2];
	struct allowedips_node *next, *prev;  /* owner's list, see above */
	uint8_t cidr;
	uint8_t is6;
	uint64_t key[];                       /* 1 word (IPv4) or 2 (IPv6), host bits zero */
};

static bool family_ok(int family, bool *is6, unsigned *max_bits)
{
	if (family == AF_INET) {
		*is6 = false;
		*max_bits = IPV4_BITS;
		return true;
	}
	if (family == AF_INET6) {
		*is6 = true;
		*max_bits = IPV6_BITS;
		return true;
	}
	return false;
}

static uint64_t load_be(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

static void store_be(uint8_t *p, uint64_t v, unsigned n)
{
	for (unsigned i = n; i-- > 0; v >>= 8)
		p[i] = (uint8_t)v;
}

/* The first `bits` bits of a word set (0..64). */
static inline uint64_t mask64(unsigned bits)
{
	return bits ? ~UINT64_C(0) << (WORD_BITS - bits) : 0;
}

static void to_key(uint64_t key[2], bool is6, const uint8_t *ip)
{
	if (is6) {
		key[0] = load_be(ip, 8);
		key[1] = load_be(ip + 8, 8);
	} else {
		key[0] = load_be(ip, 4) << 32;
		key[1] = 0;
	}
}

static void mask_key(uint64_t key[2], unsigned cidr)
{
	key[0] &= mask64(cidr < WORD_BITS ? cidr : WORD_BITS);
	key[1] &= mask64(cidr > WORD_BITS ? cidr - WORD_BITS : 0);
}

static inline unsigned bit_at(const uint64_t *key, unsigned i)
{
	return i < WORD_BITS ? (unsigned)(key[0] >> (WORD_BITS - 1 - i)) & 1
			     : (unsigned)(key[1] >> (2 * WORD_BITS - 1 - i)) & 1;
}

/* Does the node's prefix cover key? Reads key[1] of the node only for
 * cidr > 64, which only IPv6 nodes (that have it) can have. */
static inline bool covers(const struct allowedips_node *n, const uint64_t *key)
{
	if (n->cidr <= WORD_BITS)
		return ((key[0] ^ n->key[0]) & mask64(n->cidr)) == 0;
	return key[0] == n->key[0] && ((key[1] ^ n->key[1]) & mask64(n->cidr - WORD_BITS)) == 0;
}

/* Length of the common leading bits of key and the node's key, at most limit
 * (limit <= n->cidr, so only words the node has are read). */
static unsigned common_bits(const struct allowedips_node *n, const uint64_t *key, unsigned limit)
{
	unsigned len;
	uint64_t x = key[0] ^ n->key[0];
	if (x)
		len = (unsigned)__builtin_clzll(x);
	else if (limit <= WORD_BITS)
		len = WORD_BITS;
	else if ((x = key[1] ^ n->key[1]))
		len = WORD_BITS + (unsigned)__builtin_clzll(x);
	else
		len = 2 * WORD_BITS;
	return len < limit ? len : limit;
}

static struct allowedips_node *node_new(bool is6, const uint64_t key[2], unsigned cidr)
{
	unsigned words = is6 ? 2 : 1;
	struct allowedips_node *n = calloc(1, sizeof(*n) + words * sizeof(uint64_t));
	if (!n)
		return NULL;
	uint64_t k[2] = { key[0], key[1] };
	mask_key(k, cidr);
	memcpy(n->key, k, words * sizeof(uint64_t));
	n->cidr = (uint8_t)cidr;
	n->is6 = is6;
	return n;
}

static void list_append(struct allowedips_owner *o, struct allowedips_node *n)
{
	n->next = NULL;
	if (!o->first) {
		o->first = n;
		n->prev = n;
	} else {
		struct allowedips_node *last = o->first->prev;
		last->next = n;
		n->prev = last;
		o->first->prev = n;
	}
	o->count++;
}

static void list_unlink(struct allowedips_owner *o, struct allowedips_node *n)
{
	if (n == o->first) {
		o->first = n->next;
		if (o->first)
			o->first->prev = n->prev;
	} else {
		n->prev->next = n->next;
		if (n->next)
			n->next->prev = n->prev;
		else
			o->first->prev = n->prev;
	}
	n->next = n->prev = NULL;
	o->count--;
}

/* Gives n to owner (appended to its list, as the Linux module does even when
 * the owner does not change), counting it if it was only a branch point. */
static void set_owner(struct allowedips *t, struct allowedips_node *n, struct allowedips_owner *owner)
{
	if (n->owner)
		list_unlink(n->owner, n);
	else
		t->count++;
	n->owner = owner;
	list_append(owner, n);
}

void allowedips_init(struct allowedips *t)
{
	memset(t, 0, sizeof(*t));
}

/* Depth is at most 129 (cidr strictly grows going down), so recursion is fine. */
static void free_subtree(struct allowedips_node *n)
{
	if (!n)
		return;
	free_subtree(n->child[0]);
	free_subtree(n->child[1]);
	if (n->owner) {
		n->owner->first = NULL;
		n->owner->count = 0;
	}
	free(n);
}

void allowedips_free(struct allowedips *t)
{
	free_subtree(t->root4);
	free_subtree(t->root6);
	allowedips_init(t);
}

int allowedips_insert(struct allowedips *t, int family, const uint8_t *ip, uint8_t cidr,
		      struct allowedips_owner *owner)
{
	bool is6;
	unsigned max_bits;
	if (!family_ok(family, &is6, &max_bits) || cidr > max_bits || !ip || !owner)
		return -EINVAL;
	uint64_t key[2];
	to_key(key, is6, ip);
	mask_key(key, cidr);

	struct allowedips_node **slot = is6 ? &t->root6 : &t->root4, *n;
	while ((n = *slot)) {
		unsigned common = common_bits(n, key, cidr < n->cidr ? cidr : n->cidr);
		if (common == n->cidr) {
			if (cidr == n->cidr) { /* the prefix exists: (re)assign it */
				set_owner(t, n, owner);
				return 0;
			}
			slot = &n->child[bit_at(key, n->cidr)];
			continue;
		}
		/* The new prefix leaves n's path at bit `common`. */
		struct allowedips_node *leaf = node_new(is6, key, cidr);
		if (!leaf)
			return -ENOMEM;
		if (common == cidr) { /* it covers n: n hangs below it */
			leaf->child[bit_at(n->key, cidr)] = n;
		} else { /* they part ways: a branch point joins them */
			struct allowedips_node *fork = node_new(is6, key, common);
			if (!fork) {
				free(leaf);
				return -ENOMEM;
			}
			fork->child[bit_at(key, common)] = leaf;
			fork->child[bit_at(n->key, common)] = n;
			*slot = fork;
			set_owner(t, leaf, owner);
			return 0;
		}
		*slot = leaf;
		set_owner(t, leaf, owner);
		return 0;
	}
	if (!(n = node_new(is6, key, cidr)))
		return -ENOMEM;
	*slot = n;
	set_owner(t, n, owner);
	return 0;
}

/* The slot holding the node for exactly (key, cidr), and its parent's slot
 * (NULL at the root); NULL when there is no such node. */
static struct allowedips_node **find_slot(struct allowedips_node **slot, const uint64_t *key,
					  unsigned cidr, struct allowedips_node ***parent_slot)
{
	struct allowedips_node **parent = NULL, *n;
	while ((n = *slot) && n->cidr <= cidr && covers(n, key)) {
		if (n->cidr == cidr) {
			*parent_slot = parent;
			return slot;
		}
		parent = slot;
		slot = &n->child[bit_at(key, n->cidr)];
	}
	return NULL;
}

/* Takes the owner away from the node at *slot and restores the invariant:
 * an ownerless node with fewer than two children goes, and if it was a leaf
 * its parent may be left as an ownerless node with one child, which goes too.
 * Nothing above that changes, since the parent's slot stays filled. */
static void drop(struct allowedips *t, struct allowedips_node **slot,
		 struct allowedips_node **parent_slot)
{
	struct allowedips_node *n = *slot;
	list_unlink(n->owner, n);
	n->owner = NULL;
	t->count--;
	if (n->child[0] && n->child[1])
		return; /* still a branch point */
	struct allowedips_node *only = n->child[0] ? n->child[0] : n->child[1];
	*slot = only;
	free(n);
	if (only || !parent_slot)
		return;
	struct allowedips_node *p = *parent_slot;
	if (p->owner)
		return;
	*parent_slot = p->child[0] ? p->child[0] : p->child[1];
	free(p);
}

int allowedips_remove(struct allowedips *t, int family, const uint8_t *ip, uint8_t cidr,
		      struct allowedips_owner *owner)
{
	bool is6;
	unsigned max_bits;
	if (!family_ok(family, &is6, &max_bits) || cidr > max_bits || !ip)
		return -EINVAL;
	uint64_t key[2];
	to_key(key, is6, ip);
	mask_key(key, cidr);
	struct allowedips_node **parent_slot;
	struct allowedips_node **slot = find_slot(is6 ? &t->root6 : &t->root4, key, cidr, &parent_slot);
	if (!slot || !owner || (*slot)->owner != owner)
		return -ENOENT;
	drop(t, slot, parent_slot);
	return 0;
}

void allowedips_remove_owner(struct allowedips *t, struct allowedips_owner *owner)
{
	struct allowedips_node *n;
	while ((n = owner->first)) {
		uint64_t key[2] = { n->key[0], n->is6 ? n->key[1] : 0 };
		struct allowedips_node **parent_slot;
		struct allowedips_node **slot =
			find_slot(n->is6 ? &t->root6 : &t->root4, key, n->cidr, &parent_slot);
		if (!slot || *slot != n) /* a node on the list is always in the trie */
			abort();
		drop(t, slot, parent_slot);
	}
}

struct allowedips_owner *allowedips_lookup(const struct allowedips *t, int family,
					   const uint8_t *ip)
{
	bool is6;
	unsigned max_bits;
	if (!family_ok(family, &is6, &max_bits))
		return NULL;
	uint64_t key[2];
	to_key(key, is6, ip);
	struct allowedips_owner *best = NULL;
	const struct allowedips_node *n = is6 ? t->root6 : t->root4;
	while (n && covers(n, key)) {
		if (n->owner)
			best = n->owner;
		if (n->cidr == max_bits)
			break;
		n = n->child[bit_at(key, n->cidr)];
	}
	return best;
}

int allowedips_walk_owner(const struct allowedips_owner *owner,
			  int (*fn)(void *ctx, int family, const uint8_t *ip, uint8_t cidr),
			  void *ctx)
{
	for (const struct allowedips_node *n = owner->first; n; n = n->next) {
		uint8_t ip[16];
		int ret;
		if (n->is6) {
			store_be(ip, n->key[0], 8);
			store_be(ip + 8, n->key[1], 8);
			ret = fn(ctx, AF_INET6, ip, n->cidr);
		} else {
			store_be(ip, n->key[0] >> 32, 4);
			ret = fn(ctx, AF_INET, ip, n->cidr);
		}
		if (ret)
			return ret;
	}
	return 0;
}
