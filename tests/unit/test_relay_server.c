/* test_relay_server.c: the relay inside the coord (src/coord/relay.c) with
 * stand-in sessions: two clients that announced one token join, both learn
 * READY with their channels, a datagram from one reaches the other byte for
 * byte under the other's session keys; a client that did not announce is
 * refused, a third is refused busy, forged and replayed messages and
 * traffic over the rate are dropped and counted, and a client that goes
 * makes the other side hear CLOSED. */
#include <errno.h>

#include "coord/relay.h"
#include "crypto/crypto.h"
#include "test.h"

#define NS 1000000000ull
#define CLIENTS 4

/* client i: handle i + 1, its keys (cli) and the server's end (srv) */
static struct coord_keys cli[CLIENTS], srv[CLIENTS];
static bool announced_tok[CLIENTS];
static uint8_t tok[COORD_TOKEN_LEN];
static uint8_t outbox[CLIENTS][16][RELAY_MSG_MAX];
static size_t outlen[CLIENTS][16];
static int nout[CLIENTS];

static struct coord_keys *keys_by_index(void *ctx, uint32_t idx, uint64_t *client)
{
	(void)ctx;
	for (int i = 0; i < CLIENTS; i++)
		if (srv[i].local_index == idx) {
			*client = (uint64_t)i + 1;
			return &srv[i];
		}
	return NULL;
}

static struct coord_keys *keys_of(void *ctx, uint64_t client)
{
	(void)ctx;
	return client >= 1 && client <= CLIENTS ? &srv[client - 1] : NULL;
}

static int send_to(void *ctx, uint64_t client, const uint8_t *msg, size_t len)
{
	int i = (int)client - 1;

	(void)ctx;
	if (nout[i] < 16) {
		memcpy(outbox[i][nout[i]], msg, len);
		outlen[i][nout[i]] = len;
	}
	nout[i]++;
	return 0;
}

static bool announced(void *ctx, uint64_t client, const uint8_t token[COORD_TOKEN_LEN])
{
	(void)ctx;
	return announced_tok[client - 1] && !memcmp(token, tok, COORD_TOKEN_LEN);
}

static uint64_t other_holder(void *ctx, uint64_t client, const uint8_t token[COORD_TOKEN_LEN])
{
	(void)ctx;
	(void)token;
	/* clients 1 and 2 (handles) hold the token together */
	return client == 1 ? 2 : client == 2 ? 1 : 0;
}

static const struct relay_server_ops OPS = { keys_by_index, keys_of, send_to, announced, other_holder };

static void setup(void)
{
	memset(nout, 0, sizeof(nout));
	memset(tok, 0x77, sizeof(tok));
	for (int i = 0; i < CLIENTS; i++) {
		memset(&cli[i], 0, sizeof(cli[i]));
		memset(&srv[i], 0, sizeof(srv[i]));
		for (int j = 0; j < 32; j++) {
			cli[i].send[j] = srv[i].recv[j] = (uint8_t)(i * 50 + j);
			cli[i].recv[j] = srv[i].send[j] = (uint8_t)(i * 50 + j + 200);
		}
		cli[i].local_index = srv[i].remote_index = 100u + (uint32_t)i;
		srv[i].local_index = cli[i].remote_index = 500u + (uint32_t)i;
		announced_tok[i] = true;
	}
}

/* the last message client i got, as a JOINED */
static bool last_joined(int i, struct relay_ctl *m)
{
	uint8_t pt[COORD_INNER_MAX];
	int n;

	if (!nout[i])
		return false;
	n = coord_transport_open(&cli[i], outbox[i][nout[i] - 1], outlen[i][nout[i] - 1], pt, sizeof(pt));
	return n > 0 && relay_ctl_decode(m, pt, (size_t)n) == 0 && m->type == RELAY_JOINED;
}

static int join(struct relay_server *rs, int i, uint8_t type, uint64_t now)
{
	struct relay_ctl m = { .type = type };
	uint8_t pt[64];
	int n;

	memcpy(m.token, tok, sizeof(tok));
	n = relay_ctl_encode(pt, sizeof(pt), &m);
	memset(pt + n, 0, 48 - (size_t)n);
	return relay_server_on_ctl(rs, (uint64_t)i + 1, pt, 48, now);
}

