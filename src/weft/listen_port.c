/* listen_port.c: is a UDP port free here, and which one a new interface
 * gets (see listen_port.h). The daemon binds IPv4 and IPv6 sockets on the
 * same port, so a port counts as free only if both binds work (udp.c's
 * udp_port_check, the daemon's own code); the probe sockets are closed at
 * once, before the daemon binds for real. A port that another interface's
 * config names is not offered either, even while that interface is down:
 * its peers' configs already carry it. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf.h"
#include "conf_path.h"
#include "listen_port.h"
#include "weftd/udp.h"

#define CLAIMS_MAX 1024 /* configs looked at; beyond that, binding decides */

/* The daemon's own binding code, so that "free" here means weftd can bind
 * it: both families, the same socket options. */
int listen_port_check(uint16_t port)
{
	return udp_port_check(port);
}

struct claims {
	size_t n;
	uint16_t port[CLAIMS_MAX];
};

/* The ListenPorts of the *.conf files in one config directory. Files that
 * do not parse claim nothing. */
static void claims_in_dir(struct claims *cl, const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	while (d && cl->n < CLAIMS_MAX && (e = readdir(d))) {
		size_t len = strlen(e->d_name);
		char path[PATH_MAX], err[CONF_ERR_LEN];
		struct conf c;

		if (len <= 5 || strcmp(e->d_name + len - 5, ".conf") ||
		    snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >= (int)sizeof(path))
			continue;
		conf_init(&c);
		if (conf_load(&c, path, 0, err, sizeof(err)) == 0 && c.iface.has_listen_port && c.iface.listen_port)
			cl->port[cl->n++] = c.iface.listen_port;
		conf_free(&c);
	}
	if (d)
		closedir(d);
}

static void claims_collect(struct claims *cl)
{
	const char *env = getenv(CONFIG_DIR_ENV);
	const char *d = env && *env ? env : WEFT_DIR ":" WIREGUARD_DIR;
	char dir[PATH_MAX];

	cl->n = 0;
	while (*d) {
		size_t len = strcspn(d, ":");

		if (len && len < sizeof(dir)) {
			memcpy(dir, d, len);
			dir[len] = '\0';
			claims_in_dir(cl, dir);
		}
		d += len + (d[len] == ':');
	}
}

static bool claimed(const struct claims *cl, uint16_t port)
{
	for (size_t i = 0; i < cl->n; i++)
		if (cl->port[i] == port)
			return true;
	return false;
}

int listen_port_pick(uint16_t *port)
{
	struct claims *cl = malloc(sizeof(*cl));

	if (!cl)
		return -ENOMEM;
	claims_collect(cl);
	for (uint32_t p = LISTEN_PORT_FIRST; p <= UINT16_MAX; p++) {
		if (claimed(cl, (uint16_t)p))
			continue;
		int r = listen_port_check((uint16_t)p);

		if (r == 0 || r != -EADDRINUSE) {
			free(cl);
			if (r == 0)
				*port = (uint16_t)p;
			return r;
		}
	}
	free(cl);
	return -EADDRINUSE;
}
