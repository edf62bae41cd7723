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
#include "coord/frame.h"
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
	uint64_t sessions;         /* sessions established so far */
	/* The relay client's part (relay_client.h): relay control messages
	 * and relay messages from the server go to these when set. */
	void (*relay_ctl)(void *ctx, const uint8_t *pt, size_t len, int64_t now_ms);
	void (*relay_msg)(void *ctx, uint8_t *pkt, size_t len, int64_t now_ms);
	void *relay_ctx;
	/* The same session over TCP (the server's port number, TCP) when UDP
	 * gets no answer at all: a network that blocks UDP. Every datagram is
	 * then a frame (coord/frame.h). Back to UDP when the connection ends. */
	int tcp_fd;                /* -1: UDP */
	bool heard;                /* anything from the server on this transport */
	unsigned udp_unanswered;   /* initiations sent over UDP, nothing heard */
	struct frame_reader *tcp_rd;
	struct frame_writer tcp_wr;
	uint64_t tcp_switches;
};

/* UDP handshakes without a word from the server before TCP is tried. */
#define COORD_IO_UDP_TRIES 2

/* Sends one datagram to the server (over TCP when the session is there). */
void coord_io_send(struct coord_io *c, const uint8_t *buf, size_t len);
/* The TCP connection is readable (or writable): frames in, queue out. */
void coord_io_tcp_event(struct coord_io *c, struct link *l, int64_t now_ms);

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
