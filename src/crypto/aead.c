/* aead.c: ChaCha20-Poly1305 (RFC 8439) for transport data and
 * XChaCha20-Poly1305 for cookie replies. Two backends do ChaCha20-Poly1305:
 * libsodium has the lower fixed cost per call, OpenSSL the faster bulk code,
 * so aead_seal/aead_open pick by payload length (AEAD_OPENSSL_MIN_LEN). */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include <sodium.h>

#include "crypto/aead_backend.h"

/* ---- libsodium ---- */

static int sodium_seal(uint8_t *dst, const uint8_t *src, size_t src_len, const uint8_t *ad,
		       size_t ad_len, const uint8_t nonce[AEAD_NONCE_LEN],
		       const uint8_t key[CHACHA_KEY_LEN])
{
	crypto_aead_chacha20poly1305_ietf_encrypt(dst, NULL, src, src_len, ad, ad_len, NULL,
						  nonce, key);
	return 0;
}

static int sodium_open(uint8_t *dst, const uint8_t *src, size_t src_len, const uint8_t *ad,
		       size_t ad_len, const uint8_t nonce[AEAD_NONCE_LEN],
		       const uint8_t key[CHACHA_KEY_LEN])
{
	if (crypto_aead_chacha20poly1305_ietf_decrypt(dst, NULL, NULL, src, src_len, ad, ad_len,
						      nonce, key) != 0) {
		memzero(dst, src_len - AEAD_TAG_LEN);
		return -EBADMSG;
	}
	return 0;
}

/* ---- OpenSSL ----
 * Setting up an EVP_CIPHER_CTX costs more than sealing a small packet, so
 * each thread keeps one, created on first use and freed when the thread
 * exits (the pthread key's destructor). Only the key and nonce change per
 * call, and the key is overwritten with zeros after each call (about 40 ns):
 * otherwise an idle thread would keep a copy of a session key long after
 * the session has dropped and wiped its own. */

static EVP_CIPHER *ossl_cipher;
static pthread_key_t ossl_ctx_key;
static _Thread_local EVP_CIPHER_CTX *ossl_ctx;

static void ossl_ctx_free(void *ctx)
{
	EVP_CIPHER_CTX_free(ctx);
	ossl_ctx = NULL;
}

void aead_backends_init(void)
{
	if (pthread_key_create(&ossl_ctx_key, ossl_ctx_free) != 0)
		return;
	ossl_cipher = EVP_CIPHER_fetch(NULL, "ChaCha20-Poly1305", NULL);
}

bool aead_backend_available(enum aead_backend b)
{
	return b == AEAD_SODIUM || ossl_cipher != NULL;
}

static void ossl_forget_key(EVP_CIPHER_CTX *ctx)
{
	static const uint8_t zero_key[CHACHA_KEY_LEN];

	EVP_CipherInit_ex(ctx, NULL, NULL, zero_key, NULL, -1);
}

static EVP_CIPHER_CTX *ossl_thread_ctx(void)
{
	EVP_CIPHER_CTX *ctx = ossl_ctx;

	if (ctx || !ossl_cipher)
		return ctx;
	ctx = EVP_CIPHER_CTX_new();
	if (!ctx)
		return NULL;
	if (EVP_CipherInit_ex(ctx, ossl_cipher, NULL, NULL, NULL, 1) != 1 ||
	    pthread_setspecific(ossl_ctx_key, ctx) != 0) {
		EVP_CIPHER_CTX_free(ctx);
		return NULL;
	}
	return ossl_ctx = ctx;
}

/* Everything up to the first byte of payload: a failure here leaves dst and
 * src untouched, so the caller can still use libsodium. */
static int ossl_start(EVP_CIPHER_CTX **ctxp, int enc, size_t len, const uint8_t *ad,
		      size_t ad_len, const uint8_t nonce[AEAD_NONCE_LEN],
		      const uint8_t key[CHACHA_KEY_LEN], const uint8_t *tag)
{
	EVP_CIPHER_CTX *ctx;
	int outl;

	if (len > INT_MAX || ad_len > INT_MAX)
		return -ERANGE;
	ctx = ossl_thread_ctx();
	if (!ctx)
		return ossl_cipher ? -ENOMEM : -ENOSYS;
	if (EVP_CipherInit_ex(ctx, NULL, NULL, key, nonce, enc) != 1 ||
	    (tag && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, AEAD_TAG_LEN,
					(void *)tag) != 1) ||
	    (ad_len && EVP_CipherUpdate(ctx, NULL, &outl, ad, (int)ad_len) != 1)) {
		ossl_forget_key(ctx);
		return -ENOSYS;
	}
	*ctxp = ctx;
	return 0;
}

static int ossl_seal(uint8_t *dst, const uint8_t *src, size_t src_len, const uint8_t *ad,
		     size_t ad_len, const uint8_t nonce[AEAD_NONCE_LEN],
		     const uint8_t key[CHACHA_KEY_LEN])
{
	EVP_CIPHER_CTX *ctx;
	int outl, r = ossl_start(&ctx, 1, src_len, ad, ad_len, nonce, key, NULL);

	if (r)
		return r;
	if ((src_len && EVP_CipherUpdate(ctx, dst, &outl, src, (int)src_len) != 1) ||
	    EVP_CipherFinal_ex(ctx, dst + src_len, &outl) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, AEAD_TAG_LEN, dst + src_len) != 1)
		r = -EIO;
	ossl_forget_key(ctx);
	return r;
}

