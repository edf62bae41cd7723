/* noise.c: the Noise_IKpsk2 handshake and keypair rotation. Symbols follow
 * the whitepaper: C is the chaining key, H the hash, e/s ephemeral/static.
 * Every intermediate secret is zeroed before return, on success and failure. */
#include <endian.h>
#include <stdlib.h>
#include <string.h>

#include "wg/device.h"
#include "wg/noise.h"
#include "wg/timers.h"

static uint8_t initial_chaining_key[NOISE_HASH_LEN];
static uint8_t initial_hash[NOISE_HASH_LEN];

void noise_init(void)
{
	struct b2s_ctx ctx;
	b2s((uint8_t *)initial_chaining_key, NOISE_HASH_LEN, (const uint8_t *)NOISE_CONSTRUCTION,
	    strlen(NOISE_CONSTRUCTION), NULL, 0);
	b2s_init(&ctx, NOISE_HASH_LEN);
	b2s_update(&ctx, initial_chaining_key, NOISE_HASH_LEN);
	b2s_update(&ctx, (const uint8_t *)NOISE_IDENTIFIER, strlen(NOISE_IDENTIFIER));
	b2s_final(&ctx, initial_hash);
}

static void mix_hash(uint8_t hash[NOISE_HASH_LEN], const uint8_t *src, size_t len)
{
	struct b2s_ctx ctx;
	b2s_init(&ctx, NOISE_HASH_LEN);
	b2s_update(&ctx, hash, NOISE_HASH_LEN);
	b2s_update(&ctx, src, len);
	b2s_final(&ctx, hash);
}

/* C, H for a handshake whose responder has static key responder_static. */
static void handshake_init(uint8_t ck[NOISE_HASH_LEN], uint8_t hash[NOISE_HASH_LEN],
			   const uint8_t responder_static[NOISE_PUBLIC_KEY_LEN])
{
	memcpy(ck, initial_chaining_key, NOISE_HASH_LEN);
	memcpy(hash, initial_hash, NOISE_HASH_LEN);
	mix_hash(hash, responder_static, NOISE_PUBLIC_KEY_LEN);
}

/* C = KDF1(C, e); H = HASH(H || e) */
static void message_ephemeral(uint8_t ck[NOISE_HASH_LEN], uint8_t hash[NOISE_HASH_LEN],
			      const uint8_t ephemeral[NOISE_PUBLIC_KEY_LEN])
{
	kdf(ck, NULL, NULL, ephemeral, NOISE_PUBLIC_KEY_LEN, ck);
	mix_hash(hash, ephemeral, NOISE_PUBLIC_KEY_LEN);
}

/* (C, key) = KDF2(C, DH(priv, pub)); key may be NULL for KDF1. */
static bool mix_dh(struct weft_device *dev, uint8_t ck[NOISE_HASH_LEN], uint8_t key[NOISE_SYMMETRIC_KEY_LEN],
		   const uint8_t priv[NOISE_PUBLIC_KEY_LEN], const uint8_t pub[NOISE_PUBLIC_KEY_LEN])
{
	uint8_t dh[NOISE_PUBLIC_KEY_LEN];
	dev->stats.x25519++;
	bool ok = x25519(dh, priv, pub);
	if (ok)
		kdf(ck, key, NULL, dh, sizeof(dh), ck);
	memzero(dh, sizeof(dh));
	return ok;
}

static bool mix_static_static(struct weft_device *dev, struct noise_handshake *hs,
			      uint8_t ck[NOISE_HASH_LEN], uint8_t key[NOISE_SYMMETRIC_KEY_LEN])
{
	if (hs->static_static_stale) {
		dev->stats.x25519 += dev->has_private_key;
		if (!dev->has_private_key ||
		    !x25519(hs->precomputed_static_static, dev->static_private, hs->remote_static))
			memzero(hs->precomputed_static_static, NOISE_PUBLIC_KEY_LEN);
		hs->static_static_stale = false;
	}
	if (is_zero_ct(hs->precomputed_static_static, NOISE_PUBLIC_KEY_LEN))
		return false;
	kdf(ck, key, NULL, hs->precomputed_static_static, NOISE_PUBLIC_KEY_LEN, ck);
	return true;
}

