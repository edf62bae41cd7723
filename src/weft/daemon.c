/* daemon.c: the userspace daemon (weftd, or wireguard-go) behind a UAPI
 * interface: starting one for a name, waiting for it to answer or to go,
 * and stopping it the way wg-quick down does. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "hooks.h"
#include "ifname.h"
#include "netlink.h"
#include "uapi_client.h"
#include "usage.h"

/* weftd and wireguard-go daemonize once their socket exists; these bound
 * how long we wait for that, and for a daemon to go away. */
#define DAEMON_WAIT_MS 5000
#define POLL_STEP_MS 20

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

const char *daemon_program(char *buf, size_t size)
{
	const char *env = getenv(USERSPACE_ENV);

	if (env && *env)
		return env;
	env = getenv(DAEMON_ENV);
	return env && *env ? env : program_beside_self(DAEMON_NAME, buf, size);
}

bool daemon_forced(void)
{
	const char *env = getenv(USERSPACE_ENV);

	return env && *env;
}

bool daemon_wait(const char *iface, bool want_running)
{
	for (unsigned waited = 0; waited < DAEMON_WAIT_MS; waited += POLL_STEP_MS) {
		bool running = uapi_has_device(iface);

		if (running == want_running && (want_running || !link_exists(iface)))
			return true;
		sleep_ms(POLL_STEP_MS);
	}
	return false;
}

int daemon_start(const char *iface, bool trace, char *err, size_t errlen)
{
	char buf[PATH_MAX];
	const char *prog = daemon_program(buf, sizeof(buf));
	char *argv[] = { (char *)prog, (char *)iface, NULL };
	int r;

	if (trace)
		fprintf(stderr, "[#] %s %s\n", prog, iface);
	/* wireguard-go refuses to run beside the kernel module without this;
	 * weftd ignores it. */
	setenv("WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD", "1", 1);
	fflush(NULL);
	r = run_program_stdout_to_stderr(argv);
	if (r < 0) {
		snprintf(err, errlen, "cannot run %.256s: %s%s", prog, strerror(-r),
			 r == -ENOENT ? " (build it, put it in PATH, or set " USERSPACE_ENV ")" : "");
		return r;
	}
	if (r > 0) {
		snprintf(err, errlen, "%.256s %s failed with exit status %d", prog, iface, r);
		return -ECHILD;
	}
	if (!daemon_wait(iface, true)) {
		snprintf(err, errlen, "%.256s started but its socket %s/%s%s does not answer", prog,
			 UAPI_SOCK_DIR, iface, UAPI_SOCK_SUFFIX);
		return -ETIMEDOUT;
	}
	return 0;
}

/* Stops iface the way wg-quick down does for a userspace device: delete the
 * link, and the daemon, seeing it go, exits and removes its socket. A
 * daemon whose link is not in this network namespace is told by removing
 * its socket instead (weftd and wireguard-go both watch it). */
int daemon_stop(const char *iface, char *err, size_t errlen)
{
	char sock[PATH_MAX];
	struct nl_link link;
	struct nl nl;
	int ret;

	if (nl_open(&nl) == 0) {
		ret = nl_link_get(&nl, iface, &link);
		if (!ret)
			ret = nl_link_del(&nl, link.index);
		nl_close(&nl);
		if (ret < 0 && ret != -ENODEV) {
			snprintf(err, errlen, "cannot delete the link: %s", strerror(-ret));
			return ret;
		}
	}
	if (daemon_wait(iface, false))
		return 0;
	snprintf(sock, sizeof(sock), "%s/%s%s", UAPI_SOCK_DIR, iface, UAPI_SOCK_SUFFIX);
	if (unlink(sock) < 0 && errno != ENOENT) {
		snprintf(err, errlen, "cannot remove %s: %s", sock, strerror(errno));
		return -errno;
	}
	if (!daemon_wait(iface, false)) {
		snprintf(err, errlen, "the daemon did not stop");
		return -ETIMEDOUT;
	}
	return 0;
}
