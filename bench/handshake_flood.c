/* handshake_flood.c: a handshake flood for tests and benchmarks of the
 * defences (tests/net/87-flood.sh). It sends WireGuard handshake
 * initiations that anyone knowing a server's public key can make: random
 * bytes with a valid mac1 (so each passes the server's first check and, if
 * the server is not under load, costs it an X25519) and no mac2, from every
 * given source address in turn, at a given rate, with sendmmsg so that the
 * flooder itself stays cheap next to the server. It counts the cookie
 * replies that come back and when the first one came.
 *   handshake_flood HOST PORT SERVER-PUBLIC-KEY(base64) RATE SECONDS SRC[,SRC...]
 * Prints one JSON line: sent, dropped (the socket refused), seconds,
 * cookies, first_cookie (seconds after the start, null if none).
 * IPv4 only; only ever aimed at namespaces a test made. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "util/encoding.h"
#include "util/random.h"

#define MSG_LEN 148   /* a handshake initiation */
#define MAC1_AT 116   /* mac1 covers the message up to here */
#define POOL 4096     /* distinct messages, sent round-robin */
#define MAX_SOURCES 256
#define BURST 64      /* datagrams per sendmmsg */
#define TICK_NS 500000ULL

static uint8_t pool[POOL][MSG_LEN];

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void make_pool(const uint8_t server_public[32])
{
	uint8_t label_and_key[8 + 32], mac1_key[32];

	memcpy(label_and_key, "mac1----", 8);
	memcpy(label_and_key + 8, server_public, 32);
	b2s(mac1_key, sizeof(mac1_key), label_and_key, sizeof(label_and_key), NULL, 0);
	if (!random_fill(&pool[0][0], sizeof(pool))) {
		perror("getrandom");
		exit(1);
	}
	for (int i = 0; i < POOL; i++) {
		uint8_t *m = pool[i];
		m[0] = 1, m[1] = m[2] = m[3] = 0;
		b2s(m + MAC1_AT, 16, m, MAC1_AT, mac1_key, sizeof(mac1_key));
		memset(m + MAC1_AT + 16, 0, 16); /* no mac2: no cookie */
	}
}

int main(int argc, char **argv)
{
	struct sockaddr_in dst = { .sin_family = AF_INET };
	uint8_t server_public[32];
	int socks[MAX_SOURCES], nsocks = 0;

	if (argc != 7) {
		fprintf(stderr, "usage: %s HOST PORT SERVER-PUBLIC-KEY RATE SECONDS SRC[,SRC...]\n", argv[0]);
		return 2;
	}
	if (inet_pton(AF_INET, argv[1], &dst.sin_addr) != 1 || !key_from_base64(server_public, argv[3])) {
		fprintf(stderr, "%s: bad host or key\n", argv[0]);
		return 2;
	}
	dst.sin_port = htons((uint16_t)atoi(argv[2]));
	double rate = atof(argv[4]), secs = atof(argv[5]);
	for (char *src = strtok(argv[6], ","); src && nsocks < MAX_SOURCES; src = strtok(NULL, ",")) {
		struct sockaddr_in a = { .sin_family = AF_INET };
		int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
		if (fd < 0 || inet_pton(AF_INET, src, &a.sin_addr) != 1 ||
		    bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
		    connect(fd, (struct sockaddr *)&dst, sizeof(dst)) < 0) {
			fprintf(stderr, "%s: source %s: %s\n", argv[0], src, strerror(errno));
			return 1;
		}
		socks[nsocks++] = fd;
	}
	if (!nsocks)
		return 2;
	make_pool(server_public);

	struct mmsghdr msgs[BURST];
	struct iovec iov[BURST];
	uint8_t reply[BURST][128];
	unsigned long sent = 0, dropped = 0, cookies = 0, next = 0;
	double first = -1, t0 = now_s(), el;
	int turn = 0;
	struct timespec tick = { 0, (long)TICK_NS };

	while ((el = now_s() - t0) < secs + 0.5) {
		unsigned long target = el < secs ? (unsigned long)(rate * el) : next;
		while (next < target) {
			int fd = socks[turn++ % nsocks];
			unsigned n = target - next < BURST ? (unsigned)(target - next) : BURST;
			for (unsigned i = 0; i < n; i++) {
				iov[i] = (struct iovec){ pool[(next + i) % POOL], MSG_LEN };
				msgs[i] = (struct mmsghdr){ .msg_hdr = { .msg_iov = &iov[i], .msg_iovlen = 1 } };
			}
			int r = sendmmsg(fd, msgs, n, 0);
			r = r < 0 ? 0 : r;
			sent += (unsigned)r;
			dropped += n - (unsigned)r; /* the socket's buffer was full */
			next += n;
		}
		for (int s = 0; s < nsocks; s++) {
			for (unsigned i = 0; i < BURST; i++) {
				iov[i] = (struct iovec){ reply[i], sizeof(reply[i]) };
				msgs[i] = (struct mmsghdr){ .msg_hdr = { .msg_iov = &iov[i], .msg_iovlen = 1 } };
			}
			int r = recvmmsg(socks[s], msgs, BURST, MSG_DONTWAIT, NULL);
			for (int i = 0; i < r; i++) {
				if (msgs[i].msg_len == 64 && reply[i][0] == 3) {
					cookies++;
					if (first < 0)
						first = now_s() - t0;
				}
			}
		}
		nanosleep(&tick, NULL);
	}
	printf("{\"sent\": %lu, \"dropped\": %lu, \"seconds\": %.3f, \"cookies\": %lu, \"first_cookie\": ", sent,
	       dropped, el < secs ? el : secs, cookies);
	if (first < 0)
		printf("null}\n");
	else
		printf("%.3f}\n", first);
	return 0;
}
