/* ratelimiter.h: a token bucket per source IP for handshake messages that
 * arrive while the device is under load (whitepaper section 5.3; the Linux
 * module's ratelimiter.c): 20 packets per second, bursts of 5. IPv6 sources
 * are grouped by /64, since one host controls a whole /64. The table is
 * bounded; entries idle for more than a second are swept out. */
#ifndef WEFT_RATELIMITER_H
#define WEFT_RATELIMITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
	RATELIMIT_PACKETS_PER_SECOND = 20,
	RATELIMIT_BURST = 5,
	RATELIMIT_MAX_ENTRIES = 8192,
};

struct ratelimiter_entry;

struct ratelimiter {
	struct ratelimiter_entry **buckets;
	size_t bucket_count, entries;
	uint64_t last_sweep_ns;
	uint64_t key[2]; /* hash key, random, so sources cannot aim at one bucket */
};

/* random_key: 16 random bytes. Returns 0, -ENOMEM, or -EIO if libsodium
 * cannot start. */
int ratelimiter_init(struct ratelimiter *r, const uint8_t random_key[16]);
void ratelimiter_free(struct ratelimiter *r);
/* family AF_INET (4 bytes) or AF_INET6 (16 bytes): may a packet from ip pass
 * at time now_ns (monotonic)? When the table is full, new sources are
 * refused. Also sweeps idle entries, at most once a second. */
bool ratelimiter_allow(struct ratelimiter *r, int family, const uint8_t *ip, uint64_t now_ns);

#endif
