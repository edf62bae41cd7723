/* udp.h: weftd's UDP sockets: one IPv4 and one IPv6 (IPV6_V6ONLY) socket on
 * the same port, as wireguard-go and the kernel module bind them.
 *
 * Sticky source: every datagram is received with IP_PKTINFO/IPV6_PKTINFO, so
 * the engine learns which local address a peer reached us on, and replies
 * are sent from that address (sendmsg control data). A source the kernel
 * refuses (the address went away) is dropped and the datagram goes out with
 * a kernel-chosen source instead.
 *
 * I/O is batched (recvmmsg/sendmmsg) into buffers allocated once. Where the
 * kernel supports them, runs of equal-sized datagrams to one endpoint leave
 * as one UDP_SEGMENT (GSO) send and arrive as one UDP_GRO buffer, so a 64 KiB
 * TCP burst costs one system call and one trip through the stack each way.
 * Both are probed when the sockets open and switched off for good on the
 * errors that say the path cannot do them; WEFT_DISABLE_UDP_GSO=1 and
 * WEFT_DISABLE_UDP_GRO=1 switch them off by hand. */
#ifndef WEFTD_UDP_H
#define WEFTD_UDP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <weft/engine.h>

#define UDP_RX_BATCH 64
#define UDP_TX_BATCH 128
#define UDP_DATAGRAM_MAX 65536         /* any UDP payload fits; larger is impossible */
#define UDP_SOCKET_BUFFER (7 << 20)    /* wireguard-go's socketBufferSize */
#define UDP_SEND_TIMEOUT_MS 100        /* a full send buffer drops after this long */
#define UDP_CTRL_LEN 128               /* room for a pktinfo and a UDP_SEGMENT/UDP_GRO cmsg */
#define UDP_GSO_MAX_SEGMENTS 64        /* the kernel's UDP_MAX_SEGMENTS */
#define UDP_GSO_MAX_BYTES 65000        /* payload bytes of one GSO send, under the 64 KiB limit */
#define UDP_BIND_TRIES 100             /* port 0: retries until v4 and v6 share a port */

struct udp {
	int fd4, fd6;   /* -1 when that family is unavailable or closed */
	bool gso;       /* UDP_SEGMENT sends work */
	uint16_t port;  /* the bound port (the kernel's pick when asked for 0) */
};

void udp_init(struct udp *u);
/* Binds both sockets to port (0 = any free port). 0 or -errno; on failure u
 * is left closed. */
int udp_open(struct udp *u, uint16_t port, uint32_t fwmark);
void udp_close(struct udp *u);
/* Could udp_open(port) succeed now? Binds both sockets and closes them:
 * 0, or the -errno udp_open would give (-EADDRINUSE). */
int udp_port_check(uint16_t port);
bool udp_is_open(const struct udp *u);
/* SO_MARK on the open sockets; 0 or -errno. */
int udp_set_fwmark(const struct udp *u, uint32_t fwmark);

/* A receive batch. from[i].src is the local address datagram i arrived on. */
struct udp_rx {
	struct mmsghdr msgs[UDP_RX_BATCH];
	struct iovec iov[UDP_RX_BATCH];
	struct sockaddr_in6 names[UDP_RX_BATCH];
	union { struct cmsghdr align; uint8_t buf[UDP_CTRL_LEN]; } ctrl[UDP_RX_BATCH];
	void *arena;                  /* the buffers' memory */
	uint8_t *bufs[UDP_RX_BATCH];  /* into arena, reordered as datagrams are kept */
	size_t lens[UDP_RX_BATCH];
	size_t segment[UDP_RX_BATCH]; /* bufs[i] holds datagrams of this size (GRO); 0 = one */
	struct weft_endpoint from[UDP_RX_BATCH];
};

int udp_rx_init(struct udp_rx *rx);
void udp_rx_free(struct udp_rx *rx);
/* Receives up to UDP_RX_BATCH datagrams from fd; returns how many, 0 when
 * none is waiting, or -errno. Truncated datagrams are skipped. */
int udp_recv_batch(int fd, struct udp_rx *rx);

struct udp_tx {
	struct mmsghdr msgs[UDP_TX_BATCH];
	struct iovec iov[UDP_TX_BATCH];
	union { struct cmsghdr align; uint8_t buf[UDP_CTRL_LEN]; } ctrl[UDP_TX_BATCH];
	size_t index[UDP_TX_BATCH]; /* msgs[i] sends pkts[index[i]] .. */
	size_t count[UDP_TX_BATCH]; /* .. and the count[i] - 1 after it (GSO) */
};

struct udp_send_hooks { /* both required */
	/* pkt's sticky source was refused and the datagram left without it:
	 * the caller forgets that source. */
	void (*src_refused)(void *ctx, const struct weft_packet *pkt);
	/* pkt did not leave (no socket for its family, a send error). */
	void (*failed)(void *ctx, const struct weft_packet *pkt);
	void *ctx;
};

/* Sends the n datagrams of pkts to their endpoints; each that cannot be
 * sent goes to hooks->failed. */
void udp_send_batch(struct udp *u, struct udp_tx *tx, const struct weft_packet *pkts, size_t n,
		    const struct udp_send_hooks *hooks);

/* True if ep carries a sticky source address. */
bool udp_endpoint_has_src(const struct weft_endpoint *ep);

#endif
