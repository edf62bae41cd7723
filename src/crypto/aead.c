/* aead.c: ChaCha20-Poly1305 (RFC 8439) for transport data and
 * XChaCha20-Poly1305 for cookie replies. Two backends do ChaCha20-Poly1305:
 * OpenSSL's ChaCha20 and Poly1305 for full-size packets, libsodium's AEAD for
 * small ones and wherever OpenSSL cannot start; aead_seal/aead_open pick by
 * payload length (AEAD_OPENSSL_MIN_LEN says why there). */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
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

/* ---- OpenSSL: its ChaCha20 and Poly1305, joined as RFC 8439 2.8 says ----
 *
 * OpenSSL 3.0's own "ChaCha20-Poly1305" cipher spends as long on the edges of
 * a 1420-byte packet as on its middle: the Poly1305 key block and the bytes
 * past the last whole 64-byte block go through slow paths (a byte loop),
 * about 400 of its 880 ns here. Its raw ChaCha20 is fast when asked for
 * whole blocks, so one call makes block 0 (the Poly1305 key) and the data's
 * keystream together, rounded up to whole blocks, into a per-thread buffer,
 * and the XOR happens here; Poly1305 runs over the ciphertext through
 * EVP_MAC. That is about 600 ns for the same packet (docs/crypto-bench.md).
 * It also verifies the tag before it writes any plaintext, which OpenSSL's
 * cipher does not.
 *
 * Each thread keeps its two contexts and the keystream buffer, created on
 * first use and freed when the thread exits (the pthread key's destructor).
 * The ChaCha20 context stays keyed from one call to the next, so that a
 * batch of packets under one session key sets only the nonce (re-keying and
 * wiping cost about 50 ns a packet); aead_forget() re-keys it with zeros
 * when the batch is done, so that no idle thread keeps a session key after
 * the session has dropped and wiped its own. The Poly1305 key is wiped after
 * every call; EVP_MAC_final wipes the Poly1305 state. */

enum {
	CHACHA_BLOCK = 64,
	KEYSTREAM_CHUNK = 64 * CHACHA_BLOCK, /* one call covers a 1500-byte packet and block 0 */
};

struct ossl_thread {
	_Alignas(CHACHA_BLOCK) uint8_t keystream[KEYSTREAM_CHUNK]; /* makes sizeof a multiple of 64, as aligned_alloc needs */
	uint8_t key[CHACHA_KEY_LEN]; /* the one chacha holds, when keyed */
	bool keyed;
	EVP_CIPHER_CTX *chacha;
	EVP_MAC_CTX *poly;
};

static EVP_CIPHER *ossl_chacha;
static EVP_MAC *ossl_poly;
static pthread_key_t ossl_thread_key;
static _Thread_local struct ossl_thread *ossl_this_thread;
static const uint8_t zeros[KEYSTREAM_CHUNK];

static void ossl_thread_free(void *p)
{
	struct ossl_thread *t = p;

	EVP_CIPHER_CTX_free(t->chacha);
	EVP_MAC_CTX_free(t->poly);
	memzero(t, sizeof(*t));
	free(t);
	ossl_this_thread = NULL;
}

static pthread_once_t backends_once = PTHREAD_ONCE_INIT;

static void backends_init_once(void)
{
	if (pthread_key_create(&ossl_thread_key, ossl_thread_free) != 0)
		return;
	ossl_chacha = EVP_CIPHER_fetch(NULL, "ChaCha20", NULL);
	ossl_poly = EVP_MAC_fetch(NULL, "POLY1305", NULL);
	if (!ossl_chacha || !ossl_poly) {
		EVP_CIPHER_free(ossl_chacha);
		EVP_MAC_free(ossl_poly);
		ossl_chacha = NULL;
		ossl_poly = NULL;
	}
}

/* On the first use rather than in crypto_init: fetching OpenSSL's ciphers
 * is a millisecond that commands which never seal a packet (`weft peer
 * add`) need not pay. */
void aead_backends_init(void)
{
	pthread_once(&backends_once, backends_init_once);
}

bool aead_backend_available(enum aead_backend b)
{
	aead_backends_init();
	return b == AEAD_SODIUM || ossl_chacha != NULL;
}

static struct ossl_thread *ossl_thread(void)
{
	struct ossl_thread *t = ossl_this_thread;

