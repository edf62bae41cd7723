/* wipe_realloc.c: see wipe_realloc.h. */
#include "util/wipe_realloc.h"

#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"

void *wipe_realloc(void *old, size_t old_size, size_t keep, size_t new_size)
{
	void *fresh = malloc(new_size);

	if (!fresh)
		return NULL;
	if (old) {
		memcpy(fresh, old, keep);
		memzero(old, old_size);
		free(old);
	}
	return fresh;
}
