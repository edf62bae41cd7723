/* relay_client.h: `weft link`'s side of the coord's relay of last resort.
 * For each relayed peer a UDP socket on 127.0.0.1 (an ephemeral port)
 * stands in for the peer: its address becomes the peer's Endpoint on the
 * WireGuard device, so the device's datagrams for the peer arrive there;
 * they go to the coord sealed in relay messages (relay_proto.h) on the
 * peer's channel, and what the coord relays back is sent from that socket
 * to the device, which sees the peer at 127.0.0.1:port. Only datagrams
 * from the device's own port are taken: nothing else on the machine can
 * use the relay through us.
 *
 * The coord session (client.h) and the way to the coord (UDP, or TCP when
 * UDP is blocked) belong to the caller: this module seals with the
 * session's keys and hands the messages to a send callback. It owns the
 * sockets, which the caller polls (relay_client_fds). Bounded: at most
 * RELAY_CLIENT_MAX peers. */
#ifndef WEFT_LINK_RELAY_CLIENT_H
#define WEFT_LINK_RELAY_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coord/client.h"
#include "coord/relay_proto.h"
#include "link/addr.h"

enum {
	RELAY_CLIENT_MAX = 64,
	/* a JOIN not answered is sent again after this long */
	RELAY_CLIENT_JOIN_RETRY_MS = 1000,
	/* and a READY pair is joined again this often, so that the server
	 * keeps it (it drops pairs idle for a minute) while the relay waits
	 * as a fallback behind a direct path */
	RELAY_CLIENT_REFRESH_MS = 20000,
	/* datagrams read from one socket in one call (then the others get a turn) */
	RELAY_CLIENT_BATCH = 32,
};

/* Sends one coord message (a transport or relay message) to the server;
 * returns 0 or -errno. The caller's UDP socket or TCP framing. */
typedef int (*relay_send_fn)(void *ctx, const uint8_t *msg, size_t len);

struct relay_peer {
	int fd;                         /* -1: slot free */
	uint32_t peer;                  /* the caller's peer index */
	uint8_t token[COORD_TOKEN_LEN];
	uint32_t channel;               /* ours, from JOINED; 0: none yet */
	uint8_t status;                 /* enum relay_status; WAITING until told */
	bool joined;                    /* a JOINED came (status is the server's) */
	int64_t join_sent;              /* ms; 0: never */
	union link_addr local;          /* 127.0.0.1:port, the device's Endpoint */
	uint64_t to_coord, from_coord;  /* datagrams */
	uint64_t to_coord_bytes, from_coord_bytes;
	uint64_t dropped;               /* not ready, foreign source, send failed */
};

struct relay_client {
	struct relay_peer peers[RELAY_CLIENT_MAX];
	uint16_t device_port;           /* the WireGuard device's listen port */
	relay_send_fn send;
	void *send_ctx;
	uint64_t bad_messages;          /* relay messages that did not open */
	uint64_t unknown_channel;
};

void relay_client_init(struct relay_client *rc, uint16_t device_port, relay_send_fn send, void *ctx);
/* Closes every socket. */
void relay_client_free(struct relay_client *rc);
/* The device's port changed (it restarted): forward there from now on. */
static inline void relay_client_set_device_port(struct relay_client *rc, uint16_t port)
{
	rc->device_port = port;
}

/* A relay for peer (the caller's index) over token: opens its socket (or
 * finds the one it has) and gives its address (the Endpoint to set).
 * Returns the slot (>= 0) or -ENOSPC / -errno of socket(2). The JOIN goes
 * out on the next relay_client_tick. */
int relay_client_open(struct relay_client *rc, uint32_t peer, const uint8_t token[COORD_TOKEN_LEN],
		      union link_addr *endpoint);
/* Stops relaying for peer (a direct path works): LEAVE is sent when the
 * session is up, the socket closed. */
void relay_client_close(struct relay_client *rc, struct coord_client *c, uint32_t peer, int64_t now_ms,
			uint64_t now_ns);
int relay_client_find(const struct relay_client *rc, uint32_t peer);
int relay_client_find_token(const struct relay_client *rc, const uint8_t token[COORD_TOKEN_LEN]);

/* JOINs due (first ones, retries while unanswered, again after the
 * session was re-established: set rejoin). Returns the next time (ms) it
 * wants a tick, or INT64_MAX. */
int64_t relay_client_tick(struct relay_client *rc, struct coord_client *c, bool rejoin,
			  int64_t now_ms, uint64_t now_ns);

/* A relay control message the session opened (plaintext of a transport
 * message whose type is the relay's): JOINED updates a peer's channel and
 * status. 0; 1 when the server invites us to a token we have no stand-in
 * for (token gets it: the caller opens the relay for that peer); or
 * -EBADMSG / -ENOENT (no such token here). */
int relay_client_on_ctl(struct relay_client *rc, const uint8_t *pt, size_t len,
			uint8_t token[COORD_TOKEN_LEN]);

/* A relay message (outer type 0xC5) from the coord: opened with the
 * session's keys, handed to the device from the peer's socket. 0 or -errno
 * (counted). pkt is modified (opened in place). */
int relay_client_on_message(struct relay_client *rc, struct coord_client *c, uint8_t *pkt, size_t len,
			    uint64_t now_ns);

/* The socket of slot i is readable: up to RELAY_CLIENT_BATCH datagrams
 * from the device go to the coord. Returns how many were sent. */
int relay_client_on_readable(struct relay_client *rc, struct coord_client *c, int slot, uint64_t now_ns);

/* The sockets to poll: up to max (fd, slot) pairs; returns how many. */
unsigned relay_client_fds(const struct relay_client *rc, int *fds, int *slots, unsigned max);

#endif
