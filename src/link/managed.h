/* managed.h: which peers `weft link` manages and where its coord is, read
 * from the interface's files: IFACE.conf (wg-quick) and IFACE.weft beside
 * it. A peer is managed when IFACE.conf gives it no Endpoint, or when its
 * record in IFACE.weft says Roaming = true (never IFACE.conf: it stays a
 * file wg-quick loads). Without an IFACE.conf, the device's peers that
 * have no endpoint at start are managed. The coord's address and key come
 * from [Weft] Coord and CoordKey unless the command line gives them. */
#ifndef WEFT_LINK_MANAGED_H
#define WEFT_LINK_MANAGED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct device;

struct managed_peer {
	uint8_t public_key[32];
	bool roaming;
};

struct managed {
	struct managed_peer *v;
	uint32_t n;
	char *coord;              /* from IFACE.weft; NULL: none */
	bool has_coord_key;
	uint8_t coord_key[32];
	bool from_files;          /* IFACE.conf was there */
	char conf_path[4096];
};

/* Reads the files of iface and picks from dev's peers. 0, or -errno with a
 * one-line message naming the file and line in err. */
int managed_load(struct managed *m, const char *iface, const struct device *dev, char *err, size_t errlen);
void managed_free(struct managed *m);

#endif
