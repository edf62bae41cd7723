/* test_crypto.c: the crypto wrappers against the published vectors (RFC 7748,
 * RFC 8439, draft-irtf-cfrg-xchacha-03, RFC 7693), HMAC-BLAKE2s and the KDF
 * against Python's hmac/hashlib, both ChaCha20-Poly1305 backends against each
 * other across the dispatch threshold, and the secret helpers. */
#include <errno.h>
#include <pthread.h>

#include "crypto/aead_backend.h"
#include "test.h"

/* Deterministic pseudo-random bytes (test.h's generator, seeded in main),
 * so a failure reproduces. */
static void fill(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)test_rnd();
}

/* ---- X25519, RFC 7748 ---- */

static void x25519_rfc7748_5_2(void)
{
	/* Section 5.2. The second input u-coordinate has its top bit set,
	 * which X25519 must ignore. */
	static const char *const v[2][3] = {
		{ "a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
		  "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c",
		  "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552" },
		{ "4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d",
		  "e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493",
		  "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957" },
	};

	for (int i = 0; i < 2; i++) {
		uint8_t k[32], u[32], want[32], got[32];

		CHECK_EQ(unhex(k, v[i][0]), 32);
		CHECK_EQ(unhex(u, v[i][1]), 32);
		CHECK_EQ(unhex(want, v[i][2]), 32);
		CHECK(x25519(got, k, u));
		CHECK_MEM(got, want, 32);
	}
}

static void x25519_rfc7748_iterated(void)
{
	/* Section 5.2: k = u = 9; repeat (k, u) = (X25519(k, u), k). */
	uint8_t k[32] = { 9 }, u[32] = { 9 }, r[32], after1[32], after1000[32];

	CHECK_EQ(unhex(after1, "422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079"), 32);
	CHECK_EQ(unhex(after1000, "684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51"), 32);
	for (int i = 1; i <= 1000; i++) {
		CHECK(x25519(r, k, u));
		memcpy(u, k, 32);
		memcpy(k, r, 32);
		if (i == 1)
			CHECK_MEM(k, after1, 32);
	}
	CHECK_MEM(k, after1000, 32);
}

