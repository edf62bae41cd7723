/* path.h: one managed peer's candidate endpoints and the path chosen among
 * them - the hole-punching state machine, sans I/O. It says which
 * endpoint to give the device and when to make it send a handshake
 * initiation; it learns that a path works only from the device itself (the
 * peer's latest handshake time moving past the attempt), then stops trying
 * the others.
 *
 * Order of trial (path_offer sorts): LAN candidates inside one of our own
 * prefixes (no router between us: the peer's sealed local addresses),
 * then direct ones (the peer's public mapping, port-mapped or found by a
 * probe), then LAN candidates elsewhere, then the relay. One attempt at a
 * time, because a WireGuard device has one endpoint per peer and sends at
 * most one initiation per REKEY_TIMEOUT (5 s); an attempt lasts long enough
 * for the device's own retransmissions to reach the candidate.
 *
 * Plug-ins: the relay client adds its local proxy with path_add (type
 * PATH_RELAY) when path_wants_relay says so; NAT helpers (port mapping,
 * birthday probes) add PATH_DIRECT candidates the same way. */
#ifndef WEFT_LINK_PATH_H
#define WEFT_LINK_PATH_H

#include <stdbool.h>
#include <stdint.h>

#include "link/addr.h"

enum path_type {
	PATH_NONE = 0,
	PATH_LAN,    /* a peer's local address: same network, no NAT between */
	PATH_DIRECT, /* its public (observed or mapped) address: through NATs */
	PATH_RELAY,  /* the coord's relay, through the local relay client */
};

enum path_state {
	PATH_IDLE,     /* no candidate yet: nothing to do */
	PATH_PUNCHING, /* trying cands[trying] */
	PATH_UP,       /* a handshake completed on `endpoint` */
	PATH_FAILED,   /* every candidate tried; again at retry_at */
};

/* How long one attempt lasts before the next candidate, in ms. A LAN peer
 * answers within a round trip; through NATs the first initiation is often
 * dropped by the far NAT (it has not sent yet), so a direct attempt waits
 * for the device's retransmission (REKEY_TIMEOUT 5 s + up to 1/3 s jitter). */
#define PATH_ATTEMPT_LAN_MS 1500
#define PATH_ATTEMPT_DIRECT_MS 11000
#define PATH_ATTEMPT_RELAY_MS 11000
/* A path is dead when no handshake completed for longer than
 * REJECT_AFTER_TIME (180 s) plus a margin: with a keepalive the device
 * re-handshakes every REKEY_AFTER_TIME (120 s). */
#define PATH_STALE_MS (195 * 1000)
/* A session this young (REKEY_AFTER_TIME) on an offered endpoint is a
 * working path already. */
#define PATH_FRESH_MS (120 * 1000)
/* After all failed: first retry, doubling to at most the cap. */
#define PATH_RETRY_MIN_MS 2000
#define PATH_RETRY_MAX_MS 60000
#define PATH_MAX_CANDS 16
/* Punching this long without a path asks for the relay, even while new
 * candidates keep coming (a symmetric NAT maps every STUN refresh to a new
 * port, and each new offer starts the punch over): the relay carries the
 * traffic and the probes keep looking for a direct path behind it. */
#define PATH_RELAY_AFTER_MS 15000
/* While the relay carries a peer, its direct candidates are tried now and
 * then without leaving the relay for long: at each multiple of
 * PATH_PROBE_PERIOD_MS of the wall clock (so that both peers try at the
 * same moment and open their NATs for each other), the device is pointed
 * at each direct candidate in turn, PATH_PROBE_ROUNDS times,
 * PATH_PROBE_STEP_MS apart, each time with a keepalive; PATH_PROBE_SETTLE_MS
 * after the last, the path is direct if, over the end of that time, the
 * device heard more from the peer than the relay brought and did not
 * follow the peer back to the relay's stand-in (WireGuard moves an
 * endpoint to where the peer's packets come from), else it goes back to
 * the relay. A probe costs what the tunnel sends meanwhile (its packets go
 * to the candidates, about 1.2 s of every 10 s while no direct path works:
 * TCP through the relay slows down) and a few keepalives. */
#define PATH_PROBE_PERIOD_MS 10000
#define PATH_PROBE_STEP_MS 100
#define PATH_PROBE_ROUNDS 2
#define PATH_PROBE_SETTLE_MS 800
/* the device's counters are read some 200 ms late: what the probe judges
 * is counted from this long after its last command */
#define PATH_PROBE_SAMPLE_MS 400

