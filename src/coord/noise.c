/* noise.c: the coord handshake, Noise IK (no pre-shared key):
 *   <- s
 *   ...
 *   -> e, es, s, ss      (initiation: payload = TAI64N timestamp)
 *   <- e, ee, se         (response: empty payload)
 * with HASH = BLAKE2s-256, MixKey = WireGuard's KDF (HKDF over
 * HMAC-BLAKE2s), AEAD = ChaCha20-Poly1305 with nonce 0 after every MixKey,
 * prologue "weft coord v1". Then WireGuard's mac1/mac2/cookie scheme under
 * coord's own labels, the transport seal/open and a compact replay window.
 * The exact bytes are in docs/coord-protocol.md. */
#include "coord/noise.h"

#include <endian.h>
#include <errno.h>
#include <string.h>

#include "crypto/crypto.h"

static void hash2(uint8_t out[32], const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len)
{
	struct b2s_ctx ctx;

	b2s_init(&ctx, 32);
	b2s_update(&ctx, a, a_len);
	b2s_update(&ctx, b, b_len);
	b2s_final(&ctx, out);
}

static void mix_hash(uint8_t h[32], const uint8_t *in, size_t len)
{
	hash2(h, h, 32, in, len);
}

/* (ck, k) = KDF2(ck, DH(priv, pub)); false on an all-zero result. */
static bool mix_dh(uint8_t ck[32], uint8_t *k, const uint8_t priv[32], const uint8_t pub[32])
{
	uint8_t dh[32];
	bool ok = x25519(dh, priv, pub);

	if (ok)
		kdf(ck, k, NULL, dh, sizeof(dh), ck);
	memzero(dh, sizeof(dh));
	return ok;
}

static void hs_start(struct coord_hs *hs, const uint8_t server_pub[32])
{
	static const char c[] = COORD_NOISE_CONSTRUCTION, id[] = COORD_NOISE_IDENTIFIER;

	b2s(hs->ck, 32, (const uint8_t *)c, sizeof(c) - 1, NULL, 0);
	hash2(hs->hash, hs->ck, 32, (const uint8_t *)id, sizeof(id) - 1);
	mix_hash(hs->hash, server_pub, 32);
}

void coord_hs_clear(struct coord_hs *hs)
{
	memzero(hs, sizeof(*hs));
}

void coord_tai64n(uint8_t out[COORD_TIMESTAMP_LEN], uint64_t wall_ns)
{
	uint64_t sec = wall_ns / 1000000000ULL;
	uint32_t nsec = (uint32_t)(wall_ns % 1000000000ULL);
	nsec -= nsec % (1U << 24);
	uint64_t be_sec = htobe64((1ULL << 62) + 10 + sec);
	uint32_t be_nsec = htobe32(nsec);

	memcpy(out, &be_sec, 8);
	memcpy(out + 8, &be_nsec, 4);
}

bool coord_hs_create_initiation(struct coord_hs *hs, uint8_t msg[COORD_INITIATION_LEN],
				const uint8_t static_priv[32], const uint8_t static_pub[32],
				const uint8_t server_pub[32], uint32_t local_index,
				const uint8_t eph_random[32], uint64_t wall_ns)
{
	uint8_t k[32], ts[COORD_TIMESTAMP_LEN];
	bool ok = false;

	memset(msg, 0, COORD_INITIATION_LEN);
	msg[0] = COORD_MSG_INITIATION;
	coord_put_le32(msg + COORD_INIT_SENDER, local_index);
	hs_start(hs, server_pub);
	hs->local_index = local_index;
	/* e */
	x25519_generate_private(hs->eph_priv, eph_random);
	if (!x25519_public(msg + COORD_INIT_EPHEMERAL, hs->eph_priv))
		goto out;
	mix_hash(hs->hash, msg + COORD_INIT_EPHEMERAL, 32);
	/* es, s */
	if (!mix_dh(hs->ck, k, hs->eph_priv, server_pub))
		goto out;
	aead_seal(msg + COORD_INIT_STATIC, static_pub, 32, hs->hash, 32, 0, k);
	mix_hash(hs->hash, msg + COORD_INIT_STATIC, 32 + COORD_TAG_LEN);
	/* ss, payload */
	if (!mix_dh(hs->ck, k, static_priv, server_pub))
		goto out;
	coord_tai64n(ts, wall_ns);
	aead_seal(msg + COORD_INIT_TIMESTAMP, ts, sizeof(ts), hs->hash, 32, 0, k);
	mix_hash(hs->hash, msg + COORD_INIT_TIMESTAMP, sizeof(ts) + COORD_TAG_LEN);
	ok = true;
out:
	memzero(k, sizeof(k));
	if (!ok)
		coord_hs_clear(hs);
	return ok;
}

