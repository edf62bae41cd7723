/* client.c: the coord client session without I/O (see client.h): the
 * handshake and its retries with backoff, cookies, rekeying, keepalives,
 * sealing and opening, and the end-to-end token and candidate blob. */
#include "coord/client.h"

#include <errno.h>
#include <string.h>

#include "crypto/crypto.h"
#include "util/random.h"

#define NS 1000000000ULL
/* Silence from the server for this long means it lost our session (it
 * restarted, or the path broke): handshake again. */
#define SILENCE_NS ((2ULL * COORD_KEEPALIVE_INTERVAL + COORD_REKEY_TIMEOUT) * NS)
#define BACKOFF_MAX_NS (60ULL * NS)

int coord_client_init(struct coord_client *c, const uint8_t priv[32], const uint8_t server_pub[32])
{
	memset(c, 0, sizeof(*c));
	memcpy(c->static_priv, priv, 32);
	memcpy(c->server_pub, server_pub, 32);
	if (!x25519_public(c->static_pub, priv) || is_zero_ct(server_pub, 32)) {
		coord_client_clear(c);
		return -EINVAL;
	}
	coord_mac1_key(c->mac1_key, server_pub);
	coord_cookie_key(c->cookie_key, server_pub);
	return 0;
}

void coord_client_clear(struct coord_client *c)
{
	memzero(c, sizeof(*c));
}

bool coord_client_ready(const struct coord_client *c)
{
	return c->have_cur;
}

int coord_client_initiate(struct coord_client *c, uint8_t out[COORD_INITIATION_LEN],
			  uint64_t now_ns, uint64_t wall_ns)
{
	uint8_t rnd[36];
	uint32_t index;

	if (!random_fill(rnd, sizeof(rnd)))
		return -errno;
	memcpy(&index, rnd + 32, 4);
	if (!index)
		index = 1;
	bool ok = coord_hs_create_initiation(&c->hs, out, c->static_priv, c->static_pub,
					     c->server_pub, index, rnd, wall_ns);
	memzero(rnd, sizeof(rnd));
	if (!ok) {
		c->hs_pending = false;
		return -EINVAL;
	}
	bool fresh_cookie = c->cookie_birth_ns &&
		now_ns - c->cookie_birth_ns < (COORD_COOKIE_SECRET_MAX_AGE - COORD_REKEY_TIMEOUT) * NS;
	coord_add_macs(out, COORD_INITIATION_LEN, c->mac1_key, fresh_cookie ? c->cookie : NULL);
	memcpy(c->last_mac1, out + COORD_INIT_MAC1, COORD_MAC_LEN);
	c->sent_mac1 = true;
	c->hs_pending = true;
	c->hs_sent_ns = now_ns;
	c->hs_attempts++;
	c->last_sent_ns = now_ns;
	return COORD_INITIATION_LEN;
}

static int receive_response(struct coord_client *c, const uint8_t *pkt, uint64_t now_ns)
{
	uint8_t our_mac1[32];
	struct coord_keys k;

	if (!c->hs_pending)
		return -EBADMSG;
	coord_mac1_key(our_mac1, c->static_pub);
	bool mac_ok = coord_check_mac1(pkt, COORD_RESPONSE_LEN, our_mac1);
	if (!mac_ok || !coord_hs_consume_response(&c->hs, pkt, c->static_priv, &k))
		return -EBADMSG;
	k.birth_ns = now_ns;
	if (c->have_cur) {
		c->prev = c->cur;
		c->have_prev = true;
	}
	c->cur = k;
	c->have_cur = true;
	coord_keys_clear(&k);
	c->hs_pending = false;
	c->hs_attempts = 0;
	c->last_recv_ns = now_ns;
	c->ping_due = true; /* the server adopts the keys at our first message */
	memset(c->challenge, 0, sizeof(c->challenge));
	return COORD_RX_ESTABLISHED;
}

