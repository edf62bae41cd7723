/* stubs.c: routes not written yet answer 501. */
#include "routes.h"

#define STUB(name) ROUTE(name) { return api_reply_error(r, 501, "not implemented yet"); }
STUB(route_metrics)
STUB(route_peer_add)
STUB(route_peer_list)
STUB(route_peer_get)
STUB(route_peer_patch)
STUB(route_peer_delete)
STUB(route_peer_config)
STUB(route_tether_add)
STUB(route_tether_remove)
STUB(route_tether_config)
void api_expire(struct api *api, int64_t now) {}
