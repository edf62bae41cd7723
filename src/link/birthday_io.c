/* birthday_io.c: the birthday probe's sockets and the proxy through the
 * pair it found (see birthday_io.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "link/birthday_io.h"
#include "util/random.h"

static int udp_socket(uint32_t addr, uint16_t port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	sa.sin_addr.s_addr = addr;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		int e = -errno;

		close(fd);
		return e;
	}
	return fd;
}

static void close_all(struct bday_io *io)
{
	for (unsigned i = 0; i < io->n_fds; i++)
		if (io->fds[i] >= 0)
			close(io->fds[i]);
	io->n_fds = 0;
	if (io->proxy_fd >= 0)
		close(io->proxy_fd);
	io->proxy_fd = -1;
	io->wan_fd = -1;
}

/* A raw UDP socket toward the target's address (raw sockets take no port:
 * connecting picks the route and our source address, and lets only that
 * address's datagrams in). */
static int raw_socket(struct bday_io *io, const struct sockaddr_in *target)
{
	struct sockaddr_in dst = *target, src;
	socklen_t sl = sizeof(src);
	int fd = socket(AF_INET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);

	if (fd < 0)
		return -errno;
	dst.sin_port = 0;
	if (connect(fd, (struct sockaddr *)&dst, sizeof(dst)) || getsockname(fd, (struct sockaddr *)&src, &sl)) {
		int e = -errno;

		close(fd);
		return e;
	}
	io->raw_src = src.sin_addr;
	return fd;
}

int bday_io_start(struct bday_io *io, enum bday_role role, const uint8_t key[32],
		  const uint8_t session[BDAY_SESSION_LEN], const struct sockaddr_in *target,
		  uint16_t n_sockets, uint16_t bind_port, uint16_t raw_port, int64_t now)
{
	uint64_t seed = 0;

	memset(io, 0, sizeof(*io));
	io->wan_fd = io->proxy_fd = -1;
	if (role == BDAY_GUESS || !n_sockets)
		n_sockets = 1;
	if (role == BDAY_GUESS && raw_port) {
		int fd = raw_socket(io, target);

		if (fd < 0)
			return fd;
		io->fds[io->n_fds++] = fd;
		io->raw_port = raw_port;
		n_sockets = 0;
	}
	if (n_sockets > BDAY_SOCKETS)
		n_sockets = BDAY_SOCKETS;
	for (unsigned i = 0; i < n_sockets; i++) {
		int fd = udp_socket(INADDR_ANY, i == 0 ? bind_port : 0);

		if (fd < 0) {
			close_all(io);
			return fd;
		}
		io->fds[io->n_fds++] = fd;
	}
	if (!random_fill((uint8_t *)&seed, sizeof(seed))) {
		close_all(io);
		return -EIO;
	}
	bday_init(&io->b, role, key, session, target, n_sockets, seed, now);
	return 0;
}

static uint32_t sum16(uint32_t acc, const uint8_t *p, size_t len)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		acc += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		acc += (uint32_t)p[len - 1] << 8;
	return acc;
}

/* A probe from the raw socket: our UDP header (the device's port as the
 * source), the kernel adds the IP header. */
static void send_raw(struct bday_io *io, const struct bday_tx *t)
{
	uint8_t pkt[sizeof(struct udphdr) + BDAY_PKT_LEN];
	struct udphdr *uh = (struct udphdr *)pkt;
	uint32_t acc = 0;

	uh->source = htons(io->raw_port);
	uh->dest = t->to.sin_port;
	uh->len = htons(sizeof(pkt));
	uh->check = 0;
	memcpy(pkt + sizeof(*uh), t->pkt, BDAY_PKT_LEN);
	/* RFC 768: over the pseudo-header too */
	acc = sum16(acc, (const uint8_t *)&io->raw_src, 4);
	acc = sum16(acc, (const uint8_t *)&t->to.sin_addr, 4);
	acc += IPPROTO_UDP + (uint32_t)sizeof(pkt);
	acc = sum16(acc, pkt, sizeof(pkt));
	while (acc >> 16)
		acc = (acc & 0xffff) + (acc >> 16);
	uh->check = htons((uint16_t)~acc ? (uint16_t)~acc : 0xffff);
	send(io->fds[0], pkt, sizeof(pkt), MSG_DONTWAIT);
}

static void send_tx(struct bday_io *io, const struct bday_tx *t)
{
	if (t->sock >= io->n_fds || io->fds[t->sock] < 0)
		return;
	if (io->raw_port) {
		send_raw(io, t);
		return;
	}
	/* a full socket buffer loses a probe: the schedule has more of them */
	sendto(io->fds[t->sock], t->pkt, BDAY_PKT_LEN, MSG_DONTWAIT, (const struct sockaddr *)&t->to,
	       sizeof(t->to));
}

int64_t bday_io_tick(struct bday_io *io, int64_t now)
{
	struct bday_tx out[BDAY_SPRAY_BATCH];
	int64_t next = INT64_MAX;
	size_t n;

	/* after a hit (the proxy too) only the spray side's repeated acks */
	n = bday_poll(&io->b, now, out, BDAY_SPRAY_BATCH, &next);
	for (size_t i = 0; i < n; i++)
		send_tx(io, &out[i]);
	return next;
}

