/* test_encoding.c: util/encoding.c against a key pair made by wireguard-tools
 * and against a deliberately naive table-driven base64/hex reference. */
#include "test.h"

#include "crypto/crypto.h"
#include "util/encoding.h"

/* Made once with `wg genkey | tee k | wg pubkey` (wireguard-tools 1.0.20210914),
 * hex by Python's base64.b64decode(...).hex(). */
static const char known_priv_b64[] = "wJ7aPDR4P2xS7ZDodD3voIw0dhYZ30dI1TYCJamBu0Q=";
static const char known_pub_b64[] = "owQIT3h17OwJMx9orp5OzcReuJIPHptryRp2OEZDYkI=";
static const char known_priv_hex[] = "c09eda3c34783f6c52ed90e8743defa08c34761619df4748d5360225a981bb44";
static const char known_pub_hex[] = "a304084f7875ecec09331f68ae9e4ecdc45eb8920f1e9b6bc91a763846436242";

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* The naive reference: look-up tables and the textbook bit shuffling. */
static void ref_base64(char out[45], const uint8_t k[32])
{
	size_t o = 0;
	for (size_t i = 0; i < 32; i += 3) {
		uint32_t w = (uint32_t)k[i] << 16;
		if (i + 1 < 32) w |= (uint32_t)k[i + 1] << 8;
		if (i + 2 < 32) w |= k[i + 2];
		out[o++] = alphabet[(w >> 18) & 63];
		out[o++] = alphabet[(w >> 12) & 63];
		out[o++] = i + 1 < 32 ? alphabet[(w >> 6) & 63] : '=';
		out[o++] = i + 2 < 32 ? alphabet[w & 63] : '=';
	}
	out[o] = '\0';
}

static void ref_hex(char out[65], const uint8_t k[32])
{
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", k[i]);
}

static void known_pair(void)
{
	uint8_t priv[32], pub[32], from_hex[32], derived[32];
	char s[65];

	CHECK(key_from_base64(priv, known_priv_b64));
	CHECK(key_from_base64(pub, known_pub_b64));
	key_to_hex(s, priv);
	CHECK(!strcmp(s, known_priv_hex));
	key_to_hex(s, pub);
	CHECK(!strcmp(s, known_pub_hex));
	key_to_base64(s, priv);
	CHECK(!strcmp(s, known_priv_b64));
	CHECK(key_from_hex(from_hex, known_pub_hex));
	CHECK_MEM(from_hex, pub, 32);

	/* the pair really is a pair: our X25519 agrees with `wg pubkey` */
	CHECK_EQ(crypto_init(), 0);
	CHECK(x25519_public(derived, priv));
	CHECK_MEM(derived, pub, 32);
	memzero(priv, sizeof(priv));
}

static void round_trips_match_reference(void)
{
	uint8_t k[32], back[32];
	char ours[65], ref[65];

	test_seed(0x9e3779b97f4a7c15ull);
	for (int iter = 0; iter < 20000; iter++) {
		for (int i = 0; i < 32; i++)
			k[i] = iter < 256 ? (uint8_t)iter : (uint8_t)test_rnd(); /* first: constant keys 00..ff */
		key_to_base64(ours, k);
		ref_base64(ref, k);
		CHECK(!strcmp(ours, ref));
		CHECK_EQ(strlen(ours), WEFT_KEY_B64_LEN);
		memset(back, 0xaa, sizeof(back));
		CHECK(key_from_base64(back, ours));
		CHECK_MEM(back, k, 32);

		key_to_hex(ours, k);
		ref_hex(ref, k);
		CHECK(!strcmp(ours, ref));
		memset(back, 0xaa, sizeof(back));
		CHECK(key_from_hex(back, ours));
		CHECK_MEM(back, k, 32);
		if (test_failures_in_case)
			break;
	}
}

static void base64_rejects_bad_length(void)
{
	uint8_t k[32];
	char s[64];

	snprintf(s, sizeof(s), "%.43s", known_priv_b64);          /* no '=' */
	CHECK(!key_from_base64(k, s));
	snprintf(s, sizeof(s), "%s=", known_priv_b64);             /* 45 */
	CHECK(!key_from_base64(k, s));
	snprintf(s, sizeof(s), "%sA", known_priv_b64);             /* 45 */
	CHECK(!key_from_base64(k, s));
	snprintf(s, sizeof(s), "%.42s=", known_priv_b64);          /* 43 */
	CHECK(!key_from_base64(k, s));
	snprintf(s, sizeof(s), "%.42sAA", known_priv_b64);         /* 44, no '=' */
	CHECK(!key_from_base64(k, s));
	CHECK(!key_from_base64(k, ""));
	/* 32 bytes in hex are not base64 */
	CHECK(!key_from_base64(k, known_priv_hex));
}

