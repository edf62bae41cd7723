/* crypto_bench.c: measures the crypto backends weft can use, to choose
 * between them (results and the choice: docs/crypto-bench.md).
 *   make && build/bench/crypto_bench
 * Each figure is the mean over enough calls to fill BENCH_SECONDS. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/evp.h>
#include <sodium.h>

#include "crypto/aead_backend.h"

#define BENCH_SECONDS 0.3
#define SWEEP_SECONDS 0.05
#define MAX_PAYLOAD 1420 /* a full packet at wg-quick's default MTU */
#define AD_LEN 0         /* WireGuard transport data has no associated data */

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* A benchmark body runs its operation n times. */
typedef void (*body_fn)(void *arg, long n);

/* Returns nanoseconds per operation: doubles n until one run takes 10 ms,
 * then runs once more for the whole budget. */
static double measure(body_fn fn, void *arg, double seconds)
{
	long n = 1;
	double t;

	for (;;) {
		t = now();
		fn(arg, n);
		t = now() - t;
		if (t > 0.01)
			break;
		n *= 2;
	}
	n = (long)(n * seconds / t) + 1;
	t = now();
	fn(arg, n);
	t = now() - t;
	return t * 1e9 / n;
}

/* ---- ChaCha20-Poly1305 ---- */

enum { VIA_SODIUM = AEAD_SODIUM, VIA_OPENSSL = AEAD_OPENSSL, VIA_DISPATCH };
static const char *const via_name[] = { "libsodium", "OpenSSL", "weft (dispatch)" };

struct aead_arg {
	int via;
	size_t len;
	uint8_t key[CHACHA_KEY_LEN];
	uint8_t buf[MAX_PAYLOAD + AEAD_TAG_LEN];
};

static void nonce_of(uint8_t nonce[AEAD_NONCE_LEN], uint64_t c)
{
	memset(nonce, 0, AEAD_NONCE_LEN);
	memcpy(nonce + 4, &c, sizeof(c));
}

static void seal_body(void *p, long n)
{
	struct aead_arg *a = p;
	uint8_t nonce[AEAD_NONCE_LEN];

	for (long i = 0; i < n; i++) {
		if (a->via == VIA_DISPATCH) {
			aead_seal(a->buf, a->buf, a->len, NULL, AD_LEN, (uint64_t)i, a->key);
		} else {
			nonce_of(nonce, (uint64_t)i);
			aead_backend_seal(a->via, a->buf, a->buf, a->len, NULL, AD_LEN, nonce, a->key);
		}
	}
}

/* Opens the same valid packet over and over: in place would destroy it. */
static void open_body(void *p, long n)
{
	struct aead_arg *a = p;
	static uint8_t out[MAX_PAYLOAD];
	uint8_t nonce[AEAD_NONCE_LEN];
	bool ok = true;

	nonce_of(nonce, 0);
	for (long i = 0; i < n; i++) {
		if (a->via == VIA_DISPATCH)
			ok &= aead_open(out, a->buf, a->len + AEAD_TAG_LEN, NULL, AD_LEN, 0, a->key);
		else
			ok &= aead_backend_open(a->via, out, a->buf, a->len + AEAD_TAG_LEN, NULL,
						AD_LEN, nonce, a->key) == 0;
	}
	if (!ok) {
		fprintf(stderr, "open failed\n");
		exit(1);
	}
}

static void aead_row(int via, size_t len)
{
	static struct aead_arg a;
	double seal_ns, open_ns;

	a.via = via;
	a.len = len;
	randombytes_buf(a.key, sizeof(a.key));
	randombytes_buf(a.buf, sizeof(a.buf));
	seal_ns = measure(seal_body, &a, BENCH_SECONDS);
	aead_seal(a.buf, a.buf, len, NULL, AD_LEN, 0, a.key); /* a valid packet for open */
	open_ns = measure(open_body, &a, BENCH_SECONDS);
	printf("| %-16s | %5zu | %8.1f | %6.2f | %8.1f | %6.2f |\n", via_name[via], len,
	       seal_ns, len / seal_ns, open_ns, len / open_ns);
}

static void aead_sweep(void)
{
	static const size_t sizes[] = { 0, 16, 32, 48, 64, 96, 128, 192, 256, 512, 1024, 1420, 1424, 1440 };
	static struct aead_arg a;

	printf("\nseal ns/op by payload size (crossover; dispatch sends >= %d bytes to OpenSSL)\n\n",
	       AEAD_OPENSSL_MIN_LEN);
	printf("| bytes | libsodium | OpenSSL |\n|---:|---:|---:|\n");
	randombytes_buf(a.key, sizeof(a.key));
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		double ns[2];

		a.len = sizes[i];
		for (int via = VIA_SODIUM; via <= VIA_OPENSSL; via++) {
			a.via = via;
			ns[via] = measure(seal_body, &a, SWEEP_SECONDS);
		}
		printf("| %5zu | %8.1f | %8.1f |\n", a.len, ns[0], ns[1]);
	}
}

/* ---- X25519 ---- */

struct dh_arg {
	uint8_t priv[X25519_KEY_LEN], pub[X25519_KEY_LEN], out[X25519_KEY_LEN];
};

static void dh_sodium_body(void *p, long n)
{
	struct dh_arg *a = p;

	for (long i = 0; i < n; i++)
		if (!x25519(a->out, a->priv, a->pub))
			exit(1);
}

/* What x25519() would have to do with OpenSSL 3: raw keys go in and out
 * of EVP_PKEY objects on every call. */
