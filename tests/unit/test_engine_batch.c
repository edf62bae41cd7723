/* test_engine_batch.c: the engine's batches (weft_batch_begin/_end, batch.c)
 * seen from outside. Counts move only when the batch ends, and then every
 * counted datagram is sealed, in counter order; received packets are
 * delivered in arrival order with exact contents, with tampered, replayed
 * and wrong-source ones dropped in the middle (the deliver slots they took
 * given back, so the delivered stay at the front); keepalives; batches
 * larger than the engine's job array and than the caller's slots; a
 * handshake (initiation or response) in the middle of a batch; a key
 * rotation inside one; env.parallel called once for a batch with enough
 * crypto and never for a small one, with jobs run in reverse or on weftd's
 * real helper threads, and results byte for byte those of the unbatched
 * path; weft_tick ends a batch; weft_device_free leaves the output alone. */
/* weftd's helper pool is not in libweft.a: compile it in. */
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "weftd/workers.c"
#include "crypto/aead_backend.h"

#include "test.h"
#include "engine_harness.h"

#define SEC NSEC_PER_SEC
#define MAX_GRAB 320 /* datagrams a test holds at once */
#define BIG_SLOTS 300 /* more than BATCH_MAX_JOBS */

static struct world w;

/* ---- helpers --------------------------------------------------------------- */

/* Datagrams taken off a node's output, kept unchanged (as a batch needs
 * them) until the test lets go. */
struct grabbed {
	uint8_t data[SLOT_SIZE];
	size_t len;
};

static struct grabbed grabbed[MAX_GRAB];
static uint8_t sent_plain[MAX_GRAB][SLOT_SIZE]; /* what was given to weft_send */
static size_t sent_len[MAX_GRAB];

/* A packet from n to its peer, len bytes, made distinct by tag. */
static size_t bt_packet(uint8_t *pkt, const struct node *n, size_t len, unsigned tag)
{
	make_ipv4(pkt, n->tunnel_ip, n->other->tunnel_ip, len);
	pkt[28] = (uint8_t)(tag >> 8);
	pkt[29] = (uint8_t)tag;
	pkt[30] = 0xa5;
	return len;
}

/* n sends count packets of len bytes, remembering them in
 * sent_plain[first...]. */
static void bt_send(struct node *n, size_t first, size_t count, size_t len)
{
	for (size_t i = first; i < first + count; i++) {
		sent_len[i] = bt_packet(sent_plain[i], n, len, (unsigned)i);
		weft_send(n->dev, sent_plain[i], sent_len[i], &n->out);
	}
}

/* Copies what n has to send into grabbed[first...] and empties its output.
 * Returns how many. */
static size_t bt_grab(struct node *n, size_t first)
{
	size_t count = n->out.send_count;

	for (size_t i = 0; i < count && first + i < MAX_GRAB; i++) {
		memcpy(grabbed[first + i].data, n->send[i].data, n->send[i].len);
		grabbed[first + i].len = n->send[i].len;
	}
	node_reset_out(n);
	return count;
}

static uint64_t counter_of(const struct grabbed *g)
{
	uint64_t c;

	memcpy(&c, g->data + offsetof(struct message_data, counter), sizeof(c));
	return le64toh(c);
}

/* Feeds n the datagrams grabbed[i] for i in idx[0..count) in one batch.
 * Returns how many times a count moved before the batch ended. */
static unsigned bt_receive_batch(struct node *n, const size_t *idx, size_t count)
{
	unsigned early = 0;
	size_t delivered = n->out.deliver_count;

	weft_batch_begin(n->dev, &n->out);
	for (size_t k = 0; k < count; k++) {
		const struct grabbed *g = &grabbed[idx ? idx[k] : k];
		weft_receive(n->dev, g->data, g->len, &n->other->addr, &n->out);
		early += n->out.deliver_count != delivered;
	}
	weft_batch_end(n->dev);
	return early;
}

static void drops_snapshot(const struct weft_device *dev, uint64_t d[WEFT_DROP_COUNT])
{
	for (int r = 0; r < WEFT_DROP_COUNT; r++)
		d[r] = weft_device_drops(dev, (enum weft_drop)r);
}

/* Which counters moved since the snapshot, and by how much, must be just
 * the ones `want` names (want[r] = rise). Says on stderr what differs. */
static bool drops_rose_by(const struct weft_device *dev, const uint64_t before[WEFT_DROP_COUNT],
			  const uint64_t want[WEFT_DROP_COUNT])
{
	bool ok = true;

	for (int r = 0; r < WEFT_DROP_COUNT; r++) {
		uint64_t got = weft_device_drops(dev, (enum weft_drop)r) - before[r];
		if (got != want[r]) {
			fprintf(stderr, "  drops[%s] rose by %llu, expected %llu\n",
				weft_drop_name((enum weft_drop)r), (unsigned long long)got,
				(unsigned long long)want[r]);
			ok = false;
		}
	}
	return ok;
}

/* n delivered, in order, exactly the packets sent_plain[order[k]]. */
static bool delivered_exactly(const struct node *n, const size_t *order, size_t count)
{
	bool ok = n->out.deliver_count == count;

	if (!ok)
		fprintf(stderr, "  delivered %zu, expected %zu\n", n->out.deliver_count, count);
	for (size_t k = 0; k < count && k < n->out.deliver_count; k++) {
		const struct weft_packet *p = &n->out.deliver[k];
		size_t want = order ? order[k] : k;
		if (p->len != sent_len[want] || memcmp(p->data, sent_plain[want], p->len) ||
		    p->peer != n->peer) {
			fprintf(stderr, "  deliver[%zu] is not packet %zu (len %zu)\n", k, want, p->len);
			ok = false;
		}
	}
	return ok;
}

/* The deliver slots still hold the caller's buffers, each once: the swaps
 * that keep delivered packets together lose and duplicate none. */
static bool deliver_buffers_intact(const struct node *n)
{
	bool seen[SLOTS] = { false }, ok = true;

	for (int i = 0; i < SLOTS; i++) {
		const struct weft_packet *p = &n->deliver[i];
		ptrdiff_t k = (p->data - &n->deliverbuf[0][0]) / SLOT_SIZE;
		if (k < 0 || k >= SLOTS || p->data != n->deliverbuf[k] || seen[k] || p->cap != SLOT_SIZE) {
			fprintf(stderr, "  deliver[%d] holds no buffer of its own\n", i);
			ok = false;
			continue;
		}
		seen[k] = true;
	}
	return ok;
}

/* a sends one packet, everything settles: a session exists both ways. */
static void bt_establish(uint64_t seed)
{
	world_init(&w, seed);
	node_send_ip(&w.a, 100);
	world_flush(&w);
	CHECK(current_keypair(&w.a) != NULL && current_keypair(&w.b) != NULL);
	CHECK_EQ(w.b.delivered, 1);
}

