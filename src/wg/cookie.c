/* cookie.c: mac1/mac2 and cookie replies; see cookie.h. */
#include <endian.h>
#include <stddef.h>
#include <string.h>

#include "wg/cookie.h"
#include "wg/device.h"

static void derive_key(uint8_t key[NOISE_SYMMETRIC_KEY_LEN], const char *label,
		       const uint8_t pub[NOISE_PUBLIC_KEY_LEN])
{
	struct b2s_ctx ctx;
	b2s_init(&ctx, NOISE_SYMMETRIC_KEY_LEN);
	b2s_update(&ctx, (const uint8_t *)label, strlen(label));
	b2s_update(&ctx, pub, NOISE_PUBLIC_KEY_LEN);
	b2s_final(&ctx, key);
}

void cookie_checker_init(struct cookie_checker *checker, const uint8_t our_public[NOISE_PUBLIC_KEY_LEN])
{
	derive_key(checker->message_mac1_key, LABEL_MAC1, our_public);
	derive_key(checker->cookie_encryption_key, LABEL_COOKIE, our_public);
}

void cookie_init(struct cookie *cookie, const uint8_t peer_public[NOISE_PUBLIC_KEY_LEN])
{
	memzero(cookie, sizeof(*cookie));
	derive_key(cookie->message_mac1_key, LABEL_MAC1, peer_public);
	derive_key(cookie->cookie_decryption_key, LABEL_COOKIE, peer_public);
}

static size_t mac1_offset(size_t len) { return len - sizeof(struct message_macs); }
static size_t mac2_offset(size_t len) { return len - COOKIE_LEN; }

static bool expired(uint64_t birthdate, uint64_t seconds, uint64_t now)
{
	return !birthdate || now >= birthdate + seconds * NSEC_PER_SEC;
}

_Static_assert(offsetof(struct sockaddr_in, sin_port) == offsetof(struct sockaddr_in6, sin6_port),
	       "the port is read through sin_port for both families");

/* The cookie of a source: MAC(secret, ip || port). The secret changes every
 * COOKIE_SECRET_MAX_AGE, so cookies expire with it. */
static void make_cookie(struct weft_device *dev, uint8_t cookie[COOKIE_LEN],
			const struct weft_endpoint *from)
{
	struct cookie_checker *c = &dev->cookie_checker;
	uint64_t now = dev_now(dev);
	uint8_t buf[18];
	int family;
	const uint8_t *ip = endpoint_ip(from, &family);
	size_t n = family == AF_INET6 ? 16 : 4;

	if (expired(c->secret_birthdate, COOKIE_SECRET_MAX_AGE, now)) {
		dev->env.random.fill(dev->env.random.ctx, c->secret, sizeof(c->secret));
		c->secret_birthdate = now;
	}
	/* sin_port and sin6_port sit at the same offset */
	if (ip)
		memcpy(buf, ip, n);
	else
		memset(buf, 0, n);
	memcpy(buf + n, &from->addr.in4.sin_port, 2);
	b2s(cookie, COOKIE_LEN, buf, n + 2, c->secret, sizeof(c->secret));
}

enum cookie_mac_state cookie_validate(struct weft_device *dev, const uint8_t *msg, size_t len,
				      const struct weft_endpoint *from, bool check_cookie)
{
	const struct message_macs *macs = (const void *)(msg + mac1_offset(len));
	uint8_t computed[COOKIE_LEN];
	enum cookie_mac_state ret = COOKIE_INVALID_MAC;

	b2s(computed, COOKIE_LEN, msg, mac1_offset(len), dev->cookie_checker.message_mac1_key,
	    NOISE_SYMMETRIC_KEY_LEN);
	if (!memeq_ct(computed, macs->mac1, COOKIE_LEN))
		goto out;
	ret = COOKIE_VALID_MAC_BUT_NO_COOKIE;
	if (!check_cookie)
		goto out;
	ret = cookie_validate_mac2(dev, msg, len, from);
out:
	memzero(computed, sizeof(computed));
	return ret;
}

enum cookie_mac_state cookie_validate_mac2(struct weft_device *dev, const uint8_t *msg, size_t len,
					   const struct weft_endpoint *from)
{
	const struct message_macs *macs = (const void *)(msg + mac1_offset(len));
	uint8_t computed[COOKIE_LEN], cookie[COOKIE_LEN];
	enum cookie_mac_state ret = COOKIE_VALID_MAC_BUT_NO_COOKIE;

	make_cookie(dev, cookie, from);
	b2s(computed, COOKIE_LEN, msg, mac2_offset(len), cookie, COOKIE_LEN);
	if (memeq_ct(computed, macs->mac2, COOKIE_LEN))
		ret = COOKIE_VALID_MAC_WITH_COOKIE;
	memzero(cookie, sizeof(cookie));
	return ret;
}

void cookie_add_macs(struct weft_device *dev, struct cookie *cookie, uint8_t *msg, size_t len)
{
	struct message_macs *macs = (void *)(msg + mac1_offset(len));

	b2s(macs->mac1, COOKIE_LEN, msg, mac1_offset(len), cookie->message_mac1_key,
	    NOISE_SYMMETRIC_KEY_LEN);
	memcpy(cookie->last_mac1_sent, macs->mac1, COOKIE_LEN);
	cookie->have_sent_mac1 = true;

	/* A cookie is used only while the responder surely still accepts it. */
	if (!expired(cookie->birthdate, COOKIE_SECRET_MAX_AGE - COOKIE_SECRET_LATENCY, dev_now(dev)))
		b2s(macs->mac2, COOKIE_LEN, msg, mac2_offset(len), cookie->cookie, COOKIE_LEN);
	else
		memset(macs->mac2, 0, COOKIE_LEN);
}

void cookie_create_reply(struct weft_device *dev, struct message_handshake_cookie *reply,
			 const uint8_t *msg, size_t len, uint32_t sender_index,
			 const struct weft_endpoint *from)
{
	const struct message_macs *macs = (const void *)(msg + mac1_offset(len));
	uint8_t cookie[COOKIE_LEN];

	reply->header.type = htole32(MESSAGE_HANDSHAKE_COOKIE);
	reply->receiver_index = sender_index; /* already little endian */
	dev->env.random.fill(dev->env.random.ctx, reply->nonce, COOKIE_NONCE_LEN);
	make_cookie(dev, cookie, from);
	/* Bound to the mac1 it answers, so only the real sender can use it. */
	xaead_seal(reply->encrypted_cookie, cookie, COOKIE_LEN, macs->mac1, COOKIE_LEN,
		   reply->nonce, dev->cookie_checker.cookie_encryption_key);
	memzero(cookie, sizeof(cookie));
}

bool cookie_consume_reply(struct weft_device *dev, struct cookie *cookie,
			  const struct message_handshake_cookie *reply)
{
	uint8_t value[COOKIE_LEN];

	if (!cookie->have_sent_mac1)
		return false;
	if (!xaead_open(value, reply->encrypted_cookie, sizeof(reply->encrypted_cookie),
			cookie->last_mac1_sent, COOKIE_LEN, reply->nonce,
			cookie->cookie_decryption_key))
		return false;
	memcpy(cookie->cookie, value, COOKIE_LEN);
	cookie->birthdate = dev_now(dev);
	cookie->have_sent_mac1 = false;
	memzero(value, sizeof(value));
	return true;
}
