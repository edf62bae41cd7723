/* test_link_portmap.c: the port mapping's schedule (src/link/portmap_sched.c:
 * first try at once, renewal at half the lease, backoff doubling to its cap,
 * permanent leases checked hourly) and the NAT-PMP client
 * (src/link/portmap_natpmp.c) against a small NAT-PMP gateway written here
 * from RFC 6886 on a loopback address: a mapping granted, a renewal that
 * asks for the port it holds, a gateway that refuses, one that never
 * answers, and the removal request (lifetime 0); the PCP MAP codec
 * (src/link/portmap_pcp.c) byte by byte, and its client against the same
 * gateway answering PCP, refusing it, or knowing only NAT-PMP. */
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

static void use_lists(void)
{
	unsigned u = 99;

	CHECK_EQ(portmap_parse_use("pcp,nat-pmp,upnp", &u), 0);
	CHECK_EQ(u, PORTMAP_USE_ALL);
	CHECK_EQ(portmap_parse_use("upnp", &u), 0);
	CHECK_EQ(u, PORTMAP_USE_UPNP);
	CHECK_EQ(portmap_parse_use("nat-pmp,pcp", &u), 0);
	CHECK_EQ(u, PORTMAP_USE_NATPMP | PORTMAP_USE_PCP);
	CHECK_EQ(portmap_parse_use("none", &u), 0);
	CHECK_EQ(u, 0);
	u = 7;
	CHECK_EQ(portmap_parse_use("", &u), -EINVAL);
	CHECK_EQ(portmap_parse_use("pcp,", &u), -EINVAL);
	CHECK_EQ(portmap_parse_use("pcp,pcp", &u), -EINVAL);
	CHECK_EQ(portmap_parse_use("natpmp", &u), -EINVAL);
	CHECK_EQ(portmap_parse_use("upnp,none", &u), -EINVAL);
	CHECK_EQ(u, 7); /* untouched on error */
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

enum gw_mode { GW_GRANT, GW_REFUSE, GW_SILENT, GW_NATPMP_ONLY };

struct gw {
	int fd;
	enum gw_mode mode;
	char addr[INET_ADDRSTRLEN];
	/* what the last mapping request asked */
	uint16_t req_internal, req_external;
	uint32_t req_lifetime;
	uint8_t req_nonce[PCP_NONCE_LEN];
	uint8_t req_client[16];
	int requests, pcp_requests;
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
		if (in[0] == PCP_VERSION) {
			uint8_t p[PCP_MAP_LEN] = { 0 };

			g->pcp_requests++;
			if (g->mode == GW_NATPMP_ONLY) {
				/* RFC 6886 section 3.5: version 0, result 1 */
				p[1] = (uint8_t)(128 + in[1]);
				put16(p + 2, 1);
				sendto(g->fd, p, 8, 0, (struct sockaddr *)&from, fl);
				continue;
			}
			if (n < PCP_MAP_LEN)
				continue;
			g->req_lifetime = get32(in + 4);
			memcpy(g->req_client, in + 8, 16);
			memcpy(g->req_nonce, in + 24, PCP_NONCE_LEN);
			g->req_internal = get16(in + 40);
			g->req_external = get16(in + 42);
			memcpy(p, in, PCP_MAP_LEN);
			p[1] = 0x80 | in[1];
			p[3] = g->mode == GW_REFUSE ? 2 : 0; /* NOT_AUTHORIZED */
			put32(p + 4, g->mode == GW_REFUSE ? 0 : g->req_lifetime);
			put32(p + 8, 4242);
			memset(p + 12, 0, 12);
			put16(p + 42, g->req_external ? g->req_external : 40000);
			static const uint8_t ext[16] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 11, 77, 0, 1 };
			memcpy(p + 44, ext, 16);
			sendto(g->fd, p, PCP_MAP_LEN, 0, (struct sockaddr *)&from, fl);
			continue;
		}
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

static void pcp_codec(void)
{
	uint8_t nonce[PCP_NONCE_LEN] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 }, req[PCP_MAP_LEN], ans[PCP_MAP_LEN];
	struct in_addr client = { htonl(0xc0a85e02) };
	struct portmap_lease l = { 0 };

	CHECK_EQ(pcp_map_request(req, nonce, client, 51820, 51820, 7200), PCP_MAP_LEN);
	CHECK_EQ(req[0], 2);
	CHECK_EQ(req[1], 1);
	CHECK_EQ(get32(req + 4), 7200);
	CHECK(req[18] == 0xff && req[19] == 0xff && !memcmp(req + 20, &client, 4)); /* ::ffff:192.168.94.2 */
	CHECK(!memcmp(req + 24, nonce, sizeof(nonce)));
	CHECK_EQ(req[36], 17);
	CHECK_EQ(get16(req + 40), 51820);
	CHECK(req[54] == 0xff && req[55] == 0xff && !get32(req + 56)); /* any IPv4 address */
	/* the answer */
	memcpy(ans, req, sizeof(ans));
	ans[1] = 0x81;
	put16(ans + 42, 40123);
	ans[56] = 11, ans[57] = 77, ans[58] = 0, ans[59] = 1;
	CHECK_EQ(pcp_map_response(ans, sizeof(ans), nonce, 51820, &l), 0);
	CHECK_EQ(l.external_port, 40123);
	CHECK_EQ(l.lifetime, 7200);
	CHECK_EQ(ntohl(l.external_addr.s_addr), 0x0b4d0001);
	/* someone else's mapping, a cut answer, a request echoed: not ours */
	uint8_t other[PCP_NONCE_LEN] = { 9 };

	CHECK_EQ(pcp_map_response(ans, sizeof(ans), other, 51820, &l), -EPROTO);
	CHECK_EQ(pcp_map_response(ans, sizeof(ans), nonce, 51821, &l), -EPROTO);
	CHECK_EQ(pcp_map_response(ans, 40, nonce, 51820, &l), -EPROTO);
	CHECK_EQ(pcp_map_response(req, sizeof(req), nonce, 51820, &l), -EPROTO);
	/* the gateway's no, by result code */
	ans[3] = 2;
	CHECK_EQ(pcp_map_response(ans, sizeof(ans), nonce, 51820, &l), -EPERM);
	ans[3] = 8;
	CHECK_EQ(pcp_map_response(ans, sizeof(ans), nonce, 51820, &l), -ENOSPC);
	ans[3] = 1;
	CHECK_EQ(pcp_map_response(ans, 24, nonce, 51820, &l), -EOPNOTSUPP);
	/* a NAT-PMP gateway's "unsupported version" */
	uint8_t natpmp[8] = { 0, 129, 0, 1 };

	CHECK_EQ(pcp_map_response(natpmp, sizeof(natpmp), nonce, 51820, &l), -EOPNOTSUPP);
}

