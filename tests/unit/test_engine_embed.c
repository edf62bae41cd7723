/* test_engine_embed.c: the engine as an embedder sees it, through
 * weft/engine.h alone (no internal header): two devices in one process, each
 * with its own virtual clock (far apart, moving separately), its own random
 * source, log and parallel callbacks, each called with its own context. They
 * make a handshake, carry data both ways in batches, and rekey after
 * REKEY_AFTER_TIME, with nothing but the public calls moving datagrams. The
 * error convention and the configuration-dump accessors are checked too. */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "weft/engine.h"
#include "test.h"

#define SLOTS 16
#define SLOT_CAP WEFT_SEND_SLOT_SIZE(1420)
#define SEC 1000000000ULL

struct side {
	const char *name;
	struct weft_device *dev;
	struct weft_peer *peer;
	uint64_t now, wall, rng;     /* this side's clock and generator */
	unsigned clock_calls, random_calls, log_lines, parallel_calls;
	bool secret_logged;
	struct weft_endpoint addr;
	uint8_t ip[4];
	uint8_t sendbuf[SLOTS][SLOT_CAP], deliverbuf[SLOTS][SLOT_CAP];
	struct weft_packet send[SLOTS], deliver[SLOTS];
	struct weft_out out;
	size_t delivered, data_sent;
	uint8_t last_payload;        /* the marker byte of the last delivered packet */
};

static struct side A, B;

static uint64_t c_now(void *ctx) { struct side *s = ctx; s->clock_calls++; return s->now; }
static uint64_t c_wall(void *ctx) { struct side *s = ctx; return s->wall + s->now; }
static void c_random(void *ctx, uint8_t *buf, size_t len)
{
	struct side *s = ctx;
	s->random_calls++;
	for (size_t i = 0; i < len; i++) {
		s->rng ^= s->rng << 13;
		s->rng ^= s->rng >> 7;
		s->rng ^= s->rng << 17;
		buf[i] = (uint8_t)(s->rng >> 24);
	}
}
static void c_log(void *ctx, enum weft_log_level level, const char *msg)
{
	struct side *s = ctx;
	(void)level;
	s->log_lines++;
	if (strstr(msg, "PRIVATE") || strstr(msg, "preshared"))
		s->secret_logged = true; /* never a secret in a log line */
}
static void c_parallel(void *ctx, void (*job)(void *arg, size_t i), void *arg, size_t n)
{
	struct side *s = ctx;
	s->parallel_calls++;
	for (size_t i = n; i-- > 0;)
		job(arg, i);
}

static void side_init(struct side *s, const char *name, uint64_t start, uint64_t wall, uint64_t seed,
		      uint8_t host)
{
	memset(s, 0, sizeof(*s));
	s->name = name;
	s->now = start;
	s->wall = wall;
	s->rng = seed;
	struct weft_env env = {
		.clock = { .now_ns = c_now, .wall_ns = c_wall, .ctx = s },
		.random = { .fill = c_random, .ctx = s },
		.log = { .write = c_log, .ctx = s },
		.parallel = { .run = c_parallel, .ctx = s },
	};
	CHECK_EQ(weft_device_new(&env, &s->dev), 0);
	uint8_t priv[WEFT_KEY_LEN];
	c_random(s, priv, sizeof(priv));
	CHECK_EQ(weft_device_set_private_key(s->dev, priv), 0);
	memset(priv, 0, sizeof(priv));
	s->addr.addr.in4.sin_family = AF_INET;
	s->addr.addr.in4.sin_addr.s_addr = htonl(0xc0000200 + host); /* 192.0.2.x */
	s->addr.addr.in4.sin_port = htons(51820);
	memcpy(s->ip, (uint8_t[]){ 10, 9, 0, host }, 4);
	for (int i = 0; i < SLOTS; i++) {
		s->send[i] = (struct weft_packet){ .data = s->sendbuf[i], .cap = SLOT_CAP };
		s->deliver[i] = (struct weft_packet){ .data = s->deliverbuf[i], .cap = SLOT_CAP };
	}
	s->out = (struct weft_out){ .send = s->send, .send_max = SLOTS, .deliver = s->deliver,
				    .deliver_max = SLOTS };
}

