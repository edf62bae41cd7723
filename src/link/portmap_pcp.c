/* portmap_pcp.c: PCP (RFC 6887), its MAP opcode for one UDP port, written
 * here (libnatpmp speaks only NAT-PMP, PCP's predecessor): the request and
 * answer codecs, pure and unit-tested, and one exchange with the default
 * gateway on port 5351, which NAT-PMP and PCP share. A NAT-PMP-only
 * gateway answers version 2 with "unsupported version" (RFC 6887 section
 * 9): that is -EOPNOTSUPP, and NAT-PMP is asked next. */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "link/portmap.h"
#include "util/random.h"

/* RFC 6887 section 7.4: result codes we tell apart */
enum {
	PCP_SUCCESS = 0,
	PCP_UNSUPP_VERSION = 1,
	PCP_NOT_AUTHORIZED = 2,
	PCP_UNSUPP_OPCODE = 4,
	PCP_NETWORK_FAILURE = 7,
	PCP_NO_RESOURCES = 8,
	PCP_UNSUPP_PROTOCOL = 9,
	PCP_USER_EX_QUOTA = 10,
	PCP_CANNOT_PROVIDE_EXTERNAL = 11,
	PCP_ADDRESS_MISMATCH = 12,
};

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void put32(uint8_t *p, uint32_t v) { put16(p, (uint16_t)(v >> 16)); put16(p + 2, (uint16_t)v); }
static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t get32(const uint8_t *p) { return (uint32_t)get16(p) << 16 | get16(p + 2); }

/* An IPv4 address as PCP writes every address: IPv4-mapped IPv6. */
static void put_v4(uint8_t p[16], struct in_addr a)
{
	memset(p, 0, 10);
	p[10] = p[11] = 0xff;
	memcpy(p + 12, &a, 4);
}

size_t pcp_map_request(uint8_t out[PCP_MAP_LEN], const uint8_t nonce[PCP_NONCE_LEN], struct in_addr client,
		       uint16_t internal_port, uint16_t external_port, uint32_t lifetime)
{
	memset(out, 0, PCP_MAP_LEN);
	out[0] = PCP_VERSION;
	out[1] = PCP_OP_MAP;          /* R = 0: a request */
	put32(out + 4, lifetime);
	put_v4(out + 8, client);
	memcpy(out + 24, nonce, PCP_NONCE_LEN);
	out[36] = IPPROTO_UDP;
	put16(out + 40, internal_port);
	put16(out + 42, external_port); /* a suggestion; 0: any */
	put_v4(out + 44, (struct in_addr){ 0 }); /* ::ffff:0.0.0.0: any IPv4 address */
	return PCP_MAP_LEN;
}

int pcp_map_response(const uint8_t *pkt, size_t len, const uint8_t nonce[PCP_NONCE_LEN], uint16_t internal_port,
		     struct portmap_lease *out)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	/* a NAT-PMP server's answer to version 2 (RFC 6886 section 3.5) */
	if (len >= 4 && pkt[0] == 0)
		return get16(pkt + 2) == PCP_UNSUPP_VERSION ? -EOPNOTSUPP : -EPROTO;
	if (len < 4 || pkt[0] != PCP_VERSION || pkt[1] != (0x80 | PCP_OP_MAP))
		return -EPROTO;
	switch (pkt[3]) {
	case PCP_SUCCESS:
		break;
	case PCP_UNSUPP_VERSION:
	case PCP_UNSUPP_OPCODE:
	case PCP_UNSUPP_PROTOCOL:
		return -EOPNOTSUPP;
	case PCP_NOT_AUTHORIZED:
	case PCP_CANNOT_PROVIDE_EXTERNAL:
	case PCP_ADDRESS_MISMATCH:
		return -EPERM;
	case PCP_NO_RESOURCES:
	case PCP_USER_EX_QUOTA:
		return -ENOSPC;
	case PCP_NETWORK_FAILURE:
		return -ENETDOWN;
	default:
		return -EIO;
	}
	/* a success answers exactly our mapping, or it is not ours */
	if (len < PCP_MAP_LEN || memcmp(pkt + 24, nonce, PCP_NONCE_LEN) || pkt[36] != IPPROTO_UDP ||
	    get16(pkt + 40) != internal_port || memcmp(pkt + 44, mapped, sizeof(mapped)))
		return -EPROTO;
	out->lifetime = get32(pkt + 4);
	out->external_port = get16(pkt + 42);
	memcpy(&out->external_addr, pkt + 56, 4);
	if (!out->external_port || !out->lifetime)
		return -EPERM;
	return 0;
}

