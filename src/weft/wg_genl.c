/* wg_genl.c: building and parsing the generic netlink messages of the
 * Linux module's "wireguard" family (see wg_genl.h), with libmnl. Every
 * attribute read is checked for its exact length before it is used; a reply
 * that breaks a rule is -EPROTO, never a partial device passed off as
 * whole. */
#include "wg_genl.h"

#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/genetlink.h>
#include <linux/time_types.h>
#include <linux/wireguard.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "device.h"

/* Removing one allowed IP arrived in later modules than the header this
 * builds against; the values are the module's. A module without them
 * refuses the attribute (-EINVAL), as wg's users see too. */
#ifndef WGALLOWEDIP_F_REMOVE_ME
#define WGALLOWEDIP_A_FLAGS 4
#define WGALLOWEDIP_F_REMOVE_ME (1U << 0)
#endif

static struct nlmsghdr *put_header(void *buf, uint16_t family, uint16_t flags, uint8_t cmd)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct genlmsghdr *genl;

	nlh->nlmsg_type = family;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	genl = mnl_nlmsg_put_extra_header(nlh, sizeof(*genl));
	genl->cmd = cmd;
	genl->version = WG_GENL_VERSION;
	return nlh;
}

int wg_genl_build_get(void *buf, size_t size, uint16_t family, const char *iface)
{
	struct nlmsghdr *nlh;

	if (!*iface || strlen(iface) >= IFNAMSIZ)
		return -ENAMETOOLONG;
	if (size < MNL_NLMSG_HDRLEN + MNL_ALIGN(sizeof(struct genlmsghdr)))
		return -EMSGSIZE;
	nlh = put_header(buf, family, NLM_F_DUMP, WG_CMD_GET_DEVICE);
	if (!mnl_attr_put_strz_check(nlh, size, WGDEVICE_A_IFNAME, iface))
		return -EMSGSIZE;
	return (int)nlh->nlmsg_len;
}

/* ---- set ---- */

static size_t endpoint_len(const union dev_endpoint *ep)
{
	return ep->addr.sa_family == AF_INET ? sizeof(ep->addr4) :
	       ep->addr.sa_family == AF_INET6 ? sizeof(ep->addr6) : 0;
}

/* The device's own settings, first message only. */
static bool put_device_settings(struct nlmsghdr *nlh, size_t size, const struct device *dev)
{
	if ((dev->flags & DEV_HAS_PRIVATE_KEY) &&
	    !mnl_attr_put_check(nlh, size, WGDEVICE_A_PRIVATE_KEY, WG_KEY_LEN, dev->private_key))
		return false;
	if ((dev->flags & DEV_HAS_LISTEN_PORT) &&
	    !mnl_attr_put_u16_check(nlh, size, WGDEVICE_A_LISTEN_PORT, dev->listen_port))
		return false;
	if ((dev->flags & DEV_HAS_FWMARK) && !mnl_attr_put_u32_check(nlh, size, WGDEVICE_A_FWMARK, dev->fwmark))
		return false;
	if ((dev->flags & DEV_REPLACE_PEERS) &&
	    !mnl_attr_put_u32_check(nlh, size, WGDEVICE_A_FLAGS, WGDEVICE_F_REPLACE_PEERS))
		return false;
	return true;
}

/* A peer's settings after its key; a continued peer only says again that
 * it is update-only (else the module would create it from the
 * continuation). */
static bool put_peer_settings(struct nlmsghdr *nlh, size_t size, const struct dev_peer *p, bool continued)
{
	uint32_t flags = (p->flags & PEER_UPDATE_ONLY ? WGPEER_F_UPDATE_ONLY : 0);
	size_t eplen = endpoint_len(&p->endpoint);

	if (!continued) {
		flags |= (p->flags & PEER_REMOVE_ME ? WGPEER_F_REMOVE_ME : 0) |
			 (p->flags & PEER_REPLACE_ALLOWEDIPS ? WGPEER_F_REPLACE_ALLOWEDIPS : 0);
	}
	if (flags && !mnl_attr_put_u32_check(nlh, size, WGPEER_A_FLAGS, flags))
		return false;
	if (continued || (p->flags & PEER_REMOVE_ME))
		return true;
	if ((p->flags & PEER_HAS_PRESHARED_KEY) &&
	    !mnl_attr_put_check(nlh, size, WGPEER_A_PRESHARED_KEY, WG_KEY_LEN, p->preshared_key))
		return false;
	if (eplen && !mnl_attr_put_check(nlh, size, WGPEER_A_ENDPOINT, eplen, &p->endpoint))
		return false;
	if ((p->flags & PEER_HAS_PERSISTENT_KEEPALIVE) &&
	    !mnl_attr_put_u16_check(nlh, size, WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL, p->persistent_keepalive))
		return false;
	return true;
}

