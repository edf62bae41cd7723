/* device.h: the engine's device: our static key, the peers (in order, by
 * public key, by receiver index, by allowed IP), the timer heap, the load
 * state and the drop counters. Internal; the public face is weft/engine.h. */
#ifndef WEFT_DEVICE_H
#define WEFT_DEVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "weft/engine.h"
#include "wg/allowedips.h"
#include "wg/batch.h"
#include "wg/cookie.h"
#include "wg/handshake_queue.h"
#include "wg/hashtable.h"
#include "wg/peer.h"
#include "wg/ratelimiter.h"
#include "wg/timerheap.h"

#define UNDER_LOAD_AFTER_NS NSEC_PER_SEC /* stay under load this long */
/* The handshake rate is counted over this much time (rate / 8 per window),
 * so a flood is seen within a fraction of a second. */
#define LOAD_WINDOWS_PER_SECOND 8
/* A backlog this long means the device cannot keep up (wireguard-go: an
 * eighth of its handshake queue). */
#define UNDER_LOAD_BACKLOG (WEFT_HANDSHAKE_QUEUE / 8)

/* The batch rules and other caller contracts, checked unless NDEBUG. */
#ifdef NDEBUG
#define WEFT_ASSERT(cond, what) ((void)0)
#else
#define WEFT_ASSERT(cond, what) ((cond) ? (void)0 : weft_assert_failed(what, __FILE__, __LINE__))
#endif
__attribute__((noreturn)) void weft_assert_failed(const char *what, const char *file, int line);

enum index_type { INDEX_HANDSHAKE = 1, INDEX_KEYPAIR = 2 };

/* An entry of the receiver-index table: a handshake (item = peer) or a
 * keypair (item = keypair). */
struct index_entry {
	uint32_t index;
	enum index_type type;
	void *item;
};

struct weft_device {
	struct weft_env env;
	bool has_private_key;
	uint8_t static_private[NOISE_PUBLIC_KEY_LEN];
	uint8_t static_public[NOISE_PUBLIC_KEY_LEN];
	struct cookie_checker cookie_checker;

	struct weft_peer *first_peer, *last_peer;
	size_t peer_count;
	uint64_t peer_hash_key[2];
	uint64_t jitter_state; /* timers.c's generator, never 0 */
	struct hashtable peers_by_key;
	struct hashtable indices; /* of struct index_entry */
	struct allowedips allowedips;
	struct ratelimiter ratelimiter;
	struct ratelimiter cookie_ratelimiter; /* cookie replies, per source */
	struct timerheap timers;
	struct weft_peer *ready_head, *ready_tail;
	struct crypto_batch batch;

	uint16_t listen_port;
	uint32_t fwmark;
	unsigned mtu;

	bool caller_under_load;
	uint64_t load_window_start, load_window_count, under_load_until;
	struct handshake_queue handshakes;
	unsigned handshake_budget;  /* DH-bound handshakes per batch/tick; 0 = no limit */
	unsigned handshakes_done;   /* of this batch, tick or lone call */
	unsigned handshake_rate;    /* valid-mac1 messages per second before load; 0 = no rule */
	struct weft_device_stats stats;

	uint64_t drops[WEFT_DROP_COUNT];
};

#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

/* The address bytes of an IPv4 or IPv6 endpoint, and its family; NULL for
 * any other family. */
static inline const uint8_t *endpoint_ip(const struct weft_endpoint *ep, int *family)
{
	*family = ep->addr.sa.sa_family;
	if (*family == AF_INET)
		return (const uint8_t *)&ep->addr.in4.sin_addr;
	if (*family == AF_INET6)
		return (const uint8_t *)&ep->addr.in6.sin6_addr;
	return NULL;
}

static inline uint64_t dev_now(struct weft_device *dev)
{
	return dev->env.clock.now_ns(dev->env.clock.ctx);
}

static inline void dev_drop(struct weft_device *dev, enum weft_drop why)
{
	dev->drops[why]++;
}

void dev_log(struct weft_device *dev, enum weft_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* A short, printable name for a peer in logs: "peer(AbCd…wXyZ)". */
const char *peer_name(const struct weft_peer *peer, char buf[24]);

/* Receiver indices. */
struct index_entry *index_lookup(struct weft_device *dev, uint32_t index);
/* Registers a new random index; 0 on failure (0 is never handed out). */
uint32_t index_add(struct weft_device *dev, enum index_type type, void *item);
void index_replace(struct weft_device *dev, uint32_t index, enum index_type type, void *item);
void index_remove(struct weft_device *dev, uint32_t index);

/* Queues work for the peer; done by the next device_drain(). */
void peer_want(struct weft_peer *peer, unsigned want);
/* Does queued work while out has room. */
void device_drain(struct weft_device *dev, struct weft_out *out);

bool device_under_load(struct weft_device *dev);
void device_count_handshake(struct weft_device *dev);
/* Consumes queued handshake messages within the budget (receive.c). */
void device_run_handshakes(struct weft_device *dev, struct weft_out *out);
/* A backlog the device could not keep up with was seen at now. */
void device_load_seen(struct weft_device *dev, uint64_t now);

#endif
