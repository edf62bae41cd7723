/* test_engine_hostile.c: hostile input to the engine. Replayed data and
 * handshakes, counters outside the replay window, forged mac1 and tags,
 * handshakes that fail to authenticate or come from strangers, truncated,
 * oversized and unknown datagrams, unknown receiver indices, inner packets
 * with a wrong source or no sense, forged cookie replies, and a million
 * random datagrams. Each must be dropped and counted under exactly one
 * reason, deliver nothing, answer nothing, and leave the session working.
 * Handshake timing and load (cookies, rate limits) are in
 * test_engine_load.c. */
#include <stddef.h>

#include "test.h"
#include "engine_harness.h"

#define SEC NSEC_PER_SEC
#define MSEC NSEC_PER_MSEC
#define GARBAGE_DATAGRAMS 1000000

static struct world w;

/* An address that is neither a nor b: 198.51.100.1, documentation range. */
static struct weft_endpoint evil;

/* A session both ways; false (and a failed check) if the engine could not
 * make one, so that the case stops instead of following NULL keypairs. */
static bool establish(uint64_t seed)
{
	world_init(&w, seed);
	endpoint4(&evil, 0xc6336401, 6666);
	node_send_ip(&w.a, 100);
	world_flush(&w);
	CHECK(current_keypair(&w.a) && current_keypair(&w.b));
	return current_keypair(&w.a) && current_keypair(&w.b);
}

#define ESTABLISH(seed) do { if (!establish(seed)) { world_free(&w); return; } } while (0)

#define CHECK_DROPPED(n, buf, len, from, why) do { \
	CHECK(dropped_as((n), (buf), (len), (from), (why))); \
	world_flush(&w); } while (0)

static struct recorded copy_of(const struct recorded *r)
{
	struct recorded c = { .len = 0 };
	if (r)
		c = *r;
	return c;
}

static uint64_t counter_of(const struct recorded *r)
{
	uint64_t c;
	memcpy(&c, r->data + offsetof(struct message_data, counter), sizeof(c));
	return le64toh(c);
}

/* A data packet sealed here with n's current keypair, whatever the payload:
 * the way to put inner packets on the wire that weft_send would refuse. */
static size_t seal_data(struct node *n, const uint8_t *payload, size_t len, uint8_t *out)
{
	struct noise_keypair *kp = current_keypair(n);
	uint64_t counter = kp->sending_counter++;
	struct message_data hdr = { .header.type = htole32(MESSAGE_DATA),
				    .key_idx = htole32(kp->remote_index),
				    .counter = htole64(counter) };
	memcpy(out, &hdr, sizeof(hdr));
	aead_seal(out + sizeof(hdr), payload, len, NULL, 0, counter, kp->sending_key);
	return sizeof(hdr) + len + AEAD_TAG_LEN;
}

/* Two data packets in a row from a, lost on the wire and kept here. */
static void hold_back_two(struct recorded held[2])
{
	w.a.cut = true;
	for (int i = 0; i < 2; i++) {
		node_send_ip(&w.a, 100);
		world_flush(&w);
		held[i] = copy_of(last_logged(&w.a, MESSAGE_DATA));
	}
	w.a.cut = false;
}

/* What b's weft_send makes of pkt, caught on the wire before a sees it. */
static struct recorded b_seals(const uint8_t *pkt, size_t len)
{
	size_t logged = w.b.logged;
	w.b.cut = true;
	weft_send(w.b.dev, pkt, len, &w.b.out);
	world_flush(&w);
	w.b.cut = false;
	CHECK_EQ(w.b.logged, logged + 1);
	return copy_of(last_logged(&w.b, MESSAGE_DATA));
}

static void replayed_data(void)
{
	ESTABLISH(11);
	node_send_ip(&w.a, 200);
	world_flush(&w);
	struct recorded data = copy_of(last_logged(&w.a, MESSAGE_DATA));
	CHECK_EQ(w.b.delivered, 2);

	CHECK_DROPPED(&w.b, data.data, data.len, &w.a.addr, WEFT_DROP_REPLAYED_DATA);
	/* From elsewhere: still a replay, and b must not roam there. */
	CHECK_DROPPED(&w.b, data.data, data.len, &evil, WEFT_DROP_REPLAYED_DATA);
	CHECK(same_address(&w.b.peer->endpoint, &w.a.addr));
	/* The first packet of the session, too. */
	struct recorded first = copy_of(first_logged(&w.a, MESSAGE_DATA));
	CHECK_EQ(counter_of(&first), 0);
	CHECK_DROPPED(&w.b, first.data, first.len, &w.a.addr, WEFT_DROP_REPLAYED_DATA);
	CHECK(session_works(&w));
	world_free(&w);
}

