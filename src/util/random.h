/* random.h: bytes from the kernel's CSPRNG (getrandom), for keys and for
 * the engine's random source. */
#ifndef WEFT_RANDOM_H
#define WEFT_RANDOM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Fills out completely; false with errno set if the kernel refused. */
bool random_fill(uint8_t *out, size_t len);

#endif
