/* tun.h: the TUN device weftd carries plaintext on: created on
 * /dev/net/tun as IFF_TUN | IFF_NO_PI (a raw IPv4/IPv6 packet per read and
 * write), or adopted from WG_TUN_FD as wireguard-go does.
 *
 * Offloads: a created device also gets IFF_VNET_HDR and, through
 * TUNSETOFFLOAD, checksum offload and TCP (and, where the kernel has it, UDP)
 * segmentation offload, so one read can carry a 64 KiB burst (split by
 * offload.c) and one write a coalesced one. WEFT_DISABLE_TUN_OFFLOAD=1 turns
 * all of it off; WEFT_DISABLE_TUN_TSO=1 and WEFT_DISABLE_TUN_USO=1 keep the
 * kernel from handing us TCP or UDP super-packets. */
#ifndef WEFTD_TUN_H
#define WEFTD_TUN_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define TUN_DEFAULT_MTU 1420 /* as wireguard-go and wg-quick */

struct tun {
	int fd;
	int ifindex;
	char name[IF_NAMESIZE];
	bool vnet_hdr;     /* reads and writes start with a struct virtio_net_hdr */
};

/* Creates (or attaches to) the device called name; name may also be a
 * template such as "wg%d". 0 or -errno. */
int tun_create(struct tun *t, const char *name);
/* Adopts an open TUN fd; its name comes from the kernel. */
int tun_adopt(struct tun *t, int fd);
void tun_close(struct tun *t);

int tun_set_mtu(const struct tun *t, unsigned mtu);
int tun_get_mtu(const struct tun *t, unsigned *mtu);

/* Reads up to n packets into bufs[i] (cap bytes each), lengths in lens[i].
 * Returns the count (0 when nothing is waiting) or -errno; -EBADFD means the
 * interface was deleted. */
int tun_read_batch(struct tun *t, uint8_t *const *bufs, size_t cap, size_t *lens, size_t n);
/* Writes one packet (after its vnet header when t->vnet_hdr); 0 or -errno
 * (-EIO while the link is down). */
int tun_writev(struct tun *t, const struct iovec *iov, int iovcnt);

/* 0 while the fd is still attached to an interface; -EBADFD once the
 * interface was deleted. Unlike an ifindex lookup, this also holds when the
 * device was moved to another network namespace. */
int tun_attached(struct tun *t);

#endif
