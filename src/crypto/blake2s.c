/* blake2s.c: BLAKE2s (RFC 7693) over libb2 - the one-shot hash and keyed
 * MAC, the incremental hash, and HMAC-BLAKE2s (RFC 2104), which the
 * whitepaper's KDF is built on. */
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <blake2.h>

#include "crypto/crypto.h"

_Static_assert(sizeof(blake2s_state) <= sizeof(struct b2s_ctx), "b2s_ctx too small for libb2");
_Static_assert(alignof(blake2s_state) <= alignof(struct b2s_ctx), "b2s_ctx under-aligned");

enum { HMAC_IPAD = 0x36, HMAC_OPAD = 0x5c };

/* libb2 fails only on lengths outside 1..32 (out) or 0..32 (key) or on NULL
 * with a non-zero length: a caller bug, and an output left unwritten would be
 * used as a key, so stop. */
static void check(int rc, const char *what)
{
	if (rc != 0) {
		fprintf(stderr, "weft: %s: invalid BLAKE2s parameters\n", what);
		abort();
	}
}

void b2s(uint8_t *out, size_t out_len, const uint8_t *in, size_t in_len,
	 const uint8_t *key, size_t key_len)
{
	check(blake2s(out, in, key, out_len, in_len, key_len), "b2s");
}

void b2s_init(struct b2s_ctx *ctx, size_t out_len)
{
	check(blake2s_init((blake2s_state *)ctx, out_len), "b2s_init");
}

void b2s_update(struct b2s_ctx *ctx, const uint8_t *in, size_t in_len)
{
	check(blake2s_update((blake2s_state *)ctx, in, in_len), "b2s_update");
}

void b2s_final(struct b2s_ctx *ctx, uint8_t *out)
{
	blake2s_state *s = (blake2s_state *)ctx;

	check(blake2s_final(s, out, s->outlen), "b2s_final");
	memzero(ctx, sizeof(*ctx));
}

void hmac_b2s(uint8_t out[BLAKE2S_HASH_LEN], const uint8_t *key, size_t key_len,
	      const uint8_t *in, size_t in_len)
{
	uint8_t pad[BLAKE2S_BLOCK_LEN] = { 0 }, inner[BLAKE2S_HASH_LEN];
	blake2s_state s;

	/* RFC 2104: keys longer than a block are hashed first. Copying the key
	 * before anything is written lets out alias key or in. */
	if (key_len > BLAKE2S_BLOCK_LEN)
		b2s(pad, BLAKE2S_HASH_LEN, key, key_len, NULL, 0);
	else if (key_len)
		memcpy(pad, key, key_len);

	for (size_t i = 0; i < sizeof(pad); i++)
		pad[i] ^= HMAC_IPAD;
	check(blake2s_init(&s, BLAKE2S_HASH_LEN), "hmac_b2s");
	blake2s_update(&s, pad, sizeof(pad));
	blake2s_update(&s, in, in_len);
	blake2s_final(&s, inner, sizeof(inner));

	for (size_t i = 0; i < sizeof(pad); i++)
		pad[i] ^= HMAC_IPAD ^ HMAC_OPAD;
	blake2s_init(&s, BLAKE2S_HASH_LEN);
	blake2s_update(&s, pad, sizeof(pad));
	blake2s_update(&s, inner, sizeof(inner));
	blake2s_final(&s, out, BLAKE2S_HASH_LEN);

	memzero(pad, sizeof(pad));
	memzero(inner, sizeof(inner));
	memzero(&s, sizeof(s));
}