struct path_cand {
	uint8_t type; /* enum path_type */
	union link_addr addr;
	bool ours;    /* added by a helper (path_add), not offered by the peer */
};

struct path {
	struct path_cand cands[PATH_MAX_CANDS];
	uint8_t n;
	uint8_t trying;           /* index while PUNCHING */
	uint8_t state;            /* enum path_state */
	bool issued;              /* the attempt's endpoint was handed out */
	int64_t attempt_at;       /* ms, when it was handed out */
	int64_t attempt_until;
	int64_t retry_at;
	uint32_t retry_ms;
	uint32_t attempts;        /* handed out in total (for status and tests) */
	/* the chosen path, while UP */
	uint8_t type;             /* enum path_type */
	union link_addr endpoint;
	int64_t since;            /* ms, wall clock of the caller's choosing */
	int32_t rtt_ms;           /* -1: unknown */
	/* what the device said last */
	int64_t last_handshake;   /* ms; 0: never */
	uint64_t rx_bytes;
	union link_addr dev_endpoint;
	/* the device's counters when the attempt began */
	int64_t hs_at_issue;
	uint64_t rx_at_issue;
	bool nudge;               /* up: poke the device toward the peer once */
	int64_t punch_since;      /* ms punching began (0: a path is up) */
	bool relay_wanted;        /* punched for PATH_RELAY_AFTER_MS in vain */
	/* probes of direct candidates while on the relay (see above) */
	bool probing;
	uint8_t probe_step;
	int64_t probe_next, probe_step_at, probe_until;
	uint64_t probe_rx, relay_rx, probe_relay_rx;
	bool probe_sampled;
	union link_addr relay_ep;
	uint32_t probes, probe_wins;
	int64_t wall_offset;      /* wall ms - monotonic ms, set by the caller */
};

/* What path_tick asks of the caller. */
struct path_cmd {
	bool set_endpoint;        /* give the device `endpoint` for this peer */
	bool kick;                /* and make it send an initiation now */
	union link_addr endpoint;
};

void path_init(struct path *p);

/* The peer's candidates from a match (replacing the earlier ones except a
 * relay's and those of our own helpers: a birthday probe's pair works
 * whatever the peer announces later, e.g. a new mapping of its hard NAT). local: our own addresses, to rank LAN candidates. Starts
 * punching unless the path in use is among them and up. Returns the
 * number kept (at most PATH_MAX_CANDS; unusable addresses dropped). */
unsigned path_offer(struct path *p, const struct path_cand *c, unsigned n, const struct local_addrs *local,
		    int64_t now);
/* Adds one candidate (a relay, a port mapping, a probe's find) at its
 * rank; punching starts or resumes with it when nothing is up. false when
 * full or already there. */
bool path_add(struct path *p, const struct path_cand *c, const struct local_addrs *local, int64_t now);
/* The peer went to the relay (the coord invited us there): add the
 * relay's candidate c and try it now, whatever path is up; the probes
 * bring both back to a direct path if there is one. */
void path_use_relay(struct path *p, const struct path_cand *c, const struct local_addrs *local, int64_t now);
/* Our own address changed. A path that is up gets one keepalive sent
 * along it at once (so that a NAT we are behind now opens toward the
 * peer, whose own punch, after our new announcement, does the rest); one
 * still punching starts again from the top. */
void path_restart(struct path *p, int64_t now);

/* What the device says: the peer's latest handshake (ms, 0: never), bytes
 * received from it, and its endpoint. A handshake or received bytes after
 * the attempt began make the path UP, on the device's endpoint (WireGuard
 * follows the peer's packets, so that is where they came from). */
void path_on_device(struct path *p, int64_t last_handshake, uint64_t rx_bytes, const union link_addr *endpoint,
		    const struct local_addrs *local, int64_t now);

/* The bytes the relay client handed the device from the peer (the
 * probes compare them with what the device heard). */
void path_on_relay_rx(struct path *p, uint64_t bytes);

/* Advances time: fills *cmd (when something is to be done) and returns the
 * next time (ms) the path needs a tick, or INT64_MAX. */
int64_t path_tick(struct path *p, int64_t now, struct path_cmd *cmd);

/* All direct candidates failed (or punching went on for
 * PATH_RELAY_AFTER_MS) and no relay candidate is there yet. */
bool path_wants_relay(const struct path *p);

const char *path_type_name(uint8_t type);  /* "lan", "direct", "relay", "none" */
const char *path_state_name(uint8_t state); /* "idle", "punching", "up", "failed" */

#endif
