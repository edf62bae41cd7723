/* weft/engine.h: the WireGuard protocol engine, sans I/O.
 *
 * The engine knows the protocol and nothing else. Bytes and time go in;
 * datagrams to send, plaintext packets to deliver and the next deadline come
 * out. It has no sockets, threads, clock or randomness of its own: the caller
 * injects them through struct weft_env, each callback with its own context,
 * so several devices (each with its own clock, say) live in one process and
 * the engine keeps no process-wide state but read-only tables.
 *
 * The rules, for every function below:
 * - Errors: a function that can fail returns 0 or a negative errno (bools
 *   answer questions, they report no errors). Bad input from the network is
 *   never an error: it is dropped and counted (weft_device_drops).
 * - Threads: one device is used by one thread at a time; the caller
 *   serialises every call on it. Different devices are independent. The
 *   caller may lend more threads for the ChaCha20-Poly1305 of a batch
 *   (env.parallel); those run only inside the engine call that uses them.
 * - Pointers: the engine keeps no pointer it was given, except the ones
 *   said below (env callbacks and contexts; a batch's out and datagrams).
 *   Pointers it returns say how long they live where they are declared.
 * - Output: into caller-owned slots (struct weft_out). A call fills at most
 *   the free slots it is given; see "Output room" below for the limits.
 * - Assertions: builds without NDEBUG check the batch rules and abort on a
 *   broken one; with -DNDEBUG the checks cost nothing.
 */
#ifndef WEFT_ENGINE_H
#define WEFT_ENGINE_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define WEFT_KEY_LEN 32

/* Opaque. A device lives from weft_device_new to weft_device_free; a peer
 * from weft_peer_add to weft_peer_remove (or the device's end). */
struct weft_device;
struct weft_peer;

enum weft_log_level { WEFT_LOG_ERROR = 1, WEFT_LOG_VERBOSE = 2 };

/* The environment, copied by weft_device_new; the contexts must outlive the
 * device. Every callback is called only from inside an engine call on the
 * device (parallel's jobs aside), never after weft_device_free returns. */
struct weft_clock {
	/* monotonic, nanoseconds, never 0 (0 means "never"). Reading the
	 * clock once per wake-up and returning that is enough: the protocol's
	 * timers count in seconds. */
	uint64_t (*now_ns)(void *ctx);
	/* real time, ns since 1970 (handshake timestamps, last-handshake times) */
	uint64_t (*wall_ns)(void *ctx);
	void *ctx;
};

struct weft_random {
	/* cryptographically secure bytes; it cannot fail (abort if it must) */
	void (*fill)(void *ctx, uint8_t *buf, size_t len);
	void *ctx;
};

struct weft_log {
	/* optional: protocol events, worded like wireguard-go's log lines;
	 * message lives for the call only. Never given a secret. */
	void (*write)(void *ctx, enum weft_log_level level, const char *message);
	void *ctx;
};

struct weft_parallel {
	/* optional: run job(arg, i) for every i in [0, n), on any threads and
	 * in any order, and return when all have finished. The engine hands it
	 * the encryption and decryption of a batch of data packets (see
	 * weft_batch_begin); without it the engine runs them itself. Jobs touch
	 * only their own packet: they never call back into the engine. */
	void (*run)(void *ctx, void (*job)(void *arg, size_t i), void *arg, size_t n);
	void *ctx;
};

