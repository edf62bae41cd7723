/* server.h: the core of `weft coord`, without sockets: datagrams in, datagrams
 * out through a callback, the clock given by the caller. It owns the hot
 * state in memory (clients by keyed hash, sessions by index, tokens, a
 * token bucket per source), answers STUN, runs the responder side of the
 * handshake with cookies under load, matches tokens and pushes addresses,
 * and writes records behind to a store (store.h) once a second. Every
 * table is bounded; everything dropped is counted (struct coord_stats).
 * Single-threaded: the caller serialises calls. */
#ifndef WEFT_COORD_SERVER_H
#define WEFT_COORD_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coord/proto.h"
#include "coord/relay.h"
#include "coord/store.h"

struct coord_server_config {
	uint8_t private_key[32];
	uint32_t max_clients;     /* default 100000 */
	uint32_t max_records;     /* tokens per client, default 256 */
	uint32_t record_ttl;      /* seconds, default 120, at most 65535 */
	uint32_t rate;            /* datagrams per second per source (IPv6: /64); 0 = no limit */
	uint32_t burst;           /* default 2 * rate */
	uint32_t handshake_rate;  /* initiations per second before cookies are demanded */
	bool cookie_always;       /* demand a cookie from every first contact */
	bool stun_strict;         /* answer STUN only when the reply is no larger */
	struct coord_store *store; /* NULL: memory only */
	/* The relay of last resort (relay.h): its limits, or NULL for none. */
	const struct relay_limits *relay;
	/* How often the store is read for records other replicas wrote (a
	 * shared PostgreSQL); 0: only at start (one server of its own). */
	uint64_t scan_interval_ns;
	/* Optional: the relay's datagrams (type 0xC5) when no relay is built in. */
	void (*relay_input)(void *ctx, const uint8_t *pkt, size_t len,
			    const struct coord_addr *from, uint64_t now_ns);
	void *relay_ctx;
};
void coord_server_config_defaults(struct coord_server_config *cfg);

struct coord_stats {
	uint64_t rx_packets, rx_bytes, tx_packets, tx_bytes;
	uint64_t rate_limited;        /* over a source's token bucket */
	uint64_t unknown;             /* not STUN, not coord: garbage, truncated, oversized */
	uint64_t stun_requests, stun_replies, stun_bad, stun_suppressed;
	uint64_t handshakes, handshake_bad_mac, handshake_bad, handshake_replayed,
		 handshake_flood, cookies_sent, server_full;
	uint64_t transport_ok, transport_bad, transport_replayed, transport_no_session;
	uint64_t msg_bad;             /* decrypted but not a valid client message */
	uint64_t announces, withdraws, pings, matches, peers_sent, errors_sent;
	uint64_t replies_suppressed;  /* larger than the request to an unverified address */
	uint64_t unexpected;          /* responses or cookie replies sent to a server */
	uint64_t relay_dropped;       /* relay framing with no relay built in */
	uint64_t store_errors;
	/* gauges */
	uint64_t clients, sessions, tokens, records;
};

struct coord_server;

/* Sends one datagram; the server never keeps pkt after the call. */
typedef void (*coord_send_fn)(void *ctx, const struct coord_addr *to,
			      const uint8_t *pkt, size_t len);

/* 0, -EINVAL (bad key or limits), -ENOMEM, or -errno from the random source. */
int coord_server_new(const struct coord_server_config *cfg, coord_send_fn send, void *send_ctx,
		     struct coord_server **out);
/* Flushes the store (if any) and frees everything; the store stays open. */
void coord_server_free(struct coord_server *s);
void coord_server_public_key(const struct coord_server *s, uint8_t pub[32]);

/* One datagram from `from`. now_ns: monotonic clock; unix_s: wall clock. */
void coord_server_input(struct coord_server *s, const uint8_t *pkt, size_t len,
			const struct coord_addr *from, uint64_t now_ns, uint64_t unix_s);
/* Housekeeping, about ten times a second; once a second of them: expiry
 * and one store transaction with everything that changed since. */
void coord_server_tick(struct coord_server *s, uint64_t now_ns, uint64_t unix_s);
/* Loads the unexpired records of the store (at start), so that a restarted
 * server still matches announcements against them. Returns how many. */
int coord_server_load(struct coord_server *s, uint64_t now_ns, uint64_t unix_s);

const struct coord_stats *coord_server_stats(const struct coord_server *s);
/* The relay inside (NULL when cfg.relay was NULL), for its counters. */
const struct relay_server *coord_server_relay(const struct coord_server *s);
/* The counters as "name value" lines (for the log and --stats files). */
int coord_stats_format(const struct coord_stats *st, char *out, size_t cap);

#endif
