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

#include "chain_conf.h"
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

/* The network as it starts (chain_state.h): this machine (relay address
 * host 1, its tunnel addresses) and its first server s1 (host 2: relay
 * and API addresses; 10.99.0.1 and fd99::1 as its tunnel addresses). */
static int first_state(struct chain_state *st, const struct configure_opts *o, const struct conf_endpoint *ep,
		       const uint8_t cpub[32], const uint8_t spub[32], const uint8_t epub[32])
{
	struct chain_node *client = &st->nodes[0], *server = &st->nodes[1];
	struct conf_prefix_list l = { 0 };
	int ret = -EINVAL;

	chain_state_init(st);
	snprintf(st->relay_iface, sizeof(st->relay_iface), "%s", o->client_file ? "" : o->name);
	st->n_nodes = 2;
	*client = (struct chain_node){ .kind = CHAIN_CLIENT, .via = -1, .self = true, .has_relay = true };
	snprintf(client->name, sizeof(client->name), "client");
	memcpy(client->relay_key, cpub, 32);
	chain_prefix_host(&client->relay, &st->relay_prefix, 1);
	if (!parse_prefix_list(&l, o->address ? o->address : CONFIGURE_CLIENT_V4 "," CONFIGURE_CLIENT_V6, "--address"))
		goto out;
	if (l.n > CHAIN_MAX_ADDRS) {
		fail("--address: more than %s addresses", "4");
		goto out;
	}
	memcpy(client->addrs, l.v, l.n * sizeof(*l.v));
	client->n_addrs = l.n;
	l.n = 0;

	*server = (struct chain_node){ .kind = CHAIN_SERVER, .via = 0, .has_relay = true, .has_api = true,
				       .has_e2e_key = true, .listen_port = ep->port };
	snprintf(server->name, sizeof(server->name), "s1");
	memcpy(server->relay_key, spub, 32);
	memcpy(server->e2e_key, epub, 32);
	chain_prefix_host(&server->relay, &st->relay_prefix, 2);
	chain_prefix_host(&server->api, &st->api_prefix, 2);
	if (!parse_prefix_list(&l, CONFIGURE_SERVER_ADDRS, "the server's addresses"))
		goto out;
	memcpy(server->addrs, l.v, l.n * sizeof(*l.v));
	server->n_addrs = l.n;
	l.n = 0;
	if (!parse_prefix_list(&l, o->routes, "--routes"))
		goto out;
	if (l.n > CHAIN_MAX_ROUTES) {
		fail("--routes: more than %s prefixes", "64");
		goto out;
	}
	memcpy(server->routes, l.v, l.n * sizeof(*l.v));
	server->n_routes = l.n;
	snprintf(server->endpoint, sizeof(server->endpoint), "%s", o->endpoint);
	if (!realpath(o->server_file, server->config))
		snprintf(server->config, sizeof(server->config), "%s", o->server_file);
	ret = 0;
out:
	free(l.v);
	return ret;
}

static int configure(const struct configure_opts *o)
{
	struct conf cc;
	struct chain_state *st = malloc(sizeof(*st));
	struct conf_endpoint ep = { 0 };
	struct chain_serve_opts so = { .allow = o->allow, .deny = o->deny, .server_loopback = o->server_loopback };
	char client_path[4096], state_path[CHAIN_PATH_MAX], err[CONF_ERR_LEN + CHAIN_PATH_MAX], *text = NULL;
	uint8_t ckey[32], skey[32], ekey[32], cpub[32], spub[32], epub[32];
	size_t len = 0;
	bool exists = false;
	int ret = 1, lock = -1;

	conf_init(&cc);
	if (!st)
		goto out;
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
	if (!chain_state_path(state_path, sizeof(state_path), client_path)) {
		fail("no room for the path of the .chain file beside %s", client_path);
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
	if (!generate_private_key(ckey) || !generate_private_key(skey) || !generate_private_key(ekey) ||
	    !x25519_public(cpub, ckey) || !x25519_public(spub, skey) || !x25519_public(epub, ekey)) {
		fail("cannot make keys: %s", strerror(errno));
		goto out;
	}
	if (first_state(st, o, &ep, cpub, spub, epub) < 0)
		goto out;

	/* the client: the server as its one peer, for the routes, the
	 * server's addresses and API, and the relay prefix (the way to servers
	 * attached later); the server: the client as its one peer */
	if ((ret = chain_conf_client_relay(st, 0, ckey, &cc)) < 0 ||
	    (o->server_loopback &&
	     (ret = conf_prefix_list_add(&cc.peers[0].allowed_ips,
					 &(struct conf_prefix){ .addr = { .family = AF_INET, .bytes = { 240 } },
								.cidr = 4 })) < 0) ||
	    (ret = chain_conf_server(st, 1, skey, ekey, &so, &text, &len)) < 0) {
		fail("cannot make the configs: %s", strerror(-ret));
		ret = 1;
		goto out;
	}
	ret = 1;
	if (!o->client_file && (lock = iface_conf_lock(client_path)) < 0) {
		fail("cannot lock the config directory: %s", strerror(-lock));
		goto out;
	}
	if (write_user_file(o->server_file, text, len, err, sizeof(err)) < 0) {
		fail("%s", err);
		goto out;
	}
	if (o->client_file ? save_client_file(&cc, client_path, err, sizeof(err)) < 0 :
			     conf_save(&cc, client_path, 0, err, sizeof(err)) < 0) {
		fail("%s", err);
		unlink(o->server_file);
		goto out;
	}
	if (!realpath(o->server_file, st->nodes[1].config))
		snprintf(st->nodes[1].config, sizeof(st->nodes[1].config), "%s", o->server_file);
	if (chain_state_save(st, state_path, err, sizeof(err)) < 0) {
		fail("%s", err);
		goto out;
	}
	printf("Wrote %s (this machine's side; `%s up %s' brings it up, wg-quick and the\n"
	       "WireGuard apps load it too) and %s (the server's side, 0600: it holds the server's keys).\n"
	       "\nCopy %s to the server (e.g. `scp -p'), then run there, as any user:\n\n"
	       "    weft serve -f %s\n"
	       "\nThe server's API answers at fd:16::2 through the tunnel (`%s ping s1'); `%s add server'\n"
	       "attaches more servers behind it, `%s status' shows them (%s).\n",
	       client_path, prog_name, o->client_file ? client_path : o->name,
	       o->server_file, o->server_file, o->server_file, prog_name, prog_name, prog_name, state_path);
	ret = 0;
out:
	if (lock >= 0)
		close(lock);
	if (text) {
		memzero(text, len);
		free(text);
	}
	free(ep.host);
	free(st);
	memzero(ckey, sizeof(ckey));
	memzero(skey, sizeof(skey));
	memzero(ekey, sizeof(ekey));
	conf_free(&cc);
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
