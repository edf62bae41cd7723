/* device.c: the engine's configuration API (device and peers), the
 * receiver-index table and load detection. The data path is in send.c and
 * receive.c, the timers in timers.c. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/encoding.h"
#include "wg/device.h"
#include "wg/timers.h"

static const char *const drop_names[WEFT_DROP_COUNT] = {
	[WEFT_DROP_MALFORMED] = "malformed",
	[WEFT_DROP_NO_PRIVATE_KEY] = "no_private_key",
	[WEFT_DROP_BAD_MAC1] = "bad_mac1",
	[WEFT_DROP_BAD_MAC2] = "bad_mac2",
	[WEFT_DROP_RATE_LIMITED] = "rate_limited",
	[WEFT_DROP_HANDSHAKE_INVALID] = "handshake_invalid",
	[WEFT_DROP_UNKNOWN_PEER] = "unknown_peer",
	[WEFT_DROP_REPLAYED_HANDSHAKE] = "replayed_handshake",
	[WEFT_DROP_HANDSHAKE_FLOOD] = "handshake_flood",
	[WEFT_DROP_UNKNOWN_INDEX] = "unknown_index",
	[WEFT_DROP_BAD_COOKIE] = "bad_cookie",
	[WEFT_DROP_DATA_INVALID] = "data_invalid",
	[WEFT_DROP_REPLAYED_DATA] = "replayed_data",
	[WEFT_DROP_KEY_EXPIRED] = "key_expired",
	[WEFT_DROP_BAD_INNER] = "bad_inner_packet",
	[WEFT_DROP_WRONG_SOURCE] = "wrong_source",
	[WEFT_DROP_NO_ROUTE] = "no_route",
	[WEFT_DROP_NO_ENDPOINT] = "no_endpoint",
	[WEFT_DROP_STAGED_OVERFLOW] = "staged_overflow",
	[WEFT_DROP_STAGED_EXPIRED] = "staged_expired",
	[WEFT_DROP_OUT_FULL] = "out_full",
	[WEFT_DROP_HANDSHAKE_BACKLOG] = "handshake_backlog",
};

const char *weft_drop_name(enum weft_drop reason)
{
	return (unsigned)reason < WEFT_DROP_COUNT ? drop_names[reason] : "unknown";
}

void dev_log(struct weft_device *dev, enum weft_log_level level, const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	if (!dev->env.log.write)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	dev->env.log.write(dev->env.log.ctx, level, msg);
}

const char *peer_name(const struct weft_peer *peer, char buf[24])
{
	char b64[WEFT_KEY_B64_LEN + 1];
	key_to_base64(b64, peer->public_key);
	snprintf(buf, 24, "peer(%.4s…%.4s)", b64, b64 + 39);
	return buf;
}

int weft_device_new(const struct weft_env *env, struct weft_device **out)
{
	uint8_t key[16];
	if (!out)
		return -EINVAL;
	*out = NULL;
	if (!env || !env->clock.now_ns || !env->clock.wall_ns || !env->random.fill)
		return -EINVAL;
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	if (crypto_init())
		return -ENOSYS;
	pthread_once(&once, noise_init);
	struct weft_device *dev = calloc(1, sizeof(*dev));
	if (!dev)
		return -ENOMEM;
	dev->env = *env;
	dev->mtu = 1420;
	dev->handshake_budget = WEFT_HANDSHAKE_BUDGET;
	/* Generous, because a device with many peers sees many honest rekeys
	 * (a million peers rekey about 8,000 times a second); callers that
	 * know their machine set a rate from the cost of X25519. */
	dev->handshake_rate = WEFT_HANDSHAKE_RATE;
	allowedips_init(&dev->allowedips);
	env->random.fill(env->random.ctx, (uint8_t *)dev->peer_hash_key, sizeof(dev->peer_hash_key));
	env->random.fill(env->random.ctx, (uint8_t *)&dev->jitter_state, sizeof(dev->jitter_state));
	dev->jitter_state |= 1;
	env->random.fill(env->random.ctx, key, sizeof(key));
	int r = ratelimiter_init(&dev->ratelimiter, key);
	env->random.fill(env->random.ctx, key, sizeof(key));
	if (r || ratelimiter_init(&dev->cookie_ratelimiter, key) || batch_init(&dev->batch) ||
	    handshake_queue_init(&dev->handshakes)) {
		ratelimiter_free(&dev->ratelimiter);
		ratelimiter_free(&dev->cookie_ratelimiter);
		batch_free(&dev->batch);
		free(dev);
		return -ENOMEM;
	}
	*out = dev;
	return 0;
}

