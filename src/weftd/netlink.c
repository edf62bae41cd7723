/* netlink.c: link and address events over rtnetlink with libmnl (see
 * netlink.h). */
#include "weftd/netlink.h"

#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "weftd/log.h"

struct link_attrs {
	unsigned mtu;
	bool has_mtu;
};

static int link_attr_cb(const struct nlattr *attr, void *data)
{
	struct link_attrs *la = data;

	if (mnl_attr_get_type(attr) == IFLA_MTU && mnl_attr_validate(attr, MNL_TYPE_U32) >= 0) {
		la->mtu = mnl_attr_get_u32(attr);
		la->has_mtu = true;
	}
	return MNL_CB_OK;
}

struct addr_attrs {
	const struct nlattr *local, *address;
};

static int addr_attr_cb(const struct nlattr *attr, void *data)
{
	struct addr_attrs *aa = data;
	uint16_t type = mnl_attr_get_type(attr);

	if (type == IFA_LOCAL)
		aa->local = attr;
	else if (type == IFA_ADDRESS)
		aa->address = attr;
	return MNL_CB_OK;
}

/* The local address of an address message: IFA_LOCAL where it exists (on a
 * point-to-point link IFA_ADDRESS is the far end), else IFA_ADDRESS. */
static const void *addr_of(const struct nlmsghdr *nlh, int *family)
{
	const struct ifaddrmsg *ifa = mnl_nlmsg_get_payload(nlh);
	struct addr_attrs aa = { 0 };
	const struct nlattr *attr;

	if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*ifa)))
		return NULL;
	if (ifa->ifa_family != AF_INET && ifa->ifa_family != AF_INET6)
		return NULL;
	mnl_attr_parse(nlh, sizeof(*ifa), addr_attr_cb, &aa);
	attr = aa.local ? aa.local : aa.address;
	if (!attr || mnl_attr_get_payload_len(attr) < (ifa->ifa_family == AF_INET ? 4u : 16u))
		return NULL;
	*family = ifa->ifa_family;
	return mnl_attr_get_payload(attr);
}

static int event_cb(const struct nlmsghdr *nlh, void *data)
{
	struct nl_watch *w = data;

	switch (nlh->nlmsg_type) {
	case RTM_NEWLINK:
	case RTM_DELLINK: {
		const struct ifinfomsg *ifm = mnl_nlmsg_get_payload(nlh);
		struct link_attrs la = { 0 };
		if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*ifm)) || ifm->ifi_index != w->ifindex)
			break;
		if (nlh->nlmsg_type == RTM_DELLINK) {
			if (w->ev.link_deleted)
				w->ev.link_deleted(w->ev.ctx);
			break;
		}
		mnl_attr_parse(nlh, sizeof(*ifm), link_attr_cb, &la);
		if (w->ev.link)
			w->ev.link(w->ev.ctx, ifm->ifi_flags & IFF_RUNNING, la.has_mtu ? la.mtu : 0);
		break;
	}
	case RTM_DELADDR: {
		int family;
		const void *a = addr_of(nlh, &family);
		if (a && w->ev.addr_deleted)
			w->ev.addr_deleted(w->ev.ctx, family, a);
		break;
	}
	default:
		break;
	}
	return MNL_CB_OK;
}

