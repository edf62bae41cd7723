/* cmd_api.c: `weft api IFACE [--listen ADDR:PORT] [--up] ...` (serve the
 * enrolment API and pages of an interface) and `weft api token
 * add|list|revoke IFACE` (its bearer tokens, tokens.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "server.h"
#include "weft/commands.h"
#include "weft/conf_path.h"
#include "weft/hooks.h"
#include "weft/ifname.h"
#include "weft/options.h"
#include "weft/peer_ctx.h"
#include "weft/usage.h"

static bool parse_uint(const char *opt, const char *v, unsigned max, unsigned *out)
{
	char *end;
	unsigned long n;

	errno = 0;
	n = strtoul(v, &end, 10);
	if (!*v || *end || errno || n > max || *v == '-') {
		fprintf(stderr, "%s: %s: `%s' is not a number from 0 to %u\n", prog_name, opt, v, max);
		return false;
	}
	*out = (unsigned)n;
	return true;
}

static bool iface_paths(const char *iface, char *conf, size_t conf_size, char *tokens, size_t tokens_size)
{
	bool exists;

	if (!interface_name_valid(iface)) {
		fprintf(stderr, "%s: `%s' is not a valid interface name\n", prog_name, iface);
		return false;
	}
	if (!iface_conf_path(conf, conf_size, iface, &exists) || !tokens_path(tokens, tokens_size, conf)) {
		fprintf(stderr, "%s: %s: the config path is too long\n", prog_name, iface);
		return false;
	}
	if (!exists) {
		fprintf(stderr, "%s: %s: no config file %s (make one with `weft interface add')\n", prog_name,
			iface, conf);
		return false;
	}
	return true;
}

/* ---- weft api token ---- */

static int token_add(int argc, char *argv[], const char *conf, const char *path)
{
	const char *v, *name = NULL;
	bool admin = false;
	unsigned peers = 0;
	int64_t expires = 0, now = time(NULL);
	char secret[TOKEN_STRLEN + 1], err[256];
	struct tokens t = { 0 };
	int lock, ret;

	for (int i = 3; i < argc; i++) {
		if (!strcmp(argv[i], "--admin")) {
			admin = true;
		} else if (take_option(argc, argv, &i, "--peers", &v)) {
			if (!v || !parse_uint("--peers", v, 1000000, &peers))
				return 1;
		} else if (take_option(argc, argv, &i, "--expires", &v)) {
			if (!v || !peer_expiry_parse(v, now, &expires))
				return 1;
		} else if (take_option(argc, argv, &i, "--name", &v)) {
			if (!v)
				return 1;
			name = v;
		} else {
			fprintf(stderr, "%s: unknown option `%s'\n", prog_name, argv[i]);
			command_usage(stderr, "api");
			return 1;
		}
	}
	if (admin && peers) {
		fprintf(stderr, "%s: --peers is for enrolment tokens; an admin token may add any number\n", prog_name);
		return 1;
	}
	if (!admin && !peers)
		peers = 1; /* an enrolment link is for one device unless said otherwise */
	lock = iface_conf_lock(conf);
	if (lock < 0) {
		fprintf(stderr, "%s: %s: cannot lock its directory: %s\n", prog_name, conf, strerror(-lock));
		return 1;
	}
	ret = tokens_load(&t, path, err, sizeof(err));
	if (ret < 0) {
		fprintf(stderr, "%s: %s\n", prog_name, err);
		goto out;
	}
	do
		ret = tokens_add(&t, admin, peers, expires, name, now, secret);
	while (ret == -EAGAIN);
	if (ret < 0) {
		fprintf(stderr, "%s: %s: cannot make a token: %s\n", prog_name, path,
			ret == -EINVAL ? "--name must be 1-64 printable characters" :
			ret == -E2BIG ? "too many tokens (revoke some)" : strerror(-ret));
		goto out;
	}
	ret = tokens_save(&t, path);
	if (ret < 0) {
		fprintf(stderr, "%s: %s: cannot write it: %s\n", prog_name, path, strerror(-ret));
		goto out;
	}
	fprintf(stderr, "%s: token %s (%s%s%s) - shown once, keep it:\n", prog_name, t.v[t.n - 1].id,
		admin ? "admin" : "enrolment", name ? ", " : "", name ? name : "");
	printf("%s\n", secret);
	ret = fflush(stdout) ? -EIO : 0;
out:
	memset(secret, 0, sizeof(secret));
	tokens_free(&t);
	close(lock);
	return ret < 0;
}

