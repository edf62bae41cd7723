/* handshake_queue.c: the ring of deferred handshake messages (see
 * handshake_queue.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "wg/handshake_queue.h"

_Static_assert(sizeof(struct message_handshake_initiation) >= sizeof(struct message_handshake_response),
	       "a queue entry holds either handshake message");
_Static_assert(sizeof(struct message_handshake_initiation) == WEFT_HANDSHAKE_MAX,
	       "engine.h names the largest handshake message");

int handshake_queue_init(struct handshake_queue *q)
{
	memset(q, 0, sizeof(*q));
	return 0;
}

void handshake_queue_clear(struct handshake_queue *q)
{
	q->head = q->count = 0;
}

void handshake_queue_free(struct handshake_queue *q)
{
	if (q->ring) {
		/* Messages are public, but not ours to leave lying around. */
		memzero(q->ring, WEFT_HANDSHAKE_QUEUE * sizeof(*q->ring));
		free(q->ring);
	}
	memset(q, 0, sizeof(*q));
}

int handshake_queue_push(struct handshake_queue *q, const uint8_t *msg, size_t len,
			 const struct weft_endpoint *from, bool load_checked)
{
	if (len > sizeof(q->ring->msg))
		return -EINVAL;
	if (q->count == WEFT_HANDSHAKE_QUEUE)
		return -ENOSPC;
	if (!q->ring && !(q->ring = calloc(WEFT_HANDSHAKE_QUEUE, sizeof(*q->ring))))
		return -ENOMEM;
	struct queued_handshake *e = &q->ring[(q->head + q->count) % WEFT_HANDSHAKE_QUEUE];
	memcpy(e->msg, msg, len);
	e->len = (uint16_t)len;
	e->load_checked = load_checked;
	e->from = *from;
	q->count++;
	return 0;
}

bool handshake_queue_pop(struct handshake_queue *q, struct queued_handshake *e)
{
	if (!q->count)
		return false;
	*e = q->ring[q->head];
	q->head = (q->head + 1) % WEFT_HANDSHAKE_QUEUE;
	q->count--;
	return true;
}
