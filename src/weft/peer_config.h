/* peer_config.h: the config a peer imports - what `weft peer add` and
 * `weft peer config` print for a phone or laptop running a stock WireGuard
 * app. Built from the server's config (its settings, conf.weft, say how
 * peers reach it) and written by src/conf's writer, so it is a plain wg-quick
 * file that conf_parse and the apps accept; it never has a [Weft] section.
 *
 *   [Interface]
 *   PrivateKey = ...          (when weft generated the key; else a comment
 *                              saying which key to paste there)
 *   Address = 10.0.0.2/32, fd00::2/128
 *   DNS = ...                 (the interface's PeerDNS, or --dns; none otherwise)
 *
 *   [Peer]
 *   PublicKey = <the server's>
 *   PresharedKey = ...        (the peer's, when it has one)
 *   AllowedIPs = 0.0.0.0/0, ::/0   (what the peer sends through the tunnel)
 *   Endpoint = <PublicIPv4 | [PublicIPv6] | Hostname>:<PublicPort | ListenPort>
 *                             (or the caller's fallback address; with none,
 *                              a comment saying the Endpoint is missing)
 *   PersistentKeepalive = 25  (keeps NAT mappings open so the server can
 *                              reach a phone behind NAT; 0 leaves it out)
 */
#ifndef WEFT_CLI_PEER_CONFIG_H
#define WEFT_CLI_PEER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf/conf.h"
#include "conf/weftfile.h"

/* Phones sit behind NATs whose UDP mappings expire after 30 s or more;
 * wg(8) suggests 25 s for this case. */
#define PEER_DEFAULT_KEEPALIVE 25

struct peer_config_opts {
	uint8_t endpoint_type;                      /* enum weft_endpoint_type */
	const struct conf_prefix_list *allowed_ips; /* NULL or empty: 0.0.0.0/0, ::/0 */
	const struct conf_dns *dns;                 /* NULL: the server's PeerDNS */
	uint16_t keepalive;                         /* seconds, 0 = none */
	const uint8_t *preshared_key;               /* the peer's, or NULL */
	uint16_t running_port;                      /* the running device's port, for a
						     * config without ListenPort; 0 = none */
	const char *fallback_host;                  /* the Endpoint's host when the server's
						     * settings have none; NULL = leave the
						     * Endpoint out, with a comment */
};

/* The server's settings name a host for this endpoint type. */
bool peer_config_has_host(const struct conf *server, uint8_t type);

/* Renders the config for the peer with public key peer_public, whose
 * tunnel addresses are addresses, on the server described by server (its
 * public key server_public). peer_private is the peer's private key when
 * weft knows it, else NULL. Returns 0 and *text (NUL-terminated, *len
 * bytes; free with conf_text_free, it may hold a key), or -errno with one
 * line in err: -EINVAL for a gap (no port for a known host, no address),
 * -ENOMEM. Nothing is printed. */
int peer_config_render(const struct conf *server, const uint8_t server_public[CONF_KEY_LEN],
		       const struct conf_prefix_list *addresses, const uint8_t peer_public[CONF_KEY_LEN],
		       const uint8_t *peer_private, const struct peer_config_opts *opts,
		       char **text, size_t *len, char *err, size_t errlen);

#endif
