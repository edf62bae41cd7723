/* test_coord_session.c: a coord client session (client.c) against the
 * server's half of the handshake and transport (noise.c), in one process:
 * handshake, messages both ways, cookies, rekeying, and the rejection of
 * replayed, tampered and misdirected datagrams; plus the end-to-end token
 * and candidate blob. */
#include <errno.h>
#include <string.h>

#include "coord/client.h"
#include "coord/noise.h"
#include "coord/proto.h"
#include "crypto/crypto.h"
#include "test.h"

#define NS 1000000000ULL
#define WALL0 (1700000000ULL * NS)

static uint8_t server_priv[32], server_pub[32];
static uint8_t client_priv[32], client_pub[32];

static void make_key(uint8_t priv[32], uint8_t pub[32])
{
	uint8_t rnd[32];

	for (int i = 0; i < 32; i++)
		rnd[i] = (uint8_t)test_rnd();
	x25519_generate_private(priv, rnd);
	x25519_public(pub, priv);
}

/* The server's side of one session, as a test double built from noise.c. */
struct fake_server {
	struct coord_keys keys;
	bool have;
	uint8_t last_ts[COORD_TIMESTAMP_LEN];
	bool demand_cookie;
	uint8_t cookie_secret[32];
	struct coord_addr src;
};

/* Consumes an initiation; writes a response or cookie reply into out. */
static int server_handle_initiation(struct fake_server *s, const uint8_t *pkt, size_t len,
				    uint8_t *out, uint8_t got_pub[32])
{
	uint8_t mac1_key[32], ts[COORD_TIMESTAMP_LEN], rnd[32];
	struct coord_hs hs;

	if (coord_classify(pkt, len) != COORD_KIND_INITIATION)
		return -EBADMSG;
	coord_mac1_key(mac1_key, server_pub);
	if (!coord_check_mac1(pkt, len, mac1_key))
		return -EBADMSG;
	if (s->demand_cookie) {
		uint8_t cookie[COORD_COOKIE_LEN];
		coord_make_cookie(cookie, s->cookie_secret, &s->src);
		if (!coord_check_mac2(pkt, len, cookie)) {
			uint8_t ck[32], nonce[24] = { 7 };
			coord_cookie_key(ck, server_pub);
			coord_cookie_reply_create(out, pkt, cookie, ck, nonce);
			return COORD_COOKIE_REPLY_LEN;
		}
	}
	if (!coord_hs_consume_initiation(&hs, pkt, server_priv, server_pub, got_pub, ts))
		return -EBADMSG;
	if (s->have && memcmp(ts, s->last_ts, sizeof(ts)) <= 0)
		return -EALREADY;
	memcpy(s->last_ts, ts, sizeof(ts));
	for (int i = 0; i < 32; i++)
		rnd[i] = (uint8_t)test_rnd();
	if (!coord_hs_create_response(&hs, out, got_pub, 0x5555, rnd, &s->keys))
		return -EBADMSG;
	uint8_t client_mac1[32];
	coord_mac1_key(client_mac1, got_pub);
	coord_add_macs(out, COORD_RESPONSE_LEN, client_mac1, NULL);
	s->have = true;
	return COORD_RESPONSE_LEN;
}

static int establish(struct coord_client *c, struct fake_server *s, uint64_t now, uint64_t wall)
{
	uint8_t init[COORD_INITIATION_LEN], resp[COORD_RESPONSE_LEN], pub[32];
	struct coord_msg m;

	if (coord_client_initiate(c, init, now, wall) != COORD_INITIATION_LEN)
		return -1;
	int n = server_handle_initiation(s, init, sizeof(init), resp, pub);
	if (n != COORD_RESPONSE_LEN || memcmp(pub, client_pub, 32))
		return -2;
	return coord_client_receive(c, resp, sizeof(resp), now, &m);
}

