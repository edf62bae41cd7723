/* coord_io.h: `weft link`'s side of the coord protocol (docs/
 * coord-protocol.md): the UDP socket to the server, the session
 * (coord/client.h) driven with the core's clock, and the end-to-end part -
 * one rendezvous token per managed peer, our candidates sealed for that
 * peer, the peer's opened and turned into path candidates.
 *
 * All our candidates travel in the sealed blob, the public mapping too:
 * the server's observed address is that of this socket, not of the
 * device's port, so it serves only as a last guess (its host with the
 * peer's device port). A received candidate on the host the server saw
 * the peer at is direct, a private one LAN, any other direct. */
#ifndef WEFT_LINK_COORD_IO_H
#define WEFT_LINK_COORD_IO_H

#include <stdbool.h>
#include <stdint.h>

#include "coord/client.h"
#include "link/addr.h"
#include "link/link.h"

struct coord_peer {
	uint8_t token[COORD_TOKEN_LEN];
	uint8_t blob[COORD_BLOB_MAX];
	uint16_t blob_len;
	struct path_cand sealed[LINK_MAX_OWN_CANDS]; /* what blob holds */
	unsigned n_sealed;
};

struct coord_io {
	int fd;
	union link_addr server;
	struct coord_client client;
	uint8_t priv[32], pub[32];
	struct coord_peer *peers;  /* parallel to link.peers */
	uint32_t n_peers;
	bool announce_wanted;      /* asked for; sent once the session is up */
	bool answered;             /* an ANNOUNCED came for the round */
	bool fresh_session;        /* force a handshake before the next round */
	uint64_t rx_bad, rx_errors, matches;
};

/* Opens the socket and sets up the session and tokens for l's peers.
 * priv is copied (and wiped in coord_io_close). 0 or -errno. */
int coord_io_open(struct coord_io *c, const union link_addr *server, const uint8_t server_pub[32],
		  const uint8_t priv[32], const struct link *l, const char *label);
void coord_io_close(struct coord_io *c);

/* The core asked for an announcement: send it now if the session is up,
 * else start one. */
void coord_io_announce(struct coord_io *c, struct link *l, int64_t now_ms);
/* Datagrams from the server: feeds the core (matches, answers). */
void coord_io_read(struct coord_io *c, struct link *l, int64_t now_ms);
/* The session's timers (handshake retries, keepalive PINGs). Returns the
 * next deadline in ms. */
int64_t coord_io_tick(struct coord_io *c, struct link *l, int64_t now_ms);

#endif