/* The window holds the greatest counter and REPLAY_WINDOW below it: c held
 * back while c + 1 + REPLAY_WINDOW arrived is one too old, c + 1 just fits. */
static void counters_outside_window(void)
{
	ESTABLISH(12);
	struct recorded held[2];
	hold_back_two(held);
	uint64_t c1 = counter_of(&held[1]);
	CHECK_EQ(c1, counter_of(&held[0]) + 1);
	CHECK(REPLAY_WINDOW >= 8128); /* the minimum */

	size_t before = w.b.delivered, sent = 0;
	while (current_keypair(&w.a)->sending_counter <= c1 + REPLAY_WINDOW) {
		node_send_ip(&w.a, 64);
		world_flush(&w);
		sent++;
	}
	CHECK_EQ(w.b.delivered, before + sent);
	CHECK_EQ(current_keypair(&w.a)->sending_counter - 1, c1 + REPLAY_WINDOW);

	CHECK_DROPPED(&w.b, held[0].data, held[0].len, &w.a.addr, WEFT_DROP_REPLAYED_DATA);
	CHECK_EQ(accepted(&w.b, held[1].data, held[1].len, &w.a.addr), 1);
	world_flush(&w);
	CHECK_DROPPED(&w.b, held[1].data, held[1].len, &w.a.addr, WEFT_DROP_REPLAYED_DATA);
	/* Seen long ago and now out of the window as well. */
	struct recorded first = copy_of(first_logged(&w.a, MESSAGE_DATA));
	CHECK_DROPPED(&w.b, first.data, first.len, &w.a.addr, WEFT_DROP_REPLAYED_DATA);
	CHECK(session_works(&w));
	world_free(&w);
}

static void replayed_handshake(void)
{
	ESTABLISH(13);
	uint64_t t0 = w.now;
	struct recorded first_init = copy_of(first_logged(&w.a, MESSAGE_HANDSHAKE_INITIATION));
	struct recorded first_resp = copy_of(first_logged(&w.b, MESSAGE_HANDSHAKE_RESPONSE));
	struct message_handshake_initiation fresh;
	CHECK_EQ(first_init.len, sizeof(fresh));

	/* A newer timestamp (one whitening step later), but sooner than
	 * 1/INITIATIONS_PER_SECOND after the last initiation b consumed. */
	uint64_t soon = TIMESTAMP_WHITENING_NS + MSEC / 2;
	CHECK(soon < SEC / INITIATIONS_PER_SECOND);
	w.now = t0 + soon;
	CHECK(fresh_initiation(&w.a, &fresh));
	CHECK_DROPPED(&w.b, &fresh, sizeof(fresh), &w.a.addr, WEFT_DROP_HANDSHAKE_FLOOD);

	/* The same bytes once the interval is over: a new session. */
	w.now = t0 + SEC / INITIATIONS_PER_SECOND + MSEC;
	unsigned responses = w.b.sent[MESSAGE_HANDSHAKE_RESPONSE];
	CHECK_EQ(accepted(&w.b, &fresh, sizeof(fresh), &w.a.addr), 0);
	world_flush(&w);
	CHECK_EQ(w.b.sent[MESSAGE_HANDSHAKE_RESPONSE], responses + 1);
	CHECK(current_keypair(&w.a) && current_keypair(&w.a)->birthdate == w.now);
	CHECK(current_keypair(&w.b) && current_keypair(&w.b)->birthdate == w.now);

	/* Later, those bytes again, and the first initiation: replays, from
	 * anywhere, and they touch neither the session nor the endpoint. */
	w.now = t0 + SEC;
	struct noise_keypair *kp = current_keypair(&w.b);
	uint32_t index = kp ? kp->local_index : 0;
	CHECK_DROPPED(&w.b, &fresh, sizeof(fresh), &w.a.addr, WEFT_DROP_REPLAYED_HANDSHAKE);
	CHECK_DROPPED(&w.b, first_init.data, first_init.len, &w.a.addr, WEFT_DROP_REPLAYED_HANDSHAKE);
	CHECK_DROPPED(&w.b, &fresh, sizeof(fresh), &evil, WEFT_DROP_REPLAYED_HANDSHAKE);
	CHECK(same_address(&w.b.peer->endpoint, &w.a.addr));
	CHECK(kp && current_keypair(&w.b) == kp && kp->local_index == index && !w.b.peer->keypairs.next);
	CHECK_EQ(w.b.peer->handshake.state, HANDSHAKE_ZEROED);

	/* A replayed response finds no handshake waiting for it. */
	kp = current_keypair(&w.a);
	CHECK_DROPPED(&w.a, first_resp.data, first_resp.len, &w.b.addr, WEFT_DROP_UNKNOWN_INDEX);
	CHECK(current_keypair(&w.a) == kp);
	CHECK(session_works(&w));
	world_free(&w);
}