/* Counts what n delivered and frees its deliver slots, as world_flush does. */
static void bt_count_delivered(struct node *n)
{
	n->delivered += n->out.deliver_count;
	n->out.deliver_count = 0;
}

/* A test's end: b's deliveries counted, whatever waits crosses, and the
 * session still carries data both ways. */
static void bt_finish(void)
{
	bt_count_delivered(&w.b);
	world_flush(&w);
	CHECK(session_works(&w));
	world_free(&w);
}

/* ---- sending ----------------------------------------------------------------- */

static void send_counts_move_at_end(void)
{
	size_t order[10];
	unsigned early = 0;

	bt_establish(101);
	weft_batch_begin(w.a.dev, &w.a.out);
	size_t room, deliver_room;
	for (size_t i = 0; i < 10; i++) {
		bt_send(&w.a, i, 1, 100 + 37 * i);
		early += w.a.out.send_count != 0;
		/* the room left counts what the batch has taken, though out's
		 * count has not moved yet */
		weft_out_room(w.a.dev, &w.a.out, &room, &deliver_room);
		CHECK_EQ(room, SLOTS - (i + 1));
		CHECK_EQ(deliver_room, SLOTS);
	}
	CHECK_EQ(early, 0);
	CHECK_EQ(w.a.out.send_count, 0);
	weft_batch_end(w.a.dev);
	CHECK_EQ(w.a.out.send_count, 10);
	weft_out_room(w.a.dev, &w.a.out, &room, NULL);
	CHECK_EQ(room, SLOTS - 10);
	for (size_t i = 0; i < w.a.out.send_count; i++) {
		CHECK_EQ(classify(w.a.send[i].data, w.a.send[i].len), MESSAGE_DATA);
		CHECK(w.a.send[i].peer == w.a.peer);
		CHECK(same_address(&w.a.send[i].endpoint, &w.b.addr));
	}
	size_t count = bt_grab(&w.a, 0);
	for (size_t i = 1; i < count; i++)
		CHECK_EQ(counter_of(&grabbed[i]), counter_of(&grabbed[0]) + i);
	/* b takes them one by one, outside any batch */
	uint64_t before[WEFT_DROP_COUNT], none[WEFT_DROP_COUNT] = { 0 };
	drops_snapshot(w.b.dev, before);
	for (size_t i = 0; i < count; i++) {
		order[i] = i;
		weft_receive(w.b.dev, grabbed[i].data, grabbed[i].len, &w.a.addr, &w.b.out);
	}
	CHECK(drops_rose_by(w.b.dev, before, none));
	CHECK(delivered_exactly(&w.b, order, 10));
	node_reset_out(&w.b);
	/* after the batch, a send counts at once again */
	node_send_ip(&w.a, 80);
	CHECK_EQ(w.a.out.send_count, 1);
	CHECK(session_works(&w));
	world_free(&w);
}

/* More sends than the output has slots: what does not fit waits (staged)
 * and follows, in order, once the caller has emptied its output. */
static void send_batch_overflows_slots(void)
{
	bt_establish(102);
	weft_batch_begin(w.a.dev, &w.a.out);
	bt_send(&w.a, 0, SLOTS + 6, 200);
	CHECK_EQ(w.a.out.send_count, 0);
	weft_batch_end(w.a.dev);
	CHECK_EQ(w.a.out.send_count, SLOTS);
	/* the rest waits: the tick asks to be called again at once */
	CHECK(weft_tick(w.a.dev, &w.a.out) <= w.now);
	CHECK_EQ(w.a.out.send_count, SLOTS);
	size_t count = bt_grab(&w.a, 0);
	w.a.next_deadline = weft_tick(w.a.dev, &w.a.out);
	CHECK_EQ(w.a.out.send_count, 6);
	count += bt_grab(&w.a, count);
	CHECK_EQ(count, SLOTS + 6);
	uint64_t first = counter_of(&grabbed[0]);
	unsigned out_of_order = 0;
	for (size_t i = 0; i < count; i++)
		out_of_order += counter_of(&grabbed[i]) != first + i;
	CHECK_EQ(out_of_order, 0);
	/* b, unbatched, in two helpings (its output holds SLOTS) */
	size_t order[SLOTS + 6];
	for (size_t i = 0; i < SLOTS + 6; i++)
		order[i] = i;
	for (size_t i = 0; i < SLOTS; i++)
		weft_receive(w.b.dev, grabbed[i].data, grabbed[i].len, &w.a.addr, &w.b.out);
	CHECK(delivered_exactly(&w.b, order, SLOTS));
	node_reset_out(&w.b);
	CHECK_EQ(bt_receive_batch(&w.b, order + SLOTS, 6), 0);
	CHECK(delivered_exactly(&w.b, order + SLOTS, 6));
	node_reset_out(&w.b);
	CHECK_EQ(drops_total(w.a.dev), 0);
	world_free(&w);
}

/* ---- receiving ---------------------------------------------------------------- */

static void receive_batch_in_order(void)
{
	size_t order[20];

	bt_establish(103);
	/* sizes vary, and pad differently */
	for (size_t i = 0; i < 20; i++) {
		order[i] = i;
		sent_len[i] = bt_packet(sent_plain[i], &w.a, 40 + 61 * i, (unsigned)i);
		weft_send(w.a.dev, sent_plain[i], sent_len[i], &w.a.out);
	}
	CHECK_EQ(bt_grab(&w.a, 0), 20);
	uint64_t before[WEFT_DROP_COUNT], none[WEFT_DROP_COUNT] = { 0 };
	struct weft_peer_info info0, info1;
	weft_peer_get_info(w.b.peer, &info0);
	drops_snapshot(w.b.dev, before);
	CHECK_EQ(bt_receive_batch(&w.b, NULL, 20), 0);
	CHECK(delivered_exactly(&w.b, order, 20));
	CHECK(drops_rose_by(w.b.dev, before, none));
	CHECK(!aead_backend_holds_key()); /* the batch wiped its thread's copy */
	size_t bytes = 0;
	for (size_t i = 0; i < 20; i++)
		bytes += grabbed[i].len;
	weft_peer_get_info(w.b.peer, &info1);
	CHECK_EQ(info1.rx_bytes - info0.rx_bytes, bytes);
	node_reset_out(&w.b);
	/* the window moved: every one of them is now a replay */
	drops_snapshot(w.b.dev, before);
	CHECK_EQ(bt_receive_batch(&w.b, NULL, 20), 0);
	CHECK_EQ(w.b.out.deliver_count, 0);
	uint64_t replays[WEFT_DROP_COUNT] = { [WEFT_DROP_REPLAYED_DATA] = 20 };
	CHECK(drops_rose_by(w.b.dev, before, replays));
	CHECK(session_works(&w));
	world_free(&w);
}

