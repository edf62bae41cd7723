/* env.h: the environment switches weft reads (WEFT_DISABLE_*): set to
 * anything but "" or "0" means yes. */
#ifndef WEFT_ENV_H
#define WEFT_ENV_H

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static inline bool env_flag(const char *name)
{
	const char *v = getenv(name);
	return v && *v && strcmp(v, "0");
}

#endif
