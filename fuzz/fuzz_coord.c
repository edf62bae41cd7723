/* fuzz_coord.c: libFuzzer target for what reaches `weft coord`'s UDP port.
 * The first byte picks the part (modulo 4):
 *   0: the inner message decoder (proto.c): what decodes re-encodes to the
 *      same bytes and decodes again to the same message;
 *   1: the STUN parser (stun.c): what parses as a response with an address
 *      re-encodes and parses back to that address;
 *   2: the whole server core (server.c) fed a script of datagrams (2-byte
 *      length, 1-byte source, bytes) from a few sources: it must not crash,
 *      and with no handshake ever completed (none can be, without the
 *      server's key) it must never send a source more bytes than it got
 *      from it (amplification);
 *   3: the server core behind real sessions: a few clients (client.c) that
 *      completed their handshake seal the script's plaintexts (any bytes,
 *      so any inner message, valid or not) from their own or other
 *      addresses, with ticks between: no crash, no leak (ASan), and the
 *      record count stays within its bounds.
 * Everything else aborts on a broken invariant, as a crash does. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord/proto.c"
#include "coord/stun.c"
#include "coord/noise.c"
#include "coord/relay_proto.c"
#include "coord/relay_table.c"
#include "coord/relay.c"
#include "coord/server.c"
#include "coord/client.c"

static void check_msg(const uint8_t *data, size_t size)
{
	struct coord_msg m, back;
	uint8_t out[COORD_INNER_MAX + COORD_PADDING];

	if (coord_msg_decode(&m, data, size) < 0)
		return;
	int n = coord_msg_encode(out, sizeof(out), &m);
	if (n < 0 || (size_t)n > size || memcmp(out, data, (size_t)n))
		abort(); /* decoding lost or changed something */
	if (coord_msg_decode(&back, out, (size_t)n) < 0 || back.type != m.type ||
	    back.blob_len != m.blob_len || memcmp(back.token, m.token, sizeof(m.token)))
		abort();
}

static void check_stun(const uint8_t *data, size_t size)
{
	struct stun_msg m, back;
	uint8_t out[128];

	(void)coord_classify(data, size);
	if (stun_parse(&m, data, size) < 0 || !m.has_xor_mapped)
		return;
	int n = stun_binding_response(out, sizeof(out), m.txid, &m.xor_mapped, NULL);
	if (n < 0 || stun_parse(&back, out, (size_t)n) < 0 || !coord_addr_equal(&back.xor_mapped, &m.xor_mapped))
		abort();
}

enum { SOURCES = 4 };
static uint64_t in_bytes[SOURCES], out_bytes[SOURCES];
static struct coord_addr sources[SOURCES];

static void count_out(void *ctx, const struct coord_addr *to, const uint8_t *pkt, size_t len)
{
	(void)ctx;
	(void)pkt;
	for (int i = 0; i < SOURCES; i++)
		if (coord_addr_equal(to, &sources[i])) {
			out_bytes[i] += len;
			return;
		}
	abort(); /* a reply to an address that never sent anything */
}

static void check_server(const uint8_t *data, size_t size)
{
	static struct coord_server *s;
	static uint64_t now = 1000000000ULL;

	if (!s) {
		struct coord_server_config cfg;
		coord_server_config_defaults(&cfg);
		memset(cfg.private_key, 0x11, 32);
		cfg.stun_strict = true; /* STUN's own answer may outgrow a bare request */
		cfg.max_clients = 64;
		static struct relay_limits rl; /* the relay's messages too */
		relay_limits_default(&rl);
		cfg.relay = &rl;
		if (crypto_init() < 0 || coord_server_new(&cfg, count_out, NULL, &s) < 0)
			abort();
		for (int i = 0; i < SOURCES; i++)
			sources[i] = (struct coord_addr){ .family = i & 1 ? 6 : 4, .port = (uint16_t)(1000 + i),
							  .ip = { 10, 0, 0, (uint8_t)i } };
	}
	memset(in_bytes, 0, sizeof(in_bytes));
	memset(out_bytes, 0, sizeof(out_bytes));
	while (size >= 3) {
		size_t len = (size_t)data[0] | (size_t)data[1] << 8;
		int src = data[2] % SOURCES;
		data += 3;
		size -= 3;
		if (len > size)
			len = size;
		in_bytes[src] += len;
		coord_server_input(s, data, len, &sources[src], now, now / 1000000000ULL);
		data += len;
		size -= len;
		now += 7000000;
		if (now % 5 == 0)
			coord_server_tick(s, now, now / 1000000000ULL);
	}
	for (int i = 0; i < SOURCES; i++)
		if (out_bytes[i] > in_bytes[i])
			abort();
}

