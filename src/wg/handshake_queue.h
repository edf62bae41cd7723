/* handshake_queue.h: handshake messages that passed mac1 but were left for
 * a later call because the batch's budget for Diffie-Hellman work was spent.
 * A ring of copies (message and source), allocated on first use so an idle
 * device pays nothing, bounded by WEFT_HANDSHAKE_QUEUE. Its length is the
 * backlog the device judges its load by. Internal to the engine. */
#ifndef WEFT_HANDSHAKE_QUEUE_H
#define WEFT_HANDSHAKE_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "weft/engine.h"
#include "wg/messages.h"

struct queued_handshake {
	uint8_t msg[sizeof(struct message_handshake_initiation)]; /* the larger of the two */
	uint16_t len;
	bool load_checked; /* passed the under-load checks (mac2, rate) already */
	struct weft_endpoint from;
};

struct handshake_queue {
	struct queued_handshake *ring; /* WEFT_HANDSHAKE_QUEUE entries, or NULL until used */
	size_t head, count;
};

int handshake_queue_init(struct handshake_queue *q);
/* Forgets every queued message (the ring stays for later use). */
void handshake_queue_clear(struct handshake_queue *q);
/* Wipes and frees the ring. */
void handshake_queue_free(struct handshake_queue *q);
/* Copies a message in; -ENOSPC when full, -ENOMEM. */
int handshake_queue_push(struct handshake_queue *q, const uint8_t *msg, size_t len,
			 const struct weft_endpoint *from, bool load_checked);
/* Copies the oldest message out and removes it; false when empty. */
bool handshake_queue_pop(struct handshake_queue *q, struct queued_handshake *e);

#endif