/* Every byte value at every position: accepted exactly when the reference
 * alphabet (and canonical form) says so, and a refused key is not written. */
static void base64_every_char_every_position(void)
{
	uint8_t k[32], untouched[32];
	char s[45];

	memset(untouched, 0x5c, sizeof(untouched));
	for (int pos = 0; pos < 44; pos++) {
		for (int c = 1; c < 256; c++) {
			memcpy(s, known_pub_b64, 45);
			s[pos] = (char)c;
			const char *at = strchr(alphabet, c);
			bool expect;
			if (pos == 43)
				expect = c == '=';
			else if (pos == 42)
				expect = at && ((at - alphabet) & 3) == 0; /* 2 padding bits zero */
			else
				expect = at != NULL;
			memcpy(k, untouched, 32);
			bool got = key_from_base64(k, s);
			if (got != expect) {
				fprintf(stderr, "  pos %d char 0x%02x: got %d expected %d\n", pos, c, got, expect);
				CHECK(got == expect);
			}
			if (!got)
				CHECK_MEM(k, untouched, 32);
		}
	}
	/* NUL inside is a short string */
	memcpy(s, known_pub_b64, 45);
	s[10] = '\0';
	CHECK(!key_from_base64(k, s));
}

static void base64_non_canonical_last_char(void)
{
	uint8_t k[32];
	char s[45];

	/* known_pub ends in 'kI=': 'I' = 8 = 0b001000, low 2 bits zero. 'J' (9)
	 * would decode to the same key under a lax decoder. */
	memcpy(s, known_pub_b64, 45);
	CHECK(key_from_base64(k, s));
	s[42] = 'J';
	CHECK(!key_from_base64(k, s));
	s[42] = 'K';
	CHECK(!key_from_base64(k, s));
	s[42] = 'L';
	CHECK(!key_from_base64(k, s));
	s[42] = 'M'; /* 12: canonical, different key */
	CHECK(key_from_base64(k, s));
	/* '=' in the middle is padding where no padding belongs */
	memcpy(s, known_pub_b64, 45);
	s[20] = '=';
	CHECK(!key_from_base64(k, s));
	/* url-safe alphabet is not accepted */
	memcpy(s, known_pub_b64, 45);
	s[5] = '-';
	CHECK(!key_from_base64(k, s));
	s[5] = '_';
	CHECK(!key_from_base64(k, s));
}

static void hex_rejects_and_accepts(void)
{
	uint8_t k[32], want[32];
	char s[80];

	CHECK(key_from_hex(want, known_priv_hex));
	/* upper case is fine */
	for (int i = 0; i < 64; i++)
		s[i] = (char)(known_priv_hex[i] >= 'a' ? known_priv_hex[i] - 32 : known_priv_hex[i]);
	s[64] = '\0';
	CHECK(key_from_hex(k, s));
	CHECK_MEM(k, want, 32);

	snprintf(s, sizeof(s), "%.63s", known_priv_hex);
	CHECK(!key_from_hex(k, s));
	snprintf(s, sizeof(s), "%s0", known_priv_hex);
	CHECK(!key_from_hex(k, s));
	CHECK(!key_from_hex(k, ""));
	CHECK(!key_from_hex(k, known_priv_b64));
	for (int pos = 0; pos < 64; pos++) {
		for (int c = 1; c < 256; c++) {
			memcpy(s, known_priv_hex, 65);
			s[pos] = (char)c;
			bool expect = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
			if (key_from_hex(k, s) != expect) {
				fprintf(stderr, "  hex pos %d char 0x%02x\n", pos, c);
				CHECK(!"hex acceptance");
			}
		}
	}
}

int main(void)
{
	test_suite_name = "encoding";
	RUN(known_pair);
	RUN(round_trips_match_reference);
	RUN(base64_rejects_bad_length);
	RUN(base64_every_char_every_position);
	RUN(base64_non_canonical_last_char);
	RUN(hex_rejects_and_accepts);
	TEST_EXIT();
}
