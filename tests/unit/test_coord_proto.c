/* test_coord_proto.c: the coord protocol's bytes (src/coord/proto.c and the
 * transport of src/coord/noise.c): inner messages against hand-written
 * vectors from docs/coord-protocol.md, round trips of random messages,
 * classification of datagrams, addresses, the replay window, and every
 * bound (lengths, blob sizes, padding, reserved bytes). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "coord/noise.h"
#include "coord/proto.h"
#include "crypto/crypto.h"
#include "test.h"

static void fill(uint8_t *p, size_t n, uint8_t start)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(start + i);
}

static void test_vectors(void)
{
	uint8_t out[COORD_INNER_MAX], want[COORD_INNER_MAX];
	struct coord_msg m = { .type = COORD_ANNOUNCE }, d;
	uint8_t blob[3] = { 0xaa, 0xbb, 0xcc };

	/* ANNOUNCE: 01 00 len(le16) token blob */
	fill(m.token, 32, 0x10);
	m.blob = blob;
	m.blob_len = 3;
	CHECK_EQ(coord_msg_encode(out, sizeof(out), &m), 39);
	memset(want, 0, sizeof(want));
	want[0] = 0x01; want[2] = 3; want[3] = 0;
	fill(want + 4, 32, 0x10);
	memcpy(want + 36, blob, 3);
	CHECK_MEM(out, want, 39);

	/* PEER: 82 flags len token addr(20) blob */
	struct coord_msg p = { .type = COORD_PEER, .status = COORD_PEER_GONE,
			       .addr = { .family = 4, .port = 0x1234, .ip = { 198, 51, 100, 9 } } };
	fill(p.token, 32, 0x40);
	CHECK_EQ(coord_msg_encode(out, sizeof(out), &p), COORD_PEER_LEN);
	memset(want, 0, sizeof(want));
	want[0] = 0x82; want[1] = 0x01;
	fill(want + 4, 32, 0x40);
	want[36] = 4; want[38] = 0x12; want[39] = 0x34;
	want[40] = 198; want[41] = 51; want[42] = 100; want[43] = 9;
	CHECK_MEM(out, want, COORD_PEER_LEN);

	/* PONG: 83 000000 echo(le64) addr(20) challenge(16), IPv6 */
	struct coord_msg g = { .type = COORD_PONG, .echo = 0x0102030405060708ULL,
			       .addr = { .family = 6, .port = 51819 } };
	fill(g.addr.ip, 16, 0xf0);
	fill(g.challenge, 16, 0x90);
	CHECK_EQ(coord_msg_encode(out, sizeof(out), &g), COORD_PONG_LEN);
	memset(want, 0, sizeof(want));
	want[0] = 0x83;
	for (int i = 0; i < 8; i++)
		want[4 + i] = (uint8_t)(8 - i);
	want[12] = 6; want[14] = 51819 >> 8; want[15] = 51819 & 0xff;
	fill(want + 16, 16, 0xf0);
	fill(want + 32, 16, 0x90);
	CHECK_MEM(out, want, COORD_PONG_LEN);

	/* ANNOUNCED: 81 status ttl(le16) token */
	struct coord_msg a = { .type = COORD_ANNOUNCED, .status = COORD_MATCHED, .ttl = 300 };
	CHECK_EQ(coord_msg_encode(out, sizeof(out), &a), COORD_ANNOUNCED_LEN);
	CHECK_EQ(out[0], 0x81);
	CHECK_EQ(out[1], 1);
	CHECK_EQ(out[2], 300 & 0xff);
	CHECK_EQ(out[3], 300 >> 8);

	/* PING is as long as PONG, and its tail must be zero */
	struct coord_msg pi = { .type = COORD_PING, .echo = 5 };
	CHECK_EQ(coord_msg_encode(out, sizeof(out), &pi), COORD_PONG_LEN);
	CHECK_EQ(coord_msg_decode(&d, out, COORD_PING_LEN), 0);
	out[40] = 1;
	CHECK_EQ(coord_msg_decode(&d, out, COORD_PING_LEN), -EBADMSG);

	/* ERROR needs a code */
	struct coord_msg e = { .type = COORD_ERROR };
	CHECK_EQ(coord_msg_encode(out, sizeof(out), &e), -EINVAL);
	e.status = COORD_ERR_TOKEN_FULL;
	CHECK_EQ(coord_msg_encode(out, sizeof(out), &e), COORD_ERROR_LEN);
	CHECK_EQ(coord_msg_decode(&d, out, COORD_ERROR_LEN), 0);
	CHECK_EQ(d.status, COORD_ERR_TOKEN_FULL);
}

