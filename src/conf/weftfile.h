/* weftfile.h: IFACE.weft, weft's own file beside a wg-quick IFACE.conf. The
 * wg-quick file stays loadable by wg-quick; what only weft needs lives here:
 * the interface's settings for the configs it hands out, and one record per
 * peer. Same syntax family as the wg-quick format ('#' comments, sections,
 * "Key = Value", keys case-insensitive):
 *
 * [Weft]                      (at most one)
 *   PublicIPv4, PublicIPv6, Hostname, PublicPort, PeerDNS   as in conf.h
 *   Coord            = HOST:PORT of the `weft coord` rendezvous server that
 *                      `weft link` uses (weftlink_settings below)
 *   CoordKey         = that server's base64 public key
 * [Peer]                      (one per peer with anything to remember)
 *   PublicKey        = base64 key (required, unique)
 *   Name             = 1..CONF_NAME_MAX characters (see store_name_valid for
 *                      new names; older printable names are still read)
 *   Owner            = opaque id of whoever enrolled the peer (printable,
 *                      no '#', 1..WEFT_OWNER_MAX)
 *   Created, Expires = UTC time, "2026-12-07T21:48:01Z"
 *   Enabled          = true | false
 *   EndpointType     = any | ipv4 | ipv6 | domain
 *   ClientAllowedIPs = what the peer routes through the tunnel, as given
 *   ClientDNS        = the DNS its config got, as given; "none" for none
 *   ClientKeepalive  = 0..65535, as given
 *   Roaming          = true | false: `weft link` manages this peer's
 *                      endpoint even though IFACE.conf gives it one
 *   and only while the peer is disabled (it is then not in IFACE.conf), the
 *   [Peer] keys it had there: AllowedIPs, PresharedKey, Endpoint,
 *   PersistentKeepalive.
 *
 * The file holds preshared keys: it is written 0600 and atomically, and
 * freed memory is wiped. Parsing is O(size); duplicate keys are found with
 * conf's hash set. */
#ifndef WEFT_CONF_WEFTFILE_H
#define WEFT_CONF_WEFTFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf/conf.h"

#define WEFT_OWNER_MAX 128
#define WEFT_TIME_STRLEN 21 /* "2026-12-07T21:48:01Z" + NUL */

enum weft_endpoint_type {
	WEFT_ENDPOINT_ANY,    /* the first configured of ipv4, ipv6, domain */
	WEFT_ENDPOINT_IPV4,   /* [Weft] PublicIPv4 */
	WEFT_ENDPOINT_IPV6,   /* [Weft] PublicIPv6 */
	WEFT_ENDPOINT_DOMAIN, /* [Weft] Hostname */
};

struct peer_record {
	uint8_t public_key[CONF_KEY_LEN];
	char *name;                    /* NULL: unnamed */
	char *owner;                   /* NULL: none */
	int64_t created;               /* Unix seconds; 0: unknown */
	int64_t expires;               /* Unix seconds; 0: never */
	bool enabled;
	/* The options its config was handed out with; unset ones follow the
	 * interface's settings. */
	uint8_t endpoint_type;         /* enum weft_endpoint_type */
	struct conf_prefix_list client_allowed_ips; /* empty: 0.0.0.0/0, ::/0 */
	bool roaming;                  /* Roaming = true: `weft link` manages it */
	bool has_client_dns;           /* with an empty list: no DNS at all */
	struct conf_dns client_dns;
	bool has_client_keepalive;
	uint16_t client_keepalive;
	/* While disabled: the [Peer] it had in IFACE.conf (held.public_key is
	 * the record's key). Unused while enabled. */
	struct conf_peer held;
};

/* What `weft link` reads from [Weft]: the rendezvous server. Kept apart
 * from conf_weft (which the wg-quick file's [Weft] shares) so that a store
 * rewrite carries it over untouched. */
struct weftlink_settings {
	char *coord;                   /* "HOST:PORT"; NULL: unset */
	bool has_coord_key;
	uint8_t coord_key[CONF_KEY_LEN];
};

struct weft_file {
	struct conf_weft settings;
	struct weftlink_settings link;
	struct peer_record *recs;
	uint32_t n, cap;
};

void weftfile_init(struct weft_file *w);
void weftfile_free(struct weft_file *w);        /* wipes keys, re-inits */
void peer_record_free(struct peer_record *r);   /* wipes, leaves it zeroed */

/* Parses len bytes named name in messages. 0 and *out (caller frees), or
 * -EINVAL with "FILE:LINE: what was expected" in err, or -ENOMEM. *out is
 * untouched on error. */
int weftfile_parse(struct weft_file *out, const char *text, size_t len, const char *name,
		   char *err, size_t errlen);
/* weftfile_parse of a file; -errno (e.g. -ENOENT) with a message. */
int weftfile_load(struct weft_file *out, const char *path, char *err, size_t errlen);
/* Canonical text (free with conf_text_free). Records that remember nothing
 * (enabled, no name, no times, no options) are left out. 0 or -ENOMEM,
 * -EINVAL for a broken invariant. */
int weftfile_write(const struct weft_file *w, char **text, size_t *len);

/* Appends a zeroed record (enabled) with this key, not checking for
 * duplicates. 0, -E2BIG past CONF_MAX_PEERS, -ENOMEM. */
int weftfile_append(struct weft_file *w, const uint8_t key[CONF_KEY_LEN], struct peer_record **rec);

/* "any", "ipv4", "ipv6", "domain". */
bool weft_endpoint_type_parse(const char *s, uint8_t *out);
const char *weft_endpoint_type_name(uint8_t type);
/* RFC 3339 UTC with a 'Z' ("2026-12-07T21:48:01Z"; seconds may be left
 * out, "2026-12-07" is midnight UTC). */
bool weft_time_parse(const char *s, int64_t *out);
void weft_time_format(char out[WEFT_TIME_STRLEN], int64_t t);
bool weft_owner_valid(const char *s);

#endif
