/* test_engine.c: two engines in memory under a virtual clock: handshakes
 * from either side and at once, data both ways, rekeying by time and by
 * message count, expiry, retransmission, keepalives, key erasure, roaming
 * and a PSK mismatch. Hostile input and load are in test_engine_hostile.c
 * and test_engine_load.c. */
#include <errno.h>

#include "test.h"
#include "engine_harness.h"

#define SEC NSEC_PER_SEC

static struct world w;

/* a sends one packet, everything settles: a session exists both ways. */
static void establish(void)
{
	node_send_ip(&w.a, 100);
	world_flush(&w);
}

static void handshake_from_a(void)
{
	world_init(&w, 1);
	establish();
	CHECK_EQ(w.a.sent[MESSAGE_HANDSHAKE_INITIATION], 1);
	CHECK_EQ(w.b.sent[MESSAGE_HANDSHAKE_RESPONSE], 1);
	CHECK(current_keypair(&w.a) && current_keypair(&w.a)->i_am_the_initiator);
	CHECK(current_keypair(&w.b) && !current_keypair(&w.b)->i_am_the_initiator);
	CHECK_EQ(w.b.delivered, 1); /* the staged packet went out after the handshake */
	CHECK_EQ(w.b.delivered_bytes, 100);
	/* b learnt a's endpoint from the handshake and can answer */
	node_send_ip(&w.b, 60);
	world_flush(&w);
	CHECK_EQ(w.a.delivered, 1);
	CHECK_EQ(w.a.sent[MESSAGE_HANDSHAKE_INITIATION] + w.b.sent[MESSAGE_HANDSHAKE_INITIATION], 1);
	struct weft_peer_info info;
	weft_peer_get_info(w.b.peer, &info);
	CHECK(info.has_endpoint);
	CHECK(info.last_handshake_wall_ns > 0);
	CHECK(info.rx_bytes > 0 && info.tx_bytes > 0);
	/* a datagram the caller could not send does not count as sent */
	node_send_ip(&w.b, 60);
	CHECK_EQ(w.b.out.send_count, 1);
	weft_packet_unsent(&w.b.send[0]);
	struct weft_peer_info after;
	weft_peer_get_info(w.b.peer, &after);
	CHECK_EQ(after.tx_bytes, info.tx_bytes);
	node_reset_out(&w.b);
	world_free(&w);
}

static void handshake_from_b(void)
{
	world_init(&w, 2);
	weft_peer_set_endpoint(w.b.peer, &w.a.addr);
	node_send_ip(&w.b, 80);
	world_flush(&w);
	CHECK_EQ(w.b.sent[MESSAGE_HANDSHAKE_INITIATION], 1);
	CHECK_EQ(w.a.sent[MESSAGE_HANDSHAKE_RESPONSE], 1);
	CHECK_EQ(w.a.delivered, 1);
	CHECK(current_keypair(&w.b) && current_keypair(&w.b)->i_am_the_initiator);
	world_free(&w);
}

static void handshake_simultaneous(void)
{
	world_init(&w, 3);
	weft_peer_set_endpoint(w.b.peer, &w.a.addr);
	node_send_ip(&w.a, 100);
	node_send_ip(&w.b, 100);
	world_flush(&w);
	/* Crossing initiations supersede each other; the retransmission timer
	 * settles it within one REKEY_TIMEOUT plus jitter. */
	world_advance(&w, 6 * SEC);
	CHECK(current_keypair(&w.a) != NULL);
	CHECK(current_keypair(&w.b) != NULL);
	CHECK_EQ(w.a.delivered, 1);
	CHECK_EQ(w.b.delivered, 1);
	size_t before_a = w.a.delivered, before_b = w.b.delivered;
	node_send_ip(&w.a, 200);
	node_send_ip(&w.b, 300);
	world_flush(&w);
	CHECK_EQ(w.b.delivered, before_b + 1);
	CHECK_EQ(w.a.delivered, before_a + 1);
	world_free(&w);
}

