/* test_relay_proto.c: the relay's bytes (src/coord/relay_proto.c): control
 * messages round-trip and refuse junk; a datagram sealed by one session is
 * opened by the server's side of it, re-sealed in place for a second session
 * and opened there byte for byte; a flipped bit, a replay, a relay message
 * relabelled as a transport message and an oversized datagram are refused. */
#include <errno.h>

#include "coord/relay_proto.h"
#include "crypto/crypto.h"
#include "test.h"

/* two ends of one session: a's send key is b's receive key and back */
static void session(struct coord_keys *a, struct coord_keys *b, uint8_t seed)
{
	memset(a, 0, sizeof(*a));
	memset(b, 0, sizeof(*b));
	for (int i = 0; i < 32; i++) {
		a->send[i] = b->recv[i] = (uint8_t)(seed + i);
		a->recv[i] = b->send[i] = (uint8_t)(seed * 3 + i);
	}
	a->local_index = b->remote_index = 1000u + seed;
	b->local_index = a->remote_index = 2000u + seed;
	coord_replay_init(&a->replay);
	coord_replay_init(&b->replay);
}

static void test_ctl_round_trip(void)
{
	struct relay_ctl m = { .type = RELAY_JOINED, .status = RELAY_READY, .channel = 0xdeadbeef }, d;
	uint8_t buf[64] = { 0 };
	int n;

	memset(m.token, 0xab, sizeof(m.token));
	n = relay_ctl_encode(buf, sizeof(buf), &m);
	CHECK_EQ(n, RELAY_JOINED_LEN);
	/* decoded from a padded transport plaintext (48 bytes) */
	CHECK_EQ(relay_ctl_decode(&d, buf, 48), 0);
	CHECK_EQ(d.type, RELAY_JOINED);
	CHECK_EQ(d.status, RELAY_READY);
	CHECK_EQ(d.channel, 0xdeadbeef);
	CHECK_MEM(d.token, m.token, COORD_TOKEN_LEN);
	m.type = RELAY_JOIN;
	n = relay_ctl_encode(buf, sizeof(buf), &m);
	CHECK_EQ(n, RELAY_JOIN_LEN);
	memset(buf + n, 0, sizeof(buf) - (size_t)n);
	CHECK_EQ(relay_ctl_decode(&d, buf, 48), 0);
	CHECK_EQ(d.type, RELAY_JOIN);
	CHECK_EQ(relay_ctl_decode(&d, buf, RELAY_JOIN_LEN - 1), -EBADMSG);
	buf[40] = 1; /* junk in the padding */
	CHECK_EQ(relay_ctl_decode(&d, buf, 48), -EBADMSG);
	buf[40] = 0;
	buf[2] = 1;
	CHECK_EQ(relay_ctl_decode(&d, buf, 48), -EBADMSG);
	buf[2] = 0;
	buf[0] = COORD_ANNOUNCE;
	CHECK_EQ(relay_ctl_decode(&d, buf, 48), -EBADMSG);
	CHECK(relay_is_ctl(RELAY_JOIN) && relay_is_ctl(RELAY_JOINED));
	CHECK(!relay_is_ctl(COORD_ANNOUNCE) && !relay_is_ctl(COORD_PEER));
	CHECK_EQ(relay_ctl_encode(buf, 10, &m), -EMSGSIZE);
}

