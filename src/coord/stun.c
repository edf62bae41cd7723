/* stun.c: STUN Binding (RFC 8489) for `weft coord`: a strict parser and the
 * encoders of requests and success responses (see stun.h). The server
 * answers Binding requests with XOR-MAPPED-ADDRESS only (and FINGERPRINT
 * when the request had one), so that a reply stays as small as it can be. */
#include "coord/stun.h"
#include "crypto/crypto.h"

#include <errno.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

/* CRC-32 (ISO 3309, the one FINGERPRINT uses), a table built once. */
uint32_t stun_crc32(const uint8_t *p, size_t len)
{
	static uint32_t table[256];
	static bool ready;
	uint32_t crc = 0xffffffffu;

	if (!__atomic_load_n(&ready, __ATOMIC_ACQUIRE)) {
		for (uint32_t i = 0; i < 256; i++) {
			uint32_t c = i;
			for (int k = 0; k < 8; k++)
				c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
			table[i] = c;
		}
		__atomic_store_n(&ready, true, __ATOMIC_RELEASE);
	}
	for (size_t i = 0; i < len; i++)
		crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
	return crc ^ 0xffffffffu;
}

/* (XOR-)MAPPED-ADDRESS value: 0, family (1 = IPv4, 2 = IPv6), port, address. */
static bool parse_address(struct coord_addr *a, const uint8_t *v, uint16_t len, bool xored,
			  const uint8_t *header)
{
	memset(a, 0, sizeof(*a));
	if (len < 4 || v[0])
		return false;
	uint16_t port = get16(v + 2);
	if (xored)
		port ^= (uint16_t)(STUN_MAGIC_COOKIE >> 16);
	a->port = port;
	if (v[1] == 1 && len == 8) {
		a->family = 4;
		for (int i = 0; i < 4; i++)
			a->ip[i] = (uint8_t)(v[4 + i] ^ (xored ? header[4 + i] : 0));
		return true;
	}
	if (v[1] == 2 && len == 20) {
		a->family = 6;
		/* XORed with the magic cookie then the transaction id: header[4..19] */
		for (int i = 0; i < 16; i++)
			a->ip[i] = (uint8_t)(v[4 + i] ^ (xored ? header[4 + i] : 0));
		return true;
	}
	return false;
}

int stun_parse(struct stun_msg *m, const uint8_t *pkt, size_t len)
{
	memset(m, 0, sizeof(*m));
	if (len < STUN_HEADER_LEN || len > STUN_MAX_LEN || (pkt[0] & 0xc0) ||
	    get32(pkt + 4) != STUN_MAGIC_COOKIE)
		return -EBADMSG;
	m->type = get16(pkt);
	m->length = get16(pkt + 2);
	if ((m->length & 3) || (size_t)m->length + STUN_HEADER_LEN != len)
		return -EBADMSG;
	memcpy(m->txid, pkt + 8, STUN_TXID_LEN);

	size_t off = STUN_HEADER_LEN;
	while (off < len) {
		if (len - off < 4 || ++m->attr_count > STUN_MAX_ATTRS)
			return -EBADMSG;
		uint16_t type = get16(pkt + off), alen = get16(pkt + off + 2);
		size_t padded = ((size_t)alen + 3) & ~(size_t)3;
		if (padded > len - off - 4)
			return -EBADMSG;
		const uint8_t *v = pkt + off + 4;
		/* after MESSAGE-INTEGRITY only FINGERPRINT may follow; nothing
		 * after FINGERPRINT */
		if (m->has_fingerprint)
			return -EBADMSG;
		if (m->has_integrity && type != STUN_ATTR_FINGERPRINT)
			return -EBADMSG;
		switch (type) {
		case STUN_ATTR_FINGERPRINT:
			if (alen != 4 || off + 8 != len)
				return -EBADMSG;
			if ((stun_crc32(pkt, off) ^ STUN_FINGERPRINT_XOR) != get32(v))
				return -EBADMSG;
			m->has_fingerprint = true;
			break;
		case STUN_ATTR_MESSAGE_INTEGRITY:
			if (alen != 20)
				return -EBADMSG;
			m->has_integrity = true;
			m->integrity_offset = off;
			break;
		case STUN_ATTR_XOR_MAPPED_ADDRESS:
			if (m->has_xor_mapped || !parse_address(&m->xor_mapped, v, alen, true, pkt))
				return -EBADMSG;
			m->has_xor_mapped = true;
			break;
		case STUN_ATTR_MAPPED_ADDRESS:
			if (m->has_mapped || !parse_address(&m->mapped, v, alen, false, pkt))
				return -EBADMSG;
			m->has_mapped = true;
			break;
		case STUN_ATTR_SOFTWARE:
			if (alen > 763)
				return -EBADMSG;
			m->software = v;
			m->software_len = alen;
			break;
		default:
			/* other attributes (USERNAME, PRIORITY, ...) are skipped:
			 * a Binding request needs none of them answered */
			break;
		}
		off += 4 + padded;
	}
	return 0;
}

