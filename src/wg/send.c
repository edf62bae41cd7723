/* send.c: everything the engine sends. Plaintext from the TUN side is
 * encrypted at once when the peer has a usable session, else staged while a
 * handshake is made. Handshake messages, keepalives and staged packets are
 * "wants" of a peer (peer_want), done by device_drain() whenever the
 * caller's output has room, so nothing is lost when it does not. */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "wg/device.h"
#include "wg/timers.h"

static struct weft_packet *send_slot(struct weft_device *dev, struct weft_out *out, size_t need)
{
	if (!out)
		return NULL;
	size_t next = batch_next_send(dev, out);
	if (next >= out->send_max || out->send[next].cap < need)
		return NULL;
	return &out->send[next];
}

static void emit(struct weft_device *dev, struct weft_out *out, struct weft_packet *slot,
		 struct weft_peer *peer, size_t len)
{
	slot->len = len;
	slot->peer = peer;
	slot->endpoint = peer->endpoint;
	peer->tx_bytes += len;
	batch_take_send(dev, out);
}

void weft_packet_unsent(const struct weft_packet *pkt)
{
	struct weft_peer *peer = pkt ? pkt->peer : NULL;
	if (peer)
		peer->tx_bytes -= pkt->len < peer->tx_bytes ? pkt->len : peer->tx_bytes;
}

static bool keypair_can_send(const struct noise_keypair *kp, uint64_t now)
{
	return kp && kp->sending_counter < REJECT_AFTER_MESSAGES &&
	       now < kp->birthdate + REJECT_AFTER_TIME * NSEC_PER_SEC;
}

static size_t padded_length(size_t len, unsigned mtu)
{
	if (len >= mtu)
		return len;
	size_t padded = (len + MESSAGE_PADDING_MULTIPLE - 1) & ~(size_t)(MESSAGE_PADDING_MULTIPLE - 1);
	return padded > mtu ? mtu : padded;
}

/* Puts one plaintext packet (len 0 = keepalive) into slot behind its
 * header, padded, and queues its sealing there. */
static void encrypt_into(struct weft_device *dev, struct weft_peer *peer, struct noise_keypair *kp,
			 const uint8_t *pkt, size_t len, struct weft_out *out,
			 struct weft_packet *slot)
{
	size_t padded = padded_length(len, dev->mtu);
	struct message_data *msg = (void *)slot->data;
	struct crypto_job *job = batch_job(dev, out);

	*job = (struct crypto_job){
		.op = CRYPTO_SEAL, .key = kp->sending_key, .dst = msg->encrypted_data,
		.len = padded, .counter = kp->sending_counter++,
	};
	msg->header.type = htole32(MESSAGE_DATA);
	msg->key_idx = htole32(kp->remote_index);
	msg->counter = htole64(job->counter);
	if (len)
		memmove(msg->encrypted_data, pkt, len);
	memset(msg->encrypted_data + len, 0, padded - len);
	batch_queue(dev, job);
	emit(dev, out, slot, peer, sizeof(*msg) + padded + AEAD_TAG_LEN);
}

/* After sending: time to rekey? (whitepaper 6.2) */
static void keep_key_fresh_after_send(struct weft_peer *peer, uint64_t now)
{
	struct noise_keypair *kp = peer->keypairs.current;
	if (kp && (kp->sending_counter > REKEY_AFTER_MESSAGES ||
		   (kp->i_am_the_initiator &&
		    now >= kp->birthdate + REKEY_AFTER_TIME * NSEC_PER_SEC)))
		peer_want(peer, WANT_INITIATION);
}

static void sent_data_hooks(struct weft_peer *peer, bool data)
{
	timers_any_authenticated_packet_traversal(peer);
	timers_any_authenticated_packet_sent(peer);
	if (data)
		timers_data_sent(peer);
}

/* Takes the oldest staged packet off the queue; the caller frees it. */
static struct staged_packet *unstage_oldest(struct weft_peer *peer)
{
	struct staged_packet *s = peer->staged_head;
	peer->staged_head = s->next;
	if (!peer->staged_head)
		peer->staged_tail = NULL;
	peer->staged_count--;
	return s;
}

static void stage(struct weft_device *dev, struct weft_peer *peer, const uint8_t *pkt, size_t len)
{
	struct staged_packet *s = malloc(sizeof(*s) + len);
	if (!s) {
		dev_drop(dev, WEFT_DROP_STAGED_OVERFLOW);
		return;
	}
	s->next = NULL;
	s->len = len;
	if (len)
		memcpy(s->data, pkt, len);
	if (peer->staged_tail)
		peer->staged_tail->next = s;
	else
		peer->staged_head = s;
	peer->staged_tail = s;
	/* Keep the newest: the oldest are the likeliest to be stale. */
	if (++peer->staged_count > MAX_STAGED_PACKETS) {
		free(unstage_oldest(peer));
		dev_drop(dev, WEFT_DROP_STAGED_OVERFLOW);
	}
}

