/* fuzz_datagram.c: libFuzzer target for the engine's datagram input path.
 *
 * Two engines from the unit tests' harness (in-memory wire, virtual clock,
 * deterministic random) hold an established session; they are built once
 * and kept across inputs, remade only when an input has left them without
 * a session they can renew. Each input is a script of records:
 *
 *   op, mode, len (little-endian u16), then len bytes (fewer if the input ends)
 *
 *   op % 8   0/1  the bytes as a datagram to b / to a
 *            2/3  a valid message for b / for a, made just now by the other
 *                 side, with the bytes XORed over it
 *            4/5  the bytes as a plaintext packet to weft_send on b / on a
 *            6    advance the clock by len milliseconds, running the timers
 *            7    toggle "under load" on b (mode bit 0) and a (mode bit 1);
 *                 b's handshake budget is 1 with mode bit 2, so messages queue
 *   mode     bits 0-1  kind of message for ops 2/3: initiation, response,
 *                      cookie reply, data
 *            bits 2-3  source address: the real peer, another IPv4, an
 *                      IPv6, an AF_UNSPEC one
 *            bit 4     ops 2/3: recompute mac1/mac2 after the XOR, so that
 *                      changes reach the Noise layer; for data, XOR the
 *                      bytes over the plaintext instead and seal it after,
 *                      so that they reach the inner-packet checks
 *            bit 5     ops 2/3: the datagram (the plaintext, when sealed
 *                      after) is exactly len bytes, cut or extended by the
 *                      bytes; ops 4/5: put an IPv4 header from the sender's
 *                      to the receiver's tunnel address in front
 *            bit 6     ops 0/1: pad with zeros past MESSAGE_MAX_LENGTH;
 *                      ops 2/3, data sealed after: an IPv6 plaintext
 *
 * Whatever is sent in answer crosses the wire at once, in one engine batch
 * per side and round. Nothing may crash, leak, overrun or hang; output
 * slots must never be overfilled.
 *
 * Seeds (fuzz/corpus/fuzz_datagram/) come from this file built without
 * libFuzzer:
 *   cc -std=gnu11 -D_GNU_SOURCE -DFUZZ_DATAGRAM_SEEDS -Iinclude -Isrc \
 *      fuzz/fuzz_datagram.c src/crypto/[a-z]*.c src/wg/[a-z]*.c src/util/encoding.c \
 *      -lsodium -lcrypto -lb2 -o /tmp/seeds && /tmp/seeds fuzz/corpus/fuzz_datagram
 */
#include <stddef.h>
#include <stdio.h>

#include "../tests/unit/engine_harness.h"

enum {
	OP_RAW_TO_B = 0, OP_RAW_TO_A, OP_MADE_TO_B, OP_MADE_TO_A, OP_SEND_ON_B, OP_SEND_ON_A,
	OP_TICK, OP_LOAD,
};
enum { KIND_INITIATION, KIND_RESPONSE, KIND_COOKIE, KIND_DATA };
enum { MODE_KIND = 3, MODE_SOURCE_SHIFT = 2, MODE_REMAC = 1 << 4, MODE_SEAL_AFTER = 1 << 4,
       MODE_EXACT = 1 << 5, MODE_HEADER = 1 << 5, MODE_OVERSIZE = 1 << 6, MODE_IPV6 = 1 << 6 };
#define RECORD_HEADER 4
/* Clock step before a new initiation, so that its whitened timestamp is
 * newer and it is no flood (messages.h: TIMESTAMP_WHITENING_NS,
 * INITIATIONS_PER_SECOND). */
#define NEWER (NSEC_PER_SEC / INITIATIONS_PER_SECOND + TIMESTAMP_WHITENING_NS)

static struct world w;
static bool built;
static uint8_t datagram[MESSAGE_MAX_LENGTH + 256 + 1];

static bool established(void) { return current_keypair(&w.a) && current_keypair(&w.b); }

/* A node's IPv6 tunnel address: fd00::host, like 10.0.0.host. */
static void tunnel_ip6(const struct node *n, uint8_t ip[16])
{
	memset(ip, 0, 16);
	ip[0] = 0xfd;
	ip[15] = n->tunnel_ip[3];
}