/* Flips one byte of a datagram's encrypted data. */
static void tamper(struct grabbed *g, size_t at)
{
	g->data[sizeof(struct message_data) + at % (g->len - sizeof(struct message_data))] ^= 0x40;
}

/* Ten datagrams, some tampered with (by bit in `bad`), one (wrong_src <
 * 10) whose inner source b does not allow: the rest are delivered in order,
 * into slots that are still the caller's buffers. */
static void tampered_pattern(unsigned bad, size_t wrong_src)
{
	size_t order[10], kept = 0, bad_count = 0;

	for (size_t i = 0; i < 10; i++) {
		sent_len[i] = bt_packet(sent_plain[i], &w.a, 100 + 90 * i, (unsigned)i);
		if (i == wrong_src)
			sent_plain[i][15] = 99; /* source 10.0.0.99 */
		weft_send(w.a.dev, sent_plain[i], sent_len[i], &w.a.out);
	}
	CHECK_EQ(bt_grab(&w.a, 0), 10);
	for (size_t i = 0; i < 10; i++) {
		if (bad & 1u << i) {
			tamper(&grabbed[i], 5 + 13 * i);
			bad_count++;
		} else if (i != wrong_src) {
			order[kept++] = i;
		}
	}
	uint64_t before[WEFT_DROP_COUNT], want[WEFT_DROP_COUNT] = { 0 };
	want[WEFT_DROP_DATA_INVALID] = bad_count;
	want[WEFT_DROP_WRONG_SOURCE] = wrong_src < 10 && !(bad & 1u << wrong_src); /* tampered: invalid first */
	drops_snapshot(w.b.dev, before);
	CHECK_EQ(bt_receive_batch(&w.b, NULL, 10), 0);
	if (!delivered_exactly(&w.b, order, kept) || !drops_rose_by(w.b.dev, before, want)) {
		fprintf(stderr, "  with tampered 0x%03x, wrong source %zu\n", bad, wrong_src);
		CHECK(false);
	}
	CHECK(deliver_buffers_intact(&w.b));
	node_reset_out(&w.b);
}

static void tampered_in_the_middle(void)
{
	bt_establish(104);
	tampered_pattern(1u << 3 | 1u << 7, SIZE_MAX); /* two bad tags among good packets */
	tampered_pattern(1u << 0, SIZE_MAX);
	tampered_pattern(1u << 9, SIZE_MAX);
	tampered_pattern(0x007, SIZE_MAX);
	tampered_pattern(0x2aa, SIZE_MAX);
	tampered_pattern(0x3ff, SIZE_MAX);
	tampered_pattern(0, 4);
	tampered_pattern(1u << 2, 0);
	tampered_pattern(1u << 8 | 1u << 1, 9);
	for (unsigned k = 0; k < 40; k++)
		tampered_pattern((unsigned)test_below(1024), (size_t)test_below(14));
	CHECK(session_works(&w));
	world_free(&w);
}

static void duplicate_in_one_batch(void)
{
	bt_establish(105);
	bt_send(&w.a, 0, 3, 300);
	CHECK_EQ(bt_grab(&w.a, 0), 3);
	size_t feed[] = { 0, 1, 1, 2, 0 }, order[] = { 0, 1, 2 };
	uint64_t before[WEFT_DROP_COUNT], want[WEFT_DROP_COUNT] = { [WEFT_DROP_REPLAYED_DATA] = 2 };
	drops_snapshot(w.b.dev, before);
	CHECK_EQ(bt_receive_batch(&w.b, feed, 5), 0);
	CHECK(delivered_exactly(&w.b, order, 3));
	CHECK(drops_rose_by(w.b.dev, before, want));
	CHECK(deliver_buffers_intact(&w.b));
	node_reset_out(&w.b);
	/* and once more, after the batch */
	CHECK(dropped_as(&w.b, grabbed[1].data, grabbed[1].len, &w.a.addr, WEFT_DROP_REPLAYED_DATA));
	world_free(&w);
}

static void keepalive_in_a_batch(void)
{
	bt_establish(106);
	world_flush(&w);
	bt_send(&w.a, 0, 1, 200);
	weft_peer_set_persistent_keepalive(w.a.peer, 25); /* sends one at once */
	w.a.next_deadline = weft_tick(w.a.dev, &w.a.out);
	weft_peer_set_persistent_keepalive(w.a.peer, 0);
	bt_send(&w.a, 1, 1, 300);
	size_t count = bt_grab(&w.a, 0);
	CHECK_EQ(count, 3);
	CHECK_EQ(classify(grabbed[1].data, grabbed[1].len), 5);
	size_t order[] = { 0, 1 };
	uint64_t before[WEFT_DROP_COUNT], none[WEFT_DROP_COUNT] = { 0 };
	struct weft_peer_info info0, info1;
	weft_peer_get_info(w.b.peer, &info0);
	drops_snapshot(w.b.dev, before);
	CHECK_EQ(bt_receive_batch(&w.b, NULL, 3), 0);
	CHECK(delivered_exactly(&w.b, order, 2));
	CHECK(drops_rose_by(w.b.dev, before, none));
	weft_peer_get_info(w.b.peer, &info1);
	CHECK_EQ(info1.rx_bytes - info0.rx_bytes, grabbed[0].len + grabbed[1].len + grabbed[2].len);
	node_reset_out(&w.b);
	/* it was taken (its counter is spent), not merely ignored */
	CHECK(dropped_as(&w.b, grabbed[1].data, grabbed[1].len, &w.a.addr, WEFT_DROP_REPLAYED_DATA));
	/* a batch of nothing but a keepalive */
	weft_peer_set_persistent_keepalive(w.a.peer, 25);
	w.a.next_deadline = weft_tick(w.a.dev, &w.a.out);
	weft_peer_set_persistent_keepalive(w.a.peer, 0);
	CHECK_EQ(bt_grab(&w.a, 0), 1);
	drops_snapshot(w.b.dev, before);
	CHECK_EQ(bt_receive_batch(&w.b, NULL, 1), 0);
	CHECK_EQ(w.b.out.deliver_count, 0);
	CHECK(drops_rose_by(w.b.dev, before, none));
	world_free(&w);
}

/* More datagrams than b's output has deliver slots: the first SLOTS are
 * delivered, the rest dropped as OUT_FULL. */