static void data_both_ways_and_padding(void)
{
	world_init(&w, 4);
	establish();
	size_t sizes[] = { 20, 21, 33, 100, 1000, 1419, 1420 };
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t before = w.a.logged;
		node_send_ip(&w.a, sizes[i]);
		CHECK_EQ(w.a.out.send_count, 1);
		size_t expect = sizes[i] >= 1420 ? sizes[i] : ((sizes[i] + 15) / 16) * 16;
		if (expect > 1420)
			expect = 1420;
		CHECK_EQ(w.a.send[0].len, 32 + expect);
		world_flush(&w);
		CHECK_EQ(w.a.logged, before + 1);
	}
	size_t got_b = w.b.delivered, got_a = w.a.delivered;
	for (int i = 0; i < 1000; i++) {
		node_send_ip(&w.a, 20 + i % 1400);
		node_send_ip(&w.b, 20 + (i * 7) % 1400);
		world_flush(&w);
	}
	CHECK_EQ(w.b.delivered, got_b + 1000);
	CHECK_EQ(w.a.delivered, got_a + 1000);
	CHECK_EQ(weft_device_drops(w.a.dev, WEFT_DROP_REPLAYED_DATA), 0);
	CHECK_EQ(weft_device_drops(w.b.dev, WEFT_DROP_DATA_INVALID), 0);
	world_free(&w);
}

static void ipv6_inside(void)
{
	world_init(&w, 5);
	uint8_t a6[16] = { 0xfd, 0, [15] = 1 }, b6[16] = { 0xfd, 0, [15] = 2 };
	weft_peer_allowed_ip_add(w.a.peer, AF_INET6, b6, 128);
	weft_peer_allowed_ip_add(w.b.peer, AF_INET6, a6, 128);
	uint8_t pkt[80] = { 0x60 };
	pkt[5] = 40; /* payload length */
	pkt[6] = 17;
	memcpy(pkt + 8, a6, 16);
	memcpy(pkt + 24, b6, 16);
	weft_send(w.a.dev, pkt, sizeof(pkt), &w.a.out);
	world_flush(&w);
	CHECK_EQ(w.b.delivered, 1);
	CHECK_EQ(w.b.delivered_bytes, 80);
	world_free(&w);
}

static void rekey_after_time(void)
{
	world_init(&w, 6);
	establish();
	uint32_t first = current_keypair(&w.a)->local_index;
	/* steady traffic both ways, one packet a second */
	for (int t = 0; t < 130; t++) {
		node_send_ip(&w.a, 100);
		node_send_ip(&w.b, 100);
		world_advance(&w, SEC);
	}
	CHECK_EQ(w.a.sent[MESSAGE_HANDSHAKE_INITIATION], 2);
	CHECK_EQ(w.b.sent[MESSAGE_HANDSHAKE_INITIATION], 0);
	CHECK(current_keypair(&w.a)->local_index != first);
	CHECK_EQ(w.b.delivered, 131); /* with establish()'s packet */
	CHECK_EQ(w.a.delivered, 130);
	world_free(&w);
}

static void rekey_after_messages(void)
{
	world_init(&w, 7);
	establish();
	world_advance(&w, (REKEY_TIMEOUT + 1) * SEC); /* initiations are rate limited */
	current_keypair(&w.a)->sending_counter = REKEY_AFTER_MESSAGES - 1;
	node_send_ip(&w.a, 100);
	world_flush(&w);
	CHECK_EQ(w.a.sent[MESSAGE_HANDSHAKE_INITIATION], 1); /* not yet over the limit */
	node_send_ip(&w.a, 100);
	world_flush(&w);
	CHECK_EQ(w.a.sent[MESSAGE_HANDSHAKE_INITIATION], 2);
	CHECK(current_keypair(&w.a)->sending_counter < 10);
	/* the responder rekeys by count too, although it never does by time */
	current_keypair(&w.b)->sending_counter = REKEY_AFTER_MESSAGES + 1;
	world_advance(&w, 6 * SEC); /* past a's REKEY_TIMEOUT rate limit on b's side too */
	node_send_ip(&w.b, 100);
	world_flush(&w);
	CHECK_EQ(w.b.sent[MESSAGE_HANDSHAKE_INITIATION], 1);
	/* at REJECT_AFTER_MESSAGES a keypair is not used at all: the packet is
	 * staged and none of what a queues is data (sent[] counts only at a
	 * flush, so it cannot tell) */
	current_keypair(&w.a)->sending_counter = REJECT_AFTER_MESSAGES;
	node_send_ip(&w.a, 100);
	CHECK_EQ(queued(&w.a, MESSAGE_DATA), 0);
	CHECK_EQ(w.a.peer->staged_count, 1);
	world_free(&w);
}

