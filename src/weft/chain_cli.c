/* chain_cli.c: locating and loading a client's .chain file for the
 * commands of a network of servers (chain_cli.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "chain_cli.h"
#include "conf_path.h"
#include "ifname.h"
#include "usage.h"

bool chain_files_find(struct chain_files *f, const char *arg, const char *cmd)
{
	size_t n;
	bool exists = false;

	if (!arg)
		arg = CHAIN_DEFAULT_IFACE;
	n = strlen(arg);
	if (strchr(arg, '/') || (n > 5 && !strcmp(arg + n - 5, ".conf"))) {
		if (n >= sizeof(f->conf)) {
			fprintf(stderr, "%s %s: `%s': path too long\n", prog_name, cmd, arg);
			return false;
		}
		memcpy(f->conf, arg, n + 1);
	} else if (!interface_name_valid(arg)) {
		fprintf(stderr, "%s %s: `%s' is neither an interface name nor a config file "
			"(a path, or a name ending in .conf)\n", prog_name, cmd, arg);
		return false;
	} else if (!iface_conf_path(f->conf, sizeof(f->conf), arg, &exists)) {
		fprintf(stderr, "%s %s: `%s': path too long\n", prog_name, cmd, arg);
		return false;
	}
	if (!chain_state_path(f->state, sizeof(f->state), f->conf)) {
		fprintf(stderr, "%s %s: `%s': path too long\n", prog_name, cmd, f->conf);
		return false;
	}
	return true;
}

bool chain_files_load(const struct chain_files *f, struct chain_state *st, const char *cmd)
{
	char err[CONF_ERR_LEN + CHAIN_PATH_MAX];
	int ret = chain_state_load(st, f->state, err, sizeof(err));

	if (ret == -ENOENT) {
		fprintf(stderr, "%s %s: %s does not exist: `%s configure' writes it with the first server's "
			"configs\n", prog_name, cmd, f->state, prog_name);
		return false;
	}
	if (ret < 0) {
		fprintf(stderr, "%s %s: %s\n", prog_name, cmd, err);
		return false;
	}
	return true;
}