static void forged_mac1(void)
{
	ESTABLISH(14);
	w.now += SEC;
	struct message_handshake_initiation m, f;
	CHECK(fresh_initiation(&w.a, &m));

	/* The engine's mac1 is the whitepaper's. */
	f = m;
	set_mac1(&f, sizeof(f), w.b.pub);
	CHECK_MEM(f.macs.mac1, m.macs.mac1, COOKIE_LEN);

	f = m;
	f.macs.mac1[3] ^= 0x10;
	CHECK_DROPPED(&w.b, &f, sizeof(f), &w.a.addr, WEFT_DROP_BAD_MAC1);
	f = m;
	f.encrypted_timestamp[0] ^= 1; /* mac1 not recomputed */
	CHECK_DROPPED(&w.b, &f, sizeof(f), &w.a.addr, WEFT_DROP_BAD_MAC1);
	f = m;
	f.sender_index ^= 1; /* mac1 covers the header too */
	CHECK_DROPPED(&w.b, &f, sizeof(f), &w.a.addr, WEFT_DROP_BAD_MAC1);
	f = m;
	set_mac1(&f, sizeof(f), w.a.pub); /* keyed for the wrong receiver */
	CHECK_DROPPED(&w.b, &f, sizeof(f), &w.a.addr, WEFT_DROP_BAD_MAC1);
	f = m;
	memset(f.macs.mac1, 0, COOKIE_LEN);
	CHECK_DROPPED(&w.b, &f, sizeof(f), &w.a.addr, WEFT_DROP_BAD_MAC1);

	struct recorded resp = copy_of(first_logged(&w.b, MESSAGE_HANDSHAKE_RESPONSE));
	resp.data[offsetof(struct message_handshake_response, macs.mac1)] ^= 0x01;
	CHECK_DROPPED(&w.a, resp.data, resp.len, &w.b.addr, WEFT_DROP_BAD_MAC1);

	/* The genuine one is still good: none of the forgeries used it up. */
	CHECK(b_takes_initiation(&w, &m, &w.a.addr));
	CHECK(session_works(&w));
	world_free(&w);
}

/* Valid mac1, content that does not authenticate. */
static void handshake_invalid(void)
{
	world_init(&w, 15);
	w.a.cut = true;
	node_send_ip(&w.a, 100);
	world_flush(&w);
	w.a.cut = false;
	struct message_handshake_initiation m, f;
	const struct recorded *init = first_logged(&w.a, MESSAGE_HANDSHAKE_INITIATION);
	CHECK(init && init->len == sizeof(m));
	if (!init) {
		world_free(&w);
		return;
	}
	memcpy(&m, init->data, sizeof(m));

	static const size_t init_flips[] = {
		offsetof(struct message_handshake_initiation, unencrypted_ephemeral) + 5,
		offsetof(struct message_handshake_initiation, encrypted_static),
		offsetof(struct message_handshake_initiation, encrypted_static) + 31,
		offsetof(struct message_handshake_initiation, encrypted_static) + 47, /* tag */
		offsetof(struct message_handshake_initiation, encrypted_timestamp),
		offsetof(struct message_handshake_initiation, encrypted_timestamp) + 27, /* tag */
	};
	for (size_t i = 0; i < sizeof(init_flips) / sizeof(init_flips[0]); i++) {
		f = m;
		((uint8_t *)&f)[init_flips[i]] ^= 0x02;
		set_mac1(&f, sizeof(f), w.b.pub);
		CHECK_DROPPED(&w.b, &f, sizeof(f), &w.a.addr, WEFT_DROP_HANDSHAKE_INVALID);
	}
	f = m;
	memset(f.unencrypted_ephemeral, 0, sizeof(f.unencrypted_ephemeral)); /* low order */
	set_mac1(&f, sizeof(f), w.b.pub);
	CHECK_DROPPED(&w.b, &f, sizeof(f), &w.a.addr, WEFT_DROP_HANDSHAKE_INVALID);
	CHECK_EQ(w.b.peer->handshake.state, HANDSHAKE_ZEROED);

	/* The genuine initiation; b's response is held back for forging. */
	w.b.cut = true;
	CHECK_EQ(accepted(&w.b, &m, sizeof(m), &w.a.addr), 0);
	world_flush(&w);
	w.b.cut = false;
	struct recorded resp = copy_of(first_logged(&w.b, MESSAGE_HANDSHAKE_RESPONSE));
	CHECK_EQ(resp.len, sizeof(struct message_handshake_response));
	static const size_t resp_flips[] = {
		offsetof(struct message_handshake_response, unencrypted_ephemeral) + 9,
		offsetof(struct message_handshake_response, encrypted_nothing),
		offsetof(struct message_handshake_response, encrypted_nothing) + 15,
	};
	for (size_t i = 0; i < sizeof(resp_flips) / sizeof(resp_flips[0]); i++) {
		struct recorded g = resp;
		g.data[resp_flips[i]] ^= 0x40;
		set_mac1(g.data, g.len, w.a.pub);
		CHECK_DROPPED(&w.a, g.data, g.len, &w.b.addr, WEFT_DROP_HANDSHAKE_INVALID);
	}
	CHECK_EQ(w.a.peer->handshake.state, HANDSHAKE_CREATED_INITIATION);
	CHECK(!current_keypair(&w.a));

	CHECK_EQ(accepted(&w.a, resp.data, resp.len, &w.b.addr), 0);
	world_flush(&w);
	CHECK_EQ(w.b.delivered, 1); /* a's staged packet */
	CHECK(session_works(&w));
	world_free(&w);
}

