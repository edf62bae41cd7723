/* netlink.c: rtnetlink requests for `weft up`/`down` with libmnl (see
 * netlink.h). Each request is built field for field like the one iproute2
 * 6.x sends for the command named beside it (checked with strace), so the
 * kernel fills in the same defaults: protocol "boot" and scope "link" for
 * an IPv4 device route, priorities chosen by the kernel for rules, IFA_LOCAL
 * and IFA_ADDRESS both set for an address. */
#include "netlink.h"

#include <errno.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/fib_rules.h>
#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "util/fd_io.h"

/* Dump datagrams can be larger than a page (libmnl's MNL_SOCKET_DUMP_SIZE). */
#define NL_BUF_SIZE 65536
#define RT_TABLE_LIMIT_IN_HEADER 256u /* tables below fit the 8-bit header field */

int nl_open(struct nl *nl)
{
	return nl_open_bus(nl, NETLINK_ROUTE);
}

int nl_open_bus(struct nl *nl, int bus)
{
	memset(nl, 0, sizeof(*nl));
	nl->buf = malloc(NL_BUF_SIZE);
	nl->sock = mnl_socket_open2(bus, SOCK_CLOEXEC);
	if (!nl->buf || !nl->sock || mnl_socket_bind(nl->sock, 0, MNL_SOCKET_AUTOPID) < 0) {
		int err = nl->buf ? errno : ENOMEM;

		nl_close(nl);
		return -(err ? err : EIO);
	}
	nl->portid = mnl_socket_get_portid(nl->sock);
	nl->seq = (uint32_t)getpid() ^ 0x5eed0000u;
	return 0;
}

void nl_close(struct nl *nl)
{
	if (nl->sock)
		mnl_socket_close(nl->sock);
	if (nl->buf) /* replies of the wireguard family hold keys */
		memzero(nl->buf, NL_BUF_SIZE);
	free(nl->buf);
	memset(nl, 0, sizeof(*nl));
}

int nl_talk(struct nl *nl, struct nlmsghdr *nlh, mnl_cb_t cb, void *data)
{
	uint32_t seq = ++nl->seq;

	nlh->nlmsg_seq = seq;
	if (mnl_socket_sendto(nl->sock, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(nl->sock, nl->buf, NL_BUF_SIZE);
		int r;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		errno = 0;
		r = mnl_cb_run(nl->buf, (size_t)n, seq, nl->portid, cb, data);
		if (r == MNL_CB_ERROR)
			return errno ? -errno : -EPROTO;
		if (r == MNL_CB_STOP)
			return 0;
	}
}

static struct nlmsghdr *new_msg(char *buf, uint16_t type, uint16_t flags)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);

	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	return nlh;
}

static size_t addr_len(int family)
{
	return family == AF_INET ? 4 : 16;
}

/* ---- links ---- */

struct link_parse {
	struct nl_link *out;
	bool found;
};

static int linkinfo_cb(const struct nlattr *attr, void *data)
{
	struct nl_link *l = data;

	if (mnl_attr_get_type(attr) == IFLA_INFO_KIND && mnl_attr_validate(attr, MNL_TYPE_STRING) >= 0)
		snprintf(l->kind, sizeof(l->kind), "%s", mnl_attr_get_str(attr));
	return MNL_CB_OK;
}

static int link_attr_cb(const struct nlattr *attr, void *data)
{
	struct nl_link *l = data;

	switch (mnl_attr_get_type(attr)) {
	case IFLA_MTU:
		if (mnl_attr_validate(attr, MNL_TYPE_U32) >= 0)
			l->mtu = mnl_attr_get_u32(attr);
		break;
	case IFLA_LINKINFO:
		if (mnl_attr_validate(attr, MNL_TYPE_NESTED) >= 0)
			mnl_attr_parse_nested(attr, linkinfo_cb, l);
		break;
	}
	return MNL_CB_OK;
}

static int link_cb(const struct nlmsghdr *nlh, void *data)
{
	struct link_parse *lp = data;
	const struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);

	if (nlh->nlmsg_type != RTM_NEWLINK || nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*ifi)))
		return MNL_CB_OK;
	memset(lp->out, 0, sizeof(*lp->out));
	lp->out->index = ifi->ifi_index;
	lp->out->flags = ifi->ifi_flags;
	mnl_attr_parse(nlh, sizeof(*ifi), link_attr_cb, lp->out);
	lp->found = true;
	return MNL_CB_OK;
}

