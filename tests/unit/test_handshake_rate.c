/* test_handshake_rate.c: the handshake rate weftd gives the engine
 * (src/weftd/handshake_rate.c). WEFT_HANDSHAKE_RATE is taken when it is a
 * whole number that fits an unsigned (0 included: the rule off); anything
 * else (a sign, a suffix, junk, 2^32) falls back to the measured rate,
 * which stays within its documented bounds, instead of turning the defence
 * off or shrinking it to the digits in front. */
/* The daemon's files are not in libweft.a: compile them in. */
#include "weftd/handshake_rate.c"
#include "weftd/log.c"

#include <limits.h>
#include <stdlib.h>

#include "test.h"

static bool measured(unsigned rate)
{
	return rate >= HANDSHAKE_RATE_MIN && rate <= WEFT_HANDSHAKE_RATE;
}

static unsigned rate_for(const char *value)
{
	if (value)
		setenv(HANDSHAKE_RATE_ENV, value, 1);
	else
		unsetenv(HANDSHAKE_RATE_ENV);
	return handshake_rate();
}

static void numbers_are_taken(void)
{
	CHECK_EQ(rate_for("0"), 0);
	CHECK_EQ(rate_for("1"), 1);
	CHECK_EQ(rate_for("20000"), 20000);
	CHECK_EQ(rate_for("4294967295"), UINT_MAX);
}

static void unset_or_empty_is_measured(void)
{
	CHECK(measured(rate_for(NULL)));
	CHECK(measured(rate_for("")));
}

static void anything_else_is_measured(void)
{
	/* each of these once meant 0 (rule off), a few, or UINT_MAX */
	static const char *const bad[] = { "4294967296", "18446744073709551616", "-1", "+5",
					   " 5", "abc", "10k", "1e5", "0x10" };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		unsigned r = rate_for(bad[i]);
		if (!measured(r))
			printf("  %s=%s gave %u\n", HANDSHAKE_RATE_ENV, bad[i], r);
		CHECK(measured(r));
	}
}

int main(void)
{
	test_suite_name = "handshake_rate";
	log_init(LOG_SILENT, "test");
	RUN(numbers_are_taken);
	RUN(unset_or_empty_is_measured);
	RUN(anything_else_is_measured);
	TEST_EXIT();
}
