/* endpoint.c: a peer's endpoint, HOST and PORT as written, resolved to an
 * address the way wg(8) resolves it: transient resolver failures are
 * retried with a growing wait, permanent ones end it at once. */
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "device.h"
#include "endpoint.h"

#define RESOLVE_RETRIES_DEFAULT 15
#define RESOLVE_FIRST_WAIT_US 1000000u  /* then x1.2 per try ... */
#define RESOLVE_MAX_WAIT_US 20000000u   /* ... up to 20 s, as wg */

static int resolve_retries(void)
{
	const char *v = getenv("WG_ENDPOINT_RESOLUTION_RETRIES");
	unsigned long n;
	char *end;

	if (!v)
		return RESOLVE_RETRIES_DEFAULT;
	if (!strcmp(v, "infinity"))
		return -1;
	errno = 0;
	n = strtoul(v, &end, 10);
	if (!*v || *end || errno || n > INT_MAX) {
		fprintf(stderr, "Unable to parse WG_ENDPOINT_RESOLUTION_RETRIES: `%s'\n", v);
		exit(1);
	}
	return (int)n;
}

bool endpoint_resolve(union dev_endpoint *ep, const char *host, const char *port, const char *what)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM,
				  .ai_protocol = IPPROTO_UDP };
	struct addrinfo *res;
	int retries = resolve_retries();
	bool ok = false;
	int ret;

	for (unsigned wait = RESOLVE_FIRST_WAIT_US;; wait = wait * 6 / 5 < RESOLVE_MAX_WAIT_US ? wait * 6 / 5 : RESOLVE_MAX_WAIT_US) {
		ret = getaddrinfo(host, port, &hints, &res);
		if (!ret)
			break;
		/* Permanent failures end it now; the others may be a network
		 * that is still coming up, so they are retried. */
		if (ret == EAI_NONAME || ret == EAI_FAIL || ret == EAI_NODATA || (retries >= 0 && !retries--)) {
			fprintf(stderr, "%s: `%s'\n", ret == EAI_SYSTEM ? strerror(errno) : gai_strerror(ret), what);
			return false;
		}
		fprintf(stderr, "%s: `%s'. Trying again in %.2f seconds...\n",
			ret == EAI_SYSTEM ? strerror(errno) : gai_strerror(ret), what, wait / 1000000.0);
		usleep(wait);
	}
	memset(ep, 0, sizeof(*ep));
	if ((res->ai_family == AF_INET && res->ai_addrlen == sizeof(struct sockaddr_in)) ||
	    (res->ai_family == AF_INET6 && res->ai_addrlen == sizeof(struct sockaddr_in6))) {
		memcpy(ep, res->ai_addr, res->ai_addrlen);
		ok = true;
	} else
		fprintf(stderr, "Neither IPv4 nor IPv6 address found: `%s'\n", what);
	freeaddrinfo(res);
	return ok;
}