/* (C, t, key) = KDF3(C, Q); H = HASH(H || t) */
static void mix_psk(uint8_t ck[NOISE_HASH_LEN], uint8_t hash[NOISE_HASH_LEN],
		    uint8_t key[NOISE_SYMMETRIC_KEY_LEN], const uint8_t psk[NOISE_SYMMETRIC_KEY_LEN])
{
	uint8_t temp[NOISE_HASH_LEN];
	kdf(ck, temp, key, psk, NOISE_SYMMETRIC_KEY_LEN, ck);
	mix_hash(hash, temp, sizeof(temp));
	memzero(temp, sizeof(temp));
}

static void message_encrypt(uint8_t *dst, const uint8_t *src, size_t len,
			    uint8_t key[NOISE_SYMMETRIC_KEY_LEN], uint8_t hash[NOISE_HASH_LEN])
{
	aead_seal(dst, src, len, hash, NOISE_HASH_LEN, 0, key);
	mix_hash(hash, dst, len + AEAD_TAG_LEN);
}

static bool message_decrypt(uint8_t *dst, const uint8_t *src, size_t src_len,
			    uint8_t key[NOISE_SYMMETRIC_KEY_LEN], uint8_t hash[NOISE_HASH_LEN])
{
	if (!aead_open(dst, src, src_len, hash, NOISE_HASH_LEN, 0, key))
		return false;
	mix_hash(hash, src, src_len);
	return true;
}

void noise_tai64n(uint8_t out[NOISE_TIMESTAMP_LEN], uint64_t wall_ns)
{
	uint64_t sec = wall_ns / NSEC_PER_SEC;
	uint32_t nsec = (uint32_t)(wall_ns % NSEC_PER_SEC);
	nsec -= nsec % TIMESTAMP_WHITENING_NS;
	uint64_t be_sec = htobe64((1ULL << 62) + 10 + sec);
	uint32_t be_nsec = htobe32(nsec);
	memcpy(out, &be_sec, 8);
	memcpy(out + 8, &be_nsec, 4);
}

void noise_static_static_changed(struct weft_device *dev, struct weft_peer *peer)
{
	memzero(peer->handshake.precomputed_static_static, NOISE_PUBLIC_KEY_LEN);
	peer->handshake.static_static_stale = true;
}

/* Gives the handshake a fresh receiver index, dropping the one it had. */
static uint32_t handshake_take_index(struct weft_device *dev, struct weft_peer *peer)
{
	struct noise_handshake *hs = &peer->handshake;
	if (hs->state != HANDSHAKE_ZEROED)
		index_remove(dev, hs->local_index);
	hs->local_index = index_add(dev, INDEX_HANDSHAKE, peer);
	return hs->local_index;
}

static void handshake_zero(struct noise_handshake *hs)
{
	memzero(hs->ephemeral_private, sizeof(hs->ephemeral_private));
	memzero(hs->remote_ephemeral, sizeof(hs->remote_ephemeral));
	memzero(hs->hash, sizeof(hs->hash));
	memzero(hs->chaining_key, sizeof(hs->chaining_key));
	hs->remote_index = 0;
	hs->local_index = 0;
	hs->state = HANDSHAKE_ZEROED;
}

void noise_handshake_clear(struct weft_device *dev, struct weft_peer *peer)
{
	if (peer->handshake.state != HANDSHAKE_ZEROED)
		index_remove(dev, peer->handshake.local_index);
	handshake_zero(&peer->handshake);
}

static void new_ephemeral(struct weft_device *dev, uint8_t priv[NOISE_PUBLIC_KEY_LEN],
			  uint8_t pub[NOISE_PUBLIC_KEY_LEN])
{
	uint8_t random[NOISE_PUBLIC_KEY_LEN];
	do {
		dev->env.random.fill(dev->env.random.ctx, random, sizeof(random));
		x25519_generate_private(priv, random);
		dev->stats.x25519++;
	} while (!x25519_public(pub, priv));
	memzero(random, sizeof(random));
}