static void reject_after_time(void)
{
	world_init(&w, 8);
	establish();
	node_send_ip(&w.a, 100);
	struct recorded late = { 0 };
	memcpy(late.data, w.a.send[0].data, w.a.send[0].len);
	late.len = w.a.send[0].len;
	node_reset_out(&w.a); /* lost on the wire */
	w.a.cut = w.b.cut = true;
	world_advance(&w, (REJECT_AFTER_TIME + 1) * SEC);
	/* b refuses a packet under a keypair older than 180 s */
	uint64_t before = weft_device_drops(w.b.dev, WEFT_DROP_KEY_EXPIRED);
	weft_receive(w.b.dev, late.data, late.len, &w.a.addr, &w.b.out);
	CHECK_EQ(weft_device_drops(w.b.dev, WEFT_DROP_KEY_EXPIRED), before + 1);
	CHECK_EQ(w.b.out.deliver_count, 0);
	/* and a does not encrypt under it: it stages and starts a handshake */
	unsigned data_before = w.a.sent[MESSAGE_DATA];
	w.a.cut = w.b.cut = false;
	node_send_ip(&w.a, 100);
	CHECK_EQ(w.a.out.send_count, 1);
	CHECK_EQ(classify(w.a.send[0].data, w.a.send[0].len), MESSAGE_HANDSHAKE_INITIATION);
	world_flush(&w);
	CHECK(w.a.sent[MESSAGE_DATA] > data_before);
	CHECK_EQ(w.b.delivered, 2);
	world_free(&w);
}

static void retransmit_then_give_up(void)
{
	world_init(&w, 9);
	w.a.cut = true;
	uint64_t start = w.now;
	node_send_ip(&w.a, 100);
	world_flush(&w);
	CHECK_EQ(w.a.sent[MESSAGE_HANDSHAKE_INITIATION], 1);
	/* every REKEY_TIMEOUT plus up to 1/3 s of jitter */
	for (int i = 1; i <= 5; i++) {
		world_advance_to(&w, start + (uint64_t)i * REKEY_TIMEOUT * SEC - SEC / 100);
		CHECK_EQ(w.a.sent[MESSAGE_HANDSHAKE_INITIATION], (unsigned)i);
		world_advance_to(&w, start + (uint64_t)i * (REKEY_TIMEOUT * SEC + SEC / 3) + SEC / 100);
		CHECK_EQ(w.a.sent[MESSAGE_HANDSHAKE_INITIATION], (unsigned)i + 1);
	}
	CHECK_EQ(w.a.peer->staged_count, 1);
	/* ... until REKEY_ATTEMPT_TIME has passed: then it gives up */
	world_advance_to(&w, start + 110 * SEC);
	unsigned sent = w.a.sent[MESSAGE_HANDSHAKE_INITIATION];
	CHECK(sent >= 18 && sent <= 20);
	CHECK_EQ(w.a.peer->staged_count, 0);
	CHECK_EQ(weft_device_drops(w.a.dev, WEFT_DROP_STAGED_EXPIRED), 1);
	world_advance(&w, 60 * SEC);
	CHECK_EQ(w.a.sent[MESSAGE_HANDSHAKE_INITIATION], sent);
	world_free(&w);
}

static void passive_keepalive(void)
{
	world_init(&w, 10);
	establish(); /* a's staged packet confirmed the session; b got data */
	unsigned ka = w.b.sent[5];
	world_advance(&w, (KEEPALIVE_TIMEOUT - 1) * SEC);
	CHECK_EQ(w.b.sent[5], ka);
	world_advance(&w, 2 * SEC);
	CHECK_EQ(w.b.sent[5], ka + 1); /* b answered a's data with a keepalive */
	world_advance(&w, 60 * SEC);
	CHECK_EQ(w.b.sent[5], ka + 1); /* and only once */
	/* if b has data to send back, no keepalive is needed */
	node_send_ip(&w.a, 100);
	world_flush(&w);
	world_advance(&w, 2 * SEC);
	node_send_ip(&w.b, 100);
	world_flush(&w);
	world_advance(&w, 20 * SEC);
	CHECK_EQ(w.b.sent[5], ka + 1);
	world_free(&w);
}