static int link_get(struct nl *nl, const char *name, int index, struct nl_link *out)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = new_msg(buf, RTM_GETLINK, NLM_F_ACK);
	struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	struct link_parse lp = { .out = out };
	int r;

	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = index;
	if (name) {
		if (!*name || strlen(name) >= IFNAMSIZ)
			return -ENODEV;
		mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	}
	mnl_attr_put_u32(nlh, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
	r = nl_talk(nl, nlh, link_cb, &lp);
	if (r < 0)
		return r;
	return lp.found ? 0 : -ENODEV;
}

int nl_link_get(struct nl *nl, const char *name, struct nl_link *out)
{
	return link_get(nl, name, 0, out);
}

int nl_link_get_index(struct nl *nl, int index, struct nl_link *out)
{
	return link_get(nl, NULL, index, out);
}

struct link_names {
	const char *kind;
	char **names; /* NULL-terminated */
	size_t n;
};

static int link_name_cb(const struct nlmsghdr *nlh, void *data)
{
	struct link_names *ln = data;
	const struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *attr;
	const char *name = NULL;
	struct nl_link l = { 0 };
	char **v;

	if (nlh->nlmsg_type != RTM_NEWLINK || nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*ifi)))
		return MNL_CB_OK;
	mnl_attr_parse(nlh, sizeof(*ifi), link_attr_cb, &l);
	mnl_attr_for_each(attr, nlh, sizeof(*ifi))
		if (mnl_attr_get_type(attr) == IFLA_IFNAME && mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) >= 0)
			name = mnl_attr_get_str(attr);
	if (!name || strcmp(l.kind, ln->kind))
		return MNL_CB_OK;
	v = realloc(ln->names, (ln->n + 2) * sizeof(*v));
	if (v)
		ln->names = v;
	if (!v || !(v[ln->n] = strdup(name))) {
		errno = ENOMEM;
		return MNL_CB_ERROR;
	}
	v[++ln->n] = NULL;
	return MNL_CB_OK;
}

int nl_link_names(struct nl *nl, const char *kind, char ***out)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = new_msg(buf, RTM_GETLINK, NLM_F_DUMP);
	struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	struct link_names ln = { .kind = kind };
	int r;

	ifi->ifi_family = AF_UNSPEC;
	mnl_attr_put_u32(nlh, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
	r = nl_talk(nl, nlh, link_name_cb, &ln);
	if (r == 0 && !ln.names && !(ln.names = calloc(1, sizeof(*ln.names))))
		r = -ENOMEM;
	if (r < 0) {
		for (size_t i = 0; i < ln.n; i++)
			free(ln.names[i]);
		free(ln.names);
		return r;
	}
	*out = ln.names;
	return 0;
}

int nl_link_add(struct nl *nl, const char *name, const char *kind)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = new_msg(buf, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK);
	struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	struct nlattr *info;

	ifi->ifi_family = AF_UNSPEC;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	info = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
	mnl_attr_put_str(nlh, IFLA_INFO_KIND, kind);
	mnl_attr_nest_end(nlh, info);
	return nl_talk(nl, nlh, NULL, NULL);
}

int nl_link_del(struct nl *nl, int index)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = new_msg(buf, RTM_DELLINK, NLM_F_ACK);
	struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));

	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = index;
	return nl_talk(nl, nlh, NULL, NULL);
}

int nl_link_set_mtu_up(struct nl *nl, int index, unsigned mtu)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = new_msg(buf, RTM_NEWLINK, NLM_F_ACK);
	struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));

	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = index;
	ifi->ifi_flags = IFF_UP;
	ifi->ifi_change = IFF_UP;
	mnl_attr_put_u32(nlh, IFLA_MTU, mtu);
	return nl_talk(nl, nlh, NULL, NULL);
}

/* ---- addresses ---- */