static void test_handshake_and_messages(void)
{
	struct coord_client c;
	struct fake_server s = { 0 };
	uint8_t pkt[COORD_TRANSPORT_MAX], pt[COORD_INNER_MAX];
	struct coord_msg m;

	CHECK_EQ(coord_client_init(&c, client_priv, server_pub), 0);
	CHECK(!coord_client_ready(&c));
	CHECK(coord_client_tick(&c, 1) & COORD_WANT_HANDSHAKE);
	CHECK_EQ(establish(&c, &s, 1, WALL0), COORD_RX_ESTABLISHED);
	CHECK(coord_client_ready(&c));
	/* a new session is confirmed by a PING right away */
	CHECK(coord_client_tick(&c, 2) & COORD_WANT_PING);

	/* client -> server: ANNOUNCE with a blob */
	uint8_t blob[100];
	memset(blob, 0xab, sizeof(blob));
	struct coord_msg a = { .type = COORD_ANNOUNCE, .blob = blob, .blob_len = sizeof(blob) };
	memset(a.token, 0x11, sizeof(a.token));
	int n = coord_client_seal(&c, &a, pkt, sizeof(pkt), 3);
	CHECK(n > 0);
	CHECK_EQ((n - COORD_TRANSPORT_OVERHEAD) % COORD_PADDING, 0);
	CHECK_EQ(coord_transport_receiver(pkt), 0x5555);
	int p = coord_transport_open(&s.keys, pkt, (size_t)n, pt, sizeof(pt));
	CHECK(p > 0);
	struct coord_msg got;
	CHECK_EQ(coord_msg_decode(&got, pt, (size_t)p), 0);
	CHECK_EQ(got.type, COORD_ANNOUNCE);
	CHECK_EQ(got.blob_len, sizeof(blob));
	CHECK(got.blob && !memcmp(got.blob, blob, sizeof(blob)));
	CHECK_MEM(got.token, a.token, 32);
	/* replayed: dropped */
	CHECK_EQ(coord_transport_open(&s.keys, pkt, (size_t)n, pt, sizeof(pt)), -EALREADY);
	/* tampered: every byte of the sealed part and the counter */
	for (int i = COORD_TRANSPORT_COUNTER; i < n; i += 7) {
		uint8_t t[COORD_TRANSPORT_MAX];
		memcpy(t, pkt, (size_t)n);
		t[i] ^= 0x40;
		int r = coord_transport_open(&s.keys, t, (size_t)n, pt, sizeof(pt));
		CHECK(r == -EBADMSG || r == -EALREADY);
	}

	/* server -> client: PONG with a challenge, then the client echoes it */
	uint8_t out[COORD_INNER_MAX];
	struct coord_msg pong = { .type = COORD_PONG, .echo = 42,
				  .addr = { .family = 4, .port = 4242, .ip = { 192, 0, 2, 7 } } };
	memset(pong.challenge, 0x77, sizeof(pong.challenge));
	int e = coord_msg_encode(out, sizeof(out), &pong);
	CHECK_EQ(e, COORD_PONG_LEN);
	n = coord_transport_seal(&s.keys, out, (size_t)e, pkt, sizeof(pkt));
	CHECK_EQ(n, COORD_TRANSPORT_OVERHEAD + COORD_PONG_LEN);
	CHECK_EQ(coord_client_receive(&c, pkt, (size_t)n, 4, &m), COORD_RX_MESSAGE);
	CHECK_EQ(m.type, COORD_PONG);
	CHECK_EQ(m.echo, 42);
	CHECK(coord_addr_equal(&c.observed, &pong.addr));
	CHECK_EQ(coord_client_receive(&c, pkt, (size_t)n, 4, &m), -EALREADY);
	CHECK(coord_client_tick(&c, 5) & COORD_WANT_PING);
	int q = coord_client_ping(&c, 9, pkt, sizeof(pkt), 5);
	CHECK_EQ(q, COORD_TRANSPORT_OVERHEAD + COORD_PING_LEN);
	/* a PING is exactly as long as the PONG it earns: no amplification */
	CHECK_EQ(q, n);
	p = coord_transport_open(&s.keys, pkt, (size_t)q, pt, sizeof(pt));
	CHECK_EQ(p, COORD_PING_LEN);
	CHECK_EQ(coord_msg_decode(&got, pt, (size_t)p), 0);
	CHECK_MEM(got.challenge, pong.challenge, COORD_CHALLENGE_LEN);
	CHECK(!(coord_client_tick(&c, 6) & COORD_WANT_PING));

	/* a client never accepts a client-to-server message */
	struct coord_msg w = { .type = COORD_WITHDRAW };
	e = coord_msg_encode(out, sizeof(out), &w);
	n = coord_transport_seal(&s.keys, out, (size_t)e, pkt, sizeof(pkt));
	CHECK_EQ(coord_client_receive(&c, pkt, (size_t)n, 7, &m), -EBADMSG);
	coord_client_clear(&c);
}

