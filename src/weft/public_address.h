/* public_address.h: the address peers reach this host at when none is set:
 * the source address of the default route, as a stand-in that is said out
 * loud and never saved. */
#ifndef WEFT_CLI_PUBLIC_ADDRESS_H
#define WEFT_CLI_PUBLIC_ADDRESS_H

#include <netinet/in.h>

#include "peer_config.h"

/* For a peer config of iface whose server has no public address of this
 * endpoint type: the default route's source address (IPv4 first for
 * "any"), written into buf and returned, with a note on stderr naming it;
 * or NULL, with a note that the config has no Endpoint (no default route,
 * or a host name was asked for). */
const char *public_address_fallback(const char *iface, uint8_t type, /* enum weft_endpoint_type */
				    char buf[INET6_ADDRSTRLEN]);

#endif
