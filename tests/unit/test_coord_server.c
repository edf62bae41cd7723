/* test_coord_server.c: the coord server core (src/coord/server.c) with real
 * client sessions (src/coord/client.c) in one process, datagrams passed by
 * hand: two peers meet through a token, roaming is verified before it is
 * pushed, hostile input is dropped and counted with no reply larger than
 * its request, limits hold, cookies are demanded when asked, and the SQLite
 * store keeps records across a restart without any public key in it. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coord/client.h"
#include "coord/server.h"
#include "coord/store.h"
#include "coord/stun.h"
#include "crypto/crypto.h"
#include "test.h"
#include "util/encoding.h"

#define NS 1000000000ULL
#define UNIX0 1800000000ULL

struct dgram {
	struct coord_addr to;
	size_t len;
	uint8_t data[COORD_DATAGRAM_MAX];
};

static struct dgram outq[256];
static size_t nout;
static size_t out_bytes;

static void capture(void *ctx, const struct coord_addr *to, const uint8_t *pkt, size_t len)
{
	(void)ctx;
	out_bytes += len;
	if (nout < 256 && len <= COORD_DATAGRAM_MAX) {
		outq[nout].to = *to;
		outq[nout].len = len;
		memcpy(outq[nout].data, pkt, len);
		nout++;
	}
}

static struct coord_addr addr4(uint8_t last, uint16_t port)
{
	return (struct coord_addr){ .family = 4, .port = port, .ip = { 192, 0, 2, last } };
}

static uint8_t server_priv[32], server_pub[32];
static uint64_t now = 10 * NS;

struct peer {
	struct coord_client c;
	uint8_t priv[32], pub[32];
	struct coord_addr at;
	struct coord_msg got[16];
	uint8_t blobs[16][COORD_BLOB_MAX];
	size_t ngot;
};

static void make_peer(struct peer *p, uint8_t seed, struct coord_addr at)
{
	uint8_t rnd[32];

	memset(p, 0, sizeof(*p));
	memset(rnd, seed, sizeof(rnd));
	x25519_generate_private(p->priv, rnd);
	x25519_public(p->pub, p->priv);
	coord_client_init(&p->c, p->priv, server_pub);
	p->at = at;
}

/* Hands every queued datagram for p to its session; returns how many. */
static size_t deliver(struct peer *p)
{
	size_t n = 0;

	for (size_t i = 0; i < nout; i++) {
		if (!coord_addr_equal(&outq[i].to, &p->at))
			continue;
		struct coord_msg m;
		int r = coord_client_receive(&p->c, outq[i].data, outq[i].len, now, &m);
		if (r == COORD_RX_MESSAGE && p->ngot < 16) {
			p->got[p->ngot] = m;
			if (m.blob_len) {
				memcpy(p->blobs[p->ngot], m.blob, m.blob_len);
				p->got[p->ngot].blob = p->blobs[p->ngot];
			}
			p->ngot++;
		}
		outq[i].to.family = 0; /* consumed */
		n++;
	}
	return n;
}

static void input(struct coord_server *s, const uint8_t *pkt, size_t len, const struct coord_addr *from)
{
	coord_server_input(s, pkt, len, from, now, UNIX0 + now / NS);
}

static bool connect_peer(struct coord_server *s, struct peer *p)
{
	uint8_t pkt[COORD_TRANSPORT_MAX];

	nout = 0;
	p->ngot = 0;
	int n = coord_client_initiate(&p->c, pkt, now, UNIX0 * NS + now);
	input(s, pkt, (size_t)n, &p->at);
	deliver(p);
	if (!coord_client_ready(&p->c))
		return false;
	n = coord_client_ping(&p->c, 1, pkt, sizeof(pkt), now);
	nout = 0;
	input(s, pkt, (size_t)n, &p->at);
	deliver(p);
	for (size_t i = 0; i < p->ngot; i++)
		if (p->got[i].type == COORD_PONG)
			return coord_addr_equal(&p->got[i].addr, &p->at) && is_zero_ct(p->got[i].challenge, 16);
	return false;
}

