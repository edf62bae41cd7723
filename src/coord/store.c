/* store.c: picks the store backend a `--store` value names (store.h). */
#include "coord/store.h"

#include <errno.h>
#include <string.h>

/* The PostgreSQL backend lives in its own file, built when libpq is there;
 * without it this stand-in answers. A strong definition replaces it. */
__attribute__((weak)) int coord_store_pg_open(const char *conninfo, struct coord_store **out,
					      const char **err)
{
	(void)conninfo;
	*out = NULL;
	if (err)
		*err = "this weft was built without PostgreSQL support";
	return -ENOTSUP;
}

int coord_store_open(const char *spec, struct coord_store **out, const char **err)
{
	*out = NULL;
	if (err)
		*err = NULL;
	if (!spec || !*spec) {
		if (err)
			*err = "empty store name";
		return -EINVAL;
	}
	if (!strncmp(spec, "postgresql://", 13) || !strncmp(spec, "postgres://", 11))
		return coord_store_pg_open(spec, out, err);
	if (!strncmp(spec, "sqlite:", 7))
		spec += 7;
	return coord_store_sqlite_open(spec, out, err);
}