static void unknown_peer_and_no_key(void)
{
	ESTABLISH(16);
	static struct node c; /* a third device, a stranger to b */
	node_init(&w, &c, &w.b, 3);
	c.peer = add_peer(c.dev, w.b.pub);
	weft_peer_set_endpoint(c.peer, &w.b.addr);
	struct message_handshake_initiation m;
	w.now += SEC;
	CHECK(fresh_initiation(&c, &m));
	CHECK_DROPPED(&w.b, &m, sizeof(m), &c.addr, WEFT_DROP_UNKNOWN_PEER);

	/* A device without a private key can answer nothing. */
	weft_device_set_private_key(c.dev, NULL);
	const struct recorded *init = first_logged(&w.a, MESSAGE_HANDSHAKE_INITIATION);
	CHECK(dropped_as(&c, init->data, init->len, &w.a.addr, WEFT_DROP_NO_PRIVATE_KEY));
	weft_device_free(c.dev);
	free(c.log);
	CHECK(session_works(&w));
	world_free(&w);
}

static void forged_data_tag(void)
{
	ESTABLISH(17);
	struct recorded held[2], f;
	hold_back_two(held);

	f = held[0];
	f.data[sizeof(struct message_data) + 3] ^= 0x04; /* ciphertext */
	CHECK_DROPPED(&w.b, f.data, f.len, &evil, WEFT_DROP_DATA_INVALID);
	CHECK(same_address(&w.b.peer->endpoint, &w.a.addr));
	f = held[0];
	f.data[f.len - 1] ^= 0x80; /* tag */
	CHECK_DROPPED(&w.b, f.data, f.len, &w.a.addr, WEFT_DROP_DATA_INVALID);
	f = held[0];
	f.len = MESSAGE_DATA_OVERHEAD; /* cut down to a "keepalive" */
	CHECK_DROPPED(&w.b, f.data, f.len, &w.a.addr, WEFT_DROP_DATA_INVALID);
	/* A counter far ahead: if a forgery could move the window, the genuine
	 * packets would be too old now. */
	f = held[1];
	uint64_t far = htole64(counter_of(&held[1]) + 2 * REPLAY_WINDOW);
	memcpy(f.data + offsetof(struct message_data, counter), &far, sizeof(far));
	CHECK_DROPPED(&w.b, f.data, f.len, &w.a.addr, WEFT_DROP_DATA_INVALID);
	CHECK(current_keypair(&w.b) &&
	      current_keypair(&w.b)->receiving_counter.greatest <= counter_of(&held[0]));

	CHECK_EQ(accepted(&w.b, held[1].data, held[1].len, &w.a.addr), 1);
	CHECK_EQ(accepted(&w.b, held[0].data, held[0].len, &w.a.addr), 1);
	world_flush(&w);
	CHECK(session_works(&w));
	world_free(&w);
}

static void check_malformed(const uint8_t *msg, size_t len, unsigned *bad)
{
	if (!dropped_as(&w.b, msg, len, &w.a.addr, WEFT_DROP_MALFORMED))
		++*bad;
	world_flush(&w);
}