static void dh_openssl_body(void *p, long n)
{
	struct dh_arg *a = p;

	for (long i = 0; i < n; i++) {
		EVP_PKEY *priv = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, a->priv, 32);
		EVP_PKEY *pub = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, a->pub, 32);
		EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(priv, NULL);
		size_t len = sizeof(a->out);

		if (!ctx || EVP_PKEY_derive_init(ctx) != 1 || EVP_PKEY_derive_set_peer(ctx, pub) != 1 ||
		    EVP_PKEY_derive(ctx, a->out, &len) != 1)
			exit(1);
		EVP_PKEY_CTX_free(ctx);
		EVP_PKEY_free(pub);
		EVP_PKEY_free(priv);
	}
}

static void dh_openssl_pub_body(void *p, long n)
{
	struct dh_arg *a = p;

	for (long i = 0; i < n; i++) {
		EVP_PKEY *priv = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, a->priv, 32);
		size_t len = sizeof(a->out);

		if (!priv || EVP_PKEY_get_raw_public_key(priv, a->out, &len) != 1)
			exit(1);
		EVP_PKEY_free(priv);
	}
}

static void dh_sodium_pub_body(void *p, long n)
{
	struct dh_arg *a = p;

	for (long i = 0; i < n; i++)
		x25519_public(a->out, a->priv);
}

static void x25519_rows(void)
{
	static struct dh_arg a;
	uint8_t r[X25519_KEY_LEN], other[X25519_KEY_LEN];
	struct { const char *name; body_fn fn; } rows[] = {
		{ "shared secret, libsodium", dh_sodium_body },
		{ "shared secret, OpenSSL EVP", dh_openssl_body },
		{ "public key, libsodium", dh_sodium_pub_body },
		{ "public key, OpenSSL EVP", dh_openssl_pub_body },
	};

	randombytes_buf(r, sizeof(r));
	x25519_generate_private(a.priv, r);
	randombytes_buf(r, sizeof(r));
	x25519_generate_private(other, r);
	x25519_public(a.pub, other);
	printf("\n| X25519 | us/op | ops/s |\n|---|---:|---:|\n");
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		double ns = measure(rows[i].fn, &a, BENCH_SECONDS);

		printf("| %-26s | %6.2f | %7.0f |\n", rows[i].name, ns / 1e3, 1e9 / ns);
	}
}

/* ---- BLAKE2s ---- */

struct hash_arg {
	size_t len;
	uint8_t key[BLAKE2S_HASH_LEN], in[MAX_PAYLOAD], out[3][BLAKE2S_HASH_LEN];
};

static void b2s_body(void *p, long n)
{
	struct hash_arg *a = p;

	for (long i = 0; i < n; i++)
		b2s(a->out[0], BLAKE2S_HASH_LEN, a->in, a->len, NULL, 0);
}

static void mac_body(void *p, long n)
{
	struct hash_arg *a = p;

	for (long i = 0; i < n; i++)
		b2s(a->out[0], BLAKE2S_MAC_LEN, a->in, a->len, a->key, BLAKE2S_HASH_LEN);
}

static void hmac_body(void *p, long n)
{
	struct hash_arg *a = p;

	for (long i = 0; i < n; i++)
		hmac_b2s(a->out[0], a->key, BLAKE2S_HASH_LEN, a->in, a->len);
}

static void kdf3_body(void *p, long n)
{
	struct hash_arg *a = p;

	for (long i = 0; i < n; i++)
		kdf(a->out[0], a->out[1], a->out[2], a->in, a->len, a->key);
}

static void hash_rows(void)
{
	static struct hash_arg a;
	struct { const char *name; body_fn fn; size_t len; } rows[] = {
		{ "b2s, 32 bytes", b2s_body, 32 },
		{ "b2s, 1420 bytes", b2s_body, 1420 },
		{ "keyed MAC-128, 116 bytes", mac_body, 116 }, /* mac1 of an initiation */
		{ "hmac_b2s, 32 bytes", hmac_body, 32 },
		{ "kdf, 3 outputs, 32 bytes", kdf3_body, 32 },
	};

	randombytes_buf(a.key, sizeof(a.key));
	randombytes_buf(a.in, sizeof(a.in));
	printf("\n| BLAKE2s (libb2) | ns/op | GB/s |\n|---|---:|---:|\n");
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		double ns;

		a.len = rows[i].len;
		ns = measure(rows[i].fn, &a, BENCH_SECONDS);
		printf("| %-26s | %8.1f | %5.2f |\n", rows[i].name, ns, a.len / ns);
	}
}

int main(int argc, char **argv)
{
	if (crypto_init() != 0) {
		fprintf(stderr, "crypto_init failed\n");
		return 1;
	}
	if (!aead_backend_available(AEAD_OPENSSL)) {
		fprintf(stderr, "OpenSSL ChaCha20-Poly1305 unavailable\n");
		return 1;
	}
	printf("ChaCha20-Poly1305, in place, no AD (GB/s = payload bytes per ns)\n\n");
	printf("| backend | bytes | seal ns | GB/s | open ns | GB/s |\n");
	printf("|---|---:|---:|---:|---:|---:|\n");
	for (int via = VIA_SODIUM; via <= VIA_DISPATCH; via++) {
		aead_row(via, 64);
		aead_row(via, MAX_PAYLOAD);
	}
	aead_sweep();
	x25519_rows();
	hash_rows();
	return 0;
}