static void pair(struct side *x, struct side *y, const uint8_t psk[WEFT_KEY_LEN])
{
	uint8_t pub[WEFT_KEY_LEN];
	CHECK(weft_device_public_key(y->dev, pub));
	CHECK_EQ(weft_peer_add(x->dev, pub, &x->peer), 0);
	CHECK_EQ(weft_peer_allowed_ip_add(x->peer, AF_INET, y->ip, 32), 0);
	weft_peer_set_preshared_key(x->peer, psk);
}

/* Collects what s delivered, and hands what s sends to the other side in
 * one batch; true if anything moved. */
static bool move(struct side *s, struct side *to)
{
	for (size_t i = 0; i < s->out.deliver_count; i++) {
		s->delivered++;
		s->last_payload = s->deliver[i].data[s->deliver[i].len - 1];
	}
	s->out.deliver_count = 0;
	size_t n = s->out.send_count;
	static uint8_t copy[SLOTS][SLOT_CAP];
	static size_t lens[SLOTS];
	for (size_t i = 0; i < n; i++) {
		memcpy(copy[i], s->send[i].data, s->send[i].len);
		lens[i] = s->send[i].len;
	}
	s->out.send_count = 0;
	if (!n)
		return false;
	CHECK_EQ(weft_batch_begin(to->dev, &to->out), 0);
	for (size_t i = 0; i < n; i++) {
		size_t free_sends, free_delivers;
		weft_out_room(to->dev, &to->out, &free_sends, &free_delivers);
		CHECK(free_delivers >= WEFT_CALL_MAX_DELIVERS);
		CHECK_EQ(weft_receive(to->dev, copy[i], lens[i], &s->addr, &to->out), 0);
	}
	weft_batch_end(to->dev);
	return true;
}

static void settle(void)
{
	for (int round = 0; round < 100; round++) {
		bool moved = move(&A, &B);
		moved |= move(&B, &A);
		if (!moved)
			return;
	}
	CHECK(!"datagrams never settle");
}

/* Each side's clock moves by ns on its own; their timers run. */
static void advance(uint64_t ns)
{
	for (uint64_t t = 0; t < ns; t += SEC / 4) {
		A.now += SEC / 4;
		B.now += SEC / 4;
		for (int i = 0; i < 4; i++) {
			weft_tick(A.dev, &A.out);
			weft_tick(B.dev, &B.out);
			settle();
		}
	}
}

static void send_ip_len(struct side *s, const struct side *to, uint8_t marker, size_t len)
{
	uint8_t pkt[1420] = { 0x45 };
	pkt[2] = (uint8_t)(len >> 8);
	pkt[3] = (uint8_t)len;
	pkt[8] = 64;
	pkt[9] = 17;
	memcpy(pkt + 12, s->ip, 4);
	memcpy(pkt + 16, to->ip, 4);
	pkt[len - 1] = marker;
	CHECK_EQ(weft_batch_begin(s->dev, &s->out), 0);
	CHECK_EQ(weft_send(s->dev, pkt, len, &s->out), 0);
	weft_batch_end(s->dev);
	s->data_sent++;
}

static void send_ip(struct side *s, const struct side *to, uint8_t marker)
{
	send_ip_len(s, to, marker, 120);
}

static uint64_t x25519_of(const struct side *s)
{
	struct weft_device_stats st;
	weft_device_get_stats(s->dev, &st);
	return st.x25519;
}