static void build(void)
{
	if (built)
		world_free(&w);
	/* Answers cross the wire in engine batches (jobs run in reverse), so
	 * the batch commits see whatever the records provoke; the records
	 * themselves go in one call each. */
	harness_batched = true;
	world_init(&w, 0x5eed);
	uint8_t ip[16];
	tunnel_ip6(&w.b, ip);
	weft_peer_allowed_ip_add(w.a.peer, AF_INET6, ip, 128);
	tunnel_ip6(&w.a, ip);
	weft_peer_allowed_ip_add(w.b.peer, AF_INET6, ip, 128);
	node_send_ip(&w.a, 100);
	world_flush(&w);
	built = true;
}

/* Every input starts with a session, no load, nothing queued. */
static void ready(void)
{
	if (!built) {
		build();
		return;
	}
	weft_device_set_under_load(w.a.dev, false);
	weft_device_set_under_load(w.b.dev, false);
	weft_device_set_handshake_budget(w.b.dev, WEFT_HANDSHAKE_BUDGET);
	world_flush(&w);
	struct weft_device_stats st;
	for (int i = 0; i < WEFT_HANDSHAKE_QUEUE; i++) { /* what the last input queued */
		weft_device_get_stats(w.b.dev, &st);
		if (!st.handshake_backlog)
			break;
		weft_tick(w.b.dev, &w.b.out);
		world_flush(&w);
	}
	if (established())
		return;
	node_send_ip(&w.a, 100);
	world_flush(&w);
	if (!established())
		build();
}

/* The engine must never fill a slot past its cap or count past the slots. */
static void check_out(const struct node *n)
{
	if (n->out.send_count > n->out.send_max || n->out.deliver_count > n->out.deliver_max)
		__builtin_trap();
	for (size_t i = 0; i < n->out.send_count; i++)
		if (n->send[i].len > n->send[i].cap || n->send[i].len > MESSAGE_MAX_LENGTH)
			__builtin_trap();
	for (size_t i = 0; i < n->out.deliver_count; i++)
		if (n->deliver[i].len > n->deliver[i].cap)
			__builtin_trap();
}

static void source(unsigned choice, const struct node *sender, const uint8_t *bytes, size_t len,
		   struct weft_endpoint *ep)
{
	uint8_t salt[4] = { 0 };
	memcpy(salt, bytes, len < 4 ? len : 4);
	switch (choice) {
	case 0:
		*ep = sender->addr;
		break;
	case 1:
		endpoint4(ep, 0xc6336400 | salt[0], (uint16_t)(salt[1] << 8 | salt[2]));
		break;
	case 2:
		memset(ep, 0, sizeof(*ep));
		ep->addr.in6.sin6_family = AF_INET6;
		ep->addr.in6.sin6_addr.s6_addr[0] = 0x20;
		ep->addr.in6.sin6_addr.s6_addr[1] = 0x01;
		ep->addr.in6.sin6_addr.s6_addr[2] = 0x0d;
		ep->addr.in6.sin6_addr.s6_addr[3] = 0xb8;
		ep->addr.in6.sin6_addr.s6_addr[7] = salt[0];
		ep->addr.in6.sin6_addr.s6_addr[15] = salt[1];
		ep->addr.in6.sin6_port = (uint16_t)(salt[2] << 8 | salt[3]);
		break;
	default:
		memset(ep, 0, sizeof(*ep));
		break;
	}
}

/* The receiver index under which `to` expects messages: its handshake's
 * while one is in flight, else its current keypair's. */
static uint32_t index_of(struct node *to)
{
	if (to->peer->handshake.state != HANDSHAKE_ZEROED && to->peer->handshake.local_index)
		return to->peer->handshake.local_index;
	return current_keypair(to) ? current_keypair(to)->local_index : 0;
}

/* A genuine message of `kind` from `from` to `to`, made the way the engine
 * makes it; 0 if the state does not allow one. */
