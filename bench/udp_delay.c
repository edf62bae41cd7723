/* udp_delay.c: a UDP relay that delays every datagram, for WAN latency on
 * a test underlay where the kernel has no netem.
 *
 *   udp_delay LISTEN_ADDR:PORT TARGET_ADDR:PORT ONE_WAY_MS
 *
 * Datagrams arriving on the listening socket go to the target, and the
 * target's answers go back to whoever sent last, each direction after
 * ONE_WAY_MS (so the round trip gains twice that). One client at a time,
 * IPv4 only; a datagram that finds its direction's queue full is dropped,
 * as a router's would be. Order is kept. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SLOTS 32768          /* per direction: 30 ms at 3 Gbit/s of 1500-byte datagrams */
#define SLOT_SIZE 2048       /* a WireGuard datagram of a 1420-byte MTU fits */
#define BATCH 64

struct queue {
	uint8_t (*data)[SLOT_SIZE];
	uint16_t *len;
	uint64_t *due;
	size_t head, count;
	uint64_t dropped;
};

static uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static int parse(const char *s, struct sockaddr_in *sin)
{
	char host[64];
	const char *colon = strrchr(s, ':');

	if (!colon || (size_t)(colon - s) >= sizeof(host))
		return -1;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)atoi(colon + 1));
	return inet_pton(AF_INET, host, &sin->sin_addr) == 1 ? 0 : -1;
}

static int queue_init(struct queue *q)
{
	q->data = malloc((size_t)SLOTS * SLOT_SIZE);
	q->len = calloc(SLOTS, sizeof(*q->len));
	q->due = calloc(SLOTS, sizeof(*q->due));
	return q->data && q->len && q->due ? 0 : -1;
}

/* Reads what fd has into q, due at now + delay. */
static void take(int fd, struct queue *q, uint64_t delay_us, struct sockaddr_in *from)
{
	for (;;) {
		struct mmsghdr msgs[BATCH];
		struct iovec iov[BATCH];
		struct sockaddr_in names[BATCH];
		size_t free_slots = SLOTS - q->count, n = free_slots < BATCH ? free_slots : BATCH;
		uint8_t scratch[SLOT_SIZE];
		int got;

		if (n == 0) {
			/* full: read and drop, so the sender sees loss, not a stall */
			if (recv(fd, scratch, sizeof(scratch), MSG_DONTWAIT) < 0)
				return;
			q->dropped++;
			continue;
		}
		memset(msgs, 0, sizeof(msgs));
		for (size_t i = 0; i < n; i++) {
			size_t slot = (q->head + q->count + i) % SLOTS;
			iov[i].iov_base = q->data[slot];
			iov[i].iov_len = SLOT_SIZE;
			msgs[i].msg_hdr.msg_iov = &iov[i];
			msgs[i].msg_hdr.msg_iovlen = 1;
			msgs[i].msg_hdr.msg_name = &names[i];
			msgs[i].msg_hdr.msg_namelen = sizeof(names[i]);
		}
		got = recvmmsg(fd, msgs, (unsigned)n, MSG_DONTWAIT, NULL);
		if (got <= 0)
			return;
		uint64_t due = now_us() + delay_us;
		for (int i = 0; i < got; i++) {
			size_t slot = (q->head + q->count) % SLOTS;
			q->len[slot] = (uint16_t)msgs[i].msg_len;
			q->due[slot] = due;
			q->count++;
			if (from)
				*from = names[i];
		}
		if ((size_t)got < n)
			return;
	}
}

/* Sends what is due from q to dst on fd. */
static void give(int fd, struct queue *q, const struct sockaddr_in *dst, uint64_t now)
{
	while (q->count && q->due[q->head] <= now) {
		struct mmsghdr msgs[BATCH];
		struct iovec iov[BATCH];
		size_t n = 0;
		int sent;

		memset(msgs, 0, sizeof(msgs));
		while (n < BATCH && n < q->count && q->due[(q->head + n) % SLOTS] <= now) {
			size_t slot = (q->head + n) % SLOTS;
			iov[n].iov_base = q->data[slot];
			iov[n].iov_len = q->len[slot];
			msgs[n].msg_hdr.msg_iov = &iov[n];
			msgs[n].msg_hdr.msg_iovlen = 1;
			msgs[n].msg_hdr.msg_name = (void *)dst;
			msgs[n].msg_hdr.msg_namelen = dst ? sizeof(*dst) : 0;
			n++;
		}
		sent = sendmmsg(fd, msgs, (unsigned)n, 0);
		if (sent <= 0)
			sent = (int)n; /* a full socket buffer: count them as lost */
		q->head = (q->head + (size_t)sent) % SLOTS;
		q->count -= (size_t)sent;
	}
}

int main(int argc, char *argv[])
{
	struct sockaddr_in listen_at, target, client = { 0 };
	struct queue up = { 0 }, down = { 0 };
	uint64_t delay_us;
	int lfd, tfd, buf = 32 << 20;

	if (argc != 4 || parse(argv[1], &listen_at) < 0 || parse(argv[2], &target) < 0) {
		fprintf(stderr, "Usage: %s LISTEN_ADDR:PORT TARGET_ADDR:PORT ONE_WAY_MS\n", argv[0]);
		return 2;
	}
	delay_us = (uint64_t)(atof(argv[3]) * 1000);
	lfd = socket(AF_INET, SOCK_DGRAM, 0);
	tfd = socket(AF_INET, SOCK_DGRAM, 0);
	if (lfd < 0 || tfd < 0 || bind(lfd, (struct sockaddr *)&listen_at, sizeof(listen_at)) < 0 ||
	    connect(tfd, (struct sockaddr *)&target, sizeof(target)) < 0 || queue_init(&up) < 0 ||
	    queue_init(&down) < 0) {
		perror("udp_delay");
		return 1;
	}
	for (int fd = lfd; fd >= 0; fd = fd == lfd ? tfd : -1) {
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	}
	for (;;) {
		struct pollfd p[2] = { { .fd = lfd, .events = POLLIN }, { .fd = tfd, .events = POLLIN } };
		uint64_t now = now_us(), next = UINT64_MAX;
		int timeout;

		give(tfd, &up, NULL, now);
		if (client.sin_family)
			give(lfd, &down, &client, now);
		if (up.count)
			next = up.due[up.head];
		if (down.count && down.due[down.head] < next)
			next = down.due[down.head];
		timeout = next == UINT64_MAX ? 1000 : next <= now ? 0 : (int)((next - now + 999) / 1000);
		/* sub-millisecond precision: a short spin when the next is close */
		if (timeout == 1 && next - now < 1000)
			timeout = 0;
		if (poll(p, 2, timeout) < 0 && errno != EINTR)
			return 1;
		if (p[0].revents & POLLIN)
			take(lfd, &up, delay_us, &client);
		if (p[1].revents & POLLIN)
			take(tfd, &down, delay_us, NULL);
	}
}
