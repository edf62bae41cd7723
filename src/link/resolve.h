/* resolve.h: re-resolution of peers' host-name endpoints. wg(8) resolves a
 * host name once, when the config is loaded; a peer whose address behind
 * that name changes is then lost. As wireguard-tools' reresolve-dns script
 * does, a peer with a host name is resolved again while its handshake is
 * stale (latest handshake older than RESOLVE_STALE_S, or none), and its
 * endpoint is set to the new address when it differs.
 *
 * Lookups never block the caller: getaddrinfo_a(3) runs them and an
 * eventfd says when one finished. Permanent failures (EAI_NONAME,
 * EAI_FAIL: the name does not exist) are logged once and retried rarely;
 * transient ones (EAI_AGAIN: no answer now) are retried soon, as wg's own
 * resolution retries only those. */
#ifndef WEFT_LINK_RESOLVE_H
#define WEFT_LINK_RESOLVE_H

#include <stdbool.h>
#include <stdint.h>

#include "weft/device.h"

struct conf;

/* wireguard-tools' reresolve-dns: a handshake older than 135 s is stale
 * (REKEY_AFTER_TIME + REKEY_TIMEOUT + a little: a live session would have
 * made a newer one). */
#define RESOLVE_STALE_S 135
/* A stale peer whose name resolved is looked up again this often (the
 * script runs every 30 s). */
#define RESOLVE_INTERVAL_MS (30 * 1000)
/* Transient failure: first retry, doubled up to the cap. */
#define RESOLVE_TRANSIENT_MS (5 * 1000)
#define RESOLVE_TRANSIENT_MAX_MS (60 * 1000)
/* Permanent failure: first retry, doubled up to the cap. */
#define RESOLVE_PERMANENT_MS (10 * 60 * 1000)
#define RESOLVE_PERMANENT_MAX_MS (60 * 60 * 1000)
/* Bounds: names tracked, lookups in flight at once. */
#define RESOLVE_MAX_NAMES 1024
#define RESOLVE_MAX_INFLIGHT 32

enum resolve_outcome { RESOLVE_OK, RESOLVE_TRANSIENT, RESOLVE_PERMANENT };

/* --- the decision (pure) ------------------------------------------------- */

struct resolve_sched {
	int64_t next_ms;     /* no lookup before this (monotonic) */
	unsigned transient;  /* transient failures in a row */
	unsigned permanent;  /* permanent failures in a row */
	bool busy;           /* a lookup is in flight */
};

/* The kind of a getaddrinfo error: EAI_NONAME, EAI_FAIL (and EAI_NODATA,
 * EAI_ADDRFAMILY: the name exists without an address) are permanent;
 * everything else (EAI_AGAIN, EAI_SYSTEM, EAI_MEMORY) transient. */
enum resolve_outcome resolve_classify(int gai_error);
/* Whether a peer's endpoint should be looked up now: its handshake is
 * stale (last_handshake_s 0 = never; now_s in the same wall clock) and no
 * lookup is in flight or held back by the schedule (now_ms monotonic). */
bool resolve_due(const struct resolve_sched *s, int64_t now_ms, int64_t now_s,
		 int64_t last_handshake_s, int64_t interval_ms);
/* Records a lookup's outcome; true when it deserves a log line (the first
 * of a run of failures of one kind: a name that does not exist is said
 * once, not every retry). */
bool resolve_record(struct resolve_sched *s, int64_t now_ms, enum resolve_outcome o,
		    int64_t interval_ms);

/* --- the table of names -------------------------------------------------- */

struct resolve_table;

struct resolve_table *resolve_table_new(void);
void resolve_table_free(struct resolve_table *t); /* cancels lookups in flight */
/* How often a stale peer whose name resolved is looked up again
 * (default RESOLVE_INTERVAL_MS). */
void resolve_table_set_interval(struct resolve_table *t, int64_t interval_ms);
/* Tracks the peers of c whose Endpoint is a host name (not an address
 * literal), but those skip (if not NULL) says to leave alone (the peers
 * `weft link` finds endpoints for itself); returns how many, or negative
 * errno. */
int resolve_table_add_conf(struct resolve_table *t, const struct conf *c,
			   bool (*skip)(void *ctx, const uint8_t public_key[WG_KEY_LEN]), void *ctx);
int resolve_table_add(struct resolve_table *t, const uint8_t public_key[WG_KEY_LEN], const char *host,
		      uint16_t port);
size_t resolve_table_count(const struct resolve_table *t);
/* Readable (eventfd) when a lookup finished: call resolve_table_collect. */
int resolve_table_fd(const struct resolve_table *t);
/* Starts the lookups that dev's view (handshake times) and the schedule
 * call for; returns how many it started. */
int resolve_table_tick(struct resolve_table *t, const struct device *dev, int64_t now_ms, int64_t now_s);
/* Gathers finished lookups: each peer whose name now gives an address
 * other than its endpoint in dev is added to change (public key and
 * endpoint, PEER_UPDATE_ONLY). Returns the peers added or negative errno. */
int resolve_table_collect(struct resolve_table *t, const struct device *dev, struct device *change,
			  int64_t now_ms);
/* Counters for `weft link status`. */
struct resolve_counters {
	uint64_t lookups, changed, transient, permanent;
};
void resolve_table_counters(const struct resolve_table *t, struct resolve_counters *out);

#endif
