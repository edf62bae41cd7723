/* kernel_device.c: the Linux module's WireGuard devices over netlink (see
 * kernel_device.h). The generic netlink family id is looked up per call
 * (one CTRL_CMD_GETFAMILY round trip), as wg does; a kernel without the
 * module has no such family, which is how we tell. */
#include "kernel_device.h"

#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/genetlink.h>
#include <linux/wireguard.h>
#include <stdlib.h>
#include <string.h>

#include "device.h"
#include "netlink.h"
#include "wg_genl.h"

static int family_attr_cb(const struct nlattr *attr, void *data)
{
	if (mnl_attr_get_type(attr) == CTRL_ATTR_FAMILY_ID && mnl_attr_get_payload_len(attr) == sizeof(uint16_t))
		*(uint16_t *)data = mnl_attr_get_u16(attr);
	return MNL_CB_OK;
}

static int family_cb(const struct nlmsghdr *nlh, void *data)
{
	if (mnl_nlmsg_get_payload_len(nlh) >= sizeof(struct genlmsghdr))
		mnl_attr_parse(nlh, sizeof(struct genlmsghdr), family_attr_cb, data);
	return MNL_CB_OK;
}

/* A generic netlink socket and the id of the "wireguard" family on it.
 * -EPROTONOSUPPORT when the kernel has no such family. */
static int genl_open(struct nl *nl, uint16_t *family)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh;
	struct genlmsghdr *genl;
	int ret = nl_open_bus(nl, NETLINK_GENERIC);

	if (ret < 0)
		return ret;
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = GENL_ID_CTRL;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	genl = mnl_nlmsg_put_extra_header(nlh, sizeof(*genl));
	genl->cmd = CTRL_CMD_GETFAMILY;
	genl->version = 1;
	mnl_attr_put_strz(nlh, CTRL_ATTR_FAMILY_NAME, WG_GENL_NAME);
	*family = 0;
	ret = nl_talk(nl, nlh, family_cb, family);
	if (ret == -ENOENT || (!ret && !*family))
		ret = -EPROTONOSUPPORT;
	if (ret < 0)
		nl_close(nl);
	return ret;
}

char **kernel_list_devices(int *err)
{
	char **names = NULL;
	struct nl nl;
	int ret = nl_open(&nl);

	if (!ret) {
		ret = nl_link_names(&nl, KERNEL_LINK_KIND, &names);
		nl_close(&nl);
	}
	*err = ret;
	return ret < 0 ? NULL : names;
}

bool kernel_has_device(const char *iface)
{
	struct nl_link link;
	struct nl nl;
	bool ret = false;

	if (nl_open(&nl) < 0)
		return false;
	if (nl_link_get(&nl, iface, &link) == 0)
		ret = !strcmp(link.kind, KERNEL_LINK_KIND);
	nl_close(&nl);
	return ret;
}

int kernel_get_device(struct device **out, const char *iface)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct wg_genl_parse_ctx ctx = { 0 };
	struct nl nl;
	int ret;

	*out = NULL;
	ret = genl_open(&nl, &ctx.family);
	if (ret < 0)
		return ret;
	ctx.dev = device_new(iface);
	ret = ctx.dev ? wg_genl_build_get(buf, sizeof(buf), ctx.family, iface) : -ENOMEM;
	if (ret >= 0)
		ret = nl_talk(&nl, (struct nlmsghdr *)buf, wg_genl_parse_msg, &ctx);
	nl_close(&nl); /* which wipes the replies: they held the private key */
	if (ret < 0) {
		device_free(ctx.dev);
		return ret;
	}
	*out = ctx.dev;
	return 0;
}

int kernel_set_device(const struct device *dev)
{
	struct wg_genl_set_pos pos = { 0 };
	uint16_t family;
	struct nl nl;
	char *buf = malloc(WG_GENL_SET_MSG_SIZE);
	int ret = buf ? genl_open(&nl, &family) : -ENOMEM;

	if (ret < 0) {
		free(buf);
		return ret;
	}
	while ((ret = wg_genl_build_set(buf, WG_GENL_SET_MSG_SIZE, family, dev, &pos)) > 0) {
		ret = nl_talk(&nl, (struct nlmsghdr *)buf, NULL, NULL);
		memzero(buf, WG_GENL_SET_MSG_SIZE);
		if (ret < 0)
			break;
	}
	memzero(buf, WG_GENL_SET_MSG_SIZE);
	free(buf);
	nl_close(&nl);
	return ret;
}

int kernel_link_add(const char *iface)
{
	struct nl nl;
	int ret = nl_open(&nl);

	if (ret < 0)
		return ret;
	ret = nl_link_add(&nl, iface, KERNEL_LINK_KIND);
	nl_close(&nl);
	return ret;
}

int kernel_link_del(const char *iface)
{
	struct nl_link link;
	struct nl nl;
	int ret = nl_open(&nl);

	if (ret < 0)
		return ret;
	ret = nl_link_get(&nl, iface, &link);
	if (!ret)
		ret = nl_link_del(&nl, link.index);
	nl_close(&nl);
	return ret;
}
