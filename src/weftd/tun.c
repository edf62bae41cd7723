/* tun.c: the TUN device (see tun.h). */
#include "weftd/tun.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util/env.h"
#include "weftd/offload.h"

#define TUN_CLONE_PATH "/dev/net/tun"

static int fill_name_and_index(struct tun *t)
{
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	if (ioctl(t->fd, TUNGETIFF, &ifr) < 0)
		return -errno;
	if (!(ifr.ifr_flags & IFF_TUN))
		return -EINVAL; /* a TAP device carries Ethernet frames */
	memcpy(t->name, ifr.ifr_name, IF_NAMESIZE);
	/* An adopted fd brings its own flags; its offloads stay off, as
	 * nothing told the kernel it may hand us super-packets. */
	t->vnet_hdr = ifr.ifr_flags & IFF_VNET_HDR;
	t->name[IF_NAMESIZE - 1] = '\0';
	t->ifindex = (int)if_nametoindex(t->name);
	return t->ifindex ? 0 : -ENODEV;
}

/* Asks for checksum and segmentation offloads, the richest set the kernel
 * takes first (UDP segmentation needs Linux 6.2); with none, the vnet header
 * just stays zero. */
static void enable_offloads(struct tun *t)
{
	unsigned base = TUN_F_CSUM, tso = TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN,
		 uso = TUN_F_USO4 | TUN_F_USO6;

	if (env_flag("WEFT_DISABLE_TUN_TSO"))
		tso = 0;
	if (env_flag("WEFT_DISABLE_TUN_USO"))
		uso = 0;
	const unsigned tries[] = { base | tso | uso, base | tso, base };
	for (size_t i = 0; i < sizeof(tries) / sizeof(tries[0]); i++)
		if (ioctl(t->fd, TUNSETOFFLOAD, tries[i]) == 0)
			return;
}

int tun_create(struct tun *t, const char *name)
{
	struct ifreq ifr;
	int r;

	t->fd = -1;
	t->vnet_hdr = false;
	if (strlen(name) >= IF_NAMESIZE)
		return -ENAMETOOLONG;
	t->fd = open(TUN_CLONE_PATH, O_RDWR | O_CLOEXEC | O_NONBLOCK);
	if (t->fd < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
	if (!env_flag("WEFT_DISABLE_TUN_OFFLOAD"))
		ifr.ifr_flags |= IFF_VNET_HDR;
	memcpy(ifr.ifr_name, name, strlen(name));
	r = ioctl(t->fd, TUNSETIFF, &ifr) < 0 ? -errno : fill_name_and_index(t);
	if (r == 0 && (ifr.ifr_flags & IFF_VNET_HDR)) {
		int size = (int)OFFLOAD_VNET_HDR_LEN;
		if (ioctl(t->fd, TUNSETVNETHDRSZ, &size) < 0) {
			r = -errno;
		} else {
			t->vnet_hdr = true;
			enable_offloads(t);
		}
	}
	if (r < 0)
		tun_close(t);
	return r;
}

int tun_adopt(struct tun *t, int fd)
{
	int flags, r;

	t->fd = fd;
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
		return -errno;
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	if ((r = fill_name_and_index(t)) < 0)
		return r;
	if (t->vnet_hdr) {
		/* our reads and writes assume the 10-byte header */
		int size = (int)OFFLOAD_VNET_HDR_LEN;
		if (ioctl(fd, TUNSETVNETHDRSZ, &size) < 0)
			return -errno;
	}
	return 0;
}

void tun_close(struct tun *t)
{
	if (t->fd >= 0)
		close(t->fd);
	t->fd = -1;
}

static int ifreq_ioctl(unsigned long req, struct ifreq *ifr)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), r = 0;

	if (s < 0)
		s = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	if (ioctl(s, req, ifr) < 0)
		r = -errno;
	close(s);
	return r;
}

int tun_set_mtu(const struct tun *t, unsigned mtu)
{
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, t->name, IF_NAMESIZE);
	ifr.ifr_mtu = (int)mtu;
	return ifreq_ioctl(SIOCSIFMTU, &ifr);
}

int tun_get_mtu(const struct tun *t, unsigned *mtu)
{
	struct ifreq ifr;
	int r;

	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, t->name, IF_NAMESIZE);
	if ((r = ifreq_ioctl(SIOCGIFMTU, &ifr)) < 0)
		return r;
	*mtu = (unsigned)ifr.ifr_mtu;
	return 0;
}

int tun_read_batch(struct tun *t, uint8_t *const *bufs, size_t cap, size_t *lens, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = read(t->fd, bufs[got], cap);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK || got)
				break;
			return -errno;
		}
		if (r == 0)
			break;
		lens[got++] = (size_t)r;
	}
	return (int)got;
}

int tun_writev(struct tun *t, const struct iovec *iov, int iovcnt)
{
	for (;;) {
		ssize_t r = writev(t->fd, iov, iovcnt);
		if (r >= 0)
			return 0;
		if (errno != EINTR)
			return -errno;
	}
}

int tun_attached(struct tun *t)
{
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	return ioctl(t->fd, TUNGETIFF, &ifr) < 0 ? -errno : 0;
}
