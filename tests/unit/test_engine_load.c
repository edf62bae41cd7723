/* test_engine_load.c: the engine under load (whitepaper 5.3, 5.4.7). A
 * responder under load answers an initiation without a valid mac2 with a
 * cookie reply; the initiator takes the cookie and its retry gets through;
 * forged or misplaced mac2 is refused; handshakes from one source are
 * rate-limited, each source apart; the device notices a flood by itself
 * from its handshake backlog (a batch's budget for Diffie-Hellman work spent
 * and the queue long) and calms down a second after it; junk never ends a
 * batch; cookies die with the secret they came from.
 * Cookies and their replies are recomputed here from the whitepaper's
 * formulas, not taken from the engine. */
#include <limits.h>
#include <stddef.h>

#include "test.h"
#include "engine_harness.h"

#define SEC NSEC_PER_SEC
#define MSEC NSEC_PER_MSEC

static struct world w;

static uint64_t drops(const struct node *n, enum weft_drop why)
{
	return weft_device_drops(n->dev, why);
}

static bool is_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* The cookie of a source (whitepaper 5.4.7): MAC(the responder's current
 * secret, source IP || source port), both in network byte order. */
static void cookie_of(const struct weft_device *dev, const struct weft_endpoint *from,
		      uint8_t cookie[COOKIE_LEN])
{
	uint8_t source[16 + 2];
	size_t n;
	if (from->addr.sa.sa_family == AF_INET6) {
		memcpy(source, &from->addr.in6.sin6_addr, 16);
		memcpy(source + 16, &from->addr.in6.sin6_port, 2);
		n = 18;
	} else {
		memcpy(source, &from->addr.in4.sin_addr, 4);
		memcpy(source + 4, &from->addr.in4.sin_port, 2);
		n = 6;
	}
	b2s(cookie, COOKIE_LEN, source, n, dev->cookie_checker.secret, sizeof(dev->cookie_checker.secret));
}

/* Opens a cookie reply as the whitepaper says: XAEAD with key
 * HASH(LABEL_COOKIE || the replier's public key), the mac1 it answers as AD. */
static bool open_cookie(const struct message_handshake_cookie *reply, const uint8_t mac1[COOKIE_LEN],
			const uint8_t replier_public[32], uint8_t cookie[COOKIE_LEN])
{
	uint8_t key[32];
	label_key(key, LABEL_COOKIE, replier_public);
	return xaead_open(cookie, reply->encrypted_cookie, sizeof(reply->encrypted_cookie), mac1,
			  COOKIE_LEN, reply->nonce, key);
}

/* b, under load, must drop m as BAD_MAC2 and answer `from` with exactly one
 * cookie reply, for m's sender index, holding the cookie of `from`. */
static bool earns_cookie_reply(const struct message_handshake_initiation *m,
			       const struct weft_endpoint *from, struct message_handshake_cookie *reply)
{
	struct message_handshake_cookie r;
	uint8_t got[COOKIE_LEN], want[COOKIE_LEN];
	world_flush(&w);
	bool ok = dropped_as(&w.b, m, sizeof(*m), from, WEFT_DROP_BAD_MAC2) && w.b.out.send_count == 1 &&
		  w.b.send[0].len == sizeof(r) && same_address(&w.b.send[0].endpoint, from);
	if (ok) {
		memcpy(&r, w.b.send[0].data, sizeof(r));
		cookie_of(w.b.dev, from, want);
		ok = le32toh(r.header.type) == MESSAGE_HANDSHAKE_COOKIE && r.receiver_index == m->sender_index &&
		     open_cookie(&r, m->macs.mac1, w.b.pub, got) && !memcmp(got, want, COOKIE_LEN);
		if (reply)
			*reply = r;
	}
	node_reset_out(&w.b);
	return ok;
}

/* With the cookie its first initiation from `from` earns, a's next one
 * gets through b's load: b queues one response. */
static void through_with_cookie(const struct weft_endpoint *from)
{
	struct message_handshake_initiation m;
	struct message_handshake_cookie reply;
	CHECK(fresh_initiation(&w.a, &m));
	CHECK(earns_cookie_reply(&m, from, &reply));
	CHECK(accepted(&w.a, &reply, sizeof(reply), &w.b.addr) >= 0);
	CHECK(fresh_initiation(&w.a, &m));
	CHECK(accepted(&w.b, &m, sizeof(m), from) >= 0);
	CHECK_EQ(queued(&w.b, MESSAGE_HANDSHAKE_RESPONSE), 1);
}