static void random_msg(struct coord_msg *m, uint8_t *blob)
{
	static const uint8_t types[] = { COORD_ANNOUNCE, COORD_WITHDRAW, COORD_PING, COORD_ANNOUNCED,
					 COORD_PEER, COORD_PONG, COORD_ERROR };
	memset(m, 0, sizeof(*m));
	m->type = types[test_below(sizeof(types))];
	if (m->type != COORD_PING && m->type != COORD_PONG)
		for (int i = 0; i < 32; i++)
			m->token[i] = (uint8_t)test_rnd();
	if (m->type == COORD_PING || m->type == COORD_PONG) {
		m->echo = test_rnd();
		for (int i = 0; i < 16; i++)
			m->challenge[i] = (uint8_t)test_rnd();
	}
	if (m->type == COORD_ANNOUNCED) {
		m->status = (uint8_t)test_below(2);
		m->ttl = (uint16_t)test_rnd();
	}
	if (m->type == COORD_ERROR)
		m->status = (uint8_t)(1 + test_below(5));
	if (m->type == COORD_PEER)
		m->status = (uint8_t)test_below(2);
	if (m->type == COORD_PEER || m->type == COORD_PONG) {
		m->addr.family = test_below(2) ? 4 : 6;
		m->addr.port = (uint16_t)test_rnd();
		for (int i = 0; i < (m->addr.family == 4 ? 4 : 16); i++)
			m->addr.ip[i] = (uint8_t)test_rnd();
	}
	if (m->type == COORD_ANNOUNCE || m->type == COORD_PEER) {
		m->blob_len = (uint16_t)test_below(COORD_BLOB_MAX + 1);
		for (size_t i = 0; i < m->blob_len; i++)
			blob[i] = (uint8_t)test_rnd();
		m->blob = m->blob_len ? blob : NULL;
	}
}

static bool msg_equal(const struct coord_msg *a, const struct coord_msg *b)
{
	return a->type == b->type && a->status == b->status && a->ttl == b->ttl &&
	       a->echo == b->echo && !memcmp(a->token, b->token, 32) &&
	       !memcmp(a->challenge, b->challenge, 16) &&
	       (a->addr.family == 0 ? b->addr.family == 0 : coord_addr_equal(&a->addr, &b->addr)) &&
	       a->blob_len == b->blob_len && (!a->blob_len || !memcmp(a->blob, b->blob, a->blob_len));
}

static void test_round_trips(void)
{
	uint8_t blob[COORD_BLOB_MAX], buf[COORD_INNER_MAX];
	struct coord_msg m, d;
	unsigned n = 20000 / test_scale();

	for (unsigned i = 0; i < n; i++) {
		random_msg(&m, blob);
		int len = coord_msg_encode(buf, sizeof(buf), &m);
		CHECK(len > 0);
		if (len <= 0)
			continue;
		/* with padding to 16, as transport adds it */
		size_t padded = ((size_t)len + 15) / 16 * 16;
		memset(buf + len, 0, padded - (size_t)len);
		CHECK(padded <= COORD_INNER_MAX);
		CHECK_EQ(coord_msg_decode(&d, buf, padded), 0);
		if (!msg_equal(&m, &d)) {
			CHECK(!"round trip changed the message");
			break;
		}
		/* one byte short never decodes */
		CHECK_EQ(coord_msg_decode(&d, buf, (size_t)len - 1), -EBADMSG);
		/* a nonzero byte in the padding is refused */
		if (padded > (size_t)len) {
			buf[padded - 1] = 1;
			CHECK_EQ(coord_msg_decode(&d, buf, padded), -EBADMSG);
		}
	}
}

