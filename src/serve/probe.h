/* probe.h: choosing the stack at start-up, and saying why the kernel stack
 * cannot run here when it cannot. */
#ifndef WEFT_SERVE_PROBE_H
#define WEFT_SERVE_PROBE_H

#include <stddef.h>

#include "serve/settings.h"
#include "serve/stack.h"

/* What in this machine's set-up keeps unprivileged user namespaces or TUN
 * devices away ("user.max_user_namespaces is 0", "AppArmor restricts...",
 * "a seccomp filter is active...", "no /dev/net/tun"), "" when nothing
 * known does. */
void probe_kernel_hint(char *out, size_t len);

/* Opens the stack that want names, or for auto the kernel stack and else
 * lwIP, logging which one runs and why another did not. 0, or -errno
 * after logging why none could. */
int probe_open_stack(enum serve_stack want, struct stack *s, const struct stack_env *env);

#endif
