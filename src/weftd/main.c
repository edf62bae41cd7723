/* main.c: weftd's process contract, the one wireguard-go has on Linux.
 *
 *   weftd [-f|--foreground] IFNAME
 *
 * Creates the TUN device (or adopts WG_TUN_FD), creates the UAPI socket
 * /var/run/wireguard/IFNAME.sock (or adopts WG_UAPI_FD), and only then
 * daemonizes, unless -f or WG_PROCESS_FOREGROUND=1: when the parent exits,
 * `wg setconf` can connect at once, which is what wg-quick relies on. The
 * child is a plain fork (no threads exist yet), so it keeps both fds.
 * It exits cleanly, removing the socket, on SIGINT/SIGTERM/SIGHUP, when the
 * interface is deleted and when the socket file is deleted. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <weft/engine.h>

#include "crypto/crypto.h"
#include "weftd/log.h"
#include "weftd/loop.h"
#include "weftd/tun.h"
#include "weftd/uapi.h"

#ifndef WEFT_VERSION
#define WEFT_VERSION "0.1.0"
#endif

#define EXIT_SETUP_FAILED 1

static void usage(FILE *f, const char *prog)
{
	fprintf(f, "Usage: %s [-f/--foreground] INTERFACE-NAME\n", prog);
}

static void help(const char *prog)
{
	usage(stdout, prog);
	printf("\n"
	       "Userspace WireGuard daemon, a drop-in replacement for wireguard-go.\n"
	       "Creates the TUN interface INTERFACE-NAME and the control socket\n"
	       "%s/INTERFACE-NAME.sock, then detaches; configure it with wg(8),\n"
	       "or let wg-quick(8) do it with WG_QUICK_USERSPACE_IMPLEMENTATION=weftd.\n"
	       "\n"
	       "  -f, --foreground  stay in the foreground\n"
	       "  --help            print this and exit\n"
	       "  --version         print the version and exit\n"
	       "\n"
	       "Environment:\n"
	       "  LOG_LEVEL=verbose|error|silent  what to log on stdout (default: error;\n"
	       "                                  daemonized without it: errors to syslog)\n"
	       "  WG_PROCESS_FOREGROUND=1         same as --foreground\n"
	       "  WG_TUN_FD=N, WG_UAPI_FD=N       use these open fds instead of creating them\n"
	       "  WEFT_HANDSHAKE_RATE=N           handshakes a second before cookies are demanded\n"
	       "                                  (default: what a tenth of a core affords)\n",
	       UAPI_SOCKET_DIR);
}

/* An fd number from the environment, or -1 if the variable is unset. */
static int env_fd(const char *name, int *fd)
{
	const char *v = getenv(name);
	char *end;
	long n;

	*fd = -1;
	if (!v || !*v)
		return 0;
	errno = 0;
	n = strtol(v, &end, 10);
	if (errno || *end || n < 0 || n > 65535)
		return -EINVAL;
	*fd = (int)n;
	return 0;
}

static int redirect(int fd, const char *path)
{
	int nfd = open(path, O_RDWR | O_CLOEXEC);

	if (nfd < 0)
		return -errno;
	if (nfd != fd) {
		if (dup2(nfd, fd) < 0) {
			close(nfd);
			return -errno;
		}
		close(nfd);
	}
	return 0;
}

/* The parent returns to its caller only in the child; it exits once the
 * child exists. Logs stay on stdout/stderr when LOG_LEVEL asks for them,
 * as wireguard-go does. */
static int daemonize(enum log_level level)
{
	pid_t pid = fork();

	if (pid < 0)
		return -errno;
	if (pid > 0)
		_exit(0); /* no atexit handlers, no socket removal: the child owns it */
	setsid();
	if (chdir("/") < 0) {
		/* keep the old working directory; nothing depends on it */
	}
	redirect(STDIN_FILENO, "/dev/null");
	if (!getenv("LOG_LEVEL") || level == LOG_SILENT) {
		redirect(STDOUT_FILENO, "/dev/null");
		redirect(STDERR_FILENO, "/dev/null");
		/* wireguard-go's errors end here; ours reach the system log */
		if (level != LOG_SILENT)
			log_to_syslog("weftd");
	}
	return 0;
}

