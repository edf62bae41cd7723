/* coord_load.c: a load generator for `weft coord` - many client sessions
 * from one process, over a few UDP sockets, with the coord client code of
 * `weft link` (src/coord/client.c) doing each session's handshake and
 * sealing. Three measurements (bench/coord/run.sh runs them all and
 * docs/performance.md has the results):
 *
 *   coord_load announce HOST:PORT KEYFILE CLIENTS SECONDS
 *       every client announces tokens (pairs of clients share theirs, so
 *       matches and PEER pushes happen too), at most WINDOW unanswered at
 *       once; prints the ANNOUNCED answers per second over SECONDS
 *   coord_load memory HOST:PORT KEYFILE CLIENTS PID
 *       CLIENTS sessions, one announcement each; prints the coord's (PID)
 *       resident memory before and after, and the difference per client
 *   coord_load relay HOST:PORT KEYFILE SIZE SECONDS
 *       two clients joined on one token; one sends relay messages carrying
 *       SIZE-byte datagrams as fast as the socket takes them, the other
 *       counts what arrives; prints the relayed Gbit/s
 *   coord_load pair HOST:PORT HOST2:PORT2 KEYFILE SECONDS
 *       (for tests) two clients that share a token, the first talking to
 *       one server, the second to another (two replicas on one database):
 *       prints whether each got a PEER with the other's address, and both
 *       public keys (base64), which no database may hold
 *
 * KEYFILE holds the coord's public key (base64). The coord must run with
 * its per-source rate limit off (`--rate 0`): every session here comes
 * from one address. Output: one JSON line. Only ever aimed at loopback. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "coord/client.h"
#include "coord/relay_proto.h"
#include "crypto/crypto.h"
#include "util/encoding.h"
#include "util/random.h"

#define NS 1000000000ull
#define SOCKETS 16
#define WINDOW 512           /* announcements in flight, all clients together */
#define TOKENS_PER_CLIENT 32 /* well under the coord's --max-records */
#define MAP_BITS 21          /* index -> client map: 2M slots, up to ~1M clients */

struct client {
	struct coord_client c;
	const struct sockaddr_in *server;
	uint32_t idx;            /* the index the map has for it (0: none) */
	int sock;
	uint32_t next_token;
	bool established, verified, announced;
};

static struct client *clients;
static uint32_t nclients;
static int socks[SOCKETS];
static struct sockaddr_in server;
static uint8_t server_pub[32];
static uint32_t *map; /* local index -> client number + 1 */
static uint64_t sent_announces, answered, matched, peers, errors, send_fail;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS + (uint64_t)ts.tv_nsec;
}

static uint64_t wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * NS + (uint64_t)ts.tv_nsec;
}