int nl_addr_add(struct nl *nl, int index, const struct nl_prefix *p)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = new_msg(buf, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK);
	struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));

	if (p->family != AF_INET && p->family != AF_INET6)
		return -EAFNOSUPPORT;
	ifa->ifa_family = p->family;
	ifa->ifa_prefixlen = p->len;
	ifa->ifa_index = (unsigned)index;
	/* ip's default: host scope only for 127/8, which no tunnel has. */
	ifa->ifa_scope = RT_SCOPE_UNIVERSE;
	mnl_attr_put(nlh, IFA_LOCAL, addr_len(p->family), p->addr);
	mnl_attr_put(nlh, IFA_ADDRESS, addr_len(p->family), p->addr);
	return nl_talk(nl, nlh, NULL, NULL);
}

struct addr_parse {
	int index;
	struct nl_addr *v;
	size_t n, cap;
	int err;
};

struct addr_attrs {
	const struct nlattr *local, *address, *flags;
};

static int addr_attr_cb(const struct nlattr *attr, void *data)
{
	struct addr_attrs *a = data;

	switch (mnl_attr_get_type(attr)) {
	case IFA_LOCAL: a->local = attr; break;
	case IFA_ADDRESS: a->address = attr; break;
	case IFA_FLAGS: a->flags = attr; break;
	}
	return MNL_CB_OK;
}

static int addr_cb(const struct nlmsghdr *nlh, void *data)
{
	struct addr_parse *ap = data;
	const struct ifaddrmsg *ifa = mnl_nlmsg_get_payload(nlh);
	struct addr_attrs a = { 0 };
	const struct nlattr *which;
	struct nl_addr *e;

	if (nlh->nlmsg_type != RTM_NEWADDR || nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*ifa)))
		return MNL_CB_OK;
	if ((int)ifa->ifa_index != ap->index || (ifa->ifa_family != AF_INET && ifa->ifa_family != AF_INET6))
		return MNL_CB_OK;
	mnl_attr_parse(nlh, sizeof(*ifa), addr_attr_cb, &a);
	which = a.local ? a.local : a.address;
	if (!which || mnl_attr_get_payload_len(which) != addr_len(ifa->ifa_family))
		return MNL_CB_OK;
	if (ap->n == ap->cap) {
		size_t cap = ap->cap ? ap->cap * 2 : 8;
		struct nl_addr *v = realloc(ap->v, cap * sizeof(*v));

		if (!v) {
			ap->err = -ENOMEM;
			return MNL_CB_OK;
		}
		ap->v = v;
		ap->cap = cap;
	}
	e = &ap->v[ap->n++];
	memset(e, 0, sizeof(*e));
	e->p.family = ifa->ifa_family;
	e->p.len = ifa->ifa_prefixlen;
	memcpy(e->p.addr, mnl_attr_get_payload(which), addr_len(ifa->ifa_family));
	e->scope = ifa->ifa_scope;
	e->flags = a.flags && mnl_attr_validate(a.flags, MNL_TYPE_U32) >= 0 ? mnl_attr_get_u32(a.flags)
									   : ifa->ifa_flags;
	return MNL_CB_OK;
}

static int addr_dump(struct nl *nl, int family, struct addr_parse *ap)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = new_msg(buf, RTM_GETADDR, NLM_F_DUMP);
	struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	int r;

	ifa->ifa_family = (uint8_t)family;
	r = nl_talk(nl, nlh, addr_cb, ap);
	return r < 0 ? r : ap->err;
}

int nl_addr_list(struct nl *nl, int index, int family, struct nl_addr **out, size_t *n)
{
	struct addr_parse ap = { .index = index };
	int r;

	/* Like ip, one dump per family: IPv4 first. */
	if (family == AF_UNSPEC) {
		r = addr_dump(nl, AF_INET, &ap);
		if (r >= 0)
			r = addr_dump(nl, AF_INET6, &ap);
	} else
		r = addr_dump(nl, family, &ap);
	if (r < 0) {
		free(ap.v);
		return r;
	}
	*out = ap.v;
	*n = ap.n;
	return 0;
}

/* ---- routes ---- */

