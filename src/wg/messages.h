/* messages.h: the four WireGuard messages on the wire and every protocol
 * constant, named once, with the whitepaper section (or the Linux module's
 * messages.h, where the whitepaper leaves a value to implementations). */
#ifndef WEFT_MESSAGES_H
#define WEFT_MESSAGES_H

#include <stdint.h>

#include "crypto/crypto.h"
#include "wg/replay.h"

#define NSEC_PER_SEC 1000000000ULL
#define NSEC_PER_MSEC 1000000ULL

/* Whitepaper 5.4: the Noise construction, identifier and MAC labels. */
#define NOISE_CONSTRUCTION "Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s"
#define NOISE_IDENTIFIER "WireGuard v1 zx2c4 Jason@zx2c4.com"
#define LABEL_MAC1 "mac1----"
#define LABEL_COOKIE "cookie--"

enum {
	NOISE_PUBLIC_KEY_LEN = 32,
	NOISE_SYMMETRIC_KEY_LEN = 32,
	NOISE_TIMESTAMP_LEN = 12, /* TAI64N */
	NOISE_HASH_LEN = 32,
	COOKIE_LEN = 16,
	COOKIE_NONCE_LEN = 24,
};

/* Whitepaper 6.1-6.4 (timers and limits). Times in seconds. */
#define REKEY_AFTER_MESSAGES (1ULL << 60)
#define REJECT_AFTER_MESSAGES (UINT64_MAX - REPLAY_WINDOW - 1)
#define REKEY_TIMEOUT 5
#define REKEY_TIMEOUT_JITTER_MAX_NS (NSEC_PER_SEC / 3) /* Linux: HZ / 3 */
#define KEEPALIVE_TIMEOUT 10
#define REKEY_AFTER_TIME 120
#define REJECT_AFTER_TIME 180
#define REKEY_ATTEMPT_TIME 90
#define MAX_TIMER_HANDSHAKES (REKEY_ATTEMPT_TIME / REKEY_TIMEOUT)
#define INITIATIONS_PER_SECOND 50 /* a peer's initiations are consumed at most this often */
/* Whitepaper 5.4.4: timestamps are whitened to this granularity so they do
 * not leak the clock; 2^24 ns is the largest power of two under 1/50 s. */
#define TIMESTAMP_WHITENING_NS (1ULL << 24)
#define MAX_STAGED_PACKETS 128
#define MAX_PEERS_PER_DEVICE (1U << 20)

/* Whitepaper 5.4.7 (cookies). */
#define COOKIE_SECRET_MAX_AGE 120
#define COOKIE_SECRET_LATENCY 5

/* Whitepaper 5.4.6: plaintext padded to a multiple of 16 (capped at the MTU). */
#define MESSAGE_PADDING_MULTIPLE 16

enum message_type {
	MESSAGE_INVALID = 0,
	MESSAGE_HANDSHAKE_INITIATION = 1,
	MESSAGE_HANDSHAKE_RESPONSE = 2,
	MESSAGE_HANDSHAKE_COOKIE = 3,
	MESSAGE_DATA = 4,
};

/* All multi-byte integers are little endian on the wire, except the TAI64N
 * timestamp (big endian). The type is a little-endian u32 whose top three
 * bytes are the reserved zeros. */
struct message_header {
	uint32_t type;
} __attribute__((packed));

struct message_macs {
	uint8_t mac1[COOKIE_LEN];
	uint8_t mac2[COOKIE_LEN];
} __attribute__((packed));

struct message_handshake_initiation {
	struct message_header header;
	uint32_t sender_index;
	uint8_t unencrypted_ephemeral[NOISE_PUBLIC_KEY_LEN];
	uint8_t encrypted_static[NOISE_PUBLIC_KEY_LEN + AEAD_TAG_LEN];
	uint8_t encrypted_timestamp[NOISE_TIMESTAMP_LEN + AEAD_TAG_LEN];
	struct message_macs macs;
} __attribute__((packed));

struct message_handshake_response {
	struct message_header header;
	uint32_t sender_index;
	uint32_t receiver_index;
	uint8_t unencrypted_ephemeral[NOISE_PUBLIC_KEY_LEN];
	uint8_t encrypted_nothing[AEAD_TAG_LEN];
	struct message_macs macs;
} __attribute__((packed));

struct message_handshake_cookie {
	struct message_header header;
	uint32_t receiver_index;
	uint8_t nonce[COOKIE_NONCE_LEN];
	uint8_t encrypted_cookie[COOKIE_LEN + AEAD_TAG_LEN];
} __attribute__((packed));

struct message_data {
	struct message_header header;
	uint32_t key_idx;
	uint64_t counter;
	uint8_t encrypted_data[];
} __attribute__((packed));

_Static_assert(sizeof(struct message_handshake_initiation) == 148, "initiation is 148 bytes");
_Static_assert(sizeof(struct message_handshake_response) == 92, "response is 92 bytes");
_Static_assert(sizeof(struct message_handshake_cookie) == 64, "cookie reply is 64 bytes");
_Static_assert(sizeof(struct message_data) == 16, "data header is 16 bytes");

#define MESSAGE_DATA_OVERHEAD (sizeof(struct message_data) + AEAD_TAG_LEN)
#define MESSAGE_MINIMUM_LENGTH MESSAGE_DATA_OVERHEAD
#define MESSAGE_MAX_LENGTH 65535 /* one UDP payload */

#endif
