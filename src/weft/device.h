/* device.h: what the CLI knows about one WireGuard device - its settings,
 * peers, allowed IPs and counters - as read from a backend (`show`,
 * `showconf`) or as a change to send to one (`set`, `setconf`). The same
 * struct carries both: in a change, flags say which fields it sets (the
 * HAS/REPLACE/REMOVE idea of wireguard-tools), so a change is a minimal diff.
 *
 * Backends: a userspace daemon such as weftd or wireguard-go answering on
 * /var/run/wireguard/IFACE.sock (uapi_client.h), and the Linux module over
 * generic netlink (kernel_device.h). backend.c picks one per interface. */
#ifndef WEFT_CLI_DEVICE_H
#define WEFT_CLI_DEVICE_H

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "crypto/crypto.h"
#include "uapi_client.h"

#define WG_KEY_LEN 32

enum {
	DEV_REPLACE_PEERS = 1u << 0,
	DEV_HAS_PRIVATE_KEY = 1u << 1,
	DEV_HAS_PUBLIC_KEY = 1u << 2,
	DEV_HAS_LISTEN_PORT = 1u << 3,
	DEV_HAS_FWMARK = 1u << 4,
};

enum {
	PEER_REMOVE_ME = 1u << 0,
	PEER_REPLACE_ALLOWEDIPS = 1u << 1,
	PEER_HAS_PUBLIC_KEY = 1u << 2,
	PEER_HAS_PRESHARED_KEY = 1u << 3,
	PEER_HAS_PERSISTENT_KEEPALIVE = 1u << 4,
	PEER_UPDATE_ONLY = 1u << 5, /* change the peer only if it is there already */
};

enum {
	ALLOWEDIP_REMOVE_ME = 1u << 0, /* `set ... allowed-ips -10.0.0.0/8` */
};

struct dev_allowedip {
	uint16_t family; /* AF_INET or AF_INET6 */
	uint8_t cidr;
	uint8_t flags;
	union {
		struct in_addr ip4;
		struct in6_addr ip6;
	};
};

union dev_endpoint {
	struct sockaddr addr; /* sa_family 0 = no endpoint */
	struct sockaddr_in addr4;
	struct sockaddr_in6 addr6;
};

struct dev_peer {
	uint32_t flags;
	uint8_t public_key[WG_KEY_LEN];
	uint8_t preshared_key[WG_KEY_LEN];
	union dev_endpoint endpoint;
	int64_t last_handshake_sec; /* 0 = never */
	int64_t last_handshake_nsec;
	uint64_t rx_bytes, tx_bytes;
	uint16_t persistent_keepalive; /* seconds, 0 = off */
	struct dev_allowedip *allowedips;
	size_t n_allowedips, cap_allowedips;
};

struct device {
	char name[IFNAMSIZ];
	uint32_t flags;
	uint8_t public_key[WG_KEY_LEN];
	uint8_t private_key[WG_KEY_LEN];
	uint32_t fwmark; /* 0 = off */
	uint16_t listen_port;
	struct dev_peer *peers; /* pointers into it die on the next device_add_peer */
	size_t n_peers, cap_peers;
	/* A brief read (device_get_brief): the peers' allowedips point into
	 * this one block (their cap_allowedips is 0, and peer_add_allowedip
	 * refuses them). NULL otherwise. */
	struct dev_allowedip *ip_block;
};

static inline bool device_has_endpoint(const struct dev_peer *peer)
{
	return peer->endpoint.addr.sa_family == AF_INET || peer->endpoint.addr.sa_family == AF_INET6;
}

/* A numeric host (IPv6 with "%scope") in brackets, ':' and a port. */
#define DEV_ENDPOINT_STRLEN (INET6_ADDRSTRLEN + IFNAMSIZ + 16)

/* "1.2.3.4:51820" or "[fd00::1]:51820" (the form wg prints and the UAPI
 * takes): true. On failure out holds the resolver's reason (which `wg show`
 * prints in its place) and the result is false. */
static inline bool dev_endpoint_format(char *out, size_t size, const union dev_endpoint *ep)
{
	char host[INET6_ADDRSTRLEN + IFNAMSIZ + 1], port[8];
	socklen_t len = ep->addr.sa_family == AF_INET ? sizeof(ep->addr4) :
			ep->addr.sa_family == AF_INET6 ? sizeof(ep->addr6) : 0;
	int ret = getnameinfo(&ep->addr, len, host, sizeof(host), port, sizeof(port),
			      NI_DGRAM | NI_NUMERICHOST | NI_NUMERICSERV);

	if (ret) {
		snprintf(out, size, "%s", gai_strerror(ret));
		return false;
	}
	snprintf(out, size, ep->addr.sa_family == AF_INET6 && strchr(host, ':') ? "[%s]:%s" : "%s:%s",
		 host, port);
	return true;
}