static void test_bounds(void)
{
	uint8_t blob[COORD_BLOB_MAX + 1] = { 0 }, buf[COORD_INNER_MAX + 64];
	struct coord_msg m = { .type = COORD_ANNOUNCE, .blob = blob, .blob_len = COORD_BLOB_MAX }, d;

	/* the largest messages fit the transport's bound */
	int len = coord_msg_encode(buf, sizeof(buf), &m);
	CHECK_EQ(len, COORD_ANNOUNCE_LEN + COORD_BLOB_MAX);
	m.type = COORD_PEER;
	len = coord_msg_encode(buf, sizeof(buf), &m);
	CHECK_EQ(len, COORD_PEER_LEN + COORD_BLOB_MAX);
	CHECK(((size_t)len + 15) / 16 * 16 <= COORD_INNER_MAX);
	/* a blob over the maximum is refused both ways */
	m.blob_len = COORD_BLOB_MAX + 1;
	CHECK_EQ(coord_msg_encode(buf, sizeof(buf), &m), -EINVAL);
	memset(buf, 0, sizeof(buf));
	buf[0] = COORD_ANNOUNCE;
	buf[2] = (COORD_BLOB_MAX + 1) & 0xff;
	buf[3] = (COORD_BLOB_MAX + 1) >> 8;
	CHECK_EQ(coord_msg_decode(&d, buf, COORD_ANNOUNCE_LEN + COORD_BLOB_MAX + 1), -EBADMSG);
	/* a blob length past the end */
	buf[2] = 20; buf[3] = 0;
	CHECK_EQ(coord_msg_decode(&d, buf, COORD_ANNOUNCE_LEN + 19), -EBADMSG);
	CHECK_EQ(coord_msg_decode(&d, buf, COORD_ANNOUNCE_LEN + 20), 0);
	/* no room */
	m.blob_len = 10;
	CHECK_EQ(coord_msg_encode(buf, COORD_PEER_LEN + 9, &m), -EMSGSIZE);
	/* unknown types, empty input, reserved bytes */
	buf[0] = 0x05;
	CHECK_EQ(coord_msg_decode(&d, buf, 64), -EBADMSG);
	CHECK_EQ(coord_msg_decode(&d, buf, 0), -EBADMSG);
	struct coord_msg bad = { .type = 0x7f };
	CHECK_EQ(coord_msg_encode(buf, sizeof(buf), &bad), -EINVAL);
	memset(buf, 0, 64);
	buf[0] = COORD_WITHDRAW;
	CHECK_EQ(coord_msg_decode(&d, buf, COORD_WITHDRAW_LEN), 0);
	buf[2] = 1;
	CHECK_EQ(coord_msg_decode(&d, buf, COORD_WITHDRAW_LEN), -EBADMSG);
	memset(buf, 0, 64);
	buf[0] = COORD_ANNOUNCED;
	buf[1] = 2; /* no such status */
	CHECK_EQ(coord_msg_decode(&d, buf, COORD_ANNOUNCED_LEN), -EBADMSG);
	buf[0] = COORD_PEER;
	buf[1] = 0x02; /* no such flag */
	CHECK_EQ(coord_msg_decode(&d, buf, COORD_PEER_LEN), -EBADMSG);
	/* a PEER whose address has a bad family, or IPv4 with junk after it */
	memset(buf, 0, 64);
	buf[0] = COORD_PEER;
	buf[36] = 5;
	CHECK_EQ(coord_msg_decode(&d, buf, COORD_PEER_LEN), -EBADMSG);
	buf[36] = 4;
	buf[50] = 1;
	CHECK_EQ(coord_msg_decode(&d, buf, COORD_PEER_LEN), -EBADMSG);
	buf[50] = 0;
	CHECK_EQ(coord_msg_decode(&d, buf, COORD_PEER_LEN), 0);
}

