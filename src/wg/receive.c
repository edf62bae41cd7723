/* receive.c: everything the engine receives from the network. Handshake
 * messages pass the cookie layer (mac1 always; mac2 and the per-source rate
 * limit under load) before any Diffie-Hellman work, and wait in the
 * handshake queue when a batch's budget for that work is spent. Data packets are checked
 * against the replay window, decrypted, and only then move the window, the
 * endpoint (roaming) and the timers. Anything invalid is dropped and counted. */
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <string.h>

#include "wg/device.h"
#include "wg/timers.h"

static void set_endpoint_from(struct weft_peer *peer, const struct weft_endpoint *from)
{
	peer->endpoint = *from;
	peer->has_endpoint = true;
}

static void authenticated_hooks(struct weft_peer *peer)
{
	timers_any_authenticated_packet_received(peer);
	timers_any_authenticated_packet_traversal(peer);
}

/* A cookie reply to a handshake message without a valid mac2, in the next
 * send slot; not sent when there is none (the initiator retries). Each
 * source gets replies at the per-source rate limit's pace (a retrying
 * initiator needs one per REKEY_TIMEOUT): a flood from a few addresses
 * then costs a BLAKE2s or two per message, not an encryption and a send. */
static void send_cookie_reply(struct weft_device *dev, const uint8_t *buf, size_t len,
			      const struct weft_endpoint *from, struct weft_out *out)
{
	int family;
	const uint8_t *ip = endpoint_ip(from, &family);

	if (!out || !ip)
		return;
	size_t next = batch_next_send(dev, out);
	if (next >= out->send_max || out->send[next].cap < sizeof(struct message_handshake_cookie))
		return;
	if (!ratelimiter_allow(&dev->cookie_ratelimiter, family, ip, dev_now(dev))) {
		dev->stats.cookie_replies_withheld++;
		return;
	}
	struct weft_packet *slot = &out->send[next];
	/* Both handshake messages have the sender index at offset 4. */
	uint32_t sender_index;
	memcpy(&sender_index, buf + 4, sizeof(sender_index));
	cookie_create_reply(dev, (void *)slot->data, buf, len, sender_index, from);
	slot->len = sizeof(struct message_handshake_cookie);
	slot->endpoint = *from;
	slot->peer = NULL;
	batch_take_send(dev, out);
	dev->stats.cookie_replies++;
}

/* The cheap checks before any Diffie-Hellman work: mac1 always; under load
 * a valid mac2 (else a cookie reply) and the source's rate. None of them
 * touches a session, so none ends the batch. A message with a valid mac1
 * counts toward the device's handshake rate, once (`queued` says it was
 * counted on arrival and only the load checks are left). False when
 * dropped. */
static bool handshake_admitted(struct weft_device *dev, const uint8_t *buf, size_t len,
			       const struct weft_endpoint *from, struct weft_out *out, bool queued,
			       bool *load_checked)
{
	int family;
	const uint8_t *ip;

	if (!dev->has_private_key) {
		dev_drop(dev, WEFT_DROP_NO_PRIVATE_KEY);
		return false;
	}
	if (!queued) {
		if (cookie_validate(dev, buf, len, from, false) == COOKIE_INVALID_MAC) {
			dev_drop(dev, WEFT_DROP_BAD_MAC1);
			return false;
		}
		device_count_handshake(dev);
	}
	*load_checked = device_under_load(dev);
	if (!*load_checked)
		return true;
	/* mac1 is valid (checked on arrival; a private key changed since
	 * only makes the Diffie-Hellman step fail) */
	if (cookie_validate_mac2(dev, buf, len, from) == COOKIE_VALID_MAC_BUT_NO_COOKIE) {
		send_cookie_reply(dev, buf, len, from, out);
		dev_drop(dev, WEFT_DROP_BAD_MAC2);
		return false;
	}
	if (!(ip = endpoint_ip(from, &family)) ||
	    !ratelimiter_allow(&dev->ratelimiter, family, ip, dev_now(dev))) {
		dev_drop(dev, WEFT_DROP_RATE_LIMITED);
		return false;
	}
	return true;
}

