/* test_serve_flow.c: the relay of `weft serve`'s flow table
 * (src/serve/flow.c) on real sockets and a real epoll set: a relayed
 * connection (flows_adopt) whose one side hung up while the other still
 * owes it data must not wake every epoll_wait (EPOLLHUP cannot be masked),
 * and the data still arrives. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "serve/flow.h"
#include "serve/settings.h"
#include "test.h"

static void no_packet(void *ctx, const uint8_t *pkt, size_t len)
{
}

static const struct stack_ops no_stack = { .name = "none" };

/* One epoll round without waiting; how many events it had. */
static int round_of(struct flows *f, int epfd)
{
	struct epoll_event ev[16];
	int n = epoll_wait(epfd, ev, 16, 0);

	for (int i = 0; i < n; i++)
		flows_event(f, ev[i].data.ptr, ev[i].events);
	return n < 0 ? 0 : n;
}

static void hangup_does_not_spin(void)
{
	static struct serve_settings set;
	struct stack stack = { .ops = &no_stack };
	struct flow_env env = { .to_tunnel = no_packet };
	uint8_t self[16] = { 10, 0, 0, 1 }, peer[16] = { 10, 0, 0, 2 };
	static uint8_t chunk[65536];
	int a[2], b[2], epfd = epoll_create1(EPOLL_CLOEXEC), spins = 0;
	size_t sent = 0, got = 0;
	struct flows *f;

	memset(&set, 0, sizeof(set));
	guard_init(&set.guard);
	set.max_flows = set.max_flows_per_peer = 4;
	set.tcp_idle_s = set.udp_idle_s = 60;
	set.max_memory = 16 << 20;
	CHECK(epfd >= 0);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, a) == 0);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, b) == 0);
	f = flows_new(&set, &stack, epfd, &env);
	CHECK(f != NULL);
	if (!f || epfd < 0)
		return;
	flows_set_now(f, 1000);
	/* a[0]: the stack's end (its peer a[1] reads nothing yet); b[0]: the
	 * host's side, whose other end b[1] writes until full, then closes */
	CHECK_EQ(flows_adopt(f, a[0], b[0], AF_INET, peer, 40000, self, 80), 0);
	for (int i = 0; i < 200; i++) {
		ssize_t n = write(b[1], chunk, sizeof(chunk));
		if (n > 0)
			sent += (size_t)n;
		round_of(f, epfd);
	}
	close(b[1]);
	/* the flow now holds data for a[0], which is full, and b[0] hangs up */
	for (int i = 0; i < 100; i++)
		spins += round_of(f, epfd);
	CHECK(spins < 10);
	/* reading on the stack's side lets the rest through and ends the flow */
	for (int i = 0; i < 10000; i++) {
		ssize_t n = read(a[1], chunk, sizeof(chunk));
		if (n > 0)
			got += (size_t)n;
		else if (n == 0)
			break;
		round_of(f, epfd);
	}
	CHECK_EQ(got, sent);
	struct flow_counters c;
	flows_counters(f, &c);
	CHECK_EQ(c.bytes_down, sent);
	flows_free(f);
	close(a[1]);
	close(epfd);
}

/* Flows that ended stay allocated until the next tick (an event of the
 * same epoll batch may name them): their memory counts against MaxMemory
 * until then, so opening and ending flows quickly is refused in time. */
static void ended_flows_count_until_tick(void)
{
	static struct serve_settings set;
	struct stack stack = { .ops = &no_stack };
	struct flow_env env = { .to_tunnel = no_packet };
	uint8_t self[16] = { 10, 0, 0, 1 }, peer[16] = { 10, 0, 0, 2 };
	struct flow_counters c;
	struct flows *f;
	int refused = 0, ret;

	memset(&set, 0, sizeof(set));
	guard_init(&set.guard);
	set.max_flows = set.max_flows_per_peer = 4;
	set.tcp_idle_s = set.udp_idle_s = 60;
	set.max_memory = 64 << 10;
	/* no epoll set: every adopted flow fails at once and ends */
	f = flows_new(&set, &stack, -1, &env);
	CHECK(f != NULL);
	if (!f)
		return;
	flows_set_now(f, 1000);
	for (int i = 0; i < 20000 && !refused; i++) {
		int a[2], b[2];
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, a) < 0)
			break;
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, b) < 0) {
			close(a[0]);
			close(a[1]);
			break;
		}
		ret = flows_adopt(f, a[0], b[0], AF_INET, peer, (uint16_t)(1024 + i), self, 80);
		refused = ret == -ENOBUFS;
		close(a[1]);
		close(b[1]);
	}
	flows_counters(f, &c);
	CHECK(refused);
	CHECK(c.memory_refused > 0);
	CHECK(c.memory <= set.max_memory);
	flows_tick(f, 2000);
	flows_counters(f, &c);
	CHECK_EQ(c.memory, 0);
	flows_free(f);
}

int main(void)
{
	test_suite_name = "serve_flow";
	RUN(hangup_does_not_spin);
	RUN(ended_flows_count_until_tick);
	TEST_EXIT();
}