static size_t make_message(struct node *from, struct node *to, unsigned kind, uint8_t *d)
{
	switch (kind) {
	case KIND_INITIATION: {
		struct message_handshake_initiation m;
		w.now += NEWER; /* else b takes it for a replay */
		if (!noise_create_initiation(from->dev, from->peer, &m))
			return 0;
		cookie_add_macs(from->dev, &from->peer->cookie, (uint8_t *)&m, sizeof(m));
		memcpy(d, &m, sizeof(m));
		return sizeof(m);
	}
	case KIND_RESPONSE: {
		/* to initiates, from consumes it and answers, as send.c would. */
		struct message_handshake_initiation m;
		struct message_handshake_response r;
		int why;
		w.now += NEWER;
		if (!noise_create_initiation(to->dev, to->peer, &m))
			return 0;
		cookie_add_macs(to->dev, &to->peer->cookie, (uint8_t *)&m, sizeof(m));
		if (noise_consume_initiation(from->dev, &m, &why) != from->peer ||
		    !noise_create_response(from->dev, from->peer, &r))
			return 0;
		cookie_add_macs(from->dev, &from->peer->cookie, (uint8_t *)&r, sizeof(r));
		noise_begin_session(from->dev, from->peer);
		memcpy(d, &r, sizeof(r));
		return sizeof(r);
	}
	case KIND_COOKIE: {
		/* An answer to the last message `to` sent, as if from under load. */
		struct message_handshake_initiation m;
		struct message_handshake_cookie c;
		if (!to->peer->cookie.have_sent_mac1)
			return 0;
		memset(&m, 0, sizeof(m));
		memcpy(m.macs.mac1, to->peer->cookie.last_mac1_sent, COOKIE_LEN);
		cookie_create_reply(from->dev, &c, (const uint8_t *)&m, sizeof(m), htole32(index_of(to)),
				    &to->addr);
		memcpy(d, &c, sizeof(c));
		return sizeof(c);
	}
	default: {
		/* Whatever from's weft_send puts on the wire first. */
		uint8_t pkt[120], buf[SLOT_SIZE];
		struct weft_packet slot = { .data = buf, .cap = sizeof(buf) };
		struct weft_out out = { .send = &slot, .send_max = 1 };
		make_ipv4(pkt, from->tunnel_ip, to->tunnel_ip, sizeof(pkt));
		weft_send(from->dev, pkt, sizeof(pkt), &out);
		if (!out.send_count)
			return 0;
		memcpy(d, slot.data, slot.len);
		return slot.len;
	}
	}
}

/* A data packet sealed here with from's current keypair around a plaintext
 * of the fuzzer's making: an IPv4 or IPv6 packet from `from` to `to`, len
 * bytes (or 120) long, with the bytes XORed over it. 0 without a keypair. */
static size_t seal_plaintext(struct node *from, struct node *to, unsigned mode, const uint8_t *bytes,
			     size_t len, uint8_t *d)
{
	struct noise_keypair *kp = current_keypair(from);
	size_t plain = (mode & MODE_EXACT) ? len : 120;
	uint8_t *p = d + sizeof(struct message_data), header[40] = { 0 };
	if (!kp || plain > MESSAGE_MAX_LENGTH - MESSAGE_DATA_OVERHEAD)
		return 0;
	if (mode & MODE_IPV6) {
		header[0] = 0x60;
		/* below 40 bytes the length wraps: a lie the receiver must catch */
		header[4] = (uint8_t)((plain - 40) >> 8);
		header[5] = (uint8_t)(plain - 40);
		header[6] = 17;
		header[7] = 64;
		tunnel_ip6(from, header + 8);
		tunnel_ip6(to, header + 24);
	} else {
		make_ipv4(header, from->tunnel_ip, to->tunnel_ip, 20);
		header[2] = (uint8_t)(plain >> 8);
		header[3] = (uint8_t)plain;
	}
	memset(p, 0, plain);
	memcpy(p, header, plain < sizeof(header) ? plain : sizeof(header));
	for (size_t i = 0; i < len && i < plain; i++)
		p[i] ^= bytes[i];
	uint64_t counter = kp->sending_counter++;
	struct message_data hdr = { .header.type = htole32(MESSAGE_DATA),
				    .key_idx = htole32(kp->remote_index),
				    .counter = htole64(counter) };
	memcpy(d, &hdr, sizeof(hdr));
	aead_seal(p, p, plain, NULL, 0, counter, kp->sending_key);
	return sizeof(hdr) + plain + AEAD_TAG_LEN;
}