static bool put_allowedip(struct nlmsghdr *nlh, size_t size, const struct dev_allowedip *ip)
{
	struct nlattr *nest = mnl_attr_nest_start_check(nlh, size, 0);
	bool ok = nest &&
		  mnl_attr_put_u16_check(nlh, size, WGALLOWEDIP_A_FAMILY, ip->family) &&
		  mnl_attr_put_check(nlh, size, WGALLOWEDIP_A_IPADDR, ip->family == AF_INET ? 4 : 16,
				     ip->family == AF_INET ? (const void *)&ip->ip4 : (const void *)&ip->ip6) &&
		  mnl_attr_put_u8_check(nlh, size, WGALLOWEDIP_A_CIDR_MASK, ip->cidr) &&
		  (!(ip->flags & ALLOWEDIP_REMOVE_ME) ||
		   mnl_attr_put_u32_check(nlh, size, WGALLOWEDIP_A_FLAGS, WGALLOWEDIP_F_REMOVE_ME));

	if (nest && !ok)
		mnl_attr_nest_cancel(nlh, nest);
	else if (ok)
		mnl_attr_nest_end(nlh, nest);
	return ok;
}

/* Puts as much of peer pos->peer as fits, from pos->allowedip on. Returns
 * true when all of it is in (pos moves to the next peer), false when the
 * message is full (pos says where the peer goes on; nothing of it is in
 * the message when not even its key and one allowed IP fitted). */
static bool put_peer(struct nlmsghdr *nlh, size_t size, const struct dev_peer *p, struct wg_genl_set_pos *pos)
{
	struct nlattr *peer = mnl_attr_nest_start_check(nlh, size, 0), *ips;
	bool continued = pos->allowedip > 0;
	size_t first = pos->allowedip;

	if (!peer)
		return false;
	if (!mnl_attr_put_check(nlh, size, WGPEER_A_PUBLIC_KEY, WG_KEY_LEN, p->public_key) ||
	    !put_peer_settings(nlh, size, p, continued))
		goto cancel;
	if (!(p->flags & PEER_REMOVE_ME) && pos->allowedip < p->n_allowedips) {
		ips = mnl_attr_nest_start_check(nlh, size, WGPEER_A_ALLOWEDIPS);
		if (!ips)
			goto cancel;
		while (pos->allowedip < p->n_allowedips && put_allowedip(nlh, size, &p->allowedips[pos->allowedip]))
			pos->allowedip++;
		if (pos->allowedip == first) {
			mnl_attr_nest_cancel(nlh, ips);
			goto cancel;
		}
		mnl_attr_nest_end(nlh, ips);
		if (pos->allowedip < p->n_allowedips) {
			mnl_attr_nest_end(nlh, peer);
			return false;
		}
	}
	mnl_attr_nest_end(nlh, peer);
	pos->peer++;
	pos->allowedip = 0;
	return true;
cancel:
	mnl_attr_nest_cancel(nlh, peer);
	return false;
}

int wg_genl_build_set(void *buf, size_t size, uint16_t family, const struct device *dev,
		      struct wg_genl_set_pos *pos)
{
	struct nlmsghdr *nlh;
	struct nlattr *peers;
	bool first = !pos->started;
	uint32_t empty_len;

	if (pos->started && pos->peer >= dev->n_peers)
		return 0;
	if (size < MNL_NLMSG_HDRLEN + MNL_ALIGN(sizeof(struct genlmsghdr)))
		return -EMSGSIZE;
	nlh = put_header(buf, family, NLM_F_ACK, WG_CMD_SET_DEVICE);
	if (!mnl_attr_put_strz_check(nlh, size, WGDEVICE_A_IFNAME, dev->name) ||
	    (first && !put_device_settings(nlh, size, dev)))
		return -EMSGSIZE;
	pos->started = true;
	if (pos->peer >= dev->n_peers)
		return (int)nlh->nlmsg_len;
	peers = mnl_attr_nest_start_check(nlh, size, WGDEVICE_A_PEERS);
	if (!peers)
		return first ? (int)nlh->nlmsg_len : -EMSGSIZE;
	empty_len = nlh->nlmsg_len;
	while (pos->peer < dev->n_peers && put_peer(nlh, size, &dev->peers[pos->peer], pos))
		;
	if (nlh->nlmsg_len == empty_len) {
		/* Not one peer fitted. */
		mnl_attr_nest_cancel(nlh, peers);
		return first ? (int)nlh->nlmsg_len : -EMSGSIZE;
	}
	mnl_attr_nest_end(nlh, peers);
	return (int)nlh->nlmsg_len;
}