static void test_data_through_server(void)
{
	struct coord_keys ca, sa, cb, sb; /* client a <-> server, client b <-> server */
	uint8_t dg[RELAY_MAX_DATAGRAM], pkt[RELAY_MSG_MAX + 64], copy[sizeof(pkt)], *out;
	uint32_t ch;
	int n, m;

	session(&ca, &sa, 1);
	session(&cb, &sb, 2);
	for (size_t i = 0; i < sizeof(dg); i++)
		dg[i] = (uint8_t)(i * 7);
	n = relay_data_seal(&ca, 77, dg, 148, pkt, sizeof(pkt));
	CHECK_EQ(n, 148 + RELAY_OVERHEAD);
	CHECK_EQ(coord_classify(pkt, (size_t)n), COORD_KIND_RELAY);
	CHECK_EQ(coord_transport_receiver(pkt), sa.local_index);
	memcpy(copy, pkt, (size_t)n);
	m = relay_data_open(&sa, pkt, (size_t)n, &ch, &out);
	CHECK_EQ(m, 148);
	CHECK_EQ(ch, 77);
	CHECK_MEM(out, dg, 148);
	/* the same message again is a replay */
	CHECK_EQ(relay_data_open(&sa, copy, (size_t)n, &ch, &out), -EALREADY);
	/* on to b, in place */
	n = relay_data_reseal(&sb, 99, pkt, (size_t)m);
	CHECK_EQ(n, 148 + RELAY_OVERHEAD);
	CHECK_EQ(coord_transport_receiver(pkt), cb.local_index);
	m = relay_data_open(&cb, pkt, (size_t)n, &ch, &out);
	CHECK_EQ(m, 148);
	CHECK_EQ(ch, 99);
	CHECK_MEM(out, dg, 148);
	/* the largest datagram fits a coord datagram exactly; one more byte does not */
	n = relay_data_seal(&ca, 5, dg, RELAY_MAX_DATAGRAM, pkt, sizeof(pkt));
	CHECK_EQ(n, COORD_DATAGRAM_MAX);
	CHECK_EQ(relay_data_open(&sa, pkt, (size_t)n, &ch, &out), RELAY_MAX_DATAGRAM);
	CHECK_EQ(relay_data_seal(&ca, 5, dg, RELAY_MAX_DATAGRAM + 1, pkt, sizeof(pkt)), -EMSGSIZE);
	/* an empty datagram is a valid (if useless) message */
	n = relay_data_seal(&ca, 5, dg, 0, pkt, sizeof(pkt));
	CHECK_EQ(relay_data_open(&sa, pkt, (size_t)n, &ch, &out), 0);
}

static void test_data_forgeries(void)
{
	struct coord_keys ca, sa, other_c, other_s;
	uint8_t dg[200] = { 1, 2, 3 }, pkt[512], keep[512], tmp[512], *out;
	uint32_t ch;
	int n, bad = 0;

	session(&ca, &sa, 3);
	session(&other_c, &other_s, 4);
	n = relay_data_seal(&ca, 1, dg, sizeof(dg), keep, sizeof(keep));
	/* every single flipped bit (header included) is refused */
	for (int i = 0; i < n * 8; i += 5) {
		memcpy(pkt, keep, (size_t)n);
		pkt[i / 8] ^= (uint8_t)(1 << (i % 8));
		if (relay_data_open(&sa, pkt, (size_t)n, &ch, &out) >= 0)
			bad++;
	}
	CHECK_EQ(bad, 0);
	/* truncated */
	memcpy(pkt, keep, (size_t)n);
	CHECK_EQ(relay_data_open(&sa, pkt, RELAY_MSG_MIN - 1, &ch, &out), -EBADMSG);
	/* another session's keys */
	memcpy(pkt, keep, (size_t)n);
	CHECK_EQ(relay_data_open(&other_s, pkt, (size_t)n, &ch, &out), -EBADMSG);
	/* relabelled as a transport message: the header is bound into the tag */
	memcpy(pkt, keep, (size_t)n);
	pkt[0] = COORD_MSG_TRANSPORT;
	CHECK(coord_transport_open(&sa, pkt, (size_t)n, tmp, sizeof(tmp)) < 0);
	/* and a transport message relabelled as relay */
	n = coord_transport_seal(&ca, dg, 64, pkt, sizeof(pkt));
	CHECK(n > 0);
	pkt[0] = COORD_MSG_RELAY;
	CHECK_EQ(relay_data_open(&sa, pkt, (size_t)n, &ch, &out), -EBADMSG);
	/* the untouched original still opens: nothing above moved the window */
	memcpy(pkt, keep, sizeof(keep));
	CHECK_EQ(relay_data_open(&sa, pkt, (size_t)(sizeof(dg) + RELAY_OVERHEAD), &ch, &out), (int)sizeof(dg));
}

int main(void)
{
	test_suite_name = "relay_proto";
	if (crypto_init() < 0) {
		printf("FAIL: relay_proto/setup: crypto_init\n");
		return 1;
	}
	RUN(test_ctl_round_trip);
	RUN(test_data_through_server);
	RUN(test_data_forgeries);
	TEST_EXIT();
}