static int token_list(const char *path)
{
	struct tokens t = { 0 };
	char err[256], exp[WEFT_TIME_STRLEN];
	int ret = tokens_load(&t, path, err, sizeof(err));

	if (ret < 0) {
		fprintf(stderr, "%s: %s\n", prog_name, err);
		return 1;
	}
	printf("%-8s  %-6s  %-9s  %-20s  %s\n", "ID", "ROLE", "PEERS", "EXPIRES", "NAME");
	for (uint32_t i = 0; i < t.n; i++) {
		const struct token *k = &t.v[i];
		char peers[24];

		if (k->admin)
			snprintf(peers, sizeof(peers), "-");
		else
			snprintf(peers, sizeof(peers), "%u/%u", k->used, k->peers);
		if (k->expires)
			weft_time_format(exp, k->expires);
		else
			strcpy(exp, "never");
		printf("%-8s  %-6s  %-9s  %-20s  %s\n", k->id, k->admin ? "admin" : "enrol", peers, exp,
		       k->name[0] ? k->name : "-");
	}
	tokens_free(&t);
	return 0;
}

static int token_revoke(const char *conf, const char *path, const char *which)
{
	struct tokens t = { 0 };
	char err[256];
	int lock = iface_conf_lock(conf), ret;

	if (lock < 0) {
		fprintf(stderr, "%s: %s: cannot lock its directory: %s\n", prog_name, conf, strerror(-lock));
		return 1;
	}
	ret = tokens_load(&t, path, err, sizeof(err));
	if (ret < 0)
		fprintf(stderr, "%s: %s\n", prog_name, err);
	else if ((ret = tokens_revoke(&t, which)) < 0)
		fprintf(stderr, "%s: %s: no token with id or name `%s'\n", prog_name, path, which);
	else if ((ret = tokens_save(&t, path)) < 0)
		fprintf(stderr, "%s: %s: cannot write it: %s\n", prog_name, path, strerror(-ret));
	tokens_free(&t);
	close(lock);
	return ret < 0;
}

static int cmd_token(int argc, char *argv[])
{
	char conf[PATH_MAX], path[PATH_MAX];

	if (argc < 4) {
		command_usage(stderr, "api");
		return 1;
	}
	if (!iface_paths(argv[3], conf, sizeof(conf), path, sizeof(path)))
		return 1;
	if (!strcmp(argv[2], "add"))
		return token_add(argc - 1, argv + 1, conf, path);
	if (!strcmp(argv[2], "list") && argc == 4)
		return token_list(path);
	if (!strcmp(argv[2], "revoke") && argc == 5)
		return token_revoke(conf, path, argv[4]);
	command_usage(stderr, "api");
	return 1;
}

/* ---- weft api IFACE ---- */

static void static_default(char *out, size_t size)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	const char *env = getenv(API_STATIC_ENV);
	char *slash;

	out[0] = '\0';
	if (env && *env) {
		snprintf(out, size, "%s", env);
		return;
	}
	if (n <= 0)
		return;
	self[n] = '\0';
	slash = strrchr(self, '/');
	if (!slash)
		return;
	*slash = '\0';
	/* installed: PREFIX/bin/weft and PREFIX/share/weft/www; built:
	 * build/weft and src/api/static */
	if ((size_t)snprintf(out, size, "%s/../share/weft/www", self) < size && access(out, R_OK) == 0)
		return;
	if ((size_t)snprintf(out, size, "%s/../src/api/static", self) < size && access(out, R_OK) == 0)
		return;
	out[0] = '\0';
}