static void malformed(void)
{
	ESTABLISH(18);
	static uint8_t big[MESSAGE_MAX_LENGTH + 4096];
	uint8_t buf[256];
	unsigned bad = 0;
	w.now += SEC;
	struct message_handshake_initiation init;
	CHECK(fresh_initiation(&w.a, &init));
	struct recorded resp = copy_of(first_logged(&w.b, MESSAGE_HANDSHAKE_RESPONSE));
	struct recorded data = copy_of(last_logged(&w.a, MESSAGE_DATA));
	struct message_handshake_cookie cookie = { .header.type = htole32(MESSAGE_HANDSHAKE_COOKIE),
						   .receiver_index = htole32(current_keypair(&w.a)->local_index) };

	/* Every truncation, and one byte too many. */
	for (size_t len = 0; len <= sizeof(init); len++) {
		memset(buf, 0, sizeof(buf));
		memcpy(buf, &init, len < sizeof(init) ? len : sizeof(init));
		check_malformed(buf, len == sizeof(init) ? len + 1 : len, &bad);
	}
	for (size_t len = 0; len <= resp.len; len++) {
		memset(buf, 0, sizeof(buf));
		memcpy(buf, resp.data, len < resp.len ? len : resp.len);
		check_malformed(buf, len == resp.len ? len + 1 : len, &bad);
	}
	for (size_t len = 0; len <= sizeof(cookie); len++) {
		memset(buf, 0, sizeof(buf));
		memcpy(buf, &cookie, len < sizeof(cookie) ? len : sizeof(cookie));
		check_malformed(buf, len == sizeof(cookie) ? len + 1 : len, &bad);
	}
	for (size_t len = 0; len < MESSAGE_MINIMUM_LENGTH; len++)
		check_malformed(data.data, len, &bad);
	CHECK_EQ(bad, 0);

	/* Oversized: longer than any UDP payload, with a plausible header. */
	memcpy(big, data.data, data.len);
	for (size_t len = MESSAGE_MAX_LENGTH + 1; len <= sizeof(big); len += 1000)
		check_malformed(big, len, &bad);
	memcpy(big, &init, sizeof(init));
	check_malformed(big, MESSAGE_MAX_LENGTH + 1, &bad);
	CHECK_EQ(bad, 0);

	/* Unknown types, and known ones with reserved bytes set. */
	static const uint32_t types[] = { 0, 5, 6, 0xff, 0x100, 0x101, 0x10001, 0x1000001,
					  0x1000004, 0x104, 0xffffffff, 0x80000002 };
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		uint32_t t = htole32(types[i]);
		struct message_handshake_initiation g = init;
		memcpy(&g, &t, sizeof(t));
		check_malformed((uint8_t *)&g, sizeof(g), &bad);
		struct recorded d = data;
		memcpy(d.data, &t, sizeof(t));
		check_malformed(d.data, d.len, &bad);
		memcpy(buf, resp.data, resp.len);
		memcpy(buf, &t, sizeof(t));
		check_malformed(buf, resp.len, &bad);
	}
	CHECK_EQ(bad, 0);

	/* None of it spent the genuine initiation or data. */
	CHECK(b_takes_initiation(&w, &init, &w.a.addr));
	CHECK(session_works(&w));
	world_free(&w);
}

static void unknown_index(void)
{
	ESTABLISH(19);
	struct recorded data = copy_of(last_logged(&w.a, MESSAGE_DATA));
	uint32_t stranger = ~current_keypair(&w.b)->local_index;
	while (!stranger || index_lookup(w.b.dev, stranger))
		stranger++;
	uint32_t le = htole32(stranger);
	memcpy(data.data + offsetof(struct message_data, key_idx), &le, sizeof(le));
	CHECK_DROPPED(&w.b, data.data, data.len, &w.a.addr, WEFT_DROP_UNKNOWN_INDEX);

	struct recorded resp = copy_of(first_logged(&w.b, MESSAGE_HANDSHAKE_RESPONSE));
	while (!stranger || index_lookup(w.a.dev, stranger))
		stranger++;
	le = htole32(stranger);
	memcpy(resp.data + offsetof(struct message_handshake_response, receiver_index), &le, sizeof(le));
	set_mac1(resp.data, resp.len, w.a.pub);
	CHECK_DROPPED(&w.a, resp.data, resp.len, &w.b.addr, WEFT_DROP_UNKNOWN_INDEX);

	struct message_handshake_cookie cookie = { .header.type = htole32(MESSAGE_HANDSHAKE_COOKIE),
						   .receiver_index = le };
	CHECK_DROPPED(&w.a, &cookie, sizeof(cookie), &w.b.addr, WEFT_DROP_UNKNOWN_INDEX);

	/* A data packet aimed at a handshake's index, not a keypair's. */
	struct message_handshake_initiation m;
	w.now += SEC;
	CHECK(fresh_initiation(&w.b, &m));
	CHECK(index_lookup(w.b.dev, le32toh(m.sender_index)) != NULL);
	data = copy_of(last_logged(&w.a, MESSAGE_DATA));
	memcpy(data.data + offsetof(struct message_data, key_idx), &m.sender_index, sizeof(le));
	CHECK_DROPPED(&w.b, data.data, data.len, &w.a.addr, WEFT_DROP_UNKNOWN_INDEX);
	CHECK(session_works(&w));
	world_free(&w);
}