int main(int argc, char *argv[])
{
	const char *prog = argc > 0 ? argv[0] : "weftd";
	const char *ifname = NULL;
	bool foreground = false;
	struct tun tun = { .fd = -1 };
	struct uapi_server uapi;
	struct weft_env env;
	struct weft_device *dev = NULL;
	struct loop *loop = NULL;
	enum log_level level;
	sigset_t sigs;
	int tun_fd, uapi_fd, r, rc = EXIT_SETUP_FAILED;

	if (argc == 2 && !strcmp(argv[1], "--version")) {
		printf("weftd v%s\n\nUserspace WireGuard daemon for Linux, compatible with wireguard-go.\n",
		       WEFT_VERSION);
		return 0;
	}
	if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		help(prog);
		return 0;
	}
	if (argc == 3 && (!strcmp(argv[1], "-f") || !strcmp(argv[1], "--foreground"))) {
		foreground = true;
		ifname = argv[2];
	} else if (argc == 2 && argv[1][0] != '-') {
		ifname = argv[1];
	} else {
		usage(stderr, prog);
		return EXIT_SETUP_FAILED;
	}
	if (!*ifname || strchr(ifname, '/') || strlen(ifname) >= IF_NAMESIZE) {
		fprintf(stderr, "%s: invalid interface name '%s'\n", prog, ifname);
		return EXIT_SETUP_FAILED;
	}
	const char *fg = getenv("WG_PROCESS_FOREGROUND");
	if (fg && !strcmp(fg, "1")) /* exactly "1", as wireguard-go */
		foreground = true;

	level = log_level_from_env();
	log_init(level, ifname);
	/* From here on the signals wait in the queue for the loop's signalfd,
	 * so one that arrives during setup still ends the daemon cleanly. */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	sigprocmask(SIG_BLOCK, &sigs, NULL);

	log_verbose("Starting weftd version %s", WEFT_VERSION);
	if ((r = crypto_init()) < 0) {
		log_error("Failed to initialise crypto: %s", strerror(-r));
		return EXIT_SETUP_FAILED;
	}

	if ((r = env_fd("WG_TUN_FD", &tun_fd)) == 0)
		r = tun_fd >= 0 ? tun_adopt(&tun, tun_fd) : tun_create(&tun, ifname);
	if (r < 0) {
		log_error("Failed to create TUN device: %s", strerror(-r));
		return EXIT_SETUP_FAILED;
	}
	ifname = tun.name; /* the kernel's name, e.g. for a "wg%d" template */
	log_init(level, ifname);
	if ((r = tun_set_mtu(&tun, TUN_DEFAULT_MTU)) < 0) {
		log_error("Failed to set MTU of TUN device: %s", strerror(-r));
		if (tun_fd < 0)
			goto out_tun;
	}

	if ((r = env_fd("WG_UAPI_FD", &uapi_fd)) == 0)
		r = uapi_fd >= 0 ? uapi_server_adopt(&uapi, uapi_fd, UAPI_SOCKET_DIR, ifname)
				 : uapi_server_open(&uapi, UAPI_SOCKET_DIR, ifname);
	if (r < 0) {
		log_error("UAPI listen error: %s", r == -EADDRINUSE ? "unix socket in use" : strerror(-r));
		goto out_tun;
	}

	if (!foreground && (r = daemonize(level)) < 0) {
		log_error("Failed to daemonize: %s", strerror(-r));
		goto out_uapi;
	}

	loop = calloc(1, sizeof(*loop));
	if (!loop) {
		log_error("Failed to create device: %s", strerror(ENOMEM));
		goto out_uapi;
	}
	loop_env(&env, loop);
	if ((r = weft_device_new(&env, &dev)) < 0) {
		log_error("Failed to create device: %s", strerror(-r));
		goto out_uapi;
	}
	if ((r = uapi_server_start(&uapi)) < 0) {
		log_error("Failed to listen on uapi socket: %s", strerror(-r));
		goto out_uapi;
	}
	if ((r = loop_init(loop, dev, &tun, &uapi)) < 0) {
		log_error("Failed to start: %s", strerror(-r));
		goto out_loop;
	}
	log_verbose("Device started");
	log_verbose("UAPI listener started");
	rc = loop_run(loop);
	log_verbose("Shutting down");
out_loop:
	loop_free(loop);
out_uapi:
	/* The device first: its environment points into the loop. */
	weft_device_free(dev);
	free(loop);
	uapi_server_close(&uapi, true);
out_tun:
	tun_close(&tun);
	return rc;
}
