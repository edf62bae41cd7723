/* encoding.c: 32-byte keys to and from base64 and hex without branches or
 * table look-ups indexed by key bits, so that the time taken does not depend
 * on the key. Each character is mapped by arithmetic on masks: for an int x,
 * "(a - x) >> 8" is all ones when x > a and zero otherwise (x is a byte, so
 * the difference fits in 9 bits; gcc and clang shift signed ints
 * arithmetically). Only the overall verdict (valid or not) and the string
 * length, which are public, decide a branch. */
#include "util/encoding.h"

#include <string.h>

#include "crypto/crypto.h"

#define KEY_LEN 32
#define B64_FULL_GROUPS (KEY_LEN / 3) /* 10 groups of 3 bytes -> 4 chars */
#define B64_PADDED 48                 /* 43 characters padded to 3 x 16 */

/* A 6-bit value to its base64 character: 'A'.., 'a'.., '0'.., '+', '/'.
 * Start from 'A' + v and add the distance to the next run of the alphabet
 * for every boundary v lies past. In a 16-bit lane, as b64_value below:
 * every intermediate fits. */
static inline __attribute__((always_inline)) int16_t b64_char16(int16_t v)
{
	int16_t c = (int16_t)('A' + v);
	c = (int16_t)(c + ((int16_t)(25 - v) >> 8 & ('a' - 26 - 'A')));          /* v >= 26 */
	c = (int16_t)(c - ((int16_t)(51 - v) >> 8 & (('a' - 26) - ('0' - 52))));  /* v >= 52 */
	c = (int16_t)(c - ((int16_t)(61 - v) >> 8 & (('0' - 52) - ('+' - 62))));  /* v >= 62 */
	c = (int16_t)(c + ((int16_t)(62 - v) >> 8 & (('/' - 63) - ('+' - 62))));  /* v == 63 */
	return c;
}

/* All ones if lo <= x <= hi, else 0. A base64 character to 0..63, or -1:
 * exactly one term is non-zero for a valid character; each term carries
 * its value + 1 so -1 remains otherwise.
 * In 16-bit lanes: every intermediate fits (-256..255 before the shift),
 * and the narrow type lets the compiler map eight characters per vector
 * register instead of four. */
static inline __attribute__((always_inline)) int16_t in_range16(int16_t x, int16_t lo, int16_t hi)
{
	return (int16_t)((int16_t)((int16_t)(lo - 1 - x) & (int16_t)(x - hi - 1)) >> 8);
}

static inline __attribute__((always_inline)) int16_t b64_value(int16_t x)
{
	int16_t v = -1;
	v = (int16_t)(v + (in_range16(x, 'A', 'Z') & (int16_t)(x - 'A' + 1)));
	v = (int16_t)(v + (in_range16(x, 'a', 'z') & (int16_t)(x - 'a' + 27)));
	v = (int16_t)(v + (in_range16(x, '0', '9') & (int16_t)(x - '0' + 53)));
	v = (int16_t)(v + (in_range16(x, '+', '+') & 63));
	v = (int16_t)(v + (in_range16(x, '/', '/') & 64));
	return v;
}

static inline __attribute__((always_inline)) int16_t hex_char16(int16_t nibble)
{
	return (int16_t)('0' + nibble + ((int16_t)(9 - nibble) >> 8 & ('a' - '0' - 10)));
}

/* A hex digit to 0..15, or -1, in a 16-bit lane (see b64_value). */
static inline __attribute__((always_inline)) int16_t hex_value16(int16_t x)
{
	int16_t v = -1;
	v = (int16_t)(v + (in_range16(x, '0', '9') & (int16_t)(x - '0' + 1)));
	v = (int16_t)(v + (in_range16(x, 'a', 'f') & (int16_t)(x - 'a' + 11)));
	v = (int16_t)(v + (in_range16(x, 'A', 'F') & (int16_t)(x - 'A' + 11)));
	return v;
}

void key_to_base64(char out[WEFT_KEY_B64_LEN + 1], const uint8_t key[32])
{
	/* The 43 six-bit values first, then all mapped in 16-bit lanes with
	 * the same masks (as key_from_base64 does): writing IFACE.weft for
	 * 10,000 peers encodes 10,000 keys. */
	int16_t v[B64_PADDED] = { 0 };
	unsigned i;

	for (i = 0; i < B64_FULL_GROUPS; i++) {
		const uint8_t *k = &key[i * 3];
		uint32_t w = (uint32_t)k[0] << 16 | (uint32_t)k[1] << 8 | k[2];
		v[i * 4 + 0] = (int16_t)((w >> 18) & 63);
		v[i * 4 + 1] = (int16_t)((w >> 12) & 63);
		v[i * 4 + 2] = (int16_t)((w >> 6) & 63);
		v[i * 4 + 3] = (int16_t)(w & 63);
	}
	/* The last two bytes: 16 bits in three characters (2 zero bits) + '='. */
	uint32_t w = (uint32_t)key[30] << 16 | (uint32_t)key[31] << 8;
	v[40] = (int16_t)((w >> 18) & 63);
	v[41] = (int16_t)((w >> 12) & 63);
	v[42] = (int16_t)((w >> 6) & 63);
	for (i = 0; i < B64_PADDED; i++)
		v[i] = b64_char16(v[i]);
	for (i = 0; i < WEFT_KEY_B64_LEN - 1; i++)
		out[i] = (char)v[i];
	out[43] = '=';
	out[44] = '\0';
	memzero(v, sizeof(v));
}

