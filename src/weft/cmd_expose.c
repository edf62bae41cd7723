/* cmd_expose.c: `weft expose`, ports of the servers' machines forwarded
 * into the tunnel, opened at run time through the servers' APIs (POST
 * /v1/expose; the servers keep them across restarts in their state files),
 * closed (DELETE /v1/expose?rule=) and listed from GET /v1/status. A server is named as `weft status` shows
 * it, or `all` for every server this machine knows. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chain_api.h"
#include "chain_cli.h"
#include "commands.h"
#include "json_out.h"
#include "options.h"
#include "usage.h"

#define EXPOSE_TIMEOUT_MS 5000
#define EXPOSE_RULE_MAX 512

/* The servers a command is for: one by name or API address, or all. */
static bool pick(const struct chain_state *st, const char *what, bool sel[CHAIN_MAX_NODES], const char *state_path)
{
	int idx;

	memset(sel, 0, CHAIN_MAX_NODES * sizeof(bool));
	if (!what || !strcmp(what, "all")) {
		for (unsigned i = 0; i < st->n_nodes; i++)
			sel[i] = st->nodes[i].kind == CHAIN_SERVER && st->nodes[i].has_api;
		return true;
	}
	idx = chain_state_find(st, what);
	if (idx < 0 || st->nodes[idx].kind != CHAIN_SERVER || !st->nodes[idx].has_api) {
		fprintf(stderr, "%s expose: `%s' is not a server with an API in %s (see `%s status')\n", prog_name, what,
			state_path, prog_name);
		return false;
	}
	sel[idx] = true;
	return true;
}

static int expose_add(const struct chain_state *st, const bool sel[CHAIN_MAX_NODES], const char *rule)
{
	json_t *o = json_pack("{s:s}", "rule", rule);
	char *body = o ? json_dumps(o, JSON_COMPACT) : NULL;
	int failed = 0;

	json_decref(o);
	if (!body) {
		fprintf(stderr, "%s expose: out of memory\n", prog_name);
		return 1;
	}
	for (unsigned i = 0; i < st->n_nodes; i++) {
		struct chain_api_reply r;
		char err[256];
		json_t *j;

		if (!sel[i])
			continue;
		if (chain_api_request(&st->nodes[i].api, 0, "POST", "/v1/expose", body, EXPOSE_TIMEOUT_MS, &r, err,
				      sizeof(err)) < 0) {
			fprintf(stderr, "%s expose: server %s's API: %s\n", prog_name, st->nodes[i].name, err);
			failed = 1;
			continue;
		}
		j = r.status == 201 && r.body ? json_loadb(r.body, r.body_len, 0, NULL) : NULL;
		if (r.status == 201)
			printf("%s: %s\n", st->nodes[i].name,
			       json_string_value(json_object_get(j, "rule")) ? json_string_value(json_object_get(j, "rule")) : rule);
		else {
			fprintf(stderr, "%s expose: server %s refused `%s': %s\n", prog_name, st->nodes[i].name, rule,
				chain_api_error(&r));
			failed = 1;
		}
		json_decref(j);
		chain_api_reply_free(&r);
	}
	free(body);
	return failed;
}

/* DELETE /v1/expose?rule=RULE, the rule percent-encoded: RULE as `list'
 * shows it (tcp/127.0.0.1:8080:10.99.0.2:80). */
