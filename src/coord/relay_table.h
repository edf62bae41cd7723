/* relay_table.h: the relay of last resort's bookkeeping, sans I/O: which two
 * clients share a relayed pair (named by their rendezvous token, never by a
 * key), the channel number each side uses on the wire, a token bucket per
 * direction of a pair, idle expiry, and counters. The coord's server loop
 * owns the sockets and the sessions; it asks this table where a datagram
 * goes and whether it may go now.
 *
 * A pair exists once one side has joined it; datagrams flow once both have.
 * Each side gets its own channel number (a slot index with a generation, so
 * a number that outlives its pair is refused rather than reaching whoever
 * took the slot next). Clients are opaque 64-bit handles chosen by the
 * caller (a session's index): the table never sees an address or a key. */
#ifndef WEFT_COORD_RELAY_TABLE_H
#define WEFT_COORD_RELAY_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
	RELAY_TOKEN_LEN = 32,
	/* the largest WireGuard datagram the relay carries: with the relay
	 * message's 36 bytes around it, a coord datagram's 1500 (a tunnel MTU
	 * of 1432 or less; wg-quick's default 1420 makes 1452-byte datagrams) */
	RELAY_MAX_DATAGRAM = 1464,
	/* slots are numbered in the low bits of a channel */
	RELAY_MAX_PAIRS_LIMIT = 1 << 19,
};

struct relay_limits {
	uint32_t max_pairs;        /* 1..RELAY_MAX_PAIRS_LIMIT */
	uint64_t rate;             /* bytes per second, each direction of a pair; 0 = unlimited */
	uint64_t burst;            /* bucket size in bytes (0: rate / 10, at least 64 KiB) */
	uint64_t idle_ns;          /* a pair with no datagram and no join for this long goes */
};

/* Everything is counted: the server shows these (weft coord status, logs). */
struct relay_counters {
	uint64_t pairs_opened, pairs_closed, pairs_expired;
	uint64_t joins_refused_full;     /* no free slot (max_pairs) */
	uint64_t joins_refused_busy;     /* both sides already held by other clients */
	uint64_t forwarded_packets, forwarded_bytes;
	uint64_t dropped_rate;           /* over the pair's bandwidth limit */
	uint64_t dropped_no_peer;        /* the other side has not joined (yet) */
	uint64_t dropped_bad_channel;    /* unknown, stale, or not this client's */
	uint64_t dropped_oversize;
};

struct relay_table;

/* Defaults: 4096 pairs, no rate limit, 60 s idle. */
void relay_limits_default(struct relay_limits *l);

/* NULL on bad limits (errno EINVAL) or no memory. */
struct relay_table *relay_table_new(const struct relay_limits *l);
void relay_table_free(struct relay_table *t);

/* Client `client` (already authenticated, and known by the caller to have
 * announced this token) joins the pair named by token. *channel is what it
 * puts on its datagrams from now on; *ready is true when the other side is
 * there too. Joining again from the same client returns the same channel.
 * 0, -ENOSPC (table full), -EBUSY (two other clients hold the pair). */
int relay_table_join(struct relay_table *t, const uint8_t token[RELAY_TOKEN_LEN],
		     uint64_t client, uint64_t now_ns, uint32_t *channel, bool *ready);

/* The client leaves every pair it is in (it is gone), or with token the
 * one pair of that token (NULL: all); a pair with no side left is closed.
 * For each pair whose other side stays, cb (when not NULL) is told that
 * side's client and the token. Returns how many sides it held. */
typedef void (*relay_left_fn)(void *arg, uint64_t other, const uint8_t token[RELAY_TOKEN_LEN]);
int relay_table_leave(struct relay_table *t, uint64_t client, const uint8_t *token,
		      relay_left_fn cb, void *arg);

/* A datagram of len bytes from `client` on `channel`: where it goes.
 * 0 with *to_client and *to_channel (the other side's channel, which the
 * server puts on the datagram it sends there); -ENOENT (bad channel, not
 * this client's), -ENOTCONN (the other side is not there), -ENOBUFS (over
 * the rate), -EMSGSIZE. Every outcome is counted. */
int relay_table_route(struct relay_table *t, uint64_t client, uint32_t channel, size_t len,
		      uint64_t now_ns, uint64_t *to_client, uint32_t *to_channel);

/* Closes pairs idle for longer than limits.idle_ns; returns how many. Call
 * it now and then (each second is plenty). */
int relay_table_expire(struct relay_table *t, uint64_t now_ns);

/* The other side's client of a channel, for a join's reply (0: none). */
uint64_t relay_table_peer_of(const struct relay_table *t, uint32_t channel);
/* The other side's channel of a pair (the two differ in the lowest bit). */
static inline uint32_t relay_channel_other(uint32_t channel)
{
	return channel ^ 1;
}

size_t relay_table_pairs(const struct relay_table *t);
const struct relay_counters *relay_table_counters(const struct relay_table *t);

#endif
