/* test_link_birthday_io.c: the birthday probe's sockets and proxy
 * (src/link/birthday_io.c) on loopback, where no NAT stands between: the
 * spray side's probes reach the guess side's socket, both sides agree on
 * one pair, and then two stand-in "devices" (plain UDP sockets) exchange
 * datagrams through the two proxies, while a stranger's datagram to the
 * found socket is dropped. */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "link/birthday_io.h"
#include "test.h"

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int udp_loopback(uint16_t *port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct timeval tv = { .tv_sec = 2 };

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    getsockname(fd, (struct sockaddr *)&sa, &sl))
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	*port = ntohs(sa.sin_port);
	return fd;
}

/* Runs both sides' loops for up to ms. */
static void pump(struct bday_io *a, struct bday_io *b, int ms)
{
	int64_t end = mono_ms() + ms;

	while (mono_ms() < end) {
		struct pollfd p[2 * BDAY_SOCKETS];
		struct bday_io *owner[2 * BDAY_SOCKETS];
		unsigned n = 0, k;

		bday_io_tick(a, mono_ms());
		bday_io_tick(b, mono_ms());
		k = bday_io_fds(a, p, BDAY_SOCKETS);
		for (unsigned i = 0; i < k; i++)
			owner[n++] = a;
		k = bday_io_fds(b, p + n, BDAY_SOCKETS);
		for (unsigned i = 0; i < k; i++)
			owner[n++] = b;
		if (poll(p, n, 10) <= 0)
			continue;
		for (unsigned i = 0; i < n; i++)
			if (p[i].revents & POLLIN)
				bday_io_readable(owner[i], p[i].fd, mono_ms());
		if (a->b.state == BDAY_HIT && b->b.state == BDAY_HIT && a->proxy_fd < 0)
			return;
	}
}

static struct bday_io S, G;

static void probe_then_proxy(void)
{
	uint8_t key[32] = { 1 }, session[BDAY_SESSION_LEN] = { 2 };
	struct sockaddr_in g_addr = { .sin_family = AF_INET }, s_ip = { .sin_family = AF_INET };
	uint16_t gport = 0, ds_port, dg_port, x_port;
	int ds = udp_loopback(&ds_port), dg = udp_loopback(&dg_port), stranger = udp_loopback(&x_port);
	int r;

	CHECK(ds >= 0 && dg >= 0 && stranger >= 0);
	/* the guess side binds a port of its own choosing; find a free one */
	int probe = udp_loopback(&gport);

	close(probe);
	g_addr.sin_addr.s_addr = s_ip.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	g_addr.sin_port = htons(gport);
	r = bday_io_start(&G, BDAY_GUESS, key, session, &s_ip, 0, gport, 0, mono_ms());
	if (r == -EADDRINUSE)
		SKIP("port %u was taken meanwhile", gport);
	CHECK_EQ(r, 0);
	CHECK_EQ(bday_io_start(&S, BDAY_SPRAY, key, session, &g_addr, 8, 0, 0, mono_ms()), 0);
	CHECK_EQ(S.n_fds, 8);
	CHECK_EQ(G.n_fds, 1);
	pump(&S, &G, 3000);
	CHECK_EQ(S.b.state, BDAY_HIT);
	CHECK_EQ(G.b.state, BDAY_HIT);
	if (S.b.state != BDAY_HIT || G.b.state != BDAY_HIT)
		goto out;
	/* the pair agrees: G's peer address is S's found socket */
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);

	CHECK(!getsockname(S.fds[S.b.hit_sock], (struct sockaddr *)&sa, &sl));
	CHECK_EQ(ntohs(G.b.hit_addr.sin_port), ntohs(sa.sin_port));
	CHECK_EQ(ntohs(S.b.hit_addr.sin_port), gport);

	CHECK_EQ(bday_io_proxy(&S, ds_port), 0);
	CHECK_EQ(bday_io_proxy(&G, dg_port), 0);
	CHECK_EQ(S.n_fds, 1);
	CHECK(S.proxy_port && G.proxy_port);

	/* device S -> its proxy -> found pair -> G's proxy -> device G */
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(S.proxy_port) };
	uint8_t msg[200] = { 4, 0, 0, 0, 'h', 'i' }, got[300];

	to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK(sendto(ds, msg, sizeof(msg), 0, (struct sockaddr *)&to, sizeof(to)) == sizeof(msg));
	pump(&S, &G, 200);
	struct sockaddr_in from;
	socklen_t fl = sizeof(from);
	ssize_t n = recvfrom(dg, got, sizeof(got), MSG_DONTWAIT, (struct sockaddr *)&from, &fl);

	CHECK_EQ(n, sizeof(msg));
	CHECK(n == sizeof(msg) && !memcmp(got, msg, sizeof(msg)));
	CHECK_EQ(ntohs(from.sin_port), G.proxy_port); /* the device sees its peer at the proxy */
	/* and back */
	to.sin_port = htons(G.proxy_port);
	msg[4] = 'y';
	CHECK(sendto(dg, msg, 100, 0, (struct sockaddr *)&to, sizeof(to)) == 100);
	pump(&S, &G, 200);
	n = recv(ds, got, sizeof(got), MSG_DONTWAIT);
	CHECK_EQ(n, 100);
	CHECK(n > 4 && got[4] == 'y');
	/* a stranger writing to G's found socket gets nowhere (once S's
	 * repeated acks, dropped there too, are over) */
	pump(&S, &G, BDAY_CONFIRMS * BDAY_CONFIRM_MS + 100);
	uint64_t dropped = G.dropped;

	sendto(stranger, msg, 100, 0, (struct sockaddr *)&g_addr, sizeof(g_addr));
	pump(&S, &G, 200);
	CHECK(recv(dg, got, sizeof(got), MSG_DONTWAIT) < 0);
	CHECK_EQ(G.dropped, dropped + 1);
	CHECK_EQ(S.to_peer, 1);
	CHECK_EQ(G.from_peer, 1);
	CHECK_EQ(G.to_peer, 1);
