/* routes.c: which handler answers which method and path, and who may
 * call it: /healthz for anyone; everything else with a bearer token
 * ("Authorization: Bearer weft_..."), admin or enrolment (tokens.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "routes.h"

int api_init(struct api *api)
{
	char err[256];
	int ret = tokens_load(&api->tokens, api->tokens_path, err, sizeof(err));

	if (ret < 0)
		fprintf(stderr, "weft: api: %s\n", err);
	return ret;
}

void api_fini(struct api *api)
{
	tokens_free(&api->tokens);
	if (api->cache.valid)
		peer_ctx_close(&api->cache.c);
	api->cache.valid = false;
	pthread_mutex_destroy(&api->lock);
}

/* The caller's token, or NULL after answering 401. */
static struct token *authenticate(struct api *api, struct api_request *r)
{
	const char *h = api_header(r, "Authorization");
	char err[256];
	struct token *t;

	if (tokens_refresh(&api->tokens, api->tokens_path, err, sizeof(err)) < 0) {
		fprintf(stderr, "weft: api: %s\n", err);
		api_reply_error(r, 500, "the token file cannot be read");
		return NULL;
	}
	if (!h || strncmp(h, "Bearer ", 7)) {
		api_reply_error(r, 401, "a bearer token is needed (Authorization: Bearer weft_...)");
		return NULL;
	}
	t = tokens_find(&api->tokens, h + 7);
	if (!t) {
		api_reply_error(r, 401, "unknown token");
		return NULL;
	}
	if (t->expires && t->expires <= time(NULL)) {
		api_reply_error(r, 401, "this token has expired");
		return NULL;
	}
	t->uses++;
	return t;
}

/* path matches pattern, where "*" is one segment (no '/'), copied into
 * the args in order (at most 2, each < API_ARG_MAX). */
static bool match(const char *pattern, const char *path, char args[2][API_ARG_MAX])
{
	unsigned n = 0;

	while (*pattern) {
		if (*pattern == '*') {
			/* a base64 key may hold '/' (sent as %2F, which the
			 * server has decoded): 44 characters ending in '='
			 * are one segment */
			size_t len = strlen(path) >= 44 && path[43] == '=' && strcspn(path + 44, "/") == 0 ?
				     44 : strcspn(path, "/");

			if (!len || len >= API_ARG_MAX || n == 2)
				return false;
			memcpy(args[n], path, len);
			args[n++][len] = '\0';
			path += len;
			pattern++;
		} else if (*pattern++ != *path++) {
			return false;
		}
	}
	return !*path;
}

static const struct route {
	const char *method, *pattern;
	bool (*handler)(struct api *api, struct api_request *r, struct token *t, char args[2][API_ARG_MAX]);
	bool open; /* no token needed */
} routes[] = {
	{ "GET", "/healthz", route_healthz, true },
	{ "GET", "/metrics", route_metrics, false },
	{ "POST", "/v1/peers", route_peer_add, false },
	{ "GET", "/v1/peers", route_peer_list, false },
	{ "GET", "/v1/peers/*", route_peer_get, false },
	{ "PATCH", "/v1/peers/*", route_peer_patch, false },
	{ "DELETE", "/v1/peers/*", route_peer_delete, false },
	{ "GET", "/v1/peers/*/config", route_peer_config, false },
	{ "GET", "/v1/tokens", route_token_list, false },
	{ "POST", "/v1/tokens", route_token_add, false },
	{ "DELETE", "/v1/tokens/*", route_token_revoke, false },
	{ "POST", "/peer/add/*/*", route_tether_add, false },
	{ "DELETE", "/peer/remove/*", route_tether_remove, false },
	{ "GET", "/peer/config/*/*", route_tether_config, false },
};

void api_route(struct api *api, struct api_request *r)
{
	char args[2][API_ARG_MAX];
	bool path_known = false;
	struct token *t = NULL;

	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		const struct route *rt = &routes[i];

		if (!match(rt->pattern, r->url, args))
			continue;
		path_known = true;
		if (strcmp(rt->method, r->method) && !(!strcmp(r->method, "HEAD") && !strcmp(rt->method, "GET")))
			continue;
		r->route = rt->pattern;
		if (!rt->open && !(t = authenticate(api, r)))
			return;
		rt->handler(api, r, t, args);
		return;
	}
	if (path_known) {
		r->route = "method-not-allowed";
		api_reply_error(r, 405, "%s is not allowed on %s", r->method, r->url);
	} else {
		r->route = "not-found";
		api_reply_error(r, 404, "no such route: %s", r->url);
	}
}

bool route_healthz(struct api *api, struct api_request *r, struct token *t, char args[2][API_ARG_MAX])
{
	return api_reply_json(r, 200, json_pack("{s:s,s:s}", "status", "ok", "interface", api->iface));
}
