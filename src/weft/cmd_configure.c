/* cmd_configure.c: `weft configure`, the client half of `weft serve`: makes
 * both key pairs and writes the two configs, the client's (a wg-quick file
 * that `weft up`, wg-quick and the stock apps load) and the server's (for
 * `weft serve -f`, 0600), then prints the one command to run on the server.
 * The keys go into files only, never onto a command line. */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chain_state.h"
#include "commands.h"
#include "conf_path.h"
#include "ifname.h"
#include "keygen.h"
#include "options.h"
#include "usage.h"
#include "conf/conf.h"
#include "crypto/crypto.h"
#include "util/atomic_file.h"

#define CONFIGURE_DEFAULT_NAME "wg-serve"
#define CONFIGURE_DEFAULT_SERVER_FILE "weft-serve.conf"
#define CONFIGURE_CLIENT_V4 "10.99.0.2/32"
#define CONFIGURE_CLIENT_V6 "fd99::2/128"
/* The server's own tunnel addresses: where its Expose and SOCKS5
 * connections come from (the client accepts them through AllowedIPs). */
#define CONFIGURE_SERVER_ADDRS "10.99.0.1/32,fd99::1/128"
#define CONFIGURE_KEEPALIVE 25 /* the server may sit behind NAT or a firewall */
#define CONFIGURE_SERVE_MAX 4096

struct configure_opts {
	const char *endpoint, *routes, *name, *server_file, *client_file, *address;
	const char *allow, *deny;
	bool server_loopback, force;
};

static int fail(const char *fmt, const char *arg)
{
	fprintf(stderr, "%s configure: ", prog_name);
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	return 1;
}

static int add_prefixes(struct conf_prefix_list *list, const char *s, const char *what)
{
	return parse_prefix_list(list, s, what) ? 0 : -EINVAL;
}

/* A file the user named (--server-file, --client-file): it may be in a
 * directory others can write to, and it holds a private key, so it is
 * never written through a symlink nor over another user's file. */
static int write_user_file(const char *path, const char *text, size_t len, char *err, size_t errlen)
{
	int ret = atomic_file_create(path, text, len, 0600);

	if (ret < 0)
		snprintf(err, errlen, "%s: cannot write: %s", path,
			 ret == -ELOOP ? "it is a symbolic link, which is not followed" :
			 ret == -EPERM ? "the file belongs to another user" : strerror(-ret));
	return ret;
}

/* The server's file: its wg-quick part, then the [Serve] section. */
static int write_server(const struct conf *sc, const struct configure_opts *o, char *err, size_t errlen)
{
	char *text = NULL, *all;
	char serve[CONFIGURE_SERVE_MAX];
	size_t len = 0, slen;
	int ret;

	slen = (size_t)snprintf(serve, sizeof(serve),
				"\n[Serve]\n# Destinations the peer may reach (longest prefix wins); see weft serve --help\n"
				"%s%s%s%s%s%sServerLoopback = %s\n"
				"# From this machine into the tunnel, on 127.0.0.1 (docs/weft-serve.md):\n"
				"# Expose = 8080:10.99.0.2:80\n# SOCKS5 = 1080\n",
				o->allow ? "Allow = " : "", o->allow ? o->allow : "", o->allow ? "\n" : "",
				o->deny ? "Deny = " : "", o->deny ? o->deny : "", o->deny ? "\n" : "",
				o->server_loopback ? "true" : "false");
	if (slen >= sizeof(serve)) {
		snprintf(err, errlen, "--allow/--deny lists are too long");
		return -E2BIG;
	}
	if ((ret = conf_write(sc, 0, &text, &len)) < 0) {
		snprintf(err, errlen, "cannot format the server config: %s", strerror(-ret));
		return ret;
	}
	all = malloc(len + slen + 1);
	if (!all) {
		conf_text_free(text, len);
		return -ENOMEM;
	}
	memcpy(all, text, len);
	memcpy(all + len, serve, slen + 1);
	ret = write_user_file(o->server_file, all, len + slen, err, errlen);
	memzero(all, len + slen);
	free(all);
	conf_text_free(text, len);
	return ret;
}

/* The client's config into a file the user named; the config directory's
 * own files go through conf_save (a symlink there is the admin's). */
static int save_client_file(const struct conf *cc, const char *path, char *err, size_t errlen)
{
	char *text = NULL;
	size_t len = 0;
	int ret = conf_write(cc, 0, &text, &len);

	if (ret < 0) {
		snprintf(err, errlen, "cannot format the client config: %s", strerror(-ret));
		return ret;
	}
	ret = write_user_file(path, text, len, err, errlen);
	conf_text_free(text, len);
	return ret;
}

