/* status.h: what `weft link status IFACE` shows, kept by the daemon in a
 * small JSON file, RUN_DIR/link/IFACE.json (RUN_DIR: /run/weft, or
 * $WEFT_RUN_DIR), replaced atomically (temporary file and rename) whenever
 * something shown changes, mode 0600 like `wg show`'s data. Per peer: the
 * path type (lan, direct, relay), its endpoint, the RTT when known, since
 * when; and the coord session's state. */
#ifndef WEFT_LINK_STATUS_H
#define WEFT_LINK_STATUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LINK_RUN_DIR "/run/weft"
#define LINK_RUN_DIR_ENV "WEFT_RUN_DIR"

struct link;

/* The status file's path for iface into out. false if it does not fit. */
bool status_path(char *out, size_t size, const char *iface);
/* Writes l's state (mono_to_wall: add to the core's clock, in ms, for wall
 * time). coord: "HOST:PORT" as configured. 0 or -errno. */
int status_write(const struct link *l, const char *coord, int64_t mono_to_wall_ms, int pid);
/* One `weft link` per interface: an exclusive lock on RUN_DIR/link/
 * IFACE.lock, held until the process ends. The fd, or -EWOULDBLOCK when
 * another holds it, or -errno. */
int status_lock(const char *iface);
/* Removes the file (at exit). */
void status_remove(const char *iface);

/* `weft link status IFACE [--json]`: 0, or 1 when there is no status or
 * the daemon that wrote it no longer runs (the status is printed then,
 * with a line on stderr). */
int status_print(const char *iface, bool json);

#endif
