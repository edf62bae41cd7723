/* cmd_quick.c: `weft up`, `down`, `save` and `strip`, the wg-quick(8)
 * commands, step for step as /usr/bin/wg-quick does them so that weft
 * leaves the same links, addresses, routes, rules, firewall tables and DNS
 * entries (and each tool can take down what the other brought up):
 *
 *   up:   refuse an existing link; PreUp; create the device (kernel module,
 *         else the userspace daemon); setconf with the stripped config;
 *         Address; MTU (given, or the largest route MTU towards the
 *         endpoints / the default route, minus 80) and link up; DNS; a
 *         route per AllowedIPs, longest first (Table auto: skip prefixes a
 *         route on the link already covers; /0 goes to a fwmark table with
 *         policy rules, packet-filter rules and src_valid_mark); PostUp.
 *         Any failure after PreUp undoes it all (wg-quick's trap del_if).
 *   down: PreDown; SaveConfig; the policy rules; the link (its routes and
 *         the daemon go with it); DNS; packet-filter rules; PostDown.
 *   save: the running state into the file, wg-quick keys, comments and
 *         weft's records kept.
 *   strip: the config in wg(8) setconf form.
 *
 * Links, addresses, routes and rules go through rtnetlink (netlink.c);
 * each step prints the command wg-quick would have run, "[#] ...". */
#include <errno.h>
#include <stdarg.h>
#include <limits.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "commands.h"
#include "conf/conf.h"
#include "conf/store.h"
#include "conf_change.h"
#include "backend.h"
#include "conf_path.h"
#include "daemon.h"
#include "device.h"
#include "dns.h"
#include "firewall.h"
#include "hooks.h"
#include "ifname.h"
#include "listen_port.h"
#include "netlink.h"
#include "options.h"
#include "usage.h"

#define CONF_SUFFIX ".conf"

#define MTU_OVERHEAD 80          /* wg-quick: IPv6 (40) + UDP (8) + WireGuard (32) */
#define MTU_FALLBACK 1500        /* when no route says anything */
#define FWMARK_TABLE_FIRST 51820 /* wg-quick's first choice of table = fwmark */
#define SRC_VALID_MARK_SYSCTL "net.ipv4.conf.all.src_valid_mark"

struct quick {
	char path[PATH_MAX];   /* the config file, symlinks resolved */
	char iface[IFNAMSIZ];
	struct conf conf;
	struct nl nl;
	uint32_t table;        /* Table = N or NAME; 0 = auto or off */
	/* What `up` has done so far, to undo it. */
	bool created, dns_set, firewall_set;
	int ifindex;
	uint32_t fwmark;       /* the device's fwmark = table of the /0 routes */
	uint32_t rules_table;  /* policy rules were added for it; 0 = none */
};