static void new_handshake_when_unanswered(void)
{
	world_init(&w, 11);
	establish();
	world_advance(&w, 20 * SEC);
	w.b.cut = true; /* a's data gets no answer */
	unsigned init = w.a.sent[MESSAGE_HANDSHAKE_INITIATION];
	node_send_ip(&w.a, 100);
	world_flush(&w);
	world_advance(&w, (KEEPALIVE_TIMEOUT + REKEY_TIMEOUT) * SEC - SEC / 10);
	CHECK_EQ(w.a.sent[MESSAGE_HANDSHAKE_INITIATION], init);
	world_advance(&w, SEC / 2);
	CHECK_EQ(w.a.sent[MESSAGE_HANDSHAKE_INITIATION], init + 1);
	world_free(&w);
}

static void persistent_keepalive(void)
{
	world_init(&w, 12);
	establish();
	world_advance(&w, 5 * SEC); /* short of REKEY_AFTER_TIME at the end */
	unsigned ka = w.a.sent[5];
	weft_peer_set_persistent_keepalive(w.a.peer, 25);
	world_advance(&w, 1); /* setting it sends one at once */
	CHECK_EQ(w.a.sent[5], ka + 1);
	world_advance(&w, 100 * SEC);
	/* b's passive keepalive (5 s later) restarts a's interval: a sends at
	 * +0, then +30, +55, +80 */
	CHECK_EQ(w.a.sent[5], ka + 4);
	weft_peer_set_persistent_keepalive(w.a.peer, 0);
	world_advance(&w, 100 * SEC);
	unsigned after_off = w.a.sent[5];
	world_advance(&w, 100 * SEC);
	CHECK_EQ(w.a.sent[5], after_off);
	world_free(&w);
}

static void keys_zeroed_after_540s(void)
{
	world_init(&w, 13);
	establish();
	CHECK(w.a.peer->keypairs.current != NULL);
	world_advance(&w, (REJECT_AFTER_TIME * 3 - 1) * SEC);
	CHECK(w.a.peer->keypairs.current != NULL);
	world_advance(&w, 2 * SEC);
	CHECK(w.a.peer->keypairs.current == NULL && w.a.peer->keypairs.previous == NULL &&
	      w.a.peer->keypairs.next == NULL);
	CHECK(w.b.peer->keypairs.current == NULL && w.b.peer->keypairs.next == NULL);
	CHECK_EQ(w.a.peer->handshake.state, HANDSHAKE_ZEROED);
	CHECK_EQ(w.a.dev->indices.count, 0); /* nothing left to address */
	/* and a new packet starts over cleanly */
	node_send_ip(&w.a, 100);
	world_flush(&w);
	CHECK_EQ(w.b.delivered, 2);
	world_free(&w);
}

static void roaming(void)
{
	world_init(&w, 14);
	establish();
	endpoint4(&w.a.addr, 0xc6336401, 4444); /* a moves to 198.51.100.1:4444 */
	node_send_ip(&w.a, 100);
	world_flush(&w);
	CHECK_EQ(w.b.peer->endpoint.addr.in4.sin_addr.s_addr, htonl(0xc6336401));
	CHECK_EQ(ntohs(w.b.peer->endpoint.addr.in4.sin_port), 4444);
	node_send_ip(&w.b, 100);
	CHECK_EQ(w.b.send[0].endpoint.addr.in4.sin_port, htons(4444));
	world_flush(&w);
	CHECK_EQ(w.a.delivered, 1);
	/* a datagram that fails authentication does not move the endpoint */
	uint8_t junk[64] = { 4 };
	memcpy(junk + 4, &current_keypair(&w.a)->remote_index, 4);
	struct weft_endpoint evil;
	endpoint4(&evil, 0xcb007101, 666);
	weft_receive(w.b.dev, junk, sizeof(junk), &evil, &w.b.out);
	CHECK_EQ(ntohs(w.b.peer->endpoint.addr.in4.sin_port), 4444);
	world_free(&w);
}

