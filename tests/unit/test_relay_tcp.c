/* test_relay_tcp.c: the coord over TCP (src/coord/relay_tcp.c) on
 * loopback: frames from a client arrive as datagrams from its address, what
 * is sent to that address comes back framed, other addresses are not its
 * business (-ENOENT), a bad length closes the connection, idle ones close,
 * and the connection table is bounded. */
#include <arpa/inet.h>
#include <errno.h>
#include <unistd.h>

#include "coord/relay_tcp.h"
#include "test.h"

#define NS 1000000000ull

static uint8_t got[8][FRAME_MAX];
static size_t got_len[8];
static struct coord_addr got_from[8];
static int ngot;

static void input(void *ctx, const uint8_t *pkt, size_t len, const struct coord_addr *from, uint64_t now)
{
	(void)ctx;
	(void)now;
	if (ngot < 8) {
		memcpy(got[ngot], pkt, len);
		got_len[ngot] = len;
		got_from[ngot] = *from;
	}
	ngot++;
}

static void pump(struct relay_tcp *t, uint64_t now)
{
	struct pollfd fds[64];

	for (int i = 0; i < 5; i++) {
		unsigned n = relay_tcp_pollfds(t, fds, 64);

		if (poll(fds, n, 50) > 0)
			relay_tcp_handle(t, fds, n, now);
	}
}

static int dial(const struct coord_addr *a, struct coord_addr *local)
{
	struct sockaddr_storage ss;
	socklen_t sl = coord_addr_to_sockaddr(a, &ss);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || connect(fd, (struct sockaddr *)&ss, sl) < 0)
		return -1;
	sl = sizeof(ss);
	getsockname(fd, (struct sockaddr *)&ss, &sl);
	coord_addr_from_sockaddr(local, (struct sockaddr *)&ss, sl);
	return fd;
}

static struct relay_tcp *listen_lo(uint32_t max, uint64_t idle)
{
	struct coord_addr a = { .family = 4, .port = 0, .ip = { 127, 0, 0, 1 } };

	return relay_tcp_new(&a, max, idle, input, NULL);
}

static void test_frames_both_ways(void)
{
	struct relay_tcp *t = listen_lo(4, 30 * NS);
	struct coord_addr srv, me, other;
	uint8_t buf[2 + 1500 + 2 + 148], back[4096];
	int fd;

	CHECK(t != NULL);
	if (!t)
		return;
	relay_tcp_local(t, &srv);
	CHECK(srv.port != 0);
	fd = dial(&srv, &me);
	CHECK(fd >= 0);
	/* two frames in one write, the second cut in two writes */
	buf[0] = 1500 >> 8, buf[1] = (uint8_t)1500;
	memset(buf + 2, 0xc5, 1500);
	buf[1502] = 0, buf[1503] = 148;
	memset(buf + 1504, 0xc1, 148);
	ngot = 0;
	pump(t, NS);
	CHECK_EQ(write(fd, buf, 1504 + 50), 1504 + 50);
	pump(t, NS);
	CHECK_EQ(write(fd, buf + 1554, 98), 98);
	pump(t, NS);
	CHECK_EQ(ngot, 2);
	CHECK_EQ(got_len[0], 1500);
	CHECK_EQ(got_len[1], 148);
	CHECK_EQ(got[1][147], 0xc1);
	CHECK(coord_addr_equal(&got_from[0], &me));
	/* back to the client, framed */
	CHECK_EQ(relay_tcp_send(t, &me, buf + 1504, 148), 0);
	CHECK_EQ(read(fd, back, sizeof(back)), 150);
	CHECK_EQ(back[1], 148);
	CHECK_MEM(back + 2, buf + 1504, 148);
	other = me;
	other.port++;
	CHECK_EQ(relay_tcp_send(t, &other, buf, 10), -ENOENT);
	CHECK_EQ(relay_tcp_stats(t)->frames_in, 2);
	CHECK_EQ(relay_tcp_stats(t)->frames_out, 1);
	/* a zero length ends the connection */
	uint8_t zero[2] = { 0, 0 };
	CHECK_EQ(write(fd, zero, 2), 2);
	pump(t, NS);
	CHECK_EQ(relay_tcp_stats(t)->closed_bad_frame, 1);
	CHECK_EQ(relay_tcp_stats(t)->conns, 0);
	CHECK_EQ(read(fd, back, sizeof(back)), 0); /* closed on us */
	close(fd);
	relay_tcp_free(t);
}

static void test_bounded_and_idle(void)
{
	struct relay_tcp *t = listen_lo(2, 10 * NS);
	struct coord_addr srv, me;
	int fds[3];

	CHECK(t != NULL);
	if (!t)
		return;
	relay_tcp_local(t, &srv);
	for (int i = 0; i < 3; i++) {
		fds[i] = dial(&srv, &me);
		pump(t, NS);
	}
	/* the third found the table full of fresh connections: refused */
	CHECK_EQ(relay_tcp_stats(t)->accepted, 2);
	CHECK_EQ(relay_tcp_stats(t)->refused_full, 1);
	relay_tcp_tick(t, 5 * NS);
	CHECK_EQ(relay_tcp_stats(t)->conns, 2);
	relay_tcp_tick(t, 12 * NS);
	CHECK_EQ(relay_tcp_stats(t)->conns, 0);
	CHECK_EQ(relay_tcp_stats(t)->closed_idle, 2);
	for (int i = 0; i < 3; i++)
		close(fds[i]);
	relay_tcp_free(t);
}

int main(void)
{
	test_suite_name = "relay_tcp";
	RUN(test_frames_both_ways);
	RUN(test_bounded_and_idle);
	TEST_EXIT();
}
