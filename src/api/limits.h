/* limits.h: what one `weft api` server allows (api_limits), and the
 * per-client request rate (api_rate): a token bucket per client address in
 * a fixed table, so memory is bounded whatever the number of clients. */
#ifndef WEFT_API_LIMITS_H
#define WEFT_API_LIMITS_H

#include <stdbool.h>
#include <stdint.h>

struct api_limits {
	unsigned max_peers;        /* peers of the interface, all tokens */
	unsigned max_connections;  /* open connections in all */
	unsigned per_ip_connections;
	unsigned timeout;          /* seconds a connection may stay idle */
	unsigned rate;             /* requests per second per client; 0 = no limit */
	unsigned burst;
};

#define API_RATE_SLOTS 1024

struct api_rate_slot {
	char client[64];
	double tokens;
	double last;               /* monotonic seconds */
};

struct api_rate {
	struct api_rate_slot slot[API_RATE_SLOTS];
};

void api_limits_default(struct api_limits *l);
/* One request from client now: true when it is within the rate. */
bool api_rate_allow(struct api_rate *r, const struct api_limits *l, const char *client, double now);

#endif