static void receive_batch_overflows_slots(void)
{
	size_t order[SLOTS + 6];

	bt_establish(107);
	weft_batch_begin(w.a.dev, &w.a.out);
	bt_send(&w.a, 0, SLOTS, 150);
	weft_batch_end(w.a.dev);
	size_t count = bt_grab(&w.a, 0);
	bt_send(&w.a, SLOTS, 6, 150);
	count += bt_grab(&w.a, count);
	CHECK_EQ(count, SLOTS + 6);
	for (size_t i = 0; i < count; i++)
		order[i] = i;
	uint64_t before[WEFT_DROP_COUNT], want[WEFT_DROP_COUNT] = { [WEFT_DROP_OUT_FULL] = 6 };
	drops_snapshot(w.b.dev, before);
	CHECK_EQ(bt_receive_batch(&w.b, NULL, count), 0);
	CHECK(delivered_exactly(&w.b, order, SLOTS));
	CHECK(drops_rose_by(w.b.dev, before, want));
	node_reset_out(&w.b);
	world_free(&w);
}

/* ---- batches larger than the engine's job array -------------------------------- */

struct big_out {
	struct weft_out out;
	struct weft_packet send[BIG_SLOTS], deliver[BIG_SLOTS];
	uint8_t sendbuf[BIG_SLOTS][256], deliverbuf[BIG_SLOTS][256];
};

static void big_out_init(struct big_out *o)
{
	for (int i = 0; i < BIG_SLOTS; i++) {
		o->send[i] = (struct weft_packet){ .data = o->sendbuf[i], .cap = sizeof(o->sendbuf[i]) };
		o->deliver[i] = (struct weft_packet){ .data = o->deliverbuf[i], .cap = sizeof(o->deliverbuf[i]) };
	}
	o->out = (struct weft_out){ .send = o->send, .send_max = BIG_SLOTS, .deliver = o->deliver,
				    .deliver_max = BIG_SLOTS };
}

static void more_jobs_than_one_run(void)
{
	static struct big_out oa, ob;
	static uint8_t plain[BIG_SLOTS][128];
	size_t kept = 0, order[BIG_SLOTS];
	unsigned bad = 0;

	bt_establish(108);
	big_out_init(&oa);
	big_out_init(&ob);
	weft_batch_begin(w.a.dev, &oa.out);
	for (size_t i = 0; i < BIG_SLOTS; i++) {
		bt_packet(plain[i], &w.a, sizeof(plain[i]), (unsigned)i);
		weft_send(w.a.dev, plain[i], sizeof(plain[i]), &oa.out);
	}
	/* a full job array runs on its own, and what it counts is sealed:
	 * the end of the batch does not touch it again */
	static uint8_t early_bytes[BIG_SLOTS][256];
	size_t early = oa.out.send_count;
	CHECK(early > 0 && early <= BATCH_MAX_JOBS);
	memcpy(early_bytes, oa.sendbuf, sizeof(early_bytes));
	weft_batch_end(w.a.dev);
	CHECK_EQ(oa.out.send_count, BIG_SLOTS);
	for (size_t i = 0; i < early; i++)
		bad += memcmp(early_bytes[i], oa.sendbuf[i], oa.send[i].len) != 0;
	for (size_t i = 1; i < oa.out.send_count; i++) {
		uint64_t ci, cq;
		memcpy(&ci, oa.send[i].data + offsetof(struct message_data, counter), 8);
		memcpy(&cq, oa.send[i - 1].data + offsetof(struct message_data, counter), 8);
		bad += le64toh(ci) != le64toh(cq) + 1;
	}
	CHECK_EQ(bad, 0);
	/* spoil some, two of them on either side of the job array's end */
	const size_t spoiled[] = { 3, BATCH_MAX_JOBS - 1, BATCH_MAX_JOBS, BIG_SLOTS - 1 };
	for (size_t k = 0; k < sizeof(spoiled) / sizeof(spoiled[0]); k++)
		oa.send[spoiled[k]].data[20] ^= 1;
	for (size_t i = 0; i < BIG_SLOTS; i++) {
		bool spoilt = false;
		for (size_t k = 0; k < sizeof(spoiled) / sizeof(spoiled[0]); k++)
			spoilt |= spoiled[k] == i;
		if (!spoilt)
			order[kept++] = i;
	}
	uint64_t before[WEFT_DROP_COUNT], want[WEFT_DROP_COUNT] = { [WEFT_DROP_DATA_INVALID] = 4 };
	drops_snapshot(w.b.dev, before);
	weft_batch_begin(w.b.dev, &ob.out);
	for (size_t i = 0; i < BIG_SLOTS; i++)
		weft_receive(w.b.dev, oa.send[i].data, oa.send[i].len, &w.a.addr, &ob.out);
	early = ob.out.deliver_count;
	CHECK(early > 0 && early <= BATCH_MAX_JOBS);
	const struct weft_packet first = ob.deliver[0];
	weft_batch_end(w.b.dev);
	CHECK(first.data == ob.deliver[0].data && first.len == ob.deliver[0].len);
	CHECK_EQ(ob.out.deliver_count, kept);
	bad = 0;
	for (size_t k = 0; k < kept && k < ob.out.deliver_count; k++)
		bad += ob.deliver[k].len != sizeof(plain[0]) ||
		       memcmp(ob.deliver[k].data, plain[order[k]], sizeof(plain[0]));
	CHECK_EQ(bad, 0);
	CHECK(drops_rose_by(w.b.dev, before, want));
	world_free(&w);
}

/* The batch rules are checked (builds without NDEBUG): each broken rule
 * aborts the process with a message, here in a child. */
#ifndef NDEBUG
static bool aborts(void (*fn)(void))
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		int devnull = open("/dev/null", O_WRONLY);
		if (devnull >= 0)
			dup2(devnull, STDERR_FILENO);
		fn();
		_exit(0);
	}
	int status = 0;
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return false;
	return WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
}

static void rule_same_out(void)
{
	static struct big_out other;
	big_out_init(&other);
	weft_batch_begin(w.a.dev, &w.a.out);
	bt_send(&w.a, 0, 3, 100);
	sent_len[3] = bt_packet(sent_plain[3], &w.a, 100, 3);
	weft_send(w.a.dev, sent_plain[3], sent_len[3], &other.out);
}

static void rule_no_tick(void)
{
	weft_batch_begin(w.a.dev, &w.a.out);
	bt_send(&w.a, 0, 1, 100);
	weft_tick(w.a.dev, &w.a.out);
}

static void rule_no_nesting(void)
{
	weft_batch_begin(w.a.dev, &w.a.out);
	weft_batch_begin(w.a.dev, &w.a.out);
}

static void rule_no_config(void)
{
	weft_batch_begin(w.a.dev, &w.a.out);
	weft_peer_remove(w.a.dev, w.a.peer);
}

static void rule_counts_untouched(void)
{
	weft_batch_begin(w.a.dev, &w.a.out);
	bt_send(&w.a, 0, 1, 100);
	w.a.out.send_count = 5;
	weft_batch_end(w.a.dev);
}

