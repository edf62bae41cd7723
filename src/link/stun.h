/* stun.h: the client half of a STUN Binding transaction (RFC 8489): the
 * request we send and the XOR-MAPPED-ADDRESS we read back, which is our
 * public mapping as the server saw it. Bytes in, bytes out. */
#ifndef WEFT_LINK_STUN_H
#define WEFT_LINK_STUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "link/addr.h"

#define STUN_HEADER_LEN 20
#define STUN_TXID_LEN 12
#define STUN_MAGIC 0x2112A442u           /* RFC 8489 section 5 */
#define STUN_BINDING_REQUEST 0x0001u
#define STUN_BINDING_SUCCESS 0x0101u
#define STUN_ATTR_MAPPED_ADDRESS 0x0001u  /* section 14.1 */
#define STUN_ATTR_XOR_MAPPED_ADDRESS 0x0020u /* section 14.2 */
#define STUN_MAX_MESSAGE 548             /* what we accept back */

/* A bare Binding request (no attributes) into out (STUN_HEADER_LEN). */
size_t stun_binding_request(uint8_t out[STUN_HEADER_LEN], const uint8_t txid[STUN_TXID_LEN]);

/* A Binding success response to txid: true and *mapped (XOR-MAPPED-ADDRESS,
 * else MAPPED-ADDRESS). Anything else, malformed or not ours: false. */
bool stun_parse_response(const uint8_t *msg, size_t len, const uint8_t txid[STUN_TXID_LEN],
			 union link_addr *mapped);

#endif
