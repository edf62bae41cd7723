/* loop.h: weftd's event loop. One thread, one epoll set:
 *   TUN readable     -> read a batch -> weft_send each -> sendmmsg the datagrams
 *   UDP readable     -> recvmmsg a batch -> weft_receive each -> sendmmsg the
 *                       replies, write the plaintext to the TUN device
 *   timerfd          -> weft_tick at the deadline the engine asked for
 *   UAPI fd          -> serve `wg` (nonblocking, bounded per wake-up)
 *   netlink          -> MTU, up/down, deleted link, vanished local addresses
 *   housekeeping 1 s -> socket file deleted? interface gone? stalled client?
 *   signalfd         -> SIGINT/SIGTERM/SIGHUP end the loop cleanly
 * Every buffer of the data path is allocated once, here; work moves a batch
 * at a time, which is the shape a later multi-core version keeps. */
#ifndef WEFTD_LOOP_H
#define WEFTD_LOOP_H

#include <stdbool.h>
#include <stdint.h>
#include <weft/engine.h>

#include "weftd/netlink.h"
#include "weftd/offload.h"
#include "weftd/tun.h"
#include "weftd/uapi.h"
#include "weftd/udp.h"
#include "weftd/workers.h"

#define LOOP_TUN_BATCH 4             /* reads per wake-up: with TSO each may be 64 KiB, and
                                      * a bigger batch delays the other direction (ping) */
#define LOOP_SPLIT_SEGS 64           /* segments split from a super-packet per engine pass */
#define LOOP_SPLIT_CAP (128 * 1024)  /* their bytes: 64 KiB of payload plus headers */
#define LOOP_SEND_SLOTS UDP_TX_BATCH
#define LOOP_DELIVER_SLOTS UDP_RX_BATCH
#define LOOP_SEND_MARGIN 4           /* free send slots kept before each engine call */
#define LOOP_PACKET_CAP (65536 + 64) /* any IP packet plus WireGuard's 32 bytes + padding */
#define LOOP_HOUSEKEEPING_NS UINT64_C(1000000000)
#define LOOP_TICK_ROUNDS 8           /* drain rounds per wake-up before yielding */

struct loop {
	struct weft_device *dev;
	struct tun *tun;
	struct uapi_server *uapi;
	struct uapi_hooks hooks;
	struct udp udp;
	uint16_t port;  /* the port asked for (0: any), kept across down and up; while up
	                 * the device reports only the port its sockets hold */
	struct nl_watch nl;
	int epfd, timerfd, housekeeping_fd, signal_fd;
	bool up;
	unsigned mtu;
	bool running;
	uint64_t armed_deadline;
	uint64_t now;           /* CLOCK_MONOTONIC, read once per wake-up; the engine's clock */
	struct workers workers; /* the engine's env.parallel */
	struct weft_device_stats logged_stats; /* last logged by log_handshake_stats */

	struct weft_out out;
	struct weft_packet send[LOOP_SEND_SLOTS];
	struct weft_packet deliver[LOOP_DELIVER_SLOTS];
	uint8_t *tun_bufs[LOOP_TUN_BATCH];
	size_t tun_lens[LOOP_TUN_BATCH];
	void *arena; /* the buffers below live in it */
	uint8_t *split_buf;
	size_t split_off[LOOP_SPLIT_SEGS], split_len[LOOP_SPLIT_SEGS];
	bool gro_enabled; /* vnet headers, and WEFT_DISABLE_TUN_GRO unset */
	struct offload_gro *gro;
	struct udp_rx rx;
	struct udp_tx tx;
};

/* The engine environment weftd injects for the device loop l will run:
 * l's clock reading (CLOCK_MONOTONIC), CLOCK_REALTIME, getrandom(2), log.c
 * and l's helper threads. l need not be initialised yet, only allocated. */
void loop_env(struct weft_env *env, struct loop *l);

/* Takes a created engine device, TUN and listening UAPI server (after the
 * daemon has forked). Keeps l->now and l->workers as loop_env left them
 * referenced. 0 or -errno. */
int loop_init(struct loop *l, struct weft_device *dev, struct tun *tun, struct uapi_server *uapi);
/* Runs until a signal, the interface's deletion or the socket file's; 0 on
 * a clean end, 1 on a fatal error. */
int loop_run(struct loop *l);
void loop_free(struct loop *l);

#endif