int nl_route_add(struct nl *nl, int index, const struct nl_prefix *p, uint32_t table)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = new_msg(buf, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK);
	struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));

	if (p->family != AF_INET && p->family != AF_INET6)
		return -EAFNOSUPPORT;
	if (!table)
		table = NL_RT_TABLE_MAIN;
	rtm->rtm_family = p->family;
	rtm->rtm_dst_len = p->len;
	rtm->rtm_protocol = RTPROT_BOOT;
	/* ip gives a gateway-less IPv4 route link scope; IPv6 has no scopes. */
	rtm->rtm_scope = p->family == AF_INET ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE;
	rtm->rtm_type = RTN_UNICAST;
	rtm->rtm_table = table < RT_TABLE_LIMIT_IN_HEADER ? (uint8_t)table : RT_TABLE_UNSPEC;
	mnl_attr_put(nlh, RTA_DST, addr_len(p->family), p->addr);
	if (table >= RT_TABLE_LIMIT_IN_HEADER)
		mnl_attr_put_u32(nlh, RTA_TABLE, table);
	mnl_attr_put_u32(nlh, RTA_OIF, (uint32_t)index);
	return nl_talk(nl, nlh, NULL, NULL);
}

/* One route from a dump or a `route get` reply, the parts we look at. */
struct route_info {
	int family;
	uint8_t dst_len;
	uint8_t type;
	uint32_t flags;
	uint32_t table;
	uint8_t dst[16];
	int oif;
	unsigned mtu;      /* RTAX_MTU, 0 = none */
	bool mtu_locked;
	bool has_prefsrc, has_gateway;
	uint8_t prefsrc[16], gateway[16];
};

static int metrics_cb(const struct nlattr *attr, void *data)
{
	struct route_info *ri = data;

	if (mnl_attr_validate(attr, MNL_TYPE_U32) < 0)
		return MNL_CB_OK;
	if (mnl_attr_get_type(attr) == RTAX_MTU)
		ri->mtu = mnl_attr_get_u32(attr);
	else if (mnl_attr_get_type(attr) == RTAX_LOCK)
		ri->mtu_locked = mnl_attr_get_u32(attr) & (1u << RTAX_MTU);
	return MNL_CB_OK;
}

static int route_attr_cb(const struct nlattr *attr, void *data)
{
	struct route_info *ri = data;

	switch (mnl_attr_get_type(attr)) {
	case RTA_TABLE:
		if (mnl_attr_validate(attr, MNL_TYPE_U32) >= 0)
			ri->table = mnl_attr_get_u32(attr);
		break;
	case RTA_DST:
		if (mnl_attr_get_payload_len(attr) == addr_len(ri->family))
			memcpy(ri->dst, mnl_attr_get_payload(attr), addr_len(ri->family));
		break;
	case RTA_OIF:
		if (mnl_attr_validate(attr, MNL_TYPE_U32) >= 0)
			ri->oif = (int)mnl_attr_get_u32(attr);
		break;
	case RTA_PREFSRC:
		if (mnl_attr_get_payload_len(attr) == addr_len(ri->family)) {
			memcpy(ri->prefsrc, mnl_attr_get_payload(attr), addr_len(ri->family));
			ri->has_prefsrc = true;
		}
		break;
	case RTA_GATEWAY:
		if (mnl_attr_get_payload_len(attr) == addr_len(ri->family)) {
			memcpy(ri->gateway, mnl_attr_get_payload(attr), addr_len(ri->family));
			ri->has_gateway = true;
		}
		break;
	case RTA_METRICS:
		if (mnl_attr_validate(attr, MNL_TYPE_NESTED) >= 0)
			mnl_attr_parse_nested(attr, metrics_cb, ri);
		break;
	}
	return MNL_CB_OK;
}

static bool route_parse(const struct nlmsghdr *nlh, struct route_info *ri)
{
	const struct rtmsg *rtm = mnl_nlmsg_get_payload(nlh);

	if (nlh->nlmsg_type != RTM_NEWROUTE || nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*rtm)))
		return false;
	if (rtm->rtm_family != AF_INET && rtm->rtm_family != AF_INET6)
		return false;
	memset(ri, 0, sizeof(*ri));
	ri->family = rtm->rtm_family;
	ri->dst_len = rtm->rtm_dst_len;
	ri->type = rtm->rtm_type;
	ri->flags = rtm->rtm_flags;
	ri->table = rtm->rtm_table;
	mnl_attr_parse(nlh, sizeof(*rtm), route_attr_cb, ri);
	return true;
}

/* The first len bits of a and b agree. */
static bool bits_match(const uint8_t *a, const uint8_t *b, unsigned len)
{
	unsigned bytes = len / 8, rest = len % 8;

	if (memcmp(a, b, bytes))
		return false;
	return !rest || !((a[bytes] ^ b[bytes]) & (uint8_t)(0xff << (8 - rest)));
}

