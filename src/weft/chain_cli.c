/* chain_cli.c: locating and loading a client's .chain file for the
 * commands of a network of servers (chain_cli.h). */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chain_cli.h"
#include "conf_path.h"
#include "ifname.h"
#include "usage.h"

/* The interface of the one .chain file in the config directories, when
 * there is exactly one: `weft status` needs no name for a network made
 * with `weft configure --name`. */
static bool only_chain(char *out, size_t size)
{
	const char *env = getenv(CONFIG_DIR_ENV);
	const char *d = env && *env ? env : WEFT_DIR ":" WIREGUARD_DIR;
	unsigned found = 0;

	while (*d && found < 2) {
		size_t len = strcspn(d, ":");
		char dir[CHAIN_PATH_MAX];
		struct dirent *e;
		DIR *dh;

		snprintf(dir, sizeof(dir), "%.*s", (int)len, d);
		d += len + (d[len] == ':');
		if (!len || !(dh = opendir(dir)))
			continue;
		while ((e = readdir(dh)) && found < 2) {
			size_t n = strlen(e->d_name);
			if (n > 6 && n - 6 < size && !strcmp(e->d_name + n - 6, ".chain")) {
				snprintf(out, size, "%.*s", (int)(n - 6), e->d_name);
				found += interface_name_valid(out);
			}
		}
		closedir(dh);
	}
	return found == 1;
}

bool chain_files_find(struct chain_files *f, const char *arg, const char *cmd)
{
	char only[16];
	size_t n;
	bool exists = false;

	if (!arg) {
		arg = CHAIN_DEFAULT_IFACE;
		if (iface_conf_path(f->conf, sizeof(f->conf), arg, &exists) && !exists && only_chain(only, sizeof(only)))
			arg = only;
	}
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