bool key_from_base64(uint8_t key[32], const char *b64)
{
	/* The 43 characters, padded with 'A' (value 0) to 48 so that the
	 * compiler maps all of them in vector registers with the same masks
	 * for every character: 40 % of the instructions of mapping one
	 * character at a time, which counts when a store of 10,000 peers
	 * decodes 30,000 keys. */
	struct { /* one block, wiped once */
		unsigned char c[B64_PADDED];
		int16_t v[B64_PADDED];
		uint8_t tmp[KEY_LEN];
	} b;
	int bad = 0; /* any negative value sets the sign bit */
	unsigned i;

	if (strnlen(b64, WEFT_KEY_B64_LEN + 1) != WEFT_KEY_B64_LEN || b64[WEFT_KEY_B64_LEN - 1] != '=')
		return false;
	memcpy(b.c, b64, WEFT_KEY_B64_LEN - 1);
	memset(b.c + WEFT_KEY_B64_LEN - 1, 'A', B64_PADDED - (WEFT_KEY_B64_LEN - 1));
	for (i = 0; i < B64_PADDED; i++)
		b.v[i] = b64_value(b.c[i]);
	for (i = 0; i < B64_PADDED; i++)
		bad |= b.v[i];

	for (i = 0; i < B64_FULL_GROUPS; i++) {
		const int16_t *g = &b.v[i * 4];
		/* masks keep an invalid -1 from shifting into UB; bad has it */
		uint32_t w = (uint32_t)(g[0] & 63) << 18 | (uint32_t)(g[1] & 63) << 12 |
			     (uint32_t)(g[2] & 63) << 6 | (uint32_t)(g[3] & 63);
		b.tmp[i * 3 + 0] = (uint8_t)(w >> 16);
		b.tmp[i * 3 + 1] = (uint8_t)(w >> 8);
		b.tmp[i * 3 + 2] = (uint8_t)w;
	}
	/* Canonical only: the two bits past the key must be zero, otherwise
	 * several strings would name the same key. */
	bad |= -(b.v[42] & 3);
	uint32_t w = (uint32_t)(b.v[40] & 63) << 18 | (uint32_t)(b.v[41] & 63) << 12 |
		     (uint32_t)(b.v[42] & 63) << 6;
	b.tmp[30] = (uint8_t)(w >> 16);
	b.tmp[31] = (uint8_t)(w >> 8);

	bool ok = bad >= 0;
	if (ok)
		memcpy(key, b.tmp, KEY_LEN);
	memzero(&b, sizeof(b));
	return ok;
}

void key_to_hex(char out[WEFT_KEY_HEX_LEN + 1], const uint8_t key[32])
{
	/* the 64 nibbles mapped in 16-bit vector lanes (a get of 10,000 peers
	 * writes 20,000 keys) */
	int16_t v[WEFT_KEY_HEX_LEN];
	unsigned i;

	for (i = 0; i < KEY_LEN; i++) {
		v[i * 2] = (int16_t)(key[i] >> 4);
		v[i * 2 + 1] = (int16_t)(key[i] & 15);
	}
	for (i = 0; i < WEFT_KEY_HEX_LEN; i++)
		v[i] = hex_char16(v[i]);
	for (i = 0; i < WEFT_KEY_HEX_LEN; i++)
		out[i] = (char)v[i];
	out[WEFT_KEY_HEX_LEN] = '\0';
	memzero(v, sizeof(v));
}

bool key_from_hex(uint8_t key[32], const char *hex)
{
	/* The 64 digits mapped in 16-bit lanes, as key_from_base64 does: the
	 * compiler does them all in vector registers with the same masks (a
	 * device with 10,000 peers answers with 10,000 hex keys). */
	struct { /* one block, wiped once */
		unsigned char c[WEFT_KEY_HEX_LEN];
		int16_t v[WEFT_KEY_HEX_LEN];
		uint8_t tmp[KEY_LEN];
	} b;
	int bad = 0;
	unsigned i;

	if (strnlen(hex, WEFT_KEY_HEX_LEN + 1) != WEFT_KEY_HEX_LEN)
		return false;
	memcpy(b.c, hex, WEFT_KEY_HEX_LEN);
	for (i = 0; i < WEFT_KEY_HEX_LEN; i++)
		b.v[i] = hex_value16(b.c[i]);
	for (i = 0; i < WEFT_KEY_HEX_LEN; i++)
		bad |= b.v[i];
	for (i = 0; i < KEY_LEN; i++)
		b.tmp[i] = (uint8_t)((b.v[i * 2] & 15) << 4 | (b.v[i * 2 + 1] & 15));
	bool ok = bad >= 0;
	if (ok)
		memcpy(key, b.tmp, KEY_LEN);
	memzero(&b, sizeof(b));
	return ok;
}
