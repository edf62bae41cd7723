/* resolve.c: the host-name endpoints `weft link` keeps resolving (see
 * resolve.h): when a lookup is due, running it through getaddrinfo_a(3),
 * and turning finished lookups into endpoint changes. */
#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "conf/conf.h"
#include "link/resolve.h"
#include "link/log.h"

enum resolve_outcome resolve_classify(int gai_error)
{
	switch (gai_error) {
	case 0:
		return RESOLVE_OK;
	case EAI_NONAME:
	case EAI_FAIL:
#ifdef EAI_NODATA
	case EAI_NODATA:
#endif
#ifdef EAI_ADDRFAMILY
	case EAI_ADDRFAMILY:
#endif
	case EAI_SERVICE:
	case EAI_FAMILY:
	case EAI_BADFLAGS:
		return RESOLVE_PERMANENT;
	default: /* EAI_AGAIN, EAI_SYSTEM, EAI_MEMORY, EAI_CANCELED... */
		return RESOLVE_TRANSIENT;
	}
}

bool resolve_due(const struct resolve_sched *s, int64_t now_ms, int64_t now_s,
		 int64_t last_handshake_s, int64_t interval_ms)
{
	if (s->busy || now_ms < s->next_ms)
		return false;
	/* a clock that went back makes a handshake "in the future": fresh */
	return last_handshake_s <= 0 || now_s - last_handshake_s > RESOLVE_STALE_S;
}

static int64_t doubled(int64_t first, int64_t cap, unsigned n)
{
	int64_t d = first;

	while (n-- > 1 && d < cap)
		d *= 2;
	return d < cap ? d : cap;
}

bool resolve_record(struct resolve_sched *s, int64_t now_ms, enum resolve_outcome o, int64_t interval_ms)
{
	bool say = false;

	s->busy = false;
	switch (o) {
	case RESOLVE_OK:
		say = s->transient || s->permanent; /* a recovery is worth a line */
		s->transient = s->permanent = 0;
		s->next_ms = now_ms + interval_ms;
		break;
	case RESOLVE_TRANSIENT:
		say = !s->transient;
		if (s->transient < 64)
			s->transient++;
		s->next_ms = now_ms + doubled(RESOLVE_TRANSIENT_MS, RESOLVE_TRANSIENT_MAX_MS, s->transient);
		break;
	case RESOLVE_PERMANENT:
		say = !s->permanent;
		s->transient = 0;
		if (s->permanent < 64)
			s->permanent++;
		s->next_ms = now_ms + doubled(RESOLVE_PERMANENT_MS, RESOLVE_PERMANENT_MAX_MS, s->permanent);
		break;
	}
	return say;
}

/* --- the table ------------------------------------------------------------ */

struct name {
	uint8_t public_key[WG_KEY_LEN];
	char *host;
	char port[8];
	struct resolve_sched sched;
	/* the lookup in flight */
	struct gaicb cb;
	struct addrinfo hints;
	struct gaicb *list[1];
};

struct resolve_table {
	struct name *names;
	size_t n, cap;
	int efd;
	int64_t interval_ms;
	struct resolve_counters counters;
};

/* getaddrinfo_a's notification, on a thread of its own: wakes the loop. */
static void notify(union sigval v)
{
	uint64_t one = 1;
	int fd = v.sival_int;

	if (write(fd, &one, sizeof(one)) < 0) {
		/* the counter is full: the loop has enough to read already */
	}
}

struct resolve_table *resolve_table_new(void)
{
	struct resolve_table *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (t->efd < 0) {
		free(t);
		return NULL;
	}
	t->interval_ms = RESOLVE_INTERVAL_MS;
	return t;
}

void resolve_table_set_interval(struct resolve_table *t, int64_t interval_ms)
{
	t->interval_ms = interval_ms > 0 ? interval_ms : RESOLVE_INTERVAL_MS;
}