void weft_device_free(struct weft_device *dev)
{
	if (!dev)
		return;
	/* Work still queued (a batch left open) is dropped: its output may be gone. */
	dev->batch.count = dev->batch.sends = dev->batch.delivers = 0;
	dev->batch.out = NULL;
	dev->batch.open = false;
	weft_peer_remove_all(dev);
	allowedips_free(&dev->allowedips);
	ratelimiter_free(&dev->ratelimiter);
	ratelimiter_free(&dev->cookie_ratelimiter);
	hashtable_free(&dev->peers_by_key);
	hashtable_free(&dev->indices);
	timerheap_free(&dev->timers);
	batch_free(&dev->batch);
	handshake_queue_free(&dev->handshakes);
	memzero(dev, sizeof(*dev));
	free(dev);
}

int weft_device_set_private_key(struct weft_device *dev, const uint8_t key[WEFT_KEY_LEN])
{
	WEFT_ASSERT(!dev->batch.open, "weft_device_set_private_key inside a batch");
	if (!key || is_zero_ct(key, WEFT_KEY_LEN)) {
		if (!dev->has_private_key)
			return 0;
		dev->has_private_key = false;
		memzero(dev->static_private, sizeof(dev->static_private));
		memzero(dev->static_public, sizeof(dev->static_public));
	} else {
		uint8_t priv[WEFT_KEY_LEN], pub[WEFT_KEY_LEN];
		/* Clamped like every X25519 private key, so that an unclamped key
		 * and its clamped form count as the same key. */
		x25519_generate_private(priv, key);
		if (dev->has_private_key && memeq_ct(priv, dev->static_private, sizeof(priv))) {
			memzero(priv, sizeof(priv));
			return 0;
		}
		if (!x25519_public(pub, priv)) {
			memzero(priv, sizeof(priv));
			return -EINVAL;
		}
		memcpy(dev->static_private, priv, sizeof(priv));
		memcpy(dev->static_public, pub, sizeof(pub));
		dev->has_private_key = true;
		memzero(priv, sizeof(priv));
		/* A peer with our own public key cannot exist (the Linux module
		 * removes it too). */
		struct weft_peer *self = weft_peer_lookup(dev, pub);
		if (self)
			weft_peer_remove(dev, self);
		cookie_checker_init(&dev->cookie_checker, dev->static_public);
	}
	/* Sessions made with the old key are void: the next packet starts a
	 * handshake under the new one. */
	for (struct weft_peer *p = dev->first_peer; p; p = p->next) {
		noise_static_static_changed(dev, p);
		noise_handshake_clear(dev, p);
		noise_keypairs_clear(dev, p);
	}
	return 0;
}

bool weft_device_private_key(const struct weft_device *dev, uint8_t key[WEFT_KEY_LEN])
{
	if (dev->has_private_key)
		memcpy(key, dev->static_private, WEFT_KEY_LEN);
	return dev->has_private_key;
}

bool weft_device_public_key(const struct weft_device *dev, uint8_t key[WEFT_KEY_LEN])
{
	if (dev->has_private_key)
		memcpy(key, dev->static_public, WEFT_KEY_LEN);
	return dev->has_private_key;
}

void weft_device_set_listen_port(struct weft_device *dev, uint16_t port) { dev->listen_port = port; }
uint16_t weft_device_listen_port(const struct weft_device *dev) { return dev->listen_port; }
void weft_device_set_fwmark(struct weft_device *dev, uint32_t fwmark) { dev->fwmark = fwmark; }
uint32_t weft_device_fwmark(const struct weft_device *dev) { return dev->fwmark; }
unsigned weft_device_mtu(const struct weft_device *dev) { return dev->mtu; }
void weft_device_set_under_load(struct weft_device *dev, bool under_load) { dev->caller_under_load = under_load; }
void weft_device_set_handshake_budget(struct weft_device *dev, unsigned budget) { dev->handshake_budget = budget; }
void weft_device_set_handshake_rate(struct weft_device *dev, unsigned per_second) { dev->handshake_rate = per_second; }
bool weft_device_under_load(struct weft_device *dev) { return device_under_load(dev); }

void weft_device_get_stats(const struct weft_device *dev, struct weft_device_stats *stats)
{
	*stats = dev->stats;
	stats->handshake_backlog = dev->handshakes.count;
}

void weft_device_set_mtu(struct weft_device *dev, unsigned mtu)
{
	dev->mtu = mtu < 1280 ? 1280 : mtu > MESSAGE_MAX_LENGTH ? MESSAGE_MAX_LENGTH : mtu;
}