/* The client's knowledge of its network (chain_state.h), beside its
 * config: this machine and its first server, which `weft add server`,
 * `weft add client` and `weft status` read and grow. Public keys only. */
static int save_state(const struct configure_opts *o, const char *client_path, const struct conf *cc,
		      const struct conf *sc, const uint8_t cpub[32], const uint8_t spub[32],
		      const char *endpoint, char *err, size_t errlen)
{
	struct chain_state *st = malloc(sizeof(*st));
	struct chain_node *client, *server;
	char path[CHAIN_PATH_MAX];
	int ret = -ENAMETOOLONG;

	if (!st)
		return -ENOMEM;
	chain_state_init(st);
	if (!chain_state_path(path, sizeof(path), client_path)) {
		snprintf(err, errlen, "%.256s: no room for the path of its .chain file", client_path);
		goto out;
	}
	snprintf(st->relay_iface, sizeof(st->relay_iface), "%s", o->client_file ? "" : o->name);
	st->n_nodes = 2;
	client = &st->nodes[0];
	server = &st->nodes[1];
	*client = (struct chain_node){ .kind = CHAIN_CLIENT, .via = -1, .self = true };
	snprintf(client->name, sizeof(client->name), "client");
	memcpy(client->relay_key, cpub, 32);
	for (uint32_t i = 0; i < cc->iface.addresses.n && client->n_addrs < CHAIN_MAX_ADDRS; i++)
		client->addrs[client->n_addrs++] = cc->iface.addresses.v[i];
	*server = (struct chain_node){ .kind = CHAIN_SERVER, .via = 0 };
	snprintf(server->name, sizeof(server->name), "s1");
	memcpy(server->relay_key, spub, 32);
	for (uint32_t i = 0; i < sc->iface.addresses.n && server->n_addrs < CHAIN_MAX_ADDRS; i++)
		server->addrs[server->n_addrs++] = sc->iface.addresses.v[i];
	ret = -E2BIG;
	{
		struct conf_prefix_list routes = { 0 };
		if (!parse_prefix_list(&routes, o->routes, "--routes")) {
			free(routes.v);
			goto out;
		}
		if (routes.n > CHAIN_MAX_ROUTES) {
			snprintf(err, errlen, "--routes: more than %d prefixes", CHAIN_MAX_ROUTES);
			free(routes.v);
			goto out;
		}
		memcpy(server->routes, routes.v, routes.n * sizeof(*routes.v));
		server->n_routes = routes.n;
		free(routes.v);
	}
	snprintf(server->endpoint, sizeof(server->endpoint), "%s", endpoint);
	server->listen_port = sc->iface.listen_port;
	snprintf(server->config, sizeof(server->config), "%s", o->server_file);
	ret = chain_state_save(st, path, err, errlen);
out:
	free(st);
	return ret;
}

