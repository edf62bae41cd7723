/* proto.h: the coord protocol's bytes (docs/coord-protocol.md): the outer
 * messages (handshake initiation, response, cookie reply, transport), the
 * messages carried sealed inside transport messages, observed addresses, and
 * the classification of a datagram arriving on the coord port. Encoding and
 * decoding are bounded and never allocate; shared by `weft coord` and
 * `weft link`. */
#ifndef WEFT_COORD_PROTO_H
#define WEFT_COORD_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define COORD_DEFAULT_PORT 51819

/* Noise parameters: IK over WireGuard's primitives, under its own names so
 * that no coord message can be taken for a WireGuard one. */
#define COORD_NOISE_CONSTRUCTION "Noise_IK_25519_ChaChaPoly_BLAKE2s"
#define COORD_NOISE_IDENTIFIER "weft coord v1"
#define COORD_LABEL_MAC1 "cmac1---"
#define COORD_LABEL_COOKIE "ccookie-"

enum {
	COORD_KEY_LEN = 32,
	COORD_TOKEN_LEN = 32,
	COORD_MAC_LEN = 16,
	COORD_COOKIE_LEN = 16,
	COORD_TIMESTAMP_LEN = 12, /* TAI64N, as WireGuard's */
	COORD_TAG_LEN = 16,
	COORD_CHALLENGE_LEN = 16,
	COORD_ADDR_LEN = 20,      /* family, zero, port (BE), 16 address bytes */
	COORD_BLOB_MAX = 384,     /* the end-to-end sealed candidates */
	COORD_LABEL_MAX = 64,     /* network label in a token */
};

/* Outer message types: the first byte of every coord datagram. 0xC0-0xCF
 * has the top two bits 11 (a STUN message starts with 00) and is none of
 * WireGuard's 1-4. The next three bytes are zero. */
enum coord_outer_type {
	COORD_MSG_INITIATION = 0xC1,
	COORD_MSG_RESPONSE = 0xC2,
	COORD_MSG_COOKIE = 0xC3,
	COORD_MSG_TRANSPORT = 0xC4,
	COORD_MSG_RELAY = 0xC5, /* reserved: the relay's framing */
};

/* Outer message sizes (bytes on the wire). */
enum {
	COORD_INITIATION_LEN = 4 + 4 + 32 + (32 + 16) + (12 + 16) + 16 + 16, /* 148 */
	COORD_RESPONSE_LEN = 4 + 4 + 4 + 32 + 16 + 16 + 16,                   /* 92 */
	COORD_COOKIE_REPLY_LEN = 4 + 4 + 24 + (16 + 16),                       /* 64 */
	COORD_TRANSPORT_HEADER_LEN = 4 + 4 + 8,
	COORD_TRANSPORT_OVERHEAD = COORD_TRANSPORT_HEADER_LEN + COORD_TAG_LEN, /* 32 */
	COORD_PADDING = 16,
	/* Largest inner message (PEER with a full blob), padded. */
	COORD_INNER_MAX = 448,
	COORD_TRANSPORT_MAX = COORD_TRANSPORT_OVERHEAD + COORD_INNER_MAX,      /* 480 */
	/* Nothing larger is ever read from the coord port (the relay's own
	 * framing excepted, which defines its bound). */
	COORD_DATAGRAM_MAX = 1500,
};

/* Offsets inside the outer messages. */
enum {
	COORD_INIT_SENDER = 4,
	COORD_INIT_EPHEMERAL = 8,
	COORD_INIT_STATIC = 40,
	COORD_INIT_TIMESTAMP = 88,
	COORD_INIT_MAC1 = 116,
	COORD_INIT_MAC2 = 132,
	COORD_RESP_SENDER = 4,
	COORD_RESP_RECEIVER = 8,
	COORD_RESP_EPHEMERAL = 12,
	COORD_RESP_EMPTY = 44,
	COORD_RESP_MAC1 = 60,
	COORD_RESP_MAC2 = 76,
	COORD_COOKIE_RECEIVER = 4,
	COORD_COOKIE_NONCE = 8,
	COORD_COOKIE_SEALED = 32,
	COORD_TRANSPORT_RECEIVER = 4,
	COORD_TRANSPORT_COUNTER = 8,
	COORD_TRANSPORT_SEALED = 16,
};

/* Inner message types (first byte of a transport message's plaintext).
 * Client to server 0x01-0x3f, server to client 0x81-0xbf; 0x40-0x7f and
 * 0xc0-0xff are reserved for the relay. */
enum coord_inner_type {
	COORD_ANNOUNCE = 0x01,
	COORD_WITHDRAW = 0x02,
	COORD_PING = 0x03,
	COORD_ANNOUNCED = 0x81,
	COORD_PEER = 0x82,
	COORD_PONG = 0x83,
	COORD_ERROR = 0x84,
};