bool noise_create_initiation(struct weft_device *dev, struct weft_peer *peer,
			     struct message_handshake_initiation *msg)
{
	struct noise_handshake *hs = &peer->handshake;
	uint8_t key[NOISE_SYMMETRIC_KEY_LEN], timestamp[NOISE_TIMESTAMP_LEN];
	bool ok = false;

	if (!dev->has_private_key)
		return false;
	msg->header.type = htole32(MESSAGE_HANDSHAKE_INITIATION);
	handshake_init(hs->chaining_key, hs->hash, hs->remote_static);

	new_ephemeral(dev, hs->ephemeral_private, msg->unencrypted_ephemeral);
	message_ephemeral(hs->chaining_key, hs->hash, msg->unencrypted_ephemeral);

	/* es */
	if (!mix_dh(dev, hs->chaining_key, key, hs->ephemeral_private, hs->remote_static))
		goto out;
	message_encrypt(msg->encrypted_static, dev->static_public, NOISE_PUBLIC_KEY_LEN, key,
			hs->hash);
	/* ss */
	if (!mix_static_static(dev, hs, hs->chaining_key, key))
		goto out;
	noise_tai64n(timestamp, dev->env.clock.wall_ns(dev->env.clock.ctx));
	message_encrypt(msg->encrypted_timestamp, timestamp, NOISE_TIMESTAMP_LEN, key, hs->hash);

	uint32_t index = handshake_take_index(dev, peer);
	if (!index)
		goto out;
	msg->sender_index = htole32(index);
	hs->state = HANDSHAKE_CREATED_INITIATION;
	ok = true;
out:
	if (!ok)
		noise_handshake_clear(dev, peer);
	memzero(key, sizeof(key));
	return ok;
}

struct weft_peer *noise_consume_initiation(struct weft_device *dev,
					   const struct message_handshake_initiation *msg,
					   int *why)
{
	uint8_t ck[NOISE_HASH_LEN], hash[NOISE_HASH_LEN], key[NOISE_SYMMETRIC_KEY_LEN];
	uint8_t s[NOISE_PUBLIC_KEY_LEN], e[NOISE_PUBLIC_KEY_LEN], t[NOISE_TIMESTAMP_LEN];
	struct weft_peer *peer = NULL, *ret = NULL;

	*why = WEFT_DROP_HANDSHAKE_INVALID;
	if (!dev->has_private_key) {
		*why = WEFT_DROP_NO_PRIVATE_KEY;
		return NULL;
	}
	handshake_init(ck, hash, dev->static_public);
	memcpy(e, msg->unencrypted_ephemeral, sizeof(e));
	message_ephemeral(ck, hash, e);

	/* es */
	if (!mix_dh(dev, ck, key, dev->static_private, e))
		goto out;
	if (!message_decrypt(s, msg->encrypted_static, sizeof(msg->encrypted_static), key, hash))
		goto out;

	peer = weft_peer_lookup(dev, s);
	if (!peer) {
		*why = WEFT_DROP_UNKNOWN_PEER;
		goto out;
	}
	struct noise_handshake *hs = &peer->handshake;

	/* ss */
	if (!mix_static_static(dev, hs, ck, key))
		goto out;
	if (!message_decrypt(t, msg->encrypted_timestamp, sizeof(msg->encrypted_timestamp), key,
			     hash))
		goto out;

	/* A timestamp must be strictly newer (memcmp orders big-endian TAI64N
	 * correctly), and a peer gets at most INITIATIONS_PER_SECOND. */
	uint64_t now = dev_now(dev);
	if (memcmp(t, hs->latest_timestamp, NOISE_TIMESTAMP_LEN) <= 0) {
		*why = WEFT_DROP_REPLAYED_HANDSHAKE;
		goto out;
	}
	if (hs->last_initiation_consumption &&
	    hs->last_initiation_consumption + NSEC_PER_SEC / INITIATIONS_PER_SECOND > now) {
		*why = WEFT_DROP_HANDSHAKE_FLOOD;
		goto out;
	}

	memcpy(hs->remote_ephemeral, e, sizeof(e));
	memcpy(hs->latest_timestamp, t, sizeof(t));
	memcpy(hs->hash, hash, sizeof(hash));
	memcpy(hs->chaining_key, ck, sizeof(ck));
	hs->remote_index = le32toh(msg->sender_index);
	hs->last_initiation_consumption = now;
	/* An initiation of ours still in flight is superseded: its index goes,
	 * and a late response to it finds nothing (simultaneous initiations
	 * resolve to whichever response arrives for a live index). */
	if (hs->state != HANDSHAKE_ZEROED)
		index_remove(dev, hs->local_index);
	hs->local_index = 0;
	hs->state = HANDSHAKE_CONSUMED_INITIATION;
	ret = peer;
out:
	memzero(ck, sizeof(ck));
	memzero(hash, sizeof(hash));
	memzero(key, sizeof(key));
	memzero(e, sizeof(e));
	memzero(t, sizeof(t));
	return ret;
}

