/* serve.c: `weft serve`, the unprivileged exit server: WireGuard on an
 * ordinary UDP socket (the engine embedded), flows terminated by a stack
 * (stack.h) and relayed to the real destinations from this process. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "serve/stack.h"
#include "weft/commands.h"

/* The stacks --stack can name, in the order --stack auto tries them. */
static const struct stack_ops *stack_by_name(const char *name)
{
	if (!strcmp(name, "kernel"))
		return &stack_kernel_ops;
	if (!strcmp(name, "lwip"))
		return &stack_lwip_ops; /* NULL when not built in */
	return NULL;
}

int cmd_serve(int argc, char *argv[])
{
	const char *stack = "auto";

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--stack") && i + 1 < argc)
			stack = argv[++i];
		else {
			command_usage(stderr, "serve");
			return 1;
		}
	}
	if (strcmp(stack, "auto") && !stack_by_name(stack)) {
		fprintf(stderr, "%s serve: unknown or unavailable stack `%s'\n", prog_name, stack);
		return 1;
	}
	fprintf(stderr, "%s serve: not implemented yet\n", prog_name);
	return 1;
}