/* b under load by its caller; a session made through a cookie. */
static bool cookie_session(uint64_t seed)
{
	world_init(&w, seed);
	weft_device_set_under_load(w.b.dev, true);
	node_send_ip(&w.a, 100);
	world_flush(&w);
	world_advance(&w, (REKEY_TIMEOUT + 1) * SEC);
	CHECK(current_keypair(&w.a) && current_keypair(&w.b));
	return current_keypair(&w.a) && current_keypair(&w.b);
}

#define COOKIE_SESSION(seed) do { if (!cookie_session(seed)) { world_free(&w); return; } } while (0)

static void cookie_reply_then_retry(void)
{
	world_init(&w, 31);
	weft_device_set_under_load(w.b.dev, true);
	node_send_ip(&w.a, 100);
	world_flush(&w);
	CHECK_EQ(drops(&w.b, WEFT_DROP_BAD_MAC2), 1);
	CHECK_EQ(w.b.sent[MESSAGE_HANDSHAKE_COOKIE], 1);
	CHECK_EQ(w.b.sent[MESSAGE_HANDSHAKE_RESPONSE], 0);
	CHECK(!w.b.peer->keypairs.next && !current_keypair(&w.b));
	CHECK_EQ(w.b.peer->handshake.state, HANDSHAKE_ZEROED);

	/* a took the cookie: the reply opens as the whitepaper says and holds
	 * MAC(secret, a's address and port). */
	const struct recorded *ri = first_logged(&w.a, MESSAGE_HANDSHAKE_INITIATION);
	const struct recorded *rc = first_logged(&w.b, MESSAGE_HANDSHAKE_COOKIE);
	CHECK(ri && rc);
	if (!ri || !rc) {
		world_free(&w);
		return;
	}
	struct message_handshake_initiation init;
	struct message_handshake_cookie reply;
	memcpy(&init, ri->data, sizeof(init));
	memcpy(&reply, rc->data, sizeof(reply));
	CHECK(is_zero(init.macs.mac2, COOKIE_LEN)); /* it had no cookie yet */
	CHECK_EQ(reply.receiver_index, init.sender_index);
	uint8_t cookie[COOKIE_LEN], want[COOKIE_LEN];
	CHECK(open_cookie(&reply, init.macs.mac1, w.b.pub, cookie));
	cookie_of(w.b.dev, &w.a.addr, want);
	CHECK_MEM(cookie, want, COOKIE_LEN);
	CHECK_EQ(drops_total(w.a.dev), 0);
	CHECK_EQ(w.a.peer->cookie.birthdate, w.now);
	CHECK_MEM(w.a.peer->cookie.cookie, want, COOKIE_LEN);
	CHECK(same_address(&w.a.peer->endpoint, &w.b.addr));

	/* The retransmission REKEY_TIMEOUT later carries mac2 and gets through. */
	world_advance(&w, (REKEY_TIMEOUT + 1) * SEC);
	CHECK_EQ(w.a.sent[MESSAGE_HANDSHAKE_INITIATION], 2);
	struct message_handshake_initiation retry, expect;
	memcpy(&retry, last_logged(&w.a, MESSAGE_HANDSHAKE_INITIATION)->data, sizeof(retry));
	expect = retry;
	set_mac2(&expect, want);
	CHECK(!is_zero(retry.macs.mac2, COOKIE_LEN));
	CHECK_MEM(retry.macs.mac2, expect.macs.mac2, COOKIE_LEN);
	CHECK_EQ(w.b.sent[MESSAGE_HANDSHAKE_RESPONSE], 1);
	CHECK_EQ(w.b.sent[MESSAGE_HANDSHAKE_COOKIE], 1);
	CHECK_EQ(drops(&w.b, WEFT_DROP_BAD_MAC2), 1);
	CHECK_EQ(drops(&w.b, WEFT_DROP_RATE_LIMITED), 0);
	CHECK_EQ(w.b.delivered, 1); /* a's staged packet */
	CHECK(session_works(&w));
	world_free(&w);
}

