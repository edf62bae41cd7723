/* ns_helper.h: the helper process behind the kernel stack. A forked child
 * makes a user + network namespace (this uid mapped to root inside), a TUN
 * device there and policy routing that makes every destination arriving on
 * the TUN local, passes the TUN fd back over a socketpair and stays in the
 * namespace to create sockets there on request (a socket lives in the
 * namespace it was created in; setns() back is refused to us).
 *
 * It is forked rather than done in-process because unshare(CLONE_NEWUSER)
 * fails in a threaded process and would take this process's own sockets
 * (the WireGuard socket, the real connections) away from the host's
 * network. The helper dies with its parent (PR_SET_PDEATHSIG) or when the
 * socketpair closes. */
#ifndef WEFT_SERVE_NS_HELPER_H
#define WEFT_SERVE_NS_HELPER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define NS_TUN_NAME "weft0"
#define NS_LOCAL_TABLE 100     /* the table that holds "local 0.0.0.0/0" and "local ::/0" */
#define NS_RULE_PRIORITY 100

struct ns_helper {
	pid_t pid;
	int sock;    /* our end of the socketpair, -1 when closed */
	int tun_fd;  /* the TUN device in the namespace (IFF_NO_PI, IFF_VNET_HDR with
		      * checksum and TSO offloads), non-blocking */
};

/* Starts the helper and waits for the namespace to be ready. 0, or -errno
 * with the failing step in why ("unshare(CLONE_NEWUSER): Operation not
 * permitted"). */
int ns_helper_start(struct ns_helper *h, unsigned mtu, char *why, size_t whylen);
/* A listening TCP socket (IP_TRANSPARENT, any address) on port of family in
 * the namespace, non-blocking. fd or -errno. */
int ns_helper_listener(struct ns_helper *h, int family, uint16_t port);
/* A non-blocking TCP socket in the namespace, IP_TRANSPARENT, so it may be
 * bound to any address before connect. fd or -errno. */
int ns_helper_socket(struct ns_helper *h, int family);
/* Closes the socketpair and the TUN and reaps the helper. */
void ns_helper_stop(struct ns_helper *h);

#endif