static void die(const char *what)
{
	fprintf(stderr, "coord_load: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* open addressing over the (random) index itself */
static void map_put(uint32_t idx, uint32_t client)
{
	uint32_t m = (1u << MAP_BITS) - 1;

	for (uint32_t i = idx & m;; i = (i + 1) & m)
		if (!map[i] || map[i] == client + 1) {
			map[i] = client + 1;
			return;
		}
}

static struct client *map_get(uint32_t idx)
{
	uint32_t m = (1u << MAP_BITS) - 1;

	for (uint32_t i = idx & m; map[i]; i = (i + 1) & m) {
		struct client *c = &clients[map[i] - 1];

		if ((c->c.hs_pending && c->c.hs.local_index == idx) ||
		    (c->c.have_cur && c->c.cur.local_index == idx))
			return c;
	}
	return NULL;
}

static void send_to_server(struct client *c, const uint8_t *pkt, size_t len)
{
	if (sendto(c->sock, pkt, len, 0, (const struct sockaddr *)c->server, sizeof(*c->server)) < 0)
		send_fail++;
}

static void initiate(struct client *c)
{
	uint8_t pkt[COORD_INITIATION_LEN];

	if (coord_client_initiate(&c->c, pkt, now_ns(), wall_ns()) < 0)
		return;
	map_put(c->c.hs.local_index, (uint32_t)(c - clients));
	send_to_server(c, pkt, sizeof(pkt));
}

static void ping(struct client *c)
{
	uint8_t pkt[COORD_TRANSPORT_MAX];
	int n = coord_client_ping(&c->c, 1, pkt, sizeof(pkt), now_ns());

	if (n > 0)
		send_to_server(c, pkt, (size_t)n);
}

/* client i's k-th token: shared with its partner (i ^ 1) */
static void token_of(uint32_t i, uint32_t k, uint8_t token[COORD_TOKEN_LEN])
{
	uint32_t in[2] = { i / 2, k % TOKENS_PER_CLIENT };

	b2s(token, COORD_TOKEN_LEN, (const uint8_t *)in, sizeof(in), NULL, 0);
}

static void announce(struct client *c)
{
	struct coord_msg m = { .type = COORD_ANNOUNCE };
	uint8_t blob[128], pkt[COORD_TRANSPORT_MAX];
	int n;

	token_of((uint32_t)(c - clients), c->next_token++, m.token);
	/* a blob as long as two sealed candidates; its contents are opaque
	 * to the server */
	m.blob_len = (uint16_t)coord_blob_len(2);
	memset(blob, 0xb1, m.blob_len);
	blob[0] = 1;
	m.blob = blob;
	n = coord_client_seal(&c->c, &m, pkt, sizeof(pkt), now_ns());
	if (n > 0) {
		send_to_server(c, pkt, (size_t)n);
		sent_announces++;
	}
}

/* reads what is waiting on every socket; on_msg sees each opened message */
static unsigned drain(void (*on_msg)(struct client *, const struct coord_msg *, int), int timeout_ms)
{
	struct pollfd p[SOCKETS];
	unsigned got = 0;

	for (int i = 0; i < SOCKETS; i++)
		p[i] = (struct pollfd){ .fd = socks[i], .events = POLLIN };
	if (poll(p, SOCKETS, timeout_ms) <= 0)
		return 0;
	for (int i = 0; i < SOCKETS; i++) {
		if (!(p[i].revents & POLLIN))
			continue;
		for (int k = 0; k < 256; k++) {
			uint8_t pkt[2048];
			struct coord_msg msg;
			ssize_t n = recv(socks[i], pkt, sizeof(pkt), 0);
			struct client *c;
			int rc;

			if (n < 8)
				break;
			got++;
			/* a response names us at offset 8, everything else at 4 */
			c = map_get(coord_get_le32(pkt + (pkt[0] == COORD_MSG_RESPONSE ? 8 : 4)));
			if (!c)
				continue;
			rc = coord_client_receive(&c->c, pkt, (size_t)n, now_ns(), &msg);
			if (rc == COORD_RX_COOKIE) {
				initiate(c);
			} else if (rc == COORD_RX_ESTABLISHED) {
				c->established = true;
				map_put(c->c.cur.local_index, (uint32_t)(c - clients));
				ping(c);
			} else if (rc == COORD_RX_MESSAGE && on_msg) {
				on_msg(c, &msg, rc);
			} else if (rc < 0 && pkt[0] == COORD_MSG_TRANSPORT && on_msg) {
				/* a relay control message: not ours to decode here */
				on_msg(c, NULL, rc);
			}
		}
	}
	return got;
}

static void on_setup(struct client *c, const struct coord_msg *m, int rc)
{
	(void)rc;
	if (m && m->type == COORD_PONG)
		c->verified = true;
	if (m && m->type == COORD_ANNOUNCED) {
		answered += !c->announced;
		c->announced = true;
	}
}

/* handshakes every client, a few hundred at a time, and confirms each
 * session with a PING */
static void connect_all(void)
{
	uint32_t started = 0, ready = 0;
	uint64_t deadline = now_ns() + 300 * NS, last_retry = now_ns();

	while (ready < nclients && now_ns() < deadline) {
		uint32_t inflight = 0;

		for (uint32_t i = 0; i < started; i++)
			inflight += !clients[i].verified;
		while (started < nclients && inflight < 256) {
			initiate(&clients[started++]);
			inflight++;
		}
		drain(on_setup, 10);
		if (now_ns() - last_retry > 2 * NS) {
			/* lost in a full socket buffer: again */
			for (uint32_t i = 0; i < started; i++)
				if (!clients[i].established)
					initiate(&clients[i]);
				else if (!clients[i].verified)
					ping(&clients[i]);
			last_retry = now_ns();
		}
		ready = 0;
		for (uint32_t i = 0; i < started; i++)
			ready += clients[i].verified;
	}
	if (ready < nclients) {
		fprintf(stderr, "coord_load: only %u of %u sessions came up\n", ready, nclients);
		exit(1);
	}
}

static void on_announce(struct client *c, const struct coord_msg *m, int rc)
{
	(void)c;
	(void)rc;
	if (!m)
		return;
	if (m->type == COORD_ANNOUNCED) {
		answered++;
		matched += m->status == COORD_MATCHED;
	} else if (m->type == COORD_PEER) {
		peers++;
	} else if (m->type == COORD_ERROR) {
		errors++;
	}
}

/* one "Name: N kB" line of /proc/PID/status (VmRSS, RssAnon, RssFile) */
static long status_kib(long pid, const char *name)
{
	char path[64], line[256], fmt[64];
	long kib = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/status", pid);
	snprintf(fmt, sizeof(fmt), "%s: %%ld kB", name);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, fmt, &kib) == 1)
			break;
	fclose(f);
	return kib;
}

