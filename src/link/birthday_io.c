/* birthday_io.c: the birthday probe's sockets and the proxy through the
 * pair it found (see birthday_io.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
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

int bday_io_start(struct bday_io *io, enum bday_role role, const uint8_t key[32],
		  const uint8_t session[BDAY_SESSION_LEN], const struct sockaddr_in *target,
		  uint16_t n_sockets, uint16_t bind_port, int64_t now)
{
	uint64_t seed = 0;

	memset(io, 0, sizeof(*io));
	io->wan_fd = io->proxy_fd = -1;
	if (role == BDAY_GUESS || !n_sockets)
		n_sockets = 1;
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

static void send_tx(struct bday_io *io, const struct bday_tx *t)
{
	if (t->sock >= io->n_fds || io->fds[t->sock] < 0)
		return;
	/* a full socket buffer loses a probe: the schedule has more of them */
	sendto(io->fds[t->sock], t->pkt, BDAY_PKT_LEN, MSG_DONTWAIT, (const struct sockaddr *)&t->to,
	       sizeof(t->to));
}

int64_t bday_io_tick(struct bday_io *io, int64_t now)
{
	struct bday_tx out[BDAY_SPRAY_BATCH];
	int64_t next = INT64_MAX;
	size_t n;

	if (io->proxy_fd >= 0)
		return INT64_MAX;
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

void bday_io_readable(struct bday_io *io, int fd, int64_t now)
{
	uint8_t buf[BDAY_PKT_LEN + 1];

	if (io->proxy_fd >= 0) {
		carry(io, fd);
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