static void psk(void)
{
	uint8_t k1[32], k2[32];
	memset(k1, 0x11, 32);
	memset(k2, 0x22, 32);
	world_init(&w, 15);
	weft_peer_set_preshared_key(w.a.peer, k1);
	weft_peer_set_preshared_key(w.b.peer, k1);
	establish();
	CHECK_EQ(w.b.delivered, 1);
	world_free(&w);

	world_init(&w, 16);
	weft_peer_set_preshared_key(w.a.peer, k1);
	weft_peer_set_preshared_key(w.b.peer, k2);
	establish();
	world_advance(&w, 20 * SEC);
	CHECK_EQ(w.b.delivered, 0);
	CHECK(current_keypair(&w.a) == NULL);
	CHECK(weft_device_drops(w.a.dev, WEFT_DROP_HANDSHAKE_INVALID) >= 1);
	world_free(&w);
}

static void config_changes(void)
{
	world_init(&w, 17);
	establish();
	/* no endpoint: nothing to send to */
	weft_peer_set_endpoint(w.a.peer, NULL);
	node_send_ip(&w.a, 100);
	CHECK_EQ(weft_device_drops(w.a.dev, WEFT_DROP_NO_ENDPOINT), 1);
	/* unknown destination */
	uint8_t pkt[40];
	make_ipv4(pkt, w.a.tunnel_ip, (uint8_t[]){ 10, 7, 7, 7 }, sizeof(pkt));
	weft_send(w.a.dev, pkt, sizeof(pkt), &w.a.out);
	CHECK_EQ(weft_device_drops(w.a.dev, WEFT_DROP_NO_ROUTE), 1);
	/* a new private key voids every session */
	uint8_t key[32];
	memset(key, 0x42, 32);
	weft_device_set_private_key(w.a.dev, key);
	CHECK(current_keypair(&w.a) == NULL);
	/* removing the peer removes its routes and indices */
	weft_peer_remove(w.b.dev, w.b.peer);
	CHECK_EQ(weft_peer_count(w.b.dev), 0);
	CHECK_EQ(w.b.dev->indices.count, 0);
	make_ipv4(pkt, w.b.tunnel_ip, w.a.tunnel_ip, sizeof(pkt));
	weft_send(w.b.dev, pkt, sizeof(pkt), &w.b.out);
	CHECK_EQ(weft_device_drops(w.b.dev, WEFT_DROP_NO_ROUTE), 1);
	/* a peer cannot have the device's own key */
	uint8_t own[32];
	weft_device_public_key(w.a.dev, own);
	struct weft_peer *none = (struct weft_peer *)&own;
	CHECK_EQ(weft_peer_add(w.a.dev, own, &none), -EINVAL);
	CHECK(none == NULL);
	world_free(&w);
}

static void link_down_up_and_sources(void)
{
	world_init(&w, 18);
	weft_peer_set_persistent_keepalive(w.a.peer, 25);
	establish();
	CHECK(current_keypair(&w.a) != NULL);
	/* down: sessions, handshakes and staged packets go, timers stop */
	weft_device_set_up(w.a.dev, false);
	CHECK(current_keypair(&w.a) == NULL);
	CHECK_EQ(w.a.dev->indices.count, 0);
	unsigned sent = w.a.sent[MESSAGE_HANDSHAKE_INITIATION] + w.a.sent[5];
	world_advance(&w, 60 * SEC);
	CHECK_EQ(w.a.sent[MESSAGE_HANDSHAKE_INITIATION] + w.a.sent[5], sent);
	/* up: the persistent keepalive starts a handshake at once */
	weft_device_set_up(w.a.dev, true);
	world_advance(&w, 1);
	CHECK_EQ(w.a.sent[MESSAGE_HANDSHAKE_INITIATION], 2);
	CHECK(current_keypair(&w.a) != NULL);
	/* a vanished local address is forgotten as a sticky source */
	struct weft_endpoint ep = w.b.addr;
	ep.src.in4.s_addr = htonl(0xc0000201);
	weft_peer_set_endpoint(w.a.peer, &ep);
	uint8_t other[4] = { 192, 0, 2, 77 }, gone[4] = { 192, 0, 2, 1 };
	CHECK_EQ(weft_device_forget_source(w.a.dev, AF_INET, other), 0);
	CHECK_EQ(weft_device_forget_source(w.a.dev, AF_INET, gone), 1);
	CHECK_EQ(w.a.peer->endpoint.src.in4.s_addr, 0);
	CHECK_EQ(w.a.peer->endpoint.addr.in4.sin_port, w.b.addr.addr.in4.sin_port);
	CHECK(weft_peer_public_key(w.a.peer) != NULL && !memcmp(weft_peer_public_key(w.a.peer), w.b.pub, 32));
	world_free(&w);
}

