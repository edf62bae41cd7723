/* ns_helper.c: the namespace helper of the kernel stack (see ns_helper.h):
 * its set-up, done with raw netlink (libmnl) since no `ip` binary can be
 * assumed, and the request loop that hands out sockets. */
#include "serve/ns_helper.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fib_rules.h>
#include <linux/rtnetlink.h>
#include <libmnl/libmnl.h>
#include <net/if.h>
#include <linux/if_tun.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util/fd_io.h"

enum { REQ_LISTENER = 1, REQ_SOCKET = 2 };

struct ns_request {
	uint8_t op;
	uint8_t family;
	uint16_t port;
};

struct ns_reply {
	int32_t err;      /* 0 or -errno; an fd is attached when 0 */
	char why[200];    /* set-up only: the failing step */
};

#define HELPER_LISTEN_BACKLOG 4096
#define HELPER_START_TIMEOUT_MS 5000

/* ---- fd passing ---- */

static int send_reply(int sock, const struct ns_reply *r, int fd)
{
	union { struct cmsghdr align; char buf[CMSG_SPACE(sizeof(int))]; } ctrl;
	struct iovec iov = { .iov_base = (void *)r, .iov_len = sizeof(*r) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (fd >= 0) {
		struct cmsghdr *c;
		memset(&ctrl, 0, sizeof(ctrl));
		msg.msg_control = ctrl.buf;
		msg.msg_controllen = sizeof(ctrl.buf);
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	return sendmsg(sock, &msg, MSG_NOSIGNAL) < 0 ? -errno : 0;
}

/* A reply and its fd (or -1). */
static int recv_reply(int sock, struct ns_reply *r, int *fd)
{
	union { struct cmsghdr align; char buf[CMSG_SPACE(sizeof(int))]; } ctrl;
	struct iovec iov = { .iov_base = r, .iov_len = sizeof(*r) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
			      .msg_control = ctrl.buf, .msg_controllen = sizeof(ctrl.buf) };
	ssize_t n;

	*fd = -1;
	do
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (n == 0)
		return -EPIPE; /* the helper is gone */
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
		    c->cmsg_len >= CMSG_LEN(sizeof(int)) && *fd < 0)
			memcpy(fd, CMSG_DATA(c), sizeof(int));
	/* The helper is the less trusted side: a short reply, a cut-off
	 * control message or an error that is no -errno (a positive one would
	 * pass for an fd of ours) ends the protocol, and an fd that came with
	 * it is not kept. */
	if ((size_t)n != sizeof(*r) || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) ||
	    r->err > 0 || r->err < -4095 || (r->err && *fd >= 0)) {
		if (*fd >= 0)
			close(*fd);
		*fd = -1;
		return -EPROTO;
	}
	r->why[sizeof(r->why) - 1] = '\0';
	return 0;
}

/* ---- set-up inside the namespace (runs in the child) ---- */

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), ret;

	if (fd < 0)
		return -errno;
	ret = fd_write_all(fd, text, strlen(text));
	close(fd);
	return ret;
}

static int nl_do(struct mnl_socket *nl, struct nlmsghdr *nlh)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	uint32_t seq = (uint32_t)time(NULL) ^ (uint32_t)rand(), portid = mnl_socket_get_portid(nl);
	ssize_t n;

	nlh->nlmsg_seq = seq;
	nlh->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
	if (n < 0)
		return -errno;
	if (mnl_cb_run(buf, (size_t)n, seq, portid, NULL, NULL) < 0)
		return -errno;
	return 0;
}

static int nl_link_up(struct mnl_socket *nl, int ifindex, unsigned mtu)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct ifinfomsg *ifi;

	nlh->nlmsg_type = RTM_NEWLINK;
	ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = ifindex;
	ifi->ifi_flags = IFF_UP;
	ifi->ifi_change = IFF_UP;
	if (mtu)
		mnl_attr_put_u32(nlh, IFLA_MTU, mtu);
	return nl_do(nl, nlh);
}

/* "ip rule add iif IFNAME lookup TABLE" */
static int nl_rule_iif(struct mnl_socket *nl, int family, const char *ifname)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct fib_rule_hdr *frh;

	nlh->nlmsg_type = RTM_NEWRULE;
	nlh->nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
	frh = mnl_nlmsg_put_extra_header(nlh, sizeof(*frh));
	frh->family = (uint8_t)family;
	frh->action = FR_ACT_TO_TBL;
	frh->table = NS_LOCAL_TABLE;
	mnl_attr_put_strz(nlh, FRA_IIFNAME, ifname);
	mnl_attr_put_u32(nlh, FRA_PRIORITY, NS_RULE_PRIORITY);
	return nl_do(nl, nlh);
}

