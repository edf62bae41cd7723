/* backend.c: picks the backend of each interface (see backend.h) and
 * implements device.h's device_list, device_get and device_set on top of
 * the two: the UAPI client and the kernel's netlink. */
#include "backend.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "device.h"
#include "kernel_device.h"
#include "uapi_client.h"

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

int device_get(struct device **out, const char *iface)
{
	switch (backend_of(iface)) {
	case BACKEND_UAPI:
		return uapi_get_device(out, iface);
	case BACKEND_KERNEL:
		return kernel_get_device(out, iface);
	default:
		*out = NULL;
		return -ENODEV;
	}
}

int device_set(const struct device *dev)
{
	switch (backend_of(dev->name)) {
	case BACKEND_UAPI:
		return uapi_set_device(dev);
	case BACKEND_KERNEL:
		return kernel_set_device(dev);
	default:
		return -ENODEV;
	}
}
