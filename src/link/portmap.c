/* portmap.c: the port mapping's schedule and the helper thread that carries
 * it out (the protocols are portmap_natpmp.c and portmap_upnp.c). The thread
 * sleeps until the schedule says an attempt is due or it is told to stop;
 * each attempt renews with the protocol that holds the lease, or tries
 * NAT-PMP then UPnP; the result is published under the lock and the
 * eventfd is written so that the caller's loop notices. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "link/portmap.h"
#include "link/log.h"

/* --- the helper thread ---------------------------------------------------- */

struct portmap {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	int efd;
	bool stop;
	bool changed;
	struct portmap_lease lease; /* under lock */
	uint64_t attempts, failures;
	/* the thread's own */
	struct portmap_config cfg;
	char *gateway, *description;
	struct portmap_sched sched;
};

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void publish(struct portmap *pm, const struct portmap_lease *lease)
{
	uint64_t one = 1;

	pthread_mutex_lock(&pm->lock);
	if (memcmp(&pm->lease, lease, sizeof(*lease))) {
		pm->lease = *lease;
		pm->changed = true;
	}
	pthread_mutex_unlock(&pm->lock);
	if (write(pm->efd, &one, sizeof(one)) < 0) {
		/* the counter is full only if nobody reads: nothing to do */
	}
}

static int try_natpmp(struct portmap *pm, struct portmap_lease *l)
{
	return portmap_natpmp_map(pm->gateway, pm->cfg.internal_port, pm->cfg.lifetime,
				  PORTMAP_ATTEMPT_MS, l);
}

static int try_pcp(struct portmap *pm, struct portmap_lease *l)
{
	return portmap_pcp_map(pm->gateway, pm->cfg.internal_port, pm->cfg.lifetime, PORTMAP_ATTEMPT_MS, l);
}

static int try_upnp(struct portmap *pm, struct portmap_lease *l)
{
	return portmap_upnp_map(pm->cfg.internal_port, pm->cfg.lifetime, PORTMAP_ATTEMPT_MS,
				pm->description, l);
}

/* One attempt: renew with the protocol that holds the lease, else PCP and
 * NAT-PMP (one datagram each, the cheaper questions, PCP first as RFC 6887
 * asks), else UPnP. */
static int attempt(struct portmap *pm, struct portmap_lease *l)
{
	int r = -EOPNOTSUPP;

	if (l->proto == PORTMAP_PCP) {
		r = try_pcp(pm, l);
		if (!r)
			return 0;
	} else if (l->proto == PORTMAP_NATPMP) {
		r = try_natpmp(pm, l);
		if (!r)
			return 0;
	} else if (l->proto == PORTMAP_UPNP) {
		r = try_upnp(pm, l);
		if (!r)
			return 0;
	}
	if (l->proto)
		link_log_verbose("portmap: renewal by %s failed (%s), asking again", portmap_proto_name(l->proto),
			    strerror(-r));
	memset(l, 0, sizeof(*l));
	if (!pm->cfg.no_pcp) {
		r = try_pcp(pm, l);
		if (!r)
			return 0;
		link_log_verbose("portmap: pcp: %s", strerror(-r));
		memset(l, 0, sizeof(*l));
	}
	if (!pm->cfg.no_natpmp) {
		r = try_natpmp(pm, l);
		if (!r)
			return 0;
		link_log_verbose("portmap: nat-pmp: %s", strerror(-r));
		memset(l, 0, sizeof(*l));
	}
	if (!pm->cfg.no_upnp) {
		r = try_upnp(pm, l);
		if (!r)
			return 0;
		link_log_verbose("portmap: upnp: %s", strerror(-r));
		memset(l, 0, sizeof(*l));
	}
	return r;
}