static void hmac_sha1(uint8_t out[20], const uint8_t *key, size_t key_len,
		      const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len)
{
	/* HMAC over header-with-adjusted-length || rest, without a copy */
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
	OSSL_PARAM params[] = { OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA1", 0),
				OSSL_PARAM_construct_end() };
	size_t out_len = 0;

	memset(out, 0, 20);
	if (ctx && EVP_MAC_init(ctx, key, key_len, params) && EVP_MAC_update(ctx, a, a_len) &&
	    EVP_MAC_update(ctx, b, b_len))
		EVP_MAC_final(ctx, out, &out_len, 20);
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(mac);
}

/* The MAC of pkt[0 .. off) with the header's length counting up to the end
 * of a MESSAGE-INTEGRITY attribute at off. */
static void integrity_of(uint8_t out[20], const uint8_t *pkt, size_t off,
			 const uint8_t *key, size_t key_len)
{
	uint8_t header[STUN_HEADER_LEN];

	memcpy(header, pkt, STUN_HEADER_LEN);
	put16(header + 2, (uint16_t)(off + 24 - STUN_HEADER_LEN));
	hmac_sha1(out, key, key_len, header, STUN_HEADER_LEN, pkt + STUN_HEADER_LEN, off - STUN_HEADER_LEN);
}

bool stun_check_integrity(const uint8_t *pkt, size_t len, const struct stun_msg *m,
			  const uint8_t *key, size_t key_len)
{
	uint8_t mac[20];
	bool ok;

	if (!m->has_integrity || m->integrity_offset + 24 > len)
		return false;
	integrity_of(mac, pkt, m->integrity_offset, key, key_len);
	ok = memeq_ct(mac, pkt + m->integrity_offset + 4, 20); /* a MAC: no early exit */
	return ok;
}

static void put_header(uint8_t *out, uint16_t type, const uint8_t txid[STUN_TXID_LEN])
{
	put16(out, type);
	put16(out + 2, 0);
	put32(out + 4, STUN_MAGIC_COOKIE);
	memcpy(out + 8, txid, STUN_TXID_LEN);
}

static void add_fingerprint(uint8_t *out, size_t *len)
{
	put16(out + 2, (uint16_t)(*len + 8 - STUN_HEADER_LEN));
	put16(out + *len, STUN_ATTR_FINGERPRINT);
	put16(out + *len + 2, 4);
	put32(out + *len + 4, stun_crc32(out, *len) ^ STUN_FINGERPRINT_XOR);
	*len += 8;
}

int stun_binding_response(uint8_t *out, size_t cap, const uint8_t txid[STUN_TXID_LEN],
			  const struct coord_addr *mapped, const struct stun_response_opts *opts)
{
	static const struct stun_response_opts none;
	size_t len = STUN_HEADER_LEN;

	if (!opts)
		opts = &none;
	if (mapped->family != 4 && mapped->family != 6)
		return -EINVAL;
	size_t soft = opts->software ? strlen(opts->software) : 0;
	size_t need = STUN_HEADER_LEN + (soft ? 4 + ((soft + 3) & ~(size_t)3) : 0) +
		      (mapped->family == 4 ? 12 : 24) + (opts->integrity_key ? 24 : 0) +
		      (opts->fingerprint ? 8 : 0);
	if (soft > 763)
		return -EINVAL;
	if (cap < need)
		return -EMSGSIZE;
	put_header(out, STUN_BINDING_SUCCESS, txid);
	if (soft) {
		put16(out + len, STUN_ATTR_SOFTWARE);
		put16(out + len + 2, (uint16_t)soft);
		memcpy(out + len + 4, opts->software, soft);
		size_t padded = (soft + 3) & ~(size_t)3;
		memset(out + len + 4 + soft, opts->pad, padded - soft);
		len += 4 + padded;
	}
	size_t alen = mapped->family == 4 ? 8 : 20;
	put16(out + len, STUN_ATTR_XOR_MAPPED_ADDRESS);
	put16(out + len + 2, (uint16_t)alen);
	out[len + 4] = 0;
	out[len + 5] = mapped->family == 4 ? 1 : 2;
	put16(out + len + 6, mapped->port ^ (uint16_t)(STUN_MAGIC_COOKIE >> 16));
	for (size_t i = 0; i < alen - 4; i++)
		out[len + 8 + i] = mapped->ip[i] ^ out[4 + i]; /* cookie || txid */
	len += 4 + alen;
	if (opts->integrity_key) {
		uint8_t mac[20];
		integrity_of(mac, out, len, opts->integrity_key, opts->integrity_key_len);
		put16(out + len, STUN_ATTR_MESSAGE_INTEGRITY);
		put16(out + len + 2, 20);
		memcpy(out + len + 4, mac, 20);
		len += 24;
	}
	put16(out + 2, (uint16_t)(len - STUN_HEADER_LEN));
	if (opts->fingerprint)
		add_fingerprint(out, &len);
	return (int)len;
}

int stun_binding_request(uint8_t *out, size_t cap, const uint8_t txid[STUN_TXID_LEN],
			 bool fingerprint)
{
	size_t len = STUN_HEADER_LEN;

	if (cap < STUN_HEADER_LEN + (fingerprint ? 8u : 0u))
		return -EMSGSIZE;
	put_header(out, STUN_BINDING_REQUEST, txid);
	if (fingerprint)
		add_fingerprint(out, &len);
	return (int)len;
}