static void wrong_source_and_bad_inner(void)
{
	ESTABLISH(20);
	uint8_t pkt[256], sealed[512];
	struct recorded r;
	static const uint8_t outsider[4] = { 10, 9, 9, 9 }, third[4] = { 10, 0, 0, 3 };
	static const uint8_t a6[16] = { 0xfd, [15] = 1 }, b6[16] = { 0xfd, [15] = 2 };

	make_ipv4(pkt, outsider, w.a.tunnel_ip, 100);
	r = b_seals(pkt, 100);
	CHECK_DROPPED(&w.a, r.data, r.len, &w.b.addr, WEFT_DROP_WRONG_SOURCE);

	/* A source that a has, but for another peer. */
	uint8_t other_key[32];
	h_random(&w.a, other_key, sizeof(other_key));
	struct weft_peer *c = add_peer(w.a.dev, other_key);
	CHECK(c && weft_peer_allowed_ip_add(c, AF_INET, third, 32) == 0);
	make_ipv4(pkt, third, w.a.tunnel_ip, 100);
	r = b_seals(pkt, 100);
	CHECK_DROPPED(&w.a, r.data, r.len, &w.b.addr, WEFT_DROP_WRONG_SOURCE);

	/* IPv6 from an address a does not allow b; allowed, it passes. */
	CHECK_EQ(weft_peer_allowed_ip_add(w.b.peer, AF_INET6, a6, 128), 0);
	memset(pkt, 0, 80);
	pkt[0] = 0x60;
	pkt[5] = 40; /* payload length */
	pkt[6] = 17;
	pkt[7] = 64;
	memcpy(pkt + 8, b6, 16);
	memcpy(pkt + 24, a6, 16);
	r = b_seals(pkt, 80);
	CHECK_DROPPED(&w.a, r.data, r.len, &w.b.addr, WEFT_DROP_WRONG_SOURCE);
	CHECK_EQ(weft_peer_allowed_ip_add(w.a.peer, AF_INET6, b6, 128), 0);
	r = b_seals(pkt, 80);
	CHECK_EQ(accepted(&w.a, r.data, r.len, &w.b.addr), 1);
	world_flush(&w);

	/* Lengths that lie: weft_send lets these through, a must not. */
	make_ipv4(pkt, w.b.tunnel_ip, w.a.tunnel_ip, 100);
	pkt[2] = 0, pkt[3] = 200; /* total length beyond the payload */
	r = b_seals(pkt, 100);
	CHECK_DROPPED(&w.a, r.data, r.len, &w.b.addr, WEFT_DROP_BAD_INNER);
	pkt[3] = 19; /* shorter than its own header */
	r = b_seals(pkt, 100);
	CHECK_DROPPED(&w.a, r.data, r.len, &w.b.addr, WEFT_DROP_BAD_INNER);
	memset(pkt, 0, 60);
	pkt[0] = 0x60;
	pkt[5] = 100; /* payload length beyond the packet */
	memcpy(pkt + 8, b6, 16);
	memcpy(pkt + 24, a6, 16);
	r = b_seals(pkt, 60);
	CHECK_DROPPED(&w.a, r.data, r.len, &w.b.addr, WEFT_DROP_BAD_INNER);

	/* Sealed here: not IP at all, or too short to be. First a control. */
	make_ipv4(pkt, w.b.tunnel_ip, w.a.tunnel_ip, 64);
	size_t n = seal_data(&w.b, pkt, 64, sealed);
	CHECK_EQ(accepted(&w.a, sealed, n, &w.b.addr), 1);
	world_flush(&w);
	static const struct { uint8_t first; size_t len; } junk[] = {
		{ 0x55, 64 }, { 0x00, 48 }, { 0xf4, 64 }, { 0x45, 19 }, { 0x45, 1 }, { 0x60, 39 }, { 0x60, 1 },
	};
	for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
		make_ipv4(pkt, w.b.tunnel_ip, w.a.tunnel_ip, 64);
		pkt[0] = junk[i].first;
		n = seal_data(&w.b, pkt, junk[i].len, sealed);
		CHECK_DROPPED(&w.a, sealed, n, &w.b.addr, WEFT_DROP_BAD_INNER);
	}
	CHECK(session_works(&w));
	world_free(&w);
}