static void x25519_rfc7748_6_1(void)
{
	uint8_t a[32], a_pub[32], b[32], b_pub[32], k[32], got[32];

	unhex(a, "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
	unhex(a_pub, "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
	unhex(b, "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb");
	unhex(b_pub, "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
	unhex(k, "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");

	CHECK(x25519_public(got, a));
	CHECK_MEM(got, a_pub, 32);
	CHECK(x25519_public(got, b));
	CHECK_MEM(got, b_pub, 32);
	CHECK(x25519(got, a, b_pub));
	CHECK_MEM(got, k, 32);
	CHECK(x25519(got, b, a_pub));
	CHECK_MEM(got, k, 32);
	/* The output may alias an input. */
	memcpy(got, b_pub, 32);
	CHECK(x25519(got, a, got));
	CHECK_MEM(got, k, 32);
}

static void x25519_rejects_low_order(void)
{
	static const uint8_t zero[32];
	uint8_t priv[32], pub[32] = { 0 }, shared[32];

	fill(priv, sizeof(priv));
	x25519_generate_private(priv, priv);

	memset(shared, 0xaa, sizeof(shared));
	CHECK(!x25519(shared, priv, pub)); /* u = 0, order 2 */
	CHECK_MEM(shared, zero, 32);       /* nothing usable left behind */

	pub[0] = 1; /* u = 1, order 4 */
	memset(shared, 0xaa, sizeof(shared));
	CHECK(!x25519(shared, priv, pub));
	CHECK_MEM(shared, zero, 32);
}

static void x25519_generate_private_clamps(void)
{
	uint8_t r[32], priv[32], a[32], b[32], a_pub[32], b_pub[32], s1[32], s2[32];

	memset(r, 0xff, sizeof(r));
	x25519_generate_private(priv, r);
	CHECK_EQ(priv[0], 0xf8);
	CHECK_EQ(priv[31], 0x7f);
	CHECK_EQ(priv[15], 0xff);

	memset(r, 0, sizeof(r));
	x25519_generate_private(priv, r);
	CHECK_EQ(priv[0], 0);
	CHECK_EQ(priv[31], 0x40);

	fill(r, sizeof(r));
	x25519_generate_private(a, r);
	fill(r, sizeof(r));
	x25519_generate_private(b, r);
	CHECK(x25519_public(a_pub, a));
	CHECK(x25519_public(b_pub, b));
	CHECK(x25519(s1, a, b_pub));
	CHECK(x25519(s2, b, a_pub));
	CHECK_MEM(s1, s2, 32);
}

/* ---- ChaCha20-Poly1305, RFC 8439 ---- */

static const enum aead_backend backends[] = { AEAD_SODIUM, AEAD_OPENSSL };

/* Section 2.8.2's plaintext (the "sunscreen" sentence), AD and key, which
 * the XChaCha draft's A.3.1 uses as well. */
static const char sunscreen_pt[] =
	"4c616469657320616e642047656e746c656d656e206f662074686520636c6173"
	"73206f66202739393a204966204920636f756c64206f6666657220796f75206f"
	"6e6c79206f6e652074697020666f7220746865206675747572652c2073756e73"
	"637265656e20776f756c642062652069742e";
static const char sunscreen_ad[] = "50515253c0c1c2c3c4c5c6c7";
static const char sunscreen_key[] = "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f";

static void aead_rfc8439_2_8_2(void)
{
	/* The nonce 07000000 || 4041424344454647 has a non-zero first word, so
	 * it cannot go through aead_seal's counter nonce: each backend is
	 * driven directly with the full nonce. */
	uint8_t pt[114], ad[12], key[32], nonce[12], want[114 + 16], out[114 + 16], back[114];

	CHECK_EQ(unhex(pt, sunscreen_pt), 114);
	CHECK_EQ(unhex(ad, sunscreen_ad), 12);
	CHECK_EQ(unhex(key, sunscreen_key), 32);
	CHECK_EQ(unhex(nonce, "070000004041424344454647"), 12);
	CHECK_EQ(unhex(want, "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6"
			     "3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36"
			     "92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc"
			     "3ff4def08e4b7a9de576d26586cec64b6116"
			     "1ae10b594f09e26a7e902ecbd0600691"), 114 + 16);

	for (size_t i = 0; i < 2; i++) {
		CHECK(aead_backend_available(backends[i]));
		memset(out, 0, sizeof(out));
		CHECK_EQ(aead_backend_seal(backends[i], out, pt, sizeof(pt), ad, sizeof(ad), nonce, key), 0);
		CHECK_MEM(out, want, sizeof(want));
		CHECK_EQ(aead_backend_open(backends[i], back, want, sizeof(want), ad, sizeof(ad), nonce, key), 0);
		CHECK_MEM(back, pt, sizeof(pt));
	}
}

/* Appendix A.5: nonce 00000000 || 0102030405060708, i.e. counter
 * 0x0807060504030201 little-endian, so the public interface can take it. */
static const char a5_key[] = "1c9240a5eb55d38af333888604f6b5f0473917c1402b80099dca5cbc207075c0";
static const char a5_ad[] = "f33388860000000000004e91";
static const uint64_t a5_counter = 0x0807060504030201ull;
static const char a5_ct_tag[] =
	"64a0861575861af460f062c79be643bd5e805cfd345cf389f108670ac76c8cb2"
	"4c6cfc18755d43eea09ee94e382d26b0bdb7b73c321b0100d4f03b7f355894cf"
	"332f830e710b97ce98c8a84abd0b948114ad176e008d33bd60f982b1ff37c855"
	"9797a06ef4f0ef61c186324e2b3506383606907b6a7c02b0f9f6157b53c867e4"
	"b9166c767b804d46a59b5216cde7a4e99040c5a40433225ee282a1b0a06c523e"
	"af4534d7f83fa1155b0047718cbc546a0d072b04b3564eea1b422273f548271a"
	"0bb2316053fa76991955ebd63159434ecebb4e466dae5a1073a6727627097a10"
	"49e617d91d361094fa68f0ff77987130305beaba2eda04df997b714d6c6f2c29"
	"a6ad5cb4022b02709b"
	"eead9d67890cbb22392336fea1851f38";
static const char a5_pt[] =
	"496e7465726e65742d4472616674732061726520647261667420646f63756d65"
	"6e74732076616c696420666f722061206d6178696d756d206f6620736978206d"
	"6f6e74687320616e64206d617920626520757064617465642c207265706c6163"
	"65642c206f72206f62736f6c65746564206279206f7468657220646f63756d65"
	"6e747320617420616e792074696d652e20497420697320696e617070726f7072"
	"6961746520746f2075736520496e7465726e65742d4472616674732061732072"
	"65666572656e6365206d6174657269616c206f7220746f206369746520746865"
	"6d206f74686572207468616e206173202fe2809c776f726b20696e2070726f67"
	"726573732e2fe2809d";

static void aead_rfc8439_a5(void)
{
	enum { LEN = 265 };
	uint8_t key[32], ad[12], ct[LEN + 16], pt[LEN], out[LEN + 16], nonce[12];

	CHECK_EQ(unhex(key, a5_key), 32);
	CHECK_EQ(unhex(ad, a5_ad), 12);
	CHECK_EQ(unhex(ct, a5_ct_tag), LEN + 16);
	CHECK_EQ(unhex(pt, a5_pt), LEN);
	CHECK_EQ(unhex(nonce, "000000000102030405060708"), 12);

	/* Through the interface the engine uses (the dispatch: LEN is above
	 * the threshold), out of place and in place. */
	memset(out, 0, sizeof(out));
	CHECK(aead_open(out, ct, sizeof(ct), ad, sizeof(ad), a5_counter, key));
	CHECK_MEM(out, pt, LEN);
	memcpy(out, ct, sizeof(ct));
	CHECK(aead_open(out, out, sizeof(ct), ad, sizeof(ad), a5_counter, key));
	CHECK_MEM(out, pt, LEN);
	aead_seal(out, out, LEN, ad, sizeof(ad), a5_counter, key);
	CHECK_MEM(out, ct, sizeof(ct));

	/* And through each backend with the RFC's nonce bytes. */
	for (size_t i = 0; i < 2; i++) {
		memset(out, 0, sizeof(out));
		CHECK_EQ(aead_backend_open(backends[i], out, ct, sizeof(ct), ad, sizeof(ad), nonce, key), 0);
		CHECK_MEM(out, pt, LEN);
		CHECK_EQ(aead_backend_seal(backends[i], out, pt, LEN, ad, sizeof(ad), nonce, key), 0);
		CHECK_MEM(out, ct, sizeof(ct));
	}
}

static void aead_rejects_tampering(void)
{
	/* A short and a long packet, so both sides of the dispatch are hit. */
	static const size_t lens[] = { 0, AEAD_OPENSSL_MIN_LEN - 1, AEAD_OPENSSL_MIN_LEN + 200 };
	static const uint8_t zero[AEAD_OPENSSL_MIN_LEN + 200];
	uint8_t key[32], ad[16], pt[sizeof(zero)], ct[sizeof(zero) + 16], bad[sizeof(ct)],
		out[sizeof(zero)];

	fill(key, sizeof(key));
	fill(ad, sizeof(ad));
	for (size_t l = 0; l < sizeof(lens) / sizeof(lens[0]); l++) {
		size_t len = lens[l], n = len + AEAD_TAG_LEN;

		fill(pt, len);
		aead_seal(ct, pt, len, ad, sizeof(ad), 42, key);
		CHECK(aead_open(out, ct, n, ad, sizeof(ad), 42, key));
		CHECK_MEM(out, pt, len);

		/* Every bit of the ciphertext and tag matters. */
		for (size_t bit = 0; bit < 8 * n; bit += (len > 64 ? 29 : 1)) {
			memcpy(bad, ct, n);
			bad[bit / 8] ^= (uint8_t)(1 << (bit % 8));
			memset(out, 0x55, sizeof(out));
			CHECK(!aead_open(out, bad, n, ad, sizeof(ad), 42, key));
			CHECK_MEM(out, zero, len); /* no unauthenticated plaintext */
		}
		ad[3] ^= 1;
		CHECK(!aead_open(out, ct, n, ad, sizeof(ad), 42, key));
		ad[3] ^= 1;
		CHECK(!aead_open(out, ct, n, ad, sizeof(ad) - 1, 42, key));
		CHECK(!aead_open(out, ct, n, ad, sizeof(ad), 43, key));
		key[0] ^= 0x80;
		CHECK(!aead_open(out, ct, n, ad, sizeof(ad), 42, key));
		key[0] ^= 0x80;
		CHECK(aead_open(out, ct, n, ad, sizeof(ad), 42, key));
	}
	CHECK(!aead_open(out, ct, AEAD_TAG_LEN - 1, ad, sizeof(ad), 42, key));
	for (size_t i = 0; i < 2; i++) {
		uint8_t nonce[12] = { 0 };

		aead_backend_seal(backends[i], ct, pt, 200, ad, sizeof(ad), nonce, key);
		ct[7] ^= 4;
		memset(out, 0x55, sizeof(out));
		CHECK_EQ(aead_backend_open(backends[i], out, ct, 216, ad, sizeof(ad), nonce, key), -EBADMSG);
		CHECK_MEM(out, zero, 200);
	}
}

/* Every size 0..2000 with and without AD, and sizes around the OpenSSL
 * backend's keystream chunks up to the largest IP packet: libsodium and
 * OpenSSL agree byte for byte, and aead_seal/aead_open round-trip in place. */
static void aead_backends_agree_in_place(void)
{
	enum { SWEEP = 2000, MAX = 65535 };
	static const size_t large[] = { 4031, 4032, 4033, 4095, 4096, 4097, 8127, 8128, 8129,
					9000, 65519, MAX };
	static uint8_t pt[MAX], a[MAX + 16], b[MAX + 16], buf[MAX + 16];
	uint8_t key[32], ad[32], nonce[12];
	int differ = 0, bad_seal = 0, bad_open = 0, tampered_opened = 0;
	size_t n_large = sizeof(large) / sizeof(large[0]);

	CHECK(AEAD_OPENSSL_MIN_LEN > 0 && AEAD_OPENSSL_MIN_LEN < SWEEP);
	for (size_t step = 0; step <= SWEEP + n_large; step++) {
		size_t len = step <= SWEEP ? step : large[step - SWEEP - 1];
		size_t ad_len = len % 3 ? 0 : len % 33;
		uint64_t counter = test_rnd();

		fill(key, sizeof(key));
		fill(ad, sizeof(ad));
		fill(pt, len);
		memset(nonce, 0, 4);
		for (int i = 0; i < 8; i++)
			nonce[4 + i] = (uint8_t)(counter >> (8 * i));

		aead_backend_seal(AEAD_SODIUM, a, pt, len, ad, ad_len, nonce, key);
		aead_backend_seal(AEAD_OPENSSL, b, pt, len, ad, ad_len, nonce, key);
		differ += memcmp(a, b, len + 16) != 0;

		memcpy(buf, pt, len);
		aead_seal(buf, buf, len, ad, ad_len, counter, key);
		bad_seal += memcmp(buf, a, len + 16) != 0;
		bad_open += !aead_open(buf, buf, len + 16, ad, ad_len, counter, key) ||
			    memcmp(buf, pt, len) != 0;

		a[test_rnd() % (len + 16)] ^= 1;
		tampered_opened += aead_open(buf, a, len + 16, ad, ad_len, counter, key);
	}
	CHECK_EQ(differ, 0);
	CHECK_EQ(bad_seal, 0);
	CHECK_EQ(bad_open, 0);
	CHECK_EQ(tampered_opened, 0);
}

/* The OpenSSL context keeps the last key between calls: runs under one key,
 * keys alternating, and a key changed in place all give libsodium's bytes;
 * aead_forget() leaves no key behind. */
static void aead_key_kept_between_calls(void)
{
	enum { LEN = 1420, ROUNDS = 64 };
	static uint8_t pt[LEN], want[LEN + 16], got[LEN + 16];
	uint8_t keys[2][32], nonce[12] = { 0 };
	int wrong = 0;

	fill(keys[0], 32);
	fill(keys[1], 32);
	fill(pt, LEN);
	for (int i = 0; i < ROUNDS; i++) {
		/* 0..15 key 0; then alternating; then key 1 changed in place */
		const uint8_t *key = keys[i < 16 ? 0 : i < 48 ? i % 2 : 1];
		uint64_t counter = (uint64_t)i * 7919;

		if (i >= 48)
			keys[1][i % 32] ^= 0x5a;
		for (int b = 0; b < 8; b++)
			nonce[4 + b] = (uint8_t)(counter >> (8 * b));
		aead_backend_seal(AEAD_SODIUM, want, pt, LEN, NULL, 0, nonce, key);
		aead_seal(got, pt, LEN, NULL, 0, counter, key);
		wrong += memcmp(got, want, LEN + 16) != 0;
		wrong += !aead_open(got, got, LEN + 16, NULL, 0, counter, key) || memcmp(got, pt, LEN) != 0;
	}
	CHECK_EQ(wrong, 0);
	CHECK(aead_backend_holds_key());
	aead_forget();
	CHECK(!aead_backend_holds_key());
	aead_forget(); /* twice is fine */
	aead_seal(got, pt, LEN, NULL, 0, 1, keys[0]);
	CHECK(aead_backend_holds_key());
	aead_forget();
	CHECK(!aead_backend_holds_key());
}

/* Several threads sealing and opening at once, each with OpenSSL's
 * per-thread context, checked against libsodium. */
struct thread_job { uint64_t seed; int errors; };

static void *aead_thread(void *p)
{
	struct thread_job *job = p;
	static const uint8_t ad[1];
	uint8_t key[32], pt[1500], buf[1500 + 16], want[1500 + 16], nonce[12] = { 0 };
	uint64_t s = job->seed;

	for (int i = 0; i < 500; i++) {
		size_t len;

		s = s * 6364136223846793005ull + 1442695040888963407ull;
		len = (s >> 33) % sizeof(pt);
		for (size_t j = 0; j < sizeof(key); j++)
			key[j] = (uint8_t)(s >> (j % 8 * 8)) ^ (uint8_t)j;
		for (size_t j = 0; j < len; j++)
			pt[j] = (uint8_t)(j * 7 + i);
		memcpy(nonce + 4, &i, sizeof(i));
		aead_backend_seal(AEAD_SODIUM, want, pt, len, ad, 0, nonce, key);
		memcpy(buf, pt, len);
		aead_seal(buf, buf, len, ad, 0, (uint64_t)(uint32_t)i, key);
		job->errors += memcmp(buf, want, len + 16) != 0;
		job->errors += !aead_open(buf, buf, len + 16, ad, 0, (uint64_t)(uint32_t)i, key) ||
			       memcmp(buf, pt, len) != 0;
	}
	return NULL;
}

static void aead_threads(void)
{
	enum { THREADS = 4 };
	pthread_t t[THREADS];
	struct thread_job jobs[THREADS];
	int errors = 0;

	for (int i = 0; i < THREADS; i++) {
		jobs[i] = (struct thread_job){ .seed = test_rnd() };
		CHECK_EQ(pthread_create(&t[i], NULL, aead_thread, &jobs[i]), 0);
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(t[i], NULL);
		errors += jobs[i].errors;
	}
	CHECK_EQ(errors, 0);
}

/* ---- XChaCha20-Poly1305, draft-irtf-cfrg-xchacha-03 A.3.1 ---- */

static void xaead_draft_a3_1(void)
{
	uint8_t pt[114], ad[12], key[32], nonce[24], want[114 + 16], out[114 + 16];

	CHECK_EQ(unhex(pt, sunscreen_pt), 114);
	CHECK_EQ(unhex(ad, sunscreen_ad), 12);
	CHECK_EQ(unhex(key, sunscreen_key), 32);
	CHECK_EQ(unhex(nonce, "404142434445464748494a4b4c4d4e4f5051525354555657"), 24);
	CHECK_EQ(unhex(want, "bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb"
			     "731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b452"
			     "2f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff9"
			     "21f9664c97637da9768812f615c68b13b52e"
			     "c0875924c1c7987947deafd8780acf49"), 114 + 16);

	xaead_seal(out, pt, sizeof(pt), ad, sizeof(ad), nonce, key);
	CHECK_MEM(out, want, sizeof(want));
	CHECK(xaead_open(out, out, sizeof(out), ad, sizeof(ad), nonce, key));
	CHECK_MEM(out, pt, sizeof(pt));

	memcpy(out, want, sizeof(want));
	out[sizeof(out) - 1] ^= 1;
	CHECK(!xaead_open(out, out, sizeof(out), ad, sizeof(ad), nonce, key));
	nonce[23] ^= 1;
	CHECK(!xaead_open(out, want, sizeof(want), ad, sizeof(ad), nonce, key));
	CHECK(!xaead_open(out, want, AEAD_TAG_LEN - 1, ad, sizeof(ad), nonce, key));
}

/* ---- BLAKE2s, RFC 7693 ---- */

static void blake2s_rfc7693_abc(void)
{
	uint8_t want[32], got[32];

	/* Appendix B. */
	unhex(want, "508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982");
	b2s(got, 32, (const uint8_t *)"abc", 3, NULL, 0);
	CHECK_MEM(got, want, 32);
}

/* Appendix E's deterministic input (a Fibonacci sequence). */
static void selftest_seq(uint8_t *out, size_t len, uint32_t seed)
{
	uint32_t a = 0xDEAD4BAD * seed, b = 1;

	for (size_t i = 0; i < len; i++) {
		uint32_t t = a + b;

		a = b;
		b = t;
		out[i] = (uint8_t)(t >> 24);
	}
}

static void blake2s_rfc7693_selftest(void)
{
	/* Appendix E: hash every unkeyed and keyed digest for these lengths
	 * into one BLAKE2s-256 and compare with the RFC's result. */
	static const size_t md_len[] = { 16, 20, 28, 32 };
	static const size_t in_len[] = { 0, 3, 64, 65, 255, 1024 };
	uint8_t in[1024], md[32], key[32], want[32];
	struct b2s_ctx ctx;

	unhex(want, "6a411f08ce25adcdfb02aba641451cec53c598b24f4fc787fbdc88797f4c1dfe");
	b2s_init(&ctx, 32);
	for (size_t i = 0; i < 4; i++) {
		size_t outlen = md_len[i];

		for (size_t j = 0; j < 6; j++) {
			size_t inlen = in_len[j];

			selftest_seq(in, inlen, (uint32_t)inlen);
			b2s(md, outlen, in, inlen, NULL, 0);
			b2s_update(&ctx, md, outlen);

			selftest_seq(key, outlen, (uint32_t)outlen);
			b2s(md, outlen, in, inlen, key, outlen);
			b2s_update(&ctx, md, outlen);
		}
	}
	b2s_final(&ctx, md);
	CHECK_MEM(md, want, 32);
}

static void blake2s_keyed_mac(void)
{
	/* python3: hashlib.blake2s(bytes(range(116)), digest_size=16,
	 *                          key=bytes(range(32))).hexdigest() */
	uint8_t key[32], in[116], want[16], got[32];

	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)i;
	for (size_t i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)i;
	unhex(want, "072e94ffbfc684bd8ab2a1b9dade2fd5");
	memset(got, 0xee, sizeof(got));
	b2s(got, BLAKE2S_MAC_LEN, in, sizeof(in), key, sizeof(key));
	CHECK_MEM(got, want, 16);
	CHECK_EQ(got[16], 0xee); /* writes exactly out_len bytes */
}

static void blake2s_incremental_matches_one_shot(void)
{
	static uint8_t in[3000];
	int mismatches = 0;

	fill(in, sizeof(in));
	for (int round = 0; round < 300; round++) {
		size_t len = round < 200 ? (size_t)round : test_rnd() % sizeof(in);
		uint8_t one[32], inc[32];
		struct b2s_ctx ctx;
		size_t off = 0;

		b2s(one, 32, in, len, NULL, 0);
		b2s_init(&ctx, 32);
		while (off < len) {
			size_t piece = test_rnd() % 100 == 0 ? 0 : test_rnd() % (len - off + 1);

			b2s_update(&ctx, in + off, piece);
			off += piece;
		}
		b2s_final(&ctx, inc);
		mismatches += memcmp(one, inc, 32) != 0;
	}
	CHECK_EQ(mismatches, 0);
}

/* ---- HMAC-BLAKE2s and the KDF ---- */

static void hmac_b2s_vectors(void)
{
	/* Produced once with Python 3.11:
	 *   hmac.new(key, msg, hashlib.blake2s).hexdigest()
	 * 1: key = bytes(range(32)), msg = b"weft hmac-blake2s test"
	 * 2: key = bytes(range(80)) (longer than a block: hashed first),
	 *    msg = b"\xa5" * 100
	 * 3: key = b"", msg = b"" */
	uint8_t key[80], msg[100], want[32], got[32];
	const char *m1 = "weft hmac-blake2s test";

	for (size_t i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)i;
	memset(msg, 0xa5, sizeof(msg));

	unhex(want, "ef788b89209bdf81716f354a7ae70cf1cebff80067652fc3e178467c242a89bb");
	hmac_b2s(got, key, 32, (const uint8_t *)m1, strlen(m1));
	CHECK_MEM(got, want, 32);

	unhex(want, "5de43225f00d122eebcc5f07f8d8c4be5134e84d872f321608380e22475b54e8");
	hmac_b2s(got, key, 80, msg, sizeof(msg));
	CHECK_MEM(got, want, 32);

	unhex(want, "eaf4bb25938f4d20e72656bbbc7a9bf63c0c18537333c35bdb67db1402661acd");
	hmac_b2s(got, NULL, 0, NULL, 0);
	CHECK_MEM(got, want, 32);

	/* out may alias the key. */
	unhex(want, "ef788b89209bdf81716f354a7ae70cf1cebff80067652fc3e178467c242a89bb");
	memcpy(got, key, 32);
	hmac_b2s(got, got, 32, (const uint8_t *)m1, strlen(m1));
	CHECK_MEM(got, want, 32);
}

static void kdf_vectors(void)
{
	/* Produced once with Python 3.11, from the whitepaper's definition:
	 *   H = lambda k, m: hmac.new(k, m, hashlib.blake2s).digest()
	 *   t0 = H(key, input); t1 = H(t0, b"\1"); t2 = H(t0, t1 + b"\2");
	 *   t3 = H(t0, t2 + b"\3")
	 * 1: key = bytes(range(32)), input = bytes(range(32, 64))
	 * 2: key = b"\xff" * 32, input = b"" */
	static const char *const want_hex[2][3] = {
		{ "6a96444e20e8d4c1cee974416acae1c10b3c92886010e54ed94dafb2c3b80ea0",
		  "57af120b0de7acbe7907ec149c5ae870a2dbb74232b65777ba4123f1f7f888f5",
		  "0926c7caabb6e8d73beda759e6f4f0d324ce5b5000bcf8cd784b26db3049faa9" },
		{ "2242fd0f7a754a7597f2b500c91e28b9ccdad38b7b341d867eaeaf1e5f0768ec",
		  "6b767b8871518e98ddb3bac72e12e89d5b7f3a42b289a82ad66551c4b893b6b5",
		  "e9e562cb794059bcfdbf8abf3c3669b42c8d9cc47134773311ff467e00619339" },
	};
	uint8_t key[2][32], input[32], want[3][32], t[3][32];

	for (int i = 0; i < 32; i++) {
		key[0][i] = (uint8_t)i;
		input[i] = (uint8_t)(32 + i);
	}
	memset(key[1], 0xff, 32);

	for (int v = 0; v < 2; v++) {
		size_t in_len = v == 0 ? sizeof(input) : 0;

		for (int i = 0; i < 3; i++)
			unhex(want[i], want_hex[v][i]);
		kdf(t[0], t[1], t[2], input, in_len, key[v]);
		CHECK_MEM(t[0], want[0], 32);
		CHECK_MEM(t[1], want[1], 32);
		CHECK_MEM(t[2], want[2], 32);

		/* Fewer outputs are prefixes of the same sequence. */
		memset(t, 0, sizeof(t));
		kdf(t[0], NULL, NULL, input, in_len, key[v]);
		CHECK_MEM(t[0], want[0], 32);
		kdf(NULL, t[1], NULL, input, in_len, key[v]);
		CHECK_MEM(t[1], want[1], 32);
		kdf(t[0], t[1], NULL, input, in_len, key[v]);
		CHECK_MEM(t[0], want[0], 32);
		CHECK_MEM(t[1], want[1], 32);

		/* The handshake's pattern: the chaining key is both key and T1. */
		memcpy(t[0], key[v], 32);
		kdf(t[0], t[1], NULL, input, in_len, t[0]);
		CHECK_MEM(t[0], want[0], 32);
		CHECK_MEM(t[1], want[1], 32);
	}
	/* An empty input may be NULL (the transport keys: KDF2(C, empty)). */
	memset(t, 0, sizeof(t));
	kdf(t[0], t[1], NULL, NULL, 0, key[1]);
	CHECK_MEM(t[0], want[0], 32);
	CHECK_MEM(t[1], want[1], 32);
}

/* ---- secrets ---- */

static void secret_helpers(void)
{
	uint8_t a[64], b[64];
	static const uint8_t zero[64];

	fill(a, sizeof(a));
	memcpy(b, a, sizeof(b));
	CHECK(memeq_ct(a, b, sizeof(a)));
	CHECK(memeq_ct(a, b, 0));
	for (size_t i = 0; i < sizeof(a); i += 7) {
		b[i] ^= 0x01;
		CHECK(!memeq_ct(a, b, sizeof(a)));
		b[i] ^= 0x81;
		CHECK(!memeq_ct(a, b, sizeof(a)));
		b[i] ^= 0x80;
	}
	CHECK(memeq_ct(a, b, sizeof(a)));
	b[63] ^= 1;
	CHECK(memeq_ct(a, b, 63)); /* only n bytes compared */

	CHECK(is_zero_ct(zero, sizeof(zero)));
	CHECK(is_zero_ct(a, 0));
	memset(b, 0, sizeof(b));
	b[40] = 0x80;
	CHECK(!is_zero_ct(b, sizeof(b)));
	CHECK(is_zero_ct(b, 40));

	memset(a, 0xff, sizeof(a));
	memzero(a, 32);
	CHECK_MEM(a, zero, 32);
	CHECK_EQ(a[32], 0xff);
	memzero(NULL, 0);
}

int main(void)
{
	test_suite_name = "crypto";
	test_seed(0x5765667443727970ull);
	if (crypto_init() != 0 || crypto_init() != 0) {
		printf("FAIL: crypto/crypto_init\n");
		return 1;
	}
	RUN(x25519_rfc7748_5_2);
	RUN(x25519_rfc7748_iterated);
	RUN(x25519_rfc7748_6_1);
	RUN(x25519_rejects_low_order);
	RUN(x25519_generate_private_clamps);
	RUN(aead_rfc8439_2_8_2);
	RUN(aead_rfc8439_a5);
	RUN(aead_rejects_tampering);
	RUN(aead_backends_agree_in_place);
	RUN(aead_key_kept_between_calls);
	RUN(aead_threads);
	RUN(xaead_draft_a3_1);
	RUN(blake2s_rfc7693_abc);
	RUN(blake2s_rfc7693_selftest);
	RUN(blake2s_keyed_mac);
	RUN(blake2s_incremental_matches_one_shot);
	RUN(hmac_b2s_vectors);
	RUN(kdf_vectors);
	RUN(secret_helpers);
	TEST_EXIT();
}