/* What a route dump looks for; match says whether one route counts. */
struct route_search {
	bool (*match)(const struct route_search *s, const struct route_info *ri);
	int index;
	uint32_t table;
	const struct nl_prefix *p;
	bool found;
	bool first_only;   /* stop looking after the first candidate */
	struct route_info hit;
};

static int route_search_cb(const struct nlmsghdr *nlh, void *data)
{
	struct route_search *s = data;
	struct route_info ri;

	if (s->found && s->first_only)
		return MNL_CB_OK;
	/* Cached clones are not routes `ip route show` lists. */
	if (!route_parse(nlh, &ri) || (ri.flags & RTM_F_CLONED))
		return MNL_CB_OK;
	if (s->match(s, &ri)) {
		if (!s->found)
			s->hit = ri;
		s->found = true;
	}
	return MNL_CB_OK;
}

static int route_dump(struct nl *nl, int family, struct route_search *s)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = new_msg(buf, RTM_GETROUTE, NLM_F_DUMP);
	struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));

	rtm->rtm_family = (uint8_t)family;
	return nl_talk(nl, nlh, route_search_cb, s);
}

/* iproute2's "match P": routes whose prefix contains P. */
static bool match_covers(const struct route_search *s, const struct route_info *ri)
{
	return ri->table == NL_RT_TABLE_MAIN && ri->oif == s->index && ri->family == s->p->family &&
	       ri->dst_len <= s->p->len && bits_match(ri->dst, s->p->addr, ri->dst_len);
}

int nl_route_covered(struct nl *nl, int index, const struct nl_prefix *p)
{
	struct route_search s = { .match = match_covers, .index = index, .p = p };
	int r = route_dump(nl, p->family, &s);

	return r < 0 ? r : s.found;
}

static bool match_table(const struct route_search *s, const struct route_info *ri)
{
	return ri->table == s->table;
}

int nl_table_in_use(struct nl *nl, uint32_t table)
{
	struct route_search s = { .match = match_table, .table = table };
	int r = route_dump(nl, AF_INET, &s);

	if (r >= 0 && !s.found)
		r = route_dump(nl, AF_INET6, &s);
	return r < 0 ? r : s.found;
}

/* wg-quick reads "mtu N" from ip's output, which ip prints as "mtu lock N"
 * for a locked MTU; then the link's MTU is used instead. */
static int mtu_of(struct nl *nl, const struct route_info *ri, unsigned *mtu)
{
	struct nl_link l;
	int r;

	*mtu = 0;
	if (ri->mtu && !ri->mtu_locked) {
		*mtu = ri->mtu;
		return 0;
	}
	if (!ri->oif)
		return 0;
	r = nl_link_get_index(nl, ri->oif, &l);
	if (r < 0)
		return r;
	*mtu = l.mtu;
	return 0;
}

struct get_reply {
	bool found;
	struct route_info ri;
};

static int route_get_cb(const struct nlmsghdr *nlh, void *data)
{
	struct get_reply *g = data;

	if (!g->found && route_parse(nlh, &g->ri))
		g->found = true;
	return MNL_CB_OK;
}

/* `ip route get ADDR`: the route the kernel would take. */
static int route_get(struct nl *nl, int family, const void *addr, struct route_info *ri)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = new_msg(buf, RTM_GETROUTE, NLM_F_ACK);
	struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	struct get_reply g = { 0 };
	int r;

	if (family != AF_INET && family != AF_INET6)
		return -EAFNOSUPPORT;
	rtm->rtm_family = (uint8_t)family;
	rtm->rtm_dst_len = family == AF_INET ? 32 : 128;
	if (family == AF_INET)
		rtm->rtm_flags = RTM_F_LOOKUP_TABLE; /* as ip sends it */
	mnl_attr_put(nlh, RTA_DST, addr_len(family), addr);
	r = nl_talk(nl, nlh, route_get_cb, &g);
	if (r < 0)
		return r;
	if (!g.found)
		return -ENETUNREACH;
	*ri = g.ri;
	ri->family = family;
	return 0;
}

int nl_route_get_mtu(struct nl *nl, int family, const void *addr, unsigned *mtu)
{
	struct route_info ri;
	int r = route_get(nl, family, addr, &ri);

	*mtu = 0;
	return r < 0 ? r : mtu_of(nl, &ri, mtu);
}

