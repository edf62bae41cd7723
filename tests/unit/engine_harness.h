/* engine_harness.h: two weft engines joined by an in-memory wire under a
 * virtual clock, for tests. Nothing runs unless the test says so: time moves
 * only through world_advance(), datagrams cross only through world_flush().
 * Every datagram that crosses is recorded per direction and type, so tests
 * can count initiations, keepalives and data, or replay and forge them.
 * Below the world: the questions tests ask of it (was this dropped, and
 * why; does the session still work) and messages made by the whitepaper's
 * formulas rather than the engine's code. Used by fuzz/ too, so nothing here
 * needs test.h. */
#ifndef WEFT_ENGINE_HARNESS_H
#define WEFT_ENGINE_HARNESS_H

#include <arpa/inet.h>
#include <endian.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weft/engine.h"
#include "wg/device.h"
#include "wg/messages.h"

#define SLOTS 64
#define SLOT_SIZE 2048
#define MAX_RECORDED 4096

struct recorded {
	uint8_t data[SLOT_SIZE];
	size_t len;
};

struct node {
	struct world *world;
	struct node *other;
	struct weft_device *dev;
	struct weft_peer *peer; /* the other node, as this one's peer */
	uint8_t priv[32], pub[32];
	struct weft_endpoint addr; /* this node's underlay address */
	uint8_t tunnel_ip[4];
	uint8_t sendbuf[SLOTS][SLOT_SIZE], deliverbuf[SLOTS][SLOT_SIZE];
	struct weft_packet send[SLOTS], deliver[SLOTS];
	struct weft_out out;
	/* what this node sent, by message type (1..4; 5 = keepalives) */
	unsigned sent[6];
	size_t delivered, delivered_bytes;
	struct recorded *log; /* every datagram it sent, up to MAX_RECORDED */
	size_t logged;
	uint64_t next_deadline;
	bool cut; /* its outgoing datagrams are lost */
};

struct world {
	uint64_t now, wall, rng;
	struct node a, b;
};

/* Set before world_init: world_flush hands each node the datagrams of a
 * round in one engine batch, and the engines' env.parallel runs a batch's
 * jobs last to first, so that no result may depend on their order. */
static bool harness_batched;

static inline void h_parallel_reversed(void *ctx, void (*job)(void *arg, size_t i), void *arg, size_t n)
{
	(void)ctx;
	for (size_t i = n; i-- > 0;)
		job(arg, i);
}

/* Set before world_init, when a test needs its own: the engines'
 * env.parallel (called with the node as ctx), in place of the above. */
static void (*harness_parallel)(void *ctx, void (*job)(void *arg, size_t i), void *arg, size_t n);

static inline uint64_t h_now(void *ctx) { return ((struct node *)ctx)->world->now; }
static inline uint64_t h_wall(void *ctx) { return ((struct node *)ctx)->world->wall + ((struct node *)ctx)->world->now; }
static inline void h_random(void *ctx, uint8_t *buf, size_t len)
{
	struct world *w = ((struct node *)ctx)->world;
	for (size_t i = 0; i < len; i++) {
		w->rng ^= w->rng << 13;
		w->rng ^= w->rng >> 7;
		w->rng ^= w->rng << 17;
		buf[i] = (uint8_t)(w->rng >> 24);
	}
}

static inline void endpoint4(struct weft_endpoint *ep, uint32_t ip, uint16_t port)
{
	memset(ep, 0, sizeof(*ep));
	ep->addr.in4.sin_family = AF_INET;
	ep->addr.in4.sin_addr.s_addr = htonl(ip);
	ep->addr.in4.sin_port = htons(port);
}

/* weft_peer_add for tests: the peer, or NULL on any error. */
static inline struct weft_peer *add_peer(struct weft_device *dev, const uint8_t key[32])
{
	struct weft_peer *p = NULL;
	return weft_peer_add(dev, key, &p) == 0 ? p : NULL;
}

static inline void node_reset_out(struct node *n)
{
	n->out.send_count = n->out.deliver_count = 0;
}