static void test_classify(void)
{
	uint8_t buf[COORD_DATAGRAM_MAX + 1] = { 0 };

	CHECK_EQ(coord_classify(buf, 0), COORD_KIND_UNKNOWN);
	buf[0] = COORD_MSG_INITIATION;
	CHECK_EQ(coord_classify(buf, COORD_INITIATION_LEN), COORD_KIND_INITIATION);
	CHECK_EQ(coord_classify(buf, COORD_INITIATION_LEN - 1), COORD_KIND_UNKNOWN);
	CHECK_EQ(coord_classify(buf, COORD_INITIATION_LEN + 1), COORD_KIND_UNKNOWN);
	buf[1] = 1; /* reserved */
	CHECK_EQ(coord_classify(buf, COORD_INITIATION_LEN), COORD_KIND_UNKNOWN);
	buf[1] = 0;
	buf[0] = COORD_MSG_RESPONSE;
	CHECK_EQ(coord_classify(buf, COORD_RESPONSE_LEN), COORD_KIND_RESPONSE);
	buf[0] = COORD_MSG_COOKIE;
	CHECK_EQ(coord_classify(buf, COORD_COOKIE_REPLY_LEN), COORD_KIND_COOKIE);
	buf[0] = COORD_MSG_TRANSPORT;
	size_t wrong = 0;
	for (size_t l = 0; l <= COORD_DATAGRAM_MAX; l++) {
		bool ok = l >= 48 && l <= COORD_TRANSPORT_MAX && (l - 32) % 16 == 0;
		if ((coord_classify(buf, l) == COORD_KIND_TRANSPORT) != ok)
			wrong++;
	}
	CHECK_EQ(wrong, 0); /* lengths the transport rule misjudges */
	/* WireGuard's messages are never coord's */
	for (uint8_t t = 1; t <= 4; t++) {
		buf[0] = t;
		CHECK_EQ(coord_classify(buf, 148), COORD_KIND_UNKNOWN);
		CHECK_EQ(coord_classify(buf, 92), COORD_KIND_UNKNOWN);
		CHECK_EQ(coord_classify(buf, 64), COORD_KIND_UNKNOWN);
		CHECK_EQ(coord_classify(buf, 32), COORD_KIND_UNKNOWN);
	}
	/* STUN needs its magic cookie */
	buf[0] = 0x00; buf[1] = 0x01; buf[2] = 0; buf[3] = 0;
	memcpy(buf + 4, "\x21\x12\xa4\x42", 4);
	CHECK_EQ(coord_classify(buf, 20), COORD_KIND_STUN);
	CHECK_EQ(coord_classify(buf, 22), COORD_KIND_UNKNOWN);
	buf[5] = 0;
	CHECK_EQ(coord_classify(buf, 20), COORD_KIND_UNKNOWN);
}

static void test_addresses(void)
{
	struct sockaddr_in6 s6 = { .sin6_family = AF_INET6, .sin6_port = htons(4000) };
	struct sockaddr_storage ss;
	struct coord_addr a, b;
	uint8_t wire[COORD_ADDR_LEN];
	char str[COORD_ADDR_STR_LEN];

	inet_pton(AF_INET6, "::ffff:203.0.113.5", &s6.sin6_addr);
	CHECK(coord_addr_from_sockaddr(&a, (struct sockaddr *)&s6, sizeof(s6)));
	CHECK_EQ(a.family, 4);
	coord_addr_format(str, sizeof(str), &a);
	CHECK(!strcmp(str, "203.0.113.5:4000"));
	inet_pton(AF_INET6, "2001:db8::1", &s6.sin6_addr);
	CHECK(coord_addr_from_sockaddr(&a, (struct sockaddr *)&s6, sizeof(s6)));
	CHECK_EQ(a.family, 6);
	coord_addr_format(str, sizeof(str), &a);
	CHECK(!strcmp(str, "[2001:db8::1]:4000"));
	CHECK(!coord_addr_from_sockaddr(&a, (struct sockaddr *)&s6, sizeof(s6) - 1));
	CHECK(coord_addr_from_sockaddr(&a, (struct sockaddr *)&s6, sizeof(s6)));
	socklen_t l = coord_addr_to_sockaddr(&a, &ss);
	CHECK_EQ(l, sizeof(struct sockaddr_in6));
	CHECK(!memcmp(&((struct sockaddr_in6 *)&ss)->sin6_addr, &s6.sin6_addr, 16));
	coord_addr_encode(wire, &a);
	CHECK(coord_addr_decode(&b, wire));
	CHECK(coord_addr_equal(&a, &b));
	/* "none" is all zeros, anything else with family 0 is refused */
	memset(wire, 0, sizeof(wire));
	CHECK(coord_addr_decode(&b, wire));
	CHECK_EQ(b.family, 0);
	wire[5] = 1;
	CHECK(!coord_addr_decode(&b, wire));
	struct coord_addr none = { 0 };
	CHECK_EQ(coord_addr_to_sockaddr(&none, &ss), 0);
}

