/* test_coord_frame.c: the relay's stream framing (src/coord/frame.c): frames
 * cut at every byte boundary come out whole and in order, an empty or
 * oversized length ends the stream, and the writer's queue is bounded (what
 * does not fit is refused and counted, what fits comes out byte for byte
 * across the ring's wrap). */
#include <errno.h>

#include "coord/frame.h"
#include "test.h"

static struct frame_reader rd;

static void test_reader_any_split(void)
{
	uint8_t stream[3 * (FRAME_HEADER_LEN + FRAME_MAX)];
	size_t lens[] = { 1, FRAME_MAX, 148, 2 }, total = 0, got = 0;
	int frames = 0, bad = 0;

	for (size_t i = 0; i < 4; i++) {
		stream[total++] = (uint8_t)(lens[i] >> 8);
		stream[total++] = (uint8_t)lens[i];
		for (size_t j = 0; j < lens[i]; j++)
			stream[total++] = (uint8_t)(i * 17 + j);
	}
	/* feed the stream in pieces of every size from 1 to 300 bytes */
	for (size_t step = 1; step <= 300; step += 37) {
		size_t off = 0;
		int k = 0;

		memset(&rd, 0, sizeof(rd));
		while (off < total) {
			size_t cap, n;
			uint8_t *sp = frame_reader_space(&rd, &cap);
			const uint8_t *m;
			size_t ml;
			int rc;

			n = total - off < step ? total - off : step;
			n = n < cap ? n : cap;
			memcpy(sp, stream + off, n);
			off += n;
			frame_reader_commit(&rd, n);
			while ((rc = frame_reader_next(&rd, &m, &ml)) == 1) {
				if (ml != lens[k])
					bad++;
				for (size_t j = 0; j < ml; j++)
					if (m[j] != (uint8_t)(k * 17 + j))
						bad++;
				got += ml;
				k++;
				frames++;
			}
			if (rc < 0)
				bad++;
		}
		if (k != 4)
			bad++;
	}
	CHECK_EQ(bad, 0);
	CHECK_EQ(frames, 4 * 9);
	CHECK_EQ(got, 9 * (1 + FRAME_MAX + 148 + 2));
}

static void test_reader_refuses_bad_lengths(void)
{
	const uint8_t *m;
	size_t ml, cap;
	uint8_t *sp;

	memset(&rd, 0, sizeof(rd));
	sp = frame_reader_space(&rd, &cap);
	sp[0] = 0, sp[1] = 0;
	frame_reader_commit(&rd, 2);
	CHECK_EQ(frame_reader_next(&rd, &m, &ml), -EMSGSIZE);
	memset(&rd, 0, sizeof(rd));
	sp = frame_reader_space(&rd, &cap);
	sp[0] = (FRAME_MAX + 1) >> 8, sp[1] = (uint8_t)(FRAME_MAX + 1);
	frame_reader_commit(&rd, 2);
	CHECK_EQ(frame_reader_next(&rd, &m, &ml), -EMSGSIZE);
	memset(&rd, 0, sizeof(rd));
	sp = frame_reader_space(&rd, &cap);
	sp[0] = 0, sp[1] = 5, sp[2] = 1;
	frame_reader_commit(&rd, 3);
	CHECK_EQ(frame_reader_next(&rd, &m, &ml), 0);
}

static void test_writer_bounded_and_wraps(void)
{
	struct frame_writer w;
	uint8_t msg[1000], out[FRAME_QUEUE_MAX];
	const uint8_t *a, *b;
	size_t al, bl, pushed = 0, seq = 0, checked = 0;
	int refused = 0, bad = 0;

	CHECK_EQ(frame_writer_init(&w), 0);
	CHECK_EQ(frame_writer_push(&w, msg, 0), -EMSGSIZE);
	CHECK_EQ(frame_writer_push(&w, msg, FRAME_MAX + 1), -EMSGSIZE);
	/* fill it: what does not fit is refused and counted */
	for (int i = 0; i < 400; i++) {
		memset(msg, (uint8_t)i, sizeof(msg));
		if (frame_writer_push(&w, msg, sizeof(msg)) == 0)
			pushed++;
		else
			refused++;
	}
	CHECK_EQ(pushed, FRAME_QUEUE_MAX / (sizeof(msg) + 2));
	CHECK_EQ(refused, 400 - (int)pushed);
	CHECK_EQ(w.dropped, refused);
	CHECK(w.len <= FRAME_QUEUE_MAX);
	/* drain half, push more (the ring wraps), then check every byte */
	frame_writer_pending(&w, &a, &al, &b, &bl);
	frame_writer_consume(&w, 100 * (sizeof(msg) + 2));
	seq = 100;
	for (int i = 0; i < 100; i++) {
		memset(msg, (uint8_t)(pushed + i), sizeof(msg));
		CHECK_EQ(frame_writer_push(&w, msg, sizeof(msg)), 0);
	}
	size_t n = frame_writer_pending(&w, &a, &al, &b, &bl);
	CHECK(bl > 0);
	memcpy(out, a, al);
	memcpy(out + al, b, bl);
	for (size_t off = 0; off < n; off += sizeof(msg) + 2, seq++) {
		if (out[off] != sizeof(msg) >> 8 || out[off + 1] != (uint8_t)sizeof(msg))
			bad++;
		for (size_t j = 0; j < sizeof(msg); j++)
			if (out[off + 2 + j] != (uint8_t)seq)
				bad++;
		checked++;
	}
	CHECK_EQ(bad, 0);
	CHECK_EQ(checked, pushed);
	frame_writer_consume(&w, n);
	CHECK(frame_writer_empty(&w));
	frame_writer_free(&w);
}

int main(void)
{
	test_suite_name = "coord_frame";
	RUN(test_reader_any_split);
	RUN(test_reader_refuses_bad_lengths);
	RUN(test_writer_bounded_and_wraps);
	TEST_EXIT();
}