static void pcp_grant_renew_remove(void)
{
	struct portmap_lease l = { 0 };
	uint8_t nonce[PCP_NONCE_LEN];

	if (gw_start(GW_GRANT))
		SKIP("cannot bind a loopback PCP gateway: %s", strerror(errno));
	CHECK_EQ(portmap_pcp_map(g.addr, 51820, 7200, 2000, &l), 0);
	CHECK_EQ(l.proto, PORTMAP_PCP);
	CHECK_EQ(l.external_port, 51820);
	CHECK_EQ(l.lifetime, 7200);
	CHECK_EQ(ntohl(l.external_addr.s_addr), 0x0b4d0001);
	/* the client address is the one the route to the gateway picks */
	CHECK(g.req_client[10] == 0xff && g.req_client[11] == 0xff && g.req_client[12] == 127);
	memcpy(nonce, g.req_nonce, sizeof(nonce));
	CHECK(!memcmp(nonce, l.pcp_nonce, sizeof(nonce)));
	/* a renewal repeats the nonce and asks for the port it holds */
	l.external_port = 40001;
	CHECK_EQ(portmap_pcp_map(g.addr, 51820, 7200, 2000, &l), 0);
	CHECK(!memcmp(nonce, g.req_nonce, sizeof(nonce)));
	CHECK_EQ(g.req_external, 40001);
	CHECK_EQ(portmap_pcp_unmap(g.addr, &l, 2000), 0);
	CHECK_EQ(g.req_lifetime, 0);
	CHECK(!memcmp(nonce, g.req_nonce, sizeof(nonce)));
	gw_stop();
}

static void pcp_refused_or_unsupported(void)
{
	struct portmap_lease l = { 0 };

	if (gw_start(GW_REFUSE))
		SKIP("cannot bind a loopback PCP gateway: %s", strerror(errno));
	CHECK_EQ(portmap_pcp_map(g.addr, 51820, 7200, 2000, &l), -EPERM);
	CHECK_EQ(l.proto, PORTMAP_NONE);
	gw_stop();
	/* a NAT-PMP-only gateway: PCP is unsupported, NAT-PMP works */
	if (gw_start(GW_NATPMP_ONLY))
		SKIP("cannot bind a loopback NAT-PMP gateway: %s", strerror(errno));
	CHECK_EQ(portmap_pcp_map(g.addr, 51820, 7200, 2000, &l), -EOPNOTSUPP);
	CHECK_EQ(g.pcp_requests, 1); /* answered at once, not waited out */
	CHECK_EQ(portmap_natpmp_map(g.addr, 51820, 7200, 2000, &l), 0);
	CHECK_EQ(l.proto, PORTMAP_NATPMP);
	gw_stop();
}

int main(void)
{
	test_suite_name = "link_portmap";
	RUN(schedule);
	RUN(backoff_monotonic);
	RUN(use_lists);
	RUN(natpmp_grant_renew_remove);
	RUN(natpmp_refused);
	RUN(natpmp_silent_is_bounded);
	RUN(pcp_codec);
	RUN(pcp_grant_renew_remove);
	RUN(pcp_refused_or_unsupported);
	TEST_EXIT();
}