void resolve_table_free(struct resolve_table *t)
{
	bool stuck = false;

	if (!t)
		return;
	for (size_t i = 0; i < t->n; i++) {
		struct name *nm = &t->names[i];

		if (!nm->sched.busy)
			goto drop;
		if (gai_cancel(&nm->cb) != EAI_CANCELED) {
			/* running: wait a little for it, as its thread writes into nm */
			struct timespec ts = { .tv_sec = 2 };
			const struct gaicb *l[1] = { &nm->cb };

			gai_suspend(l, 1, &ts);
			if (gai_error(&nm->cb) == EAI_INPROGRESS) {
				stuck = true; /* left allocated: it is still being written */
				continue;
			}
		}
		if (nm->cb.ar_result)
			freeaddrinfo(nm->cb.ar_result);
drop:
		free(nm->host);
	}
	if (stuck)
		return; /* the names and the eventfd outlive us, deliberately */
	free(t->names);
	close(t->efd);
	free(t);
}

static bool is_literal(const char *host)
{
	struct addrinfo hints = { .ai_flags = AI_NUMERICHOST }, *res = NULL;
	bool literal = !getaddrinfo(host, NULL, &hints, &res);

	if (res)
		freeaddrinfo(res);
	return literal;
}

int resolve_table_add(struct resolve_table *t, const uint8_t public_key[WG_KEY_LEN], const char *host,
		      uint16_t port)
{
	struct name *nm;

	if (!host || !*host || !port)
		return -EINVAL;
	if (t->n == RESOLVE_MAX_NAMES)
		return -ENOSPC;
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 8;

		/* no realloc once lookups run: their threads hold pointers into it */
		for (size_t i = 0; i < t->n; i++)
			if (t->names[i].sched.busy)
				return -EBUSY;
		nm = realloc(t->names, cap * sizeof(*nm));
		if (!nm)
			return -ENOMEM;
		t->names = nm;
		t->cap = cap;
	}
	nm = &t->names[t->n];
	memset(nm, 0, sizeof(*nm));
	nm->host = strdup(host);
	if (!nm->host)
		return -ENOMEM;
	memcpy(nm->public_key, public_key, WG_KEY_LEN);
	snprintf(nm->port, sizeof(nm->port), "%u", port);
	t->n++;
	return 0;
}

int resolve_table_add_conf(struct resolve_table *t, const struct conf *c,
			   bool (*skip)(void *ctx, const uint8_t public_key[WG_KEY_LEN]), void *ctx)
{
	int added = 0;

	for (uint32_t i = 0; i < c->n_peers; i++) {
		const struct conf_peer *p = &c->peers[i];
		int r;

		if (!p->endpoint.host || is_literal(p->endpoint.host) || (skip && skip(ctx, p->public_key)))
			continue;
		r = resolve_table_add(t, p->public_key, p->endpoint.host, p->endpoint.port);
		if (r)
			return r;
		added++;
	}
	return added;
}

size_t resolve_table_count(const struct resolve_table *t)
{
	return t->n;
}

int resolve_table_fd(const struct resolve_table *t)
{
	return t->efd;
}

static const struct dev_peer *find_peer(const struct device *dev, const uint8_t key[WG_KEY_LEN])
{
	for (size_t i = 0; dev && i < dev->n_peers; i++)
		if (!memcmp(dev->peers[i].public_key, key, WG_KEY_LEN))
			return &dev->peers[i];
	return NULL;
}

int resolve_table_tick(struct resolve_table *t, const struct device *dev, int64_t now_ms, int64_t now_s)
{
	size_t inflight = 0;
	int started = 0;

	for (size_t i = 0; i < t->n; i++)
		inflight += t->names[i].sched.busy;
	for (size_t i = 0; i < t->n && inflight < RESOLVE_MAX_INFLIGHT; i++) {
		struct name *nm = &t->names[i];
		const struct dev_peer *p = find_peer(dev, nm->public_key);
		struct sigevent sev = { .sigev_notify = SIGEV_THREAD, .sigev_notify_function = notify };
		int r;

		/* a peer the device does not have is none of our business */
		if (!p || !resolve_due(&nm->sched, now_ms, now_s, p->last_handshake_sec, t->interval_ms))
			continue;
		memset(&nm->cb, 0, sizeof(nm->cb));
		memset(&nm->hints, 0, sizeof(nm->hints));
		/* as wg resolves endpoints */
		nm->hints.ai_family = AF_UNSPEC;
		nm->hints.ai_socktype = SOCK_DGRAM;
		nm->hints.ai_protocol = IPPROTO_UDP;
		nm->cb.ar_name = nm->host;
		nm->cb.ar_service = nm->port;
		nm->cb.ar_request = &nm->hints;
		nm->list[0] = &nm->cb;
		sev.sigev_value.sival_int = t->efd;
		r = getaddrinfo_a(GAI_NOWAIT, nm->list, 1, &sev);
		if (r) {
			if (resolve_record(&nm->sched, now_ms, resolve_classify(r), t->interval_ms))
				link_log_error("resolve: cannot look up %s: %s", nm->host, gai_strerror(r));
			continue;
		}
		nm->sched.busy = true;
		t->counters.lookups++;
		inflight++;
		started++;
	}
	return started;
}