static void send_msg(struct coord_server *s, struct peer *p, const struct coord_msg *m)
{
	uint8_t pkt[COORD_TRANSPORT_MAX];
	int n = coord_client_seal(&p->c, m, pkt, sizeof(pkt), now);

	if (n > 0)
		input(s, pkt, (size_t)n, &p->at);
}

static const struct coord_msg *find_msg(const struct peer *p, uint8_t type)
{
	for (size_t i = p->ngot; i-- > 0;)
		if (p->got[i].type == type)
			return &p->got[i];
	return NULL;
}

static struct coord_server *new_server(struct coord_store *store, uint32_t rate, bool cookie)
{
	struct coord_server_config cfg;
	struct coord_server *s = NULL;

	coord_server_config_defaults(&cfg);
	memcpy(cfg.private_key, server_priv, 32);
	cfg.rate = rate;
	cfg.burst = rate * 2;
	cfg.max_records = 3;
	cfg.cookie_always = cookie;
	cfg.store = store;
	if (coord_server_new(&cfg, capture, NULL, &s) < 0)
		return NULL;
	return s;
}

static void announce(struct coord_server *s, struct peer *p, const uint8_t token[32], const char *blob)
{
	struct coord_msg m = { .type = COORD_ANNOUNCE, .blob = (const uint8_t *)blob,
			       .blob_len = (uint16_t)strlen(blob) };
	memcpy(m.token, token, 32);
	nout = 0;
	send_msg(s, p, &m);
}

static void test_match_and_roam(void)
{
	struct coord_server *s = new_server(NULL, 0, false);
	struct peer *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	uint8_t token[32];

	CHECK(s != NULL);
	make_peer(a, 1, addr4(10, 40000));
	make_peer(b, 2, addr4(20, 50000));
	CHECK(connect_peer(s, a));
	CHECK(connect_peer(s, b));
	coord_token(token, a->pub, b->pub, "", 0);

	announce(s, a, token, "blob-of-a");
	deliver(a);
	const struct coord_msg *m = find_msg(a, COORD_ANNOUNCED);
	CHECK(m && m->status == COORD_WAITING && m->ttl == 120);
	announce(s, b, token, "blob-of-b");
	deliver(a);
	deliver(b);
	m = find_msg(b, COORD_ANNOUNCED);
	CHECK(m && m->status == COORD_MATCHED);
	m = find_msg(b, COORD_PEER);
	CHECK(m && coord_addr_equal(&m->addr, &a->at) && m->blob_len == 9 &&
	      !memcmp(m->blob, "blob-of-a", 9));
	m = find_msg(a, COORD_PEER);
	CHECK(m && coord_addr_equal(&m->addr, &b->at) && m->blob_len == 9 &&
	      !memcmp(m->blob, "blob-of-b", 9));
	CHECK_EQ(coord_server_stats(s)->matches, 1);

	/* a roams: its next message comes from elsewhere; b hears nothing until
	 * a proves it receives there */
	a->at = addr4(11, 40001);
	a->ngot = b->ngot = 0;
	uint8_t pkt[COORD_TRANSPORT_MAX];
	int n = coord_client_ping(&a->c, 2, pkt, sizeof(pkt), now);
	nout = 0;
	input(s, pkt, (size_t)n, &a->at);
	CHECK_EQ(nout, 1); /* only the PONG, to the new address, no larger */
	CHECK(outq[0].len <= (size_t)n);
	deliver(a);
	deliver(b);
	CHECK_EQ(b->ngot, 0);
	m = find_msg(a, COORD_PONG);
	CHECK(m && coord_addr_equal(&m->addr, &a->at));
	CHECK(!is_zero_ct(m->challenge, 16));
	CHECK(coord_client_tick(&a->c, now) & COORD_WANT_PING);
	n = coord_client_ping(&a->c, 3, pkt, sizeof(pkt), now);
	nout = 0;
	input(s, pkt, (size_t)n, &a->at);
	deliver(a);
	deliver(b);
	m = find_msg(b, COORD_PEER);
	CHECK(m && coord_addr_equal(&m->addr, &a->at));

	/* withdraw: b hears that a left */
	b->ngot = 0;
	struct coord_msg w = { .type = COORD_WITHDRAW };
	memcpy(w.token, token, 32);
	nout = 0;
	send_msg(s, a, &w);
	deliver(b);
	m = find_msg(b, COORD_PEER);
	CHECK(m && (m->status & COORD_PEER_GONE));
	coord_server_tick(s, now, UNIX0);
	CHECK_EQ(coord_server_stats(s)->records, 1);
	coord_server_free(s);
	free(a);
	free(b);
}

