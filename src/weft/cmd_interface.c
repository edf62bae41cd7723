/* cmd_interface.c: `weft interface list|add|set|remove` - WireGuard
 * interfaces without wg-quick: `add` creates one for a name (the kernel's,
 * else weftd; backend.h), gives it a private key (and the peers of its
 * config file, if it has one), its addresses, and brings it up; `set`
 * changes how peers reach it (public address, public port, peer DNS) and
 * its listen port in place; `remove` deletes the link, which also ends a
 * daemon, as wg-quick down does; `list` shows the interfaces that answer.
 *
 * `add` keeps its state in the interface's peer store (conf/store.h): the
 * wg-quick file (created 0600 when there is none), so the key survives the
 * daemon and `weft peer add` finds the Address pool and the port, and weft's
 * settings in IFACE.weft beside it. The port is never left to chance:
 * without one asked for or in the file, it is 51820 or the first free one
 * above, saved, so configs handed out to peers stay valid across restarts;
 * a port that is taken fails the command before anything is started.
 * Routes beyond the addresses' own subnets, DNS and hooks are `weft up`'s
 * business, not this command's. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "backend.h"
#include "commands.h"
#include "conf/conf.h"
#include "conf/store.h"
#include "conf_change.h"
#include "conf_path.h"
#include "daemon.h"
#include "device.h"
#include "hooks.h"
#include "ifname.h"
#include "json_out.h"
#include "keygen.h"
#include "listen_port.h"
#include "netlink.h"
#include "options.h"
#include "usage.h"
#include "util/encoding.h"

/* The [Interface] keys and peers of c, replacing what the device has. */
static int device_apply_conf(const char *iface, const struct conf *c)
{
	struct device *dev = device_new(iface);
	int ret = 0;

	if (!dev)
		return -ENOMEM;
	dev->flags = DEV_REPLACE_PEERS;
	device_settings_from_conf(dev, &c->iface);
	for (uint32_t i = 0; !ret && i < c->n_peers; i++)
		ret = device_peer_from_conf(dev, &c->peers[i]);
	if (!ret)
		ret = device_set(dev);
	device_free(dev);
	return ret;
}

/* Addresses from the config on the link, and the link up (its MTU
 * unchanged unless the config sets one). */
static int link_configure(const char *iface, const struct conf *c, char *err, size_t errlen)
{
	struct nl_link link;
	struct nl nl;
	int ret = nl_open(&nl);

	if (ret < 0) {
		snprintf(err, errlen, "netlink: %s", strerror(-ret));
		return ret;
	}
	ret = nl_link_get(&nl, iface, &link);
	for (uint32_t i = 0; !ret && i < c->iface.addresses.n; i++) {
		const struct conf_prefix *a = &c->iface.addresses.v[i];
		struct nl_prefix p = { .family = a->addr.family, .len = a->cidr };
		char s[CONF_PREFIX_STRLEN];

		memcpy(p.addr, a->addr.bytes, sizeof(p.addr));
		ret = nl_addr_add(&nl, link.index, &p);
		if (ret < 0) {
			conf_prefix_format(s, a);
			snprintf(err, errlen, "cannot add address %s: %s", s, strerror(-ret));
		}
	}
	if (!ret) {
		ret = nl_link_set_mtu_up(&nl, link.index, c->iface.has_mtu ? c->iface.mtu : link.mtu);
		if (ret < 0)
			snprintf(err, errlen, "cannot bring the link up: %s", strerror(-ret));
	} else if (!*err) {
		snprintf(err, errlen, "no link %s: %s", iface, strerror(-ret));
	}
	nl_close(&nl);
	return ret;
}

/* ---- the commands ---- */

static int interface_list(bool json)
{
	json_t *arr = json ? json_array() : NULL;
	int err = 0, ret = 0;
	char **names = device_list(&err);

	if (!names) {
		fprintf(stderr, "%s: cannot list devices: %s\n", prog_name, strerror(-err));
		json_decref(arr);
		return 1;
	}
	if (!json && names[0])
		printf("%-15s  %-11s  %-5s  %s\n", "INTERFACE", "LISTEN-PORT", "PEERS", "CONFIG");
	for (char **n = names; *n; n++) {
		char path[PATH_MAX], pub[WEFT_KEY_B64_LEN + 1] = "";
		struct device *dev = NULL;
		bool exists = false;

		iface_conf_path(path, sizeof(path), *n, &exists);
		int r = device_get(&dev, *n);
		if (r == -ENODEV)
			continue; /* gone since it was listed */
		if (r < 0) { /* a partial list is no success (as a non-root user: all of it) */
			fprintf(stderr, "Unable to access interface %s: %s\n", *n, strerror(-r));
			ret = 1;
			continue;
		}
		if (dev->flags & DEV_HAS_PUBLIC_KEY)
			key_to_base64(pub, dev->public_key);
		if (json) {
			json_t *o = json_object();

			json_object_set_new(o, "name", json_string(*n));
			json_object_set_new(o, "public_key", *pub ? json_string(pub) : json_null());
			json_object_set_new(o, "listen_port", json_integer(dev->listen_port));
			json_object_set_new(o, "peers", json_integer((json_int_t)dev->n_peers));
			json_object_set_new(o, "config", exists ? json_string(path) : json_null());
			json_array_append_new(arr, o);
		} else {
			printf("%-15s  %-11u  %-5zu  %s\n", *n, dev->listen_port, dev->n_peers, exists ? path : "-");
		}
		device_free(dev);
	}
	device_list_free(names);
	if (json && print_json(json_pack("{s:o}", "interfaces", arr)))
		ret = 1;
	return fflush(stdout) ? 1 : ret;
}

