/* hashtable.h: an open-addressing table of pointers, keyed by a 64-bit hash
 * the caller computes. It holds receiver indices (whose hash is the random
 * index itself) and peers by public key (a keyed SipHash of the key). Linear
 * probing with backward-shift deletion: no tombstones, so lookups stay short
 * after any number of removals. Grows at 50 % load. Lookups never allocate. */
#ifndef WEFT_HASHTABLE_H
#define WEFT_HASHTABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hashtable {
	uint64_t *hashes;
	void **items; /* NULL = empty slot */
	size_t cap;   /* a power of two, or 0 */
	size_t count;
};

void hashtable_free(struct hashtable *t);
/* Adds item under hash (several items may share a hash). 0 or -ENOMEM. */
int hashtable_add(struct hashtable *t, uint64_t hash, void *item);
/* Removes this exact item; false if it was not there. */
bool hashtable_remove(struct hashtable *t, uint64_t hash, const void *item);

/* Iterates the items stored under hash: start with *cursor = 0, returns
 * NULL at the end. The table must not change during the iteration. */
void *hashtable_next(const struct hashtable *t, uint64_t hash, size_t *cursor);

#endif