/* "ip route add {local|unicast} 0/0 dev IFINDEX table TABLE" */
static int nl_route_all(struct mnl_socket *nl, int family, uint8_t type, int ifindex, uint32_t table)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct rtmsg *rtm;

	nlh->nlmsg_type = RTM_NEWROUTE;
	nlh->nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
	rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	rtm->rtm_family = (uint8_t)family;
	rtm->rtm_dst_len = 0;
	rtm->rtm_table = (uint8_t)table;
	rtm->rtm_protocol = RTPROT_BOOT;
	rtm->rtm_type = type;
	rtm->rtm_scope = type == RTN_LOCAL ? RT_SCOPE_HOST : RT_SCOPE_LINK;
	mnl_attr_put_u32(nlh, RTA_OIF, (uint32_t)ifindex);
	return nl_do(nl, nlh);
}

static int fail(char *why, size_t whylen, int err, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
	n = strlen(why);
	snprintf(why + n, whylen - n, ": %s", strerror(-err));
	return err;
}

/* Everything between unshare and a ready namespace. */
static int setup_namespace(unsigned mtu, int *tun_fd, char *why, size_t whylen)
{
	uid_t uid = geteuid();
	gid_t gid = getegid();
	char map[64];
	struct ifreq ifr;
	struct mnl_socket *nl = NULL;
	int ret, tun, lo_index, tun_index;

	if (unshare(CLONE_NEWUSER | CLONE_NEWNET) < 0)
		return fail(why, whylen, -errno, "unshare(CLONE_NEWUSER|CLONE_NEWNET)");
	ret = write_file("/proc/self/setgroups", "deny");
	if (ret < 0 && ret != -ENOENT)
		return fail(why, whylen, ret, "writing /proc/self/setgroups");
	snprintf(map, sizeof(map), "0 %u 1", (unsigned)uid);
	if ((ret = write_file("/proc/self/uid_map", map)) < 0)
		return fail(why, whylen, ret, "writing /proc/self/uid_map");
	snprintf(map, sizeof(map), "0 %u 1", (unsigned)gid);
	if ((ret = write_file("/proc/self/gid_map", map)) < 0)
		return fail(why, whylen, ret, "writing /proc/self/gid_map");

	tun = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (tun < 0)
		return fail(why, whylen, -errno, "opening /dev/net/tun");
	memset(&ifr, 0, sizeof(ifr));
	/* vnet headers: the namespace's TCP hands us 64 KiB super-packets and
	 * takes coalesced ones, a system call per 64 KiB instead of per
	 * segment (offload.c does the splitting and coalescing) */
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI | IFF_VNET_HDR;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", NS_TUN_NAME);
	if (ioctl(tun, TUNSETIFF, &ifr) < 0) {
		ret = fail(why, whylen, -errno, "creating the TUN device in the namespace");
		close(tun);
		return ret;
	}
	if (ioctl(tun, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN) < 0) {
		ret = fail(why, whylen, -errno, "enabling TUN offloads in the namespace");
		close(tun);
		return ret;
	}
	lo_index = (int)if_nametoindex("lo");
	tun_index = (int)if_nametoindex(NS_TUN_NAME);
	nl = mnl_socket_open(NETLINK_ROUTE);
	if (!nl || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		ret = fail(why, whylen, -errno, "opening netlink in the namespace");
		goto out;
	}
	if ((ret = nl_link_up(nl, lo_index, 0)) < 0) {
		fail(why, whylen, ret, "bringing lo up");
		goto out;
	}
	if ((ret = nl_link_up(nl, tun_index, mtu)) < 0) {
		fail(why, whylen, ret, "bringing %s up", NS_TUN_NAME);
		goto out;
	}
	for (int i = 0; i < 2; i++) {
		int family = i ? AF_INET6 : AF_INET;
		const char *name = i ? "IPv6" : "IPv4";
		/* Arriving on the TUN every destination is local (table 100);
		 * leaving, everything goes back out of the TUN (main). */
		if ((ret = nl_rule_iif(nl, family, NS_TUN_NAME)) < 0) {
			fail(why, whylen, ret, "adding the %s rule for %s", name, NS_TUN_NAME);
			goto out;
		}
		if ((ret = nl_route_all(nl, family, RTN_LOCAL, lo_index, NS_LOCAL_TABLE)) < 0) {
			fail(why, whylen, ret, "adding the %s local route", name);
			goto out;
		}
		if ((ret = nl_route_all(nl, family, RTN_UNICAST, tun_index, RT_TABLE_MAIN)) < 0) {
			fail(why, whylen, ret, "adding the %s default route", name);
			goto out;
		}
	}
	ret = 0;
out:
	if (nl)
		mnl_socket_close(nl);
	if (ret < 0)
		close(tun);
	else
		*tun_fd = tun;
	return ret;
}

