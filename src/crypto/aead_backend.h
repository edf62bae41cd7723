/* aead_backend.h: the two ChaCha20-Poly1305 implementations behind
 * aead_seal/aead_open, named so that init.c, the unit test and the benchmark
 * can drive each one directly. The engine uses crypto.h only. */
#ifndef WEFT_AEAD_BACKEND_H
#define WEFT_AEAD_BACKEND_H

#include "crypto/crypto.h"

enum aead_backend { AEAD_SODIUM, AEAD_OPENSSL };

enum { AEAD_NONCE_LEN = 12 }; /* RFC 8439 section 2.8 */

/* Payloads of at least this many bytes are sealed and opened by OpenSSL,
 * shorter ones by libsodium. OpenSSL is faster from 16 bytes on
 * (bench/crypto_bench.c, docs/crypto-bench.md), but its first use brings
 * about 1.1 MiB more of libcrypto into memory: below 128 bytes (keepalives,
 * pings, TCP ACKs) the 50-200 ns it would save per packet are not worth
 * that for a tunnel that only idles. */
#define AEAD_OPENSSL_MIN_LEN 128

/* Sets up what OpenSSL needs, once per process, on the first AEAD use or
 * call of these two; a failure only leaves AEAD_OPENSSL unavailable. */
void aead_backends_init(void);
bool aead_backend_available(enum aead_backend b);

/* Both: 0 on success; -EBADMSG (open) when the tag does not verify, dst then
 * zeroed; -ENOSYS/-ENOMEM/-ERANGE when the backend could not start, dst and
 * src untouched; -EIO when it failed part way. In-place (dst == src) works. */
int aead_backend_seal(enum aead_backend b, uint8_t *dst, const uint8_t *src, size_t src_len,
		      const uint8_t *ad, size_t ad_len, const uint8_t nonce[AEAD_NONCE_LEN],
		      const uint8_t key[CHACHA_KEY_LEN]);
int aead_backend_open(enum aead_backend b, uint8_t *dst, const uint8_t *src, size_t src_len,
		      const uint8_t *ad, size_t ad_len, const uint8_t nonce[AEAD_NONCE_LEN],
		      const uint8_t key[CHACHA_KEY_LEN]);

/* Whether this thread's OpenSSL context still holds a session key (for the
 * test of aead_forget). */
bool aead_backend_holds_key(void);

#endif