/* ---- parse ---- */

/* Sets *err and stops the walk: the attribute callbacks' way out. */
static int fail(int *err, int e)
{
	*err = e;
	return MNL_CB_ERROR;
}

struct allowedip_parse {
	struct dev_allowedip ip;
	bool has_family, has_cidr;
	uint16_t addr_len; /* 0 = none yet */
	int err;
};

static int allowedip_attr_cb(const struct nlattr *attr, void *data)
{
	struct allowedip_parse *a = data;
	uint16_t len = mnl_attr_get_payload_len(attr);

	switch (mnl_attr_get_type(attr)) {
	case WGALLOWEDIP_A_FAMILY:
		if (len != sizeof(uint16_t))
			return fail(&a->err, -EPROTO);
		a->ip.family = mnl_attr_get_u16(attr);
		a->has_family = true;
		break;
	case WGALLOWEDIP_A_IPADDR:
		if (len != 4 && len != 16)
			return fail(&a->err, -EPROTO);
		memset(&a->ip.ip6, 0, sizeof(a->ip.ip6));
		memcpy(&a->ip.ip6, mnl_attr_get_payload(attr), len);
		a->addr_len = len; /* checked against the family below */
		break;
	case WGALLOWEDIP_A_CIDR_MASK:
		if (len != sizeof(uint8_t))
			return fail(&a->err, -EPROTO);
		a->ip.cidr = mnl_attr_get_u8(attr);
		a->has_cidr = true;
		break;
	case WGALLOWEDIP_A_FLAGS:
		if (len != sizeof(uint32_t))
			return fail(&a->err, -EPROTO);
		if (mnl_attr_get_u32(attr) & WGALLOWEDIP_F_REMOVE_ME)
			a->ip.flags |= ALLOWEDIP_REMOVE_ME;
		break;
	}
	return MNL_CB_OK;
}

struct peer_parse {
	struct dev_peer peer; /* its own allowed IPs until it joins the device */
	bool has_key;
	int err;
};

static int allowedips_cb(const struct nlattr *attr, void *data)
{
	struct peer_parse *pp = data;
	struct allowedip_parse a = { .err = -EPROTO };
	int ret;

	if (mnl_attr_get_payload_len(attr) < MNL_ATTR_HDRLEN ||
	    mnl_attr_parse_nested(attr, allowedip_attr_cb, &a) < 0)
		return fail(&pp->err, a.err);
	if (!a.has_family || !a.has_cidr ||
	    !((a.ip.family == AF_INET && a.addr_len == 4 && a.ip.cidr <= 32) ||
	      (a.ip.family == AF_INET6 && a.addr_len == 16 && a.ip.cidr <= 128)))
		return fail(&pp->err, -EPROTO);
	ret = peer_add_allowedip(&pp->peer, &a.ip);
	return ret < 0 ? fail(&pp->err, ret) : MNL_CB_OK;
}