static void forged_mac2(void)
{
	COOKIE_SESSION(32);
	struct message_handshake_initiation m, f;
	struct weft_endpoint other_port = w.a.addr, other_host;
	other_port.addr.in4.sin_port = htons(ntohs(w.a.addr.addr.in4.sin_port) + 1);
	endpoint4(&other_host, 0xc0000263, 51820); /* 192.0.2.99 */
	w.now += SEC;
	CHECK(fresh_initiation(&w.a, &m));
	CHECK(!is_zero(m.macs.mac2, COOKIE_LEN));

	f = m;
	f.macs.mac2[0] ^= 1;
	CHECK(earns_cookie_reply(&f, &w.a.addr, NULL));
	f = m;
	memset(f.macs.mac2, 0, COOKIE_LEN);
	CHECK(earns_cookie_reply(&f, &w.a.addr, NULL));
	uint8_t wrong[COOKIE_LEN];
	h_random(&w.a, wrong, sizeof(wrong));
	f = m;
	set_mac2(&f, wrong);
	CHECK(earns_cookie_reply(&f, &w.a.addr, NULL));
	/* The cookie belongs to a's address and port, not to the message. */
	CHECK(earns_cookie_reply(&m, &other_port, NULL));
	CHECK(earns_cookie_reply(&m, &other_host, NULL));
	/* A bad mac1 earns nothing: no reflection for the unauthenticated. */
	f = m;
	f.macs.mac1[0] ^= 1;
	CHECK(dropped_as(&w.b, &f, sizeof(f), &w.a.addr, WEFT_DROP_BAD_MAC1));
	CHECK_EQ(w.b.out.send_count, 0);
	CHECK(same_address(&w.b.peer->endpoint, &w.a.addr));

	CHECK(accepted(&w.b, &m, sizeof(m), &w.a.addr) >= 0);
	CHECK_EQ(queued(&w.b, MESSAGE_HANDSHAKE_RESPONSE), 1);
	world_flush(&w);
	CHECK(current_keypair(&w.b) && current_keypair(&w.b)->birthdate == w.now);
	CHECK(session_works(&w));
	world_free(&w);
}

static void cookie_for_ipv6_source(void)
{
	COOKIE_SESSION(33);
	struct weft_endpoint v6;
	memset(&v6, 0, sizeof(v6));
	v6.addr.in6.sin6_family = AF_INET6;
	v6.addr.in6.sin6_addr.s6_addr[0] = 0x20; /* 2001:db8::a, documentation range */
	v6.addr.in6.sin6_addr.s6_addr[1] = 0x01;
	v6.addr.in6.sin6_addr.s6_addr[2] = 0x0d;
	v6.addr.in6.sin6_addr.s6_addr[3] = 0xb8;
	v6.addr.in6.sin6_addr.s6_addr[15] = 0x0a;
	v6.addr.in6.sin6_port = htons(40000);

	w.now += SEC;
	through_with_cookie(&v6);
	CHECK(w.b.out.send_count == 1 && same_address(&w.b.send[0].endpoint, &v6));
	node_reset_out(&w.b);
	world_free(&w);
}

