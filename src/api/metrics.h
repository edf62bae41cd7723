/* metrics.h: what `weft api` counts for GET /metrics - requests by route
 * and status (a fixed table: routes are few, so it is bounded). Per-peer
 * and per-token figures are read when /metrics is asked for. */
#ifndef WEFT_API_METRICS_H
#define WEFT_API_METRICS_H

#include <stdint.h>
#include <stdio.h>

#define API_METRICS_SLOTS 128

struct api_metrics {
	struct {
		const char *route; /* a static string: the route's pattern */
		int status;
		uint64_t n;
	} req[API_METRICS_SLOTS];
	unsigned n;
	uint64_t rate_limited;
};

void api_metrics_count(struct api_metrics *m, const char *route, int status);
/* The request counters in Prometheus text format. */
void api_metrics_write(const struct api_metrics *m, FILE *f);

#endif