bool noise_create_response(struct weft_device *dev, struct weft_peer *peer,
			   struct message_handshake_response *msg)
{
	struct noise_handshake *hs = &peer->handshake;
	uint8_t key[NOISE_SYMMETRIC_KEY_LEN];
	bool ok = false;

	if (hs->state != HANDSHAKE_CONSUMED_INITIATION)
		return false;
	msg->header.type = htole32(MESSAGE_HANDSHAKE_RESPONSE);
	msg->receiver_index = htole32(hs->remote_index);

	new_ephemeral(dev, hs->ephemeral_private, msg->unencrypted_ephemeral);
	message_ephemeral(hs->chaining_key, hs->hash, msg->unencrypted_ephemeral);
	/* ee, se */
	if (!mix_dh(dev, hs->chaining_key, NULL, hs->ephemeral_private, hs->remote_ephemeral))
		goto out;
	if (!mix_dh(dev, hs->chaining_key, NULL, hs->ephemeral_private, hs->remote_static))
		goto out;
	/* psk */
	mix_psk(hs->chaining_key, hs->hash, key, hs->preshared_key);
	message_encrypt(msg->encrypted_nothing, NULL, 0, key, hs->hash);

	hs->local_index = index_add(dev, INDEX_HANDSHAKE, peer);
	if (!hs->local_index)
		goto out;
	msg->sender_index = htole32(hs->local_index);
	hs->state = HANDSHAKE_CREATED_RESPONSE;
	ok = true;
out:
	if (!ok)
		handshake_zero(hs);
	memzero(key, sizeof(key));
	return ok;
}

struct weft_peer *noise_consume_response(struct weft_device *dev,
					 const struct message_handshake_response *msg, int *why)
{
	uint8_t ck[NOISE_HASH_LEN], hash[NOISE_HASH_LEN], key[NOISE_SYMMETRIC_KEY_LEN];
	uint8_t e[NOISE_PUBLIC_KEY_LEN];
	struct weft_peer *ret = NULL;

	*why = WEFT_DROP_HANDSHAKE_INVALID;
	if (!dev->has_private_key) {
		*why = WEFT_DROP_NO_PRIVATE_KEY;
		return NULL;
	}
	struct index_entry *entry = index_lookup(dev, le32toh(msg->receiver_index));
	if (!entry || entry->type != INDEX_HANDSHAKE) {
		*why = WEFT_DROP_UNKNOWN_INDEX;
		return NULL;
	}
	struct weft_peer *peer = entry->item;
	struct noise_handshake *hs = &peer->handshake;
	if (hs->state != HANDSHAKE_CREATED_INITIATION)
		return NULL;

	memcpy(ck, hs->chaining_key, sizeof(ck));
	memcpy(hash, hs->hash, sizeof(hash));
	memcpy(e, msg->unencrypted_ephemeral, sizeof(e));
	message_ephemeral(ck, hash, e);
	/* ee, se */
	if (!mix_dh(dev, ck, NULL, hs->ephemeral_private, e))
		goto out;
	if (!mix_dh(dev, ck, NULL, dev->static_private, e))
		goto out;
	/* psk */
	mix_psk(ck, hash, key, hs->preshared_key);
	if (!message_decrypt(NULL, msg->encrypted_nothing, sizeof(msg->encrypted_nothing), key,
			     hash))
		goto out;

	memcpy(hs->remote_ephemeral, e, sizeof(e));
	memcpy(hs->hash, hash, sizeof(hash));
	memcpy(hs->chaining_key, ck, sizeof(ck));
	hs->remote_index = le32toh(msg->sender_index);
	hs->state = HANDSHAKE_CONSUMED_RESPONSE;
	ret = peer;
out:
	memzero(ck, sizeof(ck));
	memzero(hash, sizeof(hash));
	memzero(key, sizeof(key));
	memzero(e, sizeof(e));
	return ret;
}

