/* cmd_link.c: `weft link IFACE [--coord HOST:PORT] [--coord-key KEY]
 * [--label LABEL] [--portmap LIST] [--resolve-every SECONDS]` (the daemon, daemon.h) and `weft link status IFACE
 * [--json]` (status.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "link/daemon.h"
#include "link/status.h"
#include "weft/commands.h"
#include "weft/ifname.h"
#include "weft/usage.h"

static int bad(void)
{
	command_usage(stderr, "link");
	return 1;
}

int cmd_link(int argc, char *argv[])
{
	struct link_options o = { .portmap_use = PORTMAP_USE_ALL };

	if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		command_usage(stdout, "link");
		return 0;
	}
	if (argc >= 3 && !strcmp(argv[1], "status")) {
		bool json = false;

		for (int i = 3; i < argc; i++) {
			if (!strcmp(argv[i], "--json"))
				json = true;
			else
				return bad();
		}
		if (!interface_name_valid(argv[2])) {
			fprintf(stderr, "weft: '%s' is not an interface name\n", argv[2]);
			return 1;
		}
		return status_print(argv[2], json);
	}
	if (argc < 2 || argv[1][0] == '-')
		return bad();
	o.iface = argv[1];
	o.argc = argc;
	o.argv = argv;
	if (!interface_name_valid(o.iface)) {
		fprintf(stderr, "weft: '%s' is not an interface name\n", o.iface);
		return 1;
	}
	for (int i = 2; i < argc; i++) {
		if (i + 1 < argc && !strcmp(argv[i], "--coord"))
			o.coord = argv[++i];
		else if (i + 1 < argc && !strcmp(argv[i], "--coord-key"))
			o.coord_key = argv[++i];
		else if (i + 1 < argc && !strcmp(argv[i], "--label"))
			o.label = argv[++i];
		else if (i + 1 < argc && !strcmp(argv[i], "--portmap")) {
			if (portmap_parse_use(argv[++i], &o.portmap_use)) {
				fprintf(stderr, "weft: --portmap: '%s' is not a list of pcp, nat-pmp and upnp, or none\n",
					argv[i]);
				return 1;
			}
		}
		else if (i + 1 < argc && !strcmp(argv[i], "--resolve-every")) {
			char *end;
			long v = strtol(argv[++i], &end, 10);

			if (*end || v < 1 || v > 86400) {
				fprintf(stderr, "weft: --resolve-every: '%s' is not 1..86400 seconds\n", argv[i]);
				return 1;
			}
			o.resolve_every_ms = v * 1000;
		}
		else
			return bad();
	}
	if (o.label && strlen(o.label) > COORD_LABEL_MAX) {
		fprintf(stderr, "weft: --label: at most %d bytes\n", COORD_LABEL_MAX);
		return 1;
	}
	return link_daemon_run(&o);
}