bool coord_hs_consume_initiation(struct coord_hs *hs, const uint8_t msg[COORD_INITIATION_LEN],
				 const uint8_t server_priv[32], const uint8_t server_pub[32],
				 uint8_t client_pub[32], uint8_t timestamp[COORD_TIMESTAMP_LEN])
{
	uint8_t k[32];
	bool ok = false;

	hs_start(hs, server_pub);
	hs->remote_index = coord_get_le32(msg + COORD_INIT_SENDER);
	memcpy(hs->remote_eph, msg + COORD_INIT_EPHEMERAL, 32);
	mix_hash(hs->hash, hs->remote_eph, 32);
	if (!mix_dh(hs->ck, k, server_priv, hs->remote_eph))
		goto out;
	if (!aead_open(client_pub, msg + COORD_INIT_STATIC, 32 + COORD_TAG_LEN, hs->hash, 32, 0, k))
		goto out;
	mix_hash(hs->hash, msg + COORD_INIT_STATIC, 32 + COORD_TAG_LEN);
	if (!mix_dh(hs->ck, k, server_priv, client_pub))
		goto out;
	if (!aead_open(timestamp, msg + COORD_INIT_TIMESTAMP, COORD_TIMESTAMP_LEN + COORD_TAG_LEN,
		       hs->hash, 32, 0, k))
		goto out;
	mix_hash(hs->hash, msg + COORD_INIT_TIMESTAMP, COORD_TIMESTAMP_LEN + COORD_TAG_LEN);
	ok = true;
out:
	memzero(k, sizeof(k));
	if (!ok) {
		coord_hs_clear(hs);
		memzero(client_pub, 32);
	}
	return ok;
}

/* Split(): T1 protects initiator -> responder, T2 the other way. */
static void hs_split(struct coord_hs *hs, struct coord_keys *keys, bool initiator)
{
	uint8_t t1[32], t2[32];
	static const uint8_t none[1];

	kdf(t1, t2, NULL, none, 0, hs->ck);
	memset(keys, 0, sizeof(*keys));
	memcpy(keys->send, initiator ? t1 : t2, 32);
	memcpy(keys->recv, initiator ? t2 : t1, 32);
	keys->local_index = hs->local_index;
	keys->remote_index = hs->remote_index;
	coord_replay_init(&keys->replay);
	memzero(t1, sizeof(t1));
	memzero(t2, sizeof(t2));
	coord_hs_clear(hs);
}

bool coord_hs_create_response(struct coord_hs *hs, uint8_t msg[COORD_RESPONSE_LEN],
			      const uint8_t client_pub[32], uint32_t local_index,
			      const uint8_t eph_random[32], struct coord_keys *keys)
{
	uint8_t k[32];
	bool ok = false;

	memset(msg, 0, COORD_RESPONSE_LEN);
	msg[0] = COORD_MSG_RESPONSE;
	hs->local_index = local_index;
	coord_put_le32(msg + COORD_RESP_SENDER, local_index);
	coord_put_le32(msg + COORD_RESP_RECEIVER, hs->remote_index);
	/* e */
	x25519_generate_private(hs->eph_priv, eph_random);
	if (!x25519_public(msg + COORD_RESP_EPHEMERAL, hs->eph_priv))
		goto out;
	mix_hash(hs->hash, msg + COORD_RESP_EPHEMERAL, 32);
	/* ee */
	if (!mix_dh(hs->ck, NULL, hs->eph_priv, hs->remote_eph))
		goto out;
	/* se, empty payload */
	if (!mix_dh(hs->ck, k, hs->eph_priv, client_pub))
		goto out;
	aead_seal(msg + COORD_RESP_EMPTY, NULL, 0, hs->hash, 32, 0, k);
	mix_hash(hs->hash, msg + COORD_RESP_EMPTY, COORD_TAG_LEN);
	hs_split(hs, keys, false);
	ok = true;
out:
	memzero(k, sizeof(k));
	if (!ok)
		coord_hs_clear(hs);
	return ok;
}

