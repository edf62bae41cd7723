/* public_address.c: the stand-in for a server's unset public address (see
 * public_address.h). The default route's source is what a peer on the same
 * network would use, and often what a host without NAT is reached at; when
 * it is wrong (behind NAT), the note tells the user which address went
 * into the config, so it can be set properly. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "netlink.h"
#include "public_address.h"
#include "usage.h"

static int lookup(int family, char buf[INET6_ADDRSTRLEN])
{
	uint8_t a[16];
	struct nl nl;
	int r = nl_open(&nl);

	if (r < 0)
		return r;
	r = nl_default_route_src(&nl, family, a);
	nl_close(&nl);
	if (r == 0 && !inet_ntop(family, a, buf, INET6_ADDRSTRLEN))
		r = -errno;
	return r;
}

const char *public_address_fallback(const char *iface, uint8_t type,
				    char buf[INET6_ADDRSTRLEN])
{
	int r = -ENETUNREACH;

	if (type == WEFT_ENDPOINT_ANY || type == WEFT_ENDPOINT_IPV4)
		r = lookup(AF_INET, buf);
	if (r < 0 && (type == WEFT_ENDPOINT_ANY || type == WEFT_ENDPOINT_IPV6))
		r = lookup(AF_INET6, buf);
	if (r == 0) {
		fprintf(stderr, "%s: %s: no public address is set; the peer's Endpoint uses %s, "
			"the source address of the default route (not saved; set the address peers "
			"should use with `%s interface set %s --public-address ADDRESS')\n",
			prog_name, iface, buf, prog_name, iface);
		return buf;
	}
	if (type == WEFT_ENDPOINT_DOMAIN)
		fprintf(stderr, "%s: %s: no host name is set: the peer's config has no Endpoint "
			"(set one with `%s interface set %s --public-address NAME')\n",
			prog_name, iface, prog_name, iface);
	else
		fprintf(stderr, "%s: %s: no public address is set and %s: the peer's config has no Endpoint "
			"(set one with `%s interface set %s --public-address ADDRESS')\n",
			prog_name, iface, r == -ENETUNREACH ? "there is no default route" : strerror(-r),
			prog_name, iface);
	return NULL;
}