/* Inner message sizes before padding (ANNOUNCE and PEER add their blob). */
enum {
	COORD_ANNOUNCE_LEN = 36,
	COORD_WITHDRAW_LEN = 36,
	COORD_PING_LEN = 48, /* as long as PONG: a PING never earns a larger reply */
	COORD_ANNOUNCED_LEN = 36,
	COORD_PEER_LEN = 56,
	COORD_PONG_LEN = 48,
	COORD_ERROR_LEN = 36,
};

enum coord_announced_status {
	COORD_WAITING = 0, /* no other side yet */
	COORD_MATCHED = 1, /* a PEER message follows (or followed) */
};

enum coord_peer_flags {
	COORD_PEER_GONE = 0x01, /* the other side withdrew or expired */
};

enum coord_error_code {
	COORD_ERR_TOO_MANY_RECORDS = 1, /* this client holds its maximum of tokens */
	COORD_ERR_TOKEN_FULL = 2,       /* two other clients hold this token */
	COORD_ERR_RATE_LIMITED = 3,
	COORD_ERR_BAD_MESSAGE = 4,
	COORD_ERR_SERVER_FULL = 5,      /* the server holds its maximum of clients */
};

/* An observed (or candidate) UDP address. port is in host order. */
struct coord_addr {
	uint8_t family; /* 4 or 6; 0 = none */
	uint16_t port;
	uint8_t ip[16]; /* IPv4 in the first 4 bytes, the rest zero */
};

/* A decoded inner message. blob points into the decoded buffer. */
struct coord_msg {
	uint8_t type;
	uint8_t status;  /* ANNOUNCED: enum coord_announced_status; ERROR: code;
			  * PEER: flags */
	uint16_t ttl;    /* ANNOUNCED: seconds the record lives */
	uint64_t echo;   /* PING/PONG */
	uint8_t token[COORD_TOKEN_LEN];
	uint8_t challenge[COORD_CHALLENGE_LEN]; /* PING/PONG */
	struct coord_addr addr;                /* PEER: theirs; PONG: yours */
	uint16_t blob_len;
	const uint8_t *blob;
};

/* What a datagram on the coord port is. */
enum coord_kind {
	COORD_KIND_UNKNOWN = 0,
	COORD_KIND_STUN,        /* top bits 00 and the STUN magic cookie */
	COORD_KIND_INITIATION,  /* right length and type; macs not yet checked */
	COORD_KIND_RESPONSE,
	COORD_KIND_COOKIE,
	COORD_KIND_TRANSPORT,
	COORD_KIND_RELAY,
};
enum coord_kind coord_classify(const uint8_t *pkt, size_t len);

/* Addresses: wire form, and sockaddr_in/sockaddr_in6 (v4-mapped IPv6
 * addresses become family 4). from_sockaddr returns false for any other
 * family. to_sockaddr returns the sockaddr length or 0. */
void coord_addr_encode(uint8_t out[COORD_ADDR_LEN], const struct coord_addr *a);
bool coord_addr_decode(struct coord_addr *a, const uint8_t in[COORD_ADDR_LEN]);
bool coord_addr_from_sockaddr(struct coord_addr *a, const struct sockaddr *sa, socklen_t len);
socklen_t coord_addr_to_sockaddr(const struct coord_addr *a, struct sockaddr_storage *ss);
bool coord_addr_equal(const struct coord_addr *a, const struct coord_addr *b);
/* "1.2.3.4:5" or "[::1]:5"; out of at least COORD_ADDR_STR_LEN bytes. */
enum { COORD_ADDR_STR_LEN = 48 };
void coord_addr_format(char *out, size_t cap, const struct coord_addr *a);

/* Inner messages. encode returns the encoded length (before padding) or
 * -EMSGSIZE / -EINVAL; decode returns 0 or -EBADMSG, accepting trailing
 * zero padding (and nothing else) after the message. */
int coord_msg_encode(uint8_t *out, size_t cap, const struct coord_msg *m);
int coord_msg_decode(struct coord_msg *m, const uint8_t *in, size_t len);
const char *coord_msg_name(uint8_t type);

/* Little-endian helpers for the wire. */
static inline void coord_put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}
static inline uint32_t coord_get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline void coord_put_le64(uint8_t *p, uint64_t v)
{
	coord_put_le32(p, (uint32_t)v);
	coord_put_le32(p + 4, (uint32_t)(v >> 32));
}
static inline uint64_t coord_get_le64(const uint8_t *p)
{
	return (uint64_t)coord_get_le32(p) | (uint64_t)coord_get_le32(p + 4) << 32;
}

#endif
