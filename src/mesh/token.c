/* token.c: the network id, Ed25519 key pairs and join tokens of a mesh
 * (docs/weft-mesh.md, "Join tokens"). Everything is bounded; the parser
 * refuses trailing bytes and out-of-range fields before it checks the
 * signature, and the signature before it trusts anything else. */
#include "mesh/token.h"
#include "mesh/le.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "crypto/crypto.h"
#include "util/random.h"

static const char network_key[] = "weft mesh v1 network";
static const char token_context[] = "weft mesh token v1";

enum { PAYLOAD_MAX = 1 + MESH_ID_LEN + MESH_PUB_LEN + MESH_TOKEN_ID_LEN + 8 + 2 + 32 + MESH_SECRET_LEN +
	(1 + MESH_MAX_HOSTPORT) * (1 + MESH_MAX_BOOTSTRAP) + 1 };

void mesh_network_id(uint8_t id[MESH_ID_LEN], const uint8_t admin_pub[MESH_PUB_LEN])
{
	uint8_t h[BLAKE2S_HASH_LEN];

	b2s(h, sizeof(h), admin_pub, MESH_PUB_LEN, (const uint8_t *)network_key, strlen(network_key));
	memcpy(id, h, MESH_ID_LEN);
}

int mesh_keypair(uint8_t pub[MESH_PUB_LEN], uint8_t sec[MESH_SEC_LEN])
{
	uint8_t seed[crypto_sign_SEEDBYTES];

	if (!random_fill(seed, sizeof(seed)))
		return -errno;
	crypto_sign_seed_keypair(pub, sec, seed);
	memzero(seed, sizeof(seed));
	return 0;
}

/* A host:port as the token carries it: printable, no blanks, 1..255. */
static bool hostport_ok(const char *s, size_t len)
{
	if (!len || len > MESH_MAX_HOSTPORT || !memchr(s, ':', len))
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f)
			return false;
	return true;
}

static void sign_payload(uint8_t sig[MESH_SIG_LEN], const uint8_t *p, size_t len,
			 const uint8_t sec[MESH_SEC_LEN])
{
	/* Plain Ed25519 over context || payload: the context keeps a token's
	 * signature from being valid for any other message the admin signs. */
	uint8_t buf[sizeof(token_context) - 1 + PAYLOAD_MAX];
	memcpy(buf, token_context, sizeof(token_context) - 1);
	memcpy(buf + sizeof(token_context) - 1, p, len);
	crypto_sign_detached(sig, NULL, buf, sizeof(token_context) - 1 + len, sec);
	memzero(buf, sizeof(buf));
}

static bool verify_payload(const uint8_t sig[MESH_SIG_LEN], const uint8_t *p, size_t len,
			   const uint8_t pub[MESH_PUB_LEN])
{
	uint8_t buf[sizeof(token_context) - 1 + PAYLOAD_MAX];

	memcpy(buf, token_context, sizeof(token_context) - 1);
	memcpy(buf + sizeof(token_context) - 1, p, len);
	bool ok = crypto_sign_verify_detached(sig, buf, sizeof(token_context) - 1 + len, pub) == 0;
	memzero(buf, sizeof(buf));
	return ok;
}

