/* log.h: weftd's log lines, worded and formatted like wireguard-go's:
 *   DEBUG: (wg0) 2025/01/31 12:00:00 message
 *   ERROR: (wg0) 2025/01/31 12:00:00 message
 * on stdout. LOG_LEVEL=verbose|debug|error|silent picks what is printed
 * (default: error); a daemon started without LOG_LEVEL sends its errors to
 * syslog instead. Peers are named by a short public-key prefix, never a
 * secret. */
#ifndef WEFTD_LOG_H
#define WEFTD_LOG_H

#include <stdint.h>
#include <weft/engine.h>

enum log_level { LOG_SILENT = 0, LOG_ERROR = 1, LOG_VERBOSE = 2 };

/* LOG_LEVEL from the environment, as wireguard-go reads it. */
enum log_level log_level_from_env(void);
void log_init(enum log_level level, const char *ifname);
enum log_level log_level(void);
/* Error lines also go to syslog(3) as ident (facility daemon): for a
 * daemon whose standard output is /dev/null, so that a failure such as a
 * listen port that cannot be bound is never silent. */
void log_to_syslog(const char *ident);

void log_verbose(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* For struct weft_env.log: the engine's protocol events. */
void log_engine(void *ctx, enum weft_log_level level, const char *message);

/* "peer(AbCd…WxYz)" like wireguard-go: 4 + 4 base64 characters of the key. */
#define LOG_PEER_NAME_LEN 24
void log_peer_name(char out[LOG_PEER_NAME_LEN], const uint8_t public_key[32]);

#endif