static void test_wrong_server_key(void)
{
	uint8_t other_priv[32], other_pub[32], init[COORD_INITIATION_LEN], resp[COORD_RESPONSE_LEN], pub[32];
	struct coord_client c;
	struct fake_server s = { 0 };

	make_key(other_priv, other_pub);
	CHECK_EQ(coord_client_init(&c, client_priv, other_pub), 0);
	CHECK_EQ(coord_client_initiate(&c, init, 1, WALL0), COORD_INITIATION_LEN);
	/* mac1 keyed by another key: the server does no DH */
	CHECK_EQ(server_handle_initiation(&s, init, sizeof(init), resp, pub), -EBADMSG);
	coord_client_clear(&c);
	uint8_t zero[32] = { 0 };
	CHECK_EQ(coord_client_init(&c, client_priv, zero), -EINVAL);
}

static void test_initiation_replay_and_tamper(void)
{
	struct coord_client c;
	struct fake_server s = { 0 };
	uint8_t init[COORD_INITIATION_LEN], resp[COORD_RESPONSE_LEN], pub[32];
	struct coord_msg m;

	CHECK_EQ(coord_client_init(&c, client_priv, server_pub), 0);
	CHECK_EQ(coord_client_initiate(&c, init, 1, WALL0), COORD_INITIATION_LEN);
	CHECK_EQ(server_handle_initiation(&s, init, sizeof(init), resp, pub), COORD_RESPONSE_LEN);
	/* the same initiation again: its timestamp is not newer */
	CHECK_EQ(server_handle_initiation(&s, init, sizeof(init), resp + 0, pub), -EALREADY);
	/* any flipped bit before the macs breaks mac1 or the AEAD */
	for (size_t i = 0; i < COORD_INIT_MAC2; i += 3) {
		uint8_t t[COORD_INITIATION_LEN], r[COORD_RESPONSE_LEN];
		struct fake_server s2 = { 0 };
		memcpy(t, init, sizeof(t));
		t[i] ^= 1;
		CHECK(server_handle_initiation(&s2, t, sizeof(t), r, pub) < 0);
	}
	/* a tampered response is refused and leaves the handshake usable */
	CHECK_EQ(coord_client_initiate(&c, init, 2, WALL0 + NS), COORD_INITIATION_LEN);
	CHECK_EQ(server_handle_initiation(&s, init, sizeof(init), resp, pub), COORD_RESPONSE_LEN);
	uint8_t bad[COORD_RESPONSE_LEN];
	memcpy(bad, resp, sizeof(bad));
	bad[COORD_RESP_EMPTY] ^= 1;
	uint8_t client_mac1[32];
	coord_mac1_key(client_mac1, client_pub);
	coord_add_macs(bad, sizeof(bad), client_mac1, NULL); /* a valid mac1, a bad tag */
	CHECK_EQ(coord_client_receive(&c, bad, sizeof(bad), 2, &m), -EBADMSG);
	CHECK(!coord_client_ready(&c));
	CHECK_EQ(coord_client_receive(&c, resp, sizeof(resp), 2, &m), COORD_RX_ESTABLISHED);
	/* and the same response twice: no handshake is pending any more */
	CHECK_EQ(coord_client_receive(&c, resp, sizeof(resp), 2, &m), -EBADMSG);
	coord_client_clear(&c);
}

