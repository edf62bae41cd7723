/* log.h: `weft link`'s log lines on stderr, one event a line:
 *   weft link: wg0: 2026-12-08T01:00:00Z: peer(AbCd…WxYz): path direct 203.0.113.5:51820
 * LOG_LEVEL=silent|error|info|verbose (wireguard-go's names, plus info, the
 * default: what a user wants to see - chosen paths, the coord coming and
 * going). Peers are named by a short key prefix, never a secret. */
#ifndef WEFT_LINK_LOG_H
#define WEFT_LINK_LOG_H

#include <stdint.h>

void link_log_init(const char *iface);
void link_log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void link_log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void link_log_verbose(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "peer(AbCd…WxYz)" */
#define LINK_PEER_NAME_LEN 24
void link_peer_name(char out[LINK_PEER_NAME_LEN], const uint8_t key[32]);

#endif