bool coord_hs_consume_response(struct coord_hs *hs, const uint8_t msg[COORD_RESPONSE_LEN],
			       const uint8_t static_priv[32], struct coord_keys *keys)
{
	struct coord_hs t = *hs; /* a forged response must not spoil hs */
	uint8_t k[32], empty[1];
	bool ok = false;

	if (coord_get_le32(msg + COORD_RESP_RECEIVER) != t.local_index)
		goto out;
	t.remote_index = coord_get_le32(msg + COORD_RESP_SENDER);
	memcpy(t.remote_eph, msg + COORD_RESP_EPHEMERAL, 32);
	mix_hash(t.hash, t.remote_eph, 32);
	if (!mix_dh(t.ck, NULL, t.eph_priv, t.remote_eph))
		goto out;
	if (!mix_dh(t.ck, k, static_priv, t.remote_eph))
		goto out;
	if (!aead_open(empty, msg + COORD_RESP_EMPTY, COORD_TAG_LEN, t.hash, 32, 0, k))
		goto out;
	mix_hash(t.hash, msg + COORD_RESP_EMPTY, COORD_TAG_LEN);
	hs_split(&t, keys, true);
	coord_hs_clear(hs);
	ok = true;
out:
	memzero(k, sizeof(k));
	coord_hs_clear(&t);
	return ok;
}

static void labelled_key(uint8_t key[32], const char *label, const uint8_t pub[32])
{
	hash2(key, (const uint8_t *)label, 8, pub, 32);
}

void coord_mac1_key(uint8_t key[32], const uint8_t receiver_pub[32])
{
	labelled_key(key, COORD_LABEL_MAC1, receiver_pub);
}

void coord_cookie_key(uint8_t key[32], const uint8_t receiver_pub[32])
{
	labelled_key(key, COORD_LABEL_COOKIE, receiver_pub);
}

void coord_add_macs(uint8_t *msg, size_t len, const uint8_t mac1_key[32], const uint8_t *cookie)
{
	b2s(msg + len - 32, COORD_MAC_LEN, msg, len - 32, mac1_key, 32);
	if (cookie)
		b2s(msg + len - 16, COORD_MAC_LEN, msg, len - 16, cookie, COORD_COOKIE_LEN);
	else
		memset(msg + len - 16, 0, COORD_MAC_LEN);
}

bool coord_check_mac1(const uint8_t *msg, size_t len, const uint8_t mac1_key[32])
{
	uint8_t mac[COORD_MAC_LEN];

	b2s(mac, sizeof(mac), msg, len - 32, mac1_key, 32);
	return memeq_ct(mac, msg + len - 32, sizeof(mac));
}

bool coord_check_mac2(const uint8_t *msg, size_t len, const uint8_t cookie[COORD_COOKIE_LEN])
{
	uint8_t mac[COORD_MAC_LEN];

	b2s(mac, sizeof(mac), msg, len - 16, cookie, COORD_COOKIE_LEN);
	return memeq_ct(mac, msg + len - 16, sizeof(mac));
}

void coord_make_cookie(uint8_t cookie[COORD_COOKIE_LEN], const uint8_t secret[32],
		       const struct coord_addr *src)
{
	uint8_t in[1 + 2 + 16] = { src->family, (uint8_t)(src->port >> 8), (uint8_t)src->port };

	memcpy(in + 3, src->ip, 16);
	b2s(cookie, COORD_COOKIE_LEN, in, sizeof(in), secret, 32);
}

void coord_cookie_reply_create(uint8_t out[COORD_COOKIE_REPLY_LEN], const uint8_t *initiation,
			       const uint8_t cookie[COORD_COOKIE_LEN],
			       const uint8_t cookie_key[32], const uint8_t nonce[24])
{
	memset(out, 0, COORD_COOKIE_REPLY_LEN);
	out[0] = COORD_MSG_COOKIE;
	memcpy(out + COORD_COOKIE_RECEIVER, initiation + COORD_INIT_SENDER, 4);
	memcpy(out + COORD_COOKIE_NONCE, nonce, 24);
	xaead_seal(out + COORD_COOKIE_SEALED, cookie, COORD_COOKIE_LEN,
		   initiation + COORD_INIT_MAC1, COORD_MAC_LEN, nonce, cookie_key);
}

