/* netlink.h: the rtnetlink requests `weft up` and `weft down` make (libmnl),
 * each the one the matching iproute2 command sends, so that weft leaves
 * exactly what wg-quick leaves: links, addresses, routes, policy rules, and
 * the lookups wg-quick does with `ip route get`, `ip route show ... match`
 * and `ip rule show`. Also the one sysctl wg-quick writes.
 *
 * Every function works in the caller's network namespace and returns 0 (or
 * a count / a boolean where it says so) or a negative errno, the kernel's
 * own for a refused request (-EEXIST, -ENODEV, -EOPNOTSUPP for an unknown
 * link kind...). Not thread-safe per struct nl. */
#ifndef WEFT_CLI_NETLINK_H
#define WEFT_CLI_NETLINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NL_KIND_LEN 32
/* The kernel's own routing tables (linux/rtnetlink.h RT_TABLE_*). */
#define NL_RT_TABLE_DEFAULT 253u
#define NL_RT_TABLE_MAIN 254u
#define NL_RT_TABLE_LOCAL 255u

struct mnl_socket;

struct nl {
	struct mnl_socket *sock;
	uint32_t portid, seq;
	char *buf;
};

/* An address with a prefix length; family AF_INET (4 bytes used) or
 * AF_INET6. */
struct nl_prefix {
	uint8_t family;
	uint8_t len;
	uint8_t addr[16];
};

struct nl_link {
	int index;
	unsigned mtu;
	unsigned flags;          /* IFF_* */
	char kind[NL_KIND_LEN];  /* IFLA_INFO_KIND, "" when none (TUN) */
};

struct nl_addr {
	struct nl_prefix p;      /* IFA_LOCAL (else IFA_ADDRESS) / prefixlen */
	uint8_t scope;           /* RT_SCOPE_* */
	uint32_t flags;          /* IFA_F_* */
};

/* A socket on NETLINK_ROUTE; nl_open_bus for another bus (NETLINK_GENERIC). */
int nl_open(struct nl *nl);
int nl_open_bus(struct nl *nl, int bus);
void nl_close(struct nl *nl);

struct nlmsghdr;
/* Sends the request nlh (its sequence number is set here) and hands every
 * reply to cb (NULL: none expected) until the ACK or NLMSG_DONE. Requests
 * that are not dumps must carry NLM_F_ACK, so that the exchange always ends
 * with a message we recognise. 0, or -errno: the kernel's, or the one cb
 * set in errno when it returned MNL_CB_ERROR. */
int nl_talk(struct nl *nl, struct nlmsghdr *nlh, int (*cb)(const struct nlmsghdr *nlh, void *data),
	    void *data);

/* ---- links ---- */

/* -ENODEV when there is no such link. */
int nl_link_get(struct nl *nl, const char *name, struct nl_link *out);
int nl_link_get_index(struct nl *nl, int index, struct nl_link *out);
/* `ip link show type KIND`: the names, NULL-terminated, in the kernel's
 * order, into a fresh *out (free each and the array). */
int nl_link_names(struct nl *nl, const char *kind, char ***out);
/* `ip link add NAME type KIND` */
int nl_link_add(struct nl *nl, const char *name, const char *kind);
/* `ip link delete dev NAME` */
int nl_link_del(struct nl *nl, int index);
/* `ip link set mtu MTU up dev NAME` (one request, as ip sends it) */
int nl_link_set_mtu_up(struct nl *nl, int index, unsigned mtu);

/* ---- addresses ---- */

/* `ip -4|-6 address add ADDR/LEN dev NAME` */
int nl_addr_add(struct nl *nl, int index, const struct nl_prefix *p);
/* The link's addresses of family (AF_UNSPEC: IPv4 then IPv6), in the
 * kernel's order (that of `ip addr show`). *out is malloc'd (free it). */
int nl_addr_list(struct nl *nl, int index, int family, struct nl_addr **out, size_t *n);

/* ---- routes ---- */

/* `ip -4|-6 route add P dev NAME [table T]`; table 0 = main. */
int nl_route_add(struct nl *nl, int index, const struct nl_prefix *p, uint32_t table);
/* `ip -4|-6 route show dev NAME match P` is not empty: a route in the main
 * table through this link covers P. 1 yes, 0 no, or -errno. */
int nl_route_covered(struct nl *nl, int index, const struct nl_prefix *p);
/* `ip -4 route show table T` or `ip -6 route show table T` is not empty.
 * 1 yes, 0 no, or -errno. */
int nl_table_in_use(struct nl *nl, uint32_t table);
/* The MTU `ip route get ADDR` shows for the route to addr (4 or 16 bytes),
 * or else the MTU of the link it leaves through. -ENETUNREACH etc. when
 * there is no route; *mtu is 0 when neither is known. */
int nl_route_get_mtu(struct nl *nl, int family, const void *addr, unsigned *mtu);
/* The same for the first line of `ip route show default` (IPv4, main
 * table). *mtu = 0 when there is no default route. */
int nl_default_route_mtu(struct nl *nl, unsigned *mtu);
/* The source address of the default route of family (main table): its
 * `src` if it has one, else the one `ip route get GATEWAY` shows; 4 or 16
 * bytes into addr. -ENETUNREACH when there is no default route. */
int nl_default_route_src(struct nl *nl, int family, uint8_t addr[16]);

/* ---- policy rules ---- */

/* `ip -4|-6 rule add not fwmark MARK table T` */
int nl_rule_add_not_fwmark(struct nl *nl, int family, uint32_t fwmark, uint32_t table);
/* `ip -4|-6 rule add table main suppress_prefixlength 0` */
int nl_rule_add_suppress_main(struct nl *nl, int family);
/* Deletes every rule of family that looks up table T (what wg-quick's
 * `while ip rule show has "lookup T"; do ip rule delete table T` does).
 * Returns how many, or -errno. */
int nl_rule_del_lookup(struct nl *nl, int family, uint32_t table);
/* Deletes every "from all lookup main suppress_prefixlength 0" rule. */
int nl_rule_del_suppress_main(struct nl *nl, int family);

/* ---- sysctl ---- */

/* `sysctl -q NAME=VALUE`: NAME dotted (net.ipv4.conf.all.src_valid_mark),
 * written through /proc/sys of the current network namespace. */
int sysctl_write(const char *name, const char *value);

#endif