	if (t)
		return t;
	aead_backends_init(); /* once a thread: t is kept below */
	if (!ossl_chacha)
		return NULL;
	t = aligned_alloc(CHACHA_BLOCK, sizeof(*t));
	if (!t)
		return NULL;
	memset(t, 0, sizeof(*t));
	t->chacha = EVP_CIPHER_CTX_new();
	t->poly = EVP_MAC_CTX_new(ossl_poly);
	if (!t->chacha || !t->poly || EVP_CipherInit_ex(t->chacha, ossl_chacha, NULL, NULL, NULL, 1) != 1 ||
	    pthread_setspecific(ossl_thread_key, t) != 0) {
		ossl_thread_free(t);
		return NULL;
	}
	return ossl_this_thread = t;
}

static void ossl_forget_key(struct ossl_thread *t)
{
	static const uint8_t zero_key[CHACHA_KEY_LEN];

	EVP_CipherInit_ex(t->chacha, NULL, NULL, zero_key, NULL, 1);
	memzero(t->key, sizeof(t->key));
	memzero(t->keystream, CHACHA_BLOCK);
	t->keyed = false;
}

void aead_forget(void)
{
	struct ossl_thread *t = ossl_this_thread;

	if (t && t->keyed)
		ossl_forget_key(t);
}

bool aead_backend_holds_key(void)
{
	return ossl_this_thread && ossl_this_thread->keyed;
}

/* Keys t->chacha for key (unless it holds it already) at block 0 of nonce. */
static bool ossl_key(struct ossl_thread *t, const uint8_t key[CHACHA_KEY_LEN],
		     const uint8_t nonce[AEAD_NONCE_LEN])
{
	/* OpenSSL's ChaCha20 IV: the 32-bit block counter, little-endian, then the nonce */
	uint8_t iv[4 + AEAD_NONCE_LEN] = { 0 };

	memcpy(iv + 4, nonce, AEAD_NONCE_LEN);
	if (t->keyed && CRYPTO_memcmp(t->key, key, CHACHA_KEY_LEN) == 0)
		return EVP_CipherInit_ex(t->chacha, NULL, NULL, NULL, iv, 1) == 1;
	t->keyed = EVP_CipherInit_ex(t->chacha, NULL, NULL, key, iv, 1) == 1;
	if (t->keyed)
		memcpy(t->key, key, CHACHA_KEY_LEN);
	return t->keyed;
}

static size_t round_to_blocks(size_t n)
{
	return (n + CHACHA_BLOCK - 1) & ~(size_t)(CHACHA_BLOCK - 1);
}

/* The next n bytes of keystream (n <= KEYSTREAM_CHUNK) into t->keystream,
 * rounded up to whole blocks: the tail of a partial block is OpenSSL's slow
 * path, and the stream is not continued past a partial block. */
static bool keystream(struct ossl_thread *t, size_t n)
{
	int outl;

	return EVP_CipherUpdate(t->chacha, t->keystream, &outl, zeros, (int)round_to_blocks(n)) == 1;
}

static void xor_bytes(uint8_t *dst, const uint8_t *src, const uint8_t *ks, size_t n)
{
	size_t i = 0;

	/* Word-sized and written so that dst == src still vectorises. */
	for (; i + 32 <= n; i += 32) {
		uint64_t x[4], k[4];

		memcpy(x, src + i, sizeof(x));
		memcpy(k, ks + i, sizeof(k));
		for (int j = 0; j < 4; j++)
			x[j] ^= k[j];
		memcpy(dst + i, x, sizeof(x));
	}
	for (; i < n; i++)
		dst[i] = src[i] ^ ks[i];
}

static bool poly_padded(EVP_MAC_CTX *poly, const uint8_t *p, size_t n)
{
	static const uint8_t pad[16];

	return EVP_MAC_update(poly, p, n) == 1 && EVP_MAC_update(poly, pad, (16 - n % 16) % 16) == 1;
}

/* How much of the data the first chunk of keystream covers: block 0 (the
 * Poly1305 key) takes its first block. */
static size_t first_chunk(size_t len)
{
	return len < KEYSTREAM_CHUNK - CHACHA_BLOCK ? len : KEYSTREAM_CHUNK - CHACHA_BLOCK;
}

/* Block 0 and the first chunk of keystream, the Poly1305 key set and the
 * AD authenticated. Fails (-ENOSYS/-ENOMEM) before touching dst or src, so
 * the caller can still use libsodium. */