static void test_cookie(void)
{
	struct coord_client c;
	struct fake_server s = { .demand_cookie = true,
				 .src = { .family = 4, .port = 1000, .ip = { 10, 0, 0, 1 } } };
	uint8_t init[COORD_INITIATION_LEN], out[COORD_RESPONSE_LEN], pub[32];
	struct coord_msg m;

	memset(s.cookie_secret, 3, 32);
	CHECK_EQ(coord_client_init(&c, client_priv, server_pub), 0);
	CHECK_EQ(coord_client_initiate(&c, init, NS, WALL0), COORD_INITIATION_LEN);
	int n = server_handle_initiation(&s, init, sizeof(init), out, pub);
	CHECK_EQ(n, COORD_COOKIE_REPLY_LEN);
	CHECK(n < (int)sizeof(init)); /* never larger than the request */
	/* a cookie reply with another mac1 is refused */
	uint8_t bad[COORD_COOKIE_REPLY_LEN];
	memcpy(bad, out, sizeof(bad));
	bad[40] ^= 1;
	CHECK_EQ(coord_client_receive(&c, bad, sizeof(bad), NS, &m), -EBADMSG);
	CHECK_EQ(coord_client_receive(&c, out, COORD_COOKIE_REPLY_LEN, NS, &m), COORD_RX_COOKIE);
	CHECK(coord_client_tick(&c, NS) & COORD_WANT_HANDSHAKE);
	CHECK_EQ(coord_client_initiate(&c, init, 2 * NS, WALL0 + NS), COORD_INITIATION_LEN);
	CHECK_EQ(server_handle_initiation(&s, init, sizeof(init), out, pub), COORD_RESPONSE_LEN);
	/* the cookie is bound to the source address */
	s.src.port++;
	s.have = false;
	CHECK_EQ(server_handle_initiation(&s, init, sizeof(init), out, pub), COORD_COOKIE_REPLY_LEN);
	coord_client_clear(&c);
}

