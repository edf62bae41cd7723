/* listen_port.c: is a UDP port free here, and which one a new interface
 * gets (see listen_port.h). The daemon binds IPv4 and IPv6 sockets on the
 * same port, so a port counts as free only if both binds work; the probe
 * sockets are closed at once, before the daemon binds for real. */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "listen_port.h"

static int bind_one(int family, uint16_t port)
{
	union { struct sockaddr sa; struct sockaddr_in in4; struct sockaddr_in6 in6; } a;
	socklen_t len;
	int one = 1, r = 0, fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, IPPROTO_UDP);

	if (fd < 0)
		return errno == EAFNOSUPPORT ? 0 : -errno; /* no IPv6 here: nothing to collide with */
	memset(&a, 0, sizeof(a));
	if (family == AF_INET) {
		a.in4.sin_family = AF_INET;
		a.in4.sin_port = htons(port);
		len = sizeof(a.in4);
	} else {
		/* as the daemons bind it: IPv6 only, beside an IPv4 socket */
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
		a.in6.sin6_family = AF_INET6;
		a.in6.sin6_port = htons(port);
		len = sizeof(a.in6);
	}
	if (bind(fd, &a.sa, len) < 0)
		r = errno == EADDRNOTAVAIL && family == AF_INET6 ? 0 : -errno; /* IPv6 disabled */
	close(fd);
	return r;
}

int listen_port_check(uint16_t port)
{
	int r = bind_one(AF_INET, port);

	return r < 0 ? r : bind_one(AF_INET6, port);
}

int listen_port_pick(uint16_t *port)
{
	for (uint32_t p = LISTEN_PORT_FIRST; p <= UINT16_MAX; p++) {
		int r = listen_port_check((uint16_t)p);

		if (r == 0) {
			*port = (uint16_t)p;
			return 0;
		}
		if (r != -EADDRINUSE)
			return r;
	}
	return -EADDRINUSE;
}
