/* test_chain_api.c: src/weft/chain_api.c against a scripted server on
 * 127.0.0.1 (a child process answering one connection with fixed bytes):
 * a reply and its JSON error are read, Content-Length is honoured, a reply
 * cut short or not HTTP is -EPROTO, one past the bound -E2BIG, a server
 * that never answers -ETIMEDOUT within the deadline, a closed port
 * -ECONNREFUSED; the request carries the method, path, Host and body. */
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "weft/chain_api.h"

#include "test.h"

static struct conf_addr loopback;

/* A listener on an ephemeral port; *port gets it. */
static int listener(uint16_t *port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 4) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &sl) < 0)
		return -1;
	*port = ntohs(sa.sin_port);
	return fd;
}

/* Serves one connection: reads the request into req_out (a pipe to the
 * parent), then writes reply (len bytes; NULL: never answers) and closes. */
static pid_t serve_once(int lfd, const char *reply, size_t len, int req_pipe)
{
	pid_t pid = fork();

	if (pid)
		return pid;
	{
		int c = accept(lfd, NULL, NULL);
		char buf[4096];
		ssize_t n = recv(c, buf, sizeof(buf), 0);
		if (n > 0 && req_pipe >= 0 && write(req_pipe, buf, (size_t)n) < 0)
			_exit(1);
		if (!reply) {
			pause();
			_exit(0);
		}
		for (size_t off = 0; off < len;) {
			ssize_t w = send(c, reply + off, len - off, MSG_NOSIGNAL);
			if (w <= 0)
				break;
			off += (size_t)w;
		}
		close(c);
		_exit(0);
	}
}

static int run(const char *reply, size_t len, const char *method, const char *path, const char *body, int timeout_ms,
	       struct chain_api_reply *r, char *req, size_t reqsize)
{
	uint16_t port = 0;
	int lfd = listener(&port), p[2], ret, st;
	char err[256];
	pid_t pid;

	CHECK(lfd >= 0);
	CHECK(pipe(p) == 0);
	pid = serve_once(lfd, reply, len, p[1]);
	close(p[1]);
	ret = chain_api_request(&loopback, port, method, path, body, timeout_ms, r, err, sizeof(err));
	if (ret < 0)
		CHECK(err[0] != 0); /* a failure always says why */
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	if (req) {
		ssize_t n = read(p[0], req, reqsize - 1);
		req[n > 0 ? n : 0] = 0;
	}
	close(p[0]);
	close(lfd);
	return ret;
}

static void reads_reply(void)
{
	static const char rep[] = "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n"
				  "Content-Length: 13\r\nConnection: close\r\n\r\n{\"pong\":true}";
	struct chain_api_reply r;
	char req[4096];

	CHECK_EQ(run(rep, sizeof(rep) - 1, "POST", "/v1/peers", "{\"a\":1}", 2000, &r, req, sizeof(req)), 0);
	CHECK_EQ(r.status, 201);
	CHECK(r.body && !strcmp(r.body, "{\"pong\":true}"));
	CHECK_EQ(r.body_len, 13);
	CHECK(!strncmp(req, "POST /v1/peers HTTP/1.1\r\n", 25));
	CHECK(strstr(req, "\r\nHost: 127.0.0.1\r\n") != NULL);
	CHECK(strstr(req, "\r\nContent-Length: 7\r\n") != NULL);
	CHECK(strstr(req, "\r\n\r\n{\"a\":1}") != NULL);
	chain_api_reply_free(&r);
	CHECK(r.body == NULL);
}

static void error_body(void)
{
	static const char rep[] = "HTTP/1.1 409 Conflict\r\nContent-Length: 29\r\n\r\n{\"error\": \"a peer elsewhere\"}";
	struct chain_api_reply r;

	CHECK_EQ(run(rep, sizeof(rep) - 1, "GET", "/v1/status", NULL, 2000, &r, NULL, 0), 0);
	CHECK_EQ(r.status, 409);
	CHECK(!strcmp(chain_api_error(&r), "a peer elsewhere (HTTP 409)"));
	chain_api_reply_free(&r);
}

static void length_honoured(void)
{
	/* bytes past Content-Length are not the body */
	static const char rep[] = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nokGARBAGE";
	struct chain_api_reply r;

	CHECK_EQ(run(rep, sizeof(rep) - 1, "GET", "/", NULL, 2000, &r, NULL, 0), 0);
	CHECK(r.body && !strcmp(r.body, "ok"));
	chain_api_reply_free(&r);
}

static void refuses_bad_replies(void)
{
	static const char cut[] = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort";
	static const char nohttp[] = "SSH-2.0-OpenSSH\r\n\r\n";
	static const char nohead[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n";
	struct chain_api_reply r;
	char *big;
	size_t n = CHAIN_API_MAX_REPLY + 100;

	CHECK_EQ(run(cut, sizeof(cut) - 1, "GET", "/", NULL, 2000, &r, NULL, 0), -EPROTO);
	CHECK(r.body == NULL);
	CHECK_EQ(run(nohttp, sizeof(nohttp) - 1, "GET", "/", NULL, 2000, &r, NULL, 0), -EPROTO);
	CHECK_EQ(run(nohead, sizeof(nohead) - 1, "GET", "/", NULL, 2000, &r, NULL, 0), -EPROTO);
	CHECK_EQ(run("", 0, "GET", "/", NULL, 2000, &r, NULL, 0), -EPROTO);
	big = malloc(n);
	memset(big, 'x', n);
	memcpy(big, "HTTP/1.1 200 OK\r\n\r\n", 19);
	CHECK_EQ(run(big, n, "GET", "/", NULL, 5000, &r, NULL, 0), -E2BIG);
	free(big);
}

static void deadline(void)
{
	struct chain_api_reply r;
	struct timespec a, b;
	long ms;

	clock_gettime(CLOCK_MONOTONIC, &a);
	CHECK_EQ(run(NULL, 0, "GET", "/v1/ping", NULL, 300, &r, NULL, 0), -ETIMEDOUT);
	clock_gettime(CLOCK_MONOTONIC, &b);
	ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
	CHECK(ms >= 250 && ms < 2000);
}

static void refused(void)
{
	uint16_t port = 0;
	int lfd = listener(&port);
	struct chain_api_reply r;
	char err[256];

	close(lfd); /* nobody listens there now */
	CHECK_EQ(chain_api_request(&loopback, port, "GET", "/v1/ping", NULL, 1000, &r, err, sizeof(err)), -ECONNREFUSED);
	CHECK(strstr(err, "127.0.0.1:") != NULL);
}

int main(void)
{
	test_suite_name = "chain_api";
	signal(SIGPIPE, SIG_IGN);
	conf_addr_parse(&loopback, "127.0.0.1");
	RUN(reads_reply);
	RUN(error_body);
	RUN(length_honoured);
	RUN(refuses_bad_replies);
	RUN(deadline);
	RUN(refused);
	TEST_EXIT();
}
