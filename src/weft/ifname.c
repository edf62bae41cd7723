/* ifname.c: interface names - which names weft accepts, and whether a link
 * of that name exists. */
#include <net/if.h>
#include <string.h>

#include "ifname.h"

static const char iface_chars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_=+.-";

bool interface_name_valid(const char *name)
{
	size_t n = strlen(name);

	/* A leading '-' is legal for the kernel, but here it is an option
	 * given before the interface. */
	return n >= 1 && n < IFNAMSIZ && strspn(name, iface_chars) == n && name[0] != '-';
}

/* The interface exists as a link in this network namespace. */
bool link_exists(const char *iface)
{
	return if_nametoindex(iface) != 0;
}