static int expose_remove(const struct chain_state *st, const bool sel[CHAIN_MAX_NODES], const char *rule)
{
	char path[EXPOSE_RULE_MAX * 3 + 32], *o = path + snprintf(path, sizeof(path), "/v1/expose?rule=");
	int failed = 0;

	for (const unsigned char *c = (const unsigned char *)rule; *c; c++)
		o += (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
		     *c == '-' || *c == '.' || *c == '_' || *c == '~' ?
		     snprintf(o, 2, "%c", *c) : snprintf(o, 4, "%%%02X", *c);
	for (unsigned i = 0; i < st->n_nodes; i++) {
		struct chain_api_reply r;
		char err[256];

		if (!sel[i])
			continue;
		if (chain_api_request(&st->nodes[i].api, 0, "DELETE", path, NULL, EXPOSE_TIMEOUT_MS, &r, err,
				      sizeof(err)) < 0) {
			fprintf(stderr, "%s expose: server %s's API: %s\n", prog_name, st->nodes[i].name, err);
			failed = 1;
		} else if (r.status != 204) {
			fprintf(stderr, "%s expose: server %s did not close `%s': %s\n", prog_name, st->nodes[i].name,
				rule, chain_api_error(&r));
			failed = 1;
		} else
			printf("%s: closed %s\n", st->nodes[i].name, rule);
		chain_api_reply_free(&r);
	}
	return failed;
}

static int expose_list(const struct chain_state *st, const bool sel[CHAIN_MAX_NODES], bool as_json)
{
	json_t *all = as_json ? json_object() : NULL;
	int failed = 0;

	for (unsigned i = 0; i < st->n_nodes; i++) {
		struct chain_api_reply r;
		char err[256];
		json_t *doc, *list, *e;
		size_t k;

		if (!sel[i])
			continue;
		if (chain_api_get(&st->nodes[i].api, "/v1/status", EXPOSE_TIMEOUT_MS, &r, err, sizeof(err)) < 0 ||
		    r.status != 200) {
			fprintf(stderr, "%s expose: server %s's API: %s\n", prog_name, st->nodes[i].name,
				r.status ? chain_api_error(&r) : err);
			chain_api_reply_free(&r);
			failed = 1;
			continue;
		}
		doc = json_loadb(r.body, r.body_len, 0, NULL);
		chain_api_reply_free(&r);
		list = json_object_get(doc, "expose");
		if (as_json) {
			json_object_set(all, st->nodes[i].name, json_is_array(list) ? list : json_array());
		} else {
			json_array_foreach(list, k, e)
				printf("%s: %s%s\n", st->nodes[i].name, json_string_value(json_object_get(e, "rule")),
				       json_is_true(json_object_get(e, "runtime")) ? " (run time)" : " (config)");
		}
		json_decref(doc);
	}
	if (as_json && print_json(all))
		failed = 1;
	return failed;
}

int cmd_expose(int argc, char *argv[])
{
	struct chain_files files;
	struct chain_state *st;
	const char *iface = NULL, *v = NULL, *pos[2] = { NULL, NULL };
	bool sel[CHAIN_MAX_NODES], as_json = false, add;
	unsigned npos = 0;
	int ret = 1;

	if (argc < 2 || (strcmp(argv[1], "add") && strcmp(argv[1], "remove") && strcmp(argv[1], "list"))) {
		command_usage(stderr, "expose");
		return 1;
	}
	add = !strcmp(argv[1], "add") || !strcmp(argv[1], "remove"); /* both take SERVER RULE */
	for (int i = 2; i < argc; i++) {
		if (take_option(argc, argv, &i, "--interface", &v)) {
			if (!v)
				return 1;
			iface = v;
		} else if (!add && !strcmp(argv[i], "--json")) {
			as_json = true;
		} else if (argv[i][0] != '-' && npos < (add ? 2u : 1u)) {
			pos[npos++] = argv[i];
		} else {
			command_usage(stderr, "expose");
			return 1;
		}
	}
	if (add && npos != 2) {
		command_usage(stderr, "expose");
		return 1;
	}
	if (add && strlen(pos[1]) > EXPOSE_RULE_MAX) {
		fprintf(stderr, "%s expose: the rule is longer than %d characters\n", prog_name, EXPOSE_RULE_MAX);
		return 1;
	}
	st = malloc(sizeof(*st));
	if (!st || !chain_files_find(&files, iface, "expose") || !chain_files_load(&files, st, "expose") ||
	    !pick(st, pos[0], sel, files.state))
		goto out;
	ret = !strcmp(argv[1], "add") ? expose_add(st, sel, pos[1]) :
	      add ? expose_remove(st, sel, pos[1]) : expose_list(st, sel, as_json);
out:
	free(st);
	return ret;
}
