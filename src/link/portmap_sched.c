/* portmap_sched.c: when the port mapping's next attempt is due (a first
 * try, a renewal at half the lease, a retry with backoff): pure functions
 * of the times given, unit-tested apart from the protocols and threads. */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "link/portmap.h"

int64_t portmap_retry_delay(unsigned failures)
{
	int64_t d = PORTMAP_RETRY_MIN_MS;

	while (failures-- > 1 && d < PORTMAP_RETRY_MAX_MS)
		d *= 2;
	return d < PORTMAP_RETRY_MAX_MS ? d : PORTMAP_RETRY_MAX_MS;
}

int64_t portmap_next(const struct portmap_sched *s)
{
	if (s->failures)
		return s->failed_ms + portmap_retry_delay(s->failures);
	if (!s->mapped)
		return INT64_MIN; /* nothing tried yet: now */
	if (!s->lifetime)
		return s->granted_ms + PORTMAP_PERMANENT_CHECK_MS;
	/* half the lease, as RFC 6886 section 3.7 asks of clients */
	return s->granted_ms + (int64_t)s->lifetime * 1000 / 2;
}

void portmap_sched_success(struct portmap_sched *s, int64_t now_ms, uint32_t lifetime)
{
	s->mapped = true;
	s->granted_ms = now_ms;
	s->lifetime = lifetime;
	s->failures = 0;
}

void portmap_sched_failure(struct portmap_sched *s, int64_t now_ms)
{
	s->mapped = false;
	if (s->failures < 64)
		s->failures++;
	s->failed_ms = now_ms;
}

const char *portmap_proto_name(enum portmap_proto proto)
{
	switch (proto) {
	case PORTMAP_NATPMP: return "nat-pmp";
	case PORTMAP_UPNP: return "upnp";
	case PORTMAP_PCP: return "pcp";
	default: return "none";
	}
}

int portmap_parse_use(const char *list, unsigned *use)
{
	static const struct { const char *name; unsigned bit; } names[] = {
		{ "pcp", PORTMAP_USE_PCP }, { "nat-pmp", PORTMAP_USE_NATPMP }, { "upnp", PORTMAP_USE_UPNP },
	};
	unsigned u = 0;

	if (!strcmp(list, "none")) {
		*use = 0;
		return 0;
	}
	for (const char *p = list;;) {
		size_t n = strcspn(p, ",");
		unsigned bit = 0;

		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			if (n == strlen(names[i].name) && !strncmp(p, names[i].name, n))
				bit = names[i].bit;
		if (!bit || (u & bit))
			return -EINVAL; /* unknown, empty or twice */
		u |= bit;
		if (!p[n])
			break;
		p += n + 1;
	}
	*use = u;
	return 0;
}