static void rule_datagram_unchanged(void)
{
	static uint8_t copy[SLOT_SIZE];
	bt_send(&w.a, 0, 1, 100);
	size_t len = w.a.send[0].len;
	memcpy(copy, w.a.send[0].data, len);
	node_reset_out(&w.a);
	weft_batch_begin(w.b.dev, &w.b.out);
	weft_receive(w.b.dev, copy, len, &w.a.addr, &w.b.out);
	copy[len - 1] ^= 1; /* the tag: the receive's job has not run yet */
	copy[20] ^= 1;
	weft_batch_end(w.b.dev);
}

static void rule_end_outside(void)
{
	weft_batch_end(w.a.dev);
}

static void batch_rules_are_asserted(void)
{
	bt_establish(109);
	CHECK(aborts(rule_same_out));
	CHECK(aborts(rule_no_tick));
	CHECK(aborts(rule_no_nesting));
	CHECK(aborts(rule_no_config));
	CHECK(aborts(rule_counts_untouched));
	CHECK(aborts(rule_datagram_unchanged));
	CHECK(aborts(rule_end_outside));
	/* and the rules kept: nothing aborts, the session works */
	weft_batch_begin(w.a.dev, &w.a.out);
	bt_send(&w.a, 0, 3, 100);
	weft_batch_end(w.a.dev);
	CHECK_EQ(w.a.out.send_count, 3);
	node_reset_out(&w.a);
	CHECK(session_works(&w));
	world_free(&w);
}
#endif

/* ---- handshakes inside a batch -------------------------------------------------- */

/* b gets a's data, a's rekeying initiation and more data in one batch:
 * all the data is delivered in order, b answers, the new session works. */
static void initiation_inside_a_batch(void)
{
	bt_establish(111);
	uint32_t a_old = current_keypair(&w.a)->local_index, b_old = current_keypair(&w.b)->local_index;
	world_advance(&w, (REKEY_AFTER_TIME + 1) * SEC);
	CHECK_EQ(current_keypair(&w.a)->local_index, a_old); /* no traffic, no rekey yet */
	/* the first send after REKEY_AFTER_TIME asks for an initiation */
	bt_send(&w.a, 0, 1, 100);
	bt_send(&w.a, 1, 4, 500);
	size_t count = bt_grab(&w.a, 0);
	CHECK_EQ(count, 6);
	size_t init_at = SIZE_MAX;
	for (size_t i = 0; i < count; i++)
		if (classify(grabbed[i].data, grabbed[i].len) == MESSAGE_HANDSHAKE_INITIATION)
			init_at = i;
	CHECK(init_at > 0 && init_at < count - 1); /* data before and after it */
	size_t order[] = { 0, 1, 2, 3, 4 };
	uint64_t before[WEFT_DROP_COUNT], none[WEFT_DROP_COUNT] = { 0 };
	drops_snapshot(w.b.dev, before);
	bt_receive_batch(&w.b, NULL, count);
	CHECK(delivered_exactly(&w.b, order, 5));
	CHECK(drops_rose_by(w.b.dev, before, none));
	CHECK(deliver_buffers_intact(&w.b));
	CHECK_EQ(w.b.out.send_count, 1);
	CHECK_EQ(queued(&w.b, MESSAGE_HANDSHAKE_RESPONSE), 1);
	bt_count_delivered(&w.b);
	world_flush(&w); /* the response to a, a's confirmation to b */
	CHECK(current_keypair(&w.a)->local_index != a_old);
	CHECK(current_keypair(&w.b)->local_index != b_old);
	CHECK(session_works(&w));
	world_free(&w);
}

/* b (the initiator this time) gets a's data, a's response and more of a's
 * data (still under the old key) in one batch: b's new session sends its
 * confirming keepalive from inside the batch, sealed with the rest. */
static void response_inside_a_batch(void)
{
	bt_establish(113);
	world_advance(&w, (REKEY_TIMEOUT + 1) * SEC);
	uint32_t b_old = current_keypair(&w.b)->local_index;
	current_keypair(&w.b)->sending_counter = REKEY_AFTER_MESSAGES + 1;
	node_send_ip(&w.b, 100); /* data, then b's initiation */
	static struct grabbed from_b[4];
	size_t nb = w.b.out.send_count;
	CHECK_EQ(nb, 2);
	for (size_t i = 0; i < nb && i < 4; i++) {
		memcpy(from_b[i].data, w.b.send[i].data, w.b.send[i].len);
		from_b[i].len = w.b.send[i].len;
	}
	node_reset_out(&w.b);
	CHECK_EQ(classify(from_b[1].data, from_b[1].len), MESSAGE_HANDSHAKE_INITIATION);
	/* a's output: data, the response, more data */
	bt_send(&w.a, 0, 1, 200);
	for (size_t i = 0; i < nb; i++)
		weft_receive(w.a.dev, from_b[i].data, from_b[i].len, &w.b.addr, &w.a.out);
	bt_count_delivered(&w.a);
	bt_send(&w.a, 1, 2, 300);
	size_t count = bt_grab(&w.a, 0);
	CHECK_EQ(count, 4);
	CHECK_EQ(classify(grabbed[1].data, grabbed[1].len), MESSAGE_HANDSHAKE_RESPONSE);
	size_t order[] = { 0, 1, 2 };
	uint64_t before[WEFT_DROP_COUNT], none[WEFT_DROP_COUNT] = { 0 };
	drops_snapshot(w.b.dev, before);
	bt_receive_batch(&w.b, NULL, count);
	CHECK(delivered_exactly(&w.b, order, 3));
	CHECK(drops_rose_by(w.b.dev, before, none));
	CHECK(current_keypair(&w.b)->local_index != b_old);
	CHECK(current_keypair(&w.b)->i_am_the_initiator);
	/* the keepalive that confirms b's session, sealed by the batch's end */
	CHECK_EQ(w.b.out.send_count, 1);
	CHECK_EQ(queued(&w.b, 5), 1);
	bt_finish();
}

/* Within one batch b gets a's first packets under the new key (which
 * confirm it and retire nothing b still needs) and, reordered on the way,
 * late ones under the old key: all are delivered, in arrival order. */
