/* listen_port.h: UDP listen ports as the CLI sees them before a daemon
 * binds one: whether a port is free in this network namespace, and which
 * port a new interface gets when none is asked for. */
#ifndef WEFT_CLI_LISTEN_PORT_H
#define WEFT_CLI_LISTEN_PORT_H

#include <stdint.h>

/* WireGuard's customary port, the first one a new interface is offered. */
#define LISTEN_PORT_FIRST 51820

/* 0 if port can be bound for UDP on IPv4 and on IPv6 (where there is
 * IPv6) in this network namespace, else -errno (-EADDRINUSE). */
int listen_port_check(uint16_t port);

/* The first port from LISTEN_PORT_FIRST up that is free and that no config
 * in the config directories names as its ListenPort: 0 and *port, or
 * -EADDRINUSE when every one up to 65535 is taken. */
int listen_port_pick(uint16_t *port);

#endif