static void test_join_and_forward(void)
{
	struct relay_limits l;
	struct relay_server *rs;
	struct relay_ctl m;
	uint32_t ch0, ch1, ch;
	uint8_t pkt[RELAY_MSG_MAX], dg[1452], *out;
	int n;

	setup();
	relay_limits_default(&l);
	rs = relay_server_new(&l, &OPS, NULL);
	CHECK(rs != NULL);
	CHECK_EQ(join(rs, 0, RELAY_JOIN, NS), 0);
	CHECK(last_joined(0, &m));
	CHECK_EQ(m.status, RELAY_WAITING);
	ch0 = m.channel;
	/* the other holder of the token is invited */
	CHECK(last_joined(1, &m));
	CHECK_EQ(m.status, RELAY_INVITED);
	CHECK_EQ(relay_server_counters(rs)->invites, 1);
	CHECK_EQ(join(rs, 1, RELAY_JOIN, NS), 0);
	CHECK(last_joined(1, &m));
	CHECK_EQ(m.status, RELAY_READY);
	ch1 = m.channel;
	CHECK(last_joined(0, &m)); /* the waiting side is told */
	CHECK_EQ(m.status, RELAY_READY);
	CHECK_EQ(m.channel, ch0);
	CHECK(ch0 != ch1);

	/* 0 -> 1 */
	for (size_t i = 0; i < sizeof(dg); i++)
		dg[i] = (uint8_t)(i * 13);
	n = relay_data_seal(&cli[0], ch0, dg, sizeof(dg), pkt, sizeof(pkt));
	int before = nout[1];
	CHECK_EQ(relay_server_on_message(rs, pkt, (size_t)n, 2 * NS), 0);
	CHECK_EQ(nout[1], before + 1);
	CHECK_EQ(outlen[1][nout[1] - 1], (size_t)n);
	n = relay_data_open(&cli[1], outbox[1][nout[1] - 1], outlen[1][nout[1] - 1], &ch, &out);
	CHECK_EQ(n, (int)sizeof(dg));
	CHECK_EQ(ch, ch1);
	CHECK_MEM(out, dg, sizeof(dg));
	/* 1 -> 0 */
	n = relay_data_seal(&cli[1], ch1, dg, 64, pkt, sizeof(pkt));
	CHECK_EQ(relay_server_on_message(rs, pkt, (size_t)n, 2 * NS), 0);
	n = relay_data_open(&cli[0], outbox[0][nout[0] - 1], outlen[0][nout[0] - 1], &ch, &out);
	CHECK_EQ(n, 64);
	CHECK_EQ(ch, ch0);

	/* replayed: dropped, counted */
	n = relay_data_seal(&cli[0], ch0, dg, 100, pkt, sizeof(pkt));
	uint8_t copy[RELAY_MSG_MAX];
	memcpy(copy, pkt, (size_t)n);
	CHECK_EQ(relay_server_on_message(rs, pkt, (size_t)n, 2 * NS), 0);
	CHECK_EQ(relay_server_on_message(rs, copy, (size_t)n, 2 * NS), -EALREADY);
	CHECK_EQ(relay_server_counters(rs)->replayed, 1);
	/* client 0 using client 1's channel: dropped */
	n = relay_data_seal(&cli[0], ch1, dg, 100, pkt, sizeof(pkt));
	CHECK_EQ(relay_server_on_message(rs, pkt, (size_t)n, 2 * NS), -ENOENT);
	/* forged (no such session; garbled) */
	n = relay_data_seal(&cli[0], ch0, dg, 100, pkt, sizeof(pkt));
	pkt[30] ^= 1;
	CHECK_EQ(relay_server_on_message(rs, pkt, (size_t)n, 2 * NS), -EBADMSG);
	pkt[4] ^= 0x55;
	CHECK_EQ(relay_server_on_message(rs, pkt, (size_t)n, 2 * NS), -ENOTCONN);
	CHECK_EQ(relay_server_on_message(rs, pkt, 10, 2 * NS), -EBADMSG);
	CHECK_EQ(relay_server_counters(rs)->bad_messages, 3);

	/* a third client is refused busy, one that did not announce unknown */
	CHECK_EQ(join(rs, 2, RELAY_JOIN, NS), 0);
	CHECK(last_joined(2, &m));
	CHECK_EQ(m.status, RELAY_REFUSED_BUSY);
	announced_tok[3] = false;
	CHECK_EQ(join(rs, 3, RELAY_JOIN, NS), 0);
	CHECK(last_joined(3, &m));
	CHECK_EQ(m.status, RELAY_REFUSED_UNKNOWN);
	CHECK_EQ(relay_server_counters(rs)->refused_unknown, 1);

	/* client 1 goes: client 0 hears CLOSED, its datagrams have nowhere to go */
	relay_server_client_gone(rs, 2, 3 * NS);
	CHECK(last_joined(0, &m));
	CHECK_EQ(m.status, RELAY_CLOSED);
	n = relay_data_seal(&cli[0], ch0, dg, 100, pkt, sizeof(pkt));
	CHECK_EQ(relay_server_on_message(rs, pkt, (size_t)n, 3 * NS), -ENOTCONN);
	/* client 0 leaves too: the pair is gone */
	CHECK_EQ(join(rs, 0, RELAY_LEAVE, 3 * NS), 0);
	CHECK_EQ(relay_server_pairs(rs), 0);
	relay_server_free(rs);
}

static void test_rate(void)
{
	struct relay_limits l;
	struct relay_server *rs;
	struct relay_ctl m;
	uint32_t ch0;
	uint8_t pkt[RELAY_MSG_MAX], dg[1000] = { 0 };
	int passed = 0;

	setup();
	relay_limits_default(&l);
	l.rate = 100000; /* 100 kB/s */
	l.burst = 10000;
	rs = relay_server_new(&l, &OPS, NULL);
	join(rs, 0, RELAY_JOIN, NS);
	last_joined(0, &m);
	ch0 = m.channel;
	join(rs, 1, RELAY_JOIN, NS);
	/* 1000 datagrams of 1000 bytes within one second: 10 kB burst + 100 kB */
	for (int i = 0; i < 1000; i++) {
		int n = relay_data_seal(&cli[0], ch0, dg, sizeof(dg), pkt, sizeof(pkt));

		passed += relay_server_on_message(rs, pkt, (size_t)n, NS + (uint64_t)i * 1000000) == 0;
	}
	CHECK(passed >= 100 && passed <= 111);
	CHECK_EQ(relay_server_table_counters(rs)->dropped_rate, (uint64_t)(1000 - passed));
	relay_server_free(rs);
}

int main(void)
{
	test_suite_name = "relay_server";
	if (crypto_init() < 0) {
		printf("FAIL: relay_server/setup: crypto_init\n");
		return 1;
	}
	RUN(test_join_and_forward);
	RUN(test_rate);
	TEST_EXIT();
}
