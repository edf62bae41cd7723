/* fuzz_serve_chain.c: libFuzzer target for where a chained server sends a
 * packet a relay peer sent (chain_classify and chain_forward_hop in
 * src/serve/chain.c), from a client and from a server. Aborts when an e2e
 * datagram's payload is not inside the packet, when a server's packet is
 * let through to the flows or the API, or when a forwarded packet's hop
 * limit does not go down. */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "serve/chain.c"
#include "serve/packet.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t buf[65536];
	struct chain_self self = { .has_relay = true, .has_api = true, .e2e_port = 51821 };
	const uint8_t *payload;
	size_t plen;
	uint8_t src[16];
	uint16_t sport;

	if (size > sizeof(buf))
		return 0;
	inet_pton(AF_INET6, "fd:17::3", self.relay);
	inet_pton(AF_INET6, "fd:16::3", self.api);
	conf_prefix_parse(&self.relay_prefix, "fd:17::/48");
	for (int client = 0; client < 2; client++) {
		enum chain_verdict v;
		memcpy(buf, data, size);
		v = chain_classify(&self, client, buf, size, &payload, &plen, src, &sport);
		if (v == CHAIN_E2E && (payload < buf || payload + plen > buf + size))
			abort();
		if (!client && (v == CHAIN_EXIT || v == CHAIN_API))
			abort();
		if (v == CHAIN_RELAYED) {
			uint8_t hop = buf[7];
			if (chain_forward_hop(buf, size) ? buf[7] != hop - 1 : hop > 1)
				abort();
		}
	}
	return 0;
}
