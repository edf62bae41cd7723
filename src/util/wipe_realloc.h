/* wipe_realloc.h: growing a buffer that may hold secrets. realloc() can hand
 * the old block back to the allocator unwiped, so the move is done by hand:
 * a fresh block, a copy, and a wipe of the old one. */
#ifndef WEFT_WIPE_REALLOC_H
#define WEFT_WIPE_REALLOC_H

#include <stddef.h>

/* Returns a new block of new_size bytes holding the first keep bytes of old
 * (keep <= new_size), after wiping all old_size bytes of old and freeing it.
 * old may be NULL (then keep and old_size are 0). NULL when out of memory,
 * with old untouched and still the caller's. */
void *wipe_realloc(void *old, size_t old_size, size_t keep, size_t new_size);

#endif