uint64_t weft_device_drops(const struct weft_device *dev, enum weft_drop reason)
{
	return (unsigned)reason < WEFT_DROP_COUNT ? dev->drops[reason] : 0;
}

void weft_device_set_up(struct weft_device *dev, bool up)
{
	WEFT_ASSERT(!dev->batch.open, "weft_device_set_up inside a batch");
	if (!up)
		handshake_queue_clear(&dev->handshakes); /* answers to a link that is gone */
	for (struct weft_peer *p = dev->first_peer; p; p = p->next) {
		if (up) {
			if (p->persistent_keepalive_interval)
				peer_want(p, WANT_KEEPALIVE);
			continue;
		}
		timers_stop(p);
		p->timers.handshake_attempts = 0;
		p->want = 0;
		peer_free_staged(p);
		noise_handshake_clear(dev, p);
		noise_keypairs_clear(dev, p);
		p->last_sent_handshake = 0;
	}
}

static bool source_is(const struct weft_endpoint *ep, int family, const void *addr)
{
	if (ep->addr.sa.sa_family != family)
		return false;
	return family == AF_INET ? !memcmp(&ep->src.in4, addr, 4) : !memcmp(&ep->src.in6, addr, 16);
}

size_t weft_device_forget_source(struct weft_device *dev, int family, const void *addr)
{
	size_t changed = 0;
	for (struct weft_peer *p = dev->first_peer; p; p = p->next) {
		if (p->has_endpoint && source_is(&p->endpoint, family, addr)) {
			memset(&p->endpoint.src, 0, sizeof(p->endpoint.src));
			p->endpoint.src_ifindex = 0;
			changed++;
		}
	}
	return changed;
}

/* Load: the caller's word, a handshake backlog this device could not keep
 * up with (receive.c), or more handshakes in one second than the device
 * can afford (handshake_rate). */
void device_count_handshake(struct weft_device *dev)
{
	uint64_t now = dev_now(dev);
	if (now >= dev->load_window_start + NSEC_PER_SEC / LOAD_WINDOWS_PER_SECOND) {
		dev->load_window_start = now;
		dev->load_window_count = 0;
	}
	/* in 64 bits: a rate near UINT_MAX must not wrap to an allowance of 0 */
	uint64_t per_window = ((uint64_t)dev->handshake_rate + LOAD_WINDOWS_PER_SECOND - 1) / LOAD_WINDOWS_PER_SECOND;
	if (dev->handshake_rate && ++dev->load_window_count > per_window)
		device_load_seen(dev, now);
}

void device_load_seen(struct weft_device *dev, uint64_t now)
{
	if (now >= dev->under_load_until) {
		dev->stats.under_load_periods++;
		dev_log(dev, WEFT_LOG_VERBOSE,
			"Under load (%" PRIu64 " handshakes in 1/%d s, %zu waiting): demanding cookies",
			dev->load_window_count, LOAD_WINDOWS_PER_SECOND, dev->handshakes.count);
	}
	dev->under_load_until = now + UNDER_LOAD_AFTER_NS;
}

bool device_under_load(struct weft_device *dev)
{
	return dev->caller_under_load || dev_now(dev) < dev->under_load_until;
}

/* Receiver indices. */
struct index_entry *index_lookup(struct weft_device *dev, uint32_t index)
{
	size_t cursor = 0;
	struct index_entry *e;
	while ((e = hashtable_next(&dev->indices, index, &cursor)))
		if (e->index == index)
			return e;
	return NULL;
}

uint32_t index_add(struct weft_device *dev, enum index_type type, void *item)
{
	struct index_entry *e = malloc(sizeof(*e));
	uint32_t index;
	if (!e)
		return 0;
	do
		dev->env.random.fill(dev->env.random.ctx, (uint8_t *)&index, sizeof(index));
	while (!index || index_lookup(dev, index));
	*e = (struct index_entry){ .index = index, .type = type, .item = item };
	if (hashtable_add(&dev->indices, index, e)) {
		free(e);
		return 0;
	}
	return index;
}

void index_replace(struct weft_device *dev, uint32_t index, enum index_type type, void *item)
{
	struct index_entry *e = index_lookup(dev, index);
	if (e) {
		e->type = type;
		e->item = item;
	}
}

void index_remove(struct weft_device *dev, uint32_t index)
{
	struct index_entry *e = index_lookup(dev, index);
	if (e) {
		hashtable_remove(&dev->indices, index, e);
		free(e);
	}
}