static void bad_cookie(void)
{
	ESTABLISH(21);
	/* a has sent a mac1 (its initiation) and waits for no cookie. */
	struct message_handshake_cookie reply = { .header.type = htole32(MESSAGE_HANDSHAKE_COOKIE),
						  .receiver_index = htole32(current_keypair(&w.a)->local_index) };
	h_random(&w.a, reply.nonce, sizeof(reply.nonce));
	h_random(&w.a, reply.encrypted_cookie, sizeof(reply.encrypted_cookie));
	CHECK_DROPPED(&w.a, &reply, sizeof(reply), &evil, WEFT_DROP_BAD_COOKIE);
	CHECK(same_address(&w.a.peer->endpoint, &w.b.addr));
	CHECK_EQ(w.a.peer->cookie.birthdate, 0);

	/* A genuine reply from b under load, then tampered, replayed, stale. */
	weft_device_set_under_load(w.b.dev, true);
	w.now += SEC;
	struct message_handshake_initiation m;
	CHECK(fresh_initiation(&w.a, &m));
	CHECK(dropped_as(&w.b, &m, sizeof(m), &w.a.addr, WEFT_DROP_BAD_MAC2));
	CHECK_EQ(w.b.out.send_count, 1);
	CHECK_EQ(w.b.send[0].len, sizeof(reply));
	memcpy(&reply, w.b.send[0].data, sizeof(reply));
	node_reset_out(&w.b);
	CHECK_EQ(le32toh(reply.header.type), MESSAGE_HANDSHAKE_COOKIE);
	CHECK_EQ(reply.receiver_index, m.sender_index);

	struct message_handshake_cookie f = reply;
	f.encrypted_cookie[0] ^= 1;
	CHECK_DROPPED(&w.a, &f, sizeof(f), &w.b.addr, WEFT_DROP_BAD_COOKIE);
	f = reply;
	f.nonce[COOKIE_NONCE_LEN - 1] ^= 1;
	CHECK_DROPPED(&w.a, &f, sizeof(f), &w.b.addr, WEFT_DROP_BAD_COOKIE);
	CHECK_EQ(w.a.peer->cookie.birthdate, 0);

	/* Genuine, from elsewhere: the cookie is taken, the endpoint stays. */
	CHECK_EQ(accepted(&w.a, &reply, sizeof(reply), &evil), 0);
	CHECK_EQ(w.a.peer->cookie.birthdate, w.now);
	CHECK(same_address(&w.a.peer->endpoint, &w.b.addr));
	world_flush(&w);
	CHECK_DROPPED(&w.a, &reply, sizeof(reply), &w.b.addr, WEFT_DROP_BAD_COOKIE);
	/* Bound to the mac1 it answered: useless for a newer message (even
	 * sent to that message's index, which the tag does not cover). */
	CHECK(fresh_initiation(&w.a, &m));
	reply.receiver_index = m.sender_index;
	CHECK_DROPPED(&w.a, &reply, sizeof(reply), &w.b.addr, WEFT_DROP_BAD_COOKIE);
	CHECK(same_address(&w.a.peer->endpoint, &w.b.addr));

	weft_device_set_under_load(w.b.dev, false);
	CHECK(session_works(&w));
	world_free(&w);
}

/* The garbage comes from test.h's generator, apart from the engines'
 * (seeded in random_datagrams). */
static void fill(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i += 8) {
		uint64_t r = test_rnd();
		memcpy(p + i, &r, n - i < 8 ? n - i : 8);
	}
}

static void put32(uint8_t *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, sizeof(v));
}

/* One random datagram with a header that looks right more often than not:
 * real types and lengths, b's real receiver indices, now and then a valid
 * mac1 so that it gets as far as the Diffie-Hellman work. */
static size_t garbage(uint8_t *buf, uint32_t keypair_index, uint32_t handshake_index)
{
	static const size_t edges[] = { 0, 1, 3, 4, 5, 31, 32, 33, 63, 64, 65, 91, 92, 93,
					147, 148, 149, MESSAGE_MAX_LENGTH, MESSAGE_MAX_LENGTH + 1 };
	uint64_t r = test_rnd();
	uint32_t index = (r >> 8) & 1 ? keypair_index : (r >> 9) & 1 ? handshake_index : (uint32_t)test_rnd();
	bool mac1 = ((r >> 10) & 15) == 0;
	size_t len;
	switch (r & 7) {
	case 0:
		len = (r >> 16) % 2048;
		fill(buf, len);
		return len;
	case 1:
		len = sizeof(struct message_handshake_initiation);
		fill(buf, len);
		put32(buf, MESSAGE_HANDSHAKE_INITIATION);
		break;
	case 2:
		len = sizeof(struct message_handshake_response);
		fill(buf, len);
		put32(buf, MESSAGE_HANDSHAKE_RESPONSE);
		put32(buf + offsetof(struct message_handshake_response, receiver_index), index);
		break;
	case 3:
		len = sizeof(struct message_handshake_cookie);
		fill(buf, len);
		put32(buf, MESSAGE_HANDSHAKE_COOKIE);
		put32(buf + offsetof(struct message_handshake_cookie, receiver_index), index);
		return len;
	case 4:
	case 5: {
		len = MESSAGE_DATA_OVERHEAD + (r >> 16) % 1440;
		fill(buf, len < 256 ? len : 256); /* the rest stays random from before */
		put32(buf, MESSAGE_DATA);
		put32(buf + offsetof(struct message_data, key_idx), index);
		uint64_t counter = (r >> 24) & 1 ? (r >> 32) % 64 : (r >> 25) & 1 ? ~(r >> 40) : test_rnd();
		counter = htole64(counter);
		memcpy(buf + offsetof(struct message_data, counter), &counter, sizeof(counter));
		return len;
	}
	case 6:
		len = edges[(r >> 16) % (sizeof(edges) / sizeof(edges[0]))];
		fill(buf, len < 256 ? len : 256);
		if (len >= 4)
			put32(buf, 1 + (uint32_t)((r >> 32) % 4));
		return len;
	default:
		len = (r >> 16) % 256;
		fill(buf, len);
		if (len >= 4)
			put32(buf, (1 + (uint32_t)((r >> 32) % 4)) | (uint32_t)(test_rnd() | 1) << 8);
		return len;
	}
	if (mac1)
		set_mac1(buf, len, w.b.pub);
	return len;
}

