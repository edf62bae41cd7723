/* daemon.h: the userspace daemon (weftd, or wireguard-go) behind a UAPI
 * interface: starting one for a name, waiting for it to answer or to go,
 * and stopping it. */
#ifndef WEFT_CLI_DAEMON_H
#define WEFT_CLI_DAEMON_H

#include <stdbool.h>
#include <stddef.h>

/* The userspace daemon run when nothing overrides it. */
#define DAEMON_NAME "weftd"
/* wg-quick's variable: the userspace program to run; here, when set, it
 * also makes `up` and `interface add` use it rather than the kernel. */
#define USERSPACE_ENV "WG_QUICK_USERSPACE_IMPLEMENTATION"
/* weft's own: the daemon to run when USERSPACE_ENV is not set. */
#define DAEMON_ENV "WEFT_DAEMON"

/* The program daemon_start runs: USERSPACE_ENV, else DAEMON_ENV, else
 * weftd beside this program, else weftd from PATH. */
const char *daemon_program(char *buf, size_t size);

/* USERSPACE_ENV is set: the user wants userspace. */
bool daemon_forced(void);

/* The one way weft starts a userspace device: runs daemon_program for iface
 * (its stdout to our stderr, so stdout stays ours; with trace, wg-quick's
 * "[#] PROGRAM IFACE" first) and waits until its socket answers. 0 or
 * -errno with a message in err. */
int daemon_start(const char *iface, bool trace, char *err, size_t errlen);

/* Waits (a few seconds at most) until a daemon answers on iface's socket
 * (running), or until none does and the link is gone (!running). false if
 * that did not happen in time. */
bool daemon_wait(const char *iface, bool running);

/* Stops a userspace device (deletes its link, or its socket when the link
 * is in another namespace) and waits for the daemon to go. 0 or -errno
 * with a message in err. */
int daemon_stop(const char *iface, char *err, size_t errlen);

#endif