static void run_record(unsigned op, unsigned mode, const uint8_t *bytes, size_t len)
{
	struct node *to = (op & 1) ? &w.a : &w.b, *from = to->other;
	struct weft_endpoint ep;
	size_t n;

	switch (op) {
	case OP_RAW_TO_B:
	case OP_RAW_TO_A:
		memcpy(datagram, bytes, len);
		n = len;
		if (mode & MODE_OVERSIZE) {
			n = MESSAGE_MAX_LENGTH + 1 + (len & 0xff);
			memset(datagram + len, 0, n - len);
		}
		source((mode >> MODE_SOURCE_SHIFT) & 3, from, bytes, len, &ep);
		weft_receive(to->dev, datagram, n, &ep, &to->out);
		break;
	case OP_MADE_TO_B:
	case OP_MADE_TO_A: {
		if ((mode & MODE_KIND) == KIND_DATA && (mode & MODE_SEAL_AFTER)) {
			n = seal_plaintext(from, to, mode, bytes, len, datagram);
			if (!n)
				return;
			source((mode >> MODE_SOURCE_SHIFT) & 3, from, bytes, len, &ep);
			weft_receive(to->dev, datagram, n, &ep, &to->out);
			break;
		}
		size_t made = make_message(from, to, mode & MODE_KIND, datagram);
		if (!made)
			return;
		n = (mode & MODE_EXACT) ? len : made;
		if (n > made)
			memset(datagram + made, 0, n - made);
		for (size_t i = 0; i < len && i < n; i++)
			datagram[i] ^= bytes[i];
		if ((mode & MODE_REMAC) && (n == sizeof(struct message_handshake_initiation) ||
					    n == sizeof(struct message_handshake_response)))
			cookie_add_macs(from->dev, &from->peer->cookie, datagram, n);
		source((mode >> MODE_SOURCE_SHIFT) & 3, from, bytes, len, &ep);
		weft_receive(to->dev, datagram, n, &ep, &to->out);
		break;
	}
	case OP_SEND_ON_B:
	case OP_SEND_ON_A: {
		struct node *sender = (op == OP_SEND_ON_A) ? &w.a : &w.b;
		n = 0;
		if (mode & MODE_HEADER) {
			n = 20;
			make_ipv4(datagram, sender->tunnel_ip, sender->other->tunnel_ip, 20);
			datagram[2] = (uint8_t)((len + 20) >> 8);
			datagram[3] = (uint8_t)(len + 20);
		}
		memcpy(datagram + n, bytes, len);
		weft_send(sender->dev, datagram, n + len, &sender->out);
		check_out(sender);
		world_flush(&w);
		return;
	}
	case OP_TICK:
		world_advance(&w, (uint64_t)len * NSEC_PER_MSEC);
		return;
	default:
		weft_device_set_under_load(w.b.dev, !w.b.dev->caller_under_load ^ !(mode & 1));
		weft_device_set_under_load(w.a.dev, !w.a.dev->caller_under_load ^ !(mode & 2));
		/* a small handshake budget, so messages wait in the queue */
		weft_device_set_handshake_budget(w.b.dev, (mode & 4) ? 1 : WEFT_HANDSHAKE_BUDGET);
		return;
	}
	check_out(to);
	world_flush(&w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ready();
	while (size >= RECORD_HEADER) {
		unsigned op = data[0] % 8, mode = data[1];
		size_t len = (size_t)data[2] | (size_t)data[3] << 8;
		data += RECORD_HEADER;
		size -= RECORD_HEADER;
		if (op == OP_TICK) {
			run_record(op, mode, NULL, len); /* len is the time, no bytes follow */
			continue;
		}
		if (len > size)
			len = size;
		run_record(op, mode, data, len);
		data += len;
		size -= len;
	}
	return 0;
}

#ifdef FUZZ_DATAGRAM_SEEDS
/* Writes the seed corpus: genuine messages of each type as raw datagrams,
 * the same made fresh, sends, ticks and load, alone and together. */
static uint8_t seed[1 << 17];
static size_t seed_len;

static void record(unsigned op, unsigned mode, const uint8_t *bytes, size_t len)
{
	seed[seed_len++] = (uint8_t)op;
	seed[seed_len++] = (uint8_t)mode;
	seed[seed_len++] = (uint8_t)len;
	seed[seed_len++] = (uint8_t)(len >> 8);
	if (bytes)
		memcpy(seed + seed_len, bytes, len);
	if (op != OP_TICK)
		seed_len += len;
}

static void write_seed(const char *dir, const char *name)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(seed, 1, seed_len, f) != seed_len || fclose(f)) {
		perror(path);
		exit(1);
	}
	seed_len = 0;
}

