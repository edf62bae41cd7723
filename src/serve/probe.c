/* probe.c: the start-up choice of stack (see probe.h). Every failing step
 * of the kernel stack's set-up means "use lwIP"; the hint only explains. */
#include "serve/probe.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "weftd/log.h"

/* The first line of a /proc file as a number; -1 when it is not there. */
static long read_number(const char *path)
{
	FILE *f = fopen(path, "re");
	long v = -1;

	if (!f)
		return -1;
	if (fscanf(f, "%ld", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

static long seccomp_mode(void)
{
	FILE *f = fopen("/proc/self/status", "re");
	char line[256];
	long v = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Seccomp: %ld", &v) == 1)
			break;
	fclose(f);
	return v;
}

static void append(char *out, size_t len, const char *text)
{
	size_t n = strlen(out);
	snprintf(out + n, len - n, "%s%s", n ? "; " : "", text);
}

void probe_kernel_hint(char *out, size_t len)
{
	*out = '\0';
	if (read_number("/proc/sys/user/max_user_namespaces") == 0)
		append(out, len, "user namespaces are off (sysctl user.max_user_namespaces = 0)");
	if (read_number("/proc/sys/kernel/unprivileged_userns_clone") == 0)
		append(out, len, "unprivileged user namespaces are off (sysctl kernel.unprivileged_userns_clone = 0)");
	if (read_number("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") == 1)
		append(out, len, "AppArmor restricts unprivileged user namespaces "
		       "(sysctl kernel.apparmor_restrict_unprivileged_userns = 1)");
	if (seccomp_mode() == 2)
		append(out, len, "a seccomp filter is active (a container's default profile refuses unshare)");
	if (access("/dev/net/tun", R_OK | W_OK) < 0)
		append(out, len, errno == ENOENT ? "no /dev/net/tun" : "/dev/net/tun is not usable by this user");
}

static int try_open(const struct stack_ops *ops, struct stack *s, const struct stack_env *env,
		    char *why, size_t whylen)
{
	int ret;

	memset(s, 0, sizeof(*s));
	s->ops = ops;
	*why = '\0';
	ret = ops->open(s, env, why, whylen);
	if (ret < 0)
		s->ops = NULL;
	return ret;
}

int probe_open_stack(enum serve_stack want, struct stack *s, const struct stack_env *env)
{
	const struct stack_ops *lwip = &stack_lwip_ops;
	char why[256], hint[512];
	int ret = -ENOSYS;

	if (want != SERVE_STACK_LWIP) {
		ret = try_open(&stack_kernel_ops, s, env, why, sizeof(why));
		if (!ret) {
			log_verbose("Flows are terminated by the kernel stack (a user + network namespace)");
			return 0;
		}
		probe_kernel_hint(hint, sizeof(hint));
		log_error("The kernel stack is unavailable: %s%s%s", why, *hint ? "; likely cause: " : "", hint);
		if (want == SERVE_STACK_KERNEL)
			return ret;
	}
	if (!lwip) {
		log_error("The lwIP stack is not built into this weft");
		return -ENOSYS;
	}
	ret = try_open(lwip, s, env, why, sizeof(why));
	if (ret < 0) {
		log_error("The lwIP stack is unavailable: %s", why);
		return ret;
	}
	log_verbose("Flows are terminated by the lwIP stack%s",
		    want == SERVE_STACK_AUTO ? " (fallback)" : "");
	return 0;
}