int coord_client_receive(struct coord_client *c, const uint8_t *pkt, size_t len,
			 uint64_t now_ns, struct coord_msg *msg)
{
	memset(msg, 0, sizeof(*msg));
	switch (coord_classify(pkt, len)) {
	case COORD_KIND_RESPONSE:
		return receive_response(c, pkt, now_ns);
	case COORD_KIND_COOKIE:
		if (!c->hs_pending || !c->sent_mac1 ||
		    coord_get_le32(pkt + COORD_COOKIE_RECEIVER) != c->hs.local_index ||
		    !coord_cookie_reply_open(c->cookie, pkt, len, c->last_mac1, c->cookie_key))
			return -EBADMSG;
		c->cookie_birth_ns = now_ns;
		c->sent_mac1 = false;
		/* retry now: the cookie makes the next initiation count */
		c->hs_pending = false;
		return COORD_RX_COOKIE;
	case COORD_KIND_TRANSPORT:
		break;
	default:
		return -EBADMSG;
	}
	uint32_t idx = coord_transport_receiver(pkt);
	struct coord_keys *k = c->have_cur && idx == c->cur.local_index ? &c->cur :
			       c->have_prev && idx == c->prev.local_index ? &c->prev : NULL;
	if (!k)
		return c->have_cur ? -EBADMSG : -ENOTCONN;
	if (now_ns - k->birth_ns >= COORD_REJECT_AFTER_TIME * NS)
		return -ENOTCONN;
	int n = coord_transport_open(k, pkt, len, c->rx, sizeof(c->rx));
	if (n < 0)
		return n;
	c->last_recv_ns = now_ns;
	if (k == &c->cur && c->have_prev) {
		/* the server uses the new keys: nothing more comes under the old */
		coord_keys_clear(&c->prev);
		c->have_prev = false;
	}
	c->rx_len = (uint16_t)n;
	/* 0xc0-0xff: the relay's (relay_proto.h), for the caller to decode */
	if (c->rx[0] >= 0xc0)
		return COORD_RX_RELAY;
	if (coord_msg_decode(msg, c->rx, (size_t)n) < 0 || !(msg->type & 0x80))
		return -EBADMSG;
	if (msg->type == COORD_PONG) {
		c->observed = msg->addr;
		if (!is_zero_ct(msg->challenge, COORD_CHALLENGE_LEN)) {
			/* the server has not verified this address yet: echo */
			memcpy(c->challenge, msg->challenge, COORD_CHALLENGE_LEN);
			c->ping_due = true;
		} else {
			memset(c->challenge, 0, sizeof(c->challenge));
		}
	}
	return COORD_RX_MESSAGE;
}

int coord_client_seal(struct coord_client *c, const struct coord_msg *m,
		      uint8_t *out, size_t cap, uint64_t now_ns)
{
	uint8_t pt[COORD_INNER_MAX];

	if (!c->have_cur || now_ns - c->cur.birth_ns >= COORD_REJECT_AFTER_TIME * NS)
		return -ENOTCONN;
	int n = coord_msg_encode(pt, sizeof(pt), m);
	if (n < 0)
		return n;
	n = coord_transport_seal(&c->cur, pt, (size_t)n, out, cap);
	if (n > 0)
		c->last_sent_ns = now_ns;
	return n;
}

int coord_client_ping(struct coord_client *c, uint64_t echo, uint8_t *out, size_t cap,
		      uint64_t now_ns)
{
	struct coord_msg m = { .type = COORD_PING, .echo = echo };

	memcpy(m.challenge, c->challenge, COORD_CHALLENGE_LEN);
	int n = coord_client_seal(c, &m, out, cap, now_ns);
	if (n > 0) {
		c->ping_due = false;
		memset(c->challenge, 0, sizeof(c->challenge));
	}
	return n;
}

static uint64_t retry_interval(const struct coord_client *c)
{
	uint64_t t = COORD_REKEY_TIMEOUT * NS;

	for (unsigned i = 1; i < c->hs_attempts && t < BACKOFF_MAX_NS; i++)
		t *= 2;
	return t < BACKOFF_MAX_NS ? t : BACKOFF_MAX_NS;
}

unsigned coord_client_tick(struct coord_client *c, uint64_t now_ns)
{
	unsigned want = 0;

	if (c->have_cur && (now_ns - c->cur.birth_ns >= COORD_REJECT_AFTER_TIME * NS ||
			    now_ns - c->last_recv_ns >= SILENCE_NS)) {
		coord_keys_clear(&c->cur);
		coord_keys_clear(&c->prev);
		c->have_cur = c->have_prev = false;
		want |= COORD_LOST;
	}
	if (c->hs_pending) {
		if (now_ns - c->hs_sent_ns >= retry_interval(c))
			want |= COORD_WANT_HANDSHAKE;
	} else if (!c->have_cur || now_ns - c->cur.birth_ns >= COORD_REKEY_AFTER_TIME * NS) {
		want |= COORD_WANT_HANDSHAKE;
	}
	if (c->have_cur && (c->ping_due || now_ns - c->last_sent_ns >= COORD_KEEPALIVE_INTERVAL * NS))
		want |= COORD_WANT_PING;
	return want;
}

uint64_t coord_client_next_deadline(const struct coord_client *c, uint64_t now_ns)
{
	uint64_t next = now_ns + COORD_KEEPALIVE_INTERVAL * NS;

#define EARLIER(t) do { uint64_t _t = (t); if (_t < next) next = _t; } while (0)
	if (c->hs_pending)
		EARLIER(c->hs_sent_ns + retry_interval(c));
	else if (!c->have_cur)
		return now_ns;
	if (c->have_cur) {
		if (c->ping_due)
			return now_ns;
		EARLIER(c->cur.birth_ns + COORD_REKEY_AFTER_TIME * NS);
		EARLIER(c->cur.birth_ns + COORD_REJECT_AFTER_TIME * NS);
		EARLIER(c->last_sent_ns + COORD_KEEPALIVE_INTERVAL * NS);
		EARLIER(c->last_recv_ns + SILENCE_NS);
	}
#undef EARLIER
	return next < now_ns ? now_ns : next;
}

