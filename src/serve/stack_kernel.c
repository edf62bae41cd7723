/* stack_kernel.c: the "kernel" stack: Linux's own TCP in a user + network
 * namespace that a forked helper sets up (see ns_helper.c). */
#include <errno.h>
#include <stdio.h>

#include "serve/stack.h"

static int kernel_open(struct stack *s, const struct stack_env *env, char *why, size_t whylen)
{
	(void)s;
	(void)env;
	snprintf(why, whylen, "not built yet");
	return -ENOSYS;
}

const struct stack_ops stack_kernel_ops = {
	.name = "kernel",
	.open = kernel_open,
};