int cmd_api(int argc, char *argv[])
{
	struct api_serve_opts o = { .listen = API_DEFAULT_LISTEN };
	const char *v, *static_dir = NULL;
	bool up = false;
	struct api *api;
	int ret;

	if (argc >= 2 && !strcmp(argv[1], "token"))
		return cmd_token(argc, argv);
	if (argc < 2 || argv[1][0] == '-') {
		command_usage(stderr, "api");
		return 1;
	}
	api = calloc(1, sizeof(*api));
	if (!api) {
		fprintf(stderr, "%s: out of memory\n", prog_name);
		return 1;
	}
	api->iface = argv[1];
	api->expiry_grace = API_EXPIRY_GRACE_DEFAULT;
	api_limits_default(&api->limits);
	pthread_mutex_init(&api->lock, NULL);
	api->group.lock = -1;
	for (int i = 2; i < argc; i++) {
		unsigned n;

		if (!strcmp(argv[i], "--up")) {
			up = true;
		} else if (take_option(argc, argv, &i, "--listen", &v)) {
			if (!v)
				return 1;
			o.listen = v;
		} else if (take_option(argc, argv, &i, "--static", &v)) {
			if (!v)
				return 1;
			static_dir = v;
		} else if (take_option(argc, argv, &i, "--tls-cert", &v)) {
			if (!v)
				return 1;
			o.tls_cert = v;
		} else if (take_option(argc, argv, &i, "--tls-key", &v)) {
			if (!v)
				return 1;
			o.tls_key = v;
		} else if (take_option(argc, argv, &i, "--rate", &v)) {
			if (!v || !parse_uint("--rate", v, 1000000, &api->limits.rate))
				return 1;
			api->limits.burst = api->limits.rate * 2;
		} else if (take_option(argc, argv, &i, "--max-peers", &v)) {
			if (!v || !parse_uint("--max-peers", v, 1000000, &api->limits.max_peers))
				return 1;
		} else if (take_option(argc, argv, &i, "--max-connections", &v)) {
			if (!v || !parse_uint("--max-connections", v, 65536, &n) || !n)
				return 1;
			api->limits.max_connections = n;
			if (api->limits.per_ip_connections > n)
				api->limits.per_ip_connections = n;
		} else if (take_option(argc, argv, &i, "--grace", &v)) {
			if (!v || !parse_uint("--grace", v, 100u * 86400, &n))
				return 1;
			api->expiry_grace = n;
		} else {
			fprintf(stderr, "%s: unknown option `%s'\n", prog_name, argv[i]);
			command_usage(stderr, "api");
			return 1;
		}
	}
	if (!o.tls_cert != !o.tls_key) {
		fprintf(stderr, "%s: --tls-cert and --tls-key go together\n", prog_name);
		return 1;
	}
	if (!iface_paths(api->iface, api->conf_path, sizeof(api->conf_path), api->tokens_path,
			 sizeof(api->tokens_path)))
		return 1;
	if (static_dir)
		snprintf(api->static_dir, sizeof(api->static_dir), "%s", static_dir);
	else
		static_default(api->static_dir, sizeof(api->static_dir));
	if (api_init(api) < 0)
		return 1;
	if (up) {
		char *up_argv[] = { "up", (char *)api->iface, NULL };

		if (cmd_quick(2, up_argv))
			return 1;
	}
	ret = api_serve(api, &o);
	if (up) {
		char *down_argv[] = { "down", (char *)api->iface, NULL };

		if (cmd_quick(2, down_argv))
			ret = -EIO;
	}
	api_fini(api);
	free(api);
	return ret < 0;
}
