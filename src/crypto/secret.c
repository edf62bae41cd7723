/* secret.c: handling of secrets - wiping them so the compiler cannot elide
 * the store, and comparing them in time that does not depend on the data. */
#include <sodium.h>

#include "crypto/crypto.h"

void memzero(void *p, size_t n)
{
	if (n)
		sodium_memzero(p, n);
}

bool memeq_ct(const void *a, const void *b, size_t n)
{
	return sodium_memcmp(a, b, n) == 0;
}

bool is_zero_ct(const void *a, size_t n)
{
	return sodium_is_zero(a, n) == 1;
}