static void key_rotation_inside_a_batch(void)
{
	bt_establish(114);
	world_advance(&w, (REKEY_AFTER_TIME + 1) * SEC);
	bt_send(&w.a, 0, 1, 100); /* old key, and a's initiation */
	bt_send(&w.a, 1, 2, 200); /* old key */
	size_t count = bt_grab(&w.a, 0);
	CHECK_EQ(count, 4);
	size_t init_at = SIZE_MAX;
	for (size_t i = 0; i < count; i++)
		if (classify(grabbed[i].data, grabbed[i].len) == MESSAGE_HANDSHAKE_INITIATION)
			init_at = i;
	CHECK(init_at == 1);
	if (init_at != 1) {
		world_free(&w);
		return;
	}
	/* b takes the initiation alone; the old-key data waits on the wire */
	weft_receive(w.b.dev, grabbed[1].data, grabbed[1].len, &w.a.addr, &w.b.out);
	CHECK_EQ(queued(&w.b, MESSAGE_HANDSHAKE_RESPONSE), 1);
	struct noise_keypair *b_prev = current_keypair(&w.b);
	CHECK(w.b.peer->keypairs.next != NULL);
	/* a takes the response: new key; a sends under it */
	for (size_t i = 0; i < w.b.out.send_count; i++)
		weft_receive(w.a.dev, w.b.send[i].data, w.b.send[i].len, &w.b.addr, &w.a.out);
	node_reset_out(&w.b);
	size_t new_first = bt_grab(&w.a, count); /* a's confirming keepalive, if any */
	new_first += count;
	bt_send(&w.a, 3, 2, 250);
	size_t total = new_first + bt_grab(&w.a, new_first);
	/* b's batch: new-key ones first, then the three old-key data */
	size_t feed[MAX_GRAB], n = 0;
	for (size_t i = count; i < total; i++)
		feed[n++] = i;
	feed[n++] = 0;
	feed[n++] = 2;
	feed[n++] = 3;
	size_t order[] = { 3, 4, 0, 1, 2 };
	uint64_t before[WEFT_DROP_COUNT], none[WEFT_DROP_COUNT] = { 0 };
	drops_snapshot(w.b.dev, before);
	bt_receive_batch(&w.b, feed, n);
	CHECK(delivered_exactly(&w.b, order, 5));
	CHECK(drops_rose_by(w.b.dev, before, none));
	CHECK(w.b.peer->keypairs.next == NULL);
	CHECK(w.b.peer->keypairs.previous == b_prev);
	bt_finish();
}

/* b has a previous keypair (K1, after a rekey by a) and starts a rekey of
 * its own. A late datagram under K1 and a's response come in one batch:
 * the datagram, queued first, is delivered before the response's new
 * session retires K1 (its job must not use a freed key: ASan); the other
 * way round, K1 is gone and the datagram is dropped, nothing else. */
static void response_retires_a_key_in_use(bool data_first)
{
	bt_establish(data_first ? 119 : 120);
	bt_send(&w.a, 0, 1, 333); /* under K1, held back on the wire */
	CHECK_EQ(bt_grab(&w.a, 0), 1);
	static struct grabbed late;
	late = grabbed[0];
	/* a rekeys (K2): b ends with previous K1, current K2 */
	world_advance(&w, (REKEY_AFTER_TIME + 1) * SEC);
	node_send_ip(&w.a, 100);
	world_flush(&w);
	struct noise_keypair *k1 = w.b.peer->keypairs.previous;
	CHECK(k1 != NULL && current_keypair(&w.b) != k1);
	/* b rekeys (K3), once its last handshake message is REKEY_TIMEOUT old:
	 * its data and initiation to a, a's response back */
	world_advance(&w, (REKEY_TIMEOUT + 1) * SEC);
	current_keypair(&w.b)->sending_counter = REKEY_AFTER_MESSAGES + 1;
	node_send_ip(&w.b, 100);
	size_t from_b = w.b.out.send_count;
	CHECK_EQ(from_b, 2);
	for (size_t i = 0; i < from_b; i++)
		weft_receive(w.a.dev, w.b.send[i].data, w.b.send[i].len, &w.b.addr, &w.a.out);
	node_reset_out(&w.b);
	bt_count_delivered(&w.a);
	CHECK_EQ(bt_grab(&w.a, 1), 1);
	CHECK_EQ(classify(grabbed[1].data, grabbed[1].len), MESSAGE_HANDSHAKE_RESPONSE);
	grabbed[0] = late;
	size_t feed[] = { data_first ? 0 : 1, data_first ? 1 : 0 }, order[] = { 0 };
	uint64_t before[WEFT_DROP_COUNT], want[WEFT_DROP_COUNT] = { 0 };
	want[WEFT_DROP_UNKNOWN_INDEX] = !data_first;
	drops_snapshot(w.b.dev, before);
	bt_receive_batch(&w.b, feed, 2);
	CHECK(delivered_exactly(&w.b, order, data_first));
	CHECK(drops_rose_by(w.b.dev, before, want));
	CHECK(current_keypair(&w.b)->i_am_the_initiator);
	CHECK(w.b.peer->keypairs.previous != k1);
	CHECK_EQ(queued(&w.b, 5), 1); /* b confirms K3 */
	bt_finish();
}

static void response_retires_a_key_queued_before(void) { response_retires_a_key_in_use(true); }
static void response_retires_a_key_queued_after(void) { response_retires_a_key_in_use(false); }

/* b could not answer an initiation at once (its output had no send slot),
 * so the response goes out from inside b's next batch, after a late
 * datagram under b's previous keypair was queued; the response's session
 * retires that keypair, but the datagram queued before it is delivered. */
static void deferred_response_retires_a_key_in_use(void)
{
	struct message_handshake_initiation init;
	static struct grabbed late;

	bt_establish(122);
	bt_send(&w.a, 0, 1, 444); /* under K1, held back on the wire */
	CHECK_EQ(bt_grab(&w.a, 0), 1);
	late = grabbed[0];
	world_advance(&w, (REKEY_AFTER_TIME + 1) * SEC);
	node_send_ip(&w.a, 100); /* a rekeys: b has previous K1, current K2 */
	world_flush(&w);
	struct noise_keypair *k1 = w.b.peer->keypairs.previous;
	CHECK(k1 != NULL);
	world_advance(&w, SEC); /* past the initiation flood limit */
	CHECK(fresh_initiation(&w.a, &init));
	struct weft_out no_room = { .deliver = w.b.deliver, .deliver_max = SLOTS };
	uint64_t drops = drops_total(w.b.dev);
	weft_receive(w.b.dev, (const uint8_t *)&init, sizeof(init), &w.a.addr, &no_room);
	CHECK_EQ(drops_total(w.b.dev), drops);
	CHECK_EQ(no_room.send_count, 0);
	CHECK(w.b.peer->keypairs.previous == k1); /* no response, no new session yet */
	size_t order[] = { 0 };
	uint64_t before[WEFT_DROP_COUNT], none[WEFT_DROP_COUNT] = { 0 };
	drops_snapshot(w.b.dev, before);
	grabbed[0] = late;
	bt_receive_batch(&w.b, NULL, 1);
	CHECK(delivered_exactly(&w.b, order, 1));
	CHECK(drops_rose_by(w.b.dev, before, none));
	CHECK_EQ(queued(&w.b, MESSAGE_HANDSHAKE_RESPONSE), 1);
	CHECK(w.b.peer->keypairs.previous == NULL && w.b.peer->keypairs.next != NULL);
	bt_finish();
}