static bool match_default(const struct route_search *s, const struct route_info *ri)
{
	return ri->table == NL_RT_TABLE_MAIN && ri->dst_len == 0;
}

int nl_default_route_src(struct nl *nl, int family, uint8_t addr[16])
{
	/* documentation addresses: anything the default route carries */
	static const uint8_t test_net4[4] = { 192, 0, 2, 1 };
	static const uint8_t test_net6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };
	struct route_search s = { .match = match_default, .first_only = true };
	struct route_info ri;
	int r = route_dump(nl, family, &s);

	if (r < 0)
		return r;
	if (!s.found)
		return -ENETUNREACH;
	if (s.hit.has_prefsrc) { /* `ip route add default ... src A` */
		memcpy(addr, s.hit.prefsrc, addr_len(family));
		return 0;
	}
	/* The source the kernel picks on the way to the gateway is the one
	 * peers see (before any NAT). An IPv6 gateway is usually link-local,
	 * which a lookup without the link cannot place: ask for an address
	 * beyond it instead. */
	r = route_get(nl, family, family == AF_INET6 ? (const void *)test_net6 :
				  s.hit.has_gateway ? (const void *)s.hit.gateway : (const void *)test_net4, &ri);
	if (r < 0)
		return r;
	if (!ri.has_prefsrc)
		return -EADDRNOTAVAIL;
	memcpy(addr, ri.prefsrc, addr_len(family));
	return 0;
}

int nl_default_route_mtu(struct nl *nl, unsigned *mtu)
{
	struct route_search s = { .match = match_default, .first_only = true };
	int r;

	*mtu = 0;
	r = route_dump(nl, AF_INET, &s);
	if (r < 0 || !s.found)
		return r;
	return mtu_of(nl, &s.hit, mtu);
}

/* ---- policy rules ---- */

static int rule_add(struct nl *nl, int family, uint8_t flags, uint32_t table,
		    bool with_fwmark, uint32_t fwmark, bool with_suppress)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = new_msg(buf, RTM_NEWRULE, NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK);
	struct fib_rule_hdr *frh = mnl_nlmsg_put_extra_header(nlh, sizeof(*frh));

	frh->family = (uint8_t)family;
	frh->action = FR_ACT_TO_TBL;
	frh->flags = flags;
	frh->table = table < RT_TABLE_LIMIT_IN_HEADER ? (uint8_t)table : RT_TABLE_UNSPEC;
	/* No FRA_PRIORITY: the kernel puts the rule just before the first
	 * non-zero one, as for `ip rule add` without "pref". */
	if (with_fwmark)
		mnl_attr_put_u32(nlh, FRA_FWMARK, fwmark);
	if (table >= RT_TABLE_LIMIT_IN_HEADER)
		mnl_attr_put_u32(nlh, FRA_TABLE, table);
	if (with_suppress)
		mnl_attr_put_u32(nlh, FRA_SUPPRESS_PREFIXLEN, 0);
	return nl_talk(nl, nlh, NULL, NULL);
}

int nl_rule_add_not_fwmark(struct nl *nl, int family, uint32_t fwmark, uint32_t table)
{
	return rule_add(nl, family, FIB_RULE_INVERT, table, true, fwmark, false);
}

int nl_rule_add_suppress_main(struct nl *nl, int family)
{
	return rule_add(nl, family, 0, NL_RT_TABLE_MAIN, false, 0, true);
}

struct rule_info {
	uint32_t table;
	bool has_fwmark, has_suppress, has_ifname, has_src, has_dst;
	uint32_t suppress;
};

static int rule_attr_cb(const struct nlattr *attr, void *data)
{
	struct rule_info *ri = data;

	switch (mnl_attr_get_type(attr)) {
	case FRA_TABLE:
		if (mnl_attr_validate(attr, MNL_TYPE_U32) >= 0)
			ri->table = mnl_attr_get_u32(attr);
		break;
	case FRA_FWMARK:
		ri->has_fwmark = true;
		break;
	case FRA_SUPPRESS_PREFIXLEN:
		if (mnl_attr_validate(attr, MNL_TYPE_U32) >= 0) {
			ri->suppress = mnl_attr_get_u32(attr);
			ri->has_suppress = ri->suppress != UINT32_MAX;
		}
		break;
	case FRA_IIFNAME:
	case FRA_OIFNAME:
		ri->has_ifname = true;
		break;
	case FRA_SRC:
		ri->has_src = true;
		break;
	case FRA_DST:
		ri->has_dst = true;
		break;
	}
	return MNL_CB_OK;
}

