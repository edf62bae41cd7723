/* frame.c: length-prefixed frames over a stream (see frame.h). The reader
 * hands out frames in place and moves a partial frame to the front of its
 * buffer only when it needs room, so one read(2) of many small frames costs
 * no copy per frame; the writer is a ring. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "coord/frame.h"

uint8_t *frame_reader_space(struct frame_reader *r, size_t *cap)
{
	r->start += r->handed;
	r->handed = 0;
	if (r->start == r->end)
		r->start = r->end = 0;
	else if (sizeof(r->buf) - r->end < FRAME_HEADER_LEN + FRAME_MAX) {
		memmove(r->buf, r->buf + r->start, r->end - r->start);
		r->end -= r->start;
		r->start = 0;
	}
	*cap = sizeof(r->buf) - r->end;
	return r->buf + r->end;
}

int frame_reader_next(struct frame_reader *r, const uint8_t **msg, size_t *len)
{
	size_t n, avail;

	r->start += r->handed;
	r->handed = 0;
	avail = r->end - r->start;
	if (avail < FRAME_HEADER_LEN)
		return 0;
	n = (size_t)r->buf[r->start] << 8 | r->buf[r->start + 1];
	if (!n || n > FRAME_MAX)
		return -EMSGSIZE;
	if (avail < FRAME_HEADER_LEN + n)
		return 0;
	*msg = r->buf + r->start + FRAME_HEADER_LEN;
	*len = n;
	r->handed = FRAME_HEADER_LEN + n;
	return 1;
}

int frame_writer_init(struct frame_writer *w)
{
	*w = (struct frame_writer){ 0 };
	w->buf = malloc(FRAME_QUEUE_MAX);
	return w->buf ? 0 : -ENOMEM;
}

void frame_writer_free(struct frame_writer *w)
{
	free(w->buf);
	w->buf = NULL;
	w->head = w->len = 0;
}

static void ring_put(struct frame_writer *w, const uint8_t *p, size_t n)
{
	size_t at = (w->head + w->len) % FRAME_QUEUE_MAX, first = FRAME_QUEUE_MAX - at;

	if (first > n)
		first = n;
	memcpy(w->buf + at, p, first);
	memcpy(w->buf, p + first, n - first);
	w->len += n;
}

int frame_writer_push(struct frame_writer *w, const uint8_t *msg, size_t len)
{
	uint8_t hdr[FRAME_HEADER_LEN] = { (uint8_t)(len >> 8), (uint8_t)len };

	if (!len || len > FRAME_MAX)
		return -EMSGSIZE;
	if (FRAME_QUEUE_MAX - w->len < FRAME_HEADER_LEN + len) {
		w->dropped++;
		w->dropped_bytes += len;
		return -ENOBUFS;
	}
	ring_put(w, hdr, sizeof(hdr));
	ring_put(w, msg, len);
	return 0;
}

size_t frame_writer_pending(const struct frame_writer *w, const uint8_t **a, size_t *alen,
			    const uint8_t **b, size_t *blen)
{
	size_t first = FRAME_QUEUE_MAX - w->head;

	if (first > w->len)
		first = w->len;
	*a = w->buf + w->head;
	*alen = first;
	*b = w->buf;
	*blen = w->len - first;
	return w->len;
}

void frame_writer_consume(struct frame_writer *w, size_t n)
{
	if (n > w->len)
		n = w->len;
	w->head = (w->head + n) % FRAME_QUEUE_MAX;
	w->len -= n;
	if (!w->len)
		w->head = 0;
}
