/* test.h: the unit-test harness. Each test binary runs its cases and prints
 * one line per case, "PASS: suite/case" or "FAIL: suite/case: why", which
 * tests/run counts. CHECK records a failure and keeps the case going, so one
 * run shows every broken assertion. */
#ifndef WEFT_TEST_H
#define WEFT_TEST_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int test_failures_in_case;
static int test_failed_cases;
static const char *test_suite_name = "unit";

#define CHECK(cond) do { if (!(cond)) { \
	test_failures_in_case++; \
	fprintf(stderr, "  %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond); } } while (0)

#define CHECK_EQ(a, b) do { long long _a = (long long)(a), _b = (long long)(b); if (_a != _b) { \
	test_failures_in_case++; \
	fprintf(stderr, "  %s:%d: %s == %s failed: %lld != %lld\n", __FILE__, __LINE__, #a, #b, _a, _b); } } while (0)

#define CHECK_MEM(a, b, n) do { if (memcmp((a), (b), (n))) { \
	test_failures_in_case++; \
	fprintf(stderr, "  %s:%d: memcmp(%s, %s, %s) differs\n", __FILE__, __LINE__, #a, #b, #n); } } while (0)

#define RUN(fn) do { test_failures_in_case = 0; fn(); \
	if (test_failures_in_case) { test_failed_cases++; \
		printf("FAIL: %s/%s: %d check(s) failed\n", test_suite_name, #fn, test_failures_in_case); \
	} else { \
		printf("PASS: %s/%s\n", test_suite_name, #fn); \
	} \
	fflush(stdout); } while (0)

#define TEST_EXIT() return test_failed_cases ? 1 : 0

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
