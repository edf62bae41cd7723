/* cookie.h: mac1, mac2 and cookie replies (whitepaper 5.4.4, 5.4.7), the
 * denial-of-service defence. Every handshake message carries mac1 (keyed by
 * the receiver's public key, so only someone who knows it can make us do
 * Diffie-Hellman work). Under load we also demand mac2, keyed by a cookie
 * that proves the sender owns its source address: a sender without one gets
 * a cookie reply instead of a handshake. */
#ifndef WEFT_COOKIE_H
#define WEFT_COOKIE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "weft/engine.h"
#include "wg/messages.h"

struct weft_device;

/* Our side: checks macs of messages sent to us, makes cookies. */
struct cookie_checker {
	uint8_t secret[NOISE_HASH_LEN];
	uint64_t secret_birthdate; /* monotonic ns, 0 = none yet */
	uint8_t message_mac1_key[NOISE_SYMMETRIC_KEY_LEN];
	uint8_t cookie_encryption_key[NOISE_SYMMETRIC_KEY_LEN];
};

/* Per peer: keys for messages we send to it and the cookie it gave us. */
struct cookie {
	uint8_t message_mac1_key[NOISE_SYMMETRIC_KEY_LEN];
	uint8_t cookie_decryption_key[NOISE_SYMMETRIC_KEY_LEN];
	uint8_t cookie[COOKIE_LEN];
	uint64_t birthdate; /* monotonic ns of the cookie, 0 = none */
	bool have_sent_mac1;
	uint8_t last_mac1_sent[COOKIE_LEN];
};

enum cookie_mac_state {
	COOKIE_INVALID_MAC,
	COOKIE_VALID_MAC_BUT_NO_COOKIE,
	COOKIE_VALID_MAC_WITH_COOKIE,
};

/* Derives the keys from a public key (ours, or the peer's). */
void cookie_checker_init(struct cookie_checker *checker, const uint8_t our_public[NOISE_PUBLIC_KEY_LEN]);
void cookie_init(struct cookie *cookie, const uint8_t peer_public[NOISE_PUBLIC_KEY_LEN]);

/* msg is a whole handshake message ending in struct message_macs. */
enum cookie_mac_state cookie_validate(struct weft_device *dev, const uint8_t *msg, size_t len,
				      const struct weft_endpoint *from, bool check_cookie);
/* The mac2 half alone, for a message whose mac1 is known to be valid:
 * COOKIE_VALID_MAC_WITH_COOKIE or COOKIE_VALID_MAC_BUT_NO_COOKIE. */
enum cookie_mac_state cookie_validate_mac2(struct weft_device *dev, const uint8_t *msg, size_t len,
					   const struct weft_endpoint *from);
/* Fills in mac1 and (with a fresh cookie) mac2 of a message we send. */
void cookie_add_macs(struct weft_device *dev, struct cookie *cookie, uint8_t *msg, size_t len);
void cookie_create_reply(struct weft_device *dev, struct message_handshake_cookie *reply,
			 const uint8_t *msg, size_t len, uint32_t sender_index,
			 const struct weft_endpoint *from);
bool cookie_consume_reply(struct weft_device *dev, struct cookie *cookie,
			  const struct message_handshake_cookie *reply);

#endif
