/* addr.h: the addresses `weft link` reasons about - a UDP endpoint
 * (IPv4 or IPv6 with a port) and the machine's own interface addresses
 * with their prefixes, which tell a LAN candidate we can reach directly
 * from one behind a router. Plain values: no sockets, no allocation. */
#ifndef WEFT_LINK_ADDR_H
#define WEFT_LINK_ADDR_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

union link_addr {
	struct sockaddr sa;       /* sa_family 0: none */
	struct sockaddr_in in4;
	struct sockaddr_in6 in6;
};

/* "[v6]:port" at most, NUL included */
#define LINK_ADDR_STRLEN (INET6_ADDRSTRLEN + 10)

bool link_addr_is_set(const union link_addr *a);
/* Same family, address and port (scope id too for IPv6). */
bool link_addr_equal(const union link_addr *a, const union link_addr *b);
/* Same address, ports ignored. */
bool link_addr_same_host(const union link_addr *a, const union link_addr *b);
socklen_t link_addr_len(const union link_addr *a);
uint16_t link_addr_port(const union link_addr *a);
void link_addr_set_port(union link_addr *a, uint16_t port);
/* "1.2.3.4:5" or "[fd00::1]:5"; "-" for none. */
void link_addr_format(char out[LINK_ADDR_STRLEN], const union link_addr *a);
/* Numeric "1.2.3.4:5" or "[v6]:5" (no names): true and *out. */
bool link_addr_parse(union link_addr *out, const char *s);
/* RFC 1918, RFC 6598 (carrier-grade NAT), IPv6 ULA, link-local. */
bool link_addr_is_private(const union link_addr *a);
/* Loopback, unspecified, multicast: never a candidate. */
bool link_addr_is_unusable(const union link_addr *a);

/* The machine's own addresses, as netlink reports them. */
#define LINK_MAX_LOCAL 32

struct local_addr {
	union link_addr addr; /* port 0 */
	uint8_t prefix_len;
	int ifindex;
};

struct local_addrs {
	struct local_addr v[LINK_MAX_LOCAL];
	uint32_t n;
	/* a change that the list cannot show (a route came or went) */
	uint32_t route_gen;
};

/* Adds (true) or, with remove, removes an address; a full list ignores
 * the rest (bounded). Returns whether the list changed. */
bool local_addrs_update(struct local_addrs *l, const struct local_addr *a, bool remove);
/* a lies inside one of the list's prefixes: reachable without a router. */
bool local_addrs_on_link(const struct local_addrs *l, const union link_addr *a);
/* Same set of addresses (order ignored). */
bool local_addrs_equal(const struct local_addrs *a, const struct local_addrs *b);

#endif