/* Peers. */
static uint64_t key_hash(const struct weft_device *dev, const uint8_t key[WEFT_KEY_LEN])
{
	uint64_t h;
	crypto_shorthash((unsigned char *)&h, key, WEFT_KEY_LEN, (const unsigned char *)dev->peer_hash_key);
	return h;
}

struct weft_peer *weft_peer_lookup(struct weft_device *dev, const uint8_t public_key[WEFT_KEY_LEN])
{
	uint64_t h = key_hash(dev, public_key);
	size_t cursor = 0;
	struct weft_peer *p;
	while ((p = hashtable_next(&dev->peers_by_key, h, &cursor)))
		if (memeq_ct(p->public_key, public_key, WEFT_KEY_LEN))
			return p;
	return NULL;
}

int weft_peer_add(struct weft_device *dev, const uint8_t public_key[WEFT_KEY_LEN],
		  struct weft_peer **out)
{
	if (!dev || !public_key || !out)
		return -EINVAL;
	WEFT_ASSERT(!dev->batch.open, "weft_peer_add inside a batch");
	struct weft_peer *peer = weft_peer_lookup(dev, public_key);
	if ((*out = peer))
		return 0;
	if (dev->has_private_key && memeq_ct(public_key, dev->static_public, WEFT_KEY_LEN))
		return -EINVAL;
	if (dev->peer_count >= MAX_PEERS_PER_DEVICE)
		return -ENOSPC;
	peer = calloc(1, sizeof(*peer));
	if (!peer)
		return -ENOMEM;
	peer->dev = dev;
	memcpy(peer->public_key, public_key, WEFT_KEY_LEN);
	peer->hash = key_hash(dev, public_key);
	peer->timers.heap.deadline = UINT64_MAX;
	memcpy(peer->handshake.remote_static, public_key, WEFT_KEY_LEN);
	cookie_init(&peer->cookie, public_key);
	noise_static_static_changed(dev, peer);
	if (hashtable_add(&dev->peers_by_key, peer->hash, peer)) {
		free(peer);
		return -ENOMEM;
	}
	peer->prev = dev->last_peer;
	if (dev->last_peer)
		dev->last_peer->next = peer;
	else
		dev->first_peer = peer;
	dev->last_peer = peer;
	dev->peer_count++;
	*out = peer;
	return 0;
}

static void ready_list_remove(struct weft_device *dev, struct weft_peer *peer)
{
	if (!peer->on_ready_list)
		return;
	struct weft_peer **pp = &dev->ready_head, *prev = NULL;
	while (*pp && *pp != peer) {
		prev = *pp;
		pp = &(*pp)->ready_next;
	}
	if (*pp) {
		*pp = peer->ready_next;
		if (dev->ready_tail == peer)
			dev->ready_tail = prev;
	}
	peer->on_ready_list = false;
	peer->ready_next = NULL;
}

void weft_peer_remove(struct weft_device *dev, struct weft_peer *peer)
{
	WEFT_ASSERT(!dev->batch.open, "weft_peer_remove inside a batch");
	/* Queued handshakes name no peer (they are datagrams), so nothing there
	 * points to it. */
	timers_stop(peer);
	timerheap_set(&dev->timers, &peer->timers.heap, UINT64_MAX);
	ready_list_remove(dev, peer);
	noise_handshake_clear(dev, peer);
	noise_keypairs_clear(dev, peer);
	allowedips_remove_owner(&dev->allowedips, &peer->allowedips);
	peer_free_staged(peer);
	hashtable_remove(&dev->peers_by_key, peer->hash, peer);
	if (peer->prev)
		peer->prev->next = peer->next;
	else
		dev->first_peer = peer->next;
	if (peer->next)
		peer->next->prev = peer->prev;
	else
		dev->last_peer = peer->prev;
	dev->peer_count--;
	memzero(peer, sizeof(*peer));
	free(peer);
}

void weft_peer_remove_all(struct weft_device *dev)
{
	while (dev->first_peer)
		weft_peer_remove(dev, dev->first_peer);
}

const uint8_t *weft_peer_public_key(const struct weft_peer *peer) { return peer->public_key; }
void weft_peer_set_user(struct weft_peer *peer, void *user) { peer->user = user; }
void *weft_peer_user(const struct weft_peer *peer) { return peer->user; }

struct weft_peer *weft_peer_for_address(struct weft_device *dev, int family, const void *ip)
{
	struct allowedips_owner *owner;