static void rate_limit(void)
{
	COOKIE_SESSION(34);
	struct message_handshake_initiation m;
	w.now += SEC; /* a's bucket is full again */

	/* A burst from one source: RATELIMIT_BURST pass (one is consumed, the
	 * rest carry its timestamp), the others are refused. */
	uint64_t limited = drops(&w.b, WEFT_DROP_RATE_LIMITED);
	uint64_t replayed = drops(&w.b, WEFT_DROP_REPLAYED_HANDSHAKE);
	for (int i = 0; i < 2 * RATELIMIT_BURST; i++) {
		CHECK(fresh_initiation(&w.a, &m));
		weft_receive(w.b.dev, (const uint8_t *)&m, sizeof(m), &w.a.addr, &w.b.out);
	}
	CHECK_EQ(drops(&w.b, WEFT_DROP_RATE_LIMITED) - limited, RATELIMIT_BURST);
	CHECK_EQ(drops(&w.b, WEFT_DROP_REPLAYED_HANDSHAKE) - replayed, RATELIMIT_BURST - 1);
	CHECK_EQ(queued(&w.b, MESSAGE_HANDSHAKE_RESPONSE), 1);
	node_reset_out(&w.b);

	/* One token comes back every 1/RATELIMIT_PACKETS_PER_SECOND. */
	w.now += SEC / RATELIMIT_PACKETS_PER_SECOND;
	CHECK(fresh_initiation(&w.a, &m));
	CHECK(accepted(&w.b, &m, sizeof(m), &w.a.addr) >= 0);
	CHECK_EQ(queued(&w.b, MESSAGE_HANDSHAKE_RESPONSE), 1);
	node_reset_out(&w.b);
	w.now += SEC / INITIATIONS_PER_SECOND + 5 * MSEC; /* less than a token's worth */
	CHECK(SEC / INITIATIONS_PER_SECOND + 5 * MSEC < SEC / RATELIMIT_PACKETS_PER_SECOND);
	CHECK(fresh_initiation(&w.a, &m));
	CHECK(dropped_as(&w.b, &m, sizeof(m), &w.a.addr, WEFT_DROP_RATE_LIMITED));

	/* Each source has its own bucket: from another address, with a cookie
	 * for that address, a's initiation gets through at once. */
	struct weft_endpoint second;
	endpoint4(&second, 0xc000024d, 5555); /* 192.0.2.77 */
	through_with_cookie(&second);
	node_reset_out(&w.b);

	/* Sustained: over one second, the burst and the rate, no more. */
	w.now += SEC;
	limited = drops(&w.b, WEFT_DROP_RATE_LIMITED);
	const int tries = 200;
	for (int i = 0; i < tries; i++) {
		CHECK(fresh_initiation(&w.a, &m));
		weft_receive(w.b.dev, (const uint8_t *)&m, sizeof(m), &second, &w.b.out);
		node_reset_out(&w.b);
		w.now += SEC / tries;
	}
	uint64_t passed = tries - (drops(&w.b, WEFT_DROP_RATE_LIMITED) - limited);
	CHECK(passed >= RATELIMIT_PACKETS_PER_SECOND);
	CHECK(passed <= RATELIMIT_BURST + RATELIMIT_PACKETS_PER_SECOND);
	world_free(&w);
}

/* A flooder's initiation: random bytes, a valid mac1 for b (anyone who knows
 * b's public key can make one), no mac2. It costs b one X25519 before the
 * encrypted static key fails to open. */
static void flood_initiation(struct message_handshake_initiation *m)
{
	h_random(&w.a, (uint8_t *)m, sizeof(*m));
	m->header.type = htole32(MESSAGE_HANDSHAKE_INITIATION);
	memset(m->macs.mac2, 0, COOKIE_LEN);
	set_mac1(m, sizeof(*m), w.b.pub);
}

/* Flood source number i: 198.18.x.y (the benchmarking range). */
static void flood_source(struct weft_endpoint *ep, unsigned i)
{
	endpoint4(ep, 0xc6120000 + (i & 0xffff), (uint16_t)(1024 + i));
}

static struct weft_device_stats stats_of(const struct node *n)
{
	struct weft_device_stats st;
	weft_device_get_stats(n->dev, &st);
	return st;
}

/* One batch of valid-mac1 initiations from many sources: b does the
 * Diffie-Hellman work of its budget, queues the rest and is under load
 * exactly when the queue reaches UNDER_LOAD_BACKLOG; from then on each
 * message earns a cookie reply. Draining the queue under load costs no
 * X25519 at all. A second after the backlog is gone b answers plain
 * initiations again. */
