/* backend.c: picks the backend of each interface (see backend.h), for an
 * interface that is there and for one being made, and implements device.h's
 * device_list, device_get and device_set on top of the two: the UAPI client
 * and the kernel's netlink. */
#include "backend.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "device.h"
#include "ifname.h"
#include "kernel_device.h"
#include "uapi_client.h"
#include "usage.h"

/* Where wg-quick looks to tell "no module" from "the module refused". */
#define KERNEL_MODULE_DIR "/sys/module/wireguard"

enum backend backend_of(const char *iface)
{
	if (uapi_has_device(iface))
		return BACKEND_UAPI;
	if (kernel_has_device(iface))
		return BACKEND_KERNEL;
	return BACKEND_NONE;
}

char **device_list(int *err)
{
	char **kernel = kernel_list_devices(err), **uapi, **all;
	size_t nk = 0, nu = 0;

	if (!kernel)
		return NULL;
	uapi = uapi_list_devices(err);
	if (!uapi) {
		device_list_free(kernel);
		return NULL;
	}
	while (kernel[nk])
		nk++;
	while (uapi[nu])
		nu++;
	all = realloc(kernel, (nk + nu + 1) * sizeof(*all));
	if (!all) {
		device_list_free(kernel);
		device_list_free(uapi);
		*err = -ENOMEM;
		return NULL;
	}
	memcpy(all + nk, uapi, (nu + 1) * sizeof(*all));
	free(uapi); /* its strings are all's now */
	return all;
}

/* A link of another kind goes to the kernel too, as with wg: its answer
 * (EOPNOTSUPP, or EPROTONOSUPPORT without the module) says why not. */
static bool use_kernel(enum backend b, const char *iface)
{
	return b == BACKEND_KERNEL || (b == BACKEND_NONE && link_exists(iface));
}

int device_get(struct device **out, const char *iface)
{
	enum backend b = backend_of(iface);

	*out = NULL;
	if (b == BACKEND_UAPI)
		return uapi_get_device(out, iface);
	return use_kernel(b, iface) ? kernel_get_device(out, iface) : -ENODEV;
}

int device_get_brief(struct device **out, const char *iface)
{
	enum backend b = backend_of(iface);

	*out = NULL;
	if (b == BACKEND_UAPI)
		return uapi_get_device_brief(out, iface);
	return use_kernel(b, iface) ? kernel_get_device(out, iface) : -ENODEV;
}

int device_set(const struct device *dev)
{
	enum backend b = backend_of(dev->name);

	if (b == BACKEND_UAPI)
		return uapi_set_device(dev);
	return use_kernel(b, dev->name) ? kernel_set_device(dev) : -ENODEV;
}

int backend_create(const char *iface, bool userspace, bool trace, enum backend *made, char *err, size_t errlen)
{
	char buf[PATH_MAX];
	const char *why = userspace ? "--userspace" : USERSPACE_ENV " is set", *prog, *slash;
	int r;

	if (!userspace && !daemon_forced()) {
		if (trace)
			fprintf(stderr, "[#] ip link add %s type wireguard\n", iface);
		r = kernel_link_add(iface);
		if (r == 0) {
			*made = BACKEND_KERNEL;
			fprintf(stderr, "%s: using the kernel's WireGuard\n", prog_name);
			return 0;
		}
		if (trace) /* what ip(8) says */
			fprintf(stderr, "Error: %s\n", r == -EOPNOTSUPP ? "Unknown device type." : strerror(-r));
		if (r == -EEXIST || access(KERNEL_MODULE_DIR, F_OK) == 0) {
			snprintf(err, errlen, "cannot create a kernel WireGuard interface: %s", strerror(-r));
			return r;
		}
		if (trace)
			fprintf(stderr, "[!] Missing WireGuard kernel module. Falling back to slow userspace implementation.\n");
		why = "no WireGuard kernel module";
	}
	prog = daemon_program(buf, sizeof(buf));
	slash = strrchr(prog, '/');
	fprintf(stderr, "%s: using the userspace %s (%s)\n", prog_name, slash ? slash + 1 : prog, why);
	r = daemon_start(iface, trace, err, errlen);
	if (r < 0)
		return r;
	*made = BACKEND_UAPI;
	return 0;
}
