/* netmon.c: address and route events from rtnetlink (netmon.h). */
#include "link/netmon.h"

#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

/* Messages handled per netmon_read: a flood of route changes (a BGP
 * daemon's) must not starve the loop; the rest wait for the next round. */
#define NETMON_READ_BUDGET 64

static int addr_cb(const struct nlmsghdr *nlh, void *data)
{
	struct netmon *nm = data;
	const struct ifaddrmsg *ifa;
	const struct nlattr *attr;
	const void *local = NULL, *address = NULL;
	struct local_addr a = { 0 };
	uint32_t flags;

	if (nlh->nlmsg_type == RTM_NEWROUTE || nlh->nlmsg_type == RTM_DELROUTE) {
		const struct rtmsg *rt = mnl_nlmsg_get_payload(nlh);
		uint32_t oif = 0;

		mnl_attr_for_each(attr, nlh, sizeof(*rt))
			if (mnl_attr_get_type(attr) == RTA_OIF && mnl_attr_get_payload_len(attr) >= 4)
				oif = mnl_attr_get_u32(attr);
		/* the local table follows the addresses; the tunnel's own routes
		 * are no way out */
		if (rt->rtm_table != RT_TABLE_LOCAL && (!oif || (int)oif != nm->skip_ifindex))
			nm->route_changed = true;
		return MNL_CB_OK;
	}
	if (nlh->nlmsg_type != RTM_NEWADDR && nlh->nlmsg_type != RTM_DELADDR)
		return MNL_CB_OK;
	ifa = mnl_nlmsg_get_payload(nlh);
	flags = ifa->ifa_flags;
	mnl_attr_for_each(attr, nlh, sizeof(*ifa)) {
		switch (mnl_attr_get_type(attr)) {
		case IFA_LOCAL:
			local = mnl_attr_get_payload(attr);
			break;
		case IFA_ADDRESS:
			address = mnl_attr_get_payload(attr);
			break;
		case IFA_FLAGS:
			if (mnl_attr_get_payload_len(attr) >= 4)
				flags = mnl_attr_get_u32(attr);
			break;
		}
	}
	if (!local)
		local = address;
	if (!local || (int)ifa->ifa_index == nm->skip_ifindex)
		return MNL_CB_OK;
	a.ifindex = (int)ifa->ifa_index;
	a.prefix_len = ifa->ifa_prefixlen;
	if (ifa->ifa_family == AF_INET) {
		a.addr.in4.sin_family = AF_INET;
		memcpy(&a.addr.in4.sin_addr, local, 4);
	} else if (ifa->ifa_family == AF_INET6) {
		a.addr.in6.sin6_family = AF_INET6;
		memcpy(&a.addr.in6.sin6_addr, local, 16);
		/* link-local addresses are no candidates and come and go with
		 * every link: no reason to announce again */
		if (IN6_IS_ADDR_LINKLOCAL(&a.addr.in6.sin6_addr))
			return MNL_CB_OK;
	} else {
		return MNL_CB_OK;
	}
	/* an IPv6 address still in duplicate address detection cannot be
	 * used yet; its NEWADDR without the flag comes later */
	bool gone = nlh->nlmsg_type == RTM_DELADDR || (flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED));
	local_addrs_update(&nm->addrs, &a, gone);
	return MNL_CB_OK;
}

static int dump(struct netmon *nm)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct mnl_socket *s = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
	struct nlmsghdr *nlh;
	struct rtgenmsg *g;
	uint32_t seq = (uint32_t)time(NULL), portid;
	ssize_t n;
	int ret = 0;

	if (!s)
		return -errno;
	if (mnl_socket_bind(s, 0, MNL_SOCKET_AUTOPID) < 0) {
		ret = -errno;
		goto out;
	}
	portid = mnl_socket_get_portid(s);
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_GETADDR;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = seq;
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->rtgen_family = AF_UNSPEC;
	if (mnl_socket_sendto(s, nlh, nlh->nlmsg_len) < 0) {
		ret = -errno;
		goto out;
	}
	memset(&nm->addrs, 0, sizeof(nm->addrs));
	while ((n = mnl_socket_recvfrom(s, buf, sizeof(buf))) > 0) {
		int r = mnl_cb_run(buf, (size_t)n, seq, portid, addr_cb, nm);
		if (r <= MNL_CB_STOP) {
			ret = r < 0 ? -errno : 0;
			break;
		}
	}
	if (n < 0)
		ret = -errno;
out:
	mnl_socket_close(s);
	return ret;
}

int netmon_open(struct netmon *nm, int skip_ifindex)
{
	unsigned groups = RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR | RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_ROUTE;
	int ret;

	memset(nm, 0, sizeof(*nm));
	nm->skip_ifindex = skip_ifindex;
	nm->sock = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (!nm->sock)
		return -errno;
	/* subscribe before the dump, so no change falls between the two */
	if (mnl_socket_bind(nm->sock, groups, MNL_SOCKET_AUTOPID) < 0) {
		ret = -errno;
		netmon_close(nm);
		return ret;
	}
	ret = dump(nm);
	if (ret)
		netmon_close(nm);
	return ret;
}

int netmon_fd(const struct netmon *nm)
{
	return nm->sock ? mnl_socket_get_fd(nm->sock) : -1;
}

int netmon_read(struct netmon *nm)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];

	for (int i = 0; i < NETMON_READ_BUDGET; i++) {
		ssize_t n = mnl_socket_recvfrom(nm->sock, buf, sizeof(buf));

		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				break;
			if (errno == ENOBUFS) {
				nm->overrun = true;
				continue;
			}
			return -errno;
		}
		mnl_cb_run(buf, (size_t)n, 0, 0, addr_cb, nm);
	}
	if (nm->overrun) {
		nm->overrun = false;
		nm->route_changed = true;
		return dump(nm);
	}
	return 0;
}

void netmon_close(struct netmon *nm)
{
	if (nm->sock)
		mnl_socket_close(nm->sock);
	nm->sock = NULL;
}