static void under_load_from_backlog(void)
{
	world_init(&w, 35);
	node_send_ip(&w.a, 100);
	world_flush(&w);
	CHECK(current_keypair(&w.b) != NULL);
	w.now += SEC;
	struct message_handshake_initiation m;
	struct weft_endpoint from;
	struct weft_device_stats st0 = stats_of(&w.b);
	uint64_t invalid0 = drops(&w.b, WEFT_DROP_HANDSHAKE_INVALID);
	const unsigned engage_at = WEFT_HANDSHAKE_BUDGET + UNDER_LOAD_BACKLOG;
	const unsigned total = engage_at + 100;
	unsigned engaged_after = 0;

	weft_batch_begin(w.b.dev, &w.b.out);
	for (unsigned i = 0; i < total; i++) {
		flood_initiation(&m);
		flood_source(&from, i);
		weft_receive(w.b.dev, (const uint8_t *)&m, sizeof(m), &from, &w.b.out);
		if (!engaged_after && weft_device_under_load(w.b.dev))
			engaged_after = i + 1;
	}
	weft_batch_end(w.b.dev);
	CHECK_EQ(engaged_after, engage_at);
	struct weft_device_stats st = stats_of(&w.b);
	CHECK_EQ(st.x25519 - st0.x25519, WEFT_HANDSHAKE_BUDGET);
	CHECK_EQ(drops(&w.b, WEFT_DROP_HANDSHAKE_INVALID) - invalid0, WEFT_HANDSHAKE_BUDGET);
	CHECK_EQ(st.handshake_backlog, UNDER_LOAD_BACKLOG);
	CHECK_EQ(st.under_load_periods - st0.under_load_periods, 1);
	/* every message after the backlog formed was answered with a cookie */
	CHECK_EQ(drops(&w.b, WEFT_DROP_BAD_MAC2), total - engage_at);
	/* (a reply needs a free send slot; the rest were dropped unanswered) */
	CHECK_EQ(st.cookie_replies - st0.cookie_replies, total - engage_at < SLOTS ? total - engage_at : SLOTS);
	CHECK_EQ(w.b.out.send_count, total - engage_at < SLOTS ? total - engage_at : SLOTS);
	node_reset_out(&w.b);

	/* The queue drains through weft_tick, a budget per call, under load:
	 * cookie replies, no X25519. */
	for (int i = 0; i < 100 && stats_of(&w.b).handshake_backlog; i++) {
		uint64_t next = weft_tick(w.b.dev, &w.b.out);
		if (stats_of(&w.b).handshake_backlog)
			CHECK_EQ(next, w.now); /* more to do: call again at once */
		node_reset_out(&w.b);
	}
	uint64_t backlog_gone = w.now;
	st = stats_of(&w.b);
	CHECK_EQ(st.handshake_backlog, 0);
	CHECK_EQ(st.x25519 - st0.x25519, WEFT_HANDSHAKE_BUDGET);
	CHECK_EQ(drops(&w.b, WEFT_DROP_BAD_MAC2), total - WEFT_HANDSHAKE_BUDGET);

	/* The real peer meets the defence too: its plain initiation earns a
	 * cookie, and with the cookie it gets through. */
	CHECK(weft_device_under_load(w.b.dev));
	through_with_cookie(&w.a.addr);
	node_reset_out(&w.b);
	w.now += SEC / 10;
	uint64_t limited = drops(&w.b, WEFT_DROP_RATE_LIMITED);
	for (int i = 0; i < 2 * RATELIMIT_BURST; i++) {
		CHECK(fresh_initiation(&w.a, &m));
		weft_receive(w.b.dev, (const uint8_t *)&m, sizeof(m), &w.a.addr, &w.b.out);
		node_reset_out(&w.b);
	}
	CHECK(drops(&w.b, WEFT_DROP_RATE_LIMITED) - limited >= RATELIMIT_BURST);

	/* No backlog for a second (less 10 ms): still under load; just after,
	 * no longer, and a plain initiation is answered. */
	w.now = backlog_gone + UNDER_LOAD_AFTER_NS - 10 * MSEC;
	CHECK(weft_device_under_load(w.b.dev));
	w.now = backlog_gone + UNDER_LOAD_AFTER_NS + 10 * MSEC;
	CHECK(!weft_device_under_load(w.b.dev));
	w.now += SEC; /* a's initiations may come again (INITIATIONS_PER_SECOND) */
	CHECK(fresh_initiation(&w.a, &m));
	memset(m.macs.mac2, 0, COOKIE_LEN);
	set_mac1(&m, sizeof(m), w.b.pub);
	CHECK(accepted(&w.b, &m, sizeof(m), &w.a.addr) >= 0);
	CHECK_EQ(queued(&w.b, MESSAGE_HANDSHAKE_RESPONSE), 1);
	world_flush(&w);
	CHECK(current_keypair(&w.b) && current_keypair(&w.b)->birthdate == w.now);
	CHECK(session_works(&w));
	world_free(&w);
}

/* A device that keeps up (no backlog) still counts: past its handshake rate
 * (counted per eighth of a second) it is under load, and stays so while the
 * flood goes on, so the flood costs at most rate / 8 X25519s however long it
 * lasts. Cookie replies go to each source at the per-source pace only. */
