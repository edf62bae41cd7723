/* tokens_route.c: /v1/tokens (admin tokens only): list, make and revoke
 * tokens from the admin page, as `weft api token` does on the command
 * line; the same file, the same lock. A new token's secret is in the
 * answer to its POST and nowhere else. */
#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "routes.h"
#include "weft/conf_path.h"
#include "weft/peer_ctx.h"

static json_t *token_json(const struct token *k)
{
	char exp[WEFT_TIME_STRLEN], created[WEFT_TIME_STRLEN];

	if (k->expires)
		weft_time_format(exp, k->expires);
	if (k->created)
		weft_time_format(created, k->created);
	return json_pack("{s:s,s:o,s:b,s:o,s:I,s:o,s:o}", "id", k->id,
			 "name", k->name[0] ? json_string(k->name) : json_null(), "admin", k->admin,
			 "peers", k->admin || !k->peers ? json_null() : json_integer(k->peers), "used", (json_int_t)k->used,
			 "expires", k->expires ? json_string(exp) : json_null(),
			 "created", k->created ? json_string(created) : json_null());
}

/* The token file under the directory lock, fresh: the lock's fd, or -1
 * after answering. */
static int lock_tokens(struct api *api, struct api_request *r)
{
	char err[256];
	int lock = iface_conf_lock(api->conf_path);

	if (lock < 0) {
		api_reply_error(r, 503, "the config directory cannot be locked");
		return -1;
	}
	if (tokens_refresh(&api->tokens, api->tokens_path, err, sizeof(err)) < 0) {
		close(lock);
		api_reply_error(r, 500, "the token file cannot be read");
		return -1;
	}
	return lock;
}

ROUTE(route_token_list)
{
	json_t *a;

	if (!t->admin)
		return api_reply_error(r, 403, "tokens are managed with an admin token");
	a = json_array();
	for (uint32_t i = 0; a && i < api->tokens.n; i++)
		json_array_append_new(a, token_json(&api->tokens.v[i]));
	return api_reply_json(r, 200, json_pack("{s:o}", "tokens", a));
}

ROUTE(route_token_add)
{
	json_error_t jerr;
	json_t *b, *v, *out;
	char secret[TOKEN_STRLEN + 1];
	const char *name = NULL, *k;
	json_int_t peers = 1;
	int64_t expires = 0;
	bool admin = false;
	int lock, ret;

	if (!t->admin)
		return api_reply_error(r, 403, "tokens are managed with an admin token");
	b = r->body_len ? json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, &jerr) : json_object();
	if (!json_is_object(b)) {
		json_decref(b);
		return api_reply_error(r, 400, "the body must be a JSON object");
	}
	json_object_foreach(b, k, v) {
		if (!strcmp(k, "peers") && json_is_integer(v) && json_integer_value(v) >= 1 &&
		    json_integer_value(v) <= 1000000) {
			peers = json_integer_value(v);
		} else if (!strcmp(k, "name") && json_is_string(v)) {
			name = json_string_value(v);
		} else if (!strcmp(k, "admin") && json_is_boolean(v)) {
			admin = json_is_true(v);
		} else if (!strcmp(k, "expires") && json_is_string(v) &&
			   peer_expiry_parse(json_string_value(v), time(NULL), &expires)) {
			;
		} else if (!(!strcmp(k, "expires") && json_is_null(v))) {
			json_decref(b);
			return api_reply_error(r, 400, "`%s': not a valid field or value (peers: 1-1000000, name: "
					       "1-64 printable characters, expires: a time or duration, admin: boolean)", k);
		}
	}
	lock = lock_tokens(api, r);
	if (lock < 0) {
		json_decref(b);
		return true;
	}
	do
		ret = tokens_add(&api->tokens, admin, admin ? 0 : (uint32_t)peers, expires, name, time(NULL), secret);
	while (ret == -EAGAIN);
	if (!ret && (ret = tokens_save(&api->tokens, api->tokens_path)) < 0)
		api->tokens.n--;
	if (ret == -EINVAL) {
		api_reply_error(r, 400, "`name' must be 1-64 printable characters");
	} else if (ret == -E2BIG) {
		api_reply_error(r, 429, "too many tokens; revoke some");
	} else if (ret < 0) {
		api_reply_error(r, 500, "the token file cannot be written: %s", strerror(-ret));
	} else {
		out = token_json(&api->tokens.v[api->tokens.n - 1]);
		json_object_set_new(out, "token", json_string(secret));
		api_reply_json(r, 201, out);
	}
	/* the file changed under us: read it again next time */
	api->tokens.loaded = false;
	memzero(secret, sizeof(secret));
	close(lock);
	json_decref(b);
	return true;
}

ROUTE(route_token_revoke)
{
	int lock, ret;

	if (!t->admin)
		return api_reply_error(r, 403, "tokens are managed with an admin token");
	if (!strcmp(args[0], t->id))
		return api_reply_error(r, 403, "a token cannot revoke itself (use `weft api token revoke')");
	lock = lock_tokens(api, r);
	if (lock < 0)
		return true;
	ret = tokens_revoke(&api->tokens, args[0]);
	if (ret == -ENOENT)
		api_reply_error(r, 404, "no token %s", args[0]);
	else if ((ret = tokens_save(&api->tokens, api->tokens_path)) < 0)
		api_reply_error(r, 500, "the token file cannot be written: %s", strerror(-ret));
	else
		api_reply_empty(r, 204);
	api->tokens.loaded = false;
	close(lock);
	return true;
}