/* b, the responder, has packets staged for want of a confirmed session;
 * a's first data confirms it inside a batch: by the batch's end b's staged
 * packets are out, sealed, as they would be without a batch. */
static void confirmation_inside_a_batch_sends_staged(void)
{
	world_init(&w, 121);
	node_send_ip(&w.a, 100); /* staged; a's initiation */
	CHECK_EQ(w.a.out.send_count, 1);
	weft_receive(w.b.dev, w.a.send[0].data, w.a.send[0].len, &w.a.addr, &w.b.out);
	node_reset_out(&w.a);
	CHECK_EQ(queued(&w.b, MESSAGE_HANDSHAKE_RESPONSE), 1);
	bt_send(&w.b, 0, 2, 180); /* no confirmed session yet: staged */
	CHECK_EQ(w.b.out.send_count, 1);
	CHECK_EQ(w.b.peer->staged_count, 2);
	weft_receive(w.a.dev, w.b.send[0].data, w.b.send[0].len, &w.b.addr, &w.a.out);
	node_reset_out(&w.b);
	size_t count = bt_grab(&w.a, 0); /* a's staged packet, under the new key */
	CHECK_EQ(count, 1);
	size_t order[] = { 0, 1 };
	bt_receive_batch(&w.b, NULL, count);
	CHECK_EQ(w.b.out.deliver_count, 1);
	CHECK_EQ(w.b.peer->staged_count, 0);
	CHECK_EQ(queued(&w.b, MESSAGE_DATA), 2);
	bt_count_delivered(&w.b);
	count = bt_grab(&w.b, 0);
	for (size_t i = 0; i < count; i++)
		weft_receive(w.a.dev, grabbed[i].data, grabbed[i].len, &w.b.addr, &w.a.out);
	CHECK(delivered_exactly(&w.a, order, 2));
	node_reset_out(&w.a);
	CHECK(session_works(&w));
	world_free(&w);
}

/* ---- env.parallel ------------------------------------------------------------- */

enum par_mode { PAR_NONE, PAR_REVERSE, PAR_POOL };

static struct {
	enum par_mode mode;
	unsigned calls;
	size_t last_n;
	bool bad_ctx;
} par;

static struct workers pool;

static void par_record(void *ctx, void (*job)(void *arg, size_t i), void *arg, size_t n)
{
	par.calls++;
	par.last_n = n;
	par.bad_ctx |= ctx != &w.a && ctx != &w.b;
	if (par.mode == PAR_POOL) {
		workers_run(&pool, job, arg, n);
		return;
	}
	for (size_t i = n; i-- > 0;)
		job(arg, i);
}

/* world_init, but the engines' env has par_record as its parallel. */
static void par_world_init(struct world *wd, uint64_t seed)
{
	harness_parallel = par_record;
	world_init(wd, seed);
	harness_parallel = NULL;
}

/* Everything a run produced, to compare runs byte for byte. */
#define TRANSCRIPT_MAX (256 * 1024)
struct transcript {
	uint8_t bytes[TRANSCRIPT_MAX];
	size_t len;
	bool overflow;
};

static void note(struct transcript *t, const void *p, size_t len)
{
	if (t->len + len + sizeof(len) > TRANSCRIPT_MAX) {
		t->overflow = true;
		return;
	}
	memcpy(t->bytes + t->len, &len, sizeof(len));
	memcpy(t->bytes + t->len + sizeof(len), p, len);
	t->len += sizeof(len) + len;
}

/* from sends count packets of len bytes (in one batch unless unbatched);
 * to receives them (likewise); both sides' output goes to the transcript.
 * Returns the calls of parallel per side, and checks n when it was called. */
static void par_phase(struct node *from, size_t count, size_t len, bool batched, struct transcript *t,
		      unsigned *send_calls, unsigned *recv_calls)
{
	struct node *to = from->other;
	unsigned calls = par.calls;
	size_t order[MAX_GRAB];

	if (batched)
		weft_batch_begin(from->dev, &from->out);
	bt_send(from, 0, count, len);
	if (batched)
		weft_batch_end(from->dev);
	*send_calls = par.calls - calls;
	if (*send_calls)
		CHECK_EQ(par.last_n, count);
	size_t got = bt_grab(from, 0);
	CHECK_EQ(got, count);
	for (size_t i = 0; i < got; i++) {
		note(t, grabbed[i].data, grabbed[i].len);
		order[i] = i;
	}
	calls = par.calls;
	if (batched) {
		CHECK_EQ(bt_receive_batch(to, NULL, got), 0);
	} else {
		for (size_t i = 0; i < got; i++)
			weft_receive(to->dev, grabbed[i].data, grabbed[i].len, &from->addr, &to->out);
	}
	*recv_calls = par.calls - calls;
	if (*recv_calls)
		CHECK_EQ(par.last_n, count);
	CHECK(delivered_exactly(to, order, count));
	for (size_t i = 0; i < to->out.deliver_count; i++)
		note(t, to->deliver[i].data, to->deliver[i].len);
	node_reset_out(to);
}

static void par_run(enum par_mode mode, bool batched, struct transcript *t)
{
	struct { struct node *from; size_t count, len; bool parallel; } phases[] = {
		{ &w.a, 20, 1400, true },  /* 28 KB: over the bar */
		{ &w.a, 2, 100, false },   /* small */
		{ &w.a, 16, 1024, true },  /* exactly BATCH_PARALLEL_MIN_BYTES of plaintext */
		{ &w.a, 15, 1008, false }, /* under it even with the tags */
		{ &w.b, 20, 1400, true },  /* the other way */
		{ &w.b, 1, 1400, false },  /* one job is never handed over */
	};
	_Static_assert(16 * 1024 == BATCH_PARALLEL_MIN_BYTES, "phase 3 sits on the bar");

	memset(&par, 0, sizeof(par));
	par.mode = mode;
	memset(t, 0, sizeof(*t));
	par_world_init(&w, 0x5eed);
	node_send_ip(&w.a, 100);
	world_flush(&w);
	CHECK(current_keypair(&w.a) && current_keypair(&w.b));
	CHECK_EQ(par.calls, 0); /* a handshake and a packet: nothing to hand over */
	for (size_t p = 0; p < sizeof(phases) / sizeof(phases[0]); p++) {
		unsigned s, r;
		par_phase(phases[p].from, phases[p].count, phases[p].len, batched, t, &s, &r);
		unsigned want = batched && phases[p].parallel;
		if (s != want || r != want) {
			fprintf(stderr, "  mode %d%s, phase %zu (%zu x %zu): parallel called %u times sending, "
				"%u receiving, expected %u\n", mode, batched ? " batched" : "", p,
				phases[p].count, phases[p].len, s, r, want);
			CHECK(false);
		}
	}
	CHECK(!par.bad_ctx);
	CHECK(!t->overflow);
	CHECK(session_works(&w));
	world_free(&w);
}