int mesh_token_encode(char *out, size_t out_len, struct mesh_token *tok,
		      const uint8_t admin_sec[MESH_SEC_LEN])
{
	uint8_t p[PAYLOAD_MAX + MESH_SIG_LEN];
	size_t n = 0, len;

	if (!tok->uses || tok->n_bootstrap > MESH_MAX_BOOTSTRAP)
		return -EINVAL;
	crypto_sign_ed25519_sk_to_pk(tok->admin_pub, admin_sec);
	mesh_network_id(tok->network_id, tok->admin_pub);
	p[n++] = 1;
	memcpy(p + n, tok->network_id, MESH_ID_LEN), n += MESH_ID_LEN;
	memcpy(p + n, tok->admin_pub, MESH_PUB_LEN), n += MESH_PUB_LEN;
	memcpy(p + n, tok->id, MESH_TOKEN_ID_LEN), n += MESH_TOKEN_ID_LEN;
	put_le(p + n, tok->expires, 8), n += 8;
	put_le(p + n, tok->uses, 2), n += 2;
	memcpy(p + n, tok->coord_key, 32), n += 32;
	memcpy(p + n, tok->secret, MESH_SECRET_LEN), n += MESH_SECRET_LEN;
	len = strnlen(tok->coord, sizeof(tok->coord));
	if (len && !hostport_ok(tok->coord, len))
		return -EINVAL;
	p[n++] = (uint8_t)len;
	memcpy(p + n, tok->coord, len), n += len;
	p[n++] = (uint8_t)tok->n_bootstrap;
	for (unsigned i = 0; i < tok->n_bootstrap; i++) {
		len = strnlen(tok->bootstrap[i], sizeof(tok->bootstrap[i]));
		if (!hostport_ok(tok->bootstrap[i], len))
			return -EINVAL;
		p[n++] = (uint8_t)len;
		memcpy(p + n, tok->bootstrap[i], len), n += len;
	}
	sign_payload(p + n, p, n, admin_sec);
	n += MESH_SIG_LEN;

	size_t need = strlen(MESH_TOKEN_PREFIX) + sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	if (need > out_len) {
		memzero(p, sizeof(p));
		return -ENOSPC;
	}
	strcpy(out, MESH_TOKEN_PREFIX);
	sodium_bin2base64(out + strlen(MESH_TOKEN_PREFIX), out_len - strlen(MESH_TOKEN_PREFIX), p, n,
			  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	memzero(p, sizeof(p));
	return (int)strlen(out);
}

/* Reads a length-prefixed host:port into dst; false when out of bounds. */
static bool take_hostport(char *dst, const uint8_t *p, size_t end, size_t *n, bool may_be_empty)
{
	if (*n >= end)
		return false;
	size_t len = p[(*n)++];
	if (len > end - *n || (!len && !may_be_empty))
		return false;
	if (len && !hostport_ok((const char *)p + *n, len))
		return false;
	memcpy(dst, p + *n, len);
	dst[len] = 0;
	*n += len;
	return true;
}

static int parse_payload(struct mesh_token *tok, const uint8_t *p, size_t total, uint64_t now)
{
	enum { FIXED = 1 + MESH_ID_LEN + MESH_PUB_LEN + MESH_TOKEN_ID_LEN + 8 + 2 + 32 + MESH_SECRET_LEN };
	size_t n = 0, end;
	uint8_t id[MESH_ID_LEN];

	if (total < FIXED + 2 + MESH_SIG_LEN || p[0] != 1)
		return -EINVAL;
	end = total - MESH_SIG_LEN;
	n = 1;
	memcpy(tok->network_id, p + n, MESH_ID_LEN), n += MESH_ID_LEN;
	memcpy(tok->admin_pub, p + n, MESH_PUB_LEN), n += MESH_PUB_LEN;
	memcpy(tok->id, p + n, MESH_TOKEN_ID_LEN), n += MESH_TOKEN_ID_LEN;
	tok->expires = get_le(p + n, 8), n += 8;
	tok->uses = (uint16_t)get_le(p + n, 2), n += 2;
	memcpy(tok->coord_key, p + n, 32), n += 32;
	memcpy(tok->secret, p + n, MESH_SECRET_LEN), n += MESH_SECRET_LEN;
	if (!take_hostport(tok->coord, p, end, &n, true) || n >= end)
		return -EINVAL;
	tok->n_bootstrap = p[n++];
	if (tok->n_bootstrap > MESH_MAX_BOOTSTRAP || !tok->uses)
		return -EINVAL;
	for (unsigned i = 0; i < tok->n_bootstrap; i++)
		if (!take_hostport(tok->bootstrap[i], p, end, &n, false))
			return -EINVAL;
	if (n != end)
		return -EINVAL;
	mesh_network_id(id, tok->admin_pub);
	if (memcmp(id, tok->network_id, MESH_ID_LEN))
		return -EBADMSG;
	if (!verify_payload(p + end, p, end, tok->admin_pub))
		return -EBADMSG;
	if (now >= tok->expires)
		return -EKEYEXPIRED;
	return 0;
}

int mesh_token_parse(struct mesh_token *tok, const char *line, uint64_t now)
{
	uint8_t p[PAYLOAD_MAX + MESH_SIG_LEN];
	size_t len, plen = strlen(MESH_TOKEN_PREFIX), bin_len = 0;
	const char *end;
	int r;

	memset(tok, 0, sizeof(*tok));
	while (*line == ' ' || *line == '\t')
		line++;
	len = strnlen(line, MESH_TOKEN_MAX_TEXT + 1);
	if (len > MESH_TOKEN_MAX_TEXT)
		return -EINVAL;
	while (len && (line[len - 1] == ' ' || line[len - 1] == '\t' || line[len - 1] == '\n' || line[len - 1] == '\r'))
		len--;
	if (len <= plen || strncmp(line, MESH_TOKEN_PREFIX, plen))
		return -EINVAL;
	if (sodium_base642bin(p, sizeof(p), line + plen, len - plen, NULL, &bin_len, &end,
			      sodium_base64_VARIANT_URLSAFE_NO_PADDING) || end != line + len)
		return -EINVAL;
	r = parse_payload(tok, p, bin_len, now);
	memzero(p, sizeof(p));
	if (r)
		mesh_token_wipe(tok);
	return r;
}

void mesh_token_id_hex(char out[2 * MESH_TOKEN_ID_LEN + 1], const uint8_t id[MESH_TOKEN_ID_LEN])
{
	for (unsigned i = 0; i < MESH_TOKEN_ID_LEN; i++)
		snprintf(out + 2 * i, 3, "%02x", id[i]);
}

bool mesh_token_id_parse(uint8_t id[MESH_TOKEN_ID_LEN], const char *hex)
{
	if (strlen(hex) != 2 * MESH_TOKEN_ID_LEN)
		return false;
	for (unsigned i = 0; i < 2 * MESH_TOKEN_ID_LEN; i++) {
		char c = hex[i];
		int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 :
			c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
		if (v < 0)
			return false;
		if (i % 2)
			id[i / 2] = (uint8_t)(id[i / 2] << 4 | v);
		else
			id[i / 2] = (uint8_t)v;
	}
	return true;
}

void mesh_token_wipe(struct mesh_token *tok)
{
	memzero(tok, sizeof(*tok));
}
