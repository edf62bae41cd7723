/* hashtable.c: open addressing with linear probing; see hashtable.h. */
#include <errno.h>
#include <stdlib.h>

#include "wg/hashtable.h"

void hashtable_free(struct hashtable *t)
{
	free(t->hashes);
	free(t->items);
	*t = (struct hashtable){ 0 };
}

static void place(uint64_t *hashes, void **items, size_t cap, uint64_t hash, void *item)
{
	size_t i = hash & (cap - 1);
	while (items[i])
		i = (i + 1) & (cap - 1);
	hashes[i] = hash;
	items[i] = item;
}

static int grow(struct hashtable *t)
{
	size_t cap = t->cap ? t->cap * 2 : 16;
	uint64_t *hashes = calloc(cap, sizeof(*hashes));
	void **items = calloc(cap, sizeof(*items));
	if (!hashes || !items) {
		free(hashes);
		free(items);
		return -ENOMEM;
	}
	for (size_t i = 0; i < t->cap; i++)
		if (t->items[i])
			place(hashes, items, cap, t->hashes[i], t->items[i]);
	free(t->hashes);
	free(t->items);
	t->hashes = hashes;
	t->items = items;
	t->cap = cap;
	return 0;
}

int hashtable_add(struct hashtable *t, uint64_t hash, void *item)
{
	if ((t->count + 1) * 2 > t->cap) {
		int ret = grow(t);
		if (ret)
			return ret;
	}
	place(t->hashes, t->items, t->cap, hash, item);
	t->count++;
	return 0;
}

bool hashtable_remove(struct hashtable *t, uint64_t hash, const void *item)
{
	if (!t->cap)
		return false;
	size_t mask = t->cap - 1, i = hash & mask;
	while (t->items[i] && t->items[i] != item)
		i = (i + 1) & mask;
	if (!t->items[i])
		return false;
	/* Backward shift: pull later entries of the probe run into the hole
	 * unless that would move them before their home slot. */
	for (size_t j = (i + 1) & mask; t->items[j]; j = (j + 1) & mask) {
		size_t home = t->hashes[j] & mask;
		if (((j - home) & mask) >= ((j - i) & mask)) {
			t->hashes[i] = t->hashes[j];
			t->items[i] = t->items[j];
			i = j;
		}
	}
	t->items[i] = NULL;
	t->count--;
	return true;
}

void *hashtable_next(const struct hashtable *t, uint64_t hash, size_t *cursor)
{
	if (!t->cap)
		return NULL;
	size_t mask = t->cap - 1;
	for (size_t n = *cursor; n <= mask; n++) {
		size_t i = (hash + n) & mask;
		if (!t->items[i])
			return NULL;
		if (t->hashes[i] == hash) {
			*cursor = n + 1;
			return t->items[i];
		}
	}
	return NULL;
}