/* weft_receive with no output: a keepalive needs no slot and still counts
 * (its tag checked, the window moved), data is dropped as OUT_FULL. */
static void receive_without_output(void)
{
	world_init(&w, 19);
	establish();
	node_send_ip(&w.b, 100); /* a owes b a passive keepalive */
	world_flush(&w);
	w.a.cut = true;
	world_advance(&w, (KEEPALIVE_TIMEOUT + 1) * SEC);
	const struct recorded *ka = last_logged(&w.a, 5);
	CHECK(ka != NULL);
	if (!ka) {
		world_free(&w);
		return;
	}
	uint64_t before = drops_total(w.b.dev), rx = w.b.peer->rx_bytes;
	CHECK_EQ(weft_receive(w.b.dev, ka->data, ka->len, &w.a.addr, NULL), 0);
	CHECK_EQ(drops_total(w.b.dev), before);
	CHECK_EQ(w.b.peer->rx_bytes, rx + ka->len);
	CHECK_EQ(weft_receive(w.b.dev, ka->data, ka->len, &w.a.addr, NULL), 0);
	CHECK_EQ(weft_device_drops(w.b.dev, WEFT_DROP_REPLAYED_DATA), 1);
	uint8_t forged[MESSAGE_DATA_OVERHEAD];
	memcpy(forged, ka->data, sizeof(forged));
	forged[sizeof(forged) - 1] ^= 1;
	forged[offsetof(struct message_data, counter) + 2] ^= 1; /* a counter ahead: the tag fails */
	CHECK_EQ(weft_receive(w.b.dev, forged, sizeof(forged), &w.a.addr, NULL), 0);
	CHECK_EQ(weft_device_drops(w.b.dev, WEFT_DROP_DATA_INVALID), 1);

	node_send_ip(&w.a, 100);
	CHECK_EQ(w.a.out.send_count, 1);
	uint64_t full = weft_device_drops(w.b.dev, WEFT_DROP_OUT_FULL);
	CHECK_EQ(weft_receive(w.b.dev, w.a.send[0].data, w.a.send[0].len, &w.a.addr, NULL), 0);
	CHECK_EQ(weft_device_drops(w.b.dev, WEFT_DROP_OUT_FULL), full + 1);
	world_free(&w);
}

static void run_all(void)
{
	RUN(handshake_from_a);
	RUN(handshake_from_b);
	RUN(handshake_simultaneous);
	RUN(data_both_ways_and_padding);
	RUN(ipv6_inside);
	RUN(rekey_after_time);
	RUN(rekey_after_messages);
	RUN(reject_after_time);
	RUN(retransmit_then_give_up);
	RUN(passive_keepalive);
	RUN(new_handshake_when_unanswered);
	RUN(persistent_keepalive);
	RUN(keys_zeroed_after_540s);
	RUN(roaming);
	RUN(psk);
	RUN(config_changes);
	RUN(link_down_up_and_sources);
	RUN(receive_without_output);
}

int main(void)
{
	test_suite_name = "engine";
	run_all();
	/* Again with every datagram received in batches whose crypto runs
	 * through env.parallel (in reverse): the protocol must not notice. */
	test_suite_name = "engine-batched";
	harness_batched = true;
	run_all();
	TEST_EXIT();
}