static void rate_rule_bounds_x25519(void)
{
	world_init(&w, 36);
	node_send_ip(&w.a, 100);
	world_flush(&w);
	w.now += 2 * SEC;
	const unsigned rate = 96, window = rate / LOAD_WINDOWS_PER_SECOND;
	weft_device_set_handshake_rate(w.b.dev, rate);
	weft_device_set_handshake_budget(w.b.dev, 0); /* keeps up: no queue at all */
	struct message_handshake_initiation m;
	struct weft_endpoint from;
	struct weft_device_stats st0 = stats_of(&w.b);
	/* exactly the rate, evenly over a second: not under load */
	uint64_t start = w.now;
	for (unsigned i = 0; i < rate; i++) {
		flood_initiation(&m);
		flood_source(&from, i);
		w.now = start + i * SEC / rate;
		weft_receive(w.b.dev, (const uint8_t *)&m, sizeof(m), &from, &w.b.out);
		node_reset_out(&w.b);
	}
	CHECK(!weft_device_under_load(w.b.dev));
	CHECK_EQ(stats_of(&w.b).x25519 - st0.x25519, rate);
	/* a burst: window's worth pass, the next one is met with a cookie */
	w.now = start + SEC + SEC / 100;
	for (unsigned i = 0; i < window; i++) {
		flood_initiation(&m);
		flood_source(&from, rate + i);
		weft_receive(w.b.dev, (const uint8_t *)&m, sizeof(m), &from, &w.b.out);
		node_reset_out(&w.b);
	}
	CHECK(!weft_device_under_load(w.b.dev));
	flood_initiation(&m);
	flood_source(&from, 2 * rate);
	CHECK(dropped_as(&w.b, &m, sizeof(m), &from, WEFT_DROP_BAD_MAC2));
	CHECK_EQ(w.b.out.send_count, 1);
	node_reset_out(&w.b);
	CHECK(weft_device_under_load(w.b.dev));
	uint64_t spent = rate + window;
	CHECK_EQ(stats_of(&w.b).x25519 - st0.x25519, spent);
	/* three more seconds of flood at twice the rate, from four sources:
	 * no X25519, and each source gets a burst of cookie replies and then
	 * RATELIMIT_PACKETS_PER_SECOND */
	uint64_t replies = stats_of(&w.b).cookie_replies;
	for (unsigned i = 0; i < 6 * rate; i++) {
		flood_initiation(&m);
		flood_source(&from, i % 4);
		w.now += SEC / (2 * rate);
		weft_receive(w.b.dev, (const uint8_t *)&m, sizeof(m), &from, &w.b.out);
		node_reset_out(&w.b);
		CHECK(weft_device_under_load(w.b.dev));
	}
	CHECK_EQ(stats_of(&w.b).x25519 - st0.x25519, spent);
	CHECK_EQ(stats_of(&w.b).under_load_periods - st0.under_load_periods, 1);
	replies = stats_of(&w.b).cookie_replies - replies;
	CHECK(replies >= 4 * 3 * RATELIMIT_PACKETS_PER_SECOND);
	CHECK(replies <= 4 * (RATELIMIT_BURST + 3 * RATELIMIT_PACKETS_PER_SECOND + 1));
	CHECK_EQ(stats_of(&w.b).cookie_replies_withheld, 6 * rate - replies);
	/* the flood stops: a second later the device is calm */
	w.now += UNDER_LOAD_AFTER_NS + SEC / 100;
	CHECK(!weft_device_under_load(w.b.dev));
	w.now += SEC;
	CHECK(fresh_initiation(&w.a, &m));
	CHECK(b_takes_initiation(&w, &m, &w.a.addr));
	world_free(&w);
}

/* The largest rate a caller can set means "more than can come", not a
 * per-window allowance that wrapped round to nothing. */
static void largest_rate_is_not_load(void)
{
	world_init(&w, 38);
	struct message_handshake_initiation m;
	struct weft_endpoint from;
	weft_device_set_handshake_rate(w.b.dev, UINT_MAX);
	weft_device_set_handshake_budget(w.b.dev, 0);
	for (unsigned i = 0; i < 64; i++) {
		flood_initiation(&m);
		flood_source(&from, i);
		weft_receive(w.b.dev, (const uint8_t *)&m, sizeof(m), &from, &w.b.out);
		node_reset_out(&w.b);
	}
	CHECK(!weft_device_under_load(w.b.dev));
	CHECK_EQ(drops(&w.b, WEFT_DROP_BAD_MAC2), 0);
	world_free(&w);
}