/* The address part of an allowed IP into out (INET6_ADDRSTRLEN bytes). */
static inline bool dev_allowedip_addr(char out[INET6_ADDRSTRLEN], const struct dev_allowedip *ip)
{
	if (ip->family != AF_INET && ip->family != AF_INET6)
		return false;
	return inet_ntop(ip->family, ip->family == AF_INET ? (const void *)&ip->ip4 : (const void *)&ip->ip6,
			 out, INET6_ADDRSTRLEN) != NULL;
}

/* Host bits: the address bits past the prefix length. wg warns about them
 * and the backends clear them. */
static inline void dev_allowedip_mask(struct dev_allowedip *ip)
{
	uint8_t *b = ip->family == AF_INET ? (uint8_t *)&ip->ip4 : (uint8_t *)&ip->ip6;
	unsigned bits = ip->family == AF_INET ? 32 : 128;

	for (unsigned i = ip->cidr; i < bits; i++)
		b[i / 8] &= (uint8_t)~(0x80 >> (i % 8));
}

static inline bool dev_allowedip_has_host_bits(const struct dev_allowedip *ip)
{
	struct dev_allowedip masked = *ip;

	dev_allowedip_mask(&masked);
	return memcmp(&masked.ip6, &ip->ip6, sizeof(ip->ip6)) != 0;
}

/* An empty device named name (truncated to IFNAMSIZ - 1), or NULL. */
static inline struct device *device_new(const char *name)
{
	struct device *dev = calloc(1, sizeof(*dev));

	if (dev && name) {
		strncpy(dev->name, name, IFNAMSIZ - 1);
		dev->name[IFNAMSIZ - 1] = '\0';
	}
	return dev;
}

/* Frees dev and everything in it, wiping every key on the way. */
static inline void device_free(struct device *dev)
{
	if (!dev)
		return;
	for (size_t i = 0; i < dev->n_peers; i++) {
		memzero(dev->peers[i].preshared_key, WG_KEY_LEN);
		if (dev->peers[i].cap_allowedips) /* 0: in ip_block, or none */
			free(dev->peers[i].allowedips);
	}
	free(dev->ip_block);
	if (dev->peers)
		memzero(dev->peers, dev->cap_peers * sizeof(*dev->peers));
	free(dev->peers);
	memzero(dev, sizeof(*dev));
	free(dev);
}

/* Appends a zeroed peer and returns it, or NULL (out of memory). Growing
 * moves the array, so the old copy is wiped before it is freed. */
static inline struct dev_peer *device_add_peer(struct device *dev)
{
	if (dev->n_peers == dev->cap_peers) {
		size_t cap = dev->cap_peers ? dev->cap_peers * 2 : 8;
		struct dev_peer *peers;

		if (cap > SIZE_MAX / sizeof(*peers))
			return NULL;
		peers = calloc(cap, sizeof(*peers));
		if (!peers)
			return NULL;
		if (dev->peers) {
			memcpy(peers, dev->peers, dev->n_peers * sizeof(*peers));
			memzero(dev->peers, dev->cap_peers * sizeof(*peers));
			free(dev->peers);
		}
		dev->peers = peers;
		dev->cap_peers = cap;
	}
	return &dev->peers[dev->n_peers++];
}

/* Appends a copy of *ip to peer's list. 0 or -ENOMEM. */
static inline int peer_add_allowedip(struct dev_peer *peer, const struct dev_allowedip *ip)
{
	if (peer->n_allowedips > peer->cap_allowedips)
		return -EINVAL; /* a peer of a brief read: its list is borrowed */
	if (peer->n_allowedips == peer->cap_allowedips) {
		size_t cap = peer->cap_allowedips ? peer->cap_allowedips * 2 : 4;
		struct dev_allowedip *v;

		if (cap > SIZE_MAX / sizeof(*v))
			return -ENOMEM;
		v = realloc(peer->allowedips, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		peer->allowedips = v;
		peer->cap_allowedips = cap;
	}
	peer->allowedips[peer->n_allowedips++] = *ip;
	return 0;
}

/* ---- backends ---- */

static inline void device_list_free(char **names)
{
	if (!names)
		return;
	for (char **n = names; *n; n++)
		free(*n);
	free(names);
}

/* The three below are in backend.c, which picks the backend per interface
 * by wg(8)'s rule. */

/* Interface names, NULL-terminated, in the order wg(8) lists them (kernel
 * links first, then UAPI sockets in directory order). Free with
 * device_list_free. NULL and *err = -errno on failure. */
char **device_list(int *err);

/* 0 and a new *out, or -errno (-ENODEV when nothing answers for iface). */
int device_get(struct device **out, const char *iface);

/* device_get for a caller that needs only the device's keys, listen port
 * and fwmark, and each peer's public key and allowed IPs (`peer add` at
 * 10,000 peers: which keys and addresses are taken). Everything else of a
 * peer is left zero, its preshared key included. From a UAPI daemon the
 * reply is read in one pass without an allocation per peer; the kernel's
 * reply is read whole. Errors as device_get. */
int device_get_brief(struct device **out, const char *iface);

/* Applies the change dev describes to the device named dev->name. */
int device_set(const struct device *dev);

#endif
