/* relay.h: the relay of last resort inside `weft coord`. Clients with a
 * coord session ask to relay to a peer they announced (RELAY_JOIN with the
 * rendezvous token: never a key); once both sides of a token have joined,
 * relay messages (relay_proto.h) from one are opened with its session's
 * keys, checked against the pair's bandwidth limit, re-sealed in place for
 * the other side's session and sent there, over UDP or over the TCP
 * connection that side came in by. The server never holds WireGuard keys:
 * what it carries is WireGuard ciphertext.
 *
 * The coord server owns sessions, addresses and sockets; it hands this
 * module what is the relay's (control messages of types 0x40-0x7f, relay
 * messages of outer type 0xC5) and answers its questions through ops. A
 * client is an opaque 64-bit handle (never 0) that names one session for
 * as long as it lives. */
#ifndef WEFT_COORD_RELAY_H
#define WEFT_COORD_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coord/noise.h"
#include "coord/relay_proto.h"
#include "coord/relay_table.h"

struct relay_server_ops {
	/* The session whose receiving index is local_index: its keys and its
	 * client handle; NULL when there is none (or it expired). */
	struct coord_keys *(*keys_by_index)(void *ctx, uint32_t local_index, uint64_t *client);
	/* The current sending keys of a client's session; NULL when gone. */
	struct coord_keys *(*keys_of)(void *ctx, uint64_t client);
	/* Sends one message to the client, where its session is (its UDP
	 * address or its TCP connection); 0 or -errno. The server decides
	 * whether that address may be sent to (verified). */
	int (*send)(void *ctx, uint64_t client, const uint8_t *msg, size_t len);
	/* Whether the client announced token (and it has not expired): only
	 * then may it relay on it. */
	bool (*announced)(void *ctx, uint64_t client, const uint8_t token[COORD_TOKEN_LEN]);
	/* The other client holding token (with a session), or 0: it is
	 * invited when one side joins alone (a peer that still believes in a
	 * direct path learns that the other side cannot use it). */
	uint64_t (*other_holder)(void *ctx, uint64_t client, const uint8_t token[COORD_TOKEN_LEN]);
};

struct relay_server_counters {
	uint64_t ctl_in, joins, leaves, invites;
	uint64_t refused_unknown;  /* JOIN for a token this client did not announce */
	uint64_t messages_in;      /* relay messages received */
	uint64_t bad_messages;     /* no session, forged, malformed */
	uint64_t replayed;
	uint64_t send_failed;      /* the other side's socket or TCP queue refused */
};

struct relay_server;

/* NULL with errno on bad limits or no memory. ops and ctx outlive it. */
struct relay_server *relay_server_new(const struct relay_limits *l, const struct relay_server_ops *ops,
				      void *ctx);
void relay_server_free(struct relay_server *rs);

/* A relay control message (the plaintext of a transport message whose
 * type relay_is_ctl) from client. JOIN answers JOINED (and tells the other
 * side when the pair becomes ready), LEAVE leaves. 0 or -errno. */
int relay_server_on_ctl(struct relay_server *rs, uint64_t client, const uint8_t *pt, size_t len,
			uint64_t now_ns);

/* A relay message as received (opened and re-sealed in place, so pkt is
 * changed; the message sent on has the same length). 0 when forwarded,
 * -errno (counted) when dropped. */
int relay_server_on_message(struct relay_server *rs, uint8_t *pkt, size_t len, uint64_t now_ns);

/* The client's session ended: its sides are freed, and the other side of
 * each pair is told CLOSED. */
void relay_server_client_gone(struct relay_server *rs, uint64_t client, uint64_t now_ns);

/* Now and then (each second): idle pairs go. */
void relay_server_tick(struct relay_server *rs, uint64_t now_ns);

const struct relay_server_counters *relay_server_counters(const struct relay_server *rs);
const struct relay_counters *relay_server_table_counters(const struct relay_server *rs);
size_t relay_server_pairs(const struct relay_server *rs);

#endif
