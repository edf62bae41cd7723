/* relay_proto.h: the relay's bytes (docs/coord-protocol.md, "Relay"). Two
 * control messages travel sealed inside ordinary transport messages:
 *
 *   RELAY_JOIN   client -> server  type 0x40, 3 zero, token[32]
 *   RELAY_LEAVE  client -> server  type 0x41, 3 zero, token[32]
 *   RELAY_JOINED server -> client  type 0xC0, status, 2 zero, channel le32, token[32]
 *
 * and the datagrams themselves in a relay message (outer type 0xC5) of the
 * same shape as a transport message, under the same session keys and
 * counter, with the 16-byte header as associated data (so that neither kind
 * can pass for the other), no padding (a WireGuard datagram is padded
 * already):
 *
 *   0xC5 0 0 0 | receiver le32 | counter le64 | seal(channel le32 || datagram)
 *
 * The channel is the sender's own (from RELAY_JOINED) on the way in, and
 * the receiver's own on the way out; a datagram names no key and no token.
 * Over TCP each message, handshake included, is one frame (frame.h). */
#ifndef WEFT_COORD_RELAY_PROTO_H
#define WEFT_COORD_RELAY_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "coord/noise.h"
#include "coord/proto.h"
#include "coord/relay_table.h"

enum relay_inner_type {
	RELAY_JOIN = 0x40,
	RELAY_LEAVE = 0x41,
	RELAY_JOINED = 0xC0,
};

enum relay_status {
	RELAY_WAITING = 0, /* joined; the other side has not */
	RELAY_READY = 1,   /* both sides are there: datagrams flow */
	RELAY_REFUSED_UNKNOWN = 2, /* this session announced no such token */
	RELAY_REFUSED_FULL = 3,    /* the server relays its maximum of pairs */
	RELAY_REFUSED_BUSY = 4,    /* two other clients hold the token */
	RELAY_REFUSED_OFF = 5,     /* this server does not relay */
	RELAY_CLOSED = 6,          /* the pair is gone (left, expired) */
	RELAY_INVITED = 7,         /* the other side joined a token we hold
				    * and did not join: join it too */
};

enum {
	RELAY_JOIN_LEN = 4 + COORD_TOKEN_LEN,           /* 36, LEAVE too */
	RELAY_JOINED_LEN = 4 + 4 + COORD_TOKEN_LEN,     /* 40 */
	RELAY_HEADER_LEN = COORD_TRANSPORT_HEADER_LEN,  /* 16 */
	RELAY_OVERHEAD = RELAY_HEADER_LEN + 4 + COORD_TAG_LEN, /* 36 */
	RELAY_MSG_MIN = RELAY_OVERHEAD,
	RELAY_MSG_MAX = RELAY_OVERHEAD + RELAY_MAX_DATAGRAM,   /* 1500 */
};

struct relay_ctl {
	uint8_t type;    /* enum relay_inner_type */
	uint8_t status;  /* JOINED: enum relay_status */
	uint32_t channel;
	uint8_t token[COORD_TOKEN_LEN];
};

/* Control messages: encode returns the length (before the transport's
 * padding) or -EMSGSIZE; decode takes a transport's (padded) plaintext and
 * returns 0 or -EBADMSG. relay_is_ctl: the type byte belongs to the relay. */
int relay_ctl_encode(uint8_t *out, size_t cap, const struct relay_ctl *m);
int relay_ctl_decode(struct relay_ctl *m, const uint8_t *in, size_t len);
static inline int relay_is_ctl(uint8_t type)
{
	return (type >= 0x40 && type <= 0x7f) || type >= 0xc0;
}

/* Seals a datagram for the session k into out (cap >= len + RELAY_OVERHEAD);
 * dgram may sit at out + RELAY_HEADER_LEN + 4 already (in place). Returns
 * the message's length, -EMSGSIZE or -ESTALE (counter exhausted). */
int relay_data_seal(struct coord_keys *k, uint32_t channel, const uint8_t *dgram, size_t len,
		    uint8_t *out, size_t cap);

/* Opens a relay message in place: on success returns the datagram's length,
 * with *channel and *dgram (pointing into pkt). -EBADMSG (malformed,
 * forged), -EALREADY (replayed). The receiver index is read by the caller
 * first (coord_transport_receiver) to find k. */
int relay_data_open(struct coord_keys *k, uint8_t *pkt, size_t len, uint32_t *channel,
		    uint8_t **dgram);

/* Re-seals an opened message in place for another session: the same
 * datagram (still at pkt + RELAY_HEADER_LEN + 4), a new channel, header and
 * tag. Returns the message's length or -ESTALE. */
int relay_data_reseal(struct coord_keys *to, uint32_t channel, uint8_t *pkt, size_t dgram_len);

const char *relay_status_name(uint8_t status);

#endif