static void keypair_free(struct weft_device *dev, struct noise_keypair *kp)
{
	if (!kp)
		return;
	index_remove(dev, kp->local_index);
	memzero(kp, sizeof(*kp));
	free(kp);
}

void noise_keypairs_clear(struct weft_device *dev, struct weft_peer *peer)
{
	struct noise_keypairs *kps = &peer->keypairs;
	batch_run(dev); /* queued jobs point into these keypairs */
	keypair_free(dev, kps->previous);
	keypair_free(dev, kps->current);
	keypair_free(dev, kps->next);
	kps->previous = kps->current = kps->next = NULL;
}

static void add_new_keypair(struct weft_device *dev, struct noise_keypairs *kps,
			    struct noise_keypair *new_keypair)
{
	if (new_keypair->i_am_the_initiator) {
		/* The initiator may use it at once: it becomes current. A next
		 * keypair still unconfirmed is kept as previous instead, since the
		 * other side may already be sending on it. */
		if (kps->next) {
			keypair_free(dev, kps->previous);
			kps->previous = kps->next;
			kps->next = NULL;
			keypair_free(dev, kps->current);
		} else {
			keypair_free(dev, kps->previous);
			kps->previous = kps->current;
		}
		kps->current = new_keypair;
	} else {
		/* The responder must wait for the initiator's first packet. */
		keypair_free(dev, kps->next);
		kps->next = new_keypair;
		keypair_free(dev, kps->previous);
		kps->previous = NULL;
	}
}

bool noise_begin_session(struct weft_device *dev, struct weft_peer *peer)
{
	struct noise_handshake *hs = &peer->handshake;
	if (hs->state != HANDSHAKE_CREATED_RESPONSE && hs->state != HANDSHAKE_CONSUMED_RESPONSE)
		return false;
	struct noise_keypair *kp = calloc(1, sizeof(*kp));
	if (!kp)
		return false;
	kp->peer = peer;
	kp->i_am_the_initiator = hs->state == HANDSHAKE_CONSUMED_RESPONSE;
	if (kp->i_am_the_initiator)
		kdf(kp->sending_key, kp->receiving_key, NULL, NULL, 0, hs->chaining_key);
	else
		kdf(kp->receiving_key, kp->sending_key, NULL, NULL, 0, hs->chaining_key);
	replay_init(&kp->receiving_counter);
	kp->birthdate = dev_now(dev);
	kp->local_index = hs->local_index;
	kp->remote_index = hs->remote_index;
	/* The keypair inherits the handshake's receiver index. */
	index_replace(dev, hs->local_index, INDEX_KEYPAIR, kp);
	handshake_zero(hs);
	add_new_keypair(dev, &peer->keypairs, kp);
	return true;
}

bool noise_received_with_keypair(struct weft_device *dev, struct weft_peer *peer,
				 struct noise_keypair *keypair)
{
	struct noise_keypairs *kps = &peer->keypairs;
	if (keypair != kps->next)
		return false;
	keypair_free(dev, kps->previous);
	kps->previous = kps->current;
	kps->current = kps->next;
	kps->next = NULL;
	return true;
}