/* The Diffie-Hellman half: the message changes (or makes) a session. */
static void consume_handshake(struct weft_device *dev, const uint8_t *buf, size_t len,
			      const struct weft_endpoint *from)
{
	struct weft_peer *peer;
	int why;
	char name[24];
	uint32_t type;

	/* Data queued before this message is committed first, in order, and
	 * before a session this one begins retires a keypair it uses. */
	batch_run(dev);
	dev->handshakes_done++;
	memcpy(&type, buf, sizeof(type));
	bool initiation = le32toh(type) == MESSAGE_HANDSHAKE_INITIATION;
	peer = initiation ? noise_consume_initiation(dev, (const void *)buf, &why)
			  : noise_consume_response(dev, (const void *)buf, &why);
	if (!peer) {
		dev_drop(dev, why);
		return;
	}
	set_endpoint_from(peer, from);
	dev_log(dev, WEFT_LOG_VERBOSE, "%s - Received handshake %s", peer_name(peer, name),
		initiation ? "initiation" : "response");
	if (initiation) {
		peer_want(peer, WANT_RESPONSE);
	} else if (noise_begin_session(dev, peer)) {
		timers_session_derived(peer);
		timers_handshake_complete(peer);
		/* Confirms the session to the responder at once. */
		peer_want(peer, WANT_KEEPALIVE);
	}
	peer->rx_bytes += len;
	authenticated_hooks(peer);
}

static bool budget_spent(const struct weft_device *dev)
{
	return dev->handshake_budget && dev->handshakes_done >= dev->handshake_budget;
}

/* A handshake message from the network: admitted, then consumed now or,
 * once this call's budget is spent (or others already wait, to keep their
 * order), queued for weft_tick. A backlog the device cannot work off puts
 * it under load. */
static void receive_handshake(struct weft_device *dev, const uint8_t *buf, size_t len,
			      const struct weft_endpoint *from, struct weft_out *out)
{
	bool load_checked;

	if (!handshake_admitted(dev, buf, len, from, out, false, &load_checked))
		return;
	if (dev->handshake_budget && (budget_spent(dev) || dev->handshakes.count)) {
		int r = handshake_queue_push(&dev->handshakes, buf, len, from, load_checked);
		if (r < 0) {
			dev_drop(dev, WEFT_DROP_HANDSHAKE_BACKLOG);
		} else {
			dev->stats.handshakes_queued++;
		}
		if (dev->handshakes.count >= UNDER_LOAD_BACKLOG)
			device_load_seen(dev, dev_now(dev));
		return;
	}
	consume_handshake(dev, buf, len, from);
}

void device_run_handshakes(struct weft_device *dev, struct weft_out *out)
{
	struct queued_handshake e;
	bool load_checked;

	while (dev->handshakes.count && !budget_spent(dev)) {
		/* Room for its answer first: a response, or a cookie reply
		 * should the device be under load by now. */
		if (!out || batch_next_send(dev, out) >= out->send_max)
			break;
		handshake_queue_pop(&dev->handshakes, &e);
		/* mac1 was checked on arrival; the load checks run again
		 * only if the device went under load since. */
		if (e.load_checked || handshake_admitted(dev, e.msg, e.len, &e.from, out, true, &load_checked))
			consume_handshake(dev, e.msg, e.len, &e.from);
		device_drain(dev, out);
	}
	if (dev->handshakes.count >= UNDER_LOAD_BACKLOG)
		device_load_seen(dev, dev_now(dev));
	memzero(&e, sizeof(e));
}

static void receive_cookie(struct weft_device *dev, const uint8_t *buf)
{
	const struct message_handshake_cookie *msg = (const void *)buf;
	struct index_entry *e = index_lookup(dev, le32toh(msg->receiver_index));
	if (!e) {
		dev_drop(dev, WEFT_DROP_UNKNOWN_INDEX);
		return;
	}
	struct weft_peer *peer = e->type == INDEX_HANDSHAKE ? e->item
							      : ((struct noise_keypair *)e->item)->peer;
	/* Never moves the endpoint: a cookie reply is not authenticated by the
	 * peer's static key, anyone on the path could have sent it. */
	if (!cookie_consume_reply(dev, &peer->cookie, msg))
		dev_drop(dev, WEFT_DROP_BAD_COOKIE);
}

