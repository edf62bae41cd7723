/* crypto.h: the primitives WireGuard is built from, as thin wrappers over
 * Debian's libraries (libsodium, OpenSSL 3, libb2). The backend for each
 * primitive was chosen by bench/crypto_bench.c; see docs/crypto-bench.md. */
#ifndef WEFT_CRYPTO_H
#define WEFT_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
	X25519_KEY_LEN = 32,
	CHACHA_KEY_LEN = 32,
	AEAD_TAG_LEN = 16,
	XCHACHA_NONCE_LEN = 24,
	BLAKE2S_HASH_LEN = 32,
	BLAKE2S_MAC_LEN = 16,
	BLAKE2S_BLOCK_LEN = 64,
};

/* Must be called before any other function; returns 0 or -errno. Further
 * calls, from any thread, return the first call's result. */
int crypto_init(void);

/* X25519 (RFC 7748). x25519() returns false when the shared secret is all
 * zeros (a low-order point), which WireGuard must reject. */
void x25519_generate_private(uint8_t priv[X25519_KEY_LEN], const uint8_t random[X25519_KEY_LEN]);
bool x25519_public(uint8_t pub[X25519_KEY_LEN], const uint8_t priv[X25519_KEY_LEN]);
bool x25519(uint8_t shared[X25519_KEY_LEN], const uint8_t priv[X25519_KEY_LEN],
	    const uint8_t pub[X25519_KEY_LEN]);

/* ChaCha20-Poly1305 (RFC 8439), nonce = 4 zero bytes || le64(counter).
 * dst may equal src. dst gets src_len + AEAD_TAG_LEN bytes when sealing;
 * open takes src_len >= AEAD_TAG_LEN and returns false on a bad tag, with
 * the src_len - AEAD_TAG_LEN bytes of dst zeroed. Thread safe. */
void aead_seal(uint8_t *dst, const uint8_t *src, size_t src_len,
	       const uint8_t *ad, size_t ad_len, uint64_t counter,
	       const uint8_t key[CHACHA_KEY_LEN]);
bool aead_open(uint8_t *dst, const uint8_t *src, size_t src_len,
	       const uint8_t *ad, size_t ad_len, uint64_t counter,
	       const uint8_t key[CHACHA_KEY_LEN]);

/* aead_seal/aead_open may keep the last key in a per-thread context, so that
 * a run of packets under one key does not re-key for each: a thread calls
 * aead_forget() when it is done with a batch, which wipes that copy. */
void aead_forget(void);

/* XChaCha20-Poly1305 (draft-irtf-cfrg-xchacha), used by cookie replies;
 * same conventions as aead_seal/aead_open. */
void xaead_seal(uint8_t *dst, const uint8_t *src, size_t src_len,
		const uint8_t *ad, size_t ad_len,
		const uint8_t nonce[XCHACHA_NONCE_LEN], const uint8_t key[CHACHA_KEY_LEN]);
bool xaead_open(uint8_t *dst, const uint8_t *src, size_t src_len,
		const uint8_t *ad, size_t ad_len,
		const uint8_t nonce[XCHACHA_NONCE_LEN], const uint8_t key[CHACHA_KEY_LEN]);

/* BLAKE2s (RFC 7693); named b2s because libb2 owns the blake2s_* symbols.
 * out_len 1..32; key_len 0..32 (0 = unkeyed). Lengths outside those ranges
 * are a caller bug and abort. */
void b2s(uint8_t *out, size_t out_len, const uint8_t *in, size_t in_len,
	     const uint8_t *key, size_t key_len);

/* Incremental unkeyed BLAKE2s (out_len 1..32, normally 32), for hashes
 * over several pieces. b2s_final writes out_len bytes and wipes ctx. */
struct b2s_ctx { uint64_t opaque[32]; };
void b2s_init(struct b2s_ctx *ctx, size_t out_len);
void b2s_update(struct b2s_ctx *ctx, const uint8_t *in, size_t in_len);
void b2s_final(struct b2s_ctx *ctx, uint8_t *out);

/* HMAC-BLAKE2s-256 (RFC 2104 with a 64-byte block). out may alias key or in. */
void hmac_b2s(uint8_t out[BLAKE2S_HASH_LEN], const uint8_t *key, size_t key_len,
		  const uint8_t *in, size_t in_len);

/* The whitepaper's KDF_n (section 5.4): HKDF over HMAC-BLAKE2s.
 * Writes n = 1..3 outputs of 32 bytes each; unused outputs may be NULL.
 * Outputs may alias key or input (e.g. kdf(ck, k, NULL, dh, 32, ck)). */
void kdf(uint8_t *t1, uint8_t *t2, uint8_t *t3, const uint8_t *input, size_t input_len,
	 const uint8_t key[BLAKE2S_HASH_LEN]);

/* Secrets: wipe without being optimised away; compare in constant time. */
void memzero(void *p, size_t n);
bool memeq_ct(const void *a, const void *b, size_t n);
bool is_zero_ct(const void *a, size_t n);

#endif
