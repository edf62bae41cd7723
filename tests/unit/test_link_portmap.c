/* test_link_portmap.c: the port mapping's schedule (src/link/portmap_sched.c:
 * first try at once, renewal at half the lease, backoff doubling to its cap,
 * permanent leases checked hourly) and the NAT-PMP client
 * (src/link/portmap_natpmp.c) against a small NAT-PMP gateway written here
 * from RFC 6886 on a loopback address: a mapping granted, a renewal that
 * asks for the port it holds, a gateway that refuses, one that never
 * answers, and the removal request (lifetime 0). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "link/portmap.h"
#include "test.h"

static void schedule(void)
{
	struct portmap_sched s = { 0 };

	CHECK(portmap_next(&s) == INT64_MIN); /* nothing tried: at once */
	portmap_sched_success(&s, 1000, 7200);
	CHECK_EQ(portmap_next(&s), 1000 + 3600 * 1000);
	portmap_sched_failure(&s, 5000);
	CHECK(!s.mapped);
	CHECK_EQ(portmap_next(&s), 5000 + PORTMAP_RETRY_MIN_MS);
	portmap_sched_failure(&s, 6000);
	CHECK_EQ(portmap_next(&s), 6000 + 2 * PORTMAP_RETRY_MIN_MS);
	for (int i = 0; i < 100; i++)
		portmap_sched_failure(&s, 7000);
	CHECK_EQ(portmap_next(&s), 7000 + PORTMAP_RETRY_MAX_MS);
	portmap_sched_success(&s, 8000, 0); /* a permanent UPnP lease */
	CHECK_EQ(s.failures, 0);
	CHECK_EQ(portmap_next(&s), 8000 + PORTMAP_PERMANENT_CHECK_MS);
	/* a tiny lease is still renewed before it ends */
	portmap_sched_success(&s, 0, 1);
	CHECK(portmap_next(&s) > 0 && portmap_next(&s) < 1000);
}

static void backoff_monotonic(void)
{
	int64_t prev = 0;

	for (unsigned n = 1; n < 80; n++) {
		int64_t d = portmap_retry_delay(n);

		CHECK(d >= prev);
		CHECK(d >= PORTMAP_RETRY_MIN_MS && d <= PORTMAP_RETRY_MAX_MS);
		prev = d;
	}
}

/* --- a NAT-PMP gateway (RFC 6886 sections 3.2 and 3.3) -------------------- */

enum gw_mode { GW_GRANT, GW_REFUSE, GW_SILENT };

struct gw {
	int fd;
	enum gw_mode mode;
	char addr[INET_ADDRSTRLEN];
	/* what the last mapping request asked */
	uint16_t req_internal, req_external;
	uint32_t req_lifetime;
	int requests;
	volatile int stop;
};

static void put16(uint8_t *p, uint16_t v) { p[0] = v >> 8; p[1] = (uint8_t)v; }
static void put32(uint8_t *p, uint32_t v) { put16(p, v >> 16); put16(p + 2, (uint16_t)v); }
static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t get32(const uint8_t *p) { return (uint32_t)get16(p) << 16 | get16(p + 2); }

static void *gw_run(void *arg)
{
	struct gw *g = arg;

	while (!g->stop) {
		uint8_t in[64], out[16] = { 0 };
		struct sockaddr_in from;
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(g->fd, in, sizeof(in), 0, (struct sockaddr *)&from, &fl);
		size_t len;

		if (n < 2)
			continue;
		g->requests++;
		if (g->mode == GW_SILENT)
			continue;
		out[1] = (uint8_t)(128 + in[1]);
		put32(out + 4, 4242); /* seconds since the table was reset */
		if (in[1] == 0) {
			put16(out + 2, 0);
			out[8] = 11, out[9] = 77, out[10] = 0, out[11] = 1; /* 11.77.0.1 */
			len = 12;
		} else if (in[1] == 1 && n >= 12) {
			g->req_internal = get16(in + 4);
			g->req_external = get16(in + 6);
			g->req_lifetime = get32(in + 8);
			put16(out + 2, g->mode == GW_REFUSE ? 2 : 0); /* 2: not authorized */
			put16(out + 8, g->req_internal);
			put16(out + 10, g->mode == GW_REFUSE || !g->req_lifetime ? 0 :
			      (uint16_t)(g->req_external ? g->req_external : 40000));
			put32(out + 12, g->mode == GW_REFUSE ? 0 : g->req_lifetime);
			len = 16;
		} else {
			continue;
		}
		sendto(g->fd, out, len, 0, (struct sockaddr *)&from, fl);
	}
	return NULL;
}