/* Which rules a dump collects for deletion. */
struct rule_search {
	bool suppress_main;   /* "from all lookup main suppress_prefixlength 0" */
	uint32_t table;       /* else: any rule that looks up this table */
	char **msgs;          /* copies of matching messages */
	size_t n, cap;
	int err;
};

static bool rule_matches(const struct rule_search *s, const struct fib_rule_hdr *frh, const struct rule_info *ri)
{
	if (frh->action != FR_ACT_TO_TBL)
		return false;
	if (!s->suppress_main)
		return ri->table == s->table;
	return ri->table == NL_RT_TABLE_MAIN && ri->has_suppress && ri->suppress == 0 && !ri->has_fwmark &&
	       !ri->has_ifname && !ri->has_src && !ri->has_dst && !frh->src_len && !frh->dst_len;
}

static int rule_cb(const struct nlmsghdr *nlh, void *data)
{
	struct rule_search *s = data;
	const struct fib_rule_hdr *frh = mnl_nlmsg_get_payload(nlh);
	struct rule_info ri = { 0 };
	char *copy;

	if (nlh->nlmsg_type != RTM_NEWRULE || nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*frh)))
		return MNL_CB_OK;
	ri.table = frh->table;
	mnl_attr_parse(nlh, sizeof(*frh), rule_attr_cb, &ri);
	if (!rule_matches(s, frh, &ri))
		return MNL_CB_OK;
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 4;
		char **v = realloc(s->msgs, cap * sizeof(*v));

		if (!v) {
			s->err = -ENOMEM;
			return MNL_CB_OK;
		}
		s->msgs = v;
		s->cap = cap;
	}
	copy = malloc(nlh->nlmsg_len);
	if (!copy) {
		s->err = -ENOMEM;
		return MNL_CB_OK;
	}
	memcpy(copy, nlh, nlh->nlmsg_len);
	s->msgs[s->n++] = copy;
	return MNL_CB_OK;
}

static int rule_dump(struct nl *nl, int family, struct rule_search *s)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = new_msg(buf, RTM_GETRULE, NLM_F_DUMP);
	struct fib_rule_hdr *frh = mnl_nlmsg_put_extra_header(nlh, sizeof(*frh));
	int r;

	frh->family = (uint8_t)family;
	r = nl_talk(nl, nlh, rule_cb, s);
	return r < 0 ? r : s->err;
}

/* Deletes each collected rule by sending it back as RTM_DELRULE: with its
 * own priority and selectors it names exactly that rule. */
static int rule_delete_matching(struct nl *nl, int family, struct rule_search *s)
{
	int r = rule_dump(nl, family, s), deleted = 0;

	for (size_t i = 0; i < s->n; i++) {
		struct nlmsghdr *nlh = (struct nlmsghdr *)s->msgs[i];

		if (r >= 0) {
			int d;

			nlh->nlmsg_type = RTM_DELRULE;
			nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
			nlh->nlmsg_pid = 0;
			d = nl_talk(nl, nlh, NULL, NULL);
			if (d < 0 && d != -ENOENT)
				r = d;
			else if (d >= 0)
				deleted++;
		}
		free(s->msgs[i]);
	}
	free(s->msgs);
	return r < 0 ? r : deleted;
}

int nl_rule_del_lookup(struct nl *nl, int family, uint32_t table)
{
	struct rule_search s = { .table = table };

	return rule_delete_matching(nl, family, &s);
}

int nl_rule_del_suppress_main(struct nl *nl, int family)
{
	struct rule_search s = { .suppress_main = true };

	return rule_delete_matching(nl, family, &s);
}

/* ---- sysctl ---- */

int sysctl_write(const char *name, const char *value)
{
	char path[256];
	int n = snprintf(path, sizeof(path), "/proc/sys/%s", name), fd;

	if (n < 0 || (size_t)n >= sizeof(path))
		return -ENAMETOOLONG;
	for (char *c = path + strlen("/proc/sys/"); *c; c++)
		if (*c == '.')
			*c = '/';
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = fd_write_all(fd, value, strlen(value));
	close(fd);
	return n;
}
