/* daemon.h: the running `weft link IFACE`: the core (link.h) with its I/O
 * around it - the device (device_io.h, polled for handshakes: no device
 * has an event for them), rtnetlink (netmon.h), STUN from the device's
 * port (stun_port.h), the coord session (coord_io.h), the status file
 * (status.h) - and the epoll loop that drives them (loop.c), as weftd's.
 * Helpers that join later (relay client, port mapping, DNS re-resolution,
 * birthday probes) get their state here and their calls in loop.c. */
#ifndef WEFT_LINK_DAEMON_H
#define WEFT_LINK_DAEMON_H

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>

#include "link/addr.h"
#include "link/birthday_run.h"
#include "link/coord_io.h"
#include "link/link.h"
#include "link/nat.h"
#include "link/netmon.h"
#include "link/relay_client.h"
#include "link/stun_port.h"

/* How often the device is asked for its peers' handshakes: quickly while
 * punching (a path counts as working the moment a handshake completes),
 * slowly otherwise. */
#define LINK_DEVICE_POLL_PUNCH_MS 200
#define LINK_DEVICE_POLL_IDLE_MS 1000

struct link_options {
	const char *iface;
	const char *coord;          /* HOST:PORT; NULL: from IFACE.weft */
	const char *coord_key;      /* base64; NULL: from IFACE.weft */
	const char *label;          /* network label in the tokens; NULL: empty */
	unsigned portmap_use;       /* --portmap: PORTMAP_USE_* (0: none) */
	int64_t resolve_every_ms;   /* --resolve-every: 0 is RESOLVE_INTERVAL_MS */
	int argc;                   /* the command line from "link" on, for SIGHUP's re-exec */
	char **argv;
};

struct link_daemon {
	struct link_options opt;
	struct link core;
	struct coord_io coord;
	struct netmon net;
	struct stun_port stun;
	struct nat_helpers nat;     /* port mapping, host-name endpoints */
	struct bday_runner bday;    /* birthday probes before the relay */
	union link_addr server;
	char coord_name[300];       /* as configured, for status and logs */
	int epfd, sigfd, lockfd;
	int64_t next_device_poll;
	bool device_silent;         /* the last read failed (logged once) */
	uint64_t status_written;    /* core.status_gen at the last write */
	bool keepalive_set[LINK_MAX_PEERS]; /* we turned a keepalive on */
	struct relay_client relay;  /* stand-ins of relayed peers */
	int tcp_fd_polled;          /* the coord's TCP connection, as in epoll */
	uint64_t relay_sessions;    /* coord sessions the relay has joined in */
	uint32_t probes_logged[LINK_MAX_PEERS]; /* relay probes told in the log */
};

/* Runs until SIGINT or SIGTERM; SIGHUP starts it again from the files
 * (peers added or marked since are picked up; paths in use stay). 0, or 1
 * after one line on stderr. */
int link_daemon_run(const struct link_options *opt);

#endif
