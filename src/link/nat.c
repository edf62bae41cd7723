/* nat.c: the port mapping and the host-name re-resolution wired into
 * `weft link`'s loop (nat.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>

#include "conf/conf.h"
#include "link/link.h"
#include "link/log.h"
#include "link/nat.h"
#include "weft/conf_path.h"
#include "weft/device.h"

void nat_init(struct nat_helpers *h, unsigned portmap_use, int64_t resolve_every_ms)
{
	memset(h, 0, sizeof(*h));
	h->portmap_use = portmap_use;
	h->resolve_every_ms = resolve_every_ms;
	h->epfd = -1;
}

static void watch(struct nat_helpers *h, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };

	if (h->epfd >= 0 && fd >= 0)
		epoll_ctl(h->epfd, EPOLL_CTL_ADD, fd, &ev);
}

static void unwatch(struct nat_helpers *h, int fd)
{
	if (h->epfd >= 0 && fd >= 0)
		epoll_ctl(h->epfd, EPOLL_CTL_DEL, fd, NULL);
}

static bool managed(void *ctx, const uint8_t key[WG_KEY_LEN])
{
	return link_find_peer(ctx, key) >= 0;
}

int nat_open(struct nat_helpers *h, const char *iface, const struct link *core, int epfd)
{
	char path[4096], err[CONF_ERR_LEN] = "";
	struct conf c;
	bool exists = false;
	int ret;

	h->epfd = epfd;
	h->resolve = resolve_table_new();
	if (!h->resolve)
		return -ENOMEM;
	if (h->resolve_every_ms)
		resolve_table_set_interval(h->resolve, h->resolve_every_ms);
	watch(h, resolve_table_fd(h->resolve));
	/* no config file: wg resolved nothing by name, nothing to re-resolve */
	if (!iface_conf_path(path, sizeof(path), iface, &exists) || !exists)
		return 0;
	ret = conf_load(&c, path, 0, err, sizeof(err));
	if (ret) {
		link_log_error("host-name endpoints: %s", err);
		return 0; /* the daemon's own reading of it said more already */
	}
	ret = resolve_table_add_conf(h->resolve, &c, managed, (void *)core);
	conf_free(&c);
	if (ret < 0)
		return ret;
	if (ret)
		link_log_info("%d peer(s) with a host-name endpoint: looked up again while their handshake is stale",
			      ret);
	return 0;
}

static void portmap_restart(struct nat_helpers *h, uint16_t port)
{
	struct portmap_config cfg = {
		.internal_port = port,
		.description = "weft link",
		.no_pcp = !(h->portmap_use & PORTMAP_USE_PCP),
		.no_natpmp = !(h->portmap_use & PORTMAP_USE_NATPMP),
		.no_upnp = !(h->portmap_use & PORTMAP_USE_UPNP),
	};

	if (h->portmap) {
		unwatch(h, portmap_fd(h->portmap));
		portmap_stop(h->portmap);
		h->portmap = NULL;
	}
	h->portmap_port = port;
	h->portmap = portmap_start(&cfg);
	if (!h->portmap) {
		link_log_error("port mapping: %s", strerror(errno));
		return;
	}
	watch(h, portmap_fd(h->portmap));
}

void nat_on_device(struct nat_helpers *h, const struct device *dev, int64_t now)
{
	if (h->portmap_use && dev->listen_port && dev->listen_port != h->portmap_port)
		portmap_restart(h, dev->listen_port);
	if (h->resolve && resolve_table_count(h->resolve))
		resolve_table_tick(h->resolve, dev, now, (int64_t)time(NULL));
}

static void on_portmap(struct nat_helpers *h, struct link *core, int64_t now)
{
	struct portmap_lease l;
	union link_addr a = { 0 };

	if (!portmap_get(h->portmap, &l))
		return;
	if (l.proto == PORTMAP_NONE) {
		link_on_portmap(core, NULL, now);
		return;
	}
	a.in4.sin_family = AF_INET;
	a.in4.sin_addr = l.external_addr;
	a.in4.sin_port = htons(l.external_port);
	link_on_portmap(core, &a, now);
}

static void on_resolved(struct nat_helpers *h, const char *iface, int64_t now)
{
	struct device *dev = NULL, *change = device_new(iface);
	int ret = change ? device_get(&dev, iface) : -ENOMEM;

	if (!ret)
		ret = resolve_table_collect(h->resolve, dev, change, now);
	if (ret > 0)
		ret = device_set(change);
	if (ret < 0)
		link_log_error("host-name endpoints: %s", strerror(-ret));
	device_free(dev);
	device_free(change);
}

bool nat_on_fd(struct nat_helpers *h, int fd, const char *iface, struct link *core, int64_t now)
{
	if (h->portmap && fd == portmap_fd(h->portmap)) {
		on_portmap(h, core, now);
		return true;
	}
	if (h->resolve && fd == resolve_table_fd(h->resolve)) {
		on_resolved(h, iface, now);
		return true;
	}
	return false;
}

void nat_close(struct nat_helpers *h)
{
	if (h->portmap) {
		unwatch(h, portmap_fd(h->portmap));
		portmap_stop(h->portmap); /* removes the mapping */
	}
	if (h->resolve) {
		unwatch(h, resolve_table_fd(h->resolve));
		resolve_table_free(h->resolve);
	}
	h->portmap = NULL;
	h->resolve = NULL;
}