static int ossl_start(struct ossl_thread **tp, size_t len, const uint8_t *ad, size_t ad_len,
		      const uint8_t nonce[AEAD_NONCE_LEN], const uint8_t key[CHACHA_KEY_LEN])
{
	struct ossl_thread *t = ossl_thread();

	if (!t)
		return ossl_chacha ? -ENOMEM : -ENOSYS;
	/* RFC 8439 caps a message at 2^32 - 1 blocks after block 0 */
	if (len > (size_t)UINT32_MAX * CHACHA_BLOCK - CHACHA_BLOCK)
		return -ERANGE;
	if (!ossl_key(t, key, nonce) || !keystream(t, CHACHA_BLOCK + first_chunk(len)) ||
	    EVP_MAC_init(t->poly, t->keystream, 32, NULL) != 1 ||
	    (ad_len && !poly_padded(t->poly, ad, ad_len))) {
		ossl_forget_key(t);
		return -ENOSYS;
	}
	*tp = t;
	return 0;
}

/* dst = src XOR the keystream, the first chunk of which ossl_start made. */
static bool ossl_xor(struct ossl_thread *t, uint8_t *dst, const uint8_t *src, size_t len)
{
	size_t n = first_chunk(len);

	xor_bytes(dst, src, t->keystream + CHACHA_BLOCK, n);
	for (size_t done = n; done < len; done += n) {
		n = len - done < KEYSTREAM_CHUNK ? len - done : KEYSTREAM_CHUNK;
		if (!keystream(t, n))
			return false;
		xor_bytes(dst + done, src + done, t->keystream, n);
	}
	return true;
}

static bool ossl_tag(struct ossl_thread *t, uint8_t tag[AEAD_TAG_LEN], const uint8_t *ct, size_t len,
		     size_t ad_len)
{
	uint8_t lengths[16];
	size_t outl;

	for (int i = 0; i < 8; i++) {
		lengths[i] = (uint8_t)((uint64_t)ad_len >> (8 * i));
		lengths[8 + i] = (uint8_t)((uint64_t)len >> (8 * i));
	}
	return poly_padded(t->poly, ct, len) && EVP_MAC_update(t->poly, lengths, sizeof(lengths)) == 1 &&
	       EVP_MAC_final(t->poly, tag, &outl, AEAD_TAG_LEN) == 1 && outl == AEAD_TAG_LEN;
}

static int ossl_seal(uint8_t *dst, const uint8_t *src, size_t src_len, const uint8_t *ad,
		     size_t ad_len, const uint8_t nonce[AEAD_NONCE_LEN],
		     const uint8_t key[CHACHA_KEY_LEN])
{
	struct ossl_thread *t;
	int r = ossl_start(&t, src_len, ad, ad_len, nonce, key);

	if (r)
		return r;
	if (!ossl_xor(t, dst, src, src_len) || !ossl_tag(t, dst + src_len, dst, src_len, ad_len))
		r = -EIO;
	memzero(t->keystream, CHACHA_BLOCK); /* the Poly1305 key */
	if (r)
		ossl_forget_key(t);
	return r;
}

static int ossl_open(uint8_t *dst, const uint8_t *src, size_t src_len, const uint8_t *ad,
		     size_t ad_len, const uint8_t nonce[AEAD_NONCE_LEN],
		     const uint8_t key[CHACHA_KEY_LEN])
{
	size_t len = src_len - AEAD_TAG_LEN;
	uint8_t tag[AEAD_TAG_LEN];
	struct ossl_thread *t;
	int r = ossl_start(&t, len, ad, ad_len, nonce, key);

	if (r)
		return r;
	if (!ossl_tag(t, tag, src, len, ad_len))
		r = -ENOSYS; /* nothing written yet: libsodium can still try */
	else if (CRYPTO_memcmp(tag, src + len, AEAD_TAG_LEN) != 0) /* constant time */
		r = -EBADMSG;
	else if (!ossl_xor(t, dst, src, len))
		r = -EIO;
	memzero(t->keystream, CHACHA_BLOCK); /* the Poly1305 key */
	if (r && r != -EBADMSG)
		ossl_forget_key(t);
	if (r == -EBADMSG || r == -EIO)
		memzero(dst, len);
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