bool coord_cookie_reply_open(uint8_t cookie[COORD_COOKIE_LEN], const uint8_t *msg, size_t len,
			     const uint8_t mac1_sent[COORD_MAC_LEN], const uint8_t cookie_key[32])
{
	if (len != COORD_COOKIE_REPLY_LEN || msg[0] != COORD_MSG_COOKIE)
		return false;
	return xaead_open(cookie, msg + COORD_COOKIE_SEALED, COORD_COOKIE_LEN + COORD_TAG_LEN,
			  mac1_sent, COORD_MAC_LEN, msg + COORD_COOKIE_NONCE, cookie_key);
}

int coord_transport_seal(struct coord_keys *k, const uint8_t *pt, size_t pt_len,
			 uint8_t *out, size_t cap)
{
	size_t padded = (pt_len + COORD_PADDING - 1) / COORD_PADDING * COORD_PADDING;

	if (!padded)
		padded = COORD_PADDING;
	if (padded > COORD_INNER_MAX || cap < COORD_TRANSPORT_OVERHEAD + padded)
		return -EMSGSIZE;
	if (k->send_counter >= COORD_REJECT_AFTER_MESSAGES)
		return -ESTALE;
	uint8_t *body = out + COORD_TRANSPORT_SEALED;
	memmove(body, pt, pt_len);
	memset(body + pt_len, 0, padded - pt_len);
	memset(out, 0, COORD_TRANSPORT_HEADER_LEN);
	out[0] = COORD_MSG_TRANSPORT;
	coord_put_le32(out + COORD_TRANSPORT_RECEIVER, k->remote_index);
	uint64_t counter = k->send_counter++;
	coord_put_le64(out + COORD_TRANSPORT_COUNTER, counter);
	aead_seal(body, body, padded, NULL, 0, counter, k->send);
	return (int)(COORD_TRANSPORT_OVERHEAD + padded);
}

int coord_transport_open(struct coord_keys *k, const uint8_t *pkt, size_t len,
			 uint8_t *pt, size_t cap)
{
	if (coord_classify(pkt, len) != COORD_KIND_TRANSPORT)
		return -EBADMSG;
	size_t pt_len = len - COORD_TRANSPORT_OVERHEAD;
	if (cap < pt_len)
		return -EMSGSIZE;
	uint64_t counter = coord_get_le64(pkt + COORD_TRANSPORT_COUNTER);
	if (!coord_replay_check(&k->replay, counter))
		return -EALREADY;
	if (!aead_open(pt, pkt + COORD_TRANSPORT_SEALED, len - COORD_TRANSPORT_HEADER_LEN,
		       NULL, 0, counter, k->recv))
		return -EBADMSG;
	if (!coord_replay_update(&k->replay, counter)) {
		memzero(pt, pt_len);
		return -EALREADY;
	}
	return (int)pt_len;
}

void coord_keys_clear(struct coord_keys *k)
{
	memzero(k, sizeof(*k));
}

void coord_replay_init(struct coord_replay *w)
{
	memset(w, 0, sizeof(*w));
}

bool coord_replay_check(const struct coord_replay *w, uint64_t counter)
{
	if (counter >= COORD_REJECT_AFTER_MESSAGES)
		return false;
	if (counter + 1 > w->greatest)
		return true;
	if (w->greatest - (counter + 1) >= COORD_REPLAY_WINDOW)
		return false;
	size_t word = (size_t)(counter / 64) % COORD_REPLAY_WORDS;
	return !(w->bitmap[word] & (1ULL << (counter % 64)));
}

bool coord_replay_update(struct coord_replay *w, uint64_t counter)
{
	if (!coord_replay_check(w, counter))
		return false;
	if (counter + 1 > w->greatest) {
		/* clear the words the window slides over */
		uint64_t old_word = w->greatest ? (w->greatest - 1) / 64 : 0;
		uint64_t new_word = counter / 64;
		uint64_t steps = new_word - old_word;
		if (!w->greatest)
			steps = COORD_REPLAY_WORDS;
		if (steps > COORD_REPLAY_WORDS)
			steps = COORD_REPLAY_WORDS;
		for (uint64_t i = 1; i <= steps; i++)
			w->bitmap[(old_word + i) % COORD_REPLAY_WORDS] = 0;
		w->greatest = counter + 1;
	}
	w->bitmap[(size_t)(counter / 64) % COORD_REPLAY_WORDS] |= 1ULL << (counter % 64);
	return true;
}
