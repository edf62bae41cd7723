/* weft/engine.h: the WireGuard protocol engine, sans I/O.
 *
 * The engine knows the protocol and nothing else. Bytes and time go in;
 * datagrams to send, plaintext packets to deliver and the next deadline come
 * out. It has no sockets, threads, clock or randomness of its own: the caller
 * injects them through struct weft_env. One device is used by one thread at a
 * time (the caller serialises calls); the caller may lend it more threads for
 * the ChaCha20-Poly1305 of a batch of data packets (env.parallel).
 *
 * Output goes into caller-owned buffers (struct weft_out): the caller points
 * each slot's data at a buffer of cap bytes. When the slots run out, work that
 * did not fit stays queued in the engine (staged packets, handshakes) and the
 * next weft_tick() returns a deadline of "now" so the caller drains it.
 */
#ifndef WEFT_ENGINE_H
#define WEFT_ENGINE_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define WEFT_KEY_LEN 32

struct weft_device;
struct weft_peer;

enum weft_log_level { WEFT_LOG_ERROR = 1, WEFT_LOG_VERBOSE = 2 };

struct weft_env {
	uint64_t (*now_ns)(void *ctx);  /* monotonic clock, nanoseconds, never 0 (0 means "never") */
	uint64_t (*wall_ns)(void *ctx); /* real-time clock, ns since 1970 (TAI64N, handshake times) */
	void (*random)(void *ctx, uint8_t *buf, size_t len); /* cryptographically secure bytes */
	/* optional: protocol events, worded like wireguard-go's log lines */
	void (*log)(void *ctx, enum weft_log_level level, const char *message);
	/* optional: run job(arg, i) for every i in [0, n), on any threads and
	 * in any order, and return when all have finished. The engine hands it
	 * the encryption and decryption of a batch of data packets (see
	 * weft_batch_begin); without it the engine runs them itself. */
	void (*parallel)(void *ctx, void (*job)(void *arg, size_t i), void *arg, size_t n);
	void *ctx;
};

/* A UDP endpoint. src/src_ifindex carry the sticky source address: the local
 * address a peer's packets last arrived on, to answer from the same one.
 * Zero src means "let the kernel choose". */
struct weft_endpoint {
	union {
		struct sockaddr sa;
		struct sockaddr_in in4;
		struct sockaddr_in6 in6;
	} addr;
	union {
		struct in_addr in4;
		struct in6_addr in6;
	} src;
	int src_ifindex;
};

struct weft_packet {
	uint8_t *data;   /* caller's buffer, cap bytes */
	size_t cap;
	size_t len;      /* set by the engine */
	struct weft_endpoint endpoint; /* datagrams: destination */
	struct weft_peer *peer;        /* the peer it belongs to; NULL for a cookie reply */
};

struct weft_out {
	struct weft_packet *send;    /* datagrams for the network */
	size_t send_count, send_max;
	struct weft_packet *deliver; /* plaintext IP packets for the TUN device */
	size_t deliver_count, deliver_max;
};