static bool same_endpoint(const union dev_endpoint *a, const struct addrinfo *ai)
{
	if (a->addr.sa_family != ai->ai_family)
		return false;
	if (ai->ai_family == AF_INET)
		return a->addr4.sin_port == ((const struct sockaddr_in *)ai->ai_addr)->sin_port &&
		       a->addr4.sin_addr.s_addr == ((const struct sockaddr_in *)ai->ai_addr)->sin_addr.s_addr;
	return a->addr6.sin6_port == ((const struct sockaddr_in6 *)ai->ai_addr)->sin6_port &&
	       !memcmp(&a->addr6.sin6_addr, &((const struct sockaddr_in6 *)ai->ai_addr)->sin6_addr, 16);
}

int resolve_table_collect(struct resolve_table *t, const struct device *dev, struct device *change,
			  int64_t now_ms)
{
	uint64_t n;
	int added = 0;

	if (read(t->efd, &n, sizeof(n)) < 0) {
		/* EAGAIN: a lookup may still have finished before its wake-up */
	}
	for (size_t i = 0; i < t->n; i++) {
		struct name *nm = &t->names[i];
		int err;

		if (!nm->sched.busy)
			continue;
		err = gai_error(&nm->cb);
		if (err == EAI_INPROGRESS)
			continue;
		enum resolve_outcome o = resolve_classify(err);
		const struct addrinfo *ai = err ? NULL : nm->cb.ar_result;

		while (ai && ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
			ai = ai->ai_next;
		if (!err && !ai)
			o = RESOLVE_PERMANENT; /* a name with no usable address */
		if (o == RESOLVE_TRANSIENT)
			t->counters.transient++;
		else if (o == RESOLVE_PERMANENT)
			t->counters.permanent++;
		if (resolve_record(&nm->sched, now_ms, o, t->interval_ms)) {
			if (o == RESOLVE_OK)
				link_log_info("resolve: %s resolves again", nm->host);
			else if (o == RESOLVE_PERMANENT)
				link_log_error("resolve: %s: %s (permanent; next try in %lld s)", nm->host,
					  err ? gai_strerror(err) : "no IPv4 or IPv6 address",
					  (long long)(nm->sched.next_ms - now_ms) / 1000);
			else
				link_log_error("resolve: %s: %s (retrying)", nm->host, gai_strerror(err));
		}
		const struct dev_peer *p = find_peer(dev, nm->public_key);

		if (ai && p && !same_endpoint(&p->endpoint, ai) &&
		    ai->ai_addrlen <= sizeof(union dev_endpoint)) {
			struct dev_peer *c = device_add_peer(change);

			if (!c) {
				freeaddrinfo(nm->cb.ar_result);
				nm->cb.ar_result = NULL;
				return -ENOMEM;
			}
			c->flags = PEER_HAS_PUBLIC_KEY | PEER_UPDATE_ONLY;
			memcpy(c->public_key, nm->public_key, WG_KEY_LEN);
			memcpy(&c->endpoint, ai->ai_addr, ai->ai_addrlen);
			char was[DEV_ENDPOINT_STRLEN] = "none", now[DEV_ENDPOINT_STRLEN] = "?";

			if (device_has_endpoint(p))
				dev_endpoint_format(was, sizeof(was), &p->endpoint);
			dev_endpoint_format(now, sizeof(now), &c->endpoint);
			link_log_info("resolve: %s now %s (was %s)", nm->host, now, was);
			t->counters.changed++;
			added++;
		}
		if (nm->cb.ar_result)
			freeaddrinfo(nm->cb.ar_result);
		nm->cb.ar_result = NULL;
	}
	return added;
}

void resolve_table_counters(const struct resolve_table *t, struct resolve_counters *out)
{
	*out = t->counters;
}