static void *run(void *arg)
{
	struct portmap *pm = arg;
	struct portmap_lease l = { 0 };
	bool told_failure = false;

	pthread_mutex_lock(&pm->lock);
	while (!pm->stop) {
		int64_t due = portmap_next(&pm->sched), now = mono_ms();

		if (due > now) {
			struct timespec ts;
			int64_t wait = due - now;

			clock_gettime(CLOCK_MONOTONIC, &ts);
			ts.tv_sec += wait / 1000;
			ts.tv_nsec += (wait % 1000) * 1000000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			pthread_cond_timedwait(&pm->wake, &pm->lock, &ts);
			continue;
		}
		pm->attempts++;
		pthread_mutex_unlock(&pm->lock);

		bool had = l.proto != PORTMAP_NONE;
		int r = attempt(pm, &l);
		char ext[INET_ADDRSTRLEN];

		if (!r) {
			portmap_sched_success(&pm->sched, mono_ms(), l.lifetime);
			inet_ntop(AF_INET, &l.external_addr, ext, sizeof(ext));
			if (!had)
				link_log_info("portmap: %s mapped %s:%u to local port %u for %u s",
					    portmap_proto_name(l.proto), ext, l.external_port, l.internal_port,
					    l.lifetime);
			told_failure = false;
		} else {
			portmap_sched_failure(&pm->sched, mono_ms());
			/* a gateway that says no is normal: say it once, not every retry */
			if (!told_failure)
				link_log_info("portmap: no mapping (%s); retrying in %lld s", strerror(-r),
					    (long long)portmap_retry_delay(pm->sched.failures) / 1000);
			told_failure = true;
		}
		publish(pm, &l);
		pthread_mutex_lock(&pm->lock);
		if (r)
			pm->failures++;
	}
	pthread_mutex_unlock(&pm->lock);

	if (l.proto == PORTMAP_PCP)
		portmap_pcp_unmap(pm->gateway, &l, PORTMAP_REMOVE_MS);
	else if (l.proto == PORTMAP_NATPMP)
		portmap_natpmp_unmap(pm->gateway, &l, PORTMAP_REMOVE_MS);
	else if (l.proto == PORTMAP_UPNP)
		portmap_upnp_unmap(&l);
	if (l.proto)
		link_log_info("portmap: %s mapping of port %u removed", portmap_proto_name(l.proto),
			    l.external_port);
	return NULL;
}

struct portmap *portmap_start(const struct portmap_config *cfg)
{
	struct portmap *pm;
	pthread_condattr_t ca;
	int err;

	if (!cfg->internal_port) {
		errno = EINVAL;
		return NULL;
	}
	pm = calloc(1, sizeof(*pm));
	if (!pm)
		return NULL;
	pm->cfg = *cfg;
	if (!pm->cfg.lifetime)
		pm->cfg.lifetime = PORTMAP_LIFETIME_DEFAULT;
	pm->gateway = cfg->gateway ? strdup(cfg->gateway) : NULL;
	pm->description = strdup(cfg->description ? cfg->description : "weft");
	pm->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if ((cfg->gateway && !pm->gateway) || !pm->description || pm->efd < 0) {
		err = errno;
		goto fail;
	}
	pthread_mutex_init(&pm->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&pm->wake, &ca);
	pthread_condattr_destroy(&ca);
	err = pthread_create(&pm->thread, NULL, run, pm);
	if (err) {
		pthread_cond_destroy(&pm->wake);
		pthread_mutex_destroy(&pm->lock);
		goto fail;
	}
	return pm;
fail:
	if (pm->efd >= 0)
		close(pm->efd);
	free(pm->gateway);
	free(pm->description);
	free(pm);
	errno = err;
	return NULL;
}

int portmap_fd(const struct portmap *pm)
{
	return pm->efd;
}

bool portmap_get(struct portmap *pm, struct portmap_lease *out)
{
	uint64_t n;
	bool changed;

	if (read(pm->efd, &n, sizeof(n)) < 0) {
		/* EAGAIN: nothing new */
	}
	pthread_mutex_lock(&pm->lock);
	*out = pm->lease;
	changed = pm->changed;
	pm->changed = false;
	pthread_mutex_unlock(&pm->lock);
	return changed;
}

void portmap_counters(struct portmap *pm, uint64_t *attempts, uint64_t *failures)
{
	pthread_mutex_lock(&pm->lock);
	*attempts = pm->attempts;
	*failures = pm->failures;
	pthread_mutex_unlock(&pm->lock);
}

void portmap_stop(struct portmap *pm)
{
	if (!pm)
		return;
	pthread_mutex_lock(&pm->lock);
	pm->stop = true;
	pthread_cond_signal(&pm->wake);
	pthread_mutex_unlock(&pm->lock);
	pthread_join(pm->thread, NULL);
	pthread_cond_destroy(&pm->wake);
	pthread_mutex_destroy(&pm->lock);
	close(pm->efd);
	free(pm->gateway);
	free(pm->description);
	free(pm);
}