/* Why packets were dropped; each reason has a counter. */
enum weft_drop {
	WEFT_DROP_MALFORMED,          /* too short, too long, bad type or reserved bytes */
	WEFT_DROP_NO_PRIVATE_KEY,     /* device has no private key */
	WEFT_DROP_BAD_MAC1,
	WEFT_DROP_BAD_MAC2,           /* under load, without a valid cookie (a cookie reply is sent) */
	WEFT_DROP_RATE_LIMITED,       /* handshake over the per-source rate under load */
	WEFT_DROP_HANDSHAKE_INVALID,  /* failed to decrypt or authenticate */
	WEFT_DROP_UNKNOWN_PEER,       /* initiation from a public key we do not know */
	WEFT_DROP_REPLAYED_HANDSHAKE, /* timestamp not newer than the last one */
	WEFT_DROP_HANDSHAKE_FLOOD,    /* initiations faster than one per 20 ms per peer */
	WEFT_DROP_UNKNOWN_INDEX,      /* receiver index matches nothing */
	WEFT_DROP_BAD_COOKIE,         /* cookie reply that does not authenticate */
	WEFT_DROP_DATA_INVALID,       /* data packet whose tag does not verify */
	WEFT_DROP_REPLAYED_DATA,      /* counter seen before or too old for the window */
	WEFT_DROP_KEY_EXPIRED,        /* keypair past REJECT_AFTER_TIME or _MESSAGES */
	WEFT_DROP_BAD_INNER,          /* decrypted packet is not a valid IPv4/IPv6 packet */
	WEFT_DROP_WRONG_SOURCE,       /* inner source address not in the peer's allowed IPs */
	WEFT_DROP_NO_ROUTE,           /* outgoing: no peer's allowed IPs cover the destination */
	WEFT_DROP_NO_ENDPOINT,        /* outgoing: the peer has no endpoint */
	WEFT_DROP_STAGED_OVERFLOW,    /* outgoing: more than MAX_STAGED_PACKETS waiting for a key */
	WEFT_DROP_STAGED_EXPIRED,     /* outgoing: handshake gave up, waiting packets dropped */
	WEFT_DROP_OUT_FULL,           /* no free slot or slot too small in struct weft_out */
	WEFT_DROP_COUNT
};
const char *weft_drop_name(enum weft_drop reason);

/* Device. */
struct weft_device *weft_device_new(const struct weft_env *env);
void weft_device_free(struct weft_device *dev); /* zeroes all key material */

/* A NULL or all-zero key removes it. Changing it drops every session (and
 * removes a peer whose public key equals the new public key, as the Linux
 * module does). Returns 0 or -errno. */
int weft_device_set_private_key(struct weft_device *dev, const uint8_t key[WEFT_KEY_LEN]);
bool weft_device_private_key(const struct weft_device *dev, uint8_t key[WEFT_KEY_LEN]);
bool weft_device_public_key(const struct weft_device *dev, uint8_t key[WEFT_KEY_LEN]);

/* Settings the engine stores for its caller (the daemon owns the socket). */
void weft_device_set_listen_port(struct weft_device *dev, uint16_t port);
uint16_t weft_device_listen_port(const struct weft_device *dev);
void weft_device_set_fwmark(struct weft_device *dev, uint32_t fwmark);
uint32_t weft_device_fwmark(const struct weft_device *dev);
/* The tunnel MTU: data is padded to a multiple of 16 but never beyond it. */
void weft_device_set_mtu(struct weft_device *dev, unsigned mtu);
/* The caller's view of handshake backlog; the engine also detects load by
 * itself from the rate of handshake messages. While under load, handshakes
 * need a valid mac2 (cookie) and are rate-limited per source. */
void weft_device_set_under_load(struct weft_device *dev, bool under_load);

uint64_t weft_device_drops(const struct weft_device *dev, enum weft_drop reason);

/* The link went down (false) or came up (true), as the kernel module's
 * device stop/open: down drops staged packets, handshakes and sessions and
 * stops the timers; up makes peers with a persistent keepalive send one
 * (which starts their handshake). A new device counts as up. */
void weft_device_set_up(struct weft_device *dev, bool up);
/* The local address addr (AF_INET: 4 bytes, AF_INET6: 16) went away: every
 * peer whose sticky source it was lets the kernel choose again. Returns how
 * many peers changed. */
size_t weft_device_forget_source(struct weft_device *dev, int family, const void *addr);

/* Peers, kept in the order they were added. */
/* Adds a peer, or returns the existing one with that key. NULL with errno
 * set: EINVAL (the key is the device's own public key), ENOMEM. */
