/* cmd_link.c: `weft link IFACE [--coord HOST:PORT] [--coord-key KEY]
 * [--label LABEL]` (the daemon, daemon.h) and `weft link status IFACE
 * [--json]` (status.h). */
#include <stdio.h>
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
	struct link_options o = { 0 };

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
		else
			return bad();
	}
	if (o.label && strlen(o.label) > COORD_LABEL_MAX) {
		fprintf(stderr, "weft: --label: at most %d bytes\n", COORD_LABEL_MAX);
		return 1;
	}
	return link_daemon_run(&o);
}