int coord_token(uint8_t token[COORD_TOKEN_LEN], const uint8_t pub_a[32], const uint8_t pub_b[32],
		const char *label, size_t label_len)
{
	struct b2s_ctx ctx;
	bool a_first = memcmp(pub_a, pub_b, 32) <= 0;

	if (label_len > COORD_LABEL_MAX || (label_len && !label))
		return -EINVAL;
	b2s_init(&ctx, COORD_TOKEN_LEN);
	b2s_update(&ctx, a_first ? pub_a : pub_b, 32);
	b2s_update(&ctx, a_first ? pub_b : pub_a, 32);
	if (label_len)
		b2s_update(&ctx, (const uint8_t *)label, label_len);
	b2s_final(&ctx, token);
	return 0;
}

static bool blob_key(uint8_t key[32], const uint8_t our_priv[32], const uint8_t peer_pub[32],
		     const uint8_t token[COORD_TOKEN_LEN])
{
	uint8_t dh[32];
	bool ok = x25519(dh, our_priv, peer_pub);

	if (ok)
		kdf(key, NULL, NULL, dh, sizeof(dh), token);
	memzero(dh, sizeof(dh));
	return ok;
}

#define BLOB_VERSION 1

int coord_blob_seal(uint8_t *out, size_t cap, const uint8_t our_priv[32], const uint8_t our_pub[32],
		    const uint8_t peer_pub[32], const uint8_t token[COORD_TOKEN_LEN],
		    const struct coord_addr *cands, size_t n)
{
	uint8_t nonce[24];

	if (!random_fill(nonce, sizeof(nonce)))
		return -errno;
	return coord_blob_seal_nonce(out, cap, our_priv, our_pub, peer_pub, token, cands, n, nonce);
}

int coord_blob_seal_nonce(uint8_t *out, size_t cap, const uint8_t our_priv[32], const uint8_t our_pub[32],
			  const uint8_t peer_pub[32], const uint8_t token[COORD_TOKEN_LEN],
			  const struct coord_addr *cands, size_t n, const uint8_t nonce[24])
{
	uint8_t key[32], ad[COORD_TOKEN_LEN + 32], pt[1 + COORD_CANDIDATES_MAX * COORD_ADDR_LEN];

	if (n > COORD_CANDIDATES_MAX)
		return -EINVAL;
	size_t len = coord_blob_len(n);
	if (cap < len)
		return -EMSGSIZE;
	if (!blob_key(key, our_priv, peer_pub, token))
		return -EINVAL;
	out[0] = BLOB_VERSION;
	memcpy(out + 1, nonce, 24);
	pt[0] = (uint8_t)n;
	for (size_t i = 0; i < n; i++)
		coord_addr_encode(pt + 1 + i * COORD_ADDR_LEN, &cands[i]);
	memcpy(ad, token, COORD_TOKEN_LEN);
	memcpy(ad + COORD_TOKEN_LEN, our_pub, 32);
	xaead_seal(out + 25, pt, 1 + n * COORD_ADDR_LEN, ad, sizeof(ad), out + 1, key);
	memzero(key, sizeof(key));
	memzero(pt, sizeof(pt));
	return (int)len;
}

int coord_blob_open(struct coord_addr *cands, size_t max, const uint8_t *blob, size_t len,
		    const uint8_t our_priv[32], const uint8_t peer_pub[32],
		    const uint8_t token[COORD_TOKEN_LEN])
{
	uint8_t key[32], ad[COORD_TOKEN_LEN + 32], pt[1 + COORD_CANDIDATES_MAX * COORD_ADDR_LEN];

	if (len < coord_blob_len(0) || len > coord_blob_len(COORD_CANDIDATES_MAX) ||
	    (len - coord_blob_len(0)) % COORD_ADDR_LEN || blob[0] != BLOB_VERSION)
		return -EBADMSG;
	size_t pt_len = len - 25 - 16;
	if (!blob_key(key, our_priv, peer_pub, token))
		return -EBADMSG;
	memcpy(ad, token, COORD_TOKEN_LEN);
	memcpy(ad + COORD_TOKEN_LEN, peer_pub, 32);
	bool ok = xaead_open(pt, blob + 25, pt_len + 16, ad, sizeof(ad), blob + 1, key);
	memzero(key, sizeof(key));
	if (!ok || pt[0] != (pt_len - 1) / COORD_ADDR_LEN) {
		memzero(pt, sizeof(pt));
		return -EBADMSG;
	}
	size_t n = pt[0], got = 0;
	for (size_t i = 0; i < n; i++) {
		struct coord_addr a;
		if (!coord_addr_decode(&a, pt + 1 + i * COORD_ADDR_LEN) || !a.family)
			continue;
		if (got < max)
			cands[got++] = a;
	}
	memzero(pt, sizeof(pt));
	return (int)got;
}
