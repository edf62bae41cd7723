/* wg_genl.h: the messages of the Linux module's generic netlink family
 * "wireguard" (<linux/wireguard.h>) as weft builds and reads them, apart
 * from any socket so that they can be tested on canned bytes and fuzzed:
 * a WG_CMD_SET_DEVICE change split across as many messages as it needs,
 * and the replies of a WG_CMD_GET_DEVICE dump parsed into a device.
 * kernel_device.c sends and receives them. */
#ifndef WEFT_CLI_WG_GENL_H
#define WEFT_CLI_WG_GENL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct device;
struct nlmsghdr;

/* A set message: the module takes what fits one netlink datagram of the
 * socket's default size; wg(8) uses libmnl's MNL_SOCKET_BUFFER_SIZE (a
 * page, at most 8 KiB). 4 KiB fits every page size. */
#define WG_GENL_SET_MSG_SIZE 4096

/* The module refuses more peers than this per device
 * (MAX_PEERS_PER_DEVICE); a reply with more is not one of its replies. */
#define WG_GENL_MAX_PEERS (1u << 20)

/* Where the next set message resumes in a change. */
struct wg_genl_set_pos {
	size_t peer;      /* the next peer to put */
	size_t allowedip; /* its next allowed IP; > 0 continues a split peer */
	bool started;     /* the first message (device settings) has been built */
};

/* A WG_CMD_GET_DEVICE request (NLM_F_DUMP) for iface into buf (size
 * bytes): its length, -ENAMETOOLONG or -EMSGSIZE. */
int wg_genl_build_get(void *buf, size_t size, uint16_t family, const char *iface);

/* The next WG_CMD_SET_DEVICE message (NLM_F_ACK) of the change dev
 * describes, from *pos on, into buf (size bytes), as the module reads a
 * change split across messages: device settings and REPLACE_PEERS in the
 * first only; every message names the interface; a peer whose allowed IPs
 * do not fit goes on in the next message under its public key alone
 * (without REPLACE_ALLOWEDIPS, which would drop the first part). *pos
 * moves past what the message holds. Returns the message's length, 0 when
 * the change is complete (after at least one message), or -EMSGSIZE when
 * size cannot hold a single peer. buf holds keys: wipe it after use. */
int wg_genl_build_set(void *buf, size_t size, uint16_t family, const struct device *dev,
		      struct wg_genl_set_pos *pos);

/* Parses the datagram buf (len bytes) of replies to a get dump into dev:
 * its settings, then its peers, a peer split across messages joined again
 * (a message whose first peer has the last peer's public key continues
 * it). Messages not of type family are an error. Also reads the flags of
 * set messages, so a built change parses back into itself. Returns 1 when
 * more replies are to come, 0 at NLMSG_DONE or an ACK, or -errno: the
 * kernel's error, -EPROTO for a malformed reply, -E2BIG past
 * WG_GENL_MAX_PEERS, -ENOMEM. */
int wg_genl_parse(const void *buf, size_t len, uint16_t family, struct device *dev);

/* The same for one message, as a libmnl callback (data is a struct
 * wg_genl_parse_ctx); for kernel_device.c's receive loop. */
struct wg_genl_parse_ctx {
	uint16_t family;
	struct device *dev;
};
int wg_genl_parse_msg(const struct nlmsghdr *nlh, void *data);

#endif
