/* endpoint.h: a peer's endpoint, HOST and PORT as written, resolved to an
 * address the way wg(8) resolves it. */
#ifndef WEFT_CLI_ENDPOINT_H
#define WEFT_CLI_ENDPOINT_H

#include <stdbool.h>

union dev_endpoint;

/* Resolves HOST and PORT of an endpoint to an address, retrying transient
 * resolver failures the way wg does (WG_ENDPOINT_RESOLUTION_RETRIES, default
 * 15, "infinity"). what is the text the user wrote, for messages. */
bool endpoint_resolve(union dev_endpoint *ep, const char *host, const char *port, const char *what);

#endif