/* CPU seconds the coord (COORD_PID in the environment) has used, or -1:
 * on a machine others share, what one core sustains is the work done per
 * CPU second of the server, not per second of the wall clock */
static double server_cpu(void)
{
	const char *p = getenv("COORD_PID");
	char path[64], buf[1024], *s;
	unsigned long ut, st;
	FILE *f;

	if (!p)
		return -1;
	snprintf(path, sizeof(path), "/proc/%ld/stat", atol(p));
	f = fopen(path, "r");
	if (!f)
		return -1;
	s = fgets(buf, sizeof(buf), f);
	fclose(f);
	/* the fields after the command's closing parenthesis: state is the
	 * 3rd field, utime the 14th, stime the 15th */
	if (!s || !(s = strrchr(buf, ')')) ||
	    sscanf(s + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static long rss_kib(long pid)
{
	return status_kib(pid, "VmRSS");
}

static void make_clients(uint32_t n)
{
	uint8_t priv[32];

	nclients = n;
	clients = calloc(n, sizeof(*clients));
	map = calloc(1u << MAP_BITS, sizeof(*map));
	if (!clients || !map)
		die("memory");
	for (uint32_t i = 0; i < n; i++) {
		if (!random_fill(priv, sizeof(priv)))
			die("getrandom");
		priv[0] &= 248, priv[31] = (priv[31] & 127) | 64;
		if (coord_client_init(&clients[i].c, priv, server_pub) < 0)
			die("client key");
		clients[i].sock = socks[i % SOCKETS];
		clients[i].server = &server;
	}
	memzero(priv, sizeof(priv));
}

/* ---- relay ---- */

static uint32_t relay_channel[2];
static uint8_t relay_status[2];
static uint64_t relay_rx_bytes, relay_rx_msgs;

static void relay_ctl(struct client *c, const uint8_t *pt, size_t len)
{
	struct relay_ctl m;

	if (relay_ctl_decode(&m, pt, len) == 0 && m.type == RELAY_JOINED) {
		relay_channel[c - clients] = m.channel;
		relay_status[c - clients] = m.status;
	}
}

static void send_join(struct client *c)
{
	struct relay_ctl m = { .type = RELAY_JOIN };
	uint8_t pt[64], pkt[COORD_TRANSPORT_MAX];
	int n;

	token_of(0, 0, m.token);
	n = relay_ctl_encode(pt, sizeof(pt), &m);
	n = coord_transport_seal(&c->c.cur, pt, (size_t)n, pkt, sizeof(pkt));
	if (n > 0)
		send_to_server(c, pkt, (size_t)n);
}

static int run_relay(size_t size, double seconds)
{
	uint8_t dg[RELAY_MAX_DATAGRAM], pkt[64][RELAY_MSG_MAX];
	struct mmsghdr mm[64];
	struct iovec iov[64];
	uint64_t t0, t1, sent = 0;

	if (size > RELAY_MAX_DATAGRAM)
		size = RELAY_MAX_DATAGRAM;
	/* two clients on their own sockets */
	clients[1].sock = socks[1];
	connect_all();
	for (int i = 0; i < 2; i++)
		announce(&clients[i]);
	for (int round = 0; round < 100 && (relay_status[0] != RELAY_READY || relay_status[1] != RELAY_READY);
	     round++) {
		for (int i = 0; i < 2; i++)
			if (relay_status[i] != RELAY_READY)
				send_join(&clients[i]);
		for (int k = 0; k < 10; k++) {
			struct pollfd p[2] = { { .fd = socks[0], .events = POLLIN }, { .fd = socks[1], .events = POLLIN } };

			if (poll(p, 2, 10) <= 0)
				continue;
			for (int i = 0; i < 2; i++) {
				uint8_t in[2048], pt[COORD_INNER_MAX];
				ssize_t n = recv(socks[i], in, sizeof(in), MSG_DONTWAIT);
				int m;

				if (n <= 0 || in[0] != COORD_MSG_TRANSPORT)
					continue;
				m = coord_transport_open(&clients[i].c.cur, in, (size_t)n, pt, sizeof(pt));
				if (m > 0 && relay_is_ctl(pt[0]))
					relay_ctl(&clients[i], pt, (size_t)m);
			}
		}
	}
	if (relay_status[0] != RELAY_READY || relay_status[1] != RELAY_READY) {
		fprintf(stderr, "coord_load: the relay did not become ready (%s, %s)\n",
			relay_status_name(relay_status[0]), relay_status_name(relay_status[1]));
		return 1;
	}
	/* the receiver drains its socket in a thread of its own would share
	 * the cores with the coord; instead both run here, alternating: a
	 * batch out, whatever is waiting in */
	int rcvbuf = 8 << 20;
	setsockopt(socks[1], SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	memset(dg, 0x5a, sizeof(dg));
	double cpu0 = server_cpu();
	t0 = now_ns();
	t1 = t0 + (uint64_t)(seconds * NS);
	while (now_ns() < t1) {
		for (int i = 0; i < 64; i++) {
			int n = relay_data_seal(&clients[0].c.cur, relay_channel[0], dg, size, pkt[i], sizeof(pkt[i]));

			iov[i] = (struct iovec){ pkt[i], (size_t)n };
			mm[i] = (struct mmsghdr){ .msg_hdr = { .msg_name = &server, .msg_namelen = sizeof(server),
							       .msg_iov = &iov[i], .msg_iovlen = 1 } };
		}
		int s = sendmmsg(socks[0], mm, 64, 0);
		if (s > 0)
			sent += (uint64_t)s;
		for (;;) {
			uint8_t in[64][2048];
			struct mmsghdr rm[64];
			struct iovec riov[64];

			for (int i = 0; i < 64; i++) {
				riov[i] = (struct iovec){ in[i], sizeof(in[i]) };
				rm[i] = (struct mmsghdr){ .msg_hdr = { .msg_iov = &riov[i], .msg_iovlen = 1 } };
			}
			int r = recvmmsg(socks[1], rm, 64, MSG_DONTWAIT, NULL);
			if (r <= 0)
				break;
			for (int i = 0; i < r; i++) {
				uint32_t ch;
				uint8_t *d;
				int n = relay_data_open(&clients[1].c.cur, in[i], rm[i].msg_len, &ch, &d);

				if (n > 0) {
					relay_rx_bytes += (uint64_t)n;
					relay_rx_msgs++;
				}
			}
		}
	}
	double el = (double)(now_ns() - t0) / NS, cpu = server_cpu() - cpu0;
	printf("{\"mode\":\"relay\",\"datagram_bytes\":%zu,\"seconds\":%.2f,\"sent\":%llu,\"received\":%llu,"
	       "\"gbit_per_s\":%.3f,\"server_cpu_seconds\":%.2f,\"gbit_per_server_cpu_second\":%.3f}\n",
	       size, el, (unsigned long long)sent, (unsigned long long)relay_rx_msgs,
	       (double)relay_rx_bytes * 8 / el / 1e9, cpu0 < 0 ? -1.0 : cpu,
	       cpu0 < 0 || cpu <= 0 ? -1.0 : (double)relay_rx_bytes * 8 / cpu / 1e9);
	return 0;
}

/* ---- pair ---- */

static struct sockaddr_in server2;
static bool pair_peer[2];
static struct coord_addr pair_addr[2];

static void on_pair(struct client *c, const struct coord_msg *m, int rc)
{
	(void)rc;
	if (m && m->type == COORD_PEER && !(m->status & COORD_PEER_GONE)) {
		pair_peer[c - clients] = true;
		pair_addr[c - clients] = m->addr;
	}
}

static int run_pair(double seconds)
{
	char k0[WEFT_KEY_B64_LEN + 1], k1[WEFT_KEY_B64_LEN + 1], a0[COORD_ADDR_STR_LEN], a1[COORD_ADDR_STR_LEN];
	uint64_t end;

	clients[1].server = &server2;
	connect_all();
	for (int i = 0; i < 2; i++)
		announce(&clients[i]);
	end = now_ns() + (uint64_t)(seconds * NS);
	while (now_ns() < end && !(pair_peer[0] && pair_peer[1])) {
		drain(on_pair, 100);
		/* announced again now and then, as weft link does */
		static uint64_t last;
		if (now_ns() - last > 2 * NS) {
			last = now_ns();
			for (int i = 0; i < 2; i++) {
				clients[i].next_token = 0;
				announce(&clients[i]);
			}
		}
	}
	key_to_base64(k0, clients[0].c.static_pub);
	key_to_base64(k1, clients[1].c.static_pub);
	coord_addr_format(a0, sizeof(a0), &pair_addr[0]);
	coord_addr_format(a1, sizeof(a1), &pair_addr[1]);
	printf("{\"mode\":\"pair\",\"first_got_peer\":%s,\"second_got_peer\":%s,"
	       "\"first_saw\":\"%s\",\"second_saw\":\"%s\",\"keys\":[\"%s\",\"%s\"]}\n",
	       pair_peer[0] ? "true" : "false", pair_peer[1] ? "true" : "false", a0, a1, k0, k1);
	return pair_peer[0] && pair_peer[1] ? 0 : 1;
}

static void usage(void)
{
	fprintf(stderr, "usage: coord_load announce HOST:PORT KEYFILE CLIENTS SECONDS\n"
			"       coord_load memory HOST:PORT KEYFILE CLIENTS PID\n"
			"       coord_load relay HOST:PORT KEYFILE SIZE SECONDS\n"
			"       coord_load pair HOST:PORT HOST2:PORT2 KEYFILE SECONDS\n");
	exit(2);
}

int main(int argc, char **argv)
{
	char host[64], b64[128] = { 0 }, *colon;
	FILE *f;

	if (argc != 6)
		usage();
	if (crypto_init() < 0)
		die("crypto_init");
	if (!strcmp(argv[1], "pair")) {
		/* HOST2:PORT2 takes the key file's place: shift the rest */
		snprintf(host, sizeof(host), "%s", argv[3]);
		colon = strrchr(host, ':');
		if (!colon)
			usage();
		*colon = 0;
		server2 = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1)) };
		if (inet_pton(AF_INET, host, &server2.sin_addr) != 1)
			usage();
		argv[3] = argv[4];
		argv[4] = argv[5];
	}
	snprintf(host, sizeof(host), "%s", argv[2]);
	colon = strrchr(host, ':');
	if (!colon)
		usage();
	*colon = 0;
	server = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1)) };
	if (inet_pton(AF_INET, host, &server.sin_addr) != 1)
		usage();
	f = fopen(argv[3], "r");
	if (!f || !fgets(b64, sizeof(b64), f))
		die(argv[3]);
	fclose(f);
	b64[strcspn(b64, "\r\n")] = 0;
	if (!key_from_base64(server_pub, b64)) {
		fprintf(stderr, "coord_load: %s: not a base64 public key\n", argv[3]);
		return 1;
	}
	for (int i = 0; i < SOCKETS; i++) {
		struct sockaddr_in lo = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		int buf = 4 << 20;

		socks[i] = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (socks[i] < 0 || bind(socks[i], (struct sockaddr *)&lo, sizeof(lo)) < 0)
			die("socket");
		setsockopt(socks[i], SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
		setsockopt(socks[i], SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	}

	if (!strcmp(argv[1], "relay")) {
		make_clients(2);
		return run_relay((size_t)atol(argv[4]), atof(argv[5]));
	}
	if (!strcmp(argv[1], "pair")) {
		make_clients(2);
		return run_pair(atof(argv[4]));
	}
	long n = atol(argv[4]);
	if (n < 2 || n > (1 << (MAP_BITS - 2)))
		usage();
	if (!strcmp(argv[1], "memory")) {
		long pid = atol(argv[5]), before = rss_kib(pid), after;
		long file_before = status_kib(pid, "RssFile"), file_after;
		uint64_t t0 = now_ns();

		if (before < 0)
			die("/proc/PID/status");
		make_clients((uint32_t)n);
		connect_all();
		/* one announcement each, WINDOW in flight; the unanswered again */
		answered = 0;
		for (int pass = 0; pass < 5 && answered < nclients; pass++) {
			uint64_t sent = 0, base = answered;

			for (uint32_t i = 0; i < nclients; i++) {
				if (clients[i].announced)
					continue;
				while (sent - (answered - base) >= WINDOW && drain(on_setup, 50))
					;
				clients[i].next_token = 0;
				announce(&clients[i]);
				sent++;
			}
			while (drain(on_setup, 200))
				;
		}
		/* steady state: the store's transaction of the last second is
		 * committed (the server writes once a second) */
		sleep(3);
		after = rss_kib(pid);
		file_after = status_kib(pid, "RssFile");
		/* file-backed pages are the store's database mapped in (SQLite's
		 * mmap): a cache of the file, shown apart */
		printf("{\"mode\":\"memory\",\"clients\":%u,\"answered\":%llu,\"rss_before_kib\":%ld,"
		       "\"rss_after_kib\":%ld,\"bytes_per_client\":%.0f,\"file_backed_bytes_per_client\":%.0f,"
		       "\"setup_seconds\":%.1f}\n",
		       nclients, (unsigned long long)answered, before, after,
		       (double)(after - before) * 1024 / nclients,
		       (double)(file_after - file_before) * 1024 / nclients, (double)(now_ns() - t0) / NS);
		return 0;
	}
	if (strcmp(argv[1], "announce"))
		usage();
	double seconds = atof(argv[5]);
	make_clients((uint32_t)n);
	connect_all();
	answered = 0;
	double cpu0 = server_cpu();
	uint64_t t0 = now_ns(), t1 = t0 + (uint64_t)(seconds * NS), next = 0;
	uint64_t base_sent = sent_announces;
	while (now_ns() < t1) {
		/* keep WINDOW in flight; a lost one is written off after a while
		 * (the window counts sent minus answered) */
		while (sent_announces - base_sent - answered < WINDOW) {
			announce(&clients[next]);
			next = (next + 1) % nclients;
		}
		if (!drain(on_announce, 100))
			base_sent = sent_announces - answered; /* nothing came: forget the lost */
	}
	double el = (double)(now_ns() - t0) / NS, cpu = server_cpu() - cpu0;
	printf("{\"mode\":\"announce\",\"clients\":%u,\"seconds\":%.2f,\"sent\":%llu,\"answered\":%llu,"
	       "\"matched\":%llu,\"peers\":%llu,\"errors\":%llu,\"announces_per_s\":%.0f,"
	       "\"server_cpu_seconds\":%.2f,\"announces_per_server_cpu_second\":%.0f}\n",
	       nclients, el, (unsigned long long)(sent_announces - 0), (unsigned long long)answered,
	       (unsigned long long)matched, (unsigned long long)peers, (unsigned long long)errors,
	       (double)answered / el, cpu0 < 0 ? -1.0 : cpu, cpu0 < 0 || cpu <= 0 ? -1.0 : (double)answered / cpu);
	return 0;
}
