/* peer.h: what the engine knows of one peer: its keys, handshake and
 * keypairs, cookie, allowed IPs, endpoint, timers, the packets staged while
 * it has no session, and the work it has queued for the next drain. */
#ifndef WEFT_PEER_H
#define WEFT_PEER_H

#include <stdbool.h>
#include <stdint.h>

#include "weft/engine.h"
#include "wg/allowedips.h"
#include "wg/cookie.h"
#include "wg/noise.h"
#include "wg/timerheap.h"

struct staged_packet {
	struct staged_packet *next;
	size_t len;
	uint8_t data[];
};

/* Work a peer asks the device to do when output slots are available. */
enum peer_want {
	WANT_INITIATION = 1 << 0,       /* send a handshake initiation (rate limited) */
	WANT_INITIATION_RETRY = 1 << 1, /* the same, as a retransmission */
	WANT_RESPONSE = 1 << 2,         /* send the handshake response just created */
	WANT_KEEPALIVE = 1 << 3,        /* send staged packets, or a keepalive if none */
	WANT_FLUSH = 1 << 4,            /* send staged packets if a session allows it */
};

struct peer_timers {
	/* absolute monotonic deadlines, 0 = not armed */
	uint64_t retransmit_handshake, send_keepalive, new_handshake, zero_key_material,
		persistent_keepalive;
	bool need_another_keepalive;
	bool sent_lastminute_handshake;
	unsigned handshake_attempts;
	struct heap_node heap; /* earliest of the above, in the device's heap */
};

struct weft_peer {
	struct weft_device *dev;
	struct weft_peer *prev, *next; /* insertion order */
	uint64_t hash;                 /* of public_key, for the device's table */
	uint8_t public_key[NOISE_PUBLIC_KEY_LEN];
	bool has_preshared_key;

	struct noise_handshake handshake;
	struct noise_keypairs keypairs;
	struct cookie cookie;
	struct allowedips_owner allowedips;
	void *user;                    /* the caller's (weft_peer_set_user) */

	bool has_endpoint;
	struct weft_endpoint endpoint;
	uint16_t persistent_keepalive_interval;

	struct peer_timers timers;
	uint64_t last_sent_handshake; /* monotonic ns, 0 = never */
	uint64_t last_handshake_wall_ns;
	uint64_t rx_bytes, tx_bytes;

	struct staged_packet *staged_head, *staged_tail;
	unsigned staged_count;

	unsigned want;
	struct weft_peer *ready_next;
	bool on_ready_list;
};

void peer_free_staged(struct weft_peer *peer);

#endif