out:
	bday_io_close(&S);
	bday_io_close(&G);
	close(ds);
	close(dg);
	close(stranger);
}

/* The guess side as weft link runs it: probes from the device's own port
 * through a raw socket, and afterwards the device itself talks to the
 * address found (only the spray side has a proxy). */
static void guess_from_device_port(void)
{
	uint8_t key[32] = { 3 }, session[BDAY_SESSION_LEN] = { 4 };
	struct sockaddr_in dev_addr = { .sin_family = AF_INET }, s_ip = { .sin_family = AF_INET };
	uint16_t dg_port, ds_port;
	int dg = udp_loopback(&dg_port), ds = udp_loopback(&ds_port);
	int r;

	CHECK(dg >= 0 && ds >= 0);
	dev_addr.sin_addr.s_addr = s_ip.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	dev_addr.sin_port = htons(dg_port);
	r = bday_io_start(&G, BDAY_GUESS, key, session, &s_ip, 0, 0, dg_port, mono_ms());
	if (r == -EPERM || r == -EACCES) {
		close(dg);
		close(ds);
		SKIP("no raw sockets here (CAP_NET_RAW): %s", strerror(-r));
	}
	CHECK_EQ(r, 0);
	CHECK_EQ(bday_io_start(&S, BDAY_SPRAY, key, session, &dev_addr, 4, 0, 0, mono_ms()), 0);
	pump(&S, &G, 3000);
	CHECK_EQ(S.b.state, BDAY_HIT);
	CHECK_EQ(G.b.state, BDAY_HIT);
	/* the probes went out from the device's port: the spray side saw it */
	CHECK_EQ(ntohs(S.b.hit_addr.sin_port), dg_port);
	if (S.b.state == BDAY_HIT && G.b.state == BDAY_HIT) {
		struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(0) };
		uint8_t msg[64] = { 1, 0, 0, 0, 'x' }, got[128];
		ssize_t n;

		CHECK_EQ(bday_io_proxy(&S, ds_port), 0);
		/* the guess side's device sends straight to the address found */
		CHECK(sendto(dg, msg, sizeof(msg), 0, (struct sockaddr *)&G.b.hit_addr, sizeof(G.b.hit_addr)) ==
		      sizeof(msg));
		pump(&S, &G, 200);
		n = recv(ds, got, sizeof(got), MSG_DONTWAIT);
		CHECK_EQ(n, sizeof(msg));
		/* and the spray side's device through its proxy back to it */
		to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		to.sin_port = htons(S.proxy_port);
		CHECK(sendto(ds, msg, 10, 0, (struct sockaddr *)&to, sizeof(to)) == 10);
		pump(&S, &G, 200);
		/* (the device gets the acks too, and drops them as no WireGuard) */
		while ((n = recv(dg, got, sizeof(got), MSG_DONTWAIT)) == BDAY_PKT_LEN && bday_is_probe(got, (size_t)n))
			;
		CHECK_EQ(n, 10);
	}
	bday_io_close(&S);
	bday_io_close(&G);
	close(dg);
	close(ds);
}

int main(void)
{
	test_suite_name = "link_birthday_io";
	RUN(probe_then_proxy);
	RUN(guess_from_device_port);
	TEST_EXIT();
}