static inline void node_init(struct world *w, struct node *n, struct node *other, uint8_t host)
{
	memset(n, 0, sizeof(*n));
	n->world = w;
	n->other = other;
	n->log = calloc(MAX_RECORDED, sizeof(*n->log));
	struct weft_env env = {
		.clock = { .now_ns = h_now, .wall_ns = h_wall, .ctx = n },
		.random = { .fill = h_random, .ctx = n },
		.parallel = { .run = harness_parallel ? harness_parallel
					: harness_batched ? h_parallel_reversed : NULL, .ctx = n },
	};
	if (weft_device_new(&env, &n->dev) < 0)
		abort();
	h_random(n, n->priv, 32);
	weft_device_set_private_key(n->dev, n->priv);
	weft_device_public_key(n->dev, n->pub);
	endpoint4(&n->addr, 0xc0000200 + host, 51820); /* 192.0.2.x, documentation range */
	memcpy(n->tunnel_ip, (uint8_t[]){ 10, 0, 0, host }, 4);
	for (int i = 0; i < SLOTS; i++) {
		n->send[i] = (struct weft_packet){ .data = n->sendbuf[i], .cap = SLOT_SIZE };
		n->deliver[i] = (struct weft_packet){ .data = n->deliverbuf[i], .cap = SLOT_SIZE };
	}
	n->out = (struct weft_out){ .send = n->send, .send_max = SLOTS, .deliver = n->deliver,
				    .deliver_max = SLOTS };
}

/* a and b, each the other's peer with the other's tunnel /32; a knows b's
 * endpoint, b learns a's from its first handshake. */
static inline void world_init(struct world *w, uint64_t seed)
{
	memset(w, 0, sizeof(*w));
	w->rng = seed ? seed : 0x9e3779b97f4a7c15ULL;
	w->now = 1000 * NSEC_PER_SEC;
	w->wall = 1764460800ULL * NSEC_PER_SEC;
	node_init(w, &w->a, &w->b, 1);
	node_init(w, &w->b, &w->a, 2);
	w->a.peer = add_peer(w->a.dev, w->b.pub);
	w->b.peer = add_peer(w->b.dev, w->a.pub);
	weft_peer_allowed_ip_add(w->a.peer, AF_INET, w->b.tunnel_ip, 32);
	weft_peer_allowed_ip_add(w->b.peer, AF_INET, w->a.tunnel_ip, 32);
	weft_peer_set_endpoint(w->a.peer, &w->b.addr);
}

static inline void world_free(struct world *w)
{
	weft_device_free(w->a.dev);
	weft_device_free(w->b.dev);
	free(w->a.log);
	free(w->b.log);
}

/* An IPv4 UDP packet from src to dst, len bytes in all. */
static inline size_t make_ipv4(uint8_t *pkt, const uint8_t src[4], const uint8_t dst[4], size_t len)
{
	memset(pkt, 0, len);
	pkt[0] = 0x45;
	pkt[2] = (uint8_t)(len >> 8);
	pkt[3] = (uint8_t)len;
	pkt[8] = 64;
	pkt[9] = 17;
	memcpy(pkt + 12, src, 4);
	memcpy(pkt + 16, dst, 4);
	for (size_t i = 20; i < len; i++)
		pkt[i] = (uint8_t)(i * 7);
	return len;
}

static inline void node_send_ip(struct node *n, size_t len)
{
	uint8_t pkt[SLOT_SIZE];
	make_ipv4(pkt, n->tunnel_ip, n->other->tunnel_ip, len);
	weft_send(n->dev, pkt, len, &n->out);
}

static inline unsigned classify(const uint8_t *d, size_t len)
{
	uint32_t type;
	memcpy(&type, d, 4);
	type = le32toh(type);
	if (type == MESSAGE_DATA && len == MESSAGE_DATA_OVERHEAD)
		return 5;
	return type <= 4 ? type : 0;
}

/* How many datagrams of this type (classify()) n has queued to send and
 * not yet flushed. */
static inline unsigned queued(const struct node *n, unsigned type)
{
	unsigned count = 0;
	for (size_t i = 0; i < n->out.send_count; i++)
		count += classify(n->send[i].data, n->send[i].len) == type;
	return count;
}