static void random_endpoint(struct weft_endpoint *ep)
{
	uint64_t r = test_rnd();
	switch (r & 3) {
	case 0:
		*ep = w.a.addr;
		break;
	case 1:
		endpoint4(ep, (uint32_t)(r >> 16), (uint16_t)(r >> 48));
		break;
	case 2:
		memset(ep, 0, sizeof(*ep));
		ep->addr.in6.sin6_family = AF_INET6;
		fill((uint8_t *)&ep->addr.in6.sin6_addr, 16);
		ep->addr.in6.sin6_port = (uint16_t)(r >> 48);
		break;
	default:
		memset(ep, 0, sizeof(*ep)); /* AF_UNSPEC: a caller's mistake */
		break;
	}
}

static void random_datagrams(void)
{
	ESTABLISH(22);
	test_seed(0x243f6a8885a308d3ULL);
	static uint8_t buf[MESSAGE_MAX_LENGTH + 2];
	fill(buf, sizeof(buf));
	struct message_handshake_initiation m;
	fresh_initiation(&w.b, &m); /* so that b has a handshake index too */
	uint32_t keypair_index = current_keypair(&w.b)->local_index;
	uint32_t handshake_index = w.b.peer->handshake.local_index;
	uint64_t before[WEFT_DROP_COUNT];
	for (int r = 0; r < WEFT_DROP_COUNT; r++)
		before[r] = weft_device_drops(w.b.dev, (enum weft_drop)r);

	unsigned long uncounted = 0, delivered = 0;
	uint64_t total = drops_total(w.b.dev);
	for (long i = 0; i < GARBAGE_DATAGRAMS; i++) {
		struct weft_endpoint from;
		size_t len = garbage(buf, keypair_index, handshake_index);
		random_endpoint(&from);
		w.now += 1000; /* a microsecond apart */
		/* the second half meets b under load (mac2, rate limits) */
		weft_device_set_under_load(w.b.dev, i >= GARBAGE_DATAGRAMS / 2);
		weft_receive(w.b.dev, buf, len, &from, &w.b.out);
		delivered += w.b.out.deliver_count;
		node_reset_out(&w.b);
		uint64_t now_total = drops_total(w.b.dev);
		if (now_total != total + 1)
			uncounted++;
		total = now_total;
	}
	CHECK_EQ(uncounted, 0);
	CHECK_EQ(delivered, 0);
	/* The garbage reached every layer, not just the length check. */
	static const enum weft_drop reached[] = {
		WEFT_DROP_MALFORMED, WEFT_DROP_BAD_MAC1, WEFT_DROP_BAD_MAC2, WEFT_DROP_HANDSHAKE_INVALID,
		WEFT_DROP_UNKNOWN_INDEX, WEFT_DROP_BAD_COOKIE, WEFT_DROP_DATA_INVALID, WEFT_DROP_REPLAYED_DATA,
	};
	for (size_t i = 0; i < sizeof(reached) / sizeof(reached[0]); i++) {
		uint64_t got = weft_device_drops(w.b.dev, reached[i]) - before[reached[i]];
		if (!got)
			fprintf(stderr, "  no garbage was dropped as %s\n", weft_drop_name(reached[i]));
		CHECK(got > 0);
	}
	CHECK(same_address(&w.b.peer->endpoint, &w.a.addr));
	CHECK(session_works(&w));
	world_free(&w);
}

int main(void)
{
	test_suite_name = "engine_hostile";
	RUN(replayed_data);
	RUN(counters_outside_window);
	RUN(replayed_handshake);
	RUN(forged_mac1);
	RUN(handshake_invalid);
	RUN(unknown_peer_and_no_key);
	RUN(forged_data_tag);
	RUN(malformed);
	RUN(unknown_index);
	RUN(wrong_source_and_bad_inner);
	RUN(bad_cookie);
	RUN(random_datagrams);
	TEST_EXIT();
}
