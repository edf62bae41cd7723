/* stun_port.h: a STUN Binding request sent from the WireGuard device's
 * own UDP port, so that the mapping the server reports is the one the
 * device's packets get from our NAT (a socket of our own would get another
 * mapping). The device owns that port, so the request goes out through a
 * raw socket with the port in its UDP header, and the answer - which the
 * device receives too and drops as no WireGuard message - is read from
 * the same raw socket, which sees a copy of every UDP datagram that
 * arrives. The socket is open only while a request is outstanding.
 * Needs CAP_NET_RAW. */
#ifndef WEFT_LINK_STUN_PORT_H
#define WEFT_LINK_STUN_PORT_H

#include <stdint.h>

#include "link/addr.h"
#include "coord/stun.h"

struct stun_port {
	int fd;                    /* -1: no request outstanding */
	uint16_t port;             /* the device's listen port */
	union link_addr server;
	uint8_t txid[STUN_TXID_LEN];
};

void stun_port_init(struct stun_port *s);
/* Sends a fresh request to server from port (closing an older one's
 * socket). 0 or -errno. */
int stun_port_send(struct stun_port *s, const union link_addr *server, uint16_t port);
/* Reads what arrived: 1 and *mapped for our answer, 0 when nothing (more)
 * is ours, -errno on a socket error. Reads a bounded number of datagrams. */
int stun_port_read(struct stun_port *s, union link_addr *mapped);
void stun_port_close(struct stun_port *s);

#endif
