/* noise.h: the Noise_IKpsk2 handshake (whitepaper 5.4.2-5.4.5) and the
 * keypairs it yields (previous / current / next, as in the Linux module). */
#ifndef WEFT_NOISE_H
#define WEFT_NOISE_H

#include <stdbool.h>
#include <stdint.h>

#include "wg/messages.h"
#include "wg/replay.h"

struct weft_device;
struct weft_peer;

enum handshake_state {
	HANDSHAKE_ZEROED,
	HANDSHAKE_CREATED_INITIATION,
	HANDSHAKE_CONSUMED_INITIATION,
	HANDSHAKE_CREATED_RESPONSE,
	HANDSHAKE_CONSUMED_RESPONSE,
};

struct noise_handshake {
	enum handshake_state state;
	uint32_t local_index;  /* in the device's index table while state != ZEROED */
	uint32_t remote_index;
	uint8_t ephemeral_private[NOISE_PUBLIC_KEY_LEN];
	uint8_t remote_ephemeral[NOISE_PUBLIC_KEY_LEN];
	uint8_t hash[NOISE_HASH_LEN];
	uint8_t chaining_key[NOISE_HASH_LEN];
	/* per peer, kept across handshakes */
	uint8_t remote_static[NOISE_PUBLIC_KEY_LEN];
	uint8_t precomputed_static_static[NOISE_PUBLIC_KEY_LEN]; /* zero = unusable */
	bool static_static_stale; /* recompute before use */
	uint8_t preshared_key[NOISE_SYMMETRIC_KEY_LEN];
	uint8_t latest_timestamp[NOISE_TIMESTAMP_LEN];
	uint64_t last_initiation_consumption; /* monotonic ns, 0 = never */
};

struct noise_keypair {
	struct weft_peer *peer;
	uint8_t sending_key[NOISE_SYMMETRIC_KEY_LEN];
	uint8_t receiving_key[NOISE_SYMMETRIC_KEY_LEN];
	uint64_t sending_counter;
	struct replay_window receiving_counter;
	uint64_t birthdate; /* monotonic ns */
	uint32_t local_index, remote_index;
	bool i_am_the_initiator;
};

struct noise_keypairs {
	struct noise_keypair *previous, *current, *next;
};

/* Precomputes the initial chaining key and hash; called by crypto init. */
void noise_init(void);
/* DH(our static, peer static) must be recomputed after either key changed.
 * It is done lazily, at the peer's next handshake, so that configuring a
 * million peers does not cost a million X25519 operations up front. */
void noise_static_static_changed(struct weft_device *dev, struct weft_peer *peer);

bool noise_create_initiation(struct weft_device *dev, struct weft_peer *peer,
			     struct message_handshake_initiation *msg);
/* Returns the authenticated peer, or NULL with *why set. */
struct weft_peer *noise_consume_initiation(struct weft_device *dev,
					   const struct message_handshake_initiation *msg,
					   int *why);
bool noise_create_response(struct weft_device *dev, struct weft_peer *peer,
			   struct message_handshake_response *msg);
struct weft_peer *noise_consume_response(struct weft_device *dev,
					 const struct message_handshake_response *msg, int *why);

/* Derives the transport keys from a completed handshake and files the new
 * keypair: as current for the initiator, as next for the responder (which
 * may send on it only once the initiator has used it). */
bool noise_begin_session(struct weft_device *dev, struct weft_peer *peer);
/* A packet authenticated under keypair: promotes next to current. True if
 * that happened (the handshake is confirmed for the responder). */
bool noise_received_with_keypair(struct weft_device *dev, struct weft_peer *peer,
				 struct noise_keypair *keypair);
void noise_handshake_clear(struct weft_device *dev, struct weft_peer *peer);
void noise_keypairs_clear(struct weft_device *dev, struct weft_peer *peer);

/* TAI64N of wall_ns, whitened to TIMESTAMP_WHITENING_NS. */
void noise_tai64n(uint8_t out[NOISE_TIMESTAMP_LEN], uint64_t wall_ns);

#endif