/* --public-address (an IPv4 or IPv6 address, or a host name; each
 * replaces the one of its kind, "none" clears all three) and --peer-dns
 * ("none" clears) set what `peer add` puts in the configs it prints, so no
 * hand edit is needed. */
static bool set_weft_options(struct conf_weft *weft, const char *const *public, int n_public,
			     const char *peer_dns)
{
	for (int i = 0; i < n_public; i++) {
		struct conf_addr a;
		if (!strcmp(public[i], "none")) {
			weft->has_public_ipv4 = weft->has_public_ipv6 = false;
			conf_weft_set_hostname(weft, NULL);
		} else if (conf_addr_parse(&a, public[i])) {
			bool v4 = a.family == AF_INET;
			*(v4 ? &weft->public_ipv4 : &weft->public_ipv6) = a;
			*(v4 ? &weft->has_public_ipv4 : &weft->has_public_ipv6) = true;
		} else if (conf_weft_set_hostname(weft, public[i]) < 0) {
			fprintf(stderr, "%s: --public-address: `%s' is neither an IP address nor a host name\n",
				prog_name, public[i]);
			return false;
		}
	}
	if (peer_dns) {
		conf_dns_clear(&weft->peer_dns);
		return !strcmp(peer_dns, "none") || parse_dns_list(&weft->peer_dns, peer_dns, "--peer-dns");
	}
	return true;
}

/* The options `interface add` and `interface set` share. */
struct iface_opts {
	struct conf_prefix_list addrs;
	bool have_port, have_addrs, have_public_port;
	uint32_t port, public_port;
	const char *public[4], *peer_dns;
	int n_public;
};

/* One option at argv[*i]: 1 taken, 0 unknown, -1 bad (reported). */
static int take_iface_option(int argc, char *argv[], int *i, struct iface_opts *o, bool add)
{
	const char *value;

	if (take_option(argc, argv, i, "--listen-port", &value)) {
		if (!value)
			return -1;
		if (!conf_parse_uint(value, UINT16_MAX, &o->port)) {
			fprintf(stderr, "%s: --listen-port: `%s' is not a port (0-65535)\n", prog_name, value);
			return -1;
		}
		o->have_port = true;
	} else if (add && take_option(argc, argv, i, "--address", &value)) {
		if (!value || !parse_prefix_list(&o->addrs, value, "--address"))
			return -1;
		o->have_addrs = true;
	} else if (take_option(argc, argv, i, "--public-address", &value)) {
		if (!value)
			return -1;
		if (o->n_public == (int)(sizeof(o->public) / sizeof(o->public[0]))) {
			fprintf(stderr, "%s: --public-address: at most one IPv4, one IPv6 and one host name\n", prog_name);
			return -1;
		}
		o->public[o->n_public++] = value;
	} else if (take_option(argc, argv, i, "--public-port", &value)) {
		if (!value)
			return -1;
		if (strcmp(value, "none") && (!conf_parse_uint(value, UINT16_MAX, &o->public_port) || !o->public_port)) {
			fprintf(stderr, "%s: --public-port: `%s' is not a port (1-65535) or none\n", prog_name, value);
			return -1;
		}
		if (!strcmp(value, "none"))
			o->public_port = 0;
		o->have_public_port = true;
	} else if (take_option(argc, argv, i, "--peer-dns", &value)) {
		if (!value)
			return -1;
		o->peer_dns = value;
	} else {
		return 0;
	}
	return 1;
}

/* All of argv[2..] as options: false when one is bad or unknown (reported). */
static bool take_iface_options(int argc, char *argv[], struct iface_opts *o, bool add)
{
	for (int i = 2; i < argc; i++) {
		int r = take_iface_option(argc, argv, &i, o, add);

		if (r < 0)
			return false;
		if (!r) {
			fprintf(stderr, "%s: unknown option `%s'\n", prog_name, argv[i]);
			command_usage(stderr, "interface");
			return false;
		}
	}
	return true;
}

