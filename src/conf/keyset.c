/* keyset.c: the parser's set of peer public keys, so that a config with a
 * million peers finds duplicates in linear time. Indices into the peer array
 * are stored rather than pointers because the array moves as it grows; each
 * slot also keeps 32 bits of the key's hash, so growing never rehashes a key
 * and a probe rarely has to touch the (cold) peer itself. */
#include "conf/conf_internal.h"

#include "crypto/crypto.h"

#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define KEYSET_MIN_SLOTS 64u /* power of two; load factor kept <= 1/2 */

static uint32_t hash_of(const struct conf_keyset *set, const uint8_t key[CONF_KEY_LEN])
{
	uint8_t h[crypto_shorthash_BYTES];
	uint32_t v;

	crypto_shorthash(h, key, CONF_KEY_LEN, set->hash_key);
	memcpy(&v, h, sizeof(v));
	return v;
}

int conf_keyset_init(struct conf_keyset *set)
{
	return conf_keyset_init_stride(set, sizeof(struct conf_peer));
}

int conf_keyset_init_stride(struct conf_keyset *set, size_t stride)
{
	memset(set, 0, sizeof(*set));
	set->stride = stride;
	int ret = crypto_init(); /* libsodium's RNG and SipHash */
	if (ret)
		return ret;
	randombytes_buf(set->hash_key, sizeof(set->hash_key));
	set->slots = calloc(KEYSET_MIN_SLOTS, sizeof(*set->slots));
	set->hashes = calloc(KEYSET_MIN_SLOTS, sizeof(*set->hashes));
	if (!set->slots || !set->hashes) {
		conf_keyset_free(set);
		return -ENOMEM;
	}
	set->mask = KEYSET_MIN_SLOTS - 1;
	return 0;
}

void conf_keyset_free(struct conf_keyset *set)
{
	free(set->slots);
	free(set->hashes);
	memset(set, 0, sizeof(*set));
}

static int rehash(struct conf_keyset *set)
{
	uint32_t old_n = set->mask + 1, new_n = old_n * 2;
	uint32_t *old = set->slots, *old_h = set->hashes;
	uint32_t *slots = calloc(new_n, sizeof(*slots)), *hashes = calloc(new_n, sizeof(*hashes));

	if (!slots || !hashes) {
		free(slots);
		free(hashes);
		return -ENOMEM;
	}
	set->slots = slots;
	set->hashes = hashes;
	set->mask = new_n - 1;
	for (uint32_t i = 0; i < old_n; i++) {
		if (!old[i])
			continue;
		uint32_t s = old_h[i] & set->mask;
		while (slots[s])
			s = (s + 1) & set->mask;
		slots[s] = old[i];
		hashes[s] = old_h[i];
	}
	free(old);
	free(old_h);
	return 0;
}

/* The slot of key: the one that holds it, or the empty one where the probe
 * from its hash ends. */
static const uint8_t *key_at(const struct conf_keyset *set, const void *base, uint32_t idx)
{
	return (const uint8_t *)base + (size_t)idx * set->stride;
}

static uint32_t probe(const struct conf_keyset *set, const void *base,
		      const uint8_t key[CONF_KEY_LEN], uint32_t h)
{
	uint32_t s = h & set->mask;

	while (set->slots[s] && !(set->hashes[s] == h &&
				  !memcmp(key_at(set, base, set->slots[s] - 1), key, CONF_KEY_LEN)))
		s = (s + 1) & set->mask;
	return s;
}

int conf_keyset_insert(struct conf_keyset *set, const void *peers, uint32_t idx,
		       uint32_t *existing)
{
	if ((set->count + 1) * 2 > set->mask + 1) {
		int ret = rehash(set);
		if (ret)
			return ret;
	}
	const uint8_t *key = key_at(set, peers, idx);
	uint32_t h = hash_of(set, key);
	uint32_t s = probe(set, peers, key, h);
	if (set->slots[s]) {
		*existing = set->slots[s] - 1;
		return -EEXIST;
	}
	set->slots[s] = idx + 1;
	set->hashes[s] = h;
	set->count++;
	return 0;
}

bool conf_keyset_find(const struct conf_keyset *set, const void *peers,
		      const uint8_t key[CONF_KEY_LEN], uint32_t *idx)
{
	uint32_t s = probe(set, peers, key, hash_of(set, key));

	if (!set->slots[s])
		return false;
	*idx = set->slots[s] - 1;
	return true;
}
