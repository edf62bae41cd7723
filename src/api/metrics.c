/* metrics.c: counting requests (metrics.h). */
#include <string.h>

#include "metrics.h"

void api_metrics_count(struct api_metrics *m, const char *route, int status)
{
	unsigned i;

	if (!route)
		route = "other";
	for (i = 0; i < m->n; i++)
		if (m->req[i].status == status && !strcmp(m->req[i].route, route))
			break;
	if (i == m->n) {
		if (m->n == API_METRICS_SLOTS)
			return;
		m->req[i].route = route;
		m->req[i].status = status;
		m->n++;
	}
	m->req[i].n++;
}

void api_metrics_write(const struct api_metrics *m, FILE *f)
{
	fprintf(f, "# HELP weft_api_requests_total Requests answered, by route and status.\n"
		   "# TYPE weft_api_requests_total counter\n");
	for (unsigned i = 0; i < m->n; i++)
		fprintf(f, "weft_api_requests_total{route=\"%s\",status=\"%d\"} %llu\n", m->req[i].route,
			m->req[i].status, (unsigned long long)m->req[i].n);
	fprintf(f, "# HELP weft_api_rate_limited_total Requests refused for their client's rate.\n"
		   "# TYPE weft_api_rate_limited_total counter\nweft_api_rate_limited_total %llu\n",
		(unsigned long long)m->rate_limited);
}