/* A backlog that stays under UNDER_LOAD_BACKLOG never puts b under load:
 * it keeps up, a budget per tick, and every message gets its X25519. */
static void small_backlog_is_not_load(void)
{
	world_init(&w, 37);
	struct message_handshake_initiation m;
	struct weft_endpoint from;
	struct weft_device_stats st0 = stats_of(&w.b);
	const unsigned n = WEFT_HANDSHAKE_BUDGET + UNDER_LOAD_BACKLOG - 1;
	weft_batch_begin(w.b.dev, &w.b.out);
	for (unsigned i = 0; i < n; i++) {
		flood_initiation(&m);
		flood_source(&from, i);
		weft_receive(w.b.dev, (const uint8_t *)&m, sizeof(m), &from, &w.b.out);
	}
	weft_batch_end(w.b.dev);
	CHECK(!weft_device_under_load(w.b.dev));
	CHECK_EQ(stats_of(&w.b).handshake_backlog, UNDER_LOAD_BACKLOG - 1);
	/* the link going down forgets them; up again, the next batch queues anew */
	weft_device_set_up(w.b.dev, false);
	CHECK_EQ(stats_of(&w.b).handshake_backlog, 0);
	weft_device_set_up(w.b.dev, true);
	weft_batch_begin(w.b.dev, &w.b.out);
	for (unsigned i = 0; i < n; i++) {
		flood_initiation(&m);
		flood_source(&from, i);
		weft_receive(w.b.dev, (const uint8_t *)&m, sizeof(m), &from, &w.b.out);
	}
	weft_batch_end(w.b.dev);
	CHECK_EQ(stats_of(&w.b).handshake_backlog, UNDER_LOAD_BACKLOG - 1);
	CHECK_EQ(stats_of(&w.b).x25519 - st0.x25519, 2 * WEFT_HANDSHAKE_BUDGET);
	for (int i = 0; i < 100 && stats_of(&w.b).handshake_backlog; i++)
		weft_tick(w.b.dev, &w.b.out);
	CHECK(!weft_device_under_load(w.b.dev));
	CHECK_EQ(stats_of(&w.b).x25519 - st0.x25519, n + WEFT_HANDSHAKE_BUDGET);
	CHECK_EQ(drops(&w.b, WEFT_DROP_BAD_MAC2), 0);
	CHECK_EQ(drops(&w.b, WEFT_DROP_HANDSHAKE_INVALID), n + WEFT_HANDSHAKE_BUDGET);
	/* a budget of 0 turns the queue off: everything at once */
	weft_device_set_handshake_budget(w.b.dev, 0);
	weft_batch_begin(w.b.dev, &w.b.out);
	for (unsigned i = 0; i < 3 * UNDER_LOAD_BACKLOG; i++) {
		flood_initiation(&m);
		flood_source(&from, i);
		weft_receive(w.b.dev, (const uint8_t *)&m, sizeof(m), &from, &w.b.out);
	}
	weft_batch_end(w.b.dev);
	CHECK_EQ(stats_of(&w.b).handshake_backlog, 0);
	CHECK_EQ(stats_of(&w.b).x25519 - st0.x25519, n + WEFT_HANDSHAKE_BUDGET + 3 * UNDER_LOAD_BACKLOG);
	world_free(&w);
}

/* Junk (a bad mac1) between data packets leaves the batch alone: nothing
 * is decrypted or delivered before weft_batch_end, and then all of it, in
 * order. (A message that reaches the Diffie-Hellman step does end the
 * batch's first half: its session may retire a keypair.) */
