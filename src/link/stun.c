/* stun.c: STUN Binding request and response (stun.h). */
#include "link/stun.h"

#include <arpa/inet.h>
#include <string.h>

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

size_t stun_binding_request(uint8_t out[STUN_HEADER_LEN], const uint8_t txid[STUN_TXID_LEN])
{
	out[0] = 0;
	out[1] = STUN_BINDING_REQUEST;
	out[2] = out[3] = 0; /* no attributes */
	out[4] = STUN_MAGIC >> 24;
	out[5] = (STUN_MAGIC >> 16) & 0xff;
	out[6] = (STUN_MAGIC >> 8) & 0xff;
	out[7] = STUN_MAGIC & 0xff;
	memcpy(out + 8, txid, STUN_TXID_LEN);
	return STUN_HEADER_LEN;
}

/* One address attribute's value; xor undoes XOR-MAPPED-ADDRESS. */
static bool parse_addr(const uint8_t *v, size_t len, const uint8_t *header, bool xor, union link_addr *out)
{
	uint8_t family;
	uint16_t port;

	if (len < 4)
		return false;
	family = v[1];
	port = get16(v + 2);
	if (xor)
		port ^= STUN_MAGIC >> 16;
	memset(out, 0, sizeof(*out));
	if (family == 0x01 && len == 8) {
		uint32_t a = get32(v + 4);

		if (xor)
			a ^= STUN_MAGIC;
		out->in4.sin_family = AF_INET;
		out->in4.sin_addr.s_addr = htonl(a);
		out->in4.sin_port = htons(port);
		return true;
	}
	if (family == 0x02 && len == 20) {
		memcpy(out->in6.sin6_addr.s6_addr, v + 4, 16);
		if (xor)
			for (int i = 0; i < 16; i++)
				out->in6.sin6_addr.s6_addr[i] ^= header[4 + i]; /* magic cookie, then txid */
		out->in6.sin6_family = AF_INET6;
		out->in6.sin6_port = htons(port);
		return true;
	}
	return false;
}

bool stun_parse_response(const uint8_t *msg, size_t len, const uint8_t txid[STUN_TXID_LEN],
			 union link_addr *mapped)
{
	size_t body, off = STUN_HEADER_LEN;
	bool have_plain = false;
	union link_addr plain;

	if (len < STUN_HEADER_LEN || len > STUN_MAX_MESSAGE || (msg[0] & 0xc0) ||
	    get16(msg) != STUN_BINDING_SUCCESS || get32(msg + 4) != STUN_MAGIC ||
	    memcmp(msg + 8, txid, STUN_TXID_LEN))
		return false;
	body = get16(msg + 2);
	if (body % 4 || STUN_HEADER_LEN + body > len)
		return false;
	while (off + 4 <= STUN_HEADER_LEN + body) {
		uint16_t type = get16(msg + off), alen = get16(msg + off + 2);
		size_t padded = ((size_t)alen + 3) & ~(size_t)3;

		if (off + 4 + padded > STUN_HEADER_LEN + body)
			return false;
		if (type == STUN_ATTR_XOR_MAPPED_ADDRESS)
			return parse_addr(msg + off + 4, alen, msg, true, mapped);
		if (type == STUN_ATTR_MAPPED_ADDRESS && !have_plain)
			have_plain = parse_addr(msg + off + 4, alen, msg, false, &plain);
		off += 4 + padded;
	}
	if (have_plain)
		*mapped = plain;
	return have_plain;
}
