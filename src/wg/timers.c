/* timers.c: the per-peer timers listed in timers.h. A timer is an absolute
 * deadline; the peer sits in the device's heap at (no later than) its
 * earliest one. Pushing a deadline later does not touch the heap: the peer
 * surfaces early, finds nothing due and goes back at its real deadline.
 * That keeps the per-packet hooks O(1). */
#include <stddef.h>
#include <string.h>

#include "wg/device.h"
#include "wg/timers.h"

/* Jitter only spreads retries apart; it need not be secret, so a cheap
 * generator (xorshift64*, seeded from env.random) spares the caller's
 * random source a call every time data re-arms a timer. */
static uint64_t jitter(struct weft_device *dev)
{
	uint64_t x = dev->jitter_state;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	dev->jitter_state = x;
	return (x * 0x2545f4914f6cdd1dULL >> 32) % REKEY_TIMEOUT_JITTER_MAX_NS;
}

static void arm(struct weft_peer *peer, uint64_t *timer, uint64_t deadline)
{
	*timer = deadline;
	if (deadline < peer->timers.heap.deadline)
		timerheap_set(&peer->dev->timers, &peer->timers.heap, deadline);
}

static void disarm(uint64_t *timer) { *timer = 0; }
static bool pending(uint64_t timer) { return timer != 0; }

void timers_data_sent(struct weft_peer *peer)
{
	struct weft_device *dev = peer->dev;
	if (!pending(peer->timers.new_handshake))
		arm(peer, &peer->timers.new_handshake,
		    dev_now(dev) + (KEEPALIVE_TIMEOUT + REKEY_TIMEOUT) * NSEC_PER_SEC + jitter(dev));
}

void timers_data_received(struct weft_peer *peer)
{
	if (!pending(peer->timers.send_keepalive))
		arm(peer, &peer->timers.send_keepalive,
		    dev_now(peer->dev) + KEEPALIVE_TIMEOUT * NSEC_PER_SEC);
	else
		peer->timers.need_another_keepalive = true;
}

/* Anything we send carries the keepalive's message, so no need for one. */
void timers_any_authenticated_packet_sent(struct weft_peer *peer)
{
	disarm(&peer->timers.send_keepalive);
}

/* The peer is alive: no need to start over. */
void timers_any_authenticated_packet_received(struct weft_peer *peer)
{
	disarm(&peer->timers.new_handshake);
}

void timers_handshake_initiated(struct weft_peer *peer)
{
	arm(peer, &peer->timers.retransmit_handshake,
	    dev_now(peer->dev) + REKEY_TIMEOUT * NSEC_PER_SEC + jitter(peer->dev));
}

void timers_handshake_complete(struct weft_peer *peer)
{
	disarm(&peer->timers.retransmit_handshake);
	peer->timers.handshake_attempts = 0;
	peer->timers.sent_lastminute_handshake = false;
	peer->last_handshake_wall_ns = peer->dev->env.clock.wall_ns(peer->dev->env.clock.ctx);
}

void timers_session_derived(struct weft_peer *peer)
{
	arm(peer, &peer->timers.zero_key_material,
	    dev_now(peer->dev) + REJECT_AFTER_TIME * 3 * NSEC_PER_SEC);
}

void timers_any_authenticated_packet_traversal(struct weft_peer *peer)
{
	if (peer->persistent_keepalive_interval)
		arm(peer, &peer->timers.persistent_keepalive,
		    dev_now(peer->dev) + peer->persistent_keepalive_interval * NSEC_PER_SEC);
}

void timers_stop(struct weft_peer *peer)
{
	struct peer_timers *t = &peer->timers;
	t->retransmit_handshake = t->send_keepalive = t->new_handshake = 0;
	t->zero_key_material = t->persistent_keepalive = 0;
	t->need_another_keepalive = false;
}

static void clear_endpoint_src(struct weft_peer *peer)
{
	/* The sticky source may be why nothing comes back (the host moved):
	 * let the kernel pick a route again. */
	memset(&peer->endpoint.src, 0, sizeof(peer->endpoint.src));
	peer->endpoint.src_ifindex = 0;
}