static int make_socket(int family, bool listener, uint16_t port)
{
	int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1, ret;

	if (fd < 0)
		return -errno;
	if (family == AF_INET)
		ret = setsockopt(fd, SOL_IP, IP_TRANSPARENT, &one, sizeof(one));
	else {
		ret = setsockopt(fd, SOL_IPV6, IPV6_TRANSPARENT, &one, sizeof(one));
		if (!ret)
			ret = setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	}
	if (!ret && listener) {
		struct sockaddr_storage ss = { 0 };
		socklen_t len;
		ret = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (family == AF_INET) {
			struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
			sin->sin_family = AF_INET;
			sin->sin_port = htons(port);
			len = sizeof(*sin);
		} else {
			struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
			sin6->sin6_family = AF_INET6;
			sin6->sin6_port = htons(port);
			len = sizeof(*sin6);
		}
		if (!ret)
			ret = bind(fd, (struct sockaddr *)&ss, len);
		if (!ret)
			ret = listen(fd, HELPER_LISTEN_BACKLOG);
	}
	if (ret < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	return fd;
}

static void serve_requests(int sock)
{
	struct ns_request req;
	ssize_t n;

	for (;;) {
		struct ns_reply r = { 0 };
		int fd;

		n = recv(sock, &req, sizeof(req), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n != sizeof(req))
			return; /* the parent is gone */
		if ((req.family != AF_INET && req.family != AF_INET6) ||
		    (req.op != REQ_LISTENER && req.op != REQ_SOCKET))
			fd = -EINVAL;
		else
			fd = make_socket(req.family, req.op == REQ_LISTENER, req.port);
		r.err = fd < 0 ? fd : 0;
		if (send_reply(sock, &r, fd) < 0)
			return;
		if (fd >= 0)
			close(fd);
	}
}

static void helper_main(int sock, unsigned mtu)
{
	struct ns_reply r = { 0 };
	int tun = -1;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() == 1)
		_exit(1);
	signal(SIGPIPE, SIG_IGN);
	r.err = setup_namespace(mtu, &tun, r.why, sizeof(r.why));
	if (send_reply(sock, &r, r.err ? -1 : tun) < 0 || r.err)
		_exit(1);
	close(tun);
	serve_requests(sock);
	_exit(0);
}

/* ---- the parent's side ---- */

int ns_helper_start(struct ns_helper *h, unsigned mtu, char *why, size_t whylen)
{
	struct ns_reply r;
	struct timeval tv = { .tv_sec = HELPER_START_TIMEOUT_MS / 1000 };
	int sv[2], ret, fd;

	h->pid = -1;
	h->sock = h->tun_fd = -1;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return fail(why, whylen, -errno, "socketpair");
	h->pid = fork();
	if (h->pid < 0) {
		ret = fail(why, whylen, -errno, "fork");
		close(sv[0]);
		close(sv[1]);
		return ret;
	}
	if (h->pid == 0) {
		close(sv[0]);
		/* nothing of the server's but the socketpair stays open here */
		if (sv[1] != 3) {
			dup2(sv[1], 3);
			close(sv[1]);
		}
		close_range(4, ~0u, 0);
		helper_main(3, mtu);
	}
	close(sv[1]);
	h->sock = sv[0];
	setsockopt(h->sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	ret = recv_reply(h->sock, &r, &fd);
	if (ret < 0) {
		fail(why, whylen, ret, "the namespace helper did not answer");
		ns_helper_stop(h);
		return ret;
	}
	if (r.err || fd < 0) {
		snprintf(why, whylen, "%s", r.err ? r.why : "no TUN fd from the helper");
		ret = r.err ? r.err : -EPROTO;
		ns_helper_stop(h);
		return ret;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	h->tun_fd = fd;
	return 0;
}

static int request(struct ns_helper *h, uint8_t op, int family, uint16_t port)
{
	struct ns_request req = { .op = op, .family = (uint8_t)family, .port = port };
	struct ns_reply r;
	int fd, ret;

	if (h->sock < 0)
		return -EPIPE;
	if (send(h->sock, &req, sizeof(req), MSG_NOSIGNAL) != sizeof(req))
		return -errno ? -errno : -EPIPE;
	ret = recv_reply(h->sock, &r, &fd);
	if (ret < 0)
		return ret;
	if (r.err) {
		if (fd >= 0)
			close(fd);
		return r.err;
	}
	return fd >= 0 ? fd : -EPROTO;
}

int ns_helper_listener(struct ns_helper *h, int family, uint16_t port)
{
	return request(h, REQ_LISTENER, family, port);
}

int ns_helper_socket(struct ns_helper *h, int family)
{
	return request(h, REQ_SOCKET, family, 0);
}

void ns_helper_stop(struct ns_helper *h)
{
	if (h->sock >= 0)
		close(h->sock);
	if (h->tun_fd >= 0)
		close(h->tun_fd);
	if (h->pid > 0) {
		kill(h->pid, SIGKILL);
		while (waitpid(h->pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	h->sock = h->tun_fd = -1;
	h->pid = -1;
}