/* Moves every queued datagram across (both ways) until nothing moves. */
static inline void world_flush(struct world *w)
{
	for (int round = 0; round < 1000; round++) {
		bool moved = false;
		struct node *nodes[2] = { &w->a, &w->b };
		for (int k = 0; k < 2; k++) {
			struct node *n = nodes[k];
			n->delivered += n->out.deliver_count;
			for (size_t i = 0; i < n->out.deliver_count; i++)
				n->delivered_bytes += n->deliver[i].len;
			size_t count = n->out.send_count;
			static uint8_t copy[SLOTS][SLOT_SIZE];
			static size_t lens[SLOTS];
			for (size_t i = 0; i < count; i++) {
				memcpy(copy[i], n->send[i].data, n->send[i].len);
				lens[i] = n->send[i].len;
				n->sent[classify(copy[i], lens[i])]++;
				if (n->logged < MAX_RECORDED) {
					memcpy(n->log[n->logged].data, copy[i], lens[i]);
					n->log[n->logged++].len = lens[i];
				}
			}
			node_reset_out(n);
			if (n->cut)
				continue;
			if (harness_batched)
				weft_batch_begin(n->other->dev, &n->other->out);
			for (size_t i = 0; i < count; i++) {
				weft_receive(n->other->dev, copy[i], lens[i], &n->addr, &n->other->out);
				moved = true;
			}
			if (harness_batched)
				weft_batch_end(n->other->dev);
		}
		if (!moved)
			return;
	}
}

/* Runs both engines' timers until time `until`, stepping deadline by
 * deadline and moving datagrams after each. */
static inline void world_advance_to(struct world *w, uint64_t until)
{
	for (unsigned spins = 0;; spins++) {
		if (spins > 10000000) {
			fprintf(stderr, "world_advance_to: engines never settle\n");
			abort();
		}
		w->a.next_deadline = weft_tick(w->a.dev, &w->a.out);
		w->b.next_deadline = weft_tick(w->b.dev, &w->b.out);
		world_flush(w);
		uint64_t next = w->a.next_deadline < w->b.next_deadline ? w->a.next_deadline
									 : w->b.next_deadline;
		if (next <= w->now)
			continue;
		if (next > until) {
			w->now = until;
			w->a.next_deadline = weft_tick(w->a.dev, &w->a.out);
			w->b.next_deadline = weft_tick(w->b.dev, &w->b.out);
			world_flush(w);
			return;
		}
		w->now = next;
	}
}

static inline void world_advance(struct world *w, uint64_t ns) { world_advance_to(w, w->now + ns); }

static inline struct noise_keypair *current_keypair(struct node *n) { return n->peer->keypairs.current; }

/* ---- what tests ask of the engines ---- */

/* Every drop dev has counted, whatever the reason. */
static inline uint64_t drops_total(const struct weft_device *dev)
{
	uint64_t sum = 0;
	for (int r = 0; r < WEFT_DROP_COUNT; r++)
		sum += weft_device_drops(dev, (enum weft_drop)r);
	return sum;
}

static inline bool same_address(const struct weft_endpoint *x, const struct weft_endpoint *y)
{
	return !memcmp(&x->addr, &y->addr, sizeof(x->addr));
}

/* The first and the last datagram of a type (classify()) that n sent. */
static inline const struct recorded *first_logged(const struct node *n, unsigned type)
{
	for (size_t i = 0; i < n->logged; i++)
		if (classify(n->log[i].data, n->log[i].len) == type)
			return &n->log[i];
	return NULL;
}

static inline const struct recorded *last_logged(const struct node *n, unsigned type)
{
	for (size_t i = n->logged; i-- > 0;)
		if (classify(n->log[i].data, n->log[i].len) == type)
			return &n->log[i];
	return NULL;
}

/* Feeds n one datagram and checks it was dropped for exactly one reason,
 * `why`: that counter rose by one and no other moved, nothing was
 * delivered, nothing sent in answer (bar the cookie reply a BAD_MAC2 earns).
 * What n sent stays in n->out. Says on stderr what went wrong. */
static inline bool dropped_as(struct node *n, const void *buf, size_t len,
			      const struct weft_endpoint *from, enum weft_drop why)
{
	uint64_t before[WEFT_DROP_COUNT];
	for (int r = 0; r < WEFT_DROP_COUNT; r++)
		before[r] = weft_device_drops(n->dev, (enum weft_drop)r);
	size_t delivered = n->out.deliver_count, sent = n->out.send_count;
	bool ok = weft_receive(n->dev, buf, len, from, &n->out) == 0;

	for (int r = 0; r < WEFT_DROP_COUNT; r++) {
		uint64_t want = before[r] + (r == (int)why), got = weft_device_drops(n->dev, (enum weft_drop)r);
		if (got != want) {
			fprintf(stderr, "  len %zu: drops[%s] = %llu, expected %llu\n", len,
				weft_drop_name((enum weft_drop)r), (unsigned long long)got,
				(unsigned long long)want);
			ok = false;
		}
	}
	if (n->out.deliver_count != delivered) {
		fprintf(stderr, "  len %zu: delivered %zu packet(s)\n", len, n->out.deliver_count - delivered);
		ok = false;
	}
	if (n->out.send_count - sent > (why == WEFT_DROP_BAD_MAC2 ? 1u : 0u)) {
		fprintf(stderr, "  len %zu: answered with %zu datagram(s)\n", len, n->out.send_count - sent);
		ok = false;
	}
	return ok;
}

