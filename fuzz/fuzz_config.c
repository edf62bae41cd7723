/* fuzz_config.c: libFuzzer target for the config parser (src/conf). Any
 * input must be parsed or refused without a crash, leak or sanitizer report;
 * whatever parses must survive the writer: write -> parse gives an equal
 * struct and writing that again gives the same bytes. Both input forms are
 * tried: wg-quick (written with [Weft]) and wg setconf (written stripped). */
#include "conf/conf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void round_trip(const struct conf *c, unsigned write_flags, unsigned parse_flags)
{
	char *t1, *t2, err[CONF_ERR_LEN];
	size_t l1, l2;
	struct conf back;

	if (conf_write(c, write_flags, &t1, &l1)) {
		fprintf(stderr, "conf_write failed on a parsed config\n");
		abort();
	}
	if (conf_parse(&back, t1, l1, "written", parse_flags, err, sizeof(err))) {
		fprintf(stderr, "written config does not parse: %s\n---\n%s---\n", err, t1);
		abort();
	}
	/* stripping and "for others" drop fields, so only the full form compares */
	if ((write_flags & CONF_WRITE_WEFT) && !(write_flags & CONF_WRITE_STRIP) && !conf_equal(c, &back)) {
		fprintf(stderr, "parse(write(x)) != x\n---\n%s---\n", t1);
		abort();
	}
	if (conf_write(&back, write_flags, &t2, &l2) || l1 != l2 || memcmp(t1, t2, l1)) {
		fprintf(stderr, "write(parse(write(x))) != write(x)\n");
		abort();
	}
	conf_text_free(t1, l1);
	conf_text_free(t2, l2);
	conf_free(&back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[CONF_ERR_LEN];
	struct conf c;

	if (!conf_parse(&c, (const char *)data, size, "fuzz", 0, err, sizeof(err))) {
		round_trip(&c, CONF_WRITE_WEFT, 0);
		round_trip(&c, 0, 0);
		round_trip(&c, CONF_WRITE_STRIP, CONF_PARSE_SETCONF);
		conf_free(&c);
	} else if (!err[0] || strchr(err, '\n')) {
		abort(); /* every refusal explains itself on one line */
	}
	if (!conf_parse(&c, (const char *)data, size, "fuzz", CONF_PARSE_SETCONF, err, sizeof(err))) {
		round_trip(&c, CONF_WRITE_STRIP, CONF_PARSE_SETCONF);
		conf_free(&c);
	}
	return 0;
}
