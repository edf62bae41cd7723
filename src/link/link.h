/* link.h: the state of `weft link` for one interface and its sans-I/O core:
 * decisions made from inputs (the device's peers, our addresses, STUN
 * answers, the coord's matches and failures) and a clock the caller passes
 * in (monotonic ms). The I/O loop (loop.c) feeds it and carries out what
 * link_poll returns; nothing here opens a socket or reads a clock.
 *
 * What it decides:
 *  - when to ask the coord's STUN service for our public mapping (at start,
 *    on any address or route change, every LINK_STUN_REFRESH_MS);
 *  - when to (re)announce our candidates to the coord: right after a
 *    changed mapping, at most LINK_ANNOUNCE_AFTER_CHANGE_MS after an
 *    address change even without one, and every LINK_ANNOUNCE_REFRESH_MS;
 *    after a failure with exponential backoff (LINK_BACKOFF_MIN_MS doubling
 *    to LINK_BACKOFF_MAX_MS), the paths in use untouched meanwhile;
 *  - for each managed peer, what its path (path.h) asks: an endpoint to
 *    set and an initiation to provoke.
 *
 * Only managed peers are ever touched, and only their endpoint and
 * persistent keepalive (never keys or allowed IPs). */
#ifndef WEFT_LINK_LINK_H
#define WEFT_LINK_LINK_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "link/addr.h"
#include "link/path.h"

#define LINK_MAX_PEERS 1024
#define LINK_MAX_OWN_CANDS 12       /* what one announcement carries */
#define LINK_STUN_TIMEOUT_MS 500
#define LINK_STUN_REFRESH_MS 30000
#define LINK_ANNOUNCE_AFTER_CHANGE_MS 700 /* < 1 s even when STUN is silent */
#define LINK_ANNOUNCE_REFRESH_MS 20000
#define LINK_BACKOFF_MIN_MS 1000
#define LINK_BACKOFF_MAX_MS 60000
/* Kept open while a peer is managed when the user set none: a NAT
 * forgets an idle UDP mapping after 30 s or more, and the punch needs the
 * device to send (see docs/weft-link.md). */
#define LINK_KEEPALIVE_S 25

struct link_peer {
	uint8_t public_key[32];
	uint16_t user_keepalive;  /* what the device had when we started */
	uint16_t keepalive;       /* what we keep it at */
	bool roaming;             /* marked Roaming = true (else: no static endpoint) */
	struct path path;
	uint8_t last_type;        /* for logging changes of the chosen path */
	union link_addr last_endpoint;
};

enum link_do {
	LINK_DO_NOTHING,
	LINK_DO_STUN,           /* send a STUN binding request from the device's port */
	LINK_DO_ANNOUNCE,       /* send our candidates (link_own_cands) to the coord */
	LINK_DO_SET_ENDPOINT,   /* peer: endpoint, and with kick provoke an initiation */
	LINK_DO_WANT_RELAY,     /* peer: no direct path; a relay candidate is wanted */
	LINK_DO_PATH_CHANGED,   /* peer: the chosen path changed (log it) */
};

struct link_action {
	uint8_t what;             /* enum link_do */
	bool kick;
	uint32_t peer;            /* index into peers */
	union link_addr endpoint;
};

struct link {
	char iface[IFNAMSIZ];
	int ifindex;              /* the WireGuard interface: its addresses are no candidates */
	uint16_t listen_port;
	struct link_peer *peers;
	uint32_t n_peers;
	struct local_addrs local;
	/* our public mapping, from STUN; and one from a gateway's port mapping */
	union link_addr mapped, portmap;
	bool stun_wanted;
	bool stun_pending;
	int64_t stun_sent_at, stun_next;
	/* the coord session */
	bool coord_up;
	int64_t announce_at;      /* next announcement due; INT64_MAX: none */
	bool announce_pending;    /* sent, no answer yet */
	int64_t announce_sent_at;
	uint32_t backoff_ms;
	uint32_t coord_failures;  /* in a row */
	uint64_t announcements;   /* answered, in total */
	/* birthday probes (birthday_run.h): attempts, probes sent, hits */
	uint64_t bday_attempts, bday_probes, bday_hits;
	/* bumped on anything `weft link status` shows */
	uint64_t status_gen;
	int64_t started;
	int64_t wall_offset;      /* wall ms - monotonic ms (the caller keeps it) */
};

/* n_peers peers (the caller fills peers[i].public_key, keepalives and
 * roaming after). 0 or -ENOMEM, -E2BIG past LINK_MAX_PEERS. */
int link_init(struct link *l, const char *iface, uint32_t n_peers, int64_t now);
void link_free(struct link *l);
/* The managed peer with this key, or -1. */
int link_find_peer(const struct link *l, const uint8_t key[32]);

/* ---- inputs ---- */

/* Our addresses now (netlink): a change re-learns the mapping and
 * re-announces within LINK_ANNOUNCE_AFTER_CHANGE_MS, and each path sends
 * toward its peer at once or punches again (path_restart). */
void link_on_local_addrs(struct link *l, const struct local_addrs *now_addrs, int64_t now);
/* A route came or went: may change the way out (the mapping). */
void link_on_route_change(struct link *l, int64_t now);
/* A STUN answer: our mapping as the coord saw it. */
void link_on_stun(struct link *l, const union link_addr *mapped, int64_t now);
/* The coord answered an announcement (ok) or the session failed. */
void link_on_coord(struct link *l, bool ok, int64_t now);
/* The coord matched us with a peer: its candidates (LAN ones decrypted). */
void link_on_match(struct link *l, uint32_t peer, const struct path_cand *c, unsigned n, int64_t now);
/* A relay (or NAT helper) offers a candidate for a peer. */
void link_on_candidate(struct link *l, uint32_t peer, const struct path_cand *c, int64_t now);
/* The peer went to the relay: use the relay's candidate c now. */
void link_on_relay_invite(struct link *l, uint32_t peer, const struct path_cand *c, int64_t now);
/* The gateway mapped our port (portmap): announced as a direct candidate.
 * NULL: the mapping is gone. */
void link_on_portmap(struct link *l, const union link_addr *mapped, int64_t now);
/* The device's view of a peer: its latest handshake (ms on the caller's
 * clock, 0: never), bytes received from it, and its endpoint. */
void link_on_device(struct link *l, uint32_t peer, int64_t last_handshake, uint64_t rx_bytes,
		    const union link_addr *endpoint, int64_t now);

/* Bytes the relay client handed the device from a peer. */
void link_on_relay_rx(struct link *l, uint32_t peer, uint64_t bytes);
/* A match's candidates as path candidates (into out, at most max; returns
 * how many): one on the host the coord saw the peer at, or on a public
 * address, is direct; a private one is LAN. Unless it is among them, that
 * host with the port of the peer's last candidate (its device port) is
 * added last: a NAT that keeps ports maps it there (the peer's STUN may
 * have failed, or be older than a change of its NAT). observed may be
 * unset. */
unsigned link_match_cands(struct path_cand *out, unsigned max, const union link_addr *cands, unsigned n,
			  const union link_addr *observed);

/* ---- outputs ---- */

/* Up to max actions due at now into out; *next gets when to call again
 * (INT64_MAX: only on input). Returns how many. */
size_t link_poll(struct link *l, int64_t now, struct link_action *out, size_t max, int64_t *next);
/* Our candidates, as announced: the public mapping, a port mapping, then
 * our LAN addresses with the device's port. Returns how many. */
unsigned link_own_cands(const struct link *l, struct path_cand *out, unsigned max);

#endif