	if (!dev || !ip || (family != AF_INET && family != AF_INET6))
		return NULL;
	owner = allowedips_lookup(&dev->allowedips, family, ip);
	return owner ? container_of(owner, struct weft_peer, allowedips) : NULL;
}
struct weft_peer *weft_peer_first(struct weft_device *dev) { return dev->first_peer; }
struct weft_peer *weft_peer_next(struct weft_device *dev, struct weft_peer *peer) { return peer->next; }
size_t weft_peer_count(const struct weft_device *dev) { return dev->peer_count; }

void weft_peer_set_preshared_key(struct weft_peer *peer, const uint8_t psk[WEFT_KEY_LEN])
{
	if (!psk || is_zero_ct(psk, WEFT_KEY_LEN)) {
		memzero(peer->handshake.preshared_key, WEFT_KEY_LEN);
		peer->has_preshared_key = false;
	} else {
		memcpy(peer->handshake.preshared_key, psk, WEFT_KEY_LEN);
		peer->has_preshared_key = true;
	}
}

bool weft_peer_preshared_key(const struct weft_peer *peer, uint8_t psk[WEFT_KEY_LEN])
{
	if (!peer->has_preshared_key) {
		memset(psk, 0, WEFT_KEY_LEN);
		return false;
	}
	memcpy(psk, peer->handshake.preshared_key, WEFT_KEY_LEN);
	return true;
}

void weft_peer_set_endpoint(struct weft_peer *peer, const struct weft_endpoint *endpoint)
{
	if (!endpoint) {
		peer->has_endpoint = false;
		memset(&peer->endpoint, 0, sizeof(peer->endpoint));
		return;
	}
	peer->endpoint = *endpoint;
	peer->has_endpoint = true;
}

void weft_peer_set_persistent_keepalive(struct weft_peer *peer, uint16_t seconds)
{
	uint16_t old = peer->persistent_keepalive_interval;
	peer->persistent_keepalive_interval = seconds;
	if (seconds && !old)
		peer_want(peer, WANT_KEEPALIVE);
}

static int ip_len(int family)
{
	return family == AF_INET ? 4 : family == AF_INET6 ? 16 : -1;
}

int weft_peer_allowed_ip_add(struct weft_peer *peer, int family, const void *ip, uint8_t cidr)
{
	if (ip_len(family) < 0 || cidr > ip_len(family) * 8)
		return -EINVAL;
	return allowedips_insert(&peer->dev->allowedips, family, ip, cidr, &peer->allowedips);
}

int weft_peer_allowed_ip_remove(struct weft_peer *peer, int family, const void *ip, uint8_t cidr)
{
	if (ip_len(family) < 0 || cidr > ip_len(family) * 8)
		return -EINVAL;
	return allowedips_remove(&peer->dev->allowedips, family, ip, cidr, &peer->allowedips);
}

void weft_peer_allowed_ips_clear(struct weft_peer *peer)
{
	allowedips_remove_owner(&peer->dev->allowedips, &peer->allowedips);
}

int weft_peer_allowed_ips_walk(const struct weft_peer *peer,
			       int (*fn)(void *ctx, int family, const uint8_t *ip, uint8_t cidr),
			       void *ctx)
{
	return allowedips_walk_owner(&peer->allowedips, fn, ctx);
}

void weft_peer_get_info(const struct weft_peer *peer, struct weft_peer_info *info)
{
	memset(info, 0, sizeof(*info));
	memcpy(info->public_key, peer->public_key, WEFT_KEY_LEN);
	info->has_preshared_key = peer->has_preshared_key;
	info->has_endpoint = peer->has_endpoint;
	if (peer->has_endpoint)
		info->endpoint = peer->endpoint;
	info->persistent_keepalive = peer->persistent_keepalive_interval;
	info->last_handshake_wall_ns = peer->last_handshake_wall_ns;
	info->rx_bytes = peer->rx_bytes;
	info->tx_bytes = peer->tx_bytes;
}

void peer_want(struct weft_peer *peer, unsigned want)
{
	struct weft_device *dev = peer->dev;
	peer->want |= want;
	if (peer->on_ready_list)
		return;
	peer->on_ready_list = true;
	peer->ready_next = NULL;
	if (dev->ready_tail)
		dev->ready_tail->ready_next = peer;
	else
		dev->ready_head = peer;
	dev->ready_tail = peer;
}

void peer_free_staged(struct weft_peer *peer)
{
	struct staged_packet *s = peer->staged_head, *next;
	for (; s; s = next) {
		next = s->next;
		free(s);
	}
	peer->staged_head = peer->staged_tail = NULL;
	peer->staged_count = 0;
}
