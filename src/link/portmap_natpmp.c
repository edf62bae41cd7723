/* portmap_natpmp.c: NAT-PMP (RFC 6886) through libnatpmp: the gateway's
 * external address, then a UDP mapping of the listen port. libnatpmp
 * retransmits on its own schedule (250 ms doubling, nine times: about a
 * minute); we stop at our own deadline instead. */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <sys/select.h>
#include <time.h>

#include <natpmp.h>

#include "link/portmap.h"

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int to_errno(int r)
{
	switch (r) {
	case NATPMP_ERR_NOGATEWAYSUPPORT:
	case NATPMP_ERR_UNSUPPORTEDVERSION:
	case NATPMP_ERR_UNSUPPORTEDOPCODE:
		return -EOPNOTSUPP;
	case NATPMP_ERR_NOTAUTHORIZED:
		return -EPERM;
	case NATPMP_ERR_OUTOFRESOURCES:
		return -ENOSPC;
	case NATPMP_ERR_NETWORKFAILURE:
		return -ENETDOWN;
	case NATPMP_ERR_CANNOTGETGATEWAY:
		return -ENETUNREACH;
	case NATPMP_ERR_INVALIDARGS:
		return -EINVAL;
	case NATPMP_TRYAGAIN:
		return -ETIMEDOUT;
	default:
		return -EIO;
	}
}

/* Waits for the answer to the request in flight until deadline. */
static int await(natpmp_t *n, natpmpresp_t *resp, int64_t deadline)
{
	for (;;) {
		struct timeval tv;
		fd_set fds;
		int r;

		if (getnatpmprequesttimeout(n, &tv) < 0)
			return -EIO;
		int64_t left = deadline - mono_ms();
		if (left <= 0)
			return -ETIMEDOUT;
		if ((int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000 > left) {
			tv.tv_sec = left / 1000;
			tv.tv_usec = (left % 1000) * 1000;
		}
		FD_ZERO(&fds);
		FD_SET(n->s, &fds);
		if (select(n->s + 1, &fds, NULL, NULL, &tv) < 0 && errno != EINTR)
			return -errno;
		r = readnatpmpresponseorretry(n, resp);
		if (r >= 0)
			return 0;
		if (r != NATPMP_TRYAGAIN)
			return to_errno(r);
	}
}

static int open_gw(natpmp_t *n, const char *gateway)
{
	struct in_addr gw = { 0 };
	int r;

	if (gateway && inet_pton(AF_INET, gateway, &gw) != 1)
		return -EINVAL;
	r = initnatpmp(n, gateway != NULL, gw.s_addr);
	return r < 0 ? to_errno(r) : 0;
}

int portmap_natpmp_map(const char *gateway, uint16_t internal_port, uint32_t lifetime,
		       int timeout_ms, struct portmap_lease *out)
{
	int64_t deadline = mono_ms() + timeout_ms;
	natpmpresp_t resp;
	natpmp_t n;
	int r;

	r = open_gw(&n, gateway);
	if (r)
		return r;
	r = sendpublicaddressrequest(&n) < 0 ? -EIO : await(&n, &resp, deadline);
	if (r)
		goto out;
	if (resp.type != NATPMP_RESPTYPE_PUBLICADDRESS) {
		r = -EPROTO;
		goto out;
	}
	out->external_addr = resp.pnu.publicaddress.addr;
	/* ask for the same external port (a renewal keeps the one we hold) */
	uint16_t want = out->proto == PORTMAP_NATPMP ? out->external_port : internal_port;
	r = sendnewportmappingrequest(&n, NATPMP_PROTOCOL_UDP, internal_port, want, lifetime) < 0
		? -EIO : await(&n, &resp, deadline);
	if (r)
		goto out;
	if (resp.type != NATPMP_RESPTYPE_UDPPORTMAPPING ||
	    resp.pnu.newportmapping.privateport != internal_port) {
		r = -EPROTO;
		goto out;
	}
	if (!resp.pnu.newportmapping.lifetime || !resp.pnu.newportmapping.mappedpublicport) {
		r = -EPERM; /* a mapping of no time or no port is a refusal */
		goto out;
	}
	out->proto = PORTMAP_NATPMP;
	out->external_port = resp.pnu.newportmapping.mappedpublicport;
	out->internal_port = internal_port;
	out->lifetime = resp.pnu.newportmapping.lifetime;
out:
	closenatpmp(&n);
	return r;
}

int portmap_natpmp_unmap(const char *gateway, const struct portmap_lease *lease, int timeout_ms)
{
	int64_t deadline = mono_ms() + timeout_ms;
	natpmpresp_t resp;
	natpmp_t n;
	int r;

	r = open_gw(&n, gateway);
	if (r)
		return r;
	/* RFC 6886 section 3.4: lifetime 0 and external port 0 delete it */
	r = sendnewportmappingrequest(&n, NATPMP_PROTOCOL_UDP, lease->internal_port, 0, 0) < 0
		? -EIO : await(&n, &resp, deadline);
	closenatpmp(&n);
	return r;
}