static void raw_seed(const char *dir, const char *name, unsigned op, struct node *from, struct node *to,
		     unsigned kind)
{
	uint8_t d[SLOT_SIZE];
	size_t n = make_message(from, to, kind, d);
	if (!n) {
		fprintf(stderr, "%s: could not make the message\n", name);
		exit(1);
	}
	if (op == OP_RAW_TO_B && kind == KIND_INITIATION)
		record(OP_TICK, 0, NULL, NEWER / NSEC_PER_MSEC + 1); /* so that it is no flood */
	record(op, 0, d, n);
	write_seed(dir, name);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	const char *dir = argv[1];
	ready();
	raw_seed(dir, "initiation", OP_RAW_TO_B, &w.a, &w.b, KIND_INITIATION);
	raw_seed(dir, "response", OP_RAW_TO_A, &w.b, &w.a, KIND_RESPONSE);
	raw_seed(dir, "cookie", OP_RAW_TO_A, &w.b, &w.a, KIND_COOKIE);
	raw_seed(dir, "data", OP_RAW_TO_B, &w.a, &w.b, KIND_DATA);
	build();
	raw_seed(dir, "data_to_a", OP_RAW_TO_A, &w.b, &w.a, KIND_DATA);

	static const char *const kinds[] = { "initiation", "response", "cookie", "data" };
	for (unsigned kind = 0; kind < 4; kind++) {
		char name[64];
		record(OP_MADE_TO_B, kind | MODE_REMAC, NULL, 0);
		snprintf(name, sizeof(name), "made_%s_to_b", kinds[kind]);
		write_seed(dir, name);
		record(OP_MADE_TO_A, kind | MODE_REMAC, NULL, 0);
		snprintf(name, sizeof(name), "made_%s_to_a", kinds[kind]);
		write_seed(dir, name);
	}

	record(OP_MADE_TO_B, KIND_DATA | MODE_SEAL_AFTER, NULL, 0);
	record(OP_MADE_TO_A, KIND_DATA | MODE_SEAL_AFTER | MODE_IPV6, NULL, 0);
	write_seed(dir, "sealed_plaintext");

	uint8_t pkt[100];
	make_ipv4(pkt, w.a.tunnel_ip, w.b.tunnel_ip, sizeof(pkt));
	record(OP_SEND_ON_A, 0, pkt, sizeof(pkt));
	record(OP_SEND_ON_B, MODE_HEADER, pkt + 20, 40);
	record(OP_TICK, 0, NULL, 11000);
	write_seed(dir, "send_and_tick");

	record(OP_LOAD, 1, NULL, 0);
	record(OP_MADE_TO_B, KIND_INITIATION, NULL, 0);
	record(OP_TICK, 0, NULL, 6000);
	record(OP_MADE_TO_B, KIND_DATA, NULL, 0);
	write_seed(dir, "under_load");

	record(OP_MADE_TO_B, KIND_INITIATION | 1 << MODE_SOURCE_SHIFT, NULL, 0);
	record(OP_MADE_TO_A, KIND_DATA | 2 << MODE_SOURCE_SHIFT, NULL, 0);
	record(OP_RAW_TO_B, MODE_OVERSIZE, pkt, 8);
	record(OP_MADE_TO_B, KIND_DATA | MODE_EXACT, NULL, 31);
	record(OP_TICK, 0, NULL, 65535);
	record(OP_MADE_TO_A, KIND_COOKIE | 3 << MODE_SOURCE_SHIFT, NULL, 0);
	write_seed(dir, "mixed");
	world_free(&w);
	return 0;
}
#endif