static struct gw g;
static pthread_t gw_thread;

/* A loopback address of its own (127.a.b.c) so that parallel runs do not
 * meet on port 5351. */
static int gw_start(enum gw_mode mode)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(5351) };
	struct timeval tv = { .tv_usec = 100000 };
	uint8_t r[3];

	memset(&g, 0, sizeof(g));
	g.mode = mode;
	for (int tries = 0; tries < 20; tries++) {
		if (getrandom(r, sizeof(r), 0) != sizeof(r))
			return -1;
		snprintf(g.addr, sizeof(g.addr), "127.%u.%u.%u", r[0] | 1, r[1], (r[2] % 250) + 2);
		inet_pton(AF_INET, g.addr, &sa.sin_addr);
		g.fd = socket(AF_INET, SOCK_DGRAM, 0);
		if (g.fd < 0)
			return -1;
		setsockopt(g.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		if (!bind(g.fd, (struct sockaddr *)&sa, sizeof(sa)))
			return pthread_create(&gw_thread, NULL, gw_run, &g) ? -1 : 0;
		close(g.fd);
	}
	return -1;
}

static void gw_stop(void)
{
	g.stop = 1;
	pthread_join(gw_thread, NULL);
	close(g.fd);
}

static void natpmp_grant_renew_remove(void)
{
	struct portmap_lease l = { 0 };
	char ext[INET_ADDRSTRLEN];

	if (gw_start(GW_GRANT))
		SKIP("cannot bind a loopback NAT-PMP gateway: %s", strerror(errno));
	CHECK_EQ(portmap_natpmp_map(g.addr, 51820, 7200, 2000, &l), 0);
	CHECK_EQ(l.proto, PORTMAP_NATPMP);
	CHECK_EQ(l.internal_port, 51820);
	CHECK_EQ(l.external_port, 51820); /* asked for the same port */
	CHECK_EQ(l.lifetime, 7200);
	inet_ntop(AF_INET, &l.external_addr, ext, sizeof(ext));
	CHECK(!strcmp(ext, "11.77.0.1"));
	CHECK_EQ(g.req_lifetime, 7200);

	/* a renewal asks for the external port it holds, not the internal one */
	l.external_port = 40001;
	CHECK_EQ(portmap_natpmp_map(g.addr, 51820, 7200, 2000, &l), 0);
	CHECK_EQ(g.req_external, 40001);
	CHECK_EQ(l.external_port, 40001);

	CHECK_EQ(portmap_natpmp_unmap(g.addr, &l, 2000), 0);
	CHECK_EQ(g.req_lifetime, 0); /* RFC 6886 section 3.4: lifetime 0 deletes */
	CHECK_EQ(g.req_external, 0);
	CHECK_EQ(g.req_internal, 51820);
	gw_stop();
}

static void natpmp_refused(void)
{
	struct portmap_lease l = { 0 };

	if (gw_start(GW_REFUSE))
		SKIP("cannot bind a loopback NAT-PMP gateway: %s", strerror(errno));
	CHECK_EQ(portmap_natpmp_map(g.addr, 51820, 7200, 2000, &l), -EPERM);
	CHECK_EQ(l.proto, PORTMAP_NONE);
	gw_stop();
}

static void natpmp_silent_is_bounded(void)
{
	struct portmap_lease l = { 0 };
	struct timespec a, b;

	if (gw_start(GW_SILENT))
		SKIP("cannot bind a loopback NAT-PMP gateway: %s", strerror(errno));
	clock_gettime(CLOCK_MONOTONIC, &a);
	CHECK_EQ(portmap_natpmp_map(g.addr, 51820, 7200, 600, &l), -ETIMEDOUT);
	clock_gettime(CLOCK_MONOTONIC, &b);
	double took = (double)(b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9;
	CHECK(took < 1.5); /* libnatpmp alone would retry for about a minute */
	CHECK(g.requests >= 2); /* it did retransmit within the deadline */
	CHECK_EQ(l.proto, PORTMAP_NONE);
	gw_stop();
}

int main(void)
{
	test_suite_name = "link_portmap";
	RUN(schedule);
	RUN(backoff_monotonic);
	RUN(natpmp_grant_renew_remove);
	RUN(natpmp_refused);
	RUN(natpmp_silent_is_bounded);
	TEST_EXIT();
}
