/* ifname.h: interface names - which names weft accepts, and whether a link
 * of that name exists. */
#ifndef WEFT_CLI_IFNAME_H
#define WEFT_CLI_IFNAME_H

#include <stdbool.h>

/* wg-quick's rule for names, 1-15 of [a-zA-Z0-9_=+.-], not starting with '-'. */
bool interface_name_valid(const char *name);

/* The interface exists as a link in this network namespace. */
bool link_exists(const char *iface);

#endif