static void test_limits_and_spoofed_token(void)
{
	struct coord_server *s = new_server(NULL, 0, false);
	struct peer *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b)), *c = calloc(1, sizeof(*c));
	uint8_t token[32];

	make_peer(a, 3, addr4(30, 1000));
	make_peer(b, 4, addr4(31, 1000));
	make_peer(c, 5, addr4(32, 1000));
	CHECK(connect_peer(s, a) && connect_peer(s, b) && connect_peer(s, c));
	coord_token(token, a->pub, b->pub, "x", 1);
	announce(s, a, token, "a");
	announce(s, b, token, "b");
	/* a third client claiming the same token is refused */
	announce(s, c, token, "evil");
	deliver(c);
	const struct coord_msg *m = find_msg(c, COORD_ERROR);
	CHECK(m && m->status == COORD_ERR_TOKEN_FULL);
	CHECK(!find_msg(c, COORD_PEER));
	/* records per client (3 here) */
	for (uint8_t i = 0; i < 4; i++) {
		uint8_t t[32];
		memset(t, 0x50 + i, 32);
		announce(s, c, t, "");
	}
	deliver(c);
	m = find_msg(c, COORD_ERROR);
	CHECK(m && m->status == COORD_ERR_TOO_MANY_RECORDS);
	coord_server_tick(s, now, UNIX0);
	CHECK_EQ(coord_server_stats(s)->records, 5);
	/* expiry: after the TTL, everything is gone */
	now += 200 * NS;
	coord_server_tick(s, now, UNIX0 + 200);
	CHECK_EQ(coord_server_stats(s)->records, 0);
	CHECK_EQ(coord_server_stats(s)->clients, 0);
	coord_server_free(s);
	free(a);
	free(b);
	free(c);
}

