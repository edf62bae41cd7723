/* portmap_upnp.c: UPnP IGD through libminiupnpc: SSDP discovery of an
 * Internet Gateway Device, AddPortMapping of the listen port (UDP) for a
 * lease, GetExternalIPAddress, and DeletePortMapping on exit. What a
 * renewal and the removal need (control URL, service type, our LAN
 * address) is kept in the lease, so neither discovers again. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <miniupnpc/miniupnpc.h>
#include <miniupnpc/upnpcommands.h>
#include <miniupnpc/upnperrors.h>

#include "link/portmap.h"
#include "link/log.h"

/* UPnP error codes (WANIPConnection:2 section 2.4.16) we act on */
#define UPNP_CONFLICT 718
#define UPNP_ONLY_PERMANENT 725

static int copy(char *dst, size_t n, const char *src)
{
	size_t len = strlen(src);

	if (len >= n)
		return -ENAMETOOLONG;
	memcpy(dst, src, len + 1);
	return 0;
}

static int discover(int timeout_ms, struct portmap_lease *l)
{
	struct UPNPDev *devs;
	struct UPNPUrls urls;
	struct IGDdatas data;
	char lan[64] = "";
	int err = 0, r;

	devs = upnpDiscover(timeout_ms, NULL, NULL, UPNP_LOCAL_PORT_ANY, 0, 2, &err);
	if (!devs)
		return -EOPNOTSUPP;
	r = UPNP_GetValidIGD(devs, &urls, &data, lan, sizeof(lan));
	freeUPNPDevlist(devs);
	if (r != 1) {
		/* 2: an IGD that says it is not connected; 3: not an IGD */
		if (r)
			FreeUPNPUrls(&urls);
		return -EOPNOTSUPP;
	}
	r = copy(l->control_url, sizeof(l->control_url), urls.controlURL);
	if (!r)
		r = copy(l->service_type, sizeof(l->service_type), data.first.servicetype);
	if (!r)
		r = copy(l->internal_client, sizeof(l->internal_client), lan);
	FreeUPNPUrls(&urls);
	return r;
}

static int add(const struct portmap_lease *l, uint16_t ext, uint16_t internal, uint32_t lifetime,
	       const char *description)
{
	char e[8], i[8], d[16];

	snprintf(e, sizeof(e), "%u", ext);
	snprintf(i, sizeof(i), "%u", internal);
	snprintf(d, sizeof(d), "%u", lifetime);
	return UPNP_AddPortMapping(l->control_url, l->service_type, e, i, l->internal_client,
				   description, "UDP", NULL, d);
}

int portmap_upnp_map(uint16_t internal_port, uint32_t lifetime, int timeout_ms,
		     const char *description, struct portmap_lease *l)
{
	char ext_ip[40] = "";
	uint16_t ext;
	int r;

	if (l->proto != PORTMAP_UPNP) {
		memset(l, 0, sizeof(*l));
		r = discover(timeout_ms, l);
		if (r)
			return r;
		ext = internal_port;
	} else {
		ext = l->external_port; /* a renewal: the same mapping again */
	}
	r = add(l, ext, internal_port, lifetime, description);
	if (r == UPNP_ONLY_PERMANENT) {
		lifetime = 0; /* removed on exit all the same */
		r = add(l, ext, internal_port, lifetime, description);
	}
	if (r == UPNP_CONFLICT && l->proto != PORTMAP_UPNP) {
		/* someone holds that external port: let an IGDv2 pick one */
		char e[8], i[8], d[16], got[8] = "";

		snprintf(e, sizeof(e), "%u", ext);
		snprintf(i, sizeof(i), "%u", internal_port);
		snprintf(d, sizeof(d), "%u", lifetime);
		r = UPNP_AddAnyPortMapping(l->control_url, l->service_type, e, i, l->internal_client,
					   description, "UDP", NULL, d, got);
		if (r == UPNPCOMMAND_SUCCESS) {
			unsigned v = 0;

			if (sscanf(got, "%u", &v) != 1 || !v || v > 65535)
				return -EPROTO;
			ext = (uint16_t)v;
		}
	}
	if (r != UPNPCOMMAND_SUCCESS) {
		link_log_verbose("portmap: upnp AddPortMapping: %d %s", r, strupnperror(r));
		return r == 606 || r == 718 || r == 725 || r == 729 ? -EPERM : -EIO;
	}
	if (UPNP_GetExternalIPAddress(l->control_url, l->service_type, ext_ip) != UPNPCOMMAND_SUCCESS ||
	    inet_pton(AF_INET, ext_ip, &l->external_addr) != 1) {
		l->proto = PORTMAP_UPNP;
		l->external_port = ext;
		l->internal_port = internal_port;
		portmap_upnp_unmap(l);
		return -EPROTO;
	}
	l->proto = PORTMAP_UPNP;
	l->external_port = ext;
	l->internal_port = internal_port;
	l->lifetime = lifetime;
	return 0;
}

int portmap_upnp_unmap(const struct portmap_lease *l)
{
	char e[8];

	snprintf(e, sizeof(e), "%u", l->external_port);
	return UPNP_DeletePortMapping(l->control_url, l->service_type, e, "UDP", NULL) ==
		UPNPCOMMAND_SUCCESS ? 0 : -EIO;
}
