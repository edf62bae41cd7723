/* test_fd_io.c: whole reads and writes (src/util/fd_io.c) on memfds and
 * pipes: everything comes back byte for byte across the buffer's growth,
 * NUL-terminated; the size limit, a bad fd and a reader that went away are
 * errors, not short results. */
#include "util/fd_io.h"
#include "test.h"

#include <errno.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

enum { BIG = 3 * 4096 * 16 + 17 }; /* several doublings, not a power of two */

static int memfd_with(const char *data, size_t len)
{
	int fd = memfd_create("test_fd_io", MFD_CLOEXEC);

	CHECK(fd >= 0);
	if (fd >= 0) {
		CHECK_EQ(fd_write_all(fd, data, len), 0);
		CHECK_EQ(lseek(fd, 0, SEEK_SET), 0);
	}
	return fd;
}

static void round_trip(void)
{
	static char data[BIG];
	static const size_t sizes[] = { 0, 1, 4095, 4096, 4097, BIG };

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (char)test_rnd();
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		int fd = memfd_with(data, sizes[k]);
		char *got = NULL;
		size_t len = 12345;

		CHECK_EQ(fd_read_all(fd, 1u << 20, &got, &len), 0);
		CHECK_EQ(len, sizes[k]);
		if (got) {
			CHECK(!memcmp(got, data, sizes[k]));
			CHECK_EQ(got[len], '\0');
		}
		free(got);
		close(fd);
	}
}

/* Reading stops with -E2BIG once max bytes are in: max - 1 fit. */
static void limit(void)
{
	static char data[8192];
	char *got = NULL;
	size_t len = 0;
	int fd;

	memset(data, 'x', sizeof(data));
	fd = memfd_with(data, sizeof(data));
	CHECK_EQ(fd_read_all(fd, sizeof(data), &got, &len), -E2BIG);
	CHECK(got == NULL);
	CHECK_EQ(lseek(fd, 1, SEEK_SET), 1);
	CHECK_EQ(fd_read_all(fd, sizeof(data), &got, &len), 0);
	CHECK_EQ(len, sizeof(data) - 1);
	free(got);
	close(fd);
}

/* A read of known size: all of it in one buffer, and a file that grew
 * since its size was taken is an error. */
static void sized(void)
{
	static char data[BIG];
	char *out = NULL;
	size_t len = 0;
	int fd;

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (char)('a' + i % 26);
	fd = memfd_with(data, sizeof(data));
	CHECK_EQ(fd_read_sized(fd, sizeof(data), &out, &len), 0);
	CHECK_EQ(len, sizeof(data));
	CHECK(out && !memcmp(out, data, sizeof(data)) && out[len] == '\0');
	free(out);
	out = NULL;
	CHECK_EQ(lseek(fd, 0, SEEK_SET), 0);
	CHECK_EQ(fd_read_sized(fd, sizeof(data) - 1, &out, &len), -E2BIG);
	CHECK(out == NULL);
	CHECK_EQ(lseek(fd, 0, SEEK_SET), 0);
	CHECK_EQ(fd_read_sized(fd, sizeof(data) + 100, &out, &len), 0); /* shrank: what is there */
	CHECK_EQ(len, sizeof(data));
	free(out);
	close(fd);
}

static void errors(void)
{
	int p[2];
	char *got = NULL;
	size_t len = 0;

	CHECK_EQ(fd_read_all(-1, 100, &got, &len), -EBADF);
	CHECK(got == NULL);
	CHECK_EQ(fd_write_all(-1, "x", 1), -EBADF);
	CHECK_EQ(errno, EBADF);
	/* Nobody reads the pipe any more: an error, not a signal or a hang. */
	signal(SIGPIPE, SIG_IGN);
	CHECK_EQ(pipe(p), 0);
	close(p[0]);
	CHECK_EQ(fd_write_all(p[1], "abc", 3), -EPIPE);
	close(p[1]);
	/* A pipe's writer closes: the reader gets what was written. */
	CHECK_EQ(pipe(p), 0);
	CHECK_EQ(fd_write_all(p[1], "hello", 5), 0);
	close(p[1]);
	CHECK_EQ(fd_read_all(p[0], 100, &got, &len), 0);
	CHECK(got && len == 5 && !strcmp(got, "hello"));
	free(got);
	close(p[0]);
}

int main(void)
{
	test_suite_name = "fd_io";
	test_seed(0xfd10);
	RUN(round_trip);
	RUN(limit);
	RUN(errors);
	RUN(sized);
	TEST_EXIT();
}