static int ossl_open(uint8_t *dst, const uint8_t *src, size_t src_len, const uint8_t *ad,
		     size_t ad_len, const uint8_t nonce[AEAD_NONCE_LEN],
		     const uint8_t key[CHACHA_KEY_LEN])
{
	size_t len = src_len - AEAD_TAG_LEN;
	EVP_CIPHER_CTX *ctx;
	/* The tag is copied in first: in place, the plaintext written below
	 * stops short of it anyway. */
	int outl, r = ossl_start(&ctx, 0, len, ad, ad_len, nonce, key, src + len);

	if (r)
		return r;
	if (len && EVP_CipherUpdate(ctx, dst, &outl, src, (int)len) != 1)
		r = -EIO;
	else if (EVP_CipherFinal_ex(ctx, dst + len, &outl) != 1)
		r = -EBADMSG;
	ossl_forget_key(ctx);
	if (r)
		memzero(dst, len); /* OpenSSL decrypts before it verifies */
	return r;
}

/* ---- backend table, for crypto_bench and test_crypto ---- */

int aead_backend_seal(enum aead_backend b, uint8_t *dst, const uint8_t *src, size_t src_len,
		      const uint8_t *ad, size_t ad_len, const uint8_t nonce[AEAD_NONCE_LEN],
		      const uint8_t key[CHACHA_KEY_LEN])
{
	return (b == AEAD_OPENSSL ? ossl_seal : sodium_seal)(dst, src, src_len, ad, ad_len, nonce,
							     key);
}

int aead_backend_open(enum aead_backend b, uint8_t *dst, const uint8_t *src, size_t src_len,
		      const uint8_t *ad, size_t ad_len, const uint8_t nonce[AEAD_NONCE_LEN],
		      const uint8_t key[CHACHA_KEY_LEN])
{
	if (src_len < AEAD_TAG_LEN)
		return -EBADMSG;
	return (b == AEAD_OPENSSL ? ossl_open : sodium_open)(dst, src, src_len, ad, ad_len, nonce,
							     key);
}

/* ---- the interface the engine uses ---- */

static void counter_nonce(uint8_t nonce[AEAD_NONCE_LEN], uint64_t counter)
{
	/* WireGuard's nonce: 32 zero bits, then the counter little-endian. */
	memset(nonce, 0, 4);
	for (int i = 0; i < 8; i++)
		nonce[4 + i] = (uint8_t)(counter >> (8 * i));
}

static bool ossl_could_not_start(int r)
{
	return r == -ENOSYS || r == -ENOMEM || r == -ERANGE;
}

void aead_seal(uint8_t *dst, const uint8_t *src, size_t src_len,
	       const uint8_t *ad, size_t ad_len, uint64_t counter,
	       const uint8_t key[CHACHA_KEY_LEN])
{
	uint8_t nonce[AEAD_NONCE_LEN];

	counter_nonce(nonce, counter);
	if (src_len >= AEAD_OPENSSL_MIN_LEN) {
		int r = ossl_seal(dst, src, src_len, ad, ad_len, nonce, key);

		if (r == 0)
			return;
		if (!ossl_could_not_start(r)) {
			/* dst may hold half a ciphertext and src may be gone
			 * (in place); there is nothing correct left to send. */
			fprintf(stderr, "weft: OpenSSL ChaCha20-Poly1305 failed mid-packet\n");
			abort();
		}
	}
	sodium_seal(dst, src, src_len, ad, ad_len, nonce, key);
}

bool aead_open(uint8_t *dst, const uint8_t *src, size_t src_len,
	       const uint8_t *ad, size_t ad_len, uint64_t counter,
	       const uint8_t key[CHACHA_KEY_LEN])
{
	uint8_t nonce[AEAD_NONCE_LEN];

	if (src_len < AEAD_TAG_LEN)
		return false;
	counter_nonce(nonce, counter);
	if (src_len - AEAD_TAG_LEN >= AEAD_OPENSSL_MIN_LEN) {
		int r = ossl_open(dst, src, src_len, ad, ad_len, nonce, key);

		if (!ossl_could_not_start(r))
			return r == 0;
	}
	return sodium_open(dst, src, src_len, ad, ad_len, nonce, key) == 0;
}

/* ---- XChaCha20-Poly1305: libsodium only; cookie replies are rare ---- */

void xaead_seal(uint8_t *dst, const uint8_t *src, size_t src_len,
		const uint8_t *ad, size_t ad_len,
		const uint8_t nonce[XCHACHA_NONCE_LEN], const uint8_t key[CHACHA_KEY_LEN])
{
	crypto_aead_xchacha20poly1305_ietf_encrypt(dst, NULL, src, src_len, ad, ad_len, NULL,
						   nonce, key);
}

bool xaead_open(uint8_t *dst, const uint8_t *src, size_t src_len,
		const uint8_t *ad, size_t ad_len,
		const uint8_t nonce[XCHACHA_NONCE_LEN], const uint8_t key[CHACHA_KEY_LEN])
{
	if (src_len < AEAD_TAG_LEN)
		return false;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(dst, NULL, NULL, src, src_len, ad, ad_len,
						       nonce, key) != 0) {
		memzero(dst, src_len - AEAD_TAG_LEN);
		return false;
	}
	return true;
}
