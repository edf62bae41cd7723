/* tether.c: the paths Tether's clients use (POST /peer/add/TYPE/KEY,
 * DELETE /peer/remove/KEY, GET /peer/config/TYPE/KEY), with the same
 * tokens and rules as /v1/peers; answers are the config as text. */
#include <string.h>

#include "conf/weftfile.h"
#include "peer_view.h"
#include "peers.h"
#include "routes.h"

static bool type_of(struct api_request *r, const char *s, int *out)
{
	uint8_t t;

	if (!weft_endpoint_type_parse(s, &t))
		return api_reply_error(r, 400, "`%s' is not an endpoint type (any, ipv4, ipv6, domain)", s), false;
	*out = t;
	return true;
}

ROUTE(route_tether_add)
{
	json_t *peer = NULL;
	struct enrol e;
	char *config = NULL;
	size_t len = 0;

	enrol_init(&e);
	if (type_of(r, args[0], &e.endpoint_type)) {
		if (!view_key_parse(e.key, args[1]))
			api_reply_error(r, 400, "`%s' is not a base64 WireGuard key", args[1]);
		else if ((e.has_key = true) && enrol_peer(api, r, t, &e, &peer, &config, &len))
			api_reply(r, 200, "text/plain; charset=utf-8", config, len);
	}
	json_decref(peer);
	if (config)
		conf_text_free(config, len);
	enrol_free(&e);
	return true;
}

ROUTE(route_tether_remove)
{
	return peer_delete(api, r, t, args[0], 200);
}

ROUTE(route_tether_config)
{
	int type;

	if (!type_of(r, args[0], &type))
		return true;
	return peer_config_reply(api, r, t, args[1], type, false);
}
