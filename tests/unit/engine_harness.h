/* engine_harness.h: two weft engines joined by an in-memory wire under a
 * virtual clock, for tests. Nothing runs unless the test says so: time moves
 * only through world_advance(), datagrams cross only through world_flush().
 * Every datagram that crosses is recorded per direction and type, so tests
 * can count initiations, keepalives and data, or replay and forge them. */
#ifndef WEFT_ENGINE_HARNESS_H
#define WEFT_ENGINE_HARNESS_H

#include <arpa/inet.h>
#include <endian.h>
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
	struct weft_env env = { .now_ns = h_now, .wall_ns = h_wall, .random = h_random, .ctx = n };
	n->dev = weft_device_new(&env);
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
	w->a.peer = weft_peer_add(w->a.dev, w->b.pub);
	w->b.peer = weft_peer_add(w->b.dev, w->a.pub);
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

/* An IPv4 packet from n's tunnel address to dst, len bytes in all. */
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
			for (size_t i = 0; i < count; i++) {
				weft_receive(n->other->dev, copy[i], lens[i], &n->addr, &n->other->out);
				moved = true;
			}
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

#endif
