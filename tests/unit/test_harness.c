/* test_harness.c: the unit-test harness itself (test.h). A case that made no
 * check must fail and a skipped case must say SKIP with its reason, or a
 * broken test could pass unseen. Each inner case runs in a child whose
 * stdout is captured, so its verdict does not count towards this binary. */
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"

static void case_without_checks(void) { }
static void case_with_a_check(void) { CHECK(1 + 1 == 2); }
static void case_with_a_failed_check(void) { CHECK_EQ(1, 2); }
static void case_skipped(void) { SKIP("needs %s", "a unicorn"); CHECK(0); }
static void case_failed_then_skipped(void) { CHECK(0); SKIP("too late"); }

/* Runs one inner case in a child and returns what it printed on stdout
 * (its stderr goes to /dev/null), and its failed-case count as exit code. */
static int run_inner(void (*fn)(void), char *out, size_t len)
{
	int p[2], status = 0;
	ssize_t n, got = 0;

	fflush(stdout);
	if (pipe(p) < 0)
		return -1;
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		dup2(p[1], 1);
		if (!freopen("/dev/null", "w", stderr))
			_exit(99);
		close(p[0]);
		test_suite_name = "inner";
		test_failed_cases = 0;
		test_failures_in_case = 0;
		test_checks_in_case = 0;
		test_skip_reason[0] = 0;
		/* RUN names the case after its argument: "inner" for every one */
		void (*inner)(void) = fn;
		RUN(inner);
		_exit(test_failed_cases);
	}
	close(p[1]);
	while ((size_t)got + 1 < len && (n = read(p[0], out + got, len - 1 - (size_t)got)) > 0)
		got += n;
	out[got] = 0;
	close(p[0]);
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

static void empty_case_fails(void)
{
	char out[512];

	CHECK_EQ(run_inner(case_without_checks, out, sizeof(out)), 1);
	CHECK(!strcmp(out, "FAIL: inner/inner: made no check\n"));
}

static void checked_case_passes(void)
{
	char out[512];

	CHECK_EQ(run_inner(case_with_a_check, out, sizeof(out)), 0);
	CHECK(!strcmp(out, "PASS: inner/inner\n"));
}

static void failed_check_fails(void)
{
	char out[512];

	CHECK_EQ(run_inner(case_with_a_failed_check, out, sizeof(out)), 1);
	CHECK(!strcmp(out, "FAIL: inner/inner: 1 check(s) failed\n"));
}

static void skip_is_counted_apart(void)
{
	char out[512];

	/* SKIP returns from the case: the CHECK(0) after it never runs */
	CHECK_EQ(run_inner(case_skipped, out, sizeof(out)), 0);
	CHECK(!strcmp(out, "SKIP: inner/inner: needs a unicorn\n"));
}

static void failure_beats_skip(void)
{
	char out[512];

	CHECK_EQ(run_inner(case_failed_then_skipped, out, sizeof(out)), 1);
	CHECK(!strcmp(out, "FAIL: inner/inner: 1 check(s) failed\n"));
}

int main(void)
{
	test_suite_name = "harness";
	RUN(empty_case_fails);
	RUN(checked_case_passes);
	RUN(failed_check_fails);
	RUN(skip_is_counted_apart);
	RUN(failure_beats_skip);
	TEST_EXIT();
}
