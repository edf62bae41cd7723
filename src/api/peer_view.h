/* peer_view.h: what the routes share about one peer of the interface -
 * opening the interface's peer store for a request, finding a peer by the
 * key in a path, who may touch it, its JSON and its config. */
#ifndef WEFT_API_PEER_VIEW_H
#define WEFT_API_PEER_VIEW_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "api.h"
#include "weft/peer_ctx.h"

/* Opens the store (and the running device unless PEER_CTX_NO_DEVICE is in
 * flags): true, or false after answering 503. With PEER_CTX_LOCK the
 * directory lock is held until view_close. The store comes from the cache
 * when its files have not changed; the device is read again for every
 * change and at most a second apart for reads. */
bool view_open(struct api *api, struct api_request *r, struct peer_ctx *c, unsigned flags);
/* Ends a view_open: back into the cache, unless a change was answered
 * with an error (which may leave the store unlike its files): then
 * closed. Then the lock goes. */
void view_close(struct api *api, struct api_request *r, struct peer_ctx *c);

/* A key from a path or a body: base64, or base64url with or without '='. */
bool view_key_parse(uint8_t key[32], const char *s);

/* t may see and change the peer of rec (NULL: unknown peer). */
bool view_may(const struct token *t, const struct peer_record *rec);

/* The peer as JSON: key, name, owner, addresses, enabled, times, and from
 * the running device its handshake and traffic. NULL when out of memory. */
json_t *view_peer_json(struct peer_ctx *c, const uint8_t key[32]);

/* The config the peer imports (free with conf_text_free), with priv when
 * given and endpoint_type unless it is -1 (the peer's own). 0, or -errno
 * with err. */
int view_config(struct peer_ctx *c, const uint8_t key[32], const uint8_t *priv, int endpoint_type,
		char **text, size_t *len, char *err, size_t errlen);

/* A QR code PNG of text into *png (free it). 0 or -errno. */
int view_qr_png(const char *text, char **png, size_t *len);

#endif
