/* noise.h: the coord handshake (Noise IK over X25519, ChaCha20-Poly1305 and
 * BLAKE2s, named "weft coord v1"), its mac1/mac2/cookie defence, and the
 * transport keys with their replay window. Both sides, pure functions of
 * their inputs (keys, random bytes, clocks given by the caller): the client
 * session (client.c) and the server use the same code. The bytes are in
 * docs/coord-protocol.md. */
#ifndef WEFT_COORD_NOISE_H
#define WEFT_COORD_NOISE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coord/proto.h"

/* A compact replay window (the RFC 6479 scheme WireGuard uses): coord
 * traffic is a few messages a second, so 256 counters are plenty and keep
 * a server's per-client state small. */
enum { COORD_REPLAY_WORDS = 4, COORD_REPLAY_WINDOW = (COORD_REPLAY_WORDS - 1) * 64 };
struct coord_replay {
	uint64_t greatest; /* highest accepted + 1; 0 = none */
	uint64_t bitmap[COORD_REPLAY_WORDS];
};

/* Session lifetimes, in seconds (WireGuard's values). */
#define COORD_REKEY_AFTER_TIME 120
#define COORD_REJECT_AFTER_TIME 180
#define COORD_REKEY_TIMEOUT 5
#define COORD_KEEPALIVE_INTERVAL 25
#define COORD_REJECT_AFTER_MESSAGES (UINT64_MAX - COORD_REPLAY_WINDOW - 1)
#define COORD_COOKIE_SECRET_MAX_AGE 120

struct coord_keys {
	uint8_t send[COORD_KEY_LEN];
	uint8_t recv[COORD_KEY_LEN];
	uint64_t send_counter;
	struct coord_replay replay;
	uint32_t local_index, remote_index;
	uint64_t birth_ns; /* monotonic, set by the caller */
};

/* A handshake in progress, either side. */
struct coord_hs {
	uint8_t hash[32];
	uint8_t ck[32];
	uint8_t eph_priv[32];
	uint8_t remote_eph[32];
	uint32_t local_index, remote_index;
};

/* Initiator (client). static_pub is the client's public key, server_pub the
 * pinned server key, eph_random 32 fresh random bytes, wall_ns the
 * real-time clock (the TAI64N timestamp). msg gets everything but the macs.
 * False if a Diffie-Hellman result is zero (a bad key). */
bool coord_hs_create_initiation(struct coord_hs *hs, uint8_t msg[COORD_INITIATION_LEN],
				const uint8_t static_priv[32], const uint8_t static_pub[32],
				const uint8_t server_pub[32], uint32_t local_index,
				const uint8_t eph_random[32], uint64_t wall_ns);
/* Checks the response's AEAD (not its macs) and derives the keys. */
bool coord_hs_consume_response(struct coord_hs *hs, const uint8_t msg[COORD_RESPONSE_LEN],
			       const uint8_t static_priv[32], struct coord_keys *keys);

/* Responder (server). Learns the client's static key and timestamp. */
bool coord_hs_consume_initiation(struct coord_hs *hs, const uint8_t msg[COORD_INITIATION_LEN],
				 const uint8_t server_priv[32], const uint8_t server_pub[32],
				 uint8_t client_pub[32], uint8_t timestamp[COORD_TIMESTAMP_LEN]);
/* msg gets everything but the macs; keys are ready to use. hs is wiped. */
bool coord_hs_create_response(struct coord_hs *hs, uint8_t msg[COORD_RESPONSE_LEN],
			      const uint8_t client_pub[32], uint32_t local_index,
			      const uint8_t eph_random[32], struct coord_keys *keys);

void coord_hs_clear(struct coord_hs *hs);
/* TAI64N of wall_ns, whitened as WireGuard's; compare with memcmp. */
void coord_tai64n(uint8_t out[COORD_TIMESTAMP_LEN], uint64_t wall_ns);

/* mac1/mac2: keys derived from the receiver's public key. */
void coord_mac1_key(uint8_t key[32], const uint8_t receiver_pub[32]);
void coord_cookie_key(uint8_t key[32], const uint8_t receiver_pub[32]);
/* msg is a whole initiation or response; the macs are its last 32 bytes.
 * cookie NULL (or none): mac2 is zeros. */
void coord_add_macs(uint8_t *msg, size_t len, const uint8_t mac1_key[32],
		    const uint8_t *cookie);
bool coord_check_mac1(const uint8_t *msg, size_t len, const uint8_t mac1_key[32]);
bool coord_check_mac2(const uint8_t *msg, size_t len, const uint8_t cookie[COORD_COOKIE_LEN]);
/* cookie = MAC(secret, address family || port || ip): bound to the source. */
void coord_make_cookie(uint8_t cookie[COORD_COOKIE_LEN], const uint8_t secret[32],
		       const struct coord_addr *src);
/* The cookie reply to an initiation (its sender index and mac1). */
void coord_cookie_reply_create(uint8_t out[COORD_COOKIE_REPLY_LEN], const uint8_t *initiation,
			       const uint8_t cookie[COORD_COOKIE_LEN],
			       const uint8_t cookie_key[32], const uint8_t nonce[24]);
bool coord_cookie_reply_open(uint8_t cookie[COORD_COOKIE_LEN], const uint8_t *msg, size_t len,
			     const uint8_t mac1_sent[COORD_MAC_LEN], const uint8_t cookie_key[32]);

/* Transport. seal pads the plaintext to 16 bytes and returns the datagram's
 * length, or -EMSGSIZE (too long for out or COORD_INNER_MAX) / -ESTALE
 * (counter exhausted). open returns the padded plaintext's length, or
 * -EBADMSG (forged/garbled) / -EALREADY (replayed or too old); the window
 * moves only after the tag was verified. */
int coord_transport_seal(struct coord_keys *k, const uint8_t *pt, size_t pt_len,
			 uint8_t *out, size_t cap);
int coord_transport_open(struct coord_keys *k, const uint8_t *pkt, size_t len,
			 uint8_t *pt, size_t cap);
static inline uint32_t coord_transport_receiver(const uint8_t *pkt)
{
	return coord_get_le32(pkt + COORD_TRANSPORT_RECEIVER);
}
void coord_keys_clear(struct coord_keys *k);

void coord_replay_init(struct coord_replay *w);
bool coord_replay_check(const struct coord_replay *w, uint64_t counter);
bool coord_replay_update(struct coord_replay *w, uint64_t counter);

#endif
