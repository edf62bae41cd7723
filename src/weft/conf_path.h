/* conf_path.h: where an interface's config file lives, and the lock that
 * keeps two weft processes from changing configs at once. */
#ifndef WEFT_CLI_CONF_PATH_H
#define WEFT_CLI_CONF_PATH_H

#include <stdbool.h>
#include <stddef.h>

/* Where configs are looked for, in order; a new one goes in the first.
 * CONFIG_DIR_ENV, when set, replaces the list. */
#define WEFT_DIR "/etc/weft"
#define WIREGUARD_DIR "/etc/wireguard"
#define CONFIG_DIR_ENV "WEFT_CONFIG_DIR"

/* path is a regular file. */
bool conf_file_exists(const char *path);

/* The config file of iface: IFACE.conf in the first of /etc/weft and
 * /etc/wireguard (or the ':'-separated dirs of WEFT_CONFIG_DIR) that has
 * it; else in the first of them (where a new one goes). *exists says
 * whether the file is there (or may be: a directory we may not search
 * counts, so that reading it reports the permission problem). false if the
 * path does not fit in size. */
bool iface_conf_path(char *out, size_t size, const char *iface, bool *exists);

/* Locks the directory of conf_path (created 0700 if missing) against other
 * weft processes changing configs in it: an fd to close() to unlock, or
 * -errno. */
int iface_conf_lock(const char *conf_path);

#endif
