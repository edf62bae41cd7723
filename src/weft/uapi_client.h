/* uapi_client.h: the client side of the cross-platform userspace API
 * (https://www.wireguard.com/xplatform/) that wireguard-go and weftd serve
 * on the Unix socket /var/run/wireguard/IFACE.sock: "get=1" to read a
 * device, "set=1" to change one. Use it through device.h's device_get(),
 * device_set() and device_list(), which also pick the backend. */
#ifndef WEFT_CLI_UAPI_CLIENT_H
#define WEFT_CLI_UAPI_CLIENT_H

#include <stdbool.h>

#define UAPI_SOCK_DIR "/var/run/wireguard"
#define UAPI_SOCK_SUFFIX ".sock"

struct device;

/* Names of the *.sock files in UAPI_SOCK_DIR whose daemon accepts a
 * connection, NULL-terminated, in directory order (as wg lists them). A
 * socket that refuses (its daemon is gone) is removed, as wg does. NULL and
 * *err = -errno on failure; an absent directory is an empty list. */
char **uapi_list_devices(int *err);

/* A daemon answers on iface's socket. */
bool uapi_has_device(const char *iface);

/* get=1: 0 and a new *out (free with device_free), or -errno: -ENODEV when
 * no daemon answers for iface, -EPROTO for a reply that does not parse, or
 * the errno the daemon returned. */
int uapi_get_device(struct device **out, const char *iface);

/* get=1 read for device_get_brief (device.h): only keys, addresses and the
 * device's own settings are taken from the reply. */
int uapi_get_device_brief(struct device **out, const char *iface);

/* set=1: sends the change dev describes (only the fields its flags name).
 * 0 or -errno, the daemon's own when it refused. */
int uapi_set_device(const struct device *dev);

#endif