/* Trims padding; false if the plaintext is not a plausible IP packet. */
static bool inner_packet(const uint8_t *pkt, size_t *len, int *family, const uint8_t **src)
{
	if (*len >= 20 && pkt[0] >> 4 == 4) {
		size_t total = (size_t)pkt[2] << 8 | pkt[3];
		if (total < 20 || total > *len)
			return false;
		*len = total;
		*family = AF_INET;
		*src = pkt + 12;
		return true;
	}
	if (*len >= 40 && pkt[0] >> 4 == 6) {
		size_t total = 40 + ((size_t)pkt[4] << 8 | pkt[5]);
		if (total > *len)
			return false;
		*len = total;
		*family = AF_INET6;
		*src = pkt + 8;
		return true;
	}
	return false;
}

/* The initiator rekeys shortly before the session would be rejected, if
 * traffic only flows toward it (whitepaper 6.2). */
static void keep_key_fresh_after_receive(struct weft_peer *peer, uint64_t now)
{
	struct noise_keypair *kp = peer->keypairs.current;
	if (kp && kp->i_am_the_initiator && !peer->timers.sent_lastminute_handshake &&
	    now >= kp->birthdate +
			   (REJECT_AFTER_TIME - KEEPALIVE_TIMEOUT - REKEY_TIMEOUT) * NSEC_PER_SEC) {
		peer->timers.sent_lastminute_handshake = true;
		peer_want(peer, WANT_INITIATION);
	}
}

/* The first half of receiving a data packet: everything that can be
 * checked before decryption, then its decryption queued into the next
 * deliver slot (a keepalive needs none). */
static void receive_data(struct weft_device *dev, const uint8_t *buf, size_t len,
			 const struct weft_endpoint *from, struct weft_out *out)
{
	const struct message_data *msg = (const void *)buf;
	uint64_t now = dev_now(dev), counter = le64toh(msg->counter);
	size_t plain_len = len - MESSAGE_DATA_OVERHEAD;
	uint32_t local_index = le32toh(msg->key_idx);

	struct index_entry *e = index_lookup(dev, local_index);
	if (!e || e->type != INDEX_KEYPAIR) {
		dev_drop(dev, WEFT_DROP_UNKNOWN_INDEX);
		return;
	}
	struct noise_keypair *kp = e->item;
	if (now >= kp->birthdate + REJECT_AFTER_TIME * NSEC_PER_SEC ||
	    kp->receiving_counter.greatest >= REJECT_AFTER_MESSAGES) {
		dev_drop(dev, WEFT_DROP_KEY_EXPIRED);
		return;
	}
	/* A cheap early look; the window moves in the commit, after the tag. */
	if (!replay_check(&kp->receiving_counter, counter, REJECT_AFTER_MESSAGES)) {
		dev_drop(dev, WEFT_DROP_REPLAYED_DATA);
		return;
	}
	if (plain_len && !out) {
		dev_drop(dev, WEFT_DROP_OUT_FULL);
		return;
	}
	/* A keepalive without an output has no batch to join: its job runs
	 * at once, through the same steps as a batch's. */
	struct crypto_job alone, *job = out ? batch_job(dev, out) : &alone;
	size_t slot = SIZE_MAX;
	if (plain_len) {
		slot = batch_next_deliver(dev, out);
		if (slot >= out->deliver_max || out->deliver[slot].cap < plain_len) {
			dev_drop(dev, WEFT_DROP_OUT_FULL);
			return;
		}
	}
	*job = (struct crypto_job){
		.op = CRYPTO_OPEN, .key = kp->receiving_key, .src = msg->encrypted_data,
		.len = len - sizeof(*msg), .counter = counter, .keypair = kp,
		.local_index = local_index, .datagram_len = len, .slot = slot, .from = *from,
	};
	job->dst = plain_len ? out->deliver[slot].data : job->keepalive;
#ifndef NDEBUG
	memcpy(job->src_head, job->src, sizeof(job->src_head));
#endif
	if (job == &alone)
		batch_run_alone(dev, job);
	else
		batch_queue(dev, job);
}