struct weft_env {
	struct weft_clock clock;       /* required */
	struct weft_random random;     /* required */
	struct weft_log log;           /* optional (NULL write) */
	struct weft_parallel parallel; /* optional (NULL run) */
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

/* One slot of output. The caller sets data and cap once (the buffer is the
 * caller's and must hold cap bytes); the engine sets the rest when it fills
 * the slot. */
struct weft_packet {
	uint8_t *data;   /* caller's buffer, cap bytes */
	size_t cap;
	size_t len;      /* set by the engine */
	struct weft_endpoint endpoint; /* datagrams: destination */
	/* The peer it belongs to (NULL for a cookie reply); valid until the
	 * caller's next call on the device, which may remove the peer. */
	struct weft_peer *peer;
};

/* The caller's output: slots [0, send_max) and [0, deliver_max). The engine
 * fills slots from send_count / deliver_count on and moves the counts; the
 * caller empties them (sets the counts back to 0) when it has sent or
 * written them. The engine keeps this pointer only inside a batch (from
 * weft_batch_begin to weft_batch_end). */
struct weft_out {
	struct weft_packet *send;    /* datagrams for the network */
	size_t send_count, send_max;
	struct weft_packet *deliver; /* plaintext IP packets for the TUN device */
	size_t deliver_count, deliver_max;
};

/* Output room: what a caller must give so that nothing is lost.
 * - A send slot holds a datagram: WEFT_SEND_SLOT_SIZE(mtu) bytes hold any
 *   packet up to the device's MTU (weft_device_set_mtu), and every
 *   handshake message or cookie reply (WEFT_HANDSHAKE_MAX); a longer packet
 *   needs its length plus WEFT_DATA_OVERHEAD.
 * - A deliver slot holds a plaintext packet: at most the datagram's size
 *   less WEFT_DATA_OVERHEAD.
 * - weft_receive fills at most WEFT_CALL_MAX_DELIVERS deliver slot; without
 *   a free one a data packet is dropped (WEFT_DROP_OUT_FULL). A cookie reply
 *   without a free send slot is not sent (the initiator retries).
 * - Every other output (handshakes, keepalives, a packet weft_send could
 *   not seal for lack of a slot, which is staged: at most 128 a peer, the
 *   oldest dropped first, WEFT_DROP_STAGED_OVERFLOW) waits in the engine and
 *   goes out with a later call that has room; weft_tick then returns "now".
 *   So one free send slot per call loses nothing; more slots drain faster.
 * weft_out_room() says how many slots are still free, counting those that
 * work queued in an open batch has taken. */
#define WEFT_DATA_OVERHEAD 32    /* header 16 + tag 16 */
#define WEFT_HANDSHAKE_MAX 148   /* the largest handshake message */
#define WEFT_SEND_SLOT_SIZE(mtu) ((size_t)(mtu) + WEFT_DATA_OVERHEAD)
#define WEFT_CALL_MAX_DELIVERS 1
void weft_out_room(const struct weft_device *dev, const struct weft_out *out,
		   size_t *free_sends, size_t *free_delivers);

/* Why packets were dropped; each reason has a counter. */
enum weft_drop {
	WEFT_DROP_MALFORMED,          /* too short, too long, bad type or reserved bytes */
	WEFT_DROP_NO_PRIVATE_KEY,     /* device has no private key */
	WEFT_DROP_BAD_MAC1,
	WEFT_DROP_BAD_MAC2,           /* under load, without a valid cookie (a cookie reply is sent,
				       * paced per source) */
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
	WEFT_DROP_HANDSHAKE_BACKLOG,  /* handshake queue full (see weft_device_set_handshake_budget) */
	WEFT_DROP_COUNT
};
const char *weft_drop_name(enum weft_drop reason);

/* Device. */
/* Creates a device with no key and no peers, counted as up. 0 and *dev set,
 * or -EINVAL (a required callback is missing), -ENOMEM, -ENOSYS (no crypto
 * backend). */
int weft_device_new(const struct weft_env *env, struct weft_device **dev);
void weft_device_free(struct weft_device *dev); /* zeroes all key material; NULL is fine */

/* A NULL or all-zero key removes it. Changing it drops every session (and
 * removes a peer whose public key equals the new public key, as the Linux
 * module does). 0 or -EINVAL (a key X25519 refuses). */
int weft_device_set_private_key(struct weft_device *dev, const uint8_t key[WEFT_KEY_LEN]);
/* Copies the key out; false when there is none. The private key is for
 * configuration dumps only (UAPI get): wipe the copy when done. */
bool weft_device_private_key(const struct weft_device *dev, uint8_t key[WEFT_KEY_LEN]);
bool weft_device_public_key(const struct weft_device *dev, uint8_t key[WEFT_KEY_LEN]);

/* Settings the engine stores for its caller (the caller owns the socket). */
void weft_device_set_listen_port(struct weft_device *dev, uint16_t port);
uint16_t weft_device_listen_port(const struct weft_device *dev);
void weft_device_set_fwmark(struct weft_device *dev, uint32_t fwmark);
uint32_t weft_device_fwmark(const struct weft_device *dev);
/* The tunnel MTU (clamped to [1280, 65535]): data is padded to a multiple
 * of 16 but never beyond it. */
void weft_device_set_mtu(struct weft_device *dev, unsigned mtu);
unsigned weft_device_mtu(const struct weft_device *dev);

/* Load. Under load, a handshake message needs a valid mac2 (else it earns
 * a cookie reply and nothing more) and each source address is held to a
 * rate (whitepaper 5.3). The device decides it from its handshake backlog,
 * as the Linux module and wireguard-go do: in one batch (or one weft_tick,
 * or one weft_receive outside a batch) it does the Diffie-Hellman work of
 * at most `budget` handshake messages (default WEFT_HANDSHAKE_BUDGET); the
 * others wait in a queue of at most WEFT_HANDSHAKE_QUEUE (more are dropped,
 * WEFT_DROP_HANDSHAKE_BACKLOG) for the next weft_tick. A queue of
 * WEFT_HANDSHAKE_QUEUE / 8 puts the device under load, and it stays so for
 * a second after the queue was last that long. So the defence engages when
 * this machine cannot keep up, whatever its speed. A budget of 0 means no
 * limit (no queue).
 * A machine fast enough to keep up with a flood never builds a backlog, yet
 * pays an X25519 per message; so the device is under load as well when it
 * sees more than `rate` handshake messages a second (counted over eighths
 * of a second, so it notices within one; default
 * WEFT_HANDSHAKE_RATE; 0 turns this rule off). A caller that knows what an
 * X25519 costs on its machine sets the rate a share of a core can afford
 * (weftd: a tenth), and a flood is then met with cookies after at most
 * `rate` / 8 X25519s, whatever its size. Under load, each source address
 * gets cookie replies at the pace of the per-source rate limit, the rest
 * of its messages are dropped unanswered.
 * Only messages whose mac1 is valid count: junk is dropped on arrival. */
#define WEFT_HANDSHAKE_BUDGET 16
#define WEFT_HANDSHAKE_QUEUE 1024
#define WEFT_HANDSHAKE_RATE 16384
void weft_device_set_handshake_budget(struct weft_device *dev, unsigned budget);
void weft_device_set_handshake_rate(struct weft_device *dev, unsigned per_second);
/* The caller's own verdict, on top of the device's: true keeps the device
 * under load until it is set false again. */
void weft_device_set_under_load(struct weft_device *dev, bool under_load);
bool weft_device_under_load(struct weft_device *dev);

/* Counters for monitoring; no secrets. */
struct weft_device_stats {
	uint64_t x25519;             /* X25519 operations (key generation and DH) */
	uint64_t handshakes_queued;  /* handshake messages that waited for a later call */
	uint64_t cookie_replies;     /* cookie replies sent */
	uint64_t cookie_replies_withheld; /* not sent: that source had its share */
	uint64_t under_load_periods; /* times the device went under load by itself */
	size_t handshake_backlog;    /* messages waiting now */
};
void weft_device_get_stats(const struct weft_device *dev, struct weft_device_stats *stats);

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

/* Peers, kept in the order they were added. A struct weft_peer pointer is
 * valid until weft_peer_remove(_all) or weft_device_free, or a private key
 * equal to the peer's public key (weft_device_set_private_key). */
/* Adds a peer, or finds the existing one with that key: 0 and *peer set,
 * or -EINVAL (the key is the device's own public key), -ENOSPC (too many
 * peers), -ENOMEM. */
int weft_peer_add(struct weft_device *dev, const uint8_t public_key[WEFT_KEY_LEN],
		  struct weft_peer **peer);
struct weft_peer *weft_peer_lookup(struct weft_device *dev, const uint8_t public_key[WEFT_KEY_LEN]);
void weft_peer_remove(struct weft_device *dev, struct weft_peer *peer);
void weft_peer_remove_all(struct weft_device *dev);
struct weft_peer *weft_peer_first(struct weft_device *dev);
struct weft_peer *weft_peer_next(struct weft_device *dev, struct weft_peer *peer);
size_t weft_peer_count(const struct weft_device *dev);
/* Lives as long as the peer. */
const uint8_t *weft_peer_public_key(const struct weft_peer *peer);
/* A pointer of the caller's kept with the peer (NULL when added); the
 * engine never looks at it. */
void weft_peer_set_user(struct weft_peer *peer, void *user);
void *weft_peer_user(const struct weft_peer *peer);
/* The peer whose allowed IPs cover ip (AF_INET: 4 bytes, AF_INET6: 16),
 * longest prefix first, as weft_send would choose it; NULL when none. */
struct weft_peer *weft_peer_for_address(struct weft_device *dev, int family, const void *ip);

/* NULL or all-zero removes the preshared key. */
void weft_peer_set_preshared_key(struct weft_peer *peer, const uint8_t psk[WEFT_KEY_LEN]);
/* Copies the preshared key out; false (and psk zeroed) when there is none.
 * For configuration dumps only (UAPI get): wipe the copy when done. */
bool weft_peer_preshared_key(const struct weft_peer *peer, uint8_t psk[WEFT_KEY_LEN]);
/* NULL clears the endpoint; the engine copies it. */
void weft_peer_set_endpoint(struct weft_peer *peer, const struct weft_endpoint *endpoint);
/* 0 turns persistent keepalive off; setting it sends a keepalive at once. */
void weft_peer_set_persistent_keepalive(struct weft_peer *peer, uint16_t seconds);

/* family AF_INET or AF_INET6 (ip: 4 or 16 bytes); host bits are ignored.
 * 0 or -EINVAL, -ENOMEM. */
int weft_peer_allowed_ip_add(struct weft_peer *peer, int family, const void *ip, uint8_t cidr);
/* Removes the prefix if this peer has it: 0, -ENOENT or -EINVAL. */
int weft_peer_allowed_ip_remove(struct weft_peer *peer, int family, const void *ip, uint8_t cidr);
void weft_peer_allowed_ips_clear(struct weft_peer *peer);
/* Calls fn for each prefix; ip lives for the call. Stops at the first non-zero return of fn and returns it; else 0.
 * fn must not change the device. */
int weft_peer_allowed_ips_walk(const struct weft_peer *peer,
			       int (*fn)(void *ctx, int family, const uint8_t *ip, uint8_t cidr),
			       void *ctx);

/* What a peer reports: safe to log or show, no secret in it. */
struct weft_peer_info {
	uint8_t public_key[WEFT_KEY_LEN];
	bool has_preshared_key;
	bool has_endpoint;
	struct weft_endpoint endpoint;
	uint16_t persistent_keepalive;
	uint64_t last_handshake_wall_ns; /* 0 = never */
	uint64_t rx_bytes, tx_bytes;     /* datagram bytes, as the Linux module counts */
};
void weft_peer_get_info(const struct weft_peer *peer, struct weft_peer_info *info);

/* The data path. Each returns 0 when the input was consumed (even if it was
 * dropped and counted, or queued), or -EINVAL for a caller error (NULL
 * where something is needed). The input is not kept after the call,
 * except a datagram inside a batch (see below). */

/* A plaintext IPv4/IPv6 packet from the TUN device. Encrypts it for the peer
 * whose allowed IPs cover the destination, or stages it and starts a
 * handshake. */
int weft_send(struct weft_device *dev, const uint8_t *pkt, size_t len, struct weft_out *out);

/* A datagram from the network, received from `from` (src = the local
 * address it arrived on). out may be NULL: then nothing can be delivered or
 * answered at once (queued work waits for the next call with an out). */
int weft_receive(struct weft_device *dev, const uint8_t *buf, size_t len,
		 const struct weft_endpoint *from, struct weft_out *out);

/* The caller could not send pkt, one of weft_out.send: it is taken out of
 * the peer's tx_bytes, which count what left, as in the Linux module. Call
 * it before anything that could remove the peer. */
void weft_packet_unsent(const struct weft_packet *pkt);

/* Batches. Between weft_batch_begin and weft_batch_end, weft_send and
 * weft_receive (given this same out) leave the ChaCha20-Poly1305 of data
 * packets to weft_batch_end, which does it all at once, through
 * env.parallel when there is enough of it, and then finishes each packet
 * in order. The rules (checked by assertions in builds without NDEBUG):
 * - no nested batch: weft_batch_begin only outside one; weft_batch_end
 *   only inside one;
 * - in between, only weft_send and weft_receive, with this same out; no
 *   weft_tick, no configuration call (weft_device_free may still end it:
 *   the batch's unfinished work is then dropped);
 * - out's counts move only over sealed work (mostly at weft_batch_end; a
 *   batch too big for the engine's job array runs part of it early); the
 *   caller must not change them until weft_batch_end;
 * - datagrams given to weft_receive stay unchanged and alive until
 *   weft_batch_end returns.
 * A data packet holds a deliver slot from weft_receive on, even one whose
 * tag turns out bad. Without a batch each call finishes its own packets.
 * weft_batch_begin returns 0, -EINVAL (NULL) or -EBUSY (a batch is open). */
int weft_batch_begin(struct weft_device *dev, struct weft_out *out);
void weft_batch_end(struct weft_device *dev);

/* Runs every timer that is due, queued handshakes (within the budget) and
 * other queued work. Returns the monotonic time (ns) at which it wants to
 * be called again: "now" (or earlier) while work is queued, UINT64_MAX when
 * nothing is due. Never inside a batch. */
uint64_t weft_tick(struct weft_device *dev, struct weft_out *out);

#endif