static void test_hostile_input(void)
{
	struct coord_server *s = new_server(NULL, 0, false);
	struct peer *a = calloc(1, sizeof(*a));
	struct coord_addr evil = addr4(66, 6666);
	uint8_t buf[COORD_DATAGRAM_MAX + 1], init[COORD_INITIATION_LEN], pkt[COORD_TRANSPORT_MAX];
	size_t in_bytes = 0;

	make_peer(a, 6, addr4(40, 4000));
	/* a captured initiation and transport message, replayed from elsewhere */
	int ilen = coord_client_initiate(&a->c, init, now, UNIX0 * NS + now);
	nout = 0;
	input(s, init, (size_t)ilen, &a->at);
	deliver(a);
	CHECK(coord_client_ready(&a->c));
	int plen = coord_client_ping(&a->c, 1, pkt, sizeof(pkt), now);
	nout = 0;
	input(s, pkt, (size_t)plen, &a->at);
	deliver(a);

	const struct coord_stats *st = coord_server_stats(s);
	nout = 0;
	out_bytes = 0;
	test_seed(0xbad);
	for (int i = 0; i < 3000; i++) {
		size_t len = test_below(sizeof(buf));
		for (size_t k = 0; k < len; k++)
			buf[k] = (uint8_t)test_rnd();
		if (i % 3 == 0 && len >= 4) {
			/* plausible headers with garbage bodies */
			static const uint8_t types[] = { 0xC1, 0xC2, 0xC3, 0xC4, 0xC5, 0x00, 0x01 };
			buf[0] = types[test_below(sizeof(types))];
			buf[1] = buf[2] = buf[3] = 0;
			if (buf[0] == 0xC1)
				len = COORD_INITIATION_LEN;
			if (buf[0] == 0xC4)
				len = 48 + 16 * test_below(10);
		}
		in_bytes += len;
		input(s, buf, len, &evil);
	}
	/* replays: the initiation (old timestamp) and the transport message */
	input(s, init, (size_t)ilen, &evil);
	input(s, pkt, (size_t)plen, &evil);
	in_bytes += (size_t)ilen + (size_t)plen;
	/* truncated and oversized */
	input(s, init, (size_t)ilen - 1, &evil);
	memset(buf, 0xC4, sizeof(buf));
	input(s, buf, sizeof(buf), &evil);
	in_bytes += (size_t)ilen - 1 + sizeof(buf);
	CHECK(out_bytes <= in_bytes);
	CHECK_EQ(out_bytes, 0); /* none of it earned any reply */
	CHECK(st->unknown > 100);
	CHECK(st->handshake_bad_mac > 100);
	CHECK(st->transport_no_session > 100);
	CHECK_EQ(st->handshake_replayed, 1);
	CHECK(st->transport_replayed + st->transport_bad >= 1);

	/* tampered transport from the real client */
	plen = coord_client_ping(&a->c, 1, pkt, sizeof(pkt), now);
	pkt[20] ^= 1;
	input(s, pkt, (size_t)plen, &a->at);
	CHECK(st->transport_bad >= 1);
	/* a server-to-client message from a client is refused */
	struct coord_msg bad = { .type = COORD_PONG };
	uint8_t p2[COORD_TRANSPORT_MAX], pt[COORD_INNER_MAX];
	int e = coord_msg_encode(pt, sizeof(pt), &bad);
	uint64_t before = st->msg_bad;
	int n = coord_transport_seal(&a->c.cur, pt, (size_t)e, p2, sizeof(p2));
	input(s, p2, (size_t)n, &a->at);
	CHECK_EQ(st->msg_bad, before + 1);
	/* and the server still answers the real client */
	a->ngot = 0;
	nout = 0;
	n = coord_client_ping(&a->c, 9, p2, sizeof(p2), now);
	input(s, p2, (size_t)n, &a->at);
	deliver(a);
	CHECK(find_msg(a, COORD_PONG) != NULL);
	/* a STUN request gets its answer, a STUN response is dropped */
	uint8_t txid[12] = { 1 }, req[28], resp[64];
	nout = 0;
	n = stun_binding_request(req, sizeof(req), txid, true);
	input(s, req, (size_t)n, &evil);
	CHECK_EQ(nout, 1);
	struct stun_msg sm;
	CHECK(nout == 1 && stun_parse(&sm, outq[0].data, outq[0].len) == 0 && sm.has_fingerprint &&
	      coord_addr_equal(&sm.xor_mapped, &evil));
	n = stun_binding_response(resp, sizeof(resp), txid, &evil, NULL);
	nout = 0;
	input(s, resp, (size_t)n, &evil);
	CHECK_EQ(nout, 0);
	coord_server_free(s);
	free(a);
}

static void test_rate_limit_and_cookies(void)
{
	struct coord_server *s = new_server(NULL, 20, true);
	struct peer *a = calloc(1, sizeof(*a));
	uint8_t init[COORD_INITIATION_LEN];

	make_peer(a, 7, addr4(50, 5000));
	/* cookie first: the first initiation earns a (smaller) cookie reply */
	int n = coord_client_initiate(&a->c, init, now, UNIX0 * NS + now);
	nout = 0;
	input(s, init, (size_t)n, &a->at);
	CHECK_EQ(nout, 1);
	CHECK(nout == 1 && outq[0].len == COORD_COOKIE_REPLY_LEN && outq[0].len < (size_t)n);
	struct coord_msg m;
	CHECK(nout == 1 && coord_client_receive(&a->c, outq[0].data, outq[0].len, now, &m) == COORD_RX_COOKIE);
	now += NS;
	n = coord_client_initiate(&a->c, init, now, UNIX0 * NS + now);
	nout = 0;
	input(s, init, (size_t)n, &a->at);
	deliver(a);
	CHECK(coord_client_ready(&a->c));
	/* the cookie is bound to the address: elsewhere it earns a cookie again */
	struct coord_addr other = addr4(51, 5000);
	now += NS;
	n = coord_client_initiate(&a->c, init, now, UNIX0 * NS + now);
	nout = 0;
	input(s, init, (size_t)n, &other);
	CHECK(nout == 1 && outq[0].len == COORD_COOKIE_REPLY_LEN);
	/* a flood from one source: the bucket (20/s, burst 40) stops it */
	uint64_t before = coord_server_stats(s)->rate_limited;
	for (int i = 0; i < 200; i++)
		input(s, init, 10, &other);
	CHECK(coord_server_stats(s)->rate_limited - before >= 150);
	coord_server_free(s);
	free(a);
}