/* Sends what is staged if a session allows; false if out ran out of room. */
static bool send_staged(struct weft_device *dev, struct weft_peer *peer, struct weft_out *out)
{
	uint64_t now = dev_now(dev);
	struct noise_keypair *kp = peer->keypairs.current;
	bool data = false;

	if (!peer->staged_head)
		return true;
	if (!keypair_can_send(kp, now)) {
		peer_want(peer, WANT_INITIATION);
		return true;
	}
	if (!peer->has_endpoint) {
		dev->drops[WEFT_DROP_NO_ENDPOINT] += peer->staged_count;
		peer_free_staged(peer);
		return true;
	}
	while (peer->staged_head) {
		struct staged_packet *s = peer->staged_head;
		if (!keypair_can_send(kp, now)) {
			peer_want(peer, WANT_INITIATION);
			break;
		}
		struct weft_packet *slot = send_slot(dev, out, padded_length(s->len, dev->mtu) +
								 MESSAGE_DATA_OVERHEAD);
		if (!slot) {
			if (data)
				sent_data_hooks(peer, true);
			return false;
		}
		encrypt_into(dev, peer, kp, s->data, s->len, out, slot);
		data |= s->len > 0;
		free(unstage_oldest(peer));
	}
	sent_data_hooks(peer, data);
	keep_key_fresh_after_send(peer, now);
	return true;
}

static bool send_initiation(struct weft_device *dev, struct weft_peer *peer, bool retry,
			    struct weft_out *out)
{
	struct message_handshake_initiation msg;
	char name[24];
	uint64_t now = dev_now(dev);

	if (!retry)
		peer->timers.handshake_attempts = 0;
	/* At most one initiation per REKEY_TIMEOUT (whitepaper 6.1). */
	if (peer->last_sent_handshake && now < peer->last_sent_handshake + REKEY_TIMEOUT * NSEC_PER_SEC)
		return true;
	struct weft_packet *slot = send_slot(dev, out, sizeof(msg));
	if (peer->has_endpoint && !slot)
		return false;
	if (!noise_create_initiation(dev, peer, &msg))
		return true;
	dev_log(dev, WEFT_LOG_VERBOSE, "%s - Sending handshake initiation", peer_name(peer, name));
	peer->last_sent_handshake = now;
	cookie_add_macs(dev, &peer->cookie, (uint8_t *)&msg, sizeof(msg));
	timers_any_authenticated_packet_traversal(peer);
	timers_any_authenticated_packet_sent(peer);
	if (peer->has_endpoint) {
		memcpy(slot->data, &msg, sizeof(msg));
		emit(dev, out, slot, peer, sizeof(msg));
	} else {
		dev_drop(dev, WEFT_DROP_NO_ENDPOINT);
	}
	/* Retransmitted even without an endpoint, so one set later is used. */
	timers_handshake_initiated(peer);
	memzero(&msg, sizeof(msg));
	return true;
}

static bool send_response(struct weft_device *dev, struct weft_peer *peer, struct weft_out *out)
{
	struct message_handshake_response msg;
	char name[24];

	if (peer->handshake.state != HANDSHAKE_CONSUMED_INITIATION)
		return true;
	struct weft_packet *slot = send_slot(dev, out, sizeof(msg));
	if (!slot)
		return false;
	/* The session it begins may retire a keypair that queued jobs use. */
	batch_run(dev);
	peer->last_sent_handshake = dev_now(dev);
	if (!noise_create_response(dev, peer, &msg))
		return true;
	cookie_add_macs(dev, &peer->cookie, (uint8_t *)&msg, sizeof(msg));
	if (noise_begin_session(dev, peer)) {
		dev_log(dev, WEFT_LOG_VERBOSE, "%s - Sending handshake response", peer_name(peer, name));
		timers_session_derived(peer);
		timers_any_authenticated_packet_traversal(peer);
		timers_any_authenticated_packet_sent(peer);
		memcpy(slot->data, &msg, sizeof(msg));
		emit(dev, out, slot, peer, sizeof(msg));
	}
	memzero(&msg, sizeof(msg));
	return true;
}

/* A keepalive: an empty data packet. Staged packets carry its message as
 * well, and without a usable session it waits (staged) for the handshake. */
