/* frame.h: coord messages over a byte stream (the relay's TCP fallback).
 * Each message travels as a frame: a 2-byte big-endian length, then that
 * many bytes, exactly what one UDP datagram would carry. The reader gathers
 * a stream's bytes into whole frames in a fixed buffer; the writer keeps a
 * bounded queue of frames not yet written, so that a slow reader costs the
 * server at most FRAME_QUEUE_MAX bytes, after which frames are dropped and
 * counted (the datagrams inside are WireGuard's, which copes with loss as it
 * does on UDP). Neither allocates after init; neither does I/O itself. */
#ifndef WEFT_COORD_FRAME_H
#define WEFT_COORD_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
	FRAME_HEADER_LEN = 2,
	/* the largest frame: a relay message with the largest datagram
	 * (2048 + 36 bytes) and room to spare; anything longer ends the
	 * connection (the stream cannot be resynchronised) */
	FRAME_MAX = 4096,
	/* per connection, queued and not yet written */
	FRAME_QUEUE_MAX = 256 * 1024,
};

struct frame_reader {
	size_t start, end;  /* unread bytes are buf[start..end) */
	size_t handed;      /* length of the frame the last next() gave out */
	uint8_t buf[4 * (FRAME_HEADER_LEN + FRAME_MAX)];
};

/* Where read(2) may put more bytes: *cap (> 0) bytes at the return. Call it
 * after frame_reader_next returned 0 (a frame handed out stays valid until
 * then). */
uint8_t *frame_reader_space(struct frame_reader *r, size_t *cap);

/* After n bytes were read into the space. */
static inline void frame_reader_commit(struct frame_reader *r, size_t n)
{
	r->end += n;
}

/* The next whole frame: 1 with *msg / *len (valid until the next call),
 * 0 when more bytes are needed, -EMSGSIZE on a frame longer than FRAME_MAX
 * or empty (the connection must end). */
int frame_reader_next(struct frame_reader *r, const uint8_t **msg, size_t *len);

struct frame_writer {
	uint8_t *buf;   /* FRAME_QUEUE_MAX bytes, a ring */
	size_t head, len;
	uint64_t dropped, dropped_bytes;
};

int frame_writer_init(struct frame_writer *w);
void frame_writer_free(struct frame_writer *w);

/* Queues one frame; -ENOBUFS (counted) when the queue has no room for it,
 * -EMSGSIZE when len is 0 or above FRAME_MAX. */
int frame_writer_push(struct frame_writer *w, const uint8_t *msg, size_t len);

/* What is to be written next: up to two spans (the ring may wrap). */
size_t frame_writer_pending(const struct frame_writer *w, const uint8_t **a, size_t *alen,
			    const uint8_t **b, size_t *blen);
/* After n bytes of the pending spans were written. */
void frame_writer_consume(struct frame_writer *w, size_t n);

static inline bool frame_writer_empty(const struct frame_writer *w)
{
	return w->len == 0;
}

#endif
