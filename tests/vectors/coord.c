/* tests/vectors/coord.c: weft's coord protocol with fixed keys, randomness
 * and time (coord_inputs.txt), printing the bytes on the wire for coord.sh
 * to compare with coord_ref.py: the initiation, the response, the first
 * transport message (an ANNOUNCE of the pair's token with a sealed blob),
 * the token, the blob and a cookie reply.
 *   build/vectors/coord INPUTS */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord/client.h"
#include "coord/noise.h"
#include "coord/proto.h"
#include "crypto/crypto.h"

static char inputs[32][2][160];
static int ninputs;

static const char *input(const char *name)
{
	for (int i = 0; i < ninputs; i++)
		if (!strcmp(inputs[i][0], name))
			return inputs[i][1];
	fprintf(stderr, "coord: no %s in the inputs\n", name);
	exit(1);
}

static void hex_in(uint8_t *out, size_t n, const char *name)
{
	const char *h = input(name);

	if (strlen(h) != 2 * n) {
		fprintf(stderr, "coord: %s is not %zu bytes\n", name, n);
		exit(1);
	}
	for (size_t i = 0; i < n; i++)
		sscanf(h + 2 * i, "%2hhx", &out[i]);
}

static void hex_out(const char *name, const uint8_t *p, size_t n)
{
	printf("%s = ", name);
	for (size_t i = 0; i < n; i++)
		printf("%02x", p[i]);
	printf("\n");
}

int main(int argc, char *argv[])
{
	char line[512];
	FILE *f = argc == 2 ? fopen(argv[1], "r") : NULL;

	if (!f || crypto_init() < 0) {
		fprintf(stderr, "usage: coord INPUTS\n");
		return 1;
	}
	while (fgets(line, sizeof(line), f) && ninputs < 32) {
		char *hash = strchr(line, '#');
		if (hash)
			*hash = 0;
		if (sscanf(line, " %159[a-z_] = %159s", inputs[ninputs][0], inputs[ninputs][1]) == 2)
			ninputs++;
	}
	fclose(f);

	uint8_t cpriv[32], cpub[32], spriv[32], spub[32], ppriv[32], ppub[32], ceph[32], seph[32];
	uint8_t idx[4], sidx[4], nonce[24], secret[32], cnonce[24];
	hex_in(cpriv, 32, "client_private");
	hex_in(spriv, 32, "server_private");
	hex_in(ppriv, 32, "peer_private");
	hex_in(ceph, 32, "client_ephemeral");
	hex_in(seph, 32, "server_ephemeral");
	hex_in(idx, 4, "client_index");
	hex_in(sidx, 4, "server_index");
	hex_in(nonce, 24, "blob_nonce");
	hex_in(secret, 32, "cookie_secret");
	hex_in(cnonce, 24, "cookie_nonce");
	uint64_t wall = strtoull(input("wall_ns"), NULL, 10);
	const char *label = input("label");
	x25519_public(cpub, cpriv);
	x25519_public(spub, spriv);
	x25519_public(ppub, ppriv);

	/* initiation (client), consumed by the server */
	struct coord_hs ci, si;
	uint8_t init[COORD_INITIATION_LEN], resp[COORD_RESPONSE_LEN], mac1[32], got_pub[32], ts[12];
	if (!coord_hs_create_initiation(&ci, init, cpriv, cpub, spub, coord_get_le32(idx), ceph, wall))
		return 1;
	coord_mac1_key(mac1, spub);
	coord_add_macs(init, sizeof(init), mac1, NULL);
	hex_out("initiation", init, sizeof(init));
	if (!coord_check_mac1(init, sizeof(init), mac1) ||
	    !coord_hs_consume_initiation(&si, init, spriv, spub, got_pub, ts) || memcmp(got_pub, cpub, 32))
		return 1;

	/* response (server), consumed by the client */
	struct coord_keys sk, ck;
	if (!coord_hs_create_response(&si, resp, cpub, coord_get_le32(sidx), seph, &sk))
		return 1;
	coord_mac1_key(mac1, cpub);
	coord_add_macs(resp, sizeof(resp), mac1, NULL);
	hex_out("response", resp, sizeof(resp));
	if (!coord_hs_consume_response(&ci, resp, cpriv, &ck))
		return 1;

	/* the token, the blob, and the ANNOUNCE carrying them */
	uint8_t token[32], blob[COORD_BLOB_MAX], pkt[COORD_TRANSPORT_MAX], pt[COORD_INNER_MAX];
	struct coord_addr cands[2] = {
		{ .family = 4, .port = 51820, .ip = { 192, 168, 1, 20 } },
		{ .family = 6, .port = 51820, .ip = { 0xfd, 0, [15] = 0x20 } },
	};
	coord_token(token, cpub, ppub, label, strlen(label));
	hex_out("token", token, 32);
	int bl = coord_blob_seal_nonce(blob, sizeof(blob), cpriv, cpub, ppub, token, cands, 2, nonce);
	if (bl < 0)
		return 1;
	hex_out("blob", blob, (size_t)bl);
	struct coord_msg m = { .type = COORD_ANNOUNCE, .blob = blob, .blob_len = (uint16_t)bl };
	memcpy(m.token, token, 32);
	int n = coord_msg_encode(pt, sizeof(pt), &m);
	n = coord_transport_seal(&ck, pt, (size_t)n, pkt, sizeof(pkt));
	if (n < 0 || coord_transport_open(&sk, pkt, (size_t)n, pt, sizeof(pt)) < 0)
		return 1;
	hex_out("transport", pkt, (size_t)n);

	/* the cookie reply to that initiation, from 203.0.113.7:40000 */
	struct coord_addr src = { .family = 4, .port = 40000, .ip = { 203, 0, 113, 7 } };
	uint8_t cookie[16], ckey[32], reply[COORD_COOKIE_REPLY_LEN];
	coord_make_cookie(cookie, secret, &src);
	coord_cookie_key(ckey, spub);
	coord_cookie_reply_create(reply, init, cookie, ckey, cnonce);
	hex_out("cookie_reply", reply, sizeof(reply));
	return 0;
}