static void test_timers(void)
{
	struct coord_client c;
	struct fake_server s = { 0 };
	uint64_t t0 = 10 * NS;
	uint8_t pkt[COORD_TRANSPORT_MAX];

	CHECK_EQ(coord_client_init(&c, client_priv, server_pub), 0);
	uint8_t init[COORD_INITIATION_LEN];
	CHECK_EQ(coord_client_initiate(&c, init, t0, WALL0), COORD_INITIATION_LEN);
	/* unanswered: retry after 5 s, then 10 s (backoff) */
	CHECK(!(coord_client_tick(&c, t0 + 4 * NS) & COORD_WANT_HANDSHAKE));
	CHECK(coord_client_tick(&c, t0 + 5 * NS) & COORD_WANT_HANDSHAKE);
	CHECK_EQ(coord_client_initiate(&c, init, t0 + 5 * NS, WALL0 + 5 * NS), COORD_INITIATION_LEN);
	CHECK(!(coord_client_tick(&c, t0 + 14 * NS) & COORD_WANT_HANDSHAKE));
	CHECK(coord_client_tick(&c, t0 + 15 * NS) & COORD_WANT_HANDSHAKE);
	CHECK_EQ(coord_client_next_deadline(&c, t0 + 6 * NS), t0 + 15 * NS);

	coord_client_clear(&c);
	CHECK_EQ(coord_client_init(&c, client_priv, server_pub), 0);
	CHECK_EQ(establish(&c, &s, t0, WALL0 + 20 * NS), COORD_RX_ESTABLISHED);
	CHECK(coord_client_ping(&c, 1, pkt, sizeof(pkt), t0) > 0);
	/* keepalive after 25 s of sending nothing */
	CHECK(!(coord_client_tick(&c, t0 + 24 * NS) & COORD_WANT_PING));
	CHECK(coord_client_tick(&c, t0 + 25 * NS) & COORD_WANT_PING);
	/* silence from the server: lost after 55 s */
	unsigned w = coord_client_tick(&c, t0 + 55 * NS);
	CHECK(w & COORD_LOST);
	CHECK(w & COORD_WANT_HANDSHAKE);
	CHECK(!coord_client_ready(&c));
	CHECK_EQ(coord_client_seal(&c, &(struct coord_msg){ .type = COORD_PING }, pkt, sizeof(pkt),
				   t0 + 56 * NS), -ENOTCONN);

	/* rekey after 120 s, keys refused after 180 s */
	coord_client_clear(&c);
	memset(&s, 0, sizeof(s));
	CHECK_EQ(coord_client_init(&c, client_priv, server_pub), 0);
	CHECK_EQ(establish(&c, &s, t0, WALL0 + 30 * NS), COORD_RX_ESTABLISHED);
	c.last_recv_ns = t0 + 119 * NS;
	CHECK(!(coord_client_tick(&c, t0 + 119 * NS) & COORD_WANT_HANDSHAKE));
	CHECK(coord_client_tick(&c, t0 + 120 * NS) & COORD_WANT_HANDSHAKE);
	/* the old keys still open what the server sends until it switches,
	 * even after the client sent under the new ones */
	struct coord_keys old_server = s.keys;
	CHECK_EQ(establish(&c, &s, t0 + 121 * NS, WALL0 + 151 * NS), COORD_RX_ESTABLISHED);
	CHECK(coord_client_ping(&c, 5, pkt, sizeof(pkt), t0 + 121 * NS) > 0);
	uint8_t out[COORD_INNER_MAX];
	struct coord_msg pong = { .type = COORD_PONG }, m;
	int e = coord_msg_encode(out, sizeof(out), &pong);
	int n = coord_transport_seal(&old_server, out, (size_t)e, pkt, sizeof(pkt));
	CHECK_EQ(coord_client_receive(&c, pkt, (size_t)n, t0 + 122 * NS, &m), COORD_RX_MESSAGE);
	/* once a message came under the new keys, the old ones are gone */
	n = coord_transport_seal(&s.keys, out, (size_t)e, pkt, sizeof(pkt));
	CHECK_EQ(coord_client_receive(&c, pkt, (size_t)n, t0 + 122 * NS, &m), COORD_RX_MESSAGE);
	CHECK(!c.have_prev);
	n = coord_transport_seal(&old_server, out, (size_t)e, pkt, sizeof(pkt));
	CHECK_EQ(coord_client_receive(&c, pkt, (size_t)n, t0 + 122 * NS, &m), -EBADMSG);
	coord_client_clear(&c);
}