static int peer_attr_cb(const struct nlattr *attr, void *data)
{
	struct peer_parse *pp = data;
	struct dev_peer *p = &pp->peer;
	uint16_t len = mnl_attr_get_payload_len(attr);

	switch (mnl_attr_get_type(attr)) {
	case WGPEER_A_PUBLIC_KEY:
		if (len != WG_KEY_LEN)
			return fail(&pp->err, -EPROTO);
		memcpy(p->public_key, mnl_attr_get_payload(attr), WG_KEY_LEN);
		p->flags |= PEER_HAS_PUBLIC_KEY;
		pp->has_key = true;
		break;
	case WGPEER_A_PRESHARED_KEY:
		if (len != WG_KEY_LEN)
			return fail(&pp->err, -EPROTO);
		memcpy(p->preshared_key, mnl_attr_get_payload(attr), WG_KEY_LEN);
		/* The module sends zeros for "none", as the UAPI does. */
		if (!is_zero_ct(p->preshared_key, WG_KEY_LEN))
			p->flags |= PEER_HAS_PRESHARED_KEY;
		break;
	case WGPEER_A_FLAGS:
		if (len != sizeof(uint32_t))
			return fail(&pp->err, -EPROTO);
		{
			uint32_t f = mnl_attr_get_u32(attr);

			p->flags |= (f & WGPEER_F_REMOVE_ME ? PEER_REMOVE_ME : 0) |
				    (f & WGPEER_F_REPLACE_ALLOWEDIPS ? PEER_REPLACE_ALLOWEDIPS : 0) |
				    (f & WGPEER_F_UPDATE_ONLY ? PEER_UPDATE_ONLY : 0);
		}
		break;
	case WGPEER_A_ENDPOINT:
		memset(&p->endpoint, 0, sizeof(p->endpoint));
		if (len == sizeof(p->endpoint.addr4) || len == sizeof(p->endpoint.addr6))
			memcpy(&p->endpoint, mnl_attr_get_payload(attr), len);
		if (!((len == sizeof(p->endpoint.addr4) && p->endpoint.addr.sa_family == AF_INET) ||
		      (len == sizeof(p->endpoint.addr6) && p->endpoint.addr.sa_family == AF_INET6)))
			return fail(&pp->err, -EPROTO);
		break;
	case WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL:
		if (len != sizeof(uint16_t))
			return fail(&pp->err, -EPROTO);
		p->persistent_keepalive = mnl_attr_get_u16(attr);
		p->flags |= PEER_HAS_PERSISTENT_KEEPALIVE;
		break;
	case WGPEER_A_LAST_HANDSHAKE_TIME: {
		struct __kernel_timespec ts;

		if (len != sizeof(ts))
			return fail(&pp->err, -EPROTO);
		memcpy(&ts, mnl_attr_get_payload(attr), sizeof(ts));
		p->last_handshake_sec = ts.tv_sec;
		p->last_handshake_nsec = ts.tv_nsec;
		break;
	}
	case WGPEER_A_RX_BYTES:
	case WGPEER_A_TX_BYTES:
		if (len != sizeof(uint64_t))
			return fail(&pp->err, -EPROTO);
		*(mnl_attr_get_type(attr) == WGPEER_A_RX_BYTES ? &p->rx_bytes : &p->tx_bytes) =
			mnl_attr_get_u64(attr);
		break;
	case WGPEER_A_ALLOWEDIPS:
		if (len && mnl_attr_parse_nested(attr, allowedips_cb, pp) < 0)
			return fail(&pp->err, pp->err ? pp->err : -EPROTO);
		break;
	}
	return MNL_CB_OK;
}

static void peer_parse_wipe(struct peer_parse *pp)
{
	free(pp->peer.allowedips);
	memzero(pp, sizeof(*pp));
}

/* The parsed peer joins dev: as a new peer, or as the rest of the last
 * one when it has the same key (a peer split across messages). */
static int peer_join(struct device *dev, struct peer_parse *pp)
{
	struct dev_peer *last = dev->n_peers ? &dev->peers[dev->n_peers - 1] : NULL, *p;

	if (last && !memcmp(last->public_key, pp->peer.public_key, WG_KEY_LEN)) {
		for (size_t i = 0; i < pp->peer.n_allowedips; i++) {
			int ret = peer_add_allowedip(last, &pp->peer.allowedips[i]);

			if (ret < 0)
				return ret;
		}
		return 0;
	}
	if (dev->n_peers >= WG_GENL_MAX_PEERS)
		return -E2BIG;
	p = device_add_peer(dev);
	if (!p)
		return -ENOMEM;
	*p = pp->peer;
	pp->peer.allowedips = NULL; /* now the device's */
	return 0;
}

struct device_parse {
	struct device *dev;
	int err;
};

static int peers_cb(const struct nlattr *attr, void *data)
{
	struct device_parse *dp = data;
	struct peer_parse pp = { .err = -EPROTO };
	int ret;

	if (mnl_attr_get_payload_len(attr) < MNL_ATTR_HDRLEN ||
	    mnl_attr_parse_nested(attr, peer_attr_cb, &pp) < 0 || !pp.has_key) {
		ret = pp.err;
		peer_parse_wipe(&pp);
		return fail(&dp->err, ret);
	}
	ret = peer_join(dp->dev, &pp);
	peer_parse_wipe(&pp);
	return ret < 0 ? fail(&dp->err, ret) : MNL_CB_OK;
}

