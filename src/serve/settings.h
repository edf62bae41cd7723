/* settings.h: what `weft serve` runs with, from a config file (-f) and/or
 * WEFT_* environment variables (which override the file).
 *
 * The file is a wg-quick file ([Interface] PrivateKey, ListenPort, Address,
 * MTU; [Peer] sections) plus one [Serve] section:
 *
 *   [Serve]
 *   Stack           = auto | kernel | lwip
 *   Allow           = PREFIX, ...   destinations peers may reach
 *   Deny            = PREFIX, ...   and may not (longest prefix wins)
 *   ServerLoopback  = true | false  240.0.0.0/4 reaches this machine's 127.0.0.0/8
 *   MaxFlows        = N             flows in total (TCP, UDP, ping)
 *   MaxFlowsPerPeer = N
 *   TCPIdleTimeout  = SECONDS       a relayed connection with no data either way
 *   UDPIdleTimeout  = SECONDS
 *   MaxMemory       = MIB           relay buffers in total
 *   Expose, SOCKS5, SOCKS5User, SOCKS5Password: see reverse.h
 *   RelayAddress    = IPV6          this server's relay address (chains)
 *   API             = IPV6          this server's API address
 *   RelayPrefix, APIPrefix = PREFIX (fd:17::/48, fd:16::/48)
 *   Routes          = PREFIX, ...   what clients route through it (reported)
 *   State           = PATH          the state file (default: beside the config)
 *
 * Chains (docs/weft-serve-chain.md) add three kinds of section: [Relay]
 * (a neighbouring server: [Peer]'s keys), [E2E] (the end-to-end layer's
 * PrivateKey and ListenPort) and [E2EPeer] (a client reaching this server
 * end to end: [Peer]'s keys). The state file has the same format.
 *
 * A file holding a private key that group or others may read is refused,
 * as is a WEFT_PRIVATE_KEY_FILE that they may read. */
#ifndef WEFT_SERVE_SETTINGS_H
#define WEFT_SERVE_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf/conf.h"
#include "serve/guard.h"
#include "serve/reverse.h"

enum serve_stack { SERVE_STACK_AUTO, SERVE_STACK_KERNEL, SERVE_STACK_LWIP };

#define SERVE_DEFAULT_PORT 51820
#define SERVE_DEFAULT_MAX_FLOWS 16384
#define SERVE_DEFAULT_MAX_FLOWS_PER_PEER 4096
#define SERVE_DEFAULT_TCP_IDLE_S 7200   /* RFC 5382 REQ-5: at least 2 h 4 min for established */
#define SERVE_DEFAULT_UDP_IDLE_S 120    /* RFC 4787 REQ-5: at least 2 min */
#define SERVE_DEFAULT_MAX_MEMORY_MIB 256
#define SERVE_MAX_FLOWS_LIMIT (1u << 20)
#define SERVE_DEFAULT_E2E_PORT 51821
#define SERVE_MAX_ROUTES 256
#define SERVE_RELAY_PREFIX "fd:17::/48"
#define SERVE_API_PREFIX "fd:16::/48"

/* What makes a server part of a chain; all optional. */
struct serve_chain {
	bool has_relay_address, has_api;
	uint8_t relay_address[16], api_address[16];
	struct conf_prefix relay_prefix, api_prefix;
	struct conf e2e;           /* [E2E] as iface (PrivateKey, ListenPort) + [E2EPeer]s */
	uint8_t (*servers)[32];    /* public keys of the [Relay] peers in conf */
	uint32_t n_servers;
	bool has_routes;
	struct conf_prefix_list routes;
	char *state_path;          /* NULL: no state file */
};

struct serve_settings {
	struct conf conf;          /* [Interface] and [Peer]s; owns the keys */
	enum serve_stack stack;
	struct guard guard;
	bool server_loopback;
	uint32_t max_flows, max_flows_per_peer;
	uint32_t tcp_idle_s, udp_idle_s;
	uint64_t max_memory;       /* bytes */
	struct reverse_settings reverse; /* Expose, SOCKS5 (reverse.h) */
	struct serve_chain chain;
};

/* Defaults, then path (NULL: none) then the environment. 0, or -errno
 * with one line in err naming the file/line or the variable. */
int settings_load(struct serve_settings *s, const char *path, char *err, size_t errlen);
void settings_free(struct serve_settings *s); /* wipes the keys */
/* A state file (same format, nothing required, no environment) into a
 * zeroed s. -ENOENT when there is none; else as settings_load. */
int settings_load_state(struct serve_settings *s, const char *path, char *err, size_t errlen);
/* Is key one of the [Relay] peers? */
bool settings_is_server(const struct serve_settings *s, const uint8_t key[32]);
const char *settings_stack_name(enum serve_stack stack);

#endif
