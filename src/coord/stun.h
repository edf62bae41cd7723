/* stun.h: the part of STUN (RFC 8489) that `weft coord` speaks on its UDP
 * port: parsing and checking any STUN message (header, magic cookie, length,
 * attribute bounds, FINGERPRINT, MESSAGE-INTEGRITY on demand), and making
 * Binding requests and success responses with XOR-MAPPED-ADDRESS. No
 * allocation; every read is bounded by the datagram. */
#ifndef WEFT_COORD_STUN_H
#define WEFT_COORD_STUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coord/proto.h"

#define STUN_MAGIC_COOKIE 0x2112A442u
#define STUN_FINGERPRINT_XOR 0x5354554eu

enum {
	STUN_HEADER_LEN = 20,
	STUN_TXID_LEN = 12,
	STUN_MAX_LEN = 1280,       /* larger messages are refused */
	STUN_MAX_ATTRS = 32,

	STUN_BINDING_REQUEST = 0x0001,
	STUN_BINDING_SUCCESS = 0x0101,
	STUN_BINDING_INDICATION = 0x0011,

	STUN_ATTR_MAPPED_ADDRESS = 0x0001,
	STUN_ATTR_USERNAME = 0x0006,
	STUN_ATTR_MESSAGE_INTEGRITY = 0x0008,
	STUN_ATTR_ERROR_CODE = 0x0009,
	STUN_ATTR_XOR_MAPPED_ADDRESS = 0x0020,
	STUN_ATTR_SOFTWARE = 0x8022,
	STUN_ATTR_FINGERPRINT = 0x8028,
};

struct stun_msg {
	uint16_t type;
	uint16_t length;                 /* the header's, bytes after the header */
	uint8_t txid[STUN_TXID_LEN];
	unsigned attr_count;
	bool has_fingerprint;            /* present, last, and correct */
	bool has_integrity;
	size_t integrity_offset;         /* of the MESSAGE-INTEGRITY attribute */
	bool has_xor_mapped, has_mapped;
	struct coord_addr xor_mapped, mapped;
	const uint8_t *software;         /* points into the datagram */
	uint16_t software_len;
};

/* Checks and reads a STUN message: the top two bits 00, the magic cookie,
 * length = datagram - 20 and a multiple of 4, every attribute inside the
 * message, FINGERPRINT (if present) last and right, nothing after
 * MESSAGE-INTEGRITY but FINGERPRINT, (XOR-)MAPPED-ADDRESS well formed.
 * Returns 0 or -EBADMSG. */
int stun_parse(struct stun_msg *m, const uint8_t *pkt, size_t len);

/* HMAC-SHA1 of the message up to MESSAGE-INTEGRITY, as RFC 8489 14.5
 * (the key is the password for short-term credentials). */
bool stun_check_integrity(const uint8_t *pkt, size_t len, const struct stun_msg *m,
			  const uint8_t *key, size_t key_len);

struct stun_response_opts {
	const char *software;           /* NULL: no SOFTWARE (the server's default) */
	uint8_t pad;                    /* padding byte after SOFTWARE (RFC 5769 uses ' ') */
	const uint8_t *integrity_key;   /* NULL: no MESSAGE-INTEGRITY */
	size_t integrity_key_len;
	bool fingerprint;
};
/* A Binding success response for txid telling `mapped`. Returns the
 * length or -EMSGSIZE / -EINVAL. Without options it is 32 bytes (IPv4) or
 * 44 bytes (IPv6), 8 more with FINGERPRINT. */
int stun_binding_response(uint8_t *out, size_t cap, const uint8_t txid[STUN_TXID_LEN],
			  const struct coord_addr *mapped, const struct stun_response_opts *opts);
/* A Binding request (20 bytes, 28 with FINGERPRINT). */
int stun_binding_request(uint8_t *out, size_t cap, const uint8_t txid[STUN_TXID_LEN],
			 bool fingerprint);

uint32_t stun_crc32(const uint8_t *p, size_t len);

#endif