/* Feeds n a datagram that must pass: -1 if any drop was counted, else the
 * number of packets it delivered. */
static inline int accepted(struct node *n, const void *buf, size_t len, const struct weft_endpoint *from)
{
	uint64_t before = drops_total(n->dev);
	size_t delivered = n->out.deliver_count;
	weft_receive(n->dev, buf, len, from, &n->out);
	if (drops_total(n->dev) != before)
		return -1;
	return (int)(n->out.deliver_count - delivered);
}

/* b takes the initiation m from `from`: nothing is dropped, and once the
 * answers have crossed, b's current keypair is one made just now. */
static inline bool b_takes_initiation(struct world *w, const struct message_handshake_initiation *m,
				      const struct weft_endpoint *from)
{
	int delivered = accepted(&w->b, m, sizeof(*m), from);
	world_flush(w);
	const struct noise_keypair *kp = current_keypair(&w->b);
	if (delivered == 0 && kp && kp->birthdate == w->now)
		return true;
	fprintf(stderr, "  initiation not taken: accepted %d, keypair %s\n", delivered,
		!kp ? "none" : kp->birthdate == w->now ? "new" : "older");
	return false;
}

/* The session still carries data both ways, with no new handshake. */
static inline bool session_works(struct world *w)
{
	world_flush(w);
	unsigned handshakes = w->a.sent[MESSAGE_HANDSHAKE_INITIATION] + w->b.sent[MESSAGE_HANDSHAKE_INITIATION];
	size_t at_a = w->a.delivered, at_b = w->b.delivered;
	node_send_ip(&w->a, 120);
	world_flush(w);
	node_send_ip(&w->b, 120);
	world_flush(w);
	bool ok = w->b.delivered == at_b + 1 && w->a.delivered == at_a + 1 &&
		  w->a.sent[MESSAGE_HANDSHAKE_INITIATION] + w->b.sent[MESSAGE_HANDSHAKE_INITIATION] == handshakes;
	if (!ok)
		fprintf(stderr, "  session broken: delivered a %zu->%zu, b %zu->%zu\n", at_a, w->a.delivered,
			at_b, w->b.delivered);
	return ok;
}

/* ---- messages made here: the whitepaper's formulas, not the engine's code ---- */

/* A new initiation from n to its peer, made the way send.c makes one;
 * false if the engine would not make one. */
static inline bool fresh_initiation(struct node *n, struct message_handshake_initiation *msg)
{
	memset(msg, 0, sizeof(*msg));
	bool ok = noise_create_initiation(n->dev, n->peer, msg);
	cookie_add_macs(n->dev, &n->peer->cookie, (uint8_t *)msg, sizeof(*msg));
	return ok;
}

/* HASH(label || public key) (whitepaper 5.4.4, 5.4.7): with LABEL_MAC1
 * the key of mac1, with LABEL_COOKIE that of cookie replies. */
static inline void label_key(uint8_t key[32], const char *label, const uint8_t public_key[32])
{
	uint8_t label_and_key[8 + 32];
	memcpy(label_and_key, label, 8);
	memcpy(label_and_key + 8, public_key, 32);
	b2s(key, 32, label_and_key, sizeof(label_and_key), NULL, 0);
}

/* mac1 = MAC(HASH(LABEL_MAC1 || receiver's public key), message up to
 * mac1), written into the message of len bytes. */
static inline void set_mac1(void *msg, size_t len, const uint8_t receiver_public[32])
{
	uint8_t key[32];
	label_key(key, LABEL_MAC1, receiver_public);
	b2s((uint8_t *)msg + len - sizeof(struct message_macs), COOKIE_LEN, msg,
	    len - sizeof(struct message_macs), key, sizeof(key));
}

/* mac2 = MAC(cookie, message up to mac2). */
static inline void set_mac2(struct message_handshake_initiation *msg, const uint8_t cookie[COOKIE_LEN])
{
	b2s(msg->macs.mac2, COOKIE_LEN, (const uint8_t *)msg, offsetof(struct message_handshake_initiation, macs.mac2),
	    cookie, COOKIE_LEN);
}

#endif
