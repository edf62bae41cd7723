/* test.h: the unit-test harness. Each test binary runs its cases and prints
 * one line per case, "PASS: suite/case", "FAIL: suite/case: why" or
 * "SKIP: suite/case: reason", which tests/run counts. CHECK records a failure
 * and keeps the case going, so one run shows every broken assertion. A case
 * that made no check at all fails: it proved nothing. A case that cannot run
 * here calls SKIP("reason") and returns; it is counted apart, never as a pass. */
#ifndef WEFT_TEST_H
#define WEFT_TEST_H

#include <dirent.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int test_failures_in_case;
static unsigned long test_checks_in_case;
static int test_failed_cases;
static char test_skip_reason[256];
static const char *test_suite_name = "unit";

/* Marks the running case as skipped with a printf-style reason. A macro so
 * that it can return from the case; call it from the case function itself. */
#define SKIP(...) do { test_skip(__VA_ARGS__); return; } while (0)

__attribute__((format(printf, 1, 2), unused))
static void test_skip(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(test_skip_reason, sizeof(test_skip_reason), fmt, ap);
	va_end(ap);
	if (!test_skip_reason[0])
		snprintf(test_skip_reason, sizeof(test_skip_reason), "no reason given");
}

#define CHECK(cond) do { test_checks_in_case++; if (!(cond)) { \
	test_failures_in_case++; \
	fprintf(stderr, "  %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond); } } while (0)

#define CHECK_EQ(a, b) do { test_checks_in_case++; long long _a = (long long)(a), _b = (long long)(b); if (_a != _b) { \
	test_failures_in_case++; \
	fprintf(stderr, "  %s:%d: %s == %s failed: %lld != %lld\n", __FILE__, __LINE__, #a, #b, _a, _b); } } while (0)

#define CHECK_MEM(a, b, n) do { test_checks_in_case++; if (memcmp((a), (b), (n))) { \
	test_failures_in_case++; \
	fprintf(stderr, "  %s:%d: memcmp(%s, %s, %s) differs\n", __FILE__, __LINE__, #a, #b, #n); } } while (0)

#define RUN(fn) do { test_failures_in_case = 0; test_checks_in_case = 0; \
	test_skip_reason[0] = 0; fn(); \
	if (test_failures_in_case) { test_failed_cases++; \
		printf("FAIL: %s/%s: %d check(s) failed\n", test_suite_name, #fn, test_failures_in_case); \
	} else if (test_skip_reason[0]) { \
		printf("SKIP: %s/%s: %s\n", test_suite_name, #fn, test_skip_reason); \
	} else if (!test_checks_in_case) { test_failed_cases++; \
		printf("FAIL: %s/%s: made no check\n", test_suite_name, #fn); \
	} else { \
		printf("PASS: %s/%s\n", test_suite_name, #fn); \
	} \
	fflush(stdout); } while (0)

#define TEST_EXIT() return test_failed_cases ? 1 : 0

/* How many fds this process has open (-1: /proc is not there), to check
 * that a failing path leaks none. */
__attribute__((unused))
static int test_open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	if (!d)
		return -1;
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

/* ---- reproducible randomness ----
 * splitmix64 (Steele, Lea and Flood, 2014), the one generator the unit tests
 * draw random cases from. A test seeds it once with test_seed(its default);
 * WEFT_TEST_SEED replaces the default and the seed is printed, so a failing
 * run replays. WEFT_TEST_SCALE divides the random counts (test_scale()) for
 * a quicker run. */
static uint64_t test_rnd_state;

static inline uint64_t test_rnd(void)
{
	uint64_t z = (test_rnd_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* 0 .. n-1 (n > 0). */
static inline uint64_t test_below(uint64_t n) { return test_rnd() % n; }

/* WEFT_TEST_SCALE, at least 1. */
static inline unsigned test_scale(void)
{
	const char *s = getenv("WEFT_TEST_SCALE");
	unsigned long v = s ? strtoul(s, NULL, 10) : 1;

	return v > 1 && v <= 0xffffffffu ? (unsigned)v : 1;
}

static inline void test_seed(uint64_t fallback)
{
	const char *s = getenv("WEFT_TEST_SEED");

	test_rnd_state = s ? strtoull(s, NULL, 0) : fallback;
	printf("# %s: seed 0x%" PRIx64 ", scale 1/%u\n", test_suite_name, test_rnd_state, test_scale());
}

/* Hex helpers for vectors. */
static inline size_t unhex(uint8_t *out, const char *hex)
{
	size_t n = 0;
	while (hex[0] && hex[1]) {
		unsigned v;
		if (hex[0] == ' ' || hex[0] == '\n') { hex++; continue; }
		if (sscanf(hex, "%2x", &v) != 1) break;
		out[n++] = (uint8_t)v;
		hex += 2;
	}
	return n;
}

#endif