static bool apply_weft_options(struct conf_weft *w, const struct iface_opts *o)
{
	if (o->have_public_port) {
		w->has_public_port = o->public_port != 0;
		w->public_port = (uint16_t)o->public_port;
	}
	return set_weft_options(w, o->public, o->n_public, o->peer_dns);
}

static int interface_add(int argc, char *argv[])
{
	const char *iface = argv[1];
	struct iface_opts o;
	char path[PATH_MAX], err[CONF_ERR_LEN] = "";
	char pub[WEFT_KEY_B64_LEN + 1];
	bool exists, started = false;
	struct device *dev = NULL;
	struct store st;
	struct conf *c = &st.conf;
	bool userspace = take_flag(&argc, argv, "--userspace");
	enum backend made;
	int ret = 1;

	memset(&o, 0, sizeof(o));
	memset(&st, 0, sizeof(st));
	st.lock = -1;
	if (!take_iface_options(argc, argv, &o, true))
		goto out;
	if (uapi_has_device(iface) || link_exists(iface)) {
		fprintf(stderr, "%s: %s already exists\n", prog_name, iface);
		goto out;
	}
	if (!iface_conf_path(path, sizeof(path), iface, &exists)) {
		fprintf(stderr, "%s: %s: config path too long\n", prog_name, iface);
		goto out;
	}
	/* the store takes the config directory's lock */
	if (store_open(&st, path, STORE_LOCK | STORE_CREATE, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s: %s\n", prog_name, err);
		goto out;
	}
	c->has_interface = true;
	if (!apply_weft_options(&c->weft, &o))
		goto out;
	if (o.have_addrs) {
		free(c->iface.addresses.v);
		c->iface.addresses = o.addrs;
		memset(&o.addrs, 0, sizeof(o.addrs));
	}
	if (o.have_port) {
		c->iface.has_listen_port = true;
		c->iface.listen_port = (uint16_t)o.port;
	}
	if (!c->iface.has_listen_port || !c->iface.listen_port) {
		uint16_t picked;
		if ((ret = listen_port_pick(&picked)) < 0) {
			fprintf(stderr, "%s: %s: no free listen port from %u up: %s\n", prog_name, iface,
				LISTEN_PORT_FIRST, strerror(-ret));
			ret = 1;
			goto out;
		}
		c->iface.has_listen_port = true;
		c->iface.listen_port = picked;
	} else if ((ret = listen_port_check(c->iface.listen_port)) < 0) {
		fprintf(stderr, "%s: %s: listen port %u: %s\n", prog_name, iface, c->iface.listen_port, strerror(-ret));
		ret = 1;
		goto out;
	}
	ret = 1;
	if (!c->iface.has_private_key) {
		if (!generate_private_key(c->iface.private_key)) {
			fprintf(stderr, "%s: getrandom: %s\n", prog_name, strerror(errno));
			goto out;
		}
		c->iface.has_private_key = true;
	}

	ret = backend_create(iface, userspace, false, &made, err, sizeof(err));
	started = ret == 0 || link_exists(iface) || uapi_has_device(iface);
	if (ret < 0) {
		fprintf(stderr, "%s: %s: %s\n", prog_name, iface, err);
		ret = 1;
		goto out;
	}
	ret = device_apply_conf(iface, c);
	if (ret == -EADDRINUSE) { /* taken since we looked */
		fprintf(stderr, "%s: %s: listen port %u: %s\n", prog_name, iface, c->iface.listen_port, strerror(-ret));
		ret = 1;
		goto out;
	}
	if (ret < 0) {
		fprintf(stderr, "%s: %s: cannot configure the device: %s\n", prog_name, iface, strerror(-ret));
		ret = 1;
		goto out;
	}
	ret = 1;
	if (device_get(&dev, iface) < 0) {
		fprintf(stderr, "%s: %s: the device stopped answering\n", prog_name, iface);
		goto out;
	}
	if (link_configure(iface, c, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s: %s: %s\n", prog_name, iface, err);
		goto out;
	}
	if (store_save(&st, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s: %s\n", prog_name, err);
		goto out;
	}
	key_to_base64(pub, dev->public_key);
	printf("interface: %s\n  public key: %s\n  listening port: %u\n", iface, pub, c->iface.listen_port);
	for (uint32_t i = 0; i < c->iface.addresses.n; i++) {
		char s[CONF_PREFIX_STRLEN];

		conf_prefix_format(s, &c->iface.addresses.v[i]);
		printf("%s%s", i ? ", " : "  address: ", s);
	}
	printf("%s  config: %s\n", c->iface.addresses.n ? "\n" : "", path);
	ret = fflush(stdout) ? 1 : 0;
out:
	if (ret && started) {
		/* Nothing half-running: the device goes. A failure before
		 * store_save leaves the config as it was; after it (the result
		 * could not be printed) the saved config stays for `weft up`. */
		char err2[CONF_ERR_LEN];
		if (daemon_stop(iface, err2, sizeof(err2)) < 0)
			fprintf(stderr, "%s: %s: could not stop it again: %s\n", prog_name, iface, err2);
	}
	device_free(dev);
	free(o.addrs.v);
	store_close(&st);
	return ret;
}

/* `interface set`: public address, peer DNS, public port and listen port
 * in place. A new listen port goes to the running device first; if the
 * files cannot be written it is put back. */
static int interface_set(int argc, char *argv[])
{
	const char *iface = argv[1];
	char path[PATH_MAX], err[CONF_ERR_LEN] = "";
	struct device *change = NULL;
	struct iface_opts o;
	bool exists, port_changed = false;
	uint16_t old_port = 0;
	struct store st;
	int ret = 1, r;

	memset(&o, 0, sizeof(o));
	memset(&st, 0, sizeof(st));
	st.lock = -1;
	if (!take_iface_options(argc, argv, &o, false))
		goto out;
	if (!o.have_port && !o.have_public_port && !o.n_public && !o.peer_dns) {
		fprintf(stderr, "%s: interface set: nothing to change\n", prog_name);
		command_usage(stderr, "interface");
		goto out;
	}
	if (!iface_conf_path(path, sizeof(path), iface, &exists) || !exists) {
		fprintf(stderr, "%s: %s: no config file %s\n", prog_name, iface, path);
		goto out;
	}
	if (store_open(&st, path, STORE_LOCK, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s: %s\n", prog_name, err);
		goto out;
	}
	if (!apply_weft_options(&st.conf.weft, &o))
		goto out;
	if (o.have_port) {
		old_port = st.conf.iface.listen_port;
		st.conf.iface.has_listen_port = true;
		st.conf.iface.listen_port = (uint16_t)o.port;
		if (backend_of(iface) != BACKEND_NONE) {
			change = device_new(iface);
			if (!change) {
				fprintf(stderr, "%s: out of memory\n", prog_name);
				goto out;
			}
			change->flags = DEV_HAS_LISTEN_PORT;
			change->listen_port = (uint16_t)o.port;
			r = device_set(change);
			if (r < 0) {
				fprintf(stderr, "%s: %s: the running device refused port %u: %s\n", prog_name, iface,
					(unsigned)o.port, strerror(-r));
				goto out;
			}
			port_changed = true;
		}
	}
	if (store_save(&st, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s: %s\n", prog_name, err);
		if (port_changed) {
			change->listen_port = old_port;
			device_set(change);
		}
		goto out;
	}
	ret = 0;
out:
	device_free(change);
	free(o.addrs.v);
	store_close(&st);
	return ret;
}

static int interface_remove(const char *iface)
{
	char err[CONF_ERR_LEN] = "";

	if (backend_of(iface) == BACKEND_NONE) {
		fprintf(stderr, "%s: %s: %s\n", prog_name, iface,
			link_exists(iface) ? "not a WireGuard interface" : "no such interface");
		return 1;
	}
	if (daemon_stop(iface, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s: %s: %s\n", prog_name, iface, err);
		return 1;
	}
	return 0;
}

int cmd_interface(int argc, char *argv[])
{
	const char *sub = argc > 1 ? argv[1] : "list";

	if (!strcmp(sub, "list")) {
		bool json = take_flag(&argc, argv, "--json");

		if (argc > 2)
			goto usage;
		return interface_list(json);
	}
	if (argc < 3 || !strcmp(argv[2], "-h") || !strcmp(argv[2], "--help"))
		goto usage;
	if (!interface_name_valid(argv[2])) {
		fprintf(stderr, "%s: `%s' is not a valid interface name\n", prog_name, argv[2]);
		return 1;
	}
	if ((!strcmp(sub, "add") || !strcmp(sub, "remove")) && geteuid() != 0) {
		fprintf(stderr, "%s: interface %s must be run as root\n", prog_name, sub);
		return 1;
	}
	if (!strcmp(sub, "add"))
		return interface_add(argc - 1, argv + 1);
	if (!strcmp(sub, "set"))
		return interface_set(argc - 1, argv + 1);
	if (!strcmp(sub, "remove") && argc == 3)
		return interface_remove(argv[2]);
usage:
	command_usage(stderr, "interface");
	return 1;
}