enum { CLIENTS = 3 };
static uint8_t captured[COORD_DATAGRAM_MAX];
static size_t captured_len;

static void capture(void *ctx, const struct coord_addr *to, const uint8_t *pkt, size_t len)
{
	(void)ctx;
	(void)to;
	if (len > sizeof(captured))
		abort();
	memcpy(captured, pkt, len);
	captured_len = len;
}

static void check_sessions(const uint8_t *data, size_t size)
{
	struct coord_server_config cfg;
	struct coord_server *s;
	struct coord_client *c = calloc(CLIENTS, sizeof(*c));
	struct coord_addr at[CLIENTS + 1];
	uint8_t spub[32], pkt[COORD_DATAGRAM_MAX];
	uint64_t now = 5000000000ULL;
	struct coord_msg m;

	coord_server_config_defaults(&cfg);
	memset(cfg.private_key, 0x22, 32);
	cfg.max_records = 4;
	cfg.max_clients = 8;
	cfg.rate = 0;
	struct relay_limits rl; /* JOIN, LEAVE and relay messages from real sessions */
	relay_limits_default(&rl);
	cfg.relay = &rl;
	x25519_public(spub, cfg.private_key);
	if (crypto_init() < 0 || !c || coord_server_new(&cfg, capture, NULL, &s) < 0)
		abort();
	for (int i = 0; i <= CLIENTS; i++)
		at[i] = (struct coord_addr){ .family = 4, .port = (uint16_t)(2000 + i), .ip = { 10, 1, 0, (uint8_t)i } };
	for (int i = 0; i < CLIENTS; i++) {
		uint8_t k[32];
		memset(k, 0x30 + i, sizeof(k));
		coord_client_init(&c[i], k, spub);
		int n = coord_client_initiate(&c[i], pkt, now, 1800000000ULL * 1000000000ULL + now);
		captured_len = 0;
		coord_server_input(s, pkt, (size_t)n, &at[i], now, 1800000000);
		if (coord_client_receive(&c[i], captured, captured_len, now, &m) != COORD_RX_ESTABLISHED)
			abort(); /* a well-made handshake must succeed */
	}
	/* the script: client (2 bits), source (2 bits: own address or another),
	 * tick? (1 bit), then a 1-byte length and that many plaintext bytes */
	while (size >= 2) {
		int who = data[0] & 3 ? (data[0] & 3) - 1 : 0, src = (data[0] >> 2) & 3;
		bool tick = data[0] & 0x10;
		size_t len = data[1];
		data += 2;
		size -= 2;
		if (len > size)
			len = size;
		if (len > COORD_INNER_MAX)
			len = COORD_INNER_MAX;
		int n = coord_transport_seal(&c[who].cur, data, len, pkt, sizeof(pkt));
		if (n > 0)
			coord_server_input(s, pkt, (size_t)n, src ? &at[src] : &at[who], now, now / 1000000000ULL);
		data += len;
		size -= len;
		now += tick ? 3000000000ULL : 1000000;
		if (tick)
			coord_server_tick(s, now, now / 1000000000ULL);
	}
	coord_server_tick(s, now, now / 1000000000ULL);
	const struct coord_stats *st = coord_server_stats(s);
	if (st->records > (uint64_t)CLIENTS * cfg.max_records || st->clients > cfg.max_clients)
		abort();
	for (int i = 0; i < CLIENTS; i++)
		coord_client_clear(&c[i]);
	free(c);
	coord_server_free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!size)
		return 0;
	switch (data[0] % 4) {
	case 0:
		check_msg(data + 1, size - 1);
		break;
	case 1:
		check_stun(data + 1, size - 1);
		break;
	case 2:
		check_server(data + 1, size - 1);
		break;
	default:
		check_sessions(data + 1, size - 1);
	}
	return 0;
}