static void expired_retransmit_handshake(struct weft_peer *peer)
{
	char name[24];
	struct weft_device *dev = peer->dev;
	if (peer->timers.handshake_attempts > MAX_TIMER_HANDSHAKES) {
		dev_log(dev, WEFT_LOG_VERBOSE,
			"%s - Handshake did not complete after %d attempts, giving up",
			peer_name(peer, name), MAX_TIMER_HANDSHAKES + 2);
		disarm(&peer->timers.send_keepalive);
		dev->drops[WEFT_DROP_STAGED_EXPIRED] += peer->staged_count;
		peer_free_staged(peer);
		peer->want &= ~(unsigned)(WANT_FLUSH | WANT_KEEPALIVE);
		if (!pending(peer->timers.zero_key_material))
			arm(peer, &peer->timers.zero_key_material,
			    dev_now(dev) + REJECT_AFTER_TIME * 3 * NSEC_PER_SEC);
		return;
	}
	peer->timers.handshake_attempts++;
	dev_log(dev, WEFT_LOG_VERBOSE,
		"%s - Handshake did not complete after %d seconds, retrying (try %u)",
		peer_name(peer, name), REKEY_TIMEOUT, peer->timers.handshake_attempts + 1);
	clear_endpoint_src(peer);
	peer_want(peer, WANT_INITIATION_RETRY);
}

static void expired_send_keepalive(struct weft_peer *peer)
{
	peer_want(peer, WANT_KEEPALIVE);
	if (peer->timers.need_another_keepalive) {
		peer->timers.need_another_keepalive = false;
		arm(peer, &peer->timers.send_keepalive,
		    dev_now(peer->dev) + KEEPALIVE_TIMEOUT * NSEC_PER_SEC);
	}
}

static void expired_new_handshake(struct weft_peer *peer)
{
	char name[24];
	dev_log(peer->dev, WEFT_LOG_VERBOSE,
		"%s - Retrying handshake because we stopped hearing back after %d seconds",
		peer_name(peer, name), KEEPALIVE_TIMEOUT + REKEY_TIMEOUT);
	clear_endpoint_src(peer);
	peer_want(peer, WANT_INITIATION);
}

static void expired_zero_key_material(struct weft_peer *peer)
{
	char name[24];
	dev_log(peer->dev, WEFT_LOG_VERBOSE, "%s - Zeroing out all keys", peer_name(peer, name));
	noise_handshake_clear(peer->dev, peer);
	noise_keypairs_clear(peer->dev, peer);
}

static void expired_persistent_keepalive(struct weft_peer *peer)
{
	if (peer->persistent_keepalive_interval)
		peer_want(peer, WANT_KEEPALIVE);
}

static bool due(uint64_t *timer, uint64_t now)
{
	if (!*timer || *timer > now)
		return false;
	*timer = 0;
	return true;
}

void timers_run(struct weft_peer *peer, uint64_t now)
{
	struct peer_timers *t = &peer->timers;
	if (due(&t->retransmit_handshake, now))
		expired_retransmit_handshake(peer);
	if (due(&t->send_keepalive, now))
		expired_send_keepalive(peer);
	if (due(&t->new_handshake, now))
		expired_new_handshake(peer);
	if (due(&t->zero_key_material, now))
		expired_zero_key_material(peer);
	if (due(&t->persistent_keepalive, now))
		expired_persistent_keepalive(peer);

	uint64_t next = UINT64_MAX;
	const uint64_t all[] = { t->retransmit_handshake, t->send_keepalive, t->new_handshake,
				 t->zero_key_material, t->persistent_keepalive };
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		if (all[i] && all[i] < next)
			next = all[i];
	timerheap_set(&peer->dev->timers, &peer->timers.heap, next);
}

uint64_t weft_tick(struct weft_device *dev, struct weft_out *out)
{
	uint64_t now = dev_now(dev);
	struct heap_node *node;

	WEFT_ASSERT(!dev->batch.open, "weft_tick inside a batch");
	if (dev->batch.open)
		weft_batch_end(dev); /* timers change sessions: no batch may stay open */
	dev->handshakes_done = 0;
	device_run_handshakes(dev, out);
	while ((node = timerheap_min(&dev->timers)) && node->deadline <= now) {
		struct weft_peer *peer = container_of(node, struct weft_peer, timers.heap);
		timers_run(peer, now);
	}
	device_drain(dev, out);
	batch_run(dev);
	if (dev->ready_head || dev->handshakes.count)
		return now;
	node = timerheap_min(&dev->timers);
	return node ? node->deadline : UINT64_MAX;
}
