/* conf_path.c: where an interface's config file lives (IFACE.conf in
 * /etc/weft, then /etc/wireguard, or $WEFT_CONFIG_DIR), and the lock on its
 * directory that keeps two weft processes from changing configs at once. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "conf_path.h"
#include "conf/store.h"

#define CONF_DIRS_DEFAULT WEFT_DIR ":" WIREGUARD_DIR

bool conf_file_exists(const char *path)
{
	struct stat st;

	return !stat(path, &st) && S_ISREG(st.st_mode);
}

/* A config file is there, or may be: a directory we cannot search hides
 * it, and loading it then says "Permission denied", which is true, where
 * "does not exist" might not be. */
static bool conf_file_maybe(const char *path)
{
	struct stat st;

	if (stat(path, &st) == 0)
		return S_ISREG(st.st_mode);
	return errno == EACCES;
}

bool iface_conf_path(char *out, size_t size, const char *iface, bool *exists)
{
	const char *env = getenv(CONFIG_DIR_ENV);
	const char *dirs = env && *env ? env : CONF_DIRS_DEFAULT, *d = dirs;
	size_t first_len = strcspn(dirs, ":");

	*exists = false;
	while (*d) {
		size_t len = strcspn(d, ":");
		int n = snprintf(out, size, "%.*s/%s.conf", (int)len, d, iface);

		if (n < 0 || (size_t)n >= size)
			return false;
		if (len && conf_file_maybe(out)) {
			*exists = true;
			return true;
		}
		d += len + (d[len] == ':');
	}
	int n = snprintf(out, size, "%.*s/%s.conf", (int)first_len, dirs, iface);
	return first_len && n >= 0 && (size_t)n < size;
}

/* The same lock as the peer store's (store_open), so a command that changes
 * the config and one that changes the store exclude each other. */
int iface_conf_lock(const char *conf_path)
{
	return store_lock_dir(conf_path);
}
