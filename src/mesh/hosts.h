/* hosts.h: the members' names (NAME.MESH) in a marked block of a hosts file
 * (/etc/hosts), replaced atomically with every byte outside the block kept
 * as it was. */
#ifndef WEFT_MESH_HOSTS_H
#define WEFT_MESH_HOSTS_H

#include <stddef.h>
#include <stdint.h>

struct mesh_host {
	char name[64];      /* the member's name (mesh_name_ok) */
	int family;         /* AF_INET or AF_INET6 */
	uint8_t addr[16];
};

/* The new text of a hosts file: old (old_len bytes, may be empty) with the
 * block of mesh `mesh` replaced by lines for the n hosts, sorted by name
 * then address; appended when there was none, removed when n is 0.
 * *out is malloc'ed (NUL-terminated; *out_len without it). 0, -EINVAL (a
 * bad mesh or host name, or a block begun and not ended, or two blocks),
 * -E2BIG (more than 65536 hosts or 16 MiB), -ENOMEM. */
int mesh_hosts_render(const char *old, size_t old_len, const char *mesh, const struct mesh_host *h, size_t n,
		      char **out, size_t *out_len);

/* Reads path (a missing file is empty), renders, and replaces it
 * atomically with its mode kept (0644 when it is new). 0 or -errno; the
 * file is left untouched when nothing would change. */
int mesh_hosts_write(const char *path, const char *mesh, const struct mesh_host *h, size_t n);

#endif