static void trace(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void trace(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "[#] ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
}

static void complain(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void complain(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
}

/* ---- finding and reading the config ---- */

/* The first len bytes of s are a valid interface name. */
static bool name_valid(const char *s, size_t len)
{
	char name[IFNAMSIZ];

	if (len >= IFNAMSIZ)
		return false;
	memcpy(name, s, len);
	name[len] = '\0';
	return interface_name_valid(name);
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && !strcmp(s + a - b, suffix);
}

/* An argument with a '/' or ending in .conf is a file; anything else an
 * interface name whose IFACE.conf is looked for in /etc/weft, then
 * /etc/wireguard (only in $WEFT_CONFIG_DIR when that is set), as every
 * weft command finds configs. */
static int locate(struct quick *q, const char *arg)
{
	char file[PATH_MAX], dir[PATH_MAX];
	const char *base;
	struct stat st_file, st_dir;
	size_t len;

	if (strchr(arg, '/') || ends_with(arg, CONF_SUFFIX)) {
		if (snprintf(file, sizeof(file), "%s", arg) >= (int)sizeof(file)) {
			complain("`%s': path too long", arg);
			return -1;
		}
	} else {
		bool exists;

		if (!interface_name_valid(arg)) {
			complain("`%s' is neither an interface name nor a config file (a path, or a name ending in .conf)", arg);
			return -1;
		}
		if (!iface_conf_path(file, sizeof(file), arg, &exists)) {
			complain("`%s': path too long", arg);
			return -1;
		}
		if (!exists) {
			const char *env = getenv(CONFIG_DIR_ENV);

			if (env && *env)
				complain("`%s' does not exist", file);
			else
				complain("no config for `%s': neither " WEFT_DIR "/%s" CONF_SUFFIX " nor " WIREGUARD_DIR "/%s" CONF_SUFFIX " exists",
					arg, arg, arg);
			return -1;
		}
	}
	if (access(file, F_OK) < 0) {
		if (errno == ENOENT)
			complain("`%s' does not exist", file);
		else
			complain("`%s': %s", file, strerror(errno));
		return -1;
	}
	base = strrchr(file, '/') ? strrchr(file, '/') + 1 : file;
	len = strlen(base);
	if (!ends_with(base, CONF_SUFFIX) || !name_valid(base, len - strlen(CONF_SUFFIX))) {
		complain("The config file must be a valid interface name, followed by .conf");
		return -1;
	}
	memcpy(q->iface, base, len - strlen(CONF_SUFFIX));
	q->iface[len - strlen(CONF_SUFFIX)] = '\0';
	if (!realpath(file, q->path)) {
		complain("`%s': %s", file, strerror(errno));
		return -1;
	}
	/* wg-quick warns when the file and its directory both let others in. */
	snprintf(dir, sizeof(dir), "%s", q->path);
	*strrchr(dir, '/') = '\0';
	if (stat(q->path, &st_file) == 0 && stat(*dir ? dir : "/", &st_dir) == 0 &&
	    (st_file.st_mode & st_dir.st_mode & 0007))
		fprintf(stderr, "Warning: `%s' is world accessible\n", q->path);
	return 0;
}

/* A Table name through iproute2's rt_tables files, as `ip route add ...
 * table NAME` would find it. */
static bool table_by_name(const char *name, uint32_t *id)
{
	static const char *const files[] = {
		"/etc/iproute2/rt_tables", "/usr/share/iproute2/rt_tables", "/usr/lib/iproute2/rt_tables",
	};

	if (!strcmp(name, "main"))
		*id = NL_RT_TABLE_MAIN;
	else if (!strcmp(name, "local"))
		*id = NL_RT_TABLE_LOCAL;
	else if (!strcmp(name, "default"))
		*id = NL_RT_TABLE_DEFAULT;
	else {
		for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
			FILE *f = fopen(files[i], "re");
			char line[256], n[CONF_TABLE_NAME_MAX + 2];
			unsigned long v;

			if (!f)
				continue;
			while (fgets(line, sizeof(line), f)) {
				if (sscanf(line, " %lu %64s", &v, n) == 2 && n[0] != '#' && !strcmp(n, name) &&
				    v <= UINT32_MAX) {
					*id = (uint32_t)v;
					fclose(f);
					return true;
				}
			}
			fclose(f);
		}
		return false;
	}
	return true;
}

static int load(struct quick *q, const char *arg)
{
	char err[CONF_ERR_LEN];
	const struct conf_table *t;

	if (locate(q, arg) < 0)
		return -1;
	if (conf_load(&q->conf, q->path, 0, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	t = &q->conf.iface.table;
	if (t->kind == CONF_TABLE_NUMBER)
		q->table = t->number;
	else if (t->kind == CONF_TABLE_NAME && !table_by_name(t->name, &q->table)) {
		complain("%s: Table `%s' is not a routing table named in /etc/iproute2/rt_tables", q->path, t->name);
		return -1;
	}
	return 0;
}

/* ---- small helpers ---- */

static sigset_t held;

/* SIGINT/SIGTERM/SIGHUP are held while weft changes the system; `up`
 * checks between steps and undoes everything, as wg-quick's trap does. */
static bool interrupted(void)
{
	sigset_t pending;

	if (sigpending(&pending) < 0)
		return false;
	return sigismember(&pending, SIGINT) || sigismember(&pending, SIGTERM) || sigismember(&pending, SIGHUP);
}

static const char *proto_flag(int family)
{
	return family == AF_INET6 ? "-6" : "-4";
}

static void prefix_str(char *out, size_t size, const struct nl_prefix *p)
{
	char a[INET6_ADDRSTRLEN] = "?";

	inet_ntop(p->family, p->addr, a, sizeof(a));
	snprintf(out, size, "%s/%u", a, p->len);
}

static void to_nl_prefix(struct nl_prefix *out, const struct conf_prefix *p)
{
	memset(out, 0, sizeof(*out));
	out->family = p->addr.family;
	out->len = p->cidr;
	memcpy(out->addr, p->addr.bytes, p->addr.family == AF_INET ? 4 : 16);
}

static int run_hooks(struct quick *q, enum conf_hook which, const char *name)
{
	const struct conf_str_list *l = &q->conf.iface.hooks[which];
	size_t failed = 0;
	int r = hooks_run(l->v, l->n, q->iface, &failed);

	if (r > 0)
		complain("%s command failed with exit status %d: %s", name, r, l->v[failed]);
	else if (r < 0)
		complain("cannot run %s command (%s): %s", name, HOOK_SHELL, strerror(-r));
	return r ? -1 : 0;
}

static bool is_wireguard(struct quick *q, struct nl_link *l)
{
	if (nl_link_get(&q->nl, q->iface, l) < 0)
		return false;
	q->ifindex = l->index;
	return !strcmp(l->kind, "wireguard") || uapi_has_device(q->iface);
}

/* ---- up ---- */

/* wg-quick's add_if: the kernel's WireGuard, else the userspace daemon. */
static int add_if(struct quick *q, bool userspace)
{
	char err[256] = "";
	enum backend made;
	struct nl_link l;
	int r = backend_create(q->iface, userspace, true, &made, err, sizeof(err));

	/* A daemon that failed late may have made the link: undo takes it. */
	if (nl_link_get(&q->nl, q->iface, &l) == 0) {
		q->created = true;
		q->ifindex = l.index;
	}
	if (r < 0) {
		complain("%s", err);
		return -1;
	}
	if (!q->created) {
		complain("%s exited without creating the interface", made == BACKEND_UAPI ? "the daemon" : "the kernel");
		return -1;
	}
	return 0;
}

static int set_config(struct quick *q)
{
	struct device *change;
	int r;

	/* The stripped config: only PrivateKey, ListenPort, FwMark and the
	 * peers reach the device; wg-quick keys and [Weft] never do. */
	trace("setconf %s <(%s strip %s)", q->iface, prog_name, q->path);
	change = file_change(&q->conf, q->iface, true);
	if (!change)
		return -1;
	r = device_set(change);
	device_free(change);
	if (r == -EADDRINUSE && q->conf.iface.has_listen_port) /* taken since up looked */
		complain("Unable to modify interface %s: listen port %u: %s", q->iface,
			 q->conf.iface.listen_port, strerror(-r));
	else if (r < 0)
		complain("Unable to modify interface %s: %s", q->iface, strerror(-r));
	if (r < 0)
		return -1;
	return 0;
}

static int add_addresses(struct quick *q)
{
	const struct conf_prefix_list *a = &q->conf.iface.addresses;

	for (uint32_t i = 0; i < a->n; i++) {
		struct nl_prefix p;
		char s[CONF_PREFIX_STRLEN];
		int r;

		to_nl_prefix(&p, &a->v[i]);
		conf_prefix_format(s, &a->v[i]);
		trace("ip %s address add %s dev %s", proto_flag(p.family), s, q->iface);
		r = nl_addr_add(&q->nl, q->ifindex, &p);
		if (r < 0) {
			complain("cannot add address %s to %s: %s", s, q->iface, strerror(-r));
			return -1;
		}
	}
	return 0;
}

/* wg-quick's set_mtu_up: the largest MTU of the routes to the peers'
 * endpoints, else that of the default route, else 1500; minus 80. */
static unsigned auto_mtu(struct quick *q, const struct device *dev)
{
	unsigned best = 0, m;

	for (size_t i = 0; i < dev->n_peers; i++) {
		const union dev_endpoint *ep = &dev->peers[i].endpoint;

		if (ep->addr.sa_family == AF_INET) {
			if (nl_route_get_mtu(&q->nl, AF_INET, &ep->addr4.sin_addr, &m) == 0 && m > best)
				best = m;
		} else if (ep->addr.sa_family == AF_INET6 && !ep->addr6.sin6_scope_id) {
			/* wg-quick's endpoint pattern has no room for a %scope. */
			if (nl_route_get_mtu(&q->nl, AF_INET6, &ep->addr6.sin6_addr, &m) == 0 && m > best)
				best = m;
		}
	}
	if (!best && nl_default_route_mtu(&q->nl, &m) == 0)
		best = m;
	if (!best)
		best = MTU_FALLBACK;
	return best > MTU_OVERHEAD ? best - MTU_OVERHEAD : best;
}

static int set_mtu_up(struct quick *q, const struct device *dev)
{
	unsigned mtu = q->conf.iface.has_mtu ? q->conf.iface.mtu : auto_mtu(q, dev);
	int r;

	trace("ip link set mtu %u up dev %s", mtu, q->iface);
	r = nl_link_set_mtu_up(&q->nl, q->ifindex, mtu);
	if (r < 0) {
		complain("cannot set MTU %u and bring %s up: %s", mtu, q->iface, strerror(-r));
		return -1;
	}
	return 0;
}

static int set_dns(struct quick *q)
{
	if (dns_set(q->iface, &q->conf.iface.dns) < 0)
		return -1;
	q->dns_set = q->conf.iface.dns.servers.n > 0;
	return 0;
}

static int set_fwmark(struct quick *q, uint32_t mark)
{
	struct device *change = device_new(q->iface);
	int r;

	if (!change)
		return -ENOMEM;
	change->flags = DEV_HAS_FWMARK;
	change->fwmark = mark;
	trace("wg set %s fwmark %u", q->iface, mark);
	r = device_set(change);
	device_free(change);
	return r;
}

/* wg-quick's add_default: a /0 goes into table T = the device's fwmark
 * (picked as the first free table from 51820 when unset); rules send
 * everything not marked T there, while the suppress rule lets the main
 * table's more specific routes win. */
static int add_default(struct quick *q, const struct nl_prefix *p)
{
	const char *pf = proto_flag(p->family);
	char s[CONF_PREFIX_STRLEN];
	struct nl_addr *addrs = NULL;
	size_t n_addrs = 0;
	int r;

	if (!q->fwmark) {
		uint32_t t = FWMARK_TABLE_FIRST;

		while ((r = nl_table_in_use(&q->nl, t)) > 0)
			t++;
		if (r < 0)
			goto fail;
		if ((r = set_fwmark(q, t)) < 0) {
			complain("Unable to set fwmark of %s: %s", q->iface, strerror(-r));
			return -1;
		}
		q->fwmark = t;
	}
	prefix_str(s, sizeof(s), p);
	trace("ip %s route add %s dev %s table %u", pf, s, q->iface, q->fwmark);
	if ((r = nl_route_add(&q->nl, q->ifindex, p, q->fwmark)) < 0)
		goto fail;
	trace("ip %s rule add not fwmark %u table %u", pf, q->fwmark, q->fwmark);
	q->rules_table = q->fwmark;
	if ((r = nl_rule_add_not_fwmark(&q->nl, p->family, q->fwmark, q->fwmark)) < 0)
		goto fail;
	trace("ip %s rule add table main suppress_prefixlength 0", pf);
	if ((r = nl_rule_add_suppress_main(&q->nl, p->family)) < 0)
		goto fail;
	if ((r = nl_addr_list(&q->nl, q->ifindex, p->family, &addrs, &n_addrs)) < 0)
		goto fail;
	if (p->family == AF_INET) {
		trace("sysctl -q " SRC_VALID_MARK_SYSCTL "=1");
		if ((r = sysctl_write(SRC_VALID_MARK_SYSCTL, "1")) < 0) {
			free(addrs);
			goto fail;
		}
	}
	r = firewall_add(q->iface, p->family, q->fwmark, addrs, n_addrs);
	free(addrs);
	if (r < 0)
		return -1;
	q->firewall_set = true;
	return 0;
fail:
	complain("cannot route %s through %s: %s", p->family == AF_INET ? "0.0.0.0/0" : "::/0", q->iface, strerror(-r));
	return -1;
}

static int add_route(struct quick *q, const struct nl_prefix *p)
{
	char s[CONF_PREFIX_STRLEN];
	int r;

	prefix_str(s, sizeof(s), p);
	if (q->table) {
		trace("ip %s route add %s dev %s table %u", proto_flag(p->family), s, q->iface, q->table);
		r = nl_route_add(&q->nl, q->ifindex, p, q->table);
	} else if (p->len == 0) {
		return add_default(q, p);
	} else {
		r = nl_route_covered(&q->nl, q->ifindex, p);
		if (r > 0)
			return 0;
		if (r == 0) {
			trace("ip %s route add %s dev %s", proto_flag(p->family), s, q->iface);
			r = nl_route_add(&q->nl, q->ifindex, p, 0);
		}
	}
	if (r < 0) {
		complain("cannot add route %s dev %s: %s", s, q->iface, strerror(-r));
		return -1;
	}
	return 0;
}

struct route_item {
	struct nl_prefix p;
	char text[CONF_PREFIX_STRLEN];
};

/* wg-quick sorts `wg show allowed-ips` with LC_ALL=C sort -nr -k 2 -t /:
 * longest prefix first, so that a shorter one is checked against what is
 * already there; ties in reverse byte order of the whole text (which puts
 * ::/0 before 0.0.0.0/0, and so decides the order of nft's tables). */
static int cmp_route_item(const void *x, const void *y)
{
	const struct route_item *a = x, *b = y;

	if (a->p.len != b->p.len)
		return a->p.len > b->p.len ? -1 : 1;
	return -strcmp(a->text, b->text);
}

static int add_routes(struct quick *q, const struct device *dev)
{
	struct route_item *items;
	size_t n = 0, k = 0;
	int ret = 0;

	if (q->conf.iface.table.kind == CONF_TABLE_OFF)
		return 0;
	for (size_t i = 0; i < dev->n_peers; i++)
		n += dev->peers[i].n_allowedips;
	items = calloc(n ? n : 1, sizeof(*items));
	if (!items) {
		complain("%s", strerror(ENOMEM));
		return -1;
	}
	for (size_t i = 0; i < dev->n_peers; i++)
		for (size_t j = 0; j < dev->peers[i].n_allowedips; j++, k++) {
			struct conf_prefix cp;

			allowedip_to_prefix(&cp, &dev->peers[i].allowedips[j]);
			to_nl_prefix(&items[k].p, &cp);
			conf_prefix_format(items[k].text, &cp);
		}
	qsort(items, n, sizeof(*items), cmp_route_item);
	for (size_t i = 0; i < n && !ret; i++) {
		if (interrupted()) {
			complain("interrupted");
			ret = -1;
		} else
			ret = add_route(q, &items[i].p);
	}
	free(items);
	return ret;
}

/* ---- taking it down (also the undo of a failed up) ---- */

static void delete_rules(struct quick *q, uint32_t table)
{
	static const int families[] = { AF_INET, AF_INET6 };

	for (size_t i = 0; i < 2; i++) {
		const char *pf = proto_flag(families[i]);
		int r = nl_rule_del_lookup(&q->nl, families[i], table);

		for (int k = 0; k < r; k++)
			trace("ip %s rule delete table %u", pf, table);
		if (r < 0)
			complain("cannot delete %s rules for table %u: %s", pf, table, strerror(-r));
		r = nl_rule_del_suppress_main(&q->nl, families[i]);
		for (int k = 0; k < r; k++)
			trace("ip %s rule delete table main suppress_prefixlength 0", pf);
		if (r < 0)
			complain("cannot delete %s suppress_prefixlength rules: %s", pf, strerror(-r));
	}
}

/* The table wg-quick's del_if cleans up: with Table auto, a fwmark set
 * and some AllowedIPs /0, the fwmark; else 0. */
static uint32_t full_tunnel_table(struct quick *q)
{
	struct device *dev = NULL;
	uint32_t table = 0;

	if (q->table || q->conf.iface.table.kind == CONF_TABLE_OFF || device_get(&dev, q->iface) < 0)
		return 0;
	for (size_t i = 0; dev->fwmark && !table && i < dev->n_peers; i++)
		for (size_t j = 0; j < dev->peers[i].n_allowedips; j++)
			if (dev->peers[i].allowedips[j].cidr == 0)
				table = dev->fwmark;
	device_free(dev);
	/* Never the system's own tables, whatever the fwmark says. */
	return table >= NL_RT_TABLE_DEFAULT && table <= NL_RT_TABLE_LOCAL ? 0 : table;
}

static int delete_link(struct quick *q)
{
	int r;

	trace("ip link delete dev %s", q->iface);
	r = nl_link_del(&q->nl, q->ifindex);
	if (r < 0 && r != -ENODEV) {
		complain("cannot delete %s: %s", q->iface, strerror(-r));
		return -1;
	}
	/* The daemon exits when its link goes; wait, so that the name is free
	 * for the next `up` when we return. */
	if (!daemon_wait(q->iface, false))
		fprintf(stderr, "Warning: the daemon for %s still answers on its socket\n", q->iface);
	return 0;
}

/* wg-quick's del_if, run by its trap when `up` fails. */
static void undo_up(struct quick *q)
{
	if (q->dns_set)
		dns_unset(q->iface, &q->conf.iface.dns);
	if (q->firewall_set)
		firewall_remove(q->iface);
	if (q->rules_table)
		delete_rules(q, q->rules_table);
	if (q->created)
		delete_link(q);
}

static int cmd_up(struct quick *q, bool userspace)
{
	struct device *dev = NULL;
	struct nl_link l;
	int r = nl_link_get(&q->nl, q->iface, &l);

	if (r == 0) {
		complain("`%s' already exists", q->iface);
		return 1;
	}
	if (r != -ENODEV) {
		complain("cannot look up %s: %s", q->iface, strerror(-r));
		return 1;
	}
	/* A taken port would leave a device that says it listens and does not
	 * (the kernel module refuses `ip link set up` instead): say so now,
	 * before anything is made. */
	if (q->conf.iface.has_listen_port && q->conf.iface.listen_port &&
	    (r = listen_port_check(q->conf.iface.listen_port)) < 0) {
		complain("%s: listen port %u: %s; nothing was set up", q->iface, q->conf.iface.listen_port,
			 strerror(-r));
		return 1;
	}
	if (run_hooks(q, CONF_PRE_UP, "PreUp") < 0) {
		fprintf(stderr, "%s: nothing was set up\n", prog_name);
		return 1;
	}
	if (interrupted() || add_if(q, userspace) < 0 || interrupted() || set_config(q) < 0 ||
	    interrupted() || add_addresses(q) < 0)
		goto undo;
	r = device_get(&dev, q->iface);
	if (r < 0) {
		complain("Unable to access interface %s: %s", q->iface, strerror(-r));
		goto undo;
	}
	q->fwmark = dev->fwmark;
	if (interrupted() || set_mtu_up(q, dev) < 0 || interrupted() || set_dns(q) < 0 ||
	    interrupted() || add_routes(q, dev) < 0 || interrupted() ||
	    run_hooks(q, CONF_POST_UP, "PostUp") < 0 || interrupted())
		goto undo;
	device_free(dev);
	return 0;
undo:
	if (interrupted())
		complain("interrupted");
	device_free(dev);
	fprintf(stderr, "%s: taking %s down again\n", prog_name, q->iface);
	undo_up(q);
	return 1;
}

/* ---- save ---- */

static bool link_local_configured(const struct quick *q, const struct nl_prefix *p)
{
	const struct conf_prefix_list *a = &q->conf.iface.addresses;

	for (uint32_t i = 0; i < a->n; i++)
		if (a->v[i].addr.family == AF_INET6 && !memcmp(a->v[i].addr.bytes, p->addr, 16))
			return true;
	return false;
}

/* The interface's addresses, as `ip -brief address show` lists them for
 * wg-quick's save_config - except IPv6 link-local addresses the kernel
 * made itself (a TUN device gets one; the kernel module's device does
 * not), which would otherwise be written into the file and added by the
 * next `up`. */
static int save_addresses(struct quick *q)
{
	struct conf_prefix_list *list = &q->conf.iface.addresses;
	struct nl_addr *addrs;
	size_t n;
	int r = nl_addr_list(&q->nl, q->ifindex, AF_UNSPEC, &addrs, &n);

	if (r < 0)
		return r;
	list->n = 0;
	for (size_t i = 0; i < n && r >= 0; i++) {
		const struct nl_prefix *p = &addrs[i].p;
		struct conf_prefix cp = { .addr.family = p->family, .cidr = p->len };

		if (p->family == AF_INET6 && p->addr[0] == 0xfe && (p->addr[1] & 0xc0) == 0x80 &&
		    !link_local_configured(q, p))
			continue;
		memcpy(cp.addr.bytes, p->addr, p->family == AF_INET ? 4 : 16);
		r = conf_prefix_list_add(list, &cp);
	}
	free(addrs);
	return r < 0 ? r : 0;
}

/* The running peer dp into cp, its [Peer] (found or made by
 * conf_peers_sync). */
static int save_peer(struct conf_peer *cp, const struct dev_peer *dp)
{
	int r = 0;

	cp->has_preshared_key = dp->flags & PEER_HAS_PRESHARED_KEY;
	if (cp->has_preshared_key)
		memcpy(cp->preshared_key, dp->preshared_key, CONF_KEY_LEN);
	else
		memzero(cp->preshared_key, CONF_KEY_LEN);
	cp->persistent_keepalive = dp->persistent_keepalive;
	cp->has_persistent_keepalive = dp->persistent_keepalive != 0;
	if (device_has_endpoint(dp)) {
		char host[INET6_ADDRSTRLEN + IFNAMSIZ + 1];
		socklen_t len = dp->endpoint.addr.sa_family == AF_INET ? sizeof(dp->endpoint.addr4)
									: sizeof(dp->endpoint.addr6);
		uint16_t port = ntohs(dp->endpoint.addr.sa_family == AF_INET ? dp->endpoint.addr4.sin_port
									     : dp->endpoint.addr6.sin6_port);

		if (getnameinfo(&dp->endpoint.addr, len, host, sizeof(host), NULL, 0, NI_NUMERICHOST) == 0)
			r = conf_peer_set_endpoint(cp, host, port);
	} else
		r = conf_peer_set_endpoint(cp, NULL, 0);
	cp->allowed_ips.n = 0;
	for (size_t i = 0; i < dp->n_allowedips && r >= 0; i++) {
		struct conf_prefix p;

		allowedip_to_prefix(&p, &dp->allowedips[i]);
		r = conf_prefix_list_add(&cp->allowed_ips, &p);
	}
	return r;
}

/* q->conf into the file through the peer store: only the lines that
 * changed are rewritten (the user's comments and order stay), weft's own
 * settings and records go to IFACE.weft, disabled peers stay disabled. */
static int write_through_store(const struct quick *q, char *err, size_t errlen)
{
	struct store s;
	struct conf copy;
	int r = store_open(&s, q->path, STORE_LOCK | STORE_CREATE, err, errlen);

	if (r >= 0) {
		r = conf_copy(&copy, &q->conf);
		if (r < 0)
			snprintf(err, errlen, "%.300s: %s", q->path, strerror(-r));
	}
	if (r >= 0) {
		r = store_replace_conf(&s, &copy);
		conf_free(&copy);
		if (r < 0)
			snprintf(err, errlen, "%.300s: %s", q->path, strerror(-r));
	}
	if (r >= 0)
		r = store_save(&s, err, errlen);
	store_close(&s);
	return r;
}

/* wg-quick's save_config: `wg showconf` with the [Interface] part replaced
 * by the running addresses, the MTU (when the file sets one), and the file's
 * own DNS, Table, hooks and SaveConfig. weft's settings and peer records
 * are kept; peers stay in file order, new ones are appended. */
static int save_config(struct quick *q)
{
	struct conf_interface *ci = &q->conf.iface;
	char err[CONF_ERR_LEN];
	struct device *dev = NULL;
	struct nl_link l;
	int r;

	trace("%s showconf %s > %s", prog_name, q->iface, q->path);
	if ((r = device_get(&dev, q->iface)) < 0) {
		complain("Unable to access interface %s: %s", q->iface, strerror(-r));
		return -1;
	}
	ci->has_private_key = dev->flags & DEV_HAS_PRIVATE_KEY;
	memcpy(ci->private_key, dev->private_key, CONF_KEY_LEN);
	ci->has_listen_port = dev->listen_port != 0;
	ci->listen_port = dev->listen_port;
	ci->has_fwmark = dev->fwmark != 0;
	ci->fwmark = dev->fwmark;
	if (ci->has_mtu && nl_link_get(&q->nl, q->iface, &l) == 0)
		ci->mtu = (uint16_t)l.mtu;
	r = save_addresses(q);
	/* the file's peers become the running ones, matched by key in one
	 * pass (not pairwise: 10,000 peers) */
	uint32_t *at = dev->n_peers ? calloc(dev->n_peers, sizeof(*at)) : NULL;
	if (r >= 0 && dev->n_peers && !at)
		r = -ENOMEM;
	if (r >= 0)
		r = conf_peers_sync(&q->conf, dev->n_peers ? dev->peers[0].public_key : NULL, dev->n_peers,
				    sizeof(*dev->peers), at);
	for (size_t j = 0; r >= 0 && j < dev->n_peers; j++)
		r = save_peer(&q->conf.peers[at[j]], &dev->peers[j]);
	free(at);
	device_free(dev);
	if (r < 0) {
		complain("cannot build the configuration of %s: %s", q->iface, strerror(-r));
		return -1;
	}
	if (write_through_store(q, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		complain("Could not write configuration file");
		return -1;
	}
	return 0;
}

/* ---- down, save, strip ---- */

static int cmd_down(struct quick *q)
{
	struct nl_link l;
	uint32_t table;
	int ret = 0;

	if (!is_wireguard(q, &l)) {
		complain("`%s' is not a WireGuard interface", q->iface);
		return 1;
	}
	/* As in wg-quick, a failing PreDown or save stops here, leaving the
	 * interface up: the hook may be what makes taking it down safe. */
	if (run_hooks(q, CONF_PRE_DOWN, "PreDown") < 0) {
		fprintf(stderr, "%s: %s left up\n", prog_name, q->iface);
		return 1;
	}
	if (q->conf.iface.save_config && save_config(q) < 0) {
		fprintf(stderr, "%s: %s left up\n", prog_name, q->iface);
		return 1;
	}
	table = full_tunnel_table(q);
	if (table)
		delete_rules(q, table);
	if (delete_link(q) < 0)
		ret = 1;
	dns_unset(q->iface, &q->conf.iface.dns);
	firewall_remove(q->iface);
	if (run_hooks(q, CONF_POST_DOWN, "PostDown") < 0)
		ret = 1;
	return ret;
}

static int cmd_save(struct quick *q)
{
	struct nl_link l;

	if (!is_wireguard(q, &l)) {
		complain("`%s' is not a WireGuard interface", q->iface);
		return 1;
	}
	return save_config(q) < 0;
}

static int cmd_strip(struct quick *q)
{
	/* The output holds the private key: a buffer we can wipe. */
	static char outbuf[BUFSIZ];
	char *text;
	size_t len;
	int ret = 0;

	if (conf_write(&q->conf, CONF_WRITE_STRIP, &text, &len) < 0) {
		complain("%s", strerror(ENOMEM));
		return 1;
	}
	setvbuf(stdout, outbuf, _IOFBF, sizeof(outbuf));
	if (fwrite(text, 1, len, stdout) != len || fflush(stdout)) {
		perror("write");
		ret = 1;
	}
	conf_text_free(text, len);
	memzero(outbuf, sizeof(outbuf));
	return ret;
}

int cmd_quick(int argc, char *argv[])
{
	const char *cmd = argv[0];
	bool userspace = !strcmp(cmd, "up") && take_flag(&argc, argv, "--userspace");
	bool needs_root = strcmp(cmd, "strip") != 0;
	struct quick q = { 0 };
	sigset_t old;
	int ret;

	if (argc != 2 || argv[1][0] == '-') {
		command_usage(stderr, cmd);
		return 1;
	}
	if (needs_root && geteuid() != 0) {
		complain("%s must be run as root", cmd);
		return 1;
	}
	conf_init(&q.conf);
	if (load(&q, argv[1]) < 0) {
		conf_free(&q.conf);
		return 1;
	}
	if (!strcmp(cmd, "strip")) {
		ret = cmd_strip(&q);
		conf_free(&q.conf);
		return ret;
	}
	ret = nl_open(&q.nl);
	if (ret < 0) {
		complain("cannot open rtnetlink: %s", strerror(-ret));
		conf_free(&q.conf);
		return 1;
	}
	sigemptyset(&held);
	sigaddset(&held, SIGINT);
	sigaddset(&held, SIGTERM);
	sigaddset(&held, SIGHUP);
	sigprocmask(SIG_BLOCK, &held, &old);
	run_set_child_sigmask(&old);

	if (!strcmp(cmd, "up"))
		ret = cmd_up(&q, userspace);
	else if (!strcmp(cmd, "down"))
		ret = cmd_down(&q);
	else
		ret = cmd_save(&q);

	nl_close(&q.nl);
	conf_free(&q.conf);
	/* A signal held during the work ends weft now, as it would have. */
	if (interrupted())
		ret = 1;
	return ret;
}
