/* keygen.c: fresh private keys, for genkey, `interface add` and `peer add`:
 * random bytes from the kernel, clamped as X25519 wants them. */
#include "crypto/crypto.h"
#include "keygen.h"
#include "util/random.h"

bool generate_private_key(uint8_t key[X25519_KEY_LEN])
{
	if (!random_fill(key, X25519_KEY_LEN))
		return false;
	x25519_generate_private(key, key);
	return true;
}