static void test_replay_window(void)
{
	struct coord_replay w;

	coord_replay_init(&w);
	CHECK(coord_replay_update(&w, 0));
	CHECK(!coord_replay_update(&w, 0));
	CHECK(coord_replay_update(&w, 5));
	CHECK(coord_replay_update(&w, 3)); /* out of order, inside the window */
	CHECK(!coord_replay_update(&w, 3));
	CHECK(coord_replay_update(&w, 1000));
	CHECK(!coord_replay_check(&w, 1000 - COORD_REPLAY_WINDOW - 1));
	CHECK(coord_replay_check(&w, 1000 - COORD_REPLAY_WINDOW + 1));
	CHECK(!coord_replay_check(&w, 5));
	CHECK(!coord_replay_check(&w, COORD_REJECT_AFTER_MESSAGES));
	/* random order within the window: each counter exactly once */
	coord_replay_init(&w);
	static bool seen[4096];
	memset(seen, 0, sizeof(seen));
	uint64_t top = 0;
	int i, accepted = 0;
	for (i = 0; i < 20000; i++) {
		uint64_t c = test_below(4096);
		bool fresh = !seen[c] && (c + 1 > top || top - (c + 1) < COORD_REPLAY_WINDOW);
		bool got = coord_replay_update(&w, c);
		if (got != fresh)
			break;
		if (got) {
			accepted++;
			seen[c] = true;
			if (c + 1 > top)
				top = c + 1;
		}
	}
	CHECK_EQ(i, 20000); /* no counter judged otherwise than the model */
	CHECK(accepted > 0);
}

static void test_transport_bounds(void)
{
	struct coord_keys k;
	uint8_t pt[COORD_INNER_MAX + 1], pkt[COORD_TRANSPORT_MAX + 64], back[COORD_INNER_MAX];

	memset(&k, 0, sizeof(k));
	memset(k.send, 1, 32);
	memcpy(k.recv, k.send, 32);
	memset(pt, 0, sizeof(pt));
	pt[0] = COORD_PING;
	/* empty plaintext still makes one padded block */
	CHECK_EQ(coord_transport_seal(&k, pt, 0, pkt, sizeof(pkt)), 48);
	CHECK_EQ(coord_transport_seal(&k, pt, COORD_INNER_MAX, pkt, sizeof(pkt)), COORD_TRANSPORT_MAX);
	CHECK_EQ(coord_transport_seal(&k, pt, COORD_INNER_MAX + 1, pkt, sizeof(pkt)), -EMSGSIZE);
	CHECK_EQ(coord_transport_seal(&k, pt, 17, pkt, 63), -EMSGSIZE);
	int n = coord_transport_seal(&k, pt, 17, pkt, sizeof(pkt));
	CHECK_EQ(n, 64);
	CHECK_EQ(coord_transport_open(&k, pkt, (size_t)n, back, 31), -EMSGSIZE);
	CHECK_EQ(coord_transport_open(&k, pkt, (size_t)n - 1, back, sizeof(back)), -EBADMSG);
	CHECK_EQ(coord_transport_open(&k, pkt, (size_t)n, back, sizeof(back)), 32);
	k.send_counter = COORD_REJECT_AFTER_MESSAGES;
	CHECK_EQ(coord_transport_seal(&k, pt, 1, pkt, sizeof(pkt)), -ESTALE);
}

int main(void)
{
	test_suite_name = "coord_proto";
	if (crypto_init() < 0)
		return 1;
	test_seed(0xc0de);
	RUN(test_vectors);
	RUN(test_round_trips);
	RUN(test_bounds);
	RUN(test_classify);
	RUN(test_addresses);
	RUN(test_replay_window);
	RUN(test_transport_bounds);
	TEST_EXIT();
}
