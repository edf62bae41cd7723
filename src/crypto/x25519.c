/* x25519.c: Curve25519 Diffie-Hellman (RFC 7748) over libsodium. Through
 * OpenSSL 3 each call would build EVP_PKEY objects from the raw keys, which
 * bench/crypto_bench.c measured at twice libsodium's time for a shared
 * secret (docs/crypto-bench.md). */
#include <string.h>
#include <sodium.h>

#include "crypto/crypto.h"

void x25519_generate_private(uint8_t priv[X25519_KEY_LEN], const uint8_t random[X25519_KEY_LEN])
{
	memmove(priv, random, X25519_KEY_LEN);
	/* RFC 7748 section 5 clamping, stored so the key file holds what is used. */
	priv[0] &= 248;
	priv[31] = (priv[31] & 127) | 64;
}

bool x25519_public(uint8_t pub[X25519_KEY_LEN], const uint8_t priv[X25519_KEY_LEN])
{
	uint8_t out[X25519_KEY_LEN];
	bool ok = crypto_scalarmult_base(out, priv) == 0;

	memcpy(pub, ok ? out : (const uint8_t[X25519_KEY_LEN]){ 0 }, X25519_KEY_LEN);
	memzero(out, sizeof(out));
	return ok;
}

bool x25519(uint8_t shared[X25519_KEY_LEN], const uint8_t priv[X25519_KEY_LEN],
	    const uint8_t pub[X25519_KEY_LEN])
{
	uint8_t out[X25519_KEY_LEN];
	/* libsodium returns -1 for an all-zero result (and for the small-order
	 * points that produce one), the rejection whitepaper section 5.2 asks for.
	 * A temporary keeps shared free to alias priv or pub. */
	bool ok = crypto_scalarmult(out, priv, pub) == 0 && !is_zero_ct(out, sizeof(out));

	if (ok)
		memcpy(shared, out, X25519_KEY_LEN);
	else
		memzero(shared, X25519_KEY_LEN);
	memzero(out, sizeof(out));
	return ok;
}