unsigned bday_io_fds(const struct bday_io *io, struct pollfd *out, unsigned max)
{
	unsigned n = 0;

	if (io->proxy_fd >= 0) {
		if (max >= 2) {
			out[n++] = (struct pollfd){ .fd = io->proxy_fd, .events = POLLIN };
			out[n++] = (struct pollfd){ .fd = io->wan_fd, .events = POLLIN };
		}
		return n;
	}
	for (unsigned i = 0; i < io->n_fds && n < max; i++)
		if (io->fds[i] >= 0)
			out[n++] = (struct pollfd){ .fd = io->fds[i], .events = POLLIN };
	return n;
}

static bool same(const struct sockaddr_in *a, const struct sockaddr_in *b)
{
	return a->sin_port == b->sin_port && a->sin_addr.s_addr == b->sin_addr.s_addr;
}

/* The proxy: device <-> proxy_fd, wan_fd <-> the peer's address found. */
static void carry(struct bday_io *io, int fd)
{
	static uint8_t buf[BDAY_IO_MAX_DGRAM];

	for (int i = 0; i < BDAY_IO_READ_BUDGET; i++) {
		struct sockaddr_in from;
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from, &fl);

		if (n < 0)
			return;
		if (fd == io->proxy_fd) {
			if (!same(&from, &io->device)) {
				io->dropped++;
				continue;
			}
			sendto(io->wan_fd, buf, (size_t)n, MSG_DONTWAIT, (struct sockaddr *)&io->b.hit_addr,
			       sizeof(io->b.hit_addr));
			io->to_peer++;
		} else {
			/* late probes and acks of the attempt are no WireGuard traffic */
			if (!same(&from, &io->b.hit_addr) || bday_is_probe(buf, (size_t)n)) {
				io->dropped++;
				continue;
			}
			sendto(io->proxy_fd, buf, (size_t)n, MSG_DONTWAIT, (struct sockaddr *)&io->device,
			       sizeof(io->device));
			io->from_peer++;
		}
	}
}

/* The raw socket sees every UDP datagram from the target's address, the
 * device's own traffic too: only those to the device's port that look like
 * probes are ours. */
static void read_raw(struct bday_io *io, int64_t now)
{
	uint8_t buf[1500];

	for (int i = 0; i < BDAY_IO_READ_BUDGET; i++) {
		ssize_t n = recv(io->fds[0], buf, sizeof(buf), MSG_DONTWAIT);
		struct sockaddr_in from = { .sin_family = AF_INET };
		struct bday_tx reply;
		size_t ihl;

		if (n < 0)
			return;
		if ((size_t)n < 20 || (buf[0] >> 4) != 4)
			continue;
		ihl = (size_t)(buf[0] & 0x0f) * 4;
		if (ihl < 20 || ihl + sizeof(struct udphdr) + BDAY_PKT_LEN != (size_t)n)
			continue;
		const struct udphdr *uh = (const struct udphdr *)(buf + ihl);

		if (ntohs(uh->dest) != io->raw_port || !bday_is_probe(buf + ihl + sizeof(*uh), BDAY_PKT_LEN))
			continue;
		memcpy(&from.sin_addr, buf + 12, 4);
		from.sin_port = uh->source;
		if (bday_input(&io->b, 0, &from, buf + ihl + sizeof(*uh), BDAY_PKT_LEN, now, &reply))
			send_tx(io, &reply);
	}
}

void bday_io_readable(struct bday_io *io, int fd, int64_t now)
{
	uint8_t buf[BDAY_PKT_LEN + 1];

	if (io->proxy_fd >= 0) {
		carry(io, fd);
		return;
	}
	if (io->raw_port) {
		read_raw(io, now);
		return;
	}
	for (unsigned s = 0; s < io->n_fds; s++) {
		if (io->fds[s] != fd)
			continue;
		for (int i = 0; i < BDAY_IO_READ_BUDGET; i++) {
			struct sockaddr_in from;
			socklen_t fl = sizeof(from);
			struct bday_tx reply;
			ssize_t n = recvfrom(fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from, &fl);

			if (n < 0)
				break;
			if (fl != sizeof(from) || from.sin_family != AF_INET) {
				io->b.counters.rejected++;
				continue;
			}
			if (bday_input(&io->b, (uint16_t)s, &from, buf, (size_t)n, now, &reply))
				send_tx(io, &reply);
		}
		return;
	}
}

int bday_io_proxy(struct bday_io *io, uint16_t device_port)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	int fd;

	if (io->b.state != BDAY_HIT || io->b.hit_sock >= io->n_fds)
		return -EINVAL;
	fd = udp_socket(htonl(INADDR_LOOPBACK), 0);
	if (fd < 0)
		return fd;
	if (getsockname(fd, (struct sockaddr *)&sa, &sl)) {
		int e = -errno;

		close(fd);
		return e;
	}
	/* the found socket stays; the others go, and their NAT mappings with them */
	for (unsigned i = 0; i < io->n_fds; i++) {
		if (i == io->b.hit_sock)
			io->wan_fd = io->fds[i];
		else if (io->fds[i] >= 0)
			close(io->fds[i]);
		io->fds[i] = -1;
	}
	io->fds[0] = io->wan_fd;
	io->n_fds = 1;
	io->b.hit_sock = 0;
	io->proxy_fd = fd;
	io->proxy_port = ntohs(sa.sin_port);
	io->device = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons(device_port) };
	io->device.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return 0;
}

void bday_io_close(struct bday_io *io)
{
	close_all(io);
	bday_wipe(&io->b);
}