/* The default route's gateway of this network namespace, from
 * /proc/net/route (hexadecimal, in network order). */
static int default_gateway(struct in_addr *gw)
{
	char line[256];
	FILE *f = fopen("/proc/net/route", "re");
	int ret = -ENETUNREACH;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char ifname[64];
		unsigned dest, via, flags;

		if (sscanf(line, "%63s %x %x %x", ifname, &dest, &via, &flags) == 4 && dest == 0 &&
		    (flags & 0x2 /* RTF_GATEWAY */)) {
			gw->s_addr = via;
			ret = 0;
			break;
		}
	}
	fclose(f);
	return ret;
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One exchange: sends the request (again at 250 ms, doubling) until an
 * answer parses or the deadline passes. */
static int exchange(const char *gateway, const uint8_t nonce[PCP_NONCE_LEN], uint16_t internal_port,
		    uint16_t external_port, uint32_t lifetime, int timeout_ms, struct portmap_lease *out)
{
	struct sockaddr_in gw = { .sin_family = AF_INET, .sin_port = htons(PCP_PORT) }, me;
	socklen_t ml = sizeof(me);
	uint8_t req[PCP_MAP_LEN], buf[1100];
	int64_t deadline = mono_ms() + timeout_ms, next = 0, gap = 250;
	int fd, ret;

	if (gateway) {
		if (inet_pton(AF_INET, gateway, &gw.sin_addr) != 1)
			return -EINVAL;
	} else if ((ret = default_gateway(&gw.sin_addr))) {
		return ret;
	}
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* connected: only the gateway's answers get in, and the route tells
	 * the client address PCP wants in the request */
	if (connect(fd, (struct sockaddr *)&gw, sizeof(gw)) || getsockname(fd, (struct sockaddr *)&me, &ml)) {
		ret = -errno;
		goto out;
	}
	pcp_map_request(req, nonce, me.sin_addr, internal_port, external_port, lifetime);
	ret = -ETIMEDOUT;
	for (;;) {
		int64_t now = mono_ms();

		if (now >= deadline)
			break;
		if (now >= next) {
			if (send(fd, req, sizeof(req), 0) < 0 && errno != ECONNREFUSED) {
				ret = -errno;
				break;
			}
			next = now + gap;
			gap *= 2;
		}
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int64_t wait = (next < deadline ? next : deadline) - now;

		if (poll(&p, 1, (int)wait) <= 0)
			continue;
		ssize_t n = recv(fd, buf, sizeof(buf), 0);

		if (n < 0) {
			/* an ICMP port unreachable: nobody serves PCP there */
			ret = errno == ECONNREFUSED ? -EOPNOTSUPP : -errno;
			break;
		}
		ret = pcp_map_response(buf, (size_t)n, nonce, internal_port, out);
		if (ret != -EPROTO)
			break; /* an answer: ours, or the gateway's no */
	}
out:
	close(fd);
	return ret;
}

int portmap_pcp_map(const char *gateway, uint16_t internal_port, uint32_t lifetime, int timeout_ms,
		    struct portmap_lease *out)
{
	struct portmap_lease l = *out;
	int ret;

	/* a renewal uses the mapping's nonce and asks for its port (RFC 6887
	 * section 11.2.1); a new mapping gets a fresh nonce */
	if (l.proto != PORTMAP_PCP) {
		memset(&l, 0, sizeof(l));
		if (!random_fill(l.pcp_nonce, sizeof(l.pcp_nonce)))
			return -EIO;
		l.external_port = internal_port;
	}
	ret = exchange(gateway, l.pcp_nonce, internal_port, l.external_port, lifetime, timeout_ms, &l);
	if (ret)
		return ret;
	l.proto = PORTMAP_PCP;
	l.internal_port = internal_port;
	*out = l;
	return 0;
}

int portmap_pcp_unmap(const char *gateway, const struct portmap_lease *lease, int timeout_ms)
{
	struct portmap_lease l = *lease;
	int ret;

	/* RFC 6887 section 15: lifetime 0 deletes; the answer says lifetime 0,
	 * which the parser calls a refusal */
	ret = exchange(gateway, lease->pcp_nonce, lease->internal_port, 0, 0, timeout_ms, &l);
	return ret == -EPERM ? 0 : ret;
}
