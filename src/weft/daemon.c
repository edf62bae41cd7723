/* daemon.c: the userspace daemon (weftd, or wireguard-go) behind a UAPI
 * interface: starting one for a name, waiting for it to answer or to go,
 * and stopping it the way wg-quick down does. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
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

/* WEFT_DAEMON, else weftd beside this program, else weftd from PATH. */
static const char *daemon_path(char *buf, size_t size)
{
	const char *env = getenv("WEFT_DAEMON");

	return env && *env ? env : program_beside_self(DAEMON_NAME, buf, size);
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

/* Runs the daemon for iface and waits until its socket answers. Its
 * output goes to our stderr, so stdout stays ours. */
int daemon_start(const char *iface, char *err, size_t errlen)
{
	char buf[PATH_MAX];
	const char *bin = daemon_path(buf, sizeof(buf));
	int status;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		int e = errno;

		snprintf(err, errlen, "cannot start %.256s: %s", bin, strerror(e));
		return -e;
	}
	if (!pid) {
		char *args[] = { (char *)bin, (char *)iface, NULL };

		dup2(STDERR_FILENO, STDOUT_FILENO);
		/* wireguard-go refuses to run beside the kernel module without
		 * this; weftd ignores it. */
		setenv("WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD", "1", 1);
		execvp(bin, args);
		fprintf(stderr, "%s: cannot run %s: %s\n", prog_name, bin, strerror(errno));
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			int e = errno;

			snprintf(err, errlen, "waiting for %.256s: %s", bin, strerror(e));
			return -e;
		}
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		snprintf(err, errlen, "%.256s %s failed (%s %d)", bin, iface,
			 WIFEXITED(status) ? "exit status" : "signal",
			 WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
		return -ECHILD;
	}
	if (!daemon_wait(iface, true)) {
		snprintf(err, errlen, "%.256s started but its socket %s/%s%s does not answer", bin,
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
