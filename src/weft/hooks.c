/* hooks.c: child processes for `weft up`/`down` (see hooks.h), with
 * posix_spawn so that the child's signal mask and default handlers are set
 * before it runs anything. */
#include "hooks.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/fd_io.h"

#define OUTPUT_MAX (16u << 20) /* nft/iptables-save listings are far smaller */
#define EXIT_SIGNALLED_BASE 128 /* shells report death by signal N as 128+N */

extern char **environ;

static sigset_t child_mask;
static bool child_mask_set;

void run_set_child_sigmask(const sigset_t *mask)
{
	child_mask = *mask;
	child_mask_set = true;
}

bool find_in_path(const char *name, char *out, size_t size)
{
	const char *path = getenv("PATH");
	char *copy, *dir, *rest;
	bool found = false;

	if (strchr(name, '/')) {
		snprintf(out, size, "%s", name);
		return access(name, X_OK) == 0;
	}
	copy = strdup(path && *path ? path : "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin");
	if (!copy)
		return false;
	for (rest = copy; !found && (dir = strsep(&rest, ":"));) {
		int n = snprintf(out, size, "%s/%s", *dir ? dir : ".", name);

		found = n > 0 && (size_t)n < size && access(out, X_OK) == 0;
	}
	free(copy);
	return found;
}

const char *program_beside_self(const char *name, char *buf, size_t size)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *slash;

	if (n <= 0)
		return name;
	self[n] = '\0';
	slash = strrchr(self, '/');
	if (!slash)
		return name;
	*slash = '\0';
	if ((size_t)snprintf(buf, size, "%s/%s", self, name) < size && access(buf, X_OK) == 0)
		return buf;
	return name;
}

void trace_program(char *const argv[])
{
	const char *slash = strrchr(argv[0], '/');

	fprintf(stderr, "[#] %s", slash ? slash + 1 : argv[0]);
	for (size_t i = 1; argv[i]; i++)
		fprintf(stderr, " %s", argv[i]);
	fprintf(stderr, "\n");
}

static int spawn_and_wait(char *const argv[], const char *input, char **output, bool stdout_to_stderr)
{
	int in[2] = { -1, -1 }, out[2] = { -1, -1 }, status, r;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t deflt;
	pid_t pid;

	if (output)
		*output = NULL;
	if ((input && pipe2(in, O_CLOEXEC) < 0) || (output && pipe2(out, O_CLOEXEC) < 0)) {
		r = -errno;
		goto close_pipes;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&attr);
	if (input)
		posix_spawn_file_actions_adddup2(&fa, in[0], STDIN_FILENO);
	if (output)
		posix_spawn_file_actions_adddup2(&fa, out[1], STDOUT_FILENO);
	else if (stdout_to_stderr)
		posix_spawn_file_actions_adddup2(&fa, STDERR_FILENO, STDOUT_FILENO);
	sigemptyset(&deflt);
	sigaddset(&deflt, SIGINT);
	sigaddset(&deflt, SIGTERM);
	sigaddset(&deflt, SIGHUP);
	sigaddset(&deflt, SIGPIPE);
	posix_spawnattr_setsigdefault(&attr, &deflt);
	if (child_mask_set)
		posix_spawnattr_setsigmask(&attr, &child_mask);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | (child_mask_set ? POSIX_SPAWN_SETSIGMASK : 0));
	r = strchr(argv[0], '/') ? posix_spawn(&pid, argv[0], &fa, &attr, argv, environ)
				 : posix_spawnp(&pid, argv[0], &fa, &attr, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (r) {
		r = -r;
		goto close_pipes;
	}
	if (input) {
		close(in[0]);
		in[0] = -1;
		/* A child that stops reading early is its own failure, shown by
		 * its exit status; SIGPIPE must not end weft mid-setup. */
		signal(SIGPIPE, SIG_IGN);
		fd_write_all(in[1], input, strlen(input));
		close(in[1]);
		in[1] = -1;
	}
	r = 0;
	if (output) {
		size_t len;

		close(out[1]);
		out[1] = -1;
		r = fd_read_all(out[0], OUTPUT_MAX, output, &len);
	}
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			r = -errno;
			goto close_pipes;
		}
	}
	if (r < 0) {
		free(output ? *output : NULL);
		if (output)
			*output = NULL;
		goto close_pipes;
	}
	r = WIFEXITED(status) ? WEXITSTATUS(status) : EXIT_SIGNALLED_BASE + WTERMSIG(status);
close_pipes:
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (out[i] >= 0)
			close(out[i]);
	}
	return r;
}

int run_program(char *const argv[], const char *input, char **output)
{
	return spawn_and_wait(argv, input, output, false);
}

int run_program_stdout_to_stderr(char *const argv[])
{
	return spawn_and_wait(argv, NULL, NULL, true);
}

/* "%i" replaced by iface everywhere in command: a fresh string or NULL. */
static char *hook_expand(const char *command, const char *iface)
{
	size_t n = 0, ilen = strlen(iface);
	const char *p;
	char *out, *o;

	for (p = command; (p = strstr(p, "%i")); p += 2)
		n++;
	out = malloc(strlen(command) + n * ilen + 1);
	if (!out)
		return NULL;
	for (o = out, p = command; *p;) {
		if (p[0] == '%' && p[1] == 'i') {
			memcpy(o, iface, ilen);
			o += ilen;
			p += 2;
		} else
			*o++ = *p++;
	}
	*o = '\0';
	return out;
}

int hooks_run(char *const *commands, size_t n, const char *iface, size_t *failed)
{
	for (size_t i = 0; i < n; i++) {
		char *cmd = hook_expand(commands[i], iface);
		char *argv[] = { HOOK_SHELL, "-e", "-o", "pipefail", "-c", cmd, NULL };
		int r;

		if (!cmd)
			return -ENOMEM;
		fprintf(stderr, "[#] %s\n", cmd);
		fflush(stderr);
		r = run_program(argv, NULL, NULL);
		free(cmd);
		if (r) {
			if (failed)
				*failed = i;
			return r;
		}
	}
	return 0;
}