static bool send_keepalive(struct weft_device *dev, struct weft_peer *peer, struct weft_out *out)
{
	uint64_t now = dev_now(dev);
	struct noise_keypair *kp = peer->keypairs.current;

	if (peer->staged_head || !peer->has_endpoint || !keypair_can_send(kp, now)) {
		if (!peer->staged_head)
			stage(dev, peer, NULL, 0);
		return send_staged(dev, peer, out);
	}
	struct weft_packet *slot = send_slot(dev, out, MESSAGE_DATA_OVERHEAD);
	if (!slot)
		return false;
	encrypt_into(dev, peer, kp, NULL, 0, out, slot);
	sent_data_hooks(peer, false);
	keep_key_fresh_after_send(peer, now);
	return true;
}

/* Does one peer's wants; false if out filled up before all were done. */
static bool do_wants(struct weft_device *dev, struct weft_peer *peer, struct weft_out *out)
{
	if (peer->want & WANT_RESPONSE) {
		if (!send_response(dev, peer, out))
			return false;
		peer->want &= ~(unsigned)WANT_RESPONSE;
	}
	if (peer->want & WANT_KEEPALIVE) {
		if (!send_keepalive(dev, peer, out))
			return false;
		peer->want &= ~(unsigned)WANT_KEEPALIVE;
	}
	if (peer->want & WANT_FLUSH) {
		if (!send_staged(dev, peer, out))
			return false;
		peer->want &= ~(unsigned)WANT_FLUSH;
	}
	if (peer->want & (WANT_INITIATION | WANT_INITIATION_RETRY)) {
		if (!send_initiation(dev, peer, peer->want & WANT_INITIATION_RETRY, out))
			return false;
		peer->want &= ~(unsigned)(WANT_INITIATION | WANT_INITIATION_RETRY);
	}
	return true;
}

void device_drain(struct weft_device *dev, struct weft_out *out)
{
	while (dev->ready_head) {
		struct weft_peer *peer = dev->ready_head;
		dev->ready_head = peer->ready_next;
		if (!dev->ready_head)
			dev->ready_tail = NULL;
		peer->on_ready_list = false;
		peer->ready_next = NULL;
		if (!do_wants(dev, peer, out)) {
			/* Out of room: back to the front, in order. */
			peer->on_ready_list = true;
			peer->ready_next = dev->ready_head;
			dev->ready_head = peer;
			if (!dev->ready_tail)
				dev->ready_tail = peer;
			return;
		}
		/* Doing wants may raise new ones (a flush without a session
		 * wants an initiation): those requeued the peer already. */
	}
}

static bool inner_destination(const uint8_t *pkt, size_t len, int *family, const uint8_t **dst)
{
	if (len >= 20 && pkt[0] >> 4 == 4) {
		*family = AF_INET;
		*dst = pkt + 16;
		return true;
	}
	if (len >= 40 && pkt[0] >> 4 == 6) {
		*family = AF_INET6;
		*dst = pkt + 24;
		return true;
	}
	return false;
}

int weft_send(struct weft_device *dev, const uint8_t *pkt, size_t len, struct weft_out *out)
{
	int family;
	const uint8_t *dst;

	if (!dev || (!pkt && len))
		return -EINVAL;
	WEFT_ASSERT(!dev->batch.open || out == dev->batch.out, "weft_send in a batch with another out");
	if (!inner_destination(pkt, len, &family, &dst) ||
	    len > MESSAGE_MAX_LENGTH - MESSAGE_DATA_OVERHEAD) {
		dev_drop(dev, WEFT_DROP_MALFORMED);
		return 0;
	}
	struct allowedips_owner *owner = allowedips_lookup(&dev->allowedips, family, dst);
	if (!owner) {
		dev_drop(dev, WEFT_DROP_NO_ROUTE);
		return 0;
	}
	struct weft_peer *peer = container_of(owner, struct weft_peer, allowedips);
	if (!peer->has_endpoint) {
		dev_drop(dev, WEFT_DROP_NO_ENDPOINT);
		return 0;
	}

	uint64_t now = dev_now(dev);
	struct noise_keypair *kp = peer->keypairs.current;
	struct weft_packet *slot;
	if (!peer->staged_head && keypair_can_send(kp, now) &&
	    (slot = send_slot(dev, out, padded_length(len, dev->mtu) + MESSAGE_DATA_OVERHEAD))) {
		encrypt_into(dev, peer, kp, pkt, len, out, slot);
		sent_data_hooks(peer, true);
		keep_key_fresh_after_send(peer, now);
	} else {
		stage(dev, peer, pkt, len);
		peer_want(peer, WANT_FLUSH);
	}
	device_drain(dev, out);
	batch_run_unless_open(dev);
	return 0;
}