static void parallel_called_once_per_big_batch(void)
{
	static struct transcript plain, reversed, pooled, reversed_unbatched;

	par_run(PAR_NONE, false, &plain);
	par_run(PAR_REVERSE, false, &reversed_unbatched);
	par_run(PAR_REVERSE, true, &reversed);
	CHECK_EQ(workers_start(&pool, 2), 0);
	par_run(PAR_POOL, true, &pooled);
	workers_stop(&pool);
	CHECK(plain.len > 0);
	CHECK_EQ(reversed.len, plain.len);
	CHECK_EQ(pooled.len, plain.len);
	CHECK_EQ(reversed_unbatched.len, plain.len);
	CHECK(!memcmp(reversed.bytes, plain.bytes, plain.len));
	CHECK(!memcmp(pooled.bytes, plain.bytes, plain.len));
	CHECK(!memcmp(reversed_unbatched.bytes, plain.bytes, plain.len));
}

/* Under weftd's pool, batches back to back with tampered datagrams and
 * both directions: the same results as run inline. */
static void pool_many_batches(void)
{
	unsigned bad = 0;

	CHECK_EQ(workers_start(&pool, 2), 0);
	memset(&par, 0, sizeof(par));
	par.mode = PAR_POOL;
	par_world_init(&w, 0xb0b);
	node_send_ip(&w.a, 100);
	world_flush(&w);
	for (unsigned round = 0; round < 200 / test_scale(); round++) {
		struct node *from = round & 1 ? &w.b : &w.a, *to = from->other;
		size_t count = 2 + (size_t)test_below(SLOTS - 2), len = 200 + (size_t)test_below(1200);
		size_t order[SLOTS], kept = 0;
		unsigned calls = par.calls;

		weft_batch_begin(from->dev, &from->out);
		bt_send(from, 0, count, len);
		weft_batch_end(from->dev);
		bad += bt_grab(from, 0) != count;
		for (size_t i = 0; i < count; i++) {
			if (test_below(8) == 0)
				tamper(&grabbed[i], (size_t)test_below(2000));
			else
				order[kept++] = i;
		}
		bt_receive_batch(to, NULL, count);
		if (!delivered_exactly(to, order, kept))
			bad++;
		bool big = count * ((len + 15) & ~(size_t)15) >= BATCH_PARALLEL_MIN_BYTES;
		bad += big && par.calls - calls != 2;
		to->delivered += to->out.deliver_count;
		node_reset_out(to);
	}
	CHECK_EQ(bad, 0);
	CHECK(par.calls > 0);
	CHECK(session_works(&w));
	world_free(&w);
	workers_stop(&pool);
}

/* ---- ending a batch otherwise ----------------------------------------------------- */

static void device_free_with_open_batch(void)
{
	struct big_out *gone = malloc(sizeof(*gone)), *kept = malloc(sizeof(*kept)), *copy = malloc(sizeof(*kept));

	CHECK(gone && kept && copy);
	if (!gone || !kept || !copy) {
		free(gone), free(kept), free(copy);
		return;
	}
	/* sending, output freed first */
	bt_establish(116);
	big_out_init(gone);
	weft_batch_begin(w.a.dev, &gone->out);
	for (size_t i = 0; i < 5; i++) {
		sent_len[i] = bt_packet(sent_plain[i], &w.a, 100, (unsigned)i);
		weft_send(w.a.dev, sent_plain[i], sent_len[i], &gone->out);
	}
	free(gone);
	weft_device_free(w.a.dev);
	w.a.dev = NULL;
	world_free(&w);

	/* receiving, output freed first */
	bt_establish(117);
	bt_send(&w.a, 0, 5, 100);
	CHECK_EQ(bt_grab(&w.a, 0), 5);
	gone = malloc(sizeof(*gone));
	CHECK(gone != NULL);
	if (gone) {
		big_out_init(gone);
		weft_batch_begin(w.b.dev, &gone->out);
		for (size_t i = 0; i < 5; i++)
			weft_receive(w.b.dev, grabbed[i].data, grabbed[i].len, &w.a.addr, &gone->out);
		free(gone);
		weft_device_free(w.b.dev);
		w.b.dev = NULL;
	}
	world_free(&w);

	/* both ways at once, output alive: unchanged */
	bt_establish(118);
	bt_send(&w.b, 0, 4, 100);
	CHECK_EQ(bt_grab(&w.b, 0), 4);
	big_out_init(kept);
	weft_batch_begin(w.a.dev, &kept->out);
	for (size_t i = 0; i < 4; i++)
		weft_receive(w.a.dev, grabbed[i].data, grabbed[i].len, &w.b.addr, &kept->out);
	for (size_t i = 0; i < 3; i++) {
		sent_len[i] = bt_packet(sent_plain[i], &w.a, 100, (unsigned)i);
		weft_send(w.a.dev, sent_plain[i], sent_len[i], &kept->out);
	}
	memcpy(copy, kept, sizeof(*kept));
	weft_device_free(w.a.dev);
	w.a.dev = NULL;
	CHECK(!memcmp(copy, kept, sizeof(*kept)));
	world_free(&w);
	free(kept);
	free(copy);
}

int main(void)
{
	test_suite_name = "engine-batch";
	test_seed(0xba7c4);
	RUN(send_counts_move_at_end);
	RUN(send_batch_overflows_slots);
	RUN(receive_batch_in_order);
	RUN(tampered_in_the_middle);
	RUN(duplicate_in_one_batch);
	RUN(keepalive_in_a_batch);
	RUN(receive_batch_overflows_slots);
	RUN(more_jobs_than_one_run);
#ifdef NDEBUG
	printf("SKIP: engine-batch/batch_rules_are_asserted: built with NDEBUG, no assertions\n");
#else
	RUN(batch_rules_are_asserted);
#endif
	RUN(initiation_inside_a_batch);
	RUN(response_inside_a_batch);
	RUN(key_rotation_inside_a_batch);
	RUN(response_retires_a_key_queued_before);
	RUN(response_retires_a_key_queued_after);
	RUN(deferred_response_retires_a_key_in_use);
	RUN(confirmation_inside_a_batch_sends_staged);
	RUN(parallel_called_once_per_big_batch);
	RUN(pool_many_batches);
	RUN(device_free_with_open_batch);
	TEST_EXIT();
}
