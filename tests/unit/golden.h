/* golden.h: golden files for unit tests (tests/unit/golden/). A test
 * compares what the code makes with the file of that name; run with
 * WEFT_GOLDEN_UPDATE=1 to write the files instead, then review the diff.
 * Tests run from the top of the source tree (tests/run does). */
#ifndef WEFT_TEST_GOLDEN_H
#define WEFT_TEST_GOLDEN_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"

#define GOLDEN "tests/unit/golden/"
#define GOLDEN_MAX 65535 /* bytes of one file, at most */

/* The whole file, NUL-terminated (calloc'd; free it), or NULL. */
static inline char *golden_read(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;

	*len = 0;
	if (!f)
		return NULL;
	buf = calloc(1, GOLDEN_MAX + 1);
	if (buf)
		*len = fread(buf, 1, GOLDEN_MAX, f);
	fclose(f);
	return buf;
}

/* text against GOLDEN name; with WEFT_GOLDEN_UPDATE, written there. */
static inline void golden_check(const char *name, const char *text, size_t len)
{
	char path[512];
	size_t glen = 0;
	char *g;

	snprintf(path, sizeof(path), GOLDEN "%s", name);
	if (getenv("WEFT_GOLDEN_UPDATE")) {
		FILE *f = fopen(path, "wb");
		CHECK(f && fwrite(text, 1, len, f) == len);
		if (f)
			fclose(f);
		return;
	}
	g = golden_read(path, &glen);
	if (!g) {
		fprintf(stderr, "  %s: cannot read it (run from the top of the source tree)\n", path);
		CHECK(g != NULL);
		return;
	}
	if (glen != len || memcmp(g, text, len))
		fprintf(stderr, "  %s differs; the code makes:\n%.*s\n", path, (int)len, text);
	CHECK(glen == len && !memcmp(g, text, len));
	free(g);
}

#endif