static bool file_contains(const char *path, const void *needle, size_t n)
{
	int fd = open(path, O_RDONLY);
	static uint8_t buf[1 << 20];
	ssize_t len;

	if (fd < 0)
		return false;
	len = read(fd, buf, sizeof(buf));
	close(fd);
	for (ssize_t i = 0; len > 0 && i + (ssize_t)n <= len; i++)
		if (!memcmp(buf + i, needle, n))
			return true;
	return false;
}

static void test_store_restart(void)
{
	char dir[] = "/tmp/coord-test-XXXXXX", path[64];
	struct coord_store *store = NULL;
	const char *why;
	struct peer *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	uint8_t token[32];

	if (!mkdtemp(dir))
		SKIP("no temporary directory");
	snprintf(path, sizeof(path), "%s/coord.db", dir);
	CHECK_EQ(coord_store_open(path, &store, &why), 0);
	if (!store)
		return;
	struct stat stt;
	CHECK(stat(path, &stt) == 0 && (stt.st_mode & 0777) == 0600);
	struct coord_server *s = new_server(store, 0, false);
	make_peer(a, 8, addr4(60, 6000));
	make_peer(b, 9, addr4(61, 6001));
	CHECK(connect_peer(s, a));
	coord_token(token, a->pub, b->pub, "home", 4);
	announce(s, a, token, "sealed-candidates-of-a");
	coord_server_tick(s, now, UNIX0 + now / NS);
	coord_server_free(s);
	store->ops->close(store);

	/* no public key in the file, in any spelling */
	char b64[WEFT_KEY_B64_LEN + 1], hex[WEFT_KEY_HEX_LEN + 1];
	CHECK(file_contains(path, token, 32)); /* the search itself works */
	CHECK(!file_contains(path, a->pub, 32));
	key_to_base64(b64, a->pub);
	key_to_hex(hex, a->pub);
	CHECK(!file_contains(path, b64, strlen(b64)));
	CHECK(!file_contains(path, hex, strlen(hex)));

	/* a restarted server (same key) still matches against the record */
	CHECK_EQ(coord_store_open(path, &store, &why), 0);
	s = new_server(store, 0, false);
	CHECK_EQ(coord_server_load(s, now, UNIX0 + now / NS), 1);
	CHECK(connect_peer(s, b));
	b->ngot = 0;
	announce(s, b, token, "b");
	deliver(b);
	const struct coord_msg *m = find_msg(b, COORD_PEER);
	CHECK(m && coord_addr_equal(&m->addr, &a->at) && m->blob_len == 22);
	/* and a, reconnecting, adopts its stored record: b hears its address */
	a->at = addr4(62, 6002);
	coord_client_clear(&a->c);
	coord_client_init(&a->c, a->priv, server_pub);
	b->ngot = 0;
	CHECK(connect_peer(s, a));
	deliver(b);
	m = find_msg(b, COORD_PEER);
	CHECK(m && coord_addr_equal(&m->addr, &a->at));
	now += 300 * NS;
	coord_server_tick(s, now, UNIX0 + now / NS);
	struct coord_record rec;
	CHECK_EQ(store->ops->get(store, token, UNIX0 + now / NS, &rec, 1), 0);
	coord_server_free(s);
	store->ops->close(store);
	snprintf(path, sizeof(path), "rm -rf %s", dir);
	CHECK(system(path) == 0);
	free(a);
	free(b);
}

int main(void)
{
	test_suite_name = "coord_server";
	if (crypto_init() < 0)
		return 1;
	uint8_t rnd[32];
	memset(rnd, 0x42, sizeof(rnd));
	x25519_generate_private(server_priv, rnd);
	x25519_public(server_pub, server_priv);
	RUN(test_match_and_roam);
	RUN(test_limits_and_spoofed_token);
	RUN(test_hostile_input);
	RUN(test_rate_limit_and_cookies);
	RUN(test_store_restart);
	TEST_EXIT();
}