struct weft_peer *weft_peer_add(struct weft_device *dev, const uint8_t public_key[WEFT_KEY_LEN]);
struct weft_peer *weft_peer_lookup(struct weft_device *dev, const uint8_t public_key[WEFT_KEY_LEN]);
void weft_peer_remove(struct weft_device *dev, struct weft_peer *peer);
void weft_peer_remove_all(struct weft_device *dev);
struct weft_peer *weft_peer_first(struct weft_device *dev);
struct weft_peer *weft_peer_next(struct weft_device *dev, struct weft_peer *peer);
size_t weft_peer_count(const struct weft_device *dev);
const uint8_t *weft_peer_public_key(const struct weft_peer *peer);

/* NULL or all-zero removes the preshared key. */
void weft_peer_set_preshared_key(struct weft_peer *peer, const uint8_t psk[WEFT_KEY_LEN]);
/* NULL clears the endpoint. */
void weft_peer_set_endpoint(struct weft_peer *peer, const struct weft_endpoint *endpoint);
/* 0 turns persistent keepalive off; setting it sends a keepalive at once. */
void weft_peer_set_persistent_keepalive(struct weft_peer *peer, uint16_t seconds);

/* family AF_INET or AF_INET6; host bits are ignored. 0 or -errno. */
int weft_peer_allowed_ip_add(struct weft_peer *peer, int family, const void *ip, uint8_t cidr);
/* Removes the prefix if this peer has it: 0 or -ENOENT. */
int weft_peer_allowed_ip_remove(struct weft_peer *peer, int family, const void *ip, uint8_t cidr);
void weft_peer_allowed_ips_clear(struct weft_peer *peer);
int weft_peer_allowed_ips_walk(const struct weft_peer *peer,
			       int (*fn)(void *ctx, int family, const uint8_t *ip, uint8_t cidr),
			       void *ctx);

struct weft_peer_info {
	uint8_t public_key[WEFT_KEY_LEN];
	uint8_t preshared_key[WEFT_KEY_LEN];
	bool has_preshared_key;
	bool has_endpoint;
	struct weft_endpoint endpoint;
	uint16_t persistent_keepalive;
	uint64_t last_handshake_wall_ns; /* 0 = never */
	uint64_t rx_bytes, tx_bytes;     /* datagram bytes, as the Linux module counts */
};
void weft_peer_get_info(const struct weft_peer *peer, struct weft_peer_info *info);

/* The data path. Each returns 0 when the input was consumed (even if it was
 * dropped and counted), or -errno for a caller error (bad arguments). */

/* A plaintext IPv4/IPv6 packet from the TUN device. Encrypts it for the peer
 * whose allowed IPs cover the destination, or stages it and starts a
 * handshake. */
int weft_send(struct weft_device *dev, const uint8_t *pkt, size_t len, struct weft_out *out);

/* A datagram from the network, received from `from` (src = the local
 * address it arrived on). */
int weft_receive(struct weft_device *dev, const uint8_t *buf, size_t len,
		 const struct weft_endpoint *from, struct weft_out *out);

/* The caller could not send pkt, one of weft_out.send: it is taken out of
 * the peer's tx_bytes, which count what left, as in the Linux module. */
void weft_packet_unsent(const struct weft_packet *pkt);

/* Batches. Between weft_batch_begin and weft_batch_end, weft_send and
 * weft_receive (given this same out) leave the ChaCha20-Poly1305 of data
 * packets to weft_batch_end, which does it all at once, through env.parallel
 * when there is enough of it, and then finishes each packet in order. Until
 * then out's send_count and deliver_count do not move: what is counted is
 * always sealed. Datagrams given to weft_receive must stay unchanged until
 * weft_batch_end, and nothing but weft_send and weft_receive may be called
 * in between. A data packet holds a deliver slot from weft_receive on, even
 * one whose tag turns out bad. Without a batch each call finishes its own
 * packets. */
void weft_batch_begin(struct weft_device *dev, struct weft_out *out);
void weft_batch_end(struct weft_device *dev);

/* Runs every timer that is due and drains queued work. Returns the monotonic
 * time (ns) at which it wants to be called again; UINT64_MAX = nothing due. */
uint64_t weft_tick(struct weft_device *dev, struct weft_out *out);

#endif
