/* server.h: `weft serve`'s one server, shared by serve.c (the loop, the
 * relay and end-to-end devices) and api_routes.c (the chain's API). */
#ifndef WEFT_SERVE_SERVER_H
#define WEFT_SERVE_SERVER_H

#include <stdbool.h>
#include <stdint.h>

#include <weft/engine.h>

#include "serve/api.h"
#include "serve/chain.h"
#include "serve/flow.h"
#include "serve/reverse.h"
#include "serve/settings.h"
#include "serve/stack.h"
#include "serve/state.h"
#include "weftd/udp.h"

#define SERVE_EVENTS 64
#define SERVE_SEND_SLOTS UDP_TX_BATCH
#define SERVE_DELIVER_SLOTS UDP_RX_BATCH
#define SERVE_SEND_MARGIN 4
#define SERVE_PACKET_CAP (65536 + 64)  /* any IP packet plus WireGuard's overhead */
#define SERVE_RELAY_MTU 1420           /* the engine's default */
#define SERVE_E2E_OVERHEAD 80          /* IPv6 40 + UDP 8 + WireGuard 32 */
#define SERVE_KEEPALIVE 25             /* a relay server with an endpoint, by default */

/* The counters of the chain's layers. */
struct chain_counters {
	uint64_t forwarded, forwarded_bytes, dropped, e2e_in, e2e_out;
};

/* One device's output slots: out for receive and tick, tx for sends. */
struct dev_io {
	struct weft_out out, tx;
	struct weft_packet send[SERVE_SEND_SLOTS], deliver[SERVE_DELIVER_SLOTS], tx_send[SERVE_SEND_SLOTS];
	uint8_t *arena;
};

struct server {
	struct serve_settings set;
	struct weft_device *dev;      /* the relay layer (a single tunnel without a chain) */
	struct udp udp;
	struct udp_rx rx;
	struct udp_tx tx;
	struct dev_io io;
	struct stack stack;
	struct flows *flows;
	struct reverse *reverse;      /* Expose and SOCKS5; NULL when neither is set nor can be */
	int epfd, sigfd;
	struct watch w_udp4, w_udp6, w_stack, w_signal;
	uint64_t engine_deadline_ns, flows_deadline_ms, reverse_deadline_ms;
	bool running;

	/* chains (docs/weft-serve-chain.md) */
	struct chain_self self;
	struct weft_device *e2e;      /* the end-to-end layer; NULL without RelayAddress */
	struct dev_io e2e_io;
	uint64_t e2e_deadline_ns;
	uint8_t *wrap;                /* an e2e datagram in IPv6/UDP, for the relay device */
	struct api *api;              /* NULL without API */
	struct serve_state state;     /* run-time changes, saved in set.chain.state_path */
	struct chain_counters cc;
};

/* A relay peer that is a server ([Relay]) carries this as its user pointer. */
extern char serve_role_server;

/* Adds or extends a peer of dev (the relay or the e2e device): allowed
 * IPs added to its own, endpoint ("IP:PORT", "[IPV6]:PORT"; NULL keeps it)
 * and keepalive (has_keepalive) set. 0 or -errno (-EINVAL: a bad
 * endpoint or prefix). */
int server_peer_apply(struct server *sv, struct weft_device *dev, const uint8_t key[32], bool is_server,
		      const struct conf_prefix *ips, uint32_t n_ips, const char *endpoint, bool has_keepalive,
		      uint16_t keepalive);
/* Saves the state file: 0 or -errno (logged). */
int server_save_state(struct server *sv);

/* The API's routes (api_routes.c); an api_handler. */
int api_routes(void *ctx, const struct api_request *req, char **body, size_t *body_len);

#endif