/* The second half, in arrival order, once the job has run. The keypair is
 * looked up again: an earlier commit may have retired it. */
void receive_data_commit(struct weft_device *dev, struct weft_out *out, const struct crypto_job *job)
{
	struct noise_keypair *kp = job->keypair;
	size_t plain_len = job->datagram_len - MESSAGE_DATA_OVERHEAD;
	uint64_t now = dev_now(dev);
	int family;
	const uint8_t *src;

	if (!job->ok) {
		dev_drop(dev, WEFT_DROP_DATA_INVALID);
		return;
	}
	struct index_entry *e = index_lookup(dev, job->local_index);
	if (!e || e->item != kp) {
		dev_drop(dev, WEFT_DROP_UNKNOWN_INDEX);
		return;
	}
	if (!replay_update(&kp->receiving_counter, job->counter, REJECT_AFTER_MESSAGES)) {
		dev_drop(dev, WEFT_DROP_REPLAYED_DATA);
		return;
	}

	struct weft_peer *peer = kp->peer;
	set_endpoint_from(peer, &job->from);
	peer->rx_bytes += job->datagram_len;
	if (noise_received_with_keypair(dev, peer, kp)) {
		timers_handshake_complete(peer);
		peer_want(peer, WANT_FLUSH);
	}
	keep_key_fresh_after_receive(peer, now);
	authenticated_hooks(peer);
	if (!plain_len)
		return; /* a keepalive */
	timers_data_received(peer);

	const uint8_t *plain = job->dst;
	if (!inner_packet(plain, &plain_len, &family, &src)) {
		dev_drop(dev, WEFT_DROP_BAD_INNER);
		return;
	}
	struct allowedips_owner *owner = allowedips_lookup(&dev->allowedips, family, src);
	if (owner != &peer->allowedips) {
		dev_drop(dev, WEFT_DROP_WRONG_SOURCE);
		return;
	}
	/* Delivered packets stay together at the front: the slot of an
	 * earlier job that was dropped changes places with this one. */
	struct weft_packet *slot = &out->deliver[out->deliver_count];
	if (job->slot != out->deliver_count) {
		struct weft_packet t = out->deliver[job->slot];
		out->deliver[job->slot] = *slot;
		*slot = t;
	}
	slot->len = plain_len;
	slot->peer = peer;
	out->deliver_count++;
}

int weft_receive(struct weft_device *dev, const uint8_t *buf, size_t len,
		 const struct weft_endpoint *from, struct weft_out *out)
{
	uint32_t type;

	if (!dev || !buf || !from)
		return -EINVAL;
	WEFT_ASSERT(!dev->batch.open || out == dev->batch.out, "weft_receive in a batch with another out");
	if (!dev->batch.open)
		dev->handshakes_done = 0; /* a lone call is its own batch */
	if (len < sizeof(type) || len > MESSAGE_MAX_LENGTH) {
		dev_drop(dev, WEFT_DROP_MALFORMED);
		return 0;
	}
	memcpy(&type, buf, sizeof(type));
	switch (le32toh(type)) {
	case MESSAGE_HANDSHAKE_INITIATION:
		if (len != sizeof(struct message_handshake_initiation))
			goto malformed;
		receive_handshake(dev, buf, len, from, out);
		break;
	case MESSAGE_HANDSHAKE_RESPONSE:
		if (len != sizeof(struct message_handshake_response))
			goto malformed;
		receive_handshake(dev, buf, len, from, out);
		break;
	case MESSAGE_HANDSHAKE_COOKIE:
		if (len != sizeof(struct message_handshake_cookie))
			goto malformed;
		receive_cookie(dev, buf);
		break;
	case MESSAGE_DATA:
		if (len < MESSAGE_MINIMUM_LENGTH)
			goto malformed;
		receive_data(dev, buf, len, from, out);
		break;
	default:
		goto malformed;
	}
	/* Outside a batch: this packet's decryption and commit, then what
	 * they asked for, and the jobs that queued. */
	batch_run_unless_open(dev);
	device_drain(dev, out);
	batch_run_unless_open(dev);
	return 0;
malformed:
	dev_drop(dev, WEFT_DROP_MALFORMED);
	return 0;
}