static void two_devices_two_clocks(void)
{
	uint8_t psk[WEFT_KEY_LEN], got[WEFT_KEY_LEN];
	/* A's clock starts at 5 s, B's at eleven days; their wall clocks a
	 * year apart. */
	side_init(&A, "a", 5 * SEC, 1700000000ULL * SEC, 0x1234567, 1);
	side_init(&B, "b", 950400 * SEC, 1731536000ULL * SEC, 0x7654321, 2);
	c_random(&A, psk, sizeof(psk));
	pair(&A, &B, psk);
	pair(&B, &A, psk);
	weft_peer_set_endpoint(A.peer, &B.addr);

	/* the handshake, A's packet delivered, B's answer delivered */
	send_ip(&A, &B, 1);
	settle();
	CHECK_EQ(B.delivered, 1);
	CHECK_EQ(B.last_payload, 1);
	send_ip(&B, &A, 2);
	settle();
	CHECK_EQ(A.delivered, 1);
	CHECK_EQ(A.last_payload, 2);
	/* a packet of the full MTU fits a slot of WEFT_SEND_SLOT_SIZE(mtu) */
	send_ip_len(&A, &B, 3, 1420);
	settle();
	CHECK_EQ(B.delivered, 2);
	CHECK_EQ(B.last_payload, 3);
	CHECK_EQ(weft_device_drops(A.dev, WEFT_DROP_OUT_FULL) + weft_device_drops(B.dev, WEFT_DROP_OUT_FULL), 0);

	/* each side dates the handshake by its own wall clock */
	struct weft_peer_info ia, ib;
	weft_peer_get_info(A.peer, &ia);
	weft_peer_get_info(B.peer, &ib);
	CHECK_EQ(ia.last_handshake_wall_ns, A.wall + A.now);
	CHECK_EQ(ib.last_handshake_wall_ns, B.wall + B.now);
	CHECK(ia.has_preshared_key && ib.has_preshared_key);
	CHECK(ib.has_endpoint && !memcmp(&ib.endpoint.addr, &A.addr.addr, sizeof(A.addr.addr)));
	CHECK(weft_peer_preshared_key(A.peer, got));
	CHECK_MEM(got, psk, WEFT_KEY_LEN);

	/* data both ways for a while, then past REKEY_AFTER_TIME: the initiator
	 * makes a new handshake and data keeps flowing */
	uint64_t dh_a = x25519_of(&A), dh_b = x25519_of(&B);
	for (int i = 0; i < 130; i++) {
		advance(SEC);
		send_ip(&A, &B, (uint8_t)(10 + i));
		send_ip(&B, &A, (uint8_t)(20 + i));
		settle();
	}
	CHECK_EQ(B.delivered, A.data_sent);
	CHECK_EQ(A.delivered, B.data_sent);
	CHECK(x25519_of(&A) > dh_a); /* a second handshake: new DH on both sides */
	CHECK(x25519_of(&B) > dh_b);
	weft_peer_get_info(A.peer, &ia);
	CHECK(ia.last_handshake_wall_ns > A.wall + 5 * SEC + 119 * SEC);
	CHECK(ia.last_handshake_wall_ns <= A.wall + A.now);

	/* every callback was called (with its own side's context: the wall
	 * clocks above tell the sides apart) */
	CHECK(A.clock_calls > 0 && B.clock_calls > 0);
	CHECK(A.random_calls > 0 && B.random_calls > 0);
	CHECK(A.log_lines > 0 && B.log_lines > 0);
	CHECK(!A.secret_logged && !B.secret_logged);

	weft_device_free(A.dev);
	weft_device_free(B.dev);
}

static void errors_are_negative_errno(void)
{
	struct weft_device *dev = (struct weft_device *)&A;
	struct weft_env env = { .clock = { .now_ns = c_now, .wall_ns = c_wall, .ctx = &A } };
	CHECK_EQ(weft_device_new(&env, &dev), -EINVAL); /* no random source */
	CHECK(dev == NULL);
	CHECK_EQ(weft_device_new(NULL, &dev), -EINVAL);

	side_init(&A, "a", SEC, 0, 99, 1);
	uint8_t own[WEFT_KEY_LEN], psk[WEFT_KEY_LEN];
	struct weft_peer *p = NULL;
	CHECK(weft_device_public_key(A.dev, own));
	CHECK_EQ(weft_peer_add(A.dev, own, &p), -EINVAL);
	CHECK(p == NULL);
	own[0] ^= 1;
	CHECK_EQ(weft_peer_add(A.dev, own, &p), 0);
	CHECK(p != NULL);
	CHECK_EQ(weft_peer_allowed_ip_add(p, AF_UNIX, A.ip, 32), -EINVAL);
	CHECK_EQ(weft_peer_allowed_ip_add(p, AF_INET, A.ip, 33), -EINVAL);
	CHECK_EQ(weft_peer_allowed_ip_remove(p, AF_INET, A.ip, 32), -ENOENT);
	CHECK(!weft_peer_preshared_key(p, psk)); /* none: false, zeros */
	for (int i = 0; i < WEFT_KEY_LEN; i++)
		CHECK_EQ(psk[i], 0);
	CHECK_EQ(weft_send(NULL, A.ip, 4, &A.out), -EINVAL);
	CHECK_EQ(weft_receive(A.dev, NULL, 4, &A.addr, &A.out), -EINVAL);
	CHECK_EQ(weft_batch_begin(A.dev, NULL), -EINVAL);
	weft_device_free(A.dev);
}

int main(void)
{
	test_suite_name = "engine_embed";
	RUN(two_devices_two_clocks);
	RUN(errors_are_negative_errno);
	TEST_EXIT();
}