static void test_token_and_blob(void)
{
	uint8_t a_priv[32], a_pub[32], b_priv[32], b_pub[32], e_priv[32], e_pub[32];
	uint8_t t1[32], t2[32], t3[32], blob[COORD_BLOB_MAX];
	struct coord_addr cands[COORD_CANDIDATES_MAX], got[COORD_CANDIDATES_MAX];

	make_key(a_priv, a_pub);
	make_key(b_priv, b_pub);
	make_key(e_priv, e_pub);
	CHECK_EQ(coord_token(t1, a_pub, b_pub, "home", 4), 0);
	CHECK_EQ(coord_token(t2, b_pub, a_pub, "home", 4), 0);
	CHECK_MEM(t1, t2, 32);
	CHECK_EQ(coord_token(t3, a_pub, b_pub, "work", 4), 0);
	CHECK(memcmp(t1, t3, 32));
	char long_label[COORD_LABEL_MAX + 1];
	memset(long_label, 'x', sizeof(long_label));
	CHECK_EQ(coord_token(t3, a_pub, b_pub, long_label, sizeof(long_label)), -EINVAL);
	/* the exact bytes: BLAKE2s-256(min || max || label) */
	uint8_t in[64 + 4], want[32];
	bool a_first = memcmp(a_pub, b_pub, 32) < 0;
	memcpy(in, a_first ? a_pub : b_pub, 32);
	memcpy(in + 32, a_first ? b_pub : a_pub, 32);
	memcpy(in + 64, "home", 4);
	b2s(want, 32, in, sizeof(in), NULL, 0);
	CHECK_MEM(t1, want, 32);

	for (size_t i = 0; i < COORD_CANDIDATES_MAX; i++)
		cands[i] = (struct coord_addr){ .family = 4, .port = (uint16_t)(5000 + i),
						 .ip = { 192, 168, 1, (uint8_t)i } };
	cands[1] = (struct coord_addr){ .family = 6, .port = 51820, .ip = { 0xfd, 0, [15] = 1 } };
	int n = coord_blob_seal(blob, sizeof(blob), a_priv, a_pub, b_pub, t1, cands, 3);
	CHECK_EQ(n, (int)coord_blob_len(3));
	/* B opens A's blob */
	CHECK_EQ(coord_blob_open(got, COORD_CANDIDATES_MAX, blob, (size_t)n, b_priv, a_pub, t1), 3);
	CHECK(coord_addr_equal(&got[0], &cands[0]));
	CHECK(coord_addr_equal(&got[1], &cands[1]));
	CHECK(coord_addr_equal(&got[2], &cands[2]));
	/* someone else, another token, or the blob reflected back: refused */
	CHECK_EQ(coord_blob_open(got, 16, blob, (size_t)n, e_priv, a_pub, t1), -EBADMSG);
	CHECK_EQ(coord_blob_open(got, 16, blob, (size_t)n, b_priv, a_pub, t3), -EBADMSG);
	CHECK_EQ(coord_blob_open(got, 16, blob, (size_t)n, a_priv, b_pub, t1), -EBADMSG);
	blob[30] ^= 1;
	CHECK_EQ(coord_blob_open(got, 16, blob, (size_t)n, b_priv, a_pub, t1), -EBADMSG);
	/* bounds */
	n = coord_blob_seal(blob, sizeof(blob), a_priv, a_pub, b_pub, t1, cands, COORD_CANDIDATES_MAX);
	CHECK(n > 0 && n <= COORD_BLOB_MAX);
	CHECK_EQ(coord_blob_open(got, 2, blob, (size_t)n, b_priv, a_pub, t1), 2);
	CHECK_EQ(coord_blob_seal(blob, sizeof(blob), a_priv, a_pub, b_pub, t1, cands,
				 COORD_CANDIDATES_MAX + 1), -EINVAL);
	CHECK_EQ(coord_blob_seal(blob, 10, a_priv, a_pub, b_pub, t1, cands, 1), -EMSGSIZE);
	n = coord_blob_seal(blob, sizeof(blob), a_priv, a_pub, b_pub, t1, cands, 0);
	CHECK_EQ(coord_blob_open(got, 16, blob, (size_t)n, b_priv, a_pub, t1), 0);
	CHECK_EQ(coord_blob_open(got, 16, blob, (size_t)n - 1, b_priv, a_pub, t1), -EBADMSG);
}

int main(void)
{
	test_suite_name = "coord_session";
	if (crypto_init() < 0)
		return 1;
	test_seed(0xc00d);
	make_key(server_priv, server_pub);
	make_key(client_priv, client_pub);
	RUN(test_handshake_and_messages);
	RUN(test_wrong_server_key);
	RUN(test_initiation_replay_and_tamper);
	RUN(test_cookie);
	RUN(test_timers);
	RUN(test_token_and_blob);
	TEST_EXIT();
}
