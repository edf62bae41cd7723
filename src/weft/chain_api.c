/* chain_api.c: one HTTP/1.1 request to a server's API (chain_api.h). The
 * connection is closed after each request ("Connection: close"), so the
 * reply ends at EOF; Content-Length, when given, is checked against it. */
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "chain_api.h"
#include "util/fd_io.h"

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int left_ms(uint64_t deadline)
{
	uint64_t t = now_us();

	return t >= deadline ? 0 : (int)((deadline - t + 999) / 1000);
}

/* Waits for events on fd until the deadline: 0, or -ETIMEDOUT / -errno. */
static int wait_fd(int fd, short events, uint64_t deadline)
{
	struct pollfd p = { .fd = fd, .events = events };

	for (;;) {
		int ms = left_ms(deadline), n;
		if (!ms)
			return -ETIMEDOUT;
		n = poll(&p, 1, ms);
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return -errno;
	}
}

void chain_api_reply_free(struct chain_api_reply *r)
{
	free(r->body);
	r->body = NULL;
	r->body_len = 0;
}

static int parse_reply(char *buf, size_t len, struct chain_api_reply *r)
{
	char *end = memmem(buf, len, "\r\n\r\n", 4), *cl;
	size_t head, body_len;
	int status;

	if (len < 12 || strncmp(buf, "HTTP/1.", 7) || !end)
		return -EPROTO;
	if (sscanf(buf + 9, "%3d", &status) != 1 || status < 100 || status > 599)
		return -EPROTO;
	head = (size_t)(end - buf) + 4;
	body_len = len - head;
	*end = 0; /* the headers are a string now */
	cl = strcasestr(buf, "\r\nContent-Length:");
	if (cl) {
		char *e;
		unsigned long long want = strtoull(cl + 17, &e, 10);
		if (e == cl + 17 || want > body_len)
			return -EPROTO; /* cut short */
		body_len = (size_t)want;
	}
	r->status = status;
	r->body = malloc(body_len + 1);
	if (!r->body)
		return -ENOMEM;
	memcpy(r->body, buf + head, body_len);
	r->body[body_len] = 0;
	r->body_len = body_len;
	return 0;
}

int chain_api_request(const struct conf_addr *api, uint16_t port, const char *method, const char *path,
		      const char *body, int timeout_ms, struct chain_api_reply *r, char *err, size_t errlen)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t sl;
	char host[CONF_ADDR_STRLEN + 3], *req = NULL, *buf = NULL;
	size_t blen = body ? strlen(body) : 0, got = 0;
	uint64_t start = now_us(), deadline = start + (uint64_t)timeout_ms * 1000u;
	int fd = -1, ret, soerr = 0, reqlen;
	socklen_t el = sizeof(soerr);

	memset(r, 0, sizeof(*r));
	if (!port)
		port = CHAIN_API_PORT;
	{ /* [v6]:port in messages and the Host header */
		char a[CONF_ADDR_STRLEN];
		conf_addr_format(a, api);
		snprintf(host, sizeof(host), api->family == AF_INET6 ? "[%s]" : "%s", a);
	}
	if (api->family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		memcpy(&s4->sin_addr, api->bytes, 4);
		sl = sizeof(*s4);
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		memcpy(&s6->sin6_addr, api->bytes, 16);
		sl = sizeof(*s6);
	}
	reqlen = asprintf(&req, "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n"
			  "Accept: application/json\r\n%s%zu\r\n\r\n%s",
			  method, path, host,
			  body ? "Content-Type: application/json\r\nContent-Length: " : "Content-Length: ",
			  blen, body ? body : "");
	if (reqlen < 0) {
		req = NULL;
		ret = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || (connect(fd, (struct sockaddr *)&ss, sl) < 0 && errno != EINPROGRESS)) {
		ret = -errno;
		snprintf(err, errlen, "connect to %s:%u: %s", host, port, strerror(errno));
		goto out;
	}
	if ((ret = wait_fd(fd, POLLOUT, deadline)) < 0 ||
	    (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &el) == 0 && soerr && (ret = -soerr))) {
		snprintf(err, errlen, "connect to %s:%u: %s", host, port,
			 ret == -ETIMEDOUT ? "no answer within the time allowed" : strerror(-ret));
		goto out;
	}
	for (size_t off = 0; off < (size_t)reqlen;) {
		ssize_t n = send(fd, req + off, (size_t)reqlen - off, MSG_NOSIGNAL);
		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			ret = -errno;
			snprintf(err, errlen, "send to %s:%u: %s", host, port, strerror(errno));
			goto out;
		}
		if ((ret = wait_fd(fd, POLLOUT, deadline)) < 0) {
			snprintf(err, errlen, "send to %s:%u: %s", host, port, strerror(-ret));
			goto out;
		}
	}
	buf = malloc(CHAIN_API_MAX_REPLY + 1);
	if (!buf) {
		ret = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	for (;;) {
		ssize_t n = recv(fd, buf + got, CHAIN_API_MAX_REPLY + 1 - got, 0);
		if (n > 0) {
			got += (size_t)n;
			if (got > CHAIN_API_MAX_REPLY) {
				ret = -E2BIG;
				snprintf(err, errlen, "%s:%u: a reply larger than %u KiB", host, port,
					 CHAIN_API_MAX_REPLY >> 10);
				goto out;
			}
			continue;
		}
		if (!n)
			break;
		if (errno != EAGAIN && errno != EINTR) {
			ret = -errno;
			snprintf(err, errlen, "reading from %s:%u: %s", host, port, strerror(errno));
			goto out;
		}
		if ((ret = wait_fd(fd, POLLIN, deadline)) < 0) {
			snprintf(err, errlen, "%s:%u: %s", host, port,
				 ret == -ETIMEDOUT ? "no reply within the time allowed" : strerror(-ret));
			goto out;
		}
	}
	r->rtt_us = now_us() - start;
	buf[got] = 0;
	ret = parse_reply(buf, got, r);
	if (ret < 0)
		snprintf(err, errlen, "%s:%u: %s", host, port,
			 ret == -ENOMEM ? "out of memory" : "the reply is not HTTP (or is cut short)");
out:
	if (fd >= 0)
		close(fd);
	free(req);
	free(buf);
	if (ret < 0)
		chain_api_reply_free(r);
	return ret;
}

const char *chain_api_error(const struct chain_api_reply *r)
{
	static char msg[256];
	json_t *j = r->body ? json_loadb(r->body, r->body_len, 0, NULL) : NULL;
	const char *e = json_string_value(json_object_get(j, "error"));

	if (e)
		snprintf(msg, sizeof(msg), "%s (HTTP %d)", e, r->status);
	else
		snprintf(msg, sizeof(msg), "HTTP %d", r->status);
	json_decref(j);
	return msg;
}
