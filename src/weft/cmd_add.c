/* cmd_add.c: `weft add server` and `weft add client`, which grow a
 * client's network of `weft serve` servers (docs/weft-serve-chain.md).
 *
 * add server: makes the new server's two key pairs and addresses, tells
 * the server it attaches to (--via, by its API) to take it as a relay
 * neighbour and every server between the first one and that one where it
 * now is, then writes the new server's config (0600) and this machine's
 * end-to-end file, restarts that interface when the tunnel is up, and
 * prints the command to run on the new server, as `weft configure` does.
 * With --via this machine, the new server is a second first hop: a peer in
 * the relay file, no API to ask.
 *
 * add client: configs for another person: their own keys and addresses, a
 * relay peer (--via, default this machine's first hop) and an e2e peer for
 * every other server of that tree, the routes copied (the person may edit
 * them), and their own .chain; the servers learn the new client through
 * their APIs.
 *
 * The APIs are asked first (chain_peers.h): when one refuses, nothing is
 * written here and what was already added is taken back (best effort). */
#include <errno.h>
#include <jansson.h>
#include <arpa/inet.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chain_api.h"
#include "chain_cli.h"
#include "chain_conf.h"
#include "chain_peers.h"
#include "commands.h"
#include "conf_path.h"
#include "hooks.h"
#include "ifname.h"
#include "keygen.h"
#include "options.h"
#include "usage.h"
#include "conf/conf.h"
#include "crypto/crypto.h"
#include "util/atomic_file.h"
#include "util/encoding.h"


