/* birthday_io.h: the sockets of one birthday probe (birthday.h) and, after
 * a hit, the local UDP proxy that carries the peer's WireGuard traffic
 * through the socket pair found. The device cannot send from the probe's
 * socket itself, so the peer's endpoint becomes 127.0.0.1:proxy_port (as
 * with the relay client): what the device sends there leaves through the
 * found socket to the address found, and what comes back on that socket
 * from that address is handed to the device from the proxy's address.
 *
 * Everything is non-blocking and driven by the caller's loop: it polls the
 * fds bday_io_fds lists, calls bday_io_readable for a readable one and
 * bday_io_tick when bday_io_tick said to. */
#ifndef WEFT_LINK_BIRTHDAY_IO_H
#define WEFT_LINK_BIRTHDAY_IO_H

#include <poll.h>

#include "link/birthday.h"

/* Datagrams one readable call handles at most, per socket. */
#define BDAY_IO_READ_BUDGET 64
/* The largest datagram the proxy carries (a WireGuard message at an MTU of
 * 65535 is smaller than this). */
#define BDAY_IO_MAX_DGRAM 65536

struct bday_io {
	struct bday b;
	int fds[BDAY_SOCKETS];
	uint16_t n_fds;
	uint16_t raw_port;            /* guess side through a raw socket: its port */
	struct in_addr raw_src;       /* and the source address the route picks */
	/* after a hit */
	int wan_fd;                   /* the found socket (one of fds) */
	int proxy_fd;                 /* 127.0.0.1:proxy_port, -1 before */
	uint16_t proxy_port;
	struct sockaddr_in device;    /* 127.0.0.1:the device's listen port */
	uint64_t to_peer, from_peer;  /* datagrams carried each way */
	uint64_t dropped;             /* from strangers, or unreadable */
};

/* Opens the sockets and starts the probe: the spray side n_sockets UDP
 * sockets; the guess side one, bound to bind_port (0: any), or with
 * raw_port set a raw socket that sends from that port - the WireGuard
 * device's own, so that the mapping the spray side aims at is the device's
 * and, after a hit, the device talks to the address found directly (no
 * proxy on this side; needs CAP_NET_RAW). 0 or -errno (all closed again). */
int bday_io_start(struct bday_io *io, enum bday_role role, const uint8_t key[32],
		  const uint8_t session[BDAY_SESSION_LEN], const struct sockaddr_in *target,
		  uint16_t n_sockets, uint16_t bind_port, uint16_t raw_port, int64_t now);
/* Sends what is due; returns when to call again (INT64_MAX: not before
 * some input). */
int64_t bday_io_tick(struct bday_io *io, int64_t now);
/* Fills up to max pollfds with what to watch; returns how many. */
unsigned bday_io_fds(const struct bday_io *io, struct pollfd *out, unsigned max);
/* fd became readable. */
void bday_io_readable(struct bday_io *io, int fd, int64_t now);
/* After a hit: closes every socket but the found one, opens the proxy on
 * 127.0.0.1 for a device listening on device_port; 0 (proxy_port set) or
 * -errno. */
int bday_io_proxy(struct bday_io *io, uint16_t device_port);
/* Closes everything and wipes the key. */
void bday_io_close(struct bday_io *io);

#endif