static void junk_does_not_end_a_batch(void)
{
	world_init(&w, 38);
	node_send_ip(&w.a, 100);
	world_flush(&w);
	CHECK(current_keypair(&w.b) != NULL);
	static uint8_t data[8][SLOT_SIZE];
	size_t lens[8];
	for (int i = 0; i < 8; i++) {
		node_send_ip(&w.a, 200 + i);
		CHECK_EQ(w.a.out.send_count, 1);
		memcpy(data[i], w.a.send[0].data, w.a.send[0].len);
		lens[i] = w.a.send[0].len;
		node_reset_out(&w.a);
	}
	size_t at_b = w.b.delivered;
	uint8_t junk[sizeof(struct message_handshake_initiation)];
	struct weft_endpoint from;
	weft_batch_begin(w.b.dev, &w.b.out);
	for (int i = 0; i < 8; i++) {
		weft_receive(w.b.dev, data[i], lens[i], &w.a.addr, &w.b.out);
		h_random(&w.b, junk, sizeof(junk));
		junk[0] = MESSAGE_HANDSHAKE_INITIATION, junk[1] = junk[2] = junk[3] = 0;
		flood_source(&from, (unsigned)i);
		weft_receive(w.b.dev, junk, sizeof(junk), &from, &w.b.out);
		CHECK_EQ(w.b.out.deliver_count, 0);
	}
	CHECK_EQ(drops(&w.b, WEFT_DROP_BAD_MAC1), 8);
	weft_batch_end(w.b.dev);
	CHECK_EQ(w.b.out.deliver_count, 8);
	for (size_t i = 0; i < w.b.out.deliver_count; i++)
		CHECK_EQ(w.b.deliver[i].len, 200 + i);
	world_flush(&w);
	CHECK_EQ(w.b.delivered, at_b + 8);
	world_free(&w);
}

static void cookie_expires(void)
{
	COOKIE_SESSION(36);
	struct message_handshake_initiation m;
	struct message_handshake_cookie reply;
	uint64_t t0 = w.a.peer->cookie.birthdate;
	uint8_t old[COOKIE_LEN], fresh[COOKIE_LEN];
	memcpy(old, w.a.peer->cookie.cookie, COOKIE_LEN);
	CHECK(t0 != 0);
	CHECK_EQ(w.b.dev->cookie_checker.secret_birthdate, t0);

	/* a uses its cookie while the responder surely still has the secret... */
	w.now = t0 + (COOKIE_SECRET_MAX_AGE - COOKIE_SECRET_LATENCY - 1) * SEC;
	CHECK(fresh_initiation(&w.a, &m));
	CHECK(!is_zero(m.macs.mac2, COOKIE_LEN));
	CHECK(b_takes_initiation(&w, &m, &w.a.addr));
	/* ...and not once that is in doubt: then it earns a new reply. */
	w.now = t0 + (COOKIE_SECRET_MAX_AGE - COOKIE_SECRET_LATENCY + 1) * SEC;
	CHECK(fresh_initiation(&w.a, &m));
	CHECK(is_zero(m.macs.mac2, COOKIE_LEN));
	CHECK(earns_cookie_reply(&m, &w.a.addr, NULL));

	/* The old cookie opens the door until the secret turns over... */
	w.now = t0 + (COOKIE_SECRET_MAX_AGE - 1) * SEC;
	CHECK(fresh_initiation(&w.a, &m));
	set_mac2(&m, old);
	CHECK(b_takes_initiation(&w, &m, &w.a.addr));
	/* ...and not after. */
	w.now = t0 + (COOKIE_SECRET_MAX_AGE + 1) * SEC;
	CHECK(fresh_initiation(&w.a, &m));
	set_mac2(&m, old);
	CHECK(earns_cookie_reply(&m, &w.a.addr, &reply));
	CHECK_EQ(w.b.dev->cookie_checker.secret_birthdate, w.now);
	CHECK(open_cookie(&reply, m.macs.mac1, w.b.pub, fresh));
	CHECK(memcmp(fresh, old, COOKIE_LEN) != 0);

	/* The new cookie works. */
	CHECK(accepted(&w.a, &reply, sizeof(reply), &w.b.addr) >= 0);
	CHECK_MEM(w.a.peer->cookie.cookie, fresh, COOKIE_LEN);
	w.now += SEC;
	CHECK(fresh_initiation(&w.a, &m));
	CHECK(b_takes_initiation(&w, &m, &w.a.addr));
	CHECK(session_works(&w));
	world_free(&w);
}

int main(void)
{
	test_suite_name = "engine_load";
	RUN(cookie_reply_then_retry);
	RUN(forged_mac2);
	RUN(cookie_for_ipv6_source);
	RUN(rate_limit);
	RUN(under_load_from_backlog);
	RUN(rate_rule_bounds_x25519);
	RUN(largest_rate_is_not_load);
	RUN(small_backlog_is_not_load);
	RUN(junk_does_not_end_a_batch);
	RUN(cookie_expires);
	TEST_EXIT();
}