int nl_watch_open(struct nl_watch *w, int ifindex, const struct nl_events *ev)
{
	int size = NL_SOCKET_BUFFER;

	memset(w, 0, sizeof(*w));
	w->ifindex = ifindex;
	w->ev = *ev;
	w->buf = malloc(NL_RECV_BUFFER);
	if (!w->buf)
		return -ENOMEM;
	w->nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (!w->nl)
		goto fail;
	if (setsockopt(mnl_socket_get_fd(w->nl), SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0)
		setsockopt(mnl_socket_get_fd(w->nl), SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	if (mnl_socket_bind(w->nl, RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR,
			    MNL_SOCKET_AUTOPID) < 0)
		goto fail;
	return 0;
fail:;
	int r = -errno;
	nl_watch_close(w);
	return r;
}

int nl_watch_fd(const struct nl_watch *w)
{
	return mnl_socket_get_fd(w->nl);
}

int nl_watch_process(struct nl_watch *w)
{
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(w->nl, w->buf, NL_RECV_BUFFER);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			if (errno == ENOBUFS) { /* overrun: events were lost */
				if (w->ev.lost_events)
					w->ev.lost_events(w->ev.ctx);
				continue;
			}
			return -errno;
		}
		mnl_cb_run(w->buf, (size_t)n, 0, 0, event_cb, w);
	}
}

void nl_watch_close(struct nl_watch *w)
{
	if (w->nl)
		mnl_socket_close(w->nl);
	free(w->buf);
	w->nl = NULL;
	w->buf = NULL;
}

/* Sends one request and runs cb over the replies until done. */
static int request(struct nlmsghdr *nlh, mnl_cb_t cb, void *data)
{
	struct mnl_socket *nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
	unsigned portid, seq = (unsigned)time(NULL);
	uint8_t *buf = malloc(NL_RECV_BUFFER);
	int r = -ENOMEM;

	if (!nl || !buf) {
		r = nl ? -ENOMEM : -errno;
		goto out;
	}
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		r = -errno;
		goto out;
	}
	portid = mnl_socket_get_portid(nl);
	nlh->nlmsg_seq = seq;
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
		r = -errno;
		goto out;
	}
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(nl, buf, NL_RECV_BUFFER);
		if (n < 0) {
			r = -errno;
			break;
		}
		r = mnl_cb_run(buf, (size_t)n, seq, portid, cb, data);
		if (r <= MNL_CB_STOP) {
			r = r < 0 ? -errno : 0;
			break;
		}
	}
out:
	if (nl)
		mnl_socket_close(nl);
	free(buf);
	return r;
}

struct link_query {
	bool *up;
	unsigned *mtu;
};

static int link_query_cb(const struct nlmsghdr *nlh, void *data)
{
	struct link_query *q = data;
	const struct ifinfomsg *ifm = mnl_nlmsg_get_payload(nlh);
	struct link_attrs la = { 0 };

	if (nlh->nlmsg_type != RTM_NEWLINK)
		return MNL_CB_OK;
	mnl_attr_parse(nlh, sizeof(*ifm), link_attr_cb, &la);
	*q->up = ifm->ifi_flags & IFF_RUNNING;
	*q->mtu = la.has_mtu ? la.mtu : 0;
	return MNL_CB_STOP; /* a single reply, not a dump */
}

int nl_link_state(int ifindex, bool *up, unsigned *mtu)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct ifinfomsg *ifm;
	struct link_query q = { up, mtu };

	nlh->nlmsg_type = RTM_GETLINK;
	nlh->nlmsg_flags = NLM_F_REQUEST;
	ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));
	ifm->ifi_family = AF_UNSPEC;
	ifm->ifi_index = ifindex;
	return request(nlh, link_query_cb, &q);
}

struct addr_query {
	void (*fn)(void *ctx, int family, const void *addr);
	void *ctx;
};

static int addr_query_cb(const struct nlmsghdr *nlh, void *data)
{
	struct addr_query *q = data;
	int family;
	const void *a;

	if (nlh->nlmsg_type == RTM_NEWADDR && (a = addr_of(nlh, &family)))
		q->fn(q->ctx, family, a);
	return MNL_CB_OK;
}

int nl_addr_dump(void (*fn)(void *ctx, int family, const void *addr), void *ctx)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct ifaddrmsg *ifa;
	struct addr_query q = { fn, ctx };

	nlh->nlmsg_type = RTM_GETADDR;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	ifa->ifa_family = AF_UNSPEC;
	return request(nlh, addr_query_cb, &q);
}
