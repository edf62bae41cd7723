/* kdf.c: the whitepaper's KDF_n (section 5.4), HKDF (RFC 5869) with
 * HMAC-BLAKE2s and an empty info string:
 *   T0 = HMAC(key, input); T1 = HMAC(T0, 0x1); Ti = HMAC(T0, Ti-1 || i). */
#include <string.h>

#include "crypto/crypto.h"

void kdf(uint8_t *t1, uint8_t *t2, uint8_t *t3, const uint8_t *input, size_t input_len,
	 const uint8_t key[BLAKE2S_HASH_LEN])
{
	uint8_t *outs[3] = { t1, t2, t3 };
	size_t n = t3 ? 3 : t2 ? 2 : t1 ? 1 : 0;
	uint8_t prk[BLAKE2S_HASH_LEN];
	uint8_t block[BLAKE2S_HASH_LEN + 1]; /* T(i-1) || i */
	size_t block_len = 0;

	/* key and input are consumed here, before any output is written, so the
	 * Noise handshake may pass its chaining key as both key and t1. */
	hmac_b2s(prk, key, BLAKE2S_HASH_LEN, input, input_len);
	for (size_t i = 1; i <= n; i++) {
		block[block_len] = (uint8_t)i;
		hmac_b2s(block, prk, sizeof(prk), block, block_len + 1);
		block_len = BLAKE2S_HASH_LEN;
		if (outs[i - 1])
			memcpy(outs[i - 1], block, BLAKE2S_HASH_LEN);
	}
	memzero(prk, sizeof(prk));
	memzero(block, sizeof(block));
}
