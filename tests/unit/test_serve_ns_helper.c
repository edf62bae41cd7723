/* test_serve_ns_helper.c: the server's side of the namespace helper's
 * socketpair protocol (src/serve/ns_helper.c) against a helper that lies or
 * dies: the test plays the helper on the other end of a socketpair and
 * queues its replies before each request. A reply that is not well formed
 * must end in -errno, never in a number taken for an fd, and an fd that
 * came with it must not stay open in the server. */
#include <dirent.h>
#include <signal.h>
#include <stdbool.h>
#include <errno.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

#include "serve/ns_helper.h"
#include "test.h"

/* the helper's reply on the wire (ns_helper.c) */
struct reply {
	int32_t err;
	char why[200];
};

/* The helper's reply: len bytes of r, with fd attached when fd >= 0. */
static void helper_says(int sock, const struct reply *r, size_t len, int fd)
{
	union { struct cmsghdr align; char buf[CMSG_SPACE(sizeof(int))]; } ctrl;
	struct iovec iov = { .iov_base = (void *)r, .iov_len = len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (fd >= 0) {
		memset(&ctrl, 0, sizeof(ctrl));
		msg.msg_control = ctrl.buf;
		msg.msg_controllen = sizeof(ctrl.buf);
		struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	if (sendmsg(sock, &msg, 0) < 0)
		perror("sendmsg");
}

static bool pair(struct ns_helper *h, int *helper)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return false;
	*h = (struct ns_helper){ .pid = -1, .sock = sv[0], .tun_fd = -1 };
	*helper = sv[1];
	return true;
}

static void good_reply_gives_the_fd(void)
{
	struct ns_helper h;
	struct reply r = { 0 };
	int helper, fd;

	if (!pair(&h, &helper))
		SKIP("socketpair: %s", strerror(errno));
	int p[2];
	CHECK(pipe(p) == 0);
	helper_says(helper, &r, sizeof(r), p[0]);
	fd = ns_helper_socket(&h, AF_INET);
	CHECK(fd >= 0);
	CHECK(fd != p[0]);
	if (fd >= 0)
		close(fd);
	close(p[0]);
	close(p[1]);
	close(helper);
	ns_helper_stop(&h);
}

/* A positive "error" came back as if it were an fd of ours. */
static void positive_error_is_no_fd(void)
{
	struct ns_helper h;
	struct reply r = { .err = 2 };
	int helper;

	if (!pair(&h, &helper))
		SKIP("socketpair: %s", strerror(errno));
	helper_says(helper, &r, sizeof(r), -1);
	CHECK(ns_helper_listener(&h, AF_INET, 80) < 0);
	r.err = -100000; /* no errno either */
	helper_says(helper, &r, sizeof(r), -1);
	CHECK(ns_helper_socket(&h, AF_INET6) < 0);
	close(helper);
	ns_helper_stop(&h);
}

/* A short reply, or an error with an fd: the fd does not stay open. */
static void fd_of_a_bad_reply_is_closed(void)
{
	struct ns_helper h;
	struct reply r = { 0 };
	int helper, p[2], before, ret;

	if (!pair(&h, &helper))
		SKIP("socketpair: %s", strerror(errno));
	CHECK(pipe(p) == 0);
	before = test_open_fds();
	helper_says(helper, &r, 3, p[0]);
	ret = ns_helper_socket(&h, AF_INET);
	CHECK(ret < 0);
	if (ret >= 0)
		close(ret);
	CHECK_EQ(test_open_fds(), before);
	r.err = -EADDRINUSE;
	helper_says(helper, &r, sizeof(r), p[0]);
	ret = ns_helper_listener(&h, AF_INET, 80);
	CHECK(ret < 0);
	if (ret >= 0)
		close(ret);
	CHECK_EQ(test_open_fds(), before);
	close(p[0]);
	close(p[1]);
	close(helper);
	ns_helper_stop(&h);
}

static void dead_helper(void)
{
	struct ns_helper h;
	int helper;

	if (!pair(&h, &helper))
		SKIP("socketpair: %s", strerror(errno));
	close(helper);
	CHECK(ns_helper_socket(&h, AF_INET) < 0);
	CHECK(ns_helper_listener(&h, AF_INET6, 443) < 0);
	ns_helper_stop(&h);
	CHECK(ns_helper_socket(&h, AF_INET) < 0);
}

int main(void)
{
	test_suite_name = "serve_ns_helper";
	signal(SIGPIPE, SIG_IGN);
	RUN(good_reply_gives_the_fd);
	RUN(positive_error_is_no_fd);
	RUN(fd_of_a_bad_reply_is_closed);
	RUN(dead_helper);
	TEST_EXIT();
}