static int fail(const char *what, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(const char *what, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s add %s: ", prog_name, what);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

/* ---- files and interfaces ---- */

/* The end-to-end twin of the relay config: DIR/NAME.conf -> DIR/NAME-e2e.conf,
 * interface NAME-e2e. */
static bool e2e_paths(const char *relay_conf, char *conf, size_t size, char *iface, size_t isize)
{
	const char *base = strrchr(relay_conf, '/');
	size_t n = strlen(relay_conf), blen;

	base = base ? base + 1 : relay_conf;
	if (n >= 5 && !strcmp(relay_conf + n - 5, ".conf"))
		n -= 5;
	blen = (size_t)(relay_conf + n - base);
	if ((size_t)snprintf(conf, size, "%.*s-e2e.conf", (int)n, relay_conf) >= size ||
	    (size_t)snprintf(iface, isize, "%.*s-e2e", (int)blen, base) >= isize)
		return false;
	return interface_name_valid(iface);
}

/* This machine's e2e private key: the one in its e2e file, else a new one. */
static int self_e2e_key(const char *path, uint8_t priv[32], bool *made)
{
	struct conf c;
	char err[CONF_ERR_LEN];
	int ret = conf_load(&c, path, 0, err, sizeof(err));

	*made = false;
	if (ret == -ENOENT) {
		*made = true;
		return generate_private_key(priv) ? 0 : -errno;
	}
	if (ret < 0) {
		fprintf(stderr, "%s: %s\n", prog_name, err);
		return ret;
	}
	if (!c.iface.has_private_key) {
		fprintf(stderr, "%s: %s has no PrivateKey\n", prog_name, path);
		conf_free(&c);
		return -EINVAL;
	}
	memcpy(priv, c.iface.private_key, 32);
	conf_free(&c);
	return 0;
}

/* `weft down` then `weft up` of one of this machine's interfaces (conf,
 * iface), so that it has the new peers and their routes; only when the
 * relay interface is up (else `weft up` is the user's next step anyway). */
static void refresh(const struct chain_state *st, const char *conf, const char *iface)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (!st->relay_iface[0] || !link_exists(st->relay_iface) || n <= 0) {
		printf("\nBring up %s with the relay interface: `%s up %s'.\n", iface, prog_name, conf);
		return;
	}
	self[n] = 0;
	if (link_exists(iface)) {
		char *down[] = { self, (char *)"down", (char *)conf, NULL };
		if (run_program_stdout_to_stderr(down) != 0)
			fprintf(stderr, "%s: `%s down %s' failed\n", prog_name, prog_name, conf);
	}
	{
		char *up[] = { self, (char *)"up", (char *)conf, NULL };
		if (run_program_stdout_to_stderr(up) != 0)
			fprintf(stderr, "%s: `%s up %s' failed: run it yourself\n", prog_name, prog_name, conf);
		else
			printf("\n%s is up with the new peer.\n", iface);
	}
}

/* A server attached to this machine: its peer, as the relay file of the
 * new state has it, added to this machine's relay file (the rest of the
 * file, e.g. a 240.0.0.0/4 of --server-loopback, stays). */
static int add_relay_peer(const struct chain_state *st, unsigned self, unsigned server, const char *path)
{
	struct conf relay, fresh;
	const struct conf_peer *want;
	struct conf_peer *p;
	char err[CONF_ERR_LEN];
	int ret;

	conf_init(&fresh);
	if ((ret = conf_load(&relay, path, 0, err, sizeof(err))) < 0) {
		fail("server", "%s", err);
		return ret;
	}
	ret = chain_conf_client_relay(st, self, relay.iface.private_key, &fresh);
	want = ret < 0 ? NULL : conf_peer_find(&fresh, st->nodes[server].relay_key);
	if (!want || (ret = conf_peer_add(&relay, want->public_key, &p)) < 0) {
		fail("server", "%s: cannot add the new server's peer: %s", path, strerror(want ? -ret : ENOENT));
		ret = ret < 0 ? ret : -ENOENT;
		goto out;
	}
	for (uint32_t i = 0; i < want->allowed_ips.n && !ret; i++)
		ret = conf_prefix_list_add(&p->allowed_ips, &want->allowed_ips.v[i]);
	if (!ret && want->endpoint.host)
		ret = conf_peer_set_endpoint(p, want->endpoint.host, want->endpoint.port);
	p->persistent_keepalive = want->persistent_keepalive;
	p->has_persistent_keepalive = want->has_persistent_keepalive;
	if (!ret && (ret = conf_save(&relay, path, 0, err, sizeof(err))) < 0)
		fail("server", "%s", err);
out:
	conf_free(&relay);
	conf_free(&fresh);
	return ret;
}

/* Clients made before this server have no peer for it: it knows their e2e
 * keys, so the [Peer] this machine got is all they need. Public values only. */
static void others_hint(const struct chain_state *st, unsigned self, const struct conf *e2e, const uint8_t key[32])
{
	const struct conf_peer *p = conf_peer_find(e2e, key);
	char b64[WEFT_KEY_B64_LEN + 1], s[CONF_PREFIX_STRLEN], ep[CONF_ENDPOINT_STRLEN];
	bool any = false;

	for (unsigned i = 0; i < st->n_nodes; i++)
		if (st->nodes[i].kind == CHAIN_CLIENT && i != self) {
			printf("%s%s", any ? ", " : "\nThe other clients (", st->nodes[i].name);
			any = true;
		}
	if (!any || !p)
		return;
	key_to_base64(b64, p->public_key);
	printf(") reach the new server once their end-to-end file has this peer:\n\n"
	       "    [Peer]\n    PublicKey = %s\n    AllowedIPs = ", b64);
	for (uint32_t i = 0; i < p->allowed_ips.n; i++) {
		conf_prefix_format(s, &p->allowed_ips.v[i]);
		printf("%s%s", i ? ", " : "", s);
	}
	if (conf_endpoint_format(ep, sizeof(ep), &p->endpoint) >= 0)
		printf("\n    Endpoint = %s", ep);
	printf("\n    PersistentKeepalive = %u\n", p->persistent_keepalive);
}

static int write_text(const char *path, const char *text, size_t len, const char *what)
{
	int ret = atomic_file_create(path, text, len, 0600);

	if (ret < 0)
		fail(what, "%s: cannot write: %s", path,
		     ret == -ELOOP ? "it is a symbolic link, which is not followed" :
		     ret == -EPERM ? "the file belongs to another user" : strerror(-ret));
	return ret;
}

static int write_conf(const char *path, const struct conf *c, const char *what)
{
	char *text = NULL;
	size_t len = 0;
	int ret = conf_write(c, 0, &text, &len);

	if (ret < 0)
		return fail(what, "cannot format %s: %s", path, strerror(-ret)), ret;
	ret = write_text(path, text, len, what);
	conf_text_free(text, len);
	return ret;
}

/* A new node's addresses: host h of the relay, API (servers) and tunnel
 * prefixes. */
static bool number_node(const struct chain_state *st, struct chain_node *n, uint32_t h)
{
	struct conf_addr v4, v6;

	if (!h || !chain_prefix_host(&n->relay, &st->relay_prefix, h) ||
	    !chain_prefix_host(&v4, &st->tunnel_v4, h) || !chain_prefix_host(&v6, &st->tunnel_v6, h) ||
	    (n->kind == CHAIN_SERVER && !chain_prefix_host(&n->api, &st->api_prefix, h)))
		return false;
	n->has_relay = true;
	n->has_api = n->kind == CHAIN_SERVER;
	n->addrs[0] = (struct conf_prefix){ .addr = v4, .cidr = 32 };
	n->addrs[1] = (struct conf_prefix){ .addr = v6, .cidr = 128 };
	n->n_addrs = 2;
	return true;
}

static bool make_keys(uint8_t rpriv[32], uint8_t rpub[32], uint8_t epriv[32], uint8_t epub[32])
{
	return generate_private_key(rpriv) && generate_private_key(epriv) && x25519_public(rpub, rpriv) &&
	       x25519_public(epub, epriv);
}

static void default_name(const struct chain_state *st, enum chain_kind kind, char *out, size_t size)
{
	unsigned k = 1;

	for (unsigned i = 0; i < st->n_nodes; i++)
		k += st->nodes[i].kind == kind;
	for (;; k++) {
		snprintf(out, size, "%s%u", kind == CHAIN_SERVER ? "s" : "client", k);
		if (chain_state_find(st, out) < 0)
			return;
	}
}

/* A server the commands attach to, by name or API address. */
static int find_server(const struct chain_state *st, const char *what, const char *via, const char *state_path)
{
	int idx = chain_state_find(st, via);

	if (idx < 0 || st->nodes[idx].kind != CHAIN_SERVER) {
		fail(what, "--via: `%s' is not a server of %s (see `%s status')", via, state_path, prog_name);
		return -1;
	}
	if (!st->nodes[idx].has_api) {
		fail(what, "server %s has no API address (its config has no [Serve] API)", st->nodes[idx].name);
		return -1;
	}
	return idx;
}

/* Two weft commands must not grow the same .chain at once: the config
 * directory's lock (conf_path.h), held from reading the state to saving it. */
static int lock_dir(const struct chain_files *f, const char *what)
{
	int fd = iface_conf_lock(f->conf);

	if (fd < 0)
		fail(what, "cannot lock the directory of %s: %s", f->conf, strerror(-fd));
	return fd;
}

/* ---- add server ---- */

struct server_opts {
	const char *via, *endpoint, *routes, *name, *server_file, *via_endpoint, *iface;
	struct chain_serve_opts serve;
	bool force;
};

/* HOST:PORT as the servers take it, IP:PORT: a host name is resolved here
 * (said so: the via server may see another address for it). false after
 * saying why. */
static bool endpoint_ip(const char *s, const char *opt, char *out, size_t size, uint16_t *port)
{
	struct conf_endpoint ep = { 0 };
	struct conf_addr a;
	bool ok = false;

	if (!conf_endpoint_parse(&ep, s) || !ep.port) {
		fail("server", "%s: expected HOST:PORT, not `%s'", opt, s);
		goto out;
	}
	*port = ep.port;
	if (!conf_addr_parse(&a, ep.host)) {
		struct addrinfo hints = { .ai_socktype = SOCK_DGRAM, .ai_flags = AI_ADDRCONFIG }, *res = NULL;
		char ip[CONF_ADDR_STRLEN];
		int e = getaddrinfo(ep.host, NULL, &hints, &res);

		if (e || !res || !inet_ntop(res->ai_family, res->ai_family == AF_INET6 ?
				(void *)&((struct sockaddr_in6 *)res->ai_addr)->sin6_addr :
				(void *)&((struct sockaddr_in *)res->ai_addr)->sin_addr, ip, sizeof(ip))) {
			fail("server", "%s: cannot resolve `%s': %s", opt, ep.host, e ? gai_strerror(e) : "no address");
			if (res)
				freeaddrinfo(res);
			goto out;
		}
		freeaddrinfo(res);
		printf("%s: %s is %s from here; the servers are given that address.\n", opt, ep.host, ip);
		free(ep.host);
		ep.host = strdup(ip);
		if (!ep.host)
			goto out;
	}
	ok = conf_endpoint_format(out, size, &ep) > 0;
out:
	free(ep.host);
	return ok;
}

static int add_server(const struct server_opts *o)
{
	struct chain_files files;
	struct chain_state *st = malloc(sizeof(*st));
	struct chain_node n = { .kind = CHAIN_SERVER };
	char endpoint[CONF_ENDPOINT_STRLEN], via_endpoint[CONF_ENDPOINT_STRLEN];
	uint16_t port = 0, via_port = 0;
	struct conf_prefix_list routes = { 0 };
	struct chain_peers u;
	struct conf e2e;
	char e2e_conf[CHAIN_PATH_MAX], e2e_iface[16], name[CHAIN_NAME_MAX + 1], file[CHAIN_PATH_MAX];
	char err[CONF_ERR_LEN + CHAIN_PATH_MAX], *text = NULL;
	uint8_t rpriv[32], epriv[32], mypriv[32];
	size_t len = 0;
	bool made_mine = false, to_me;
	int via, self, idx, ret = 1, npeers, lock = -1;

	conf_init(&e2e);
	if (!st || !chain_files_find(&files, o->iface, "add server") || (lock = lock_dir(&files, "server")) < 0 ||
	    !chain_files_load(&files, st, "add server"))
		goto out;
	if ((self = chain_state_self(st)) < 0) {
		fail("server", "%s names no node as this machine", files.state);
		goto out;
	}
	/* --via this machine: a second first hop, its own tree; no API to ask */
	via = chain_state_find(st, o->via);
	to_me = via >= 0 && st->nodes[via].kind == CHAIN_CLIENT;
	if (to_me && via != self) {
		fail("server", "--via: `%s' is another client: attach a server to this machine or to a server", o->via);
		goto out;
	}
	if (!to_me && (via = find_server(st, "server", o->via, files.state)) < 0)
		goto out;
	if (!endpoint_ip(o->endpoint, "--endpoint", endpoint, sizeof(endpoint), &port) ||
	    (o->via_endpoint &&
	     !endpoint_ip(o->via_endpoint, "--via-endpoint", via_endpoint, sizeof(via_endpoint), &via_port)))
		goto out;
	if (!parse_prefix_list(&routes, o->routes, "--routes"))
		goto out;
	if (routes.n > CHAIN_MAX_ROUTES) {
		fail("server", "--routes: more than %d prefixes", CHAIN_MAX_ROUTES);
		goto out;
	}
	if (o->name)
		snprintf(name, sizeof(name), "%s", o->name);
	else
		default_name(st, CHAIN_SERVER, name, sizeof(name));
	if (!chain_name_valid(name) || chain_state_find(st, name) >= 0) {
		fail("server", "--name: `%s' is %s", name, chain_name_valid(name) ? "taken" :
		     "not a valid name (1-32 of A-Z a-z 0-9 _.-)");
		goto out;
	}
	if (o->server_file)
		snprintf(file, sizeof(file), "%s", o->server_file);
	else
		snprintf(file, sizeof(file), "weft-serve-%s.conf", name);
	if (!o->force && access(file, F_OK) == 0) {
		fail("server", "%s exists: remove it or pass --force", file);
		goto out;
	}
	if (!e2e_paths(files.conf, e2e_conf, sizeof(e2e_conf), e2e_iface, sizeof(e2e_iface))) {
		fail("server", "%s: no valid name for its end-to-end twin (the interface name + \"-e2e\" must "
		     "fit 15 characters)", files.conf);
		goto out;
	}

	/* the new node */
	snprintf(n.name, sizeof(n.name), "%s", name);
	n.via = via;
	if (!number_node(st, &n, chain_state_free_host(st))) {
		fail("server", "no free address left in the network's prefixes");
		goto out;
	}
	memcpy(n.routes, routes.v, routes.n * sizeof(*routes.v));
	n.n_routes = routes.n;
	snprintf(n.endpoint, sizeof(n.endpoint), "%s", endpoint);
	n.listen_port = port;
	snprintf(n.config, sizeof(n.config), "%s", file);
	if (!make_keys(rpriv, n.relay_key, epriv, n.e2e_key) || self_e2e_key(e2e_conf, mypriv, &made_mine) < 0) {
		fail("server", "cannot make keys: %s", strerror(errno));
		goto out;
	}
	n.has_e2e_key = true;
	if (!st->nodes[self].has_e2e_key) {
		x25519_public(st->nodes[self].e2e_key, mypriv);
		st->nodes[self].has_e2e_key = true;
	}

	/* the servers learn where it is */
	chain_peers_init(&u, st, "add server");
	if (!to_me && (chain_peers_post(&u, (unsigned)via, "relay", "server", n.relay_key, NULL, 0, &n.relay,
					endpoint) < 0 ||
		       chain_peers_route_down(&u, (unsigned)via, &n.relay) < 0)) {
		chain_peers_undo(&u);
		goto out;
	}
	if ((idx = chain_state_add(st, &n)) < 0) {
		fail("server", "%s: %s", files.state, strerror(-idx));
		chain_peers_undo(&u);
		goto out;
	}
	snprintf(st->e2e_iface, sizeof(st->e2e_iface), "%s", e2e_iface);

	/* its config, this machine's e2e file, the state */
	{
		struct chain_serve_opts so = o->serve;
		so.via_endpoint = o->via_endpoint ? via_endpoint : NULL;
		if ((ret = chain_conf_server(st, (unsigned)idx, rpriv, epriv, &so, &text, &len)) < 0) {
			fail("server", "cannot make the server's config: %s", strerror(-ret));
			ret = 1;
			chain_peers_undo(&u);
			goto out;
		}
	}
	ret = 1;
	if (write_text(file, text, len, "server") < 0) {
		chain_peers_undo(&u);
		goto out;
	}
	if (!realpath(file, st->nodes[idx].config)) /* where it is, for `weft status --json' */
		snprintf(st->nodes[idx].config, sizeof(st->nodes[idx].config), "%s", file);
	if (to_me && add_relay_peer(st, (unsigned)self, (unsigned)idx, files.conf) < 0)
		goto out;
	npeers = chain_conf_client_e2e(st, (unsigned)self, mypriv, &e2e);
	if (npeers < 0 || conf_save(&e2e, e2e_conf, 0, err, sizeof(err)) < 0) {
		fail("server", "%s", npeers < 0 ? strerror(-npeers) : err);
		goto out;
	}
	if (chain_state_save(st, files.state, err, sizeof(err)) < 0) {
		fail("server", "%s", err);
		goto out;
	}
	{
		char ra[CONF_ADDR_STRLEN], aa[CONF_ADDR_STRLEN];
		const char *base = strrchr(file, '/') ? strrchr(file, '/') + 1 : file;

		conf_addr_format(ra, &n.relay);
		conf_addr_format(aa, &n.api);
		printf("Server %s attached to %s: relay address %s, API address %s.\n"
		       "Wrote %s (the new server's side, 0600: it holds its keys) and %s\n"
		       "(this machine's end-to-end peers: %d server%s).\n"
		       "\nCopy %s to the new server (e.g. `scp -p'), then run there, as any user:\n\n"
		       "    weft serve -f %s\n",
		       name, st->nodes[via].name, ra, aa, file, e2e_conf, npeers, npeers == 1 ? "" : "s", file, base);
	}
	close(lock); /* `weft up' takes it */
	lock = -1;
	if (to_me) {
		refresh(st, files.conf, st->relay_iface);
	} else {
		others_hint(st, (unsigned)self, &e2e, n.e2e_key);
		refresh(st, e2e_conf, e2e_iface);
	}
	ret = 0;
out:
	if (text) {
		memzero(text, len);
		free(text);
	}
	if (lock >= 0)
		close(lock);
	memzero(rpriv, sizeof(rpriv));
	memzero(epriv, sizeof(epriv));
	memzero(mypriv, sizeof(mypriv));
	conf_free(&e2e);
	free(routes.v);
	free(st);
	return ret;
}

/* ---- add client ---- */

struct client_opts {
	const char *via, *name, *dir, *iface, *endpoint;
	bool force;
};

static int add_client(const struct client_opts *o)
{
	struct chain_files files;
	struct chain_state *st = malloc(sizeof(*st));
	struct conf_endpoint ep = { 0 };
	struct chain_node n = { .kind = CHAIN_CLIENT };
	struct chain_peers u;
	struct conf relay, e2e;
	char name[CHAIN_NAME_MAX + 1], relay_path[CHAIN_PATH_MAX], e2e_path[CHAIN_PATH_MAX];
	char chain_path[CHAIN_PATH_MAX], err[CONF_ERR_LEN + CHAIN_PATH_MAX];
	uint8_t rpriv[32], epriv[32];
	int via, self, idx, ret = 1, npeers, lock = -1;

	conf_init(&relay);
	conf_init(&e2e);
	if (!st || !chain_files_find(&files, o->iface, "add client") || (lock = lock_dir(&files, "client")) < 0 ||
	    !chain_files_load(&files, st, "add client"))
		goto out;
	self = chain_state_self(st);
	if (o->via)
		via = find_server(st, "client", o->via, files.state);
	else if ((via = self >= 0 ? chain_first_hop(st, (unsigned)self) : -1) < 0)
		fail("client", "%s has no first server: pass --via", files.state);
	else if (!st->nodes[via].has_api)
		via = find_server(st, "client", st->nodes[via].name, files.state); /* says why not */
	if (via < 0)
		goto out;
	if (o->endpoint && (!conf_endpoint_parse(&ep, o->endpoint) || !ep.port)) {
		fail("client", "--endpoint: expected HOST:PORT (where the new client reaches %s), not `%s'",
		     st->nodes[via].name, o->endpoint);
		goto out;
	}
	if (o->name)
		snprintf(name, sizeof(name), "%s", o->name);
	else
		default_name(st, CHAIN_CLIENT, name, sizeof(name));
	if (!chain_name_valid(name) || !interface_name_valid(name) || strlen(name) > 11 ||
	    chain_state_find(st, name) >= 0) {
		fail("client", "--name: `%s' is %s", name, chain_state_find(st, name) >= 0 ? "taken" :
		     "not a valid name (1-11 of A-Z a-z 0-9 _.-: it names the client's interfaces, NAME and NAME-e2e)");
		goto out;
	}
	if ((size_t)snprintf(relay_path, sizeof(relay_path), "%s/%s.conf", o->dir ? o->dir : ".", name) >=
		    sizeof(relay_path) ||
	    (size_t)snprintf(e2e_path, sizeof(e2e_path), "%s/%s-e2e.conf", o->dir ? o->dir : ".", name) >=
		    sizeof(e2e_path)) {
		fail("client", "--dir: path too long");
		goto out;
	}
	if (!o->force && (access(relay_path, F_OK) == 0 || access(e2e_path, F_OK) == 0)) {
		fail("client", "%s or %s exists: remove them or pass --force", relay_path, e2e_path);
		goto out;
	}
	snprintf(n.name, sizeof(n.name), "%s", name);
	n.via = via;
	if (!number_node(st, &n, chain_state_free_host(st))) {
		fail("client", "no free address left in the network's prefixes");
		goto out;
	}
	if (!make_keys(rpriv, n.relay_key, epriv, n.e2e_key)) {
		fail("client", "cannot make keys: %s", strerror(errno));
		goto out;
	}
	n.has_e2e_key = true;

	/* its first hop takes it as a client, the servers above route its
	 * relay address down, every other server takes its e2e key */
	if ((idx = chain_state_add(st, &n)) < 0) {
		fail("client", "%s: %s", files.state, strerror(-idx));
		goto out;
	}
	chain_peers_init(&u, st, "add client");
	if (chain_peers_post(&u, (unsigned)via, "relay", "client", n.relay_key, n.addrs, n.n_addrs, &n.relay, NULL) < 0 ||
	    chain_peers_route_down(&u, (unsigned)via, &n.relay) < 0) {
		chain_peers_undo(&u);
		goto out;
	}
	for (unsigned i = 0; i < st->n_nodes; i++) {
		const struct chain_node *s = &st->nodes[i];
		if (s->kind != CHAIN_SERVER || !s->has_api || !chain_reaches_e2e(st, (unsigned)idx, i))
			continue;
		if (chain_peers_post(&u, i, "e2e", NULL, n.e2e_key, n.addrs, n.n_addrs, NULL, NULL) < 0) {
			chain_peers_undo(&u);
			goto out;
		}
	}
	if ((ret = chain_conf_client_relay(st, (unsigned)idx, rpriv, &relay)) < 0 ||
	    (o->endpoint && (ret = conf_peer_set_endpoint(conf_peer_find(&relay, st->nodes[via].relay_key),
							  ep.host, ep.port)) < 0) ||
	    (ret = npeers = chain_conf_client_e2e(st, (unsigned)idx, epriv, &e2e)) < 0) {
		fail("client", "cannot make the client's configs: %s", strerror(-ret));
		ret = 1;
		chain_peers_undo(&u);
		goto out;
	}
	ret = 1;
	/* the e2e file even without a peer: it holds the key the servers
	 * added later already know */
	if (write_conf(relay_path, &relay, "client") < 0 || write_conf(e2e_path, &e2e, "client") < 0) {
		chain_peers_undo(&u);
		goto out;
	}
	if (chain_state_save(st, files.state, err, sizeof(err)) < 0) {
		fail("client", "%s", err);
		goto out;
	}
	/* the same tree for the new client, seen from its side: `weft status',
	 * `weft ping' and `weft add' work there too */
	st->nodes[self >= 0 ? self : idx].self = false;
	st->nodes[idx].self = true;
	snprintf(st->relay_iface, sizeof(st->relay_iface), "%s", name);
	snprintf(st->e2e_iface, sizeof(st->e2e_iface), "%s-e2e", name);
	if (o->endpoint) /* where they reach it */
		snprintf(st->nodes[via].endpoint, sizeof(st->nodes[via].endpoint), "%s", o->endpoint);
	if (!chain_state_path(chain_path, sizeof(chain_path), relay_path) ||
	    chain_state_save(st, chain_path, err, sizeof(err)) < 0) {
		fail("client", "%s", err);
		goto out;
	}
	printf("Client %s attached to %s.\nWrote %s (its relay interface%s), %s (its end-to-end interface, "
	       "%d server%s) and %s (the tree, for `%s status' there), 0600: they hold its keys.\n"
	       "The routes are copied from the servers: edit AllowedIPs as needed.\n"
	       "\nGive them to the new client; there, as root:\n\n    weft up %s.conf\n",
	       name, st->nodes[via].name, relay_path,
	       o->endpoint || st->nodes[via].endpoint[0] ? "" : ": set the Endpoint of its peer",
	       e2e_path, npeers, npeers == 1 ? "" : "s", chain_path, prog_name, name);
	if (npeers)
		printf("    weft up %s-e2e.conf\n", name);
	else
		printf("\n(%s-e2e.conf has no peer yet: servers added later are its peers.)\n", name);
	ret = 0;
out:
	free(ep.host);
	if (lock >= 0)
		close(lock);
	memzero(rpriv, sizeof(rpriv));
	memzero(epriv, sizeof(epriv));
	conf_free(&relay);
	conf_free(&e2e);
	free(st);
	return ret;
}

/* ---- the command line ---- */

/* argv[*i] as one of NAMES, its value into the matching SLOT: 0 when
 * taken, -1 (said) when it is none of them or its value is missing. */
static int take_named(int argc, char *argv[], int *i, const char *const names[], const char **const slots[],
		      size_t n)
{
	const char *v = NULL;

	for (size_t k = 0; k < n; k++)
		if (take_option(argc, argv, i, names[k], &v)) {
			if (!v)
				return -1;
			*slots[k] = v;
			return 0;
		}
	command_usage(stderr, "add");
	return -1;
}

int cmd_add(int argc, char *argv[])
{
	bool server;

	if (argc < 2 || (strcmp(argv[1], "server") && strcmp(argv[1], "client"))) {
		command_usage(stderr, "add");
		return 1;
	}
	server = !strcmp(argv[1], "server");
	if (server) {
		struct server_opts o = { 0 };
		for (int i = 2; i < argc; i++) {
			static const char *const names[] = { "--via", "--endpoint", "--routes", "--name",
							     "--server-config", "--via-endpoint", "--interface",
							     "--allow", "--deny" };
			const char **slots[] = { &o.via, &o.endpoint, &o.routes, &o.name, &o.server_file,
						 &o.via_endpoint, &o.iface, &o.serve.allow, &o.serve.deny };
			if (!strcmp(argv[i], "--force")) {
				o.force = true;
				continue;
			}
			if (!strcmp(argv[i], "--server-loopback")) {
				o.serve.server_loopback = true;
				continue;
			}
			if (take_named(argc, argv, &i, names, slots, sizeof(names) / sizeof(names[0])) < 0)
				return 1;
		}
		if (!o.via || !o.endpoint || !o.routes) {
			command_usage(stderr, "add");
			return fail("server", "--via, --endpoint and --routes are required");
		}
		return add_server(&o);
	}
	{
		struct client_opts o = { 0 };
		for (int i = 2; i < argc; i++) {
			static const char *const names[] = { "--via", "--name", "--dir", "--interface", "--endpoint" };
			const char **slots[] = { &o.via, &o.name, &o.dir, &o.iface, &o.endpoint };
			if (!strcmp(argv[i], "--force")) {
				o.force = true;
				continue;
			}
			if (take_named(argc, argv, &i, names, slots, sizeof(names) / sizeof(names[0])) < 0)
				return 1;
		}
		return add_client(&o);
	}
}
