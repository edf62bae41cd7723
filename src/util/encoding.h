/* encoding.h: keys as base64 (configs, wg's output) and hex (UAPI), parsed
 * in constant time so that timing does not leak key bits, as wireguard-tools'
 * encoding.c does. */
#ifndef WEFT_ENCODING_H
#define WEFT_ENCODING_H

#include <stdbool.h>
#include <stdint.h>

#define WEFT_KEY_B64_LEN 44 /* 32 bytes -> 43 chars + '=' */
#define WEFT_KEY_HEX_LEN 64

/* out gets WEFT_KEY_B64_LEN chars plus a NUL. */
void key_to_base64(char out[WEFT_KEY_B64_LEN + 1], const uint8_t key[32]);
/* Exactly 44 chars ending in '=' and canonical; false otherwise. */
bool key_from_base64(uint8_t key[32], const char *b64);
void key_to_hex(char out[WEFT_KEY_HEX_LEN + 1], const uint8_t key[32]);
/* Exactly 64 lower- or upper-case hex digits; false otherwise. */
bool key_from_hex(uint8_t key[32], const char *hex);

#endif
