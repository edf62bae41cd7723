/* tests/vectors/handshake.c: drives two weft engines through one handshake
 * and first data packet with fixed keys, randomness and time, and prints the
 * bytes on the wire, for handshake.sh to compare with handshake_ref.py.
 *   build/vectors/handshake INPUTS
 * The engine draws an ephemeral key (32 random bytes) and then a sender
 * index (4 bytes) for each handshake message; this harness answers those
 * two draws from the inputs and every other draw with filler bytes. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weft/engine.h"

#define MESSAGE_LEN_MAX 2048 /* the slots' size: any message of this exchange fits */

struct side {
	uint8_t ephemeral[32], index[4];
	int stage; /* 0: next 32-byte draw is the ephemeral; 1: next 4-byte draw is the index */
	uint64_t wall;
};

static uint64_t now_ns(void *ctx) { (void)ctx; return 1000000000ULL; }
static uint64_t wall_ns(void *ctx) { return ((struct side *)ctx)->wall; }
static void random_bytes(void *ctx, uint8_t *buf, size_t len)
{
	struct side *s = ctx;
	if (len == 32 && s->stage == 0) {
		memcpy(buf, s->ephemeral, 32);
		s->stage = 1;
	} else if (len == 4 && s->stage == 1) {
		memcpy(buf, s->index, 4);
		s->stage = 2;
	} else {
		memset(buf, 0x5a, len);
	}
}

static char inputs[16][2][200];
static int n_inputs;

static const char *input(const char *name)
{
	for (int i = 0; i < n_inputs; i++)
		if (!strcmp(inputs[i][0], name))
			return inputs[i][1];
	fprintf(stderr, "handshake: input %s missing\n", name);
	exit(2);
}

static size_t hex_input(uint8_t *out, size_t max, const char *name)
{
	const char *h = input(name);
	size_t n = strlen(h) / 2;
	if (n > max)
		exit(2);
	for (size_t i = 0; i < n; i++)
		sscanf(h + 2 * i, "%2hhx", &out[i]);
	return n;
}

static void print_hex(const char *name, const uint8_t *b, size_t n)
{
	printf("%s = ", name);
	for (size_t i = 0; i < n; i++)
		printf("%02x", b[i]);
	printf("\n");
}

/* The one datagram a step put in out: printed as `name`, copied to buf
 * (MESSAGE_LEN_MAX bytes), and out emptied for the next step. Its length, or
 * 0 (said on stderr) if the step did not send exactly one. */
static size_t take_sent(struct weft_out *out, const char *name, uint8_t *buf)
{
	if (out->send_count != 1) {
		fprintf(stderr, "handshake: %zu datagrams where one %s was due\n", out->send_count, name);
		return 0;
	}
	size_t len = out->send[0].len;
	print_hex(name, out->send[0].data, len);
	memcpy(buf, out->send[0].data, len);
	out->send_count = out->deliver_count = 0;
	return len;
}

int main(int argc, char **argv)
{
	char line[512];
	FILE *f = argc == 2 ? fopen(argv[1], "r") : NULL;
	if (!f) {
		fprintf(stderr, "usage: handshake INPUTS\n");
		return 2;
	}
	while (fgets(line, sizeof(line), f) && n_inputs < 16)
		if (sscanf(line, " %199[a-z_] = %199s", inputs[n_inputs][0], inputs[n_inputs][1]) == 2)
			n_inputs++;
	fclose(f);

	struct side si = { 0 }, sr = { 0 };
	uint8_t priv_i[32], priv_r[32], pub_i[32], pub_r[32], psk[32], payload[256];
	hex_input(priv_i, 32, "initiator_static_private");
	hex_input(priv_r, 32, "responder_static_private");
	hex_input(si.ephemeral, 32, "initiator_ephemeral_private");
	hex_input(sr.ephemeral, 32, "responder_ephemeral_private");
	hex_input(si.index, 4, "initiator_index");
	hex_input(sr.index, 4, "responder_index");
	hex_input(psk, 32, "preshared_key");
	size_t payload_len = hex_input(payload, sizeof(payload), "payload");
	si.wall = sr.wall = strtoull(input("wall_time_ns"), NULL, 10);

	struct weft_env env_i = { .clock = { .now_ns = now_ns, .wall_ns = wall_ns, .ctx = &si },
				  .random = { .fill = random_bytes, .ctx = &si } };
	struct weft_env env_r = { .clock = { .now_ns = now_ns, .wall_ns = wall_ns, .ctx = &sr },
				  .random = { .fill = random_bytes, .ctx = &sr } };
	struct weft_device *di = NULL, *dr = NULL;
	if (weft_device_new(&env_i, &di) < 0 || weft_device_new(&env_r, &dr) < 0) {
		fprintf(stderr, "cannot create devices\n");
		return 1;
	}
	weft_device_set_private_key(di, priv_i);
	weft_device_set_private_key(dr, priv_r);
	weft_device_public_key(di, pub_i);
	weft_device_public_key(dr, pub_r);
	struct weft_peer *to_r = NULL, *to_i = NULL;
	if (weft_peer_add(di, pub_r, &to_r) < 0 || weft_peer_add(dr, pub_i, &to_i) < 0) {
		fprintf(stderr, "cannot add peers\n");
		return 1;
	}
	weft_peer_set_preshared_key(to_r, psk);
	weft_peer_set_preshared_key(to_i, psk);
	struct weft_endpoint ep = { 0 };
	ep.addr.in4.sin_family = AF_INET;
	ep.addr.in4.sin_port = htons(51820);
	ep.addr.in4.sin_addr.s_addr = htonl(0x7f000001);
	weft_peer_set_endpoint(to_r, &ep);
	weft_peer_allowed_ip_add(to_r, AF_INET, (uint8_t[]){ 10, 0, 0, 2 }, 32);
	weft_peer_allowed_ip_add(to_i, AF_INET, (uint8_t[]){ 10, 0, 0, 1 }, 32);

	static uint8_t bufs[4][MESSAGE_LEN_MAX];
	struct weft_packet send[2] = { { .data = bufs[0], .cap = MESSAGE_LEN_MAX },
				       { .data = bufs[1], .cap = MESSAGE_LEN_MAX } };
	struct weft_packet deliver[2] = { { .data = bufs[2], .cap = MESSAGE_LEN_MAX },
					  { .data = bufs[3], .cap = MESSAGE_LEN_MAX } };
	struct weft_out out = { .send = send, .send_max = 2, .deliver = deliver, .deliver_max = 2 };

	uint8_t initiation[MESSAGE_LEN_MAX], response[MESSAGE_LEN_MAX], transport[MESSAGE_LEN_MAX];
	size_t initiation_len, response_len, transport_len;
	weft_send(di, payload, payload_len, &out);
	if (!(initiation_len = take_sent(&out, "initiation", initiation)))
		return 1;
	weft_receive(dr, initiation, initiation_len, &ep, &out);
	if (!(response_len = take_sent(&out, "response", response)))
		return 1;
	weft_receive(di, response, response_len, &ep, &out);
	if (!(transport_len = take_sent(&out, "transport", transport)))
		return 1;

	/* And the responder must get the payload back. */
	weft_receive(dr, transport, transport_len, &ep, &out);
	if (out.deliver_count != 1 || deliver[0].len != payload_len ||
	    memcmp(deliver[0].data, payload, payload_len))
		return fprintf(stderr, "handshake: responder did not deliver the payload\n"), 1;
	weft_device_free(di);
	weft_device_free(dr);
	return 0;
}
