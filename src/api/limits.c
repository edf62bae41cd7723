/* limits.c: the defaults of a `weft api` server's limits and the
 * per-client token buckets (limits.h). A client whose slot is taken by
 * another address (a hash collision in a full table) takes the slot over
 * with a full bucket: an attacker with many addresses can reset buckets,
 * which the connection limits still bound. */
#include <string.h>

#include "limits.h"

void api_limits_default(struct api_limits *l)
{
	l->max_peers = 10000 + 1000;
	l->max_connections = 256;
	l->per_ip_connections = 32;
	l->timeout = 10;
	l->rate = 20;
	l->burst = 40;
}

static uint32_t hash_str(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h;
}

bool api_rate_allow(struct api_rate *r, const struct api_limits *l, const char *client, double now)
{
	struct api_rate_slot *s = &r->slot[hash_str(client) % API_RATE_SLOTS];

	if (!l->rate)
		return true;
	if (strcmp(s->client, client)) {
		strncpy(s->client, client, sizeof(s->client) - 1);
		s->client[sizeof(s->client) - 1] = '\0';
		s->tokens = l->burst;
		s->last = now;
	}
	s->tokens += (now - s->last) * l->rate;
	if (s->tokens > l->burst)
		s->tokens = l->burst;
	s->last = now;
	if (s->tokens < 1)
		return false;
	s->tokens -= 1;
	return true;
}
