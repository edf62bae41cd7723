/* routes.h: the handlers of `weft api`'s routes (routes.c dispatches):
 * each answers r and returns whether the answer was queued. t is the
 * caller's token (NULL on open routes); args are the path's "*" parts. */
#ifndef WEFT_API_ROUTES_H
#define WEFT_API_ROUTES_H

#include "api.h"

#define API_ARG_MAX 128

#define ROUTE(name) bool name(struct api *api, struct api_request *r, struct token *t, char args[2][API_ARG_MAX])

ROUTE(route_healthz);        /* routes.c */
ROUTE(route_metrics);        /* metrics_route.c */
ROUTE(route_peer_add);       /* peers.c */
ROUTE(route_peer_list);
ROUTE(route_peer_get);
ROUTE(route_peer_patch);
ROUTE(route_peer_delete);
ROUTE(route_peer_config);
ROUTE(route_token_list);     /* tokens_route.c */
ROUTE(route_token_add);
ROUTE(route_token_revoke);
ROUTE(route_tether_add);     /* tether.c */
ROUTE(route_tether_remove);
ROUTE(route_tether_config);

#endif
