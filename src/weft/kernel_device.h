/* kernel_device.h: the Linux module's WireGuard devices - links of kind
 * "wireguard" - read and changed over generic netlink (wg_genl.h for the
 * messages), created and deleted over rtnetlink. The second backend behind
 * device.h, beside the UAPI client; backend.c picks one per interface. */
#ifndef WEFT_CLI_KERNEL_DEVICE_H
#define WEFT_CLI_KERNEL_DEVICE_H

#include <stdbool.h>

#define KERNEL_LINK_KIND "wireguard"

struct device;

/* Names of the wireguard links in this network namespace, NULL-terminated,
 * in the kernel's order (as wg lists them). NULL and *err = -errno on
 * failure. */
char **kernel_list_devices(int *err);

/* iface is a link of kind wireguard. */
bool kernel_has_device(const char *iface);

/* WG_CMD_GET_DEVICE: 0 and a new *out, or -errno: -ENODEV (no such link),
 * -EOPNOTSUPP (a link of another kind), -EPROTONOSUPPORT (no module), the
 * kernel's own, or -EPROTO for a reply that does not parse. */
int kernel_get_device(struct device **out, const char *iface);

/* WG_CMD_SET_DEVICE, in as many messages as the change needs, each
 * acknowledged before the next. 0 or -errno (the kernel's own when it
 * refused; the messages before the refused one have taken effect, as with
 * wg). */
int kernel_set_device(const struct device *dev);

/* `ip link add IFACE type wireguard`: 0, or -errno: -EOPNOTSUPP (or
 * another) when the module is not there, -EEXIST. */
int kernel_link_add(const char *iface);

/* `ip link delete dev IFACE`: 0 or -errno (-ENODEV when it is not there). */
int kernel_link_del(const char *iface);

#endif
