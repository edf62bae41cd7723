/* upgrade_file.h: the file of one `weft link upgrade` peer - a wg-quick file
 * with one [Peer] and an optional [Link] section (weft's links/PEER.conf) or
 * [Wirescale] section (Wirescale's own files, read unchanged). */
#ifndef WEFT_LINK_UPGRADE_FILE_H
#define WEFT_LINK_UPGRADE_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf/conf.h"

#define LINK_IFNAME_MAX 15          /* IFNAMSIZ - 1 */
#define LINK_TRIES_MAX 1000
#define LINK_IDLE_MAX (30u * 86400) /* seconds */
#define LINK_CONTROL_PORT 51830

struct link_file {
	struct conf conf;           /* exactly one peer; its key may be zero */
	bool peer_has_key;          /* PublicKey given (else negotiated) */
	bool wirescale;             /* read a [Wirescale] section */
	char iface[LINK_IFNAME_MAX + 1]; /* "" = the peer's name */
	int recover_tries;          /* -1 = forever */
	int recreate_tries;
	uint32_t idle_remove;       /* seconds, 0 = off */
	uint16_t control_port;
	bool suffix;                /* add a number when the name is taken */
	bool iptables;
};

/* Parses len bytes of text named name in messages ("name:LINE: ...").
 * Returns 0 and fills *out (release with link_file_free), or -EINVAL /
 * -ENOMEM with a message in err. Line numbers are those of the file. */
int link_file_parse(struct link_file *out, const char *text, size_t len, const char *name,
		    char *err, size_t errlen);
void link_file_free(struct link_file *lf);

#endif