static int device_attr_cb(const struct nlattr *attr, void *data)
{
	struct device_parse *dp = data;
	struct device *dev = dp->dev;
	uint16_t len = mnl_attr_get_payload_len(attr);

	switch (mnl_attr_get_type(attr)) {
	case WGDEVICE_A_IFNAME:
		if (mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) < 0 || len > IFNAMSIZ)
			return fail(&dp->err, -EPROTO);
		memcpy(dev->name, mnl_attr_get_str(attr), len);
		break;
	case WGDEVICE_A_PRIVATE_KEY:
	case WGDEVICE_A_PUBLIC_KEY: {
		bool priv = mnl_attr_get_type(attr) == WGDEVICE_A_PRIVATE_KEY;
		uint8_t *key = priv ? dev->private_key : dev->public_key;

		if (len != WG_KEY_LEN)
			return fail(&dp->err, -EPROTO);
		memcpy(key, mnl_attr_get_payload(attr), WG_KEY_LEN);
		if (!is_zero_ct(key, WG_KEY_LEN))
			dev->flags |= priv ? DEV_HAS_PRIVATE_KEY : DEV_HAS_PUBLIC_KEY;
		break;
	}
	case WGDEVICE_A_LISTEN_PORT:
		if (len != sizeof(uint16_t))
			return fail(&dp->err, -EPROTO);
		dev->listen_port = mnl_attr_get_u16(attr);
		dev->flags |= DEV_HAS_LISTEN_PORT;
		break;
	case WGDEVICE_A_FWMARK:
		if (len != sizeof(uint32_t))
			return fail(&dp->err, -EPROTO);
		dev->fwmark = mnl_attr_get_u32(attr);
		dev->flags |= DEV_HAS_FWMARK;
		break;
	case WGDEVICE_A_FLAGS:
		if (len != sizeof(uint32_t))
			return fail(&dp->err, -EPROTO);
		if (mnl_attr_get_u32(attr) & WGDEVICE_F_REPLACE_PEERS)
			dev->flags |= DEV_REPLACE_PEERS;
		break;
	case WGDEVICE_A_PEERS:
		if (len && mnl_attr_parse_nested(attr, peers_cb, dp) < 0)
			return fail(&dp->err, dp->err ? dp->err : -EPROTO);
		break;
	}
	return MNL_CB_OK;
}

int wg_genl_parse_msg(const struct nlmsghdr *nlh, void *data)
{
	struct wg_genl_parse_ctx *ctx = data;
	struct device_parse dp = { .dev = ctx->dev, .err = -EPROTO };

	if (nlh->nlmsg_type != ctx->family || mnl_nlmsg_get_payload_len(nlh) < sizeof(struct genlmsghdr)) {
		errno = EPROTO;
		return MNL_CB_ERROR;
	}
	if (mnl_attr_parse(nlh, sizeof(struct genlmsghdr), device_attr_cb, &dp) < 0) {
		errno = -dp.err;
		return MNL_CB_ERROR;
	}
	return MNL_CB_OK;
}

int wg_genl_parse(const void *buf, size_t len, uint16_t family, struct device *dev)
{
	struct wg_genl_parse_ctx ctx = { .family = family, .dev = dev };
	size_t framed = 0;
	int ret;

	/* libmnl's walk compares each message's length as an int: one over
	 * INT_MAX would lead it out of the buffer. Only whole messages that
	 * lie inside it go in (the kernel never sends others). */
	while (len - framed >= sizeof(struct nlmsghdr)) {
		uint32_t msg_len;

		memcpy(&msg_len, (const char *)buf + framed, sizeof(msg_len));
		if (msg_len < sizeof(struct nlmsghdr) || msg_len > len - framed)
			break;
		framed += MNL_ALIGN(msg_len) < len - framed ? MNL_ALIGN(msg_len) : len - framed;
	}
	errno = 0;
	ret = mnl_cb_run(buf, framed, 0, 0, wg_genl_parse_msg, &ctx);
	if (ret == MNL_CB_ERROR) /* an error message's code is -errno, or the reply is broken */
		return errno > 0 && errno < 4096 ? -errno : -EPROTO;
	return ret == MNL_CB_STOP ? 0 : 1;
}