static int configure(const struct configure_opts *o)
{
	struct conf cc, sc;
	struct conf_peer *cpeer, *speer;
	struct conf_endpoint ep = { 0 };
	char client_path[4096], err[CONF_ERR_LEN];
	uint8_t ckey[32], skey[32], cpub[32], spub[32];
	bool exists = false;
	int ret = 1, lock = -1;

	conf_init(&cc);
	conf_init(&sc);
	if (!conf_endpoint_parse(&ep, o->endpoint) || !ep.port) {
		fail("--endpoint: expected HOST:PORT (the server's address and UDP port), not `%s'", o->endpoint);
		goto out;
	}
	if (!interface_name_valid(o->name)) {
		fail("--name: `%s' is not a valid interface name (1-15 of a-z A-Z 0-9 _=+.-)", o->name);
		goto out;
	}
	if (o->client_file)
		snprintf(client_path, sizeof(client_path), "%s", o->client_file);
	else if (!iface_conf_path(client_path, sizeof(client_path), o->name, &exists)) {
		fail("no room for the config path of %s", o->name);
		goto out;
	}
	if (!o->force && (exists || access(client_path, F_OK) == 0)) {
		fail("%s exists: remove it or pass --force", client_path);
		goto out;
	}
	if (!o->force && access(o->server_file, F_OK) == 0) {
		fail("%s exists: remove it or pass --force", o->server_file);
		goto out;
	}
	if (!generate_private_key(ckey) || !generate_private_key(skey) ||
	    !x25519_public(cpub, ckey) || !x25519_public(spub, skey)) {
		fail("cannot make keys: %s", strerror(errno));
		goto out;
	}

	/* the client: its key, its tunnel addresses, the server as the peer
	 * for the routes */
	cc.has_interface = true;
	memcpy(cc.iface.private_key, ckey, 32);
	cc.iface.has_private_key = true;
	if (add_prefixes(&cc.iface.addresses, o->address ? o->address : CONFIGURE_CLIENT_V4 "," CONFIGURE_CLIENT_V6,
			 "--address") < 0 ||
	    conf_peer_add(&cc, spub, &cpeer) < 0 ||
	    add_prefixes(&cpeer->allowed_ips, o->routes, "--routes") < 0 ||
	    add_prefixes(&cpeer->allowed_ips, CONFIGURE_SERVER_ADDRS, "the server's addresses") < 0 ||
	    (o->server_loopback && add_prefixes(&cpeer->allowed_ips, "240.0.0.0/4", "loopback range") < 0) ||
	    conf_peer_set_endpoint(cpeer, ep.host, ep.port) < 0)
		goto out;
	cpeer->persistent_keepalive = CONFIGURE_KEEPALIVE;
	cpeer->has_persistent_keepalive = true;

	/* the server: its key and port, the client as its one peer */
	sc.has_interface = true;
	memcpy(sc.iface.private_key, skey, 32);
	sc.iface.has_private_key = true;
	sc.iface.listen_port = ep.port;
	sc.iface.has_listen_port = true;
	if (add_prefixes(&sc.iface.addresses, CONFIGURE_SERVER_ADDRS, "the server's addresses") < 0 ||
	    conf_peer_add(&sc, cpub, &speer) < 0)
		goto out;
	for (uint32_t i = 0; i < cc.iface.addresses.n; i++) {
		struct conf_prefix host = cc.iface.addresses.v[i];
		host.cidr = host.addr.family == AF_INET ? 32 : 128;
		if (conf_prefix_list_add(&speer->allowed_ips, &host) < 0)
			goto out;
	}

	if (!o->client_file && (lock = iface_conf_lock(client_path)) < 0) {
		fail("cannot lock the config directory: %s", strerror(-lock));
		goto out;
	}
	if (write_server(&sc, o, err, sizeof(err)) < 0) {
		fail("%s", err);
		goto out;
	}
	if (o->client_file ? save_client_file(&cc, client_path, err, sizeof(err)) < 0 :
			     conf_save(&cc, client_path, 0, err, sizeof(err)) < 0) {
		fail("%s", err);
		unlink(o->server_file);
		goto out;
	}
	if (save_state(o, client_path, &cc, &sc, cpub, spub, o->endpoint, err, sizeof(err)) < 0) {
		fail("%s", err);
		goto out;
	}
	printf("Wrote %s (this machine's side; `%s up %s' brings it up, wg-quick and the\n"
	       "WireGuard apps load it too) and %s (the server's side, 0600: it holds the server's key).\n"
	       "\nCopy %s to the server (e.g. `scp -p'), then run there, as any user:\n\n"
	       "    weft serve -f %s\n",
	       client_path, prog_name, o->client_file ? client_path : o->name,
	       o->server_file, o->server_file, o->server_file);
	ret = 0;
out:
	if (lock >= 0)
		close(lock);
	free(ep.host);
	memzero(ckey, sizeof(ckey));
	memzero(skey, sizeof(skey));
	conf_free(&cc);
	conf_free(&sc);
	return ret;
}

int cmd_configure(int argc, char *argv[])
{
	struct configure_opts o = { .name = CONFIGURE_DEFAULT_NAME, .server_file = CONFIGURE_DEFAULT_SERVER_FILE };
	const char *v = NULL;

	for (int i = 1; i < argc; i++) {
		static const char *const names[] = { "--endpoint", "--routes", "--name", "--address",
						     "--server-config", "--client-config", "--allow", "--deny" };
		const char **slots[] = { &o.endpoint, &o.routes, &o.name, &o.address,
					 &o.server_file, &o.client_file, &o.allow, &o.deny };
		size_t k;

		if (!strcmp(argv[i], "--server-loopback")) {
			o.server_loopback = true;
			continue;
		}
		if (!strcmp(argv[i], "--force")) {
			o.force = true;
			continue;
		}
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			command_usage(stdout, "configure");
			return 0;
		}
		for (k = 0; k < sizeof(names) / sizeof(names[0]); k++)
			if (take_option(argc, argv, &i, names[k], &v))
				break;
		if (k == sizeof(names) / sizeof(names[0])) {
			command_usage(stderr, "configure");
			return 1;
		}
		if (!v)
			return 1; /* take_option said what is missing */
		*slots[k] = v;
	}
	if (!o.endpoint || !o.routes) {
		command_usage(stderr, "configure");
		return fail("%s", "--endpoint and --routes are required");
	}
	return configure(&o);
}
