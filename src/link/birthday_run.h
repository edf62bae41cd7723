/* birthday_run.h: when `weft link` runs a birthday probe (birthday.h) and
 * what it does with a hit. A probe is tried for a peer whose direct
 * candidates all failed (the core's LINK_DO_WANT_RELAY), before the relay
 * carries it. Both sides get there at about the same time (they punched
 * the same candidates since the same match), and without a word between
 * them they must start together, with one session value and opposite
 * roles: an attempt starts at the next multiple of BDAY_MARK_MS of the
 * wall clock at least BDAY_MARK_LEAD_MS ahead, its session is derived from
 * that mark, and the roles from what both sides know of both NATs (the
 * side whose NAT changed its device's port is the hard one; a tie goes by
 * the public keys). A side that chose the next mark misses once and meets
 * the other at its second attempt, so a peer gets two, then none for
 * BDAY_RUN_AGAIN_MS.
 *
 * The key is the pair's own: KDF1(token, DH(our static, peer static)), as
 * the sealed candidates use; the coord, which knows the token, cannot make
 * probes. On a hit the guess side gives its device the address found (a
 * direct candidate of the path) and the spray side keeps its socket as a
 * proxy on 127.0.0.1 and points the device at it. One probe or proxy at a
 * time (256 sockets are enough for one daemon). */
#ifndef WEFT_LINK_BIRTHDAY_RUN_H
#define WEFT_LINK_BIRTHDAY_RUN_H

#include <stdbool.h>
#include <stdint.h>

#include "link/addr.h"
#include "link/birthday_io.h"

#define BDAY_RUN_TRIES 2
#define BDAY_RUN_AGAIN_MS (10 * 60 * 1000)
/* A device sends at most one initiation per REKEY_TIMEOUT (5 s), so the
 * one that uses the pair may come a few seconds after the hit. */
#define BDAY_RUN_FOLLOW_MS 20000
#define BDAY_RUN_FOLLOW_EVERY_MS 1000

struct link_daemon;

struct bday_runner {
	struct bday_io io;
	bool active;               /* io is open: probing or proxying */
	bool scheduled;
	uint32_t peer;
	int64_t start_at;          /* monotonic ms */
	int64_t mark;              /* wall-clock ms of the attempt */
	uint8_t tries;             /* attempts in this window */
	int64_t *last_try;         /* per peer: monotonic ms of the window, 0 never */
	/* after a hit, until the path is up on the pair (or BDAY_RUN_FOLLOW_MS):
	 * the device is pointed at it again whenever something moved it */
	bool following;
	uint32_t follow_peer;
	union link_addr follow_ep;
	int64_t follow_until, follow_next;
	uint32_t n_peers;
	int epfd;
};

int bday_run_init(struct bday_runner *r, uint32_t n_peers, int epfd);
/* The core gave up on the peer's direct candidates. */
void bday_run_want(struct bday_runner *r, uint32_t peer, int64_t now, int64_t wall_ms);
/* Starts a due attempt, sends what is due, ends a missed one. Returns when
 * to call again (INT64_MAX: on input only). */
int64_t bday_run_tick(struct bday_runner *r, struct link_daemon *d, int64_t now);
/* fd was readable: true if it was one of the probe's. */
bool bday_run_on_fd(struct bday_runner *r, struct link_daemon *d, int fd, int64_t now);
void bday_run_close(struct bday_runner *r);

#endif
