/* client.h: a coord client session without I/O. The caller (`weft link`)
 * owns the socket and the clock: it asks for an initiation, hands every
 * datagram from the server to coord_client_receive(), seals its messages
 * with coord_client_seal(), and calls coord_client_tick() at
 * coord_client_next_deadline() to learn what is due (a handshake, a
 * keepalive PING). Also here: what the two peers share end to end, the
 * rendezvous token and the sealed candidate blob that the server forwards
 * without being able to read. See docs/coord-protocol.md. */
#ifndef WEFT_COORD_CLIENT_H
#define WEFT_COORD_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coord/noise.h"
#include "coord/proto.h"

struct coord_client {
	uint8_t static_priv[32], static_pub[32];
	uint8_t server_pub[32];
	uint8_t mac1_key[32], cookie_key[32];
	uint8_t cookie[COORD_COOKIE_LEN];
	uint64_t cookie_birth_ns;       /* 0 = no cookie */
	uint8_t last_mac1[COORD_MAC_LEN];
	bool sent_mac1;

	struct coord_hs hs;
	bool hs_pending;
	uint64_t hs_sent_ns;
	unsigned hs_attempts;           /* since the last success: the backoff */

	struct coord_keys cur, prev;    /* prev: receive only, after a rekey */
	bool have_cur, have_prev;
	uint64_t last_sent_ns, last_recv_ns;
	bool ping_due;                  /* confirm a new session / answer a challenge */
	uint8_t challenge[COORD_CHALLENGE_LEN];

	struct coord_addr observed;     /* our address as the server saw it (PONG) */
	uint8_t rx[COORD_INNER_MAX];    /* the last opened message (blob points here) */
	uint16_t rx_len;                /* its padded length */
};

/* priv: the WireGuard private key the client speaks for. -EINVAL for a key
 * whose public key is invalid. */
int coord_client_init(struct coord_client *c, const uint8_t priv[32], const uint8_t server_pub[32]);
void coord_client_clear(struct coord_client *c);

/* A fresh handshake initiation (with mac2 when the server gave a cookie).
 * Returns COORD_INITIATION_LEN or -errno (random source, bad key). */
int coord_client_initiate(struct coord_client *c, uint8_t out[COORD_INITIATION_LEN],
			  uint64_t now_ns, uint64_t wall_ns);

enum coord_rx {
	COORD_RX_NOTHING = 0,      /* consumed, nothing for the caller */
	COORD_RX_MESSAGE = 1,      /* *msg holds a server message */
	COORD_RX_ESTABLISHED = 2,  /* a session is up: announce, then send */
	COORD_RX_COOKIE = 3,       /* the server demands a cookie: initiate again */
	COORD_RX_RELAY = 4,        /* a relay control message: c->rx, c->rx_len
				    * (relay_proto.h decodes it) */
};
/* Returns enum coord_rx or -EBADMSG (forged, garbled, not for us),
 * -EALREADY (replayed), -ENOTCONN (transport but no session). msg->blob
 * stays valid until the next call. */
int coord_client_receive(struct coord_client *c, const uint8_t *pkt, size_t len,
			 uint64_t now_ns, struct coord_msg *msg);

/* Seals one message for the server; returns the datagram's length or
 * -ENOTCONN (no session), -EMSGSIZE, -EINVAL (bad message). */
int coord_client_seal(struct coord_client *c, const struct coord_msg *m,
		      uint8_t *out, size_t cap, uint64_t now_ns);
/* A PING (echoing the server's last challenge). */
int coord_client_ping(struct coord_client *c, uint64_t echo, uint8_t *out, size_t cap,
		      uint64_t now_ns);

enum coord_want {
	COORD_WANT_HANDSHAKE = 1 << 0, /* send coord_client_initiate() */
	COORD_WANT_PING = 1 << 1,      /* send coord_client_ping() */
	COORD_LOST = 1 << 2,           /* the session just ended (expired or silent) */
};
/* What is due at now_ns (enum coord_want bits). */
unsigned coord_client_tick(struct coord_client *c, uint64_t now_ns);
/* When tick has something to say next (monotonic ns). */
uint64_t coord_client_next_deadline(const struct coord_client *c, uint64_t now_ns);
bool coord_client_ready(const struct coord_client *c);

/* ---- end to end, between the two peers ---- */

/* token = BLAKE2s-256(smaller public key || larger public key || label),
 * the keys compared as bytes; label 0..COORD_LABEL_MAX bytes. -EINVAL if
 * the label is too long. */
int coord_token(uint8_t token[COORD_TOKEN_LEN], const uint8_t pub_a[32], const uint8_t pub_b[32],
		const char *label, size_t label_len);

enum { COORD_CANDIDATES_MAX = 16 };
/* Seals our candidate addresses for the peer: key = KDF1(token, DH(our
 * static, peer static)), XChaCha20-Poly1305 with a random nonce, additional
 * data token || our public key. Returns the blob's length or -errno. */
int coord_blob_seal(uint8_t *out, size_t cap, const uint8_t our_priv[32], const uint8_t our_pub[32],
		    const uint8_t peer_pub[32], const uint8_t token[COORD_TOKEN_LEN],
		    const struct coord_addr *cands, size_t n);
/* The same with a given nonce (24 bytes, never used twice with one key):
 * for test vectors; coord_blob_seal draws a random one. */
int coord_blob_seal_nonce(uint8_t *out, size_t cap, const uint8_t our_priv[32], const uint8_t our_pub[32],
			  const uint8_t peer_pub[32], const uint8_t token[COORD_TOKEN_LEN],
			  const struct coord_addr *cands, size_t n, const uint8_t nonce[24]);
/* Opens the peer's blob; returns the number of candidates (<= max) or
 * -EBADMSG (not sealed by the holder of peer_pub's private key for this
 * token: the match is not our peer, ignore it). */
int coord_blob_open(struct coord_addr *cands, size_t max, const uint8_t *blob, size_t len,
		    const uint8_t our_priv[32], const uint8_t peer_pub[32],
		    const uint8_t token[COORD_TOKEN_LEN]);
/* Blob length for n candidates. */
static inline size_t coord_blob_len(size_t n)
{
	return 1 + 24 + 1 + n * COORD_ADDR_LEN + 16;
}

#endif
